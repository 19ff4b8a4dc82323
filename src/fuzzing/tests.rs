//! The checked-in seed corpora (`fuzz/corpus/<target>/`), replayed through the targets'
//! functions on every test run: the inputs the fuzzer starts from, and every crash it found
//! (kept there as a regression input), must pass the contracts.

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        if let Err(e) = std::panic::catch_unwind(|| run(&data)) {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("{} fails its target's contract: {why}", file.display());
        }
    }
}

#[test]
fn config_corpus() {
    replay("config", super::config);
}

#[test]
fn rest_request_corpus() {
    replay("rest_request", super::rest_request);
}

#[test]
fn upstream_sse_corpus() {
    replay("upstream_sse", super::upstream_sse);
}

#[test]
fn bedrock_event_stream_corpus() {
    replay("bedrock_event_stream", super::bedrock_event_stream);
}

#[test]
fn connect_corpus() {
    replay("connect", super::connect);
}

#[test]
fn grpc_web_corpus() {
    replay("grpc_web", super::grpc_web);
}

/// Found by fuzzing (`grpc_web`, now `corpus/grpc_web/crash_*`): a body that ends inside a
/// message frame, or before the message, or flags a frame with an invalid compression flag,
/// or is grpc-web-text but not base64, got tonic's INTERNAL ("Unexpected EOF decoding stream",
/// "Missing request message", "protocol error: ...", "tonic-web: Invalid symbol ..."); it is the client's error, INVALID_ARGUMENT
/// ([`crate::guard::grpc_decode_errors`]).
#[test]
fn a_truncated_grpc_web_frame_is_the_clients_error() {
    use super::app::{request, send};
    // An empty message frame, then a frame that declares 534 bytes and carries 23.
    let mut body = b"\x00\x00\x00\x00\x00\x00\x00\x00\x02\x16".to_vec();
    body.extend_from_slice(b"\x0a\x0aembeddings\x12\x03one\x12\x03two");
    let status = |path: &str, body: Vec<u8>| {
        let answer = send(request(
            http::Method::POST,
            path,
            Some("application/grpc-web+proto"),
            &[],
            body,
        ));
        let status = answer
            .headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok());
        (status.map(str::to_owned), answer.headers)
    };
    let (code, headers) = status("/llmgateway.v1.EmbeddingsService/Embed", body);
    assert_eq!(code.as_deref(), Some("3"), "{headers:?}");
    // A frame header declaring 16 bytes and nothing after it: "Missing request message".
    let (code, headers) = status(
        "/grpc.health.v1.Health/Check",
        b"\x00\x00\x00\x00\x10".to_vec(),
    );
    assert_eq!(code.as_deref(), Some("3"), "{headers:?}");
    // A compression flag of 0x29: "protocol error: received message with invalid compression flag".
    let (code, headers) = status(
        "/grpc.health.v1.Health/Check",
        b"\x29\x00\x00\x00\x10".to_vec(),
    );
    assert_eq!(code.as_deref(), Some("3"), "{headers:?}");
    // grpc-web-text that is not base64: "tonic-web: Invalid symbol 31, offset 0."
    let answer = send(request(
        http::Method::POST,
        "/llmgateway.v1.CompletionsService/Complete",
        Some("application/grpc-web-text"),
        &[],
        b"\x1f\x1f\x1f\x1f".to_vec(),
    ));
    let code = answer
        .headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok());
    assert_eq!(code, Some("3"), "{:?}", answer.headers);
    // Base64 with a dangling remainder: "tonic-web: malformed base64 request".
    let answer = send(request(
        http::Method::POST,
        "/llmgateway.v1.ChatService/Chat",
        Some("application/grpc-web-text"),
        &[],
        b"\x01\x00\x02".to_vec(),
    ));
    let code = answer
        .headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok());
    assert_eq!(code, Some("3"), "{:?}", answer.headers);
}

/// The app the Connect and grpc-web targets drive answers well-formed calls, so the fuzzer
/// starts from the success paths, not only from refusals.
#[test]
fn the_fuzzed_app_answers_good_calls() {
    use super::app::{request, send};
    let chat = br#"{"endpoint":"chat","messages":[{"role":"user","content":"Hello"}]}"#;
    let answer = send(request(
        http::Method::POST,
        "/llmgateway.v1.ChatService/Chat",
        Some("application/json"),
        &[],
        chat.to_vec(),
    ));
    assert_eq!(answer.status, 200, "{:?}", answer.headers);
    // grpc-web: the same call as one Protobuf frame (endpoint "chat", one user message).
    let message = b"\x0a\x04chat\x12\x0d\x0a\x04user\x12\x05Hello";
    let mut body = vec![0, 0, 0, 0, u8::try_from(message.len()).unwrap()];
    body.extend_from_slice(message);
    let answer = send(request(
        http::Method::POST,
        "/llmgateway.v1.ChatService/Chat",
        Some("application/grpc-web+proto"),
        &[],
        body,
    ));
    assert_eq!(answer.status, 200);
    assert!(
        answer.headers.get("grpc-status").is_none(),
        "{:?}",
        answer.headers
    );
    assert!(answer.body.len() > 5, "a message frame and the trailers");
}
