//! Unit tests of the ConverseStream decoder and event mapping, on the event sequences of
//! `tests/fixtures/bedrock/converse_stream_*.json` encoded as AWS event-stream frames.

use super::*;
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::Header;
use serde_json::json;

const TEXT: &str = include_str!("../../../tests/fixtures/bedrock/converse_stream_text.json");
const TOOLS: &str = include_str!("../../../tests/fixtures/bedrock/converse_stream_tools.json");
const EXCEPTION: &str =
    include_str!("../../../tests/fixtures/bedrock/converse_stream_exception.json");

fn string(s: &str) -> HeaderValue {
    HeaderValue::String(s.to_owned().into())
}

/// The frames of a fixture, encoded as Bedrock sends them.
fn frames(fixture: &str) -> Vec<Vec<u8>> {
    let events: Vec<Value> = serde_json::from_str(fixture).unwrap();
    events
        .iter()
        .map(|e| {
            let payload = serde_json::to_vec(&e["payload"]).unwrap();
            let headers = match e.get("event") {
                Some(name) => vec![
                    Header::new(":event-type", string(name.as_str().unwrap())),
                    Header::new(":content-type", string("application/json")),
                    Header::new(":message-type", string("event")),
                ],
                None => vec![
                    Header::new(":exception-type", string(e["exception"].as_str().unwrap())),
                    Header::new(":content-type", string("application/json")),
                    Header::new(":message-type", string("exception")),
                ],
            };
            let mut out = Vec::new();
            write_message_to(&Message::new_from_parts(headers, payload), &mut out).unwrap();
            out
        })
        .collect()
}

/// Runs the whole decoder over `bytes` delivered in pieces of `split` bytes.
async fn run(bytes: Vec<u8>, split: usize) -> Vec<Result<pb::ChatChunk, GatewayError>> {
    let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = bytes
        .chunks(split)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(pieces));
    let response = reqwest::Response::from(http::Response::new(body));
    chat_chunks(
        response,
        "m".into(),
        Duration::from_secs(5),
        Redactor::default(),
    )
    .collect()
    .await
}

fn deltas(items: &[Result<pb::ChatChunk, GatewayError>]) -> Vec<Value> {
    items
        .iter()
        .map(|i| {
            let c = i.as_ref().unwrap();
            assert_eq!((c.id.as_deref(), c.model.as_str()), (None, "m"));
            let ch = &c.choices[0];
            let d = ch.delta.as_ref().unwrap();
            json!({
                "content": d.content,
                "finish": ch.finish_reason,
                "tools": d.tool_calls.iter().map(|t| json!([
                    t.index, t.id, t.r#type,
                    t.function.as_ref().unwrap().name,
                    t.function.as_ref().unwrap().arguments,
                ])).collect::<Vec<_>>(),
                "usage": c.usage.as_ref().map(|u| json!([u.prompt_tokens, u.completion_tokens, u.total_tokens])),
            })
        })
        .collect()
}

#[tokio::test]
async fn text_stream_in_any_split() {
    let bytes: Vec<u8> = frames(TEXT).concat();
    for split in [1, 7, 13, 64, bytes.len()] {
        let items = run(bytes.clone(), split).await;
        assert_eq!(
            deltas(&items),
            vec![
                json!({"content":"Hello","finish":null,"tools":[],"usage":null}),
                json!({"content":" from Bedrock!","finish":null,"tools":[],"usage":null}),
                json!({"content":null,"finish":"stop","tools":[],"usage":null}),
                json!({"content":null,"finish":null,"tools":[],"usage":[10,4,14]}),
            ],
            "split {split}"
        );
    }
}

#[tokio::test]
async fn tool_stream_maps_block_indices() {
    let items = run(frames(TOOLS).concat(), 5).await;
    assert_eq!(
        deltas(&items),
        vec![
            json!({"content":"Checking.","finish":null,"tools":[],"usage":null}),
            json!({"content":null,"finish":null,"tools":[[0,"tooluse_abc","function","get_weather",""]],"usage":null}),
            json!({"content":null,"finish":null,"tools":[[0,null,null,null,"{\"city\":"]],"usage":null}),
            json!({"content":null,"finish":null,"tools":[[0,null,null,null," \"Paris\"}"]],"usage":null}),
            json!({"content":null,"finish":"tool_calls","tools":[],"usage":null}),
            json!({"content":null,"finish":null,"tools":[],"usage":[25,9,34]}),
        ]
    );
    let usage = items[5].as_ref().unwrap().usage.as_ref().unwrap();
    assert_eq!(
        usage.prompt_tokens_details.as_ref().unwrap().cached_tokens,
        Some(5)
    );
}

#[tokio::test]
async fn exception_frame_ends_with_one_error() {
    let items = run(frames(EXCEPTION).concat(), 11).await;
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].as_ref().unwrap().choices[0]
            .delta
            .as_ref()
            .unwrap()
            .content
            .as_deref(),
        Some("Hel")
    );
    match &items[1] {
        Err(GatewayError::Upstream { status, detail, .. }) => {
            assert_eq!(*status, 429);
            assert_eq!(
                detail,
                &json!(
                    "Amazon Bedrock returned throttlingException while streaming: Too many requests, please wait before trying again."
                )
            );
        }
        other => panic!("expected an upstream error, got {other:?}"),
    }
}

#[tokio::test]
async fn truncation_is_an_error() {
    let all = frames(TEXT);
    // Cut before messageStop: whole frames, but no end.
    let items = run(all[..3].concat(), 9).await;
    assert_eq!(items.len(), 3);
    assert!(matches!(
        items.last(),
        Some(Err(GatewayError::UpstreamBadResponse(m))) if m.contains("messageStop")
    ));
    // Cut inside the metadata frame, after messageStop.
    let mut bytes = all.concat();
    bytes.truncate(bytes.len() - 5);
    let items = run(bytes, 9).await;
    assert!(matches!(
        items.last(),
        Some(Err(GatewayError::UpstreamBadResponse(_)))
    ));
    // Nothing at all.
    let items = run(Vec::new(), 1).await;
    assert_eq!(items.len(), 1);
    assert!(items[0].is_err());
    // A corrupted frame (checksum) is an error, not a silent skip.
    let mut bad = all.concat();
    bad[20] ^= 0xff;
    let items = run(bad, 64).await;
    assert!(matches!(
        items.last(),
        Some(Err(GatewayError::UpstreamBadResponse(_)))
    ));
}

#[test]
fn error_frames_and_status_table() {
    let frame = Message::new_from_parts(
        vec![
            Header::new(":message-type", string("error")),
            Header::new(":error-code", string("InternalFailure")),
            Header::new(":error-message", string("boom")),
        ],
        Vec::new(),
    );
    let mut m = ChatStream::new("m");
    match m.on_frame(&frame, &Redactor::default(), 1) {
        Step::Fail(GatewayError::Upstream { status, detail, .. }) => {
            assert_eq!(status, 502);
            assert_eq!(
                detail,
                json!("Amazon Bedrock returned InternalFailure while streaming: boom")
            );
        }
        _ => panic!("expected a failure"),
    }
    for (kind, status) in [
        ("serviceUnavailableException", 503),
        ("modelTimeoutException", 408),
        ("validationException", 502),
    ] {
        match stream_error(kind, "x", &Redactor::default()) {
            GatewayError::Upstream { status: s, .. } => assert_eq!(s, status),
            _ => panic!(),
        }
    }
}

/// Found by fuzzing (`bedrock_event_stream`): serde's message for a wrongly typed field quotes
/// the value (`invalid type: string "..."`), so a secret the upstream echoed reached the client.
#[test]
fn undecodable_payloads_do_not_quote_secrets() {
    let frame = Message::new_from_parts(
        vec![
            Header::new(":event-type", string("contentBlockDelta")),
            Header::new(":message-type", string("event")),
        ],
        br#"{"contentBlockIndex":"sk-bedrock-secret","delta":{"text":"x"}}"#.to_vec(),
    );
    let redactor = Redactor::new([crate::config::Secret::new("sk-bedrock-secret")]);
    match ChatStream::new("m").on_frame(&frame, &redactor, 1) {
        Step::Fail(e) => {
            let text = e.to_string();
            assert!(
                text.contains("[redacted]") && !text.contains("sk-bedrock-secret"),
                "{text}"
            );
        }
        _ => panic!("expected a failure"),
    }
}
