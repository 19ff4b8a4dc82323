//! The Connect and grpc-web targets: fuzzed request bodies (and, optionally, one fuzzed header
//! value) sent through the whole app in-process, over `mock` endpoints, so the real envelope
//! parsing, tonic-web's grpc-web decoding, tonic's framing and the codecs all run.

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, header};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use super::runtime;
use crate::service::{Gateway, Settings};

const CONFIG: &str = r#"
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: {provider: mock, name: mock-chat, config: {}}
  - name: completions
    endpoint_type: llm/v1/completions
    model: {provider: mock, name: mock-completions, config: {}}
  - name: embeddings
    endpoint_type: llm/v1/embeddings
    model: {provider: mock, name: mock-embeddings, config: {embedding_dimensions: 4}}
"#;

/// Largest request body / message the fuzzed app takes.
const BODY_LIMIT: usize = 1 << 20;

/// An answer must be complete well within this; longer is a hang.
const ANSWER_DEADLINE: Duration = Duration::from_secs(20);

fn app() -> Router {
    static APP: OnceLock<Router> = OnceLock::new();
    APP.get_or_init(|| {
        let loaded = crate::config::load_str(std::path::Path::new("fuzz.yaml"), CONFIG, &|_| None)
            .expect("the fuzz config loads");
        let _guard = runtime().enter();
        let gateway =
            Gateway::new(&loaded.config, &Settings::default()).expect("the fuzz gateway starts");
        crate::server::app(gateway, BODY_LIMIT)
    })
    .clone()
}

const P: &str = "/llmgateway.v1.";

/// A complete answer.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    trailers: Option<HeaderMap>,
}

pub(super) fn send(req: Request<Body>) -> Answer {
    runtime().block_on(async {
        let answer = async {
            let resp = app().oneshot(req).await.expect("the app is infallible");
            let (parts, body) = resp.into_parts();
            let collected = body.collect().await.expect("the answer's body completes");
            let trailers = collected.trailers().cloned();
            Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: collected.to_bytes(),
                trailers,
            }
        };
        tokio::time::timeout(ANSWER_DEADLINE, answer)
            .await
            .expect("the app answers within the deadline")
    })
}

/// Splits `data` into (selector, optional header value, body): with the selector's top bit set,
/// the bytes up to the first newline are a header value (the selector's bits 4-5 pick which).
fn split(data: &[u8]) -> Option<(u8, Option<HeaderValue>, &[u8])> {
    let (&sel, rest) = data.split_first()?;
    if sel & 0x80 == 0 {
        return Some((sel, None, rest));
    }
    let cut = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    // A value `http` cannot hold cannot reach the app at all.
    let value = HeaderValue::from_bytes(&rest[..cut]).ok()?;
    Some((sel, Some(value), rest.get(cut + 1..).unwrap_or_default()))
}

pub(super) fn request(
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Body::from(body)).expect("a valid request")
}

fn set(req: &mut Request<Body>, name: &'static str, value: Option<HeaderValue>) {
    if let Some(v) = value {
        req.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip payload from the gateway inflates");
    out
}

/// `[flags][length u32 BE][payload]` frames; the body must split into them exactly.
fn envelopes(mut body: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while !body.is_empty() {
        assert!(body.len() >= 5, "a truncated envelope header: {body:?}");
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        assert!(body.len() >= 5 + len, "a truncated envelope payload");
        out.push((body[0], &body[5..5 + len]));
        body = &body[5 + len..];
    }
    out
}

const CONNECT_CODES: &[&str] = &[
    "canceled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal",
    "unavailable",
    "data_loss",
    "unauthenticated",
];

/// A Connect error object: a known code, never `internal`/`unknown` (a bug, not the client's).
fn connect_error(err: &Value, context: &str) {
    let code = err["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code in {err} ({context})"));
    assert!(
        CONNECT_CODES.contains(&code),
        "unknown code {code} ({context})"
    );
    assert!(
        code != "internal" && code != "unknown",
        "a fuzzed request caused an internal error: {err} ({context})"
    );
    assert!(err.get("message").is_none_or(Value::is_string), "{err}");
}

fn json(bytes: &[u8], context: &str) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}, {context}): {}",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// Target `connect`: Connect requests for every method shape (unary JSON/Protobuf, GET,
/// server streaming, gzip), the fuzzed bytes as the body (or a GET's `message`).
pub fn connect(data: &[u8]) {
    let Some((sel, value, body)) = split(data) else {
        return;
    };
    let body = body.to_vec();
    let post = |rpc: &str, ct: &str, headers: &[(&str, &str)]| {
        request(
            Method::POST,
            &format!("{P}{rpc}"),
            Some(ct),
            headers,
            body.clone(),
        )
    };
    let (mut req, streaming) = match sel & 0x0f {
        0 => (post("ChatService/Chat", "application/json", &[]), false),
        1 => (post("ChatService/Chat", "application/proto", &[]), false),
        2 => (
            post("ChatService/StreamChat", "application/connect+json", &[]),
            true,
        ),
        3 => (
            post("ChatService/StreamChat", "application/connect+proto", &[]),
            true,
        ),
        4 => (
            post(
                "CompletionsService/StreamComplete",
                "application/connect+json",
                &[],
            ),
            true,
        ),
        5 => (
            post("CompletionsService/Complete", "application/json", &[]),
            false,
        ),
        6 => (
            post("EmbeddingsService/Embed", "application/json", &[]),
            false,
        ),
        7 => (
            post("EmbeddingsService/Embed", "application/proto", &[]),
            false,
        ),
        8 => {
            let message = url_encode(&body);
            let uri = format!("{P}EndpointsService/ListEndpoints?encoding=json&message={message}");
            (request(Method::GET, &uri, None, &[], Vec::new()), false)
        }
        9 => {
            let message = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&body);
            let uri = format!(
                "{P}EndpointsService/GetEndpoint?encoding=proto&base64=1&message={message}"
            );
            (request(Method::GET, &uri, None, &[], Vec::new()), false)
        }
        10 => {
            let gz = [
                ("connect-content-encoding", "gzip"),
                ("connect-accept-encoding", "gzip"),
            ];
            (
                post("ChatService/StreamChat", "application/connect+proto", &gz),
                true,
            )
        }
        11 => {
            let gz = [("content-encoding", "gzip"), ("accept-encoding", "gzip")];
            (post("ChatService/Chat", "application/json", &gz), false)
        }
        12 => (
            post("EndpointsService/GetEndpoint", "application/json", &[]),
            false,
        ),
        13 => {
            let t = [
                ("connect-timeout-ms", "5000"),
                ("connect-protocol-version", "1"),
            ];
            (
                post(
                    "CompletionsService/StreamComplete",
                    "application/connect+proto",
                    &t,
                ),
                true,
            )
        }
        14 => (
            post("EndpointsService/ListEndpoints", "application/proto", &[]),
            false,
        ),
        _ => (
            post("EmbeddingsService/Embed", "application/connect+json", &[]),
            false,
        ),
    };
    let name = match (sel >> 4) & 0x03 {
        0 => "connect-timeout-ms",
        1 if streaming => "connect-content-encoding",
        1 => "content-encoding",
        2 => "connect-protocol-version",
        _ => "content-type",
    };
    set(&mut req, name, value);
    let context = format!("{} {}", req.method(), req.uri());
    let answer = send(req);
    let ct = answer
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if answer.status == 200 && ct.starts_with("application/connect+") {
        let frames = envelopes(&answer.body);
        let (last, data) = frames
            .split_last()
            .expect("a stream has its end-of-stream message");
        assert_eq!(
            last.0 & 0x02,
            0x02,
            "the stream does not end with end-of-stream ({context})"
        );
        for (flags, payload) in data {
            assert_eq!(
                flags & 0x02,
                0,
                "an end-of-stream message before the end ({context})"
            );
            let payload = if flags & 0x01 != 0 {
                gunzip(payload)
            } else {
                payload.to_vec()
            };
            if ct.ends_with("json") {
                json(&payload, &context);
            }
        }
        let end = json(last.1, &context);
        assert!(end.is_object(), "end-of-stream {end} ({context})");
        if let Some(err) = end.get("error") {
            connect_error(err, &context);
        }
    } else if answer.status == 200 {
        let zipped = answer
            .headers
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| v == "gzip");
        let body = if zipped {
            gunzip(&answer.body)
        } else {
            answer.body.to_vec()
        };
        if ct == "application/json" {
            json(&body, &context);
        } else {
            assert_eq!(
                ct, "application/proto",
                "a unary answer's content type ({context})"
            );
        }
    } else {
        assert!(answer.status >= 400, "status {} ({context})", answer.status);
        assert_eq!(
            ct, "application/json",
            "an error's content type ({context})"
        );
        connect_error(&json(&answer.body, &context), &context);
    }
}

fn url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes grpc-web-text: concatenated base64 chunks, each padded, so 4 characters at a time.
fn web_text(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for quantum in body.chunks(4) {
        let part = base64::engine::general_purpose::STANDARD
            .decode(quantum)
            .unwrap_or_else(|e| panic!("grpc-web-text answer is not base64 ({e})"));
        out.extend_from_slice(&part);
    }
    out
}

/// `grpc-status` must be a code 0..=16, and not INTERNAL/UNKNOWN: tonic's INTERNAL for a
/// message it cannot decode is turned into INVALID_ARGUMENT ([`crate::guard`]).
fn grpc_status(status: &str, message: Option<&str>, context: &str) {
    let code: u8 = status
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("grpc-status {status:?} ({e}, {context})"));
    assert!(code <= 16, "grpc-status {code} ({context})");
    assert!(
        code != 2 && code != 13,
        "a fuzzed request caused grpc-status {code}: {message:?} ({context})"
    );
}

/// Target `grpc_web`: grpc-web (binary and text) and plain gRPC requests through the whole app;
/// the fuzzed bytes are the body (base64-encoded first for the `-text` shapes that say so).
pub fn grpc_web(data: &[u8]) {
    let Some((sel, value, body)) = split(data) else {
        return;
    };
    let b64 = |b: &[u8]| {
        base64::engine::general_purpose::STANDARD
            .encode(b)
            .into_bytes()
    };
    let (rpc, ct, body) = match sel & 0x0f {
        0 => (
            "ChatService/Chat",
            "application/grpc-web+proto",
            body.to_vec(),
        ),
        1 => (
            "ChatService/StreamChat",
            "application/grpc-web",
            body.to_vec(),
        ),
        2 => (
            "EmbeddingsService/Embed",
            "application/grpc-web+proto",
            body.to_vec(),
        ),
        3 => (
            "EndpointsService/ListEndpoints",
            "application/grpc-web-text",
            b64(body),
        ),
        4 => (
            "CompletionsService/StreamComplete",
            "application/grpc-web-text",
            b64(body),
        ),
        5 => (
            "ChatService/Chat",
            "application/grpc-web-text",
            body.to_vec(),
        ),
        6 => (
            "EndpointsService/GetEndpoint",
            "application/grpc",
            body.to_vec(),
        ),
        7 => (
            "ChatService/StreamChat",
            "application/grpc+proto",
            body.to_vec(),
        ),
        8 => (
            "CompletionsService/Complete",
            "application/grpc-web",
            body.to_vec(),
        ),
        9 => (
            "EndpointsService/GetEndpoint",
            "application/grpc-web-text+proto",
            b64(body),
        ),
        10 => (
            "grpc.health.v1.Health/Check",
            "application/grpc-web",
            body.to_vec(),
        ),
        11 => ("NoSuchService/Nope", "application/grpc-web", body.to_vec()),
        12 => ("EmbeddingsService/Embed", "application/grpc", body.to_vec()),
        13 => (
            "ChatService/StreamChat",
            "application/grpc-web-text",
            b64(body),
        ),
        14 => (
            "EndpointsService/ListEndpoints",
            "application/grpc-web+json",
            body.to_vec(),
        ),
        _ => (
            "CompletionsService/Complete",
            "application/grpc-web-text",
            body.to_vec(),
        ),
    };
    let path = if rpc.starts_with("grpc.") {
        format!("/{rpc}")
    } else {
        format!("{P}{rpc}")
    };
    let mut req = request(Method::POST, &path, Some(ct), &[("te", "trailers")], body);
    if ct == "application/grpc" || ct == "application/grpc+proto" {
        *req.version_mut() = http::Version::HTTP_2;
    }
    let name = match (sel >> 4) & 0x03 {
        0 => "grpc-timeout",
        1 => "grpc-encoding",
        2 => "grpc-accept-encoding",
        _ => "content-type",
    };
    set(&mut req, name, value);
    let context = format!("{ct} {path}");
    let answer = send(req);
    let header_text =
        |h: &HeaderMap, n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if answer.status != 200 {
        // Refused before gRPC (tonic-web: not a POST, not a grpc-web content type, ...).
        assert!(
            (400..=599).contains(&answer.status),
            "status {} ({context})",
            answer.status
        );
        assert_ne!(
            answer.status, 500,
            "a fuzzed request caused a 500 ({context})"
        );
        return;
    }
    let resp_ct = header_text(&answer.headers, "content-type").unwrap_or_default();
    if let Some(status) = header_text(&answer.headers, "grpc-status") {
        // Trailers-only: the status in the headers, and no message.
        let message = header_text(&answer.headers, "grpc-message");
        grpc_status(&status, message.as_deref(), &context);
        return;
    }
    if resp_ct.starts_with("application/grpc-web") {
        let bytes = if resp_ct.starts_with("application/grpc-web-text") {
            web_text(&answer.body)
        } else {
            answer.body.to_vec()
        };
        let frames = envelopes(&bytes);
        let (last, data) = frames
            .split_last()
            .expect("a grpc-web answer has a trailer frame");
        assert_eq!(
            last.0, 0x80,
            "the answer does not end with its trailers ({context})"
        );
        assert!(
            data.iter().all(|(f, _)| f & 0x80 == 0),
            "trailers before the end ({context})"
        );
        let trailers = String::from_utf8_lossy(last.1).into_owned();
        let field = |name: &str| {
            trailers.split("\r\n").find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let status = field("grpc-status")
            .unwrap_or_else(|| panic!("no grpc-status in {trailers:?} ({context})"));
        grpc_status(&status, field("grpc-message").as_deref(), &context);
    } else {
        assert!(
            resp_ct.starts_with("application/grpc"),
            "content type {resp_ct:?} ({context})"
        );
        envelopes(&answer.body);
        let trailers = answer
            .trailers
            .unwrap_or_else(|| panic!("no trailers ({context})"));
        let status = header_text(&trailers, "grpc-status")
            .unwrap_or_else(|| panic!("no grpc-status trailer ({context})"));
        grpc_status(
            &status,
            header_text(&trailers, "grpc-message").as_deref(),
            &context,
        );
    }
}
