//! The Cohere provider end to end (spec §3.10): the gateway on 127.0.0.1:0 in front of a
//! scripted Cohere v1 API (NDJSON streams included), through MLflow's REST routes, the
//! OpenAI-compatible routes and gRPC.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod scripted_upstream;

use common::TestGateway;
use futures::StreamExt;
use llm_gateway::pb::v1 as pb;
use pb::chat_service_client::ChatServiceClient;
use pb::completions_service_client::CompletionsServiceClient;
use pb::embeddings_service_client::EmbeddingsServiceClient;
use scripted_upstream::{Answer, Upstream};
use serde_json::json;

const CONFIG: &str = r#"
endpoints:
  - name: co-chat
    endpoint_type: llm/v1/chat
    model:
      provider: cohere
      name: command
      config: {cohere_api_key: co-test-key, cohere_api_base: "{UP}/v1"}
  - name: co-completions
    endpoint_type: llm/v1/completions
    model:
      provider: cohere
      name: command
      config: {cohere_api_key: co-test-key, cohere_api_base: "{UP}/v1"}
  - name: co-embeddings
    endpoint_type: llm/v1/embeddings
    model:
      provider: cohere
      name: embed-english-v3.0
      config: {cohere_api_key: co-test-key, cohere_api_base: "{UP}/v1"}
"#;

const CHAT_UP: &str = include_str!("fixtures/cohere/chat_response.json");
const GENERATE_UP: &str = include_str!("fixtures/cohere/generate_response.json");
const EMBED_UP: &str = include_str!("fixtures/cohere/embed_response.json");
const CHAT_STREAM_UP: &str = include_str!("fixtures/cohere/chat_stream.ndjson");
const GENERATE_STREAM_UP: &str = include_str!("fixtures/cohere/generate_stream.ndjson");
const ERROR_401: &str = include_str!("fixtures/cohere/error_401.json");

const HI: &str = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
const HI_STREAM: &str = r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#;

async fn start() -> (TestGateway, Upstream) {
    let up = Upstream::start().await;
    let gw = TestGateway::start(&CONFIG.replace("{UP}", &up.base)).await;
    (gw, up)
}

/// A 200 NDJSON answer sent in pieces of `size` bytes (lines split across pieces).
fn ndjson(text: &str, size: usize) -> Answer {
    Answer {
        status: 200,
        content_type: "application/stream+json".into(),
        chunks: text
            .as_bytes()
            .chunks(size)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect(),
        headers: Vec::new(),
        stall: false,
    }
}

fn check_request(r: &scripted_upstream::Recorded, path: &str) {
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", path));
    assert_eq!(r.header("authorization"), Some("Bearer co-test-key"));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

/// `created` varies; every other byte is compared.
fn created(v: &mut serde_json::Value) {
    assert!(v["created"].as_i64().unwrap() > 1_700_000_000);
    v["created"] = json!(0);
}

#[tokio::test]
async fn chat_with_history_and_preamble() {
    let (gw, up) = start().await;
    up.on("/v1/chat", Answer::raw(200, "application/json", CHAT_UP));
    let r = gw
        .post(
            "/gateway/co-chat/invocations",
            r#"{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"tool","content":"ignored","tool_call_id":"c1"},{"role":"user","content":"how are you?"}],"temperature":0.4,"max_tokens":20,"top_p":0.9,"top_k":5,"connectors":[{"id":"web-search"}]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut v = r.json();
    created(&mut v);
    assert_eq!(
        v.to_string(),
        r#"{"id":"9d1d1a4c-2ca6-4c5e-9b8b-d5f1a8a3c7e2","object":"chat.completion","created":0,"model":"command","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you?","tool_calls":null,"refusal":null},"finish_reason":null}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12},"provider":"cohere"}"#
    );
    let req = up.one();
    check_request(&req, "/v1/chat");
    assert_eq!(
        String::from_utf8(req.body).unwrap(),
        r#"{"model":"command","max_tokens":20,"temperature":1.0,"top_p":0.9,"top_k":5,"connectors":[{"id":"web-search"}],"message":"how are you?","preamble_override":"be brief","chat_history":[{"role":"USER","message":"hi"},{"role":"CHATBOT","message":"hello"}]}"#
    );
}

#[tokio::test]
async fn chat_stream_is_read_as_ndjson() {
    let (gw, up) = start().await;
    up.on("/v1/chat", ndjson(CHAT_STREAM_UP, 17));
    let r = gw.post("/gateway/co-chat/invocations", HI_STREAM).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = r.sse_data();
    assert_eq!(events.len(), 5, "{events:?}");
    assert_eq!(events[4], "[DONE]");
    let mut first: serde_json::Value = serde_json::from_str(&events[0]).unwrap();
    created(&mut first);
    assert_eq!(
        first.to_string(),
        r#"{"id":null,"object":"chat.completion.chunk","created":0,"model":"command","choices":[{"index":0,"finish_reason":null,"delta":{"role":null,"content":"How","tool_calls":null}}],"usage":null,"provider":"cohere"}"#
    );
    let mut last: serde_json::Value = serde_json::from_str(&events[3]).unwrap();
    created(&mut last);
    assert_eq!(
        last.to_string(),
        r#"{"id":"9d1d1a4c-2ca6-4c5e-9b8b-d5f1a8a3c7e2","object":"chat.completion.chunk","created":0,"model":"command","choices":[{"index":0,"finish_reason":"COMPLETE","delta":{"role":null,"content":null,"tool_calls":null}}],"usage":{"prompt_tokens":83,"completion_tokens":63,"total_tokens":146},"provider":"cohere"}"#
    );
    let req = up.one();
    check_request(&req, "/v1/chat");
    assert_eq!(
        String::from_utf8(req.body).unwrap(),
        r#"{"model":"command","stream":true,"message":"hi"}"#
    );

    // The OpenAI-compatible route streams the same chunks.
    up.on("/v1/chat", ndjson(CHAT_STREAM_UP, 3));
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"co-chat","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let text: String = r
        .sse_data()
        .iter()
        .filter(|e| *e != "[DONE]")
        .filter_map(|e| {
            let v: serde_json::Value = serde_json::from_str(e).unwrap();
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "How are you");
    up.take();
}

#[tokio::test]
async fn completions_and_stream() {
    let (gw, up) = start().await;
    up.on(
        "/v1/generate",
        Answer::raw(200, "application/json", GENERATE_UP),
    );
    let r = gw
        .post(
            "/gateway/co-completions/invocations",
            r#"{"prompt":"Say hi","n":2,"stop":["."],"max_tokens":5,"temperature":0}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut v = r.json();
    created(&mut v);
    assert_eq!(
        v.to_string(),
        r#"{"id":null,"object":"text_completion","created":0,"model":"command","choices":[{"index":0,"text":" Hello","finish_reason":null},{"index":1,"text":" world","finish_reason":null}],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null}}"#
    );
    let req = up.one();
    check_request(&req, "/v1/generate");
    // A temperature of 0 is not rescaled (MLflow scales only truthy values).
    assert_eq!(
        String::from_utf8(req.body).unwrap(),
        r#"{"model":"command","num_generations":2,"stop_sequences":["."],"max_tokens":5,"temperature":0.0,"prompt":"Say hi"}"#
    );

    up.on("/v1/generate", ndjson(GENERATE_STREAM_UP, 10));
    let r = gw
        .post(
            "/v1/completions",
            r#"{"model":"co-completions","prompt":"Hello","n":2,"stream":true,"temperature":1}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.sse_data();
    assert_eq!(events.len(), 4, "{events:?}");
    let mut last: serde_json::Value = serde_json::from_str(&events[2]).unwrap();
    created(&mut last);
    assert_eq!(
        last.to_string(),
        r#"{"id":"b32a70c5-8c91-4f96-958f-d942801ed22f","object":"text_completion_chunk","created":0,"model":"command","choices":[{"index":0,"finish_reason":"COMPLETE","text":""}],"usage":null}"#
    );
    let second: serde_json::Value = serde_json::from_str(&events[1]).unwrap();
    assert_eq!(second["choices"][0]["index"], 1);
    assert_eq!(
        up.one().json(),
        json!({"model":"command","num_generations":2,"stream":true,"temperature":2.5,"prompt":"Hello"})
    );
}

#[tokio::test]
async fn embeddings() {
    let (gw, up) = start().await;
    up.on("/v1/embed", Answer::raw(200, "application/json", EMBED_UP));
    let r = gw
        .post(
            "/gateway/co-embeddings/invocations",
            r#"{"input":"hello","input_type":"search_document"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        r#"{"object":"list","data":[{"object":"embedding","embedding":[3.25,0.7685547,2.65625],"index":0},{"object":"embedding","embedding":[-0.30126953,-2.3554688,1.2597656],"index":1}],"model":"embed-english-v3.0","usage":{"prompt_tokens":null,"total_tokens":null}}"#
    );
    let req = up.one();
    check_request(&req, "/v1/embed");
    assert_eq!(
        String::from_utf8(req.body).unwrap(),
        r#"{"model":"embed-english-v3.0","texts":["hello"],"input_type":"search_document"}"#
    );
}

#[tokio::test]
async fn parameter_checks_are_mlflows() {
    let (gw, up) = start().await;
    for (path, body, status, detail) in [
        (
            "/gateway/co-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"n":2}"#,
            422,
            "Parameter n must be 1 for Cohere chat, got 2.",
        ),
        (
            "/gateway/co-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"stop":["x"],"stream":true}"#,
            422,
            "Parameter stop is not supported for Cohere chat.",
        ),
        (
            "/gateway/co-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"a"}]}"#,
            422,
            "Last message must be from user, got assistant.",
        ),
        (
            "/gateway/co-completions/invocations",
            r#"{"prompt":"p","stop_sequences":["x"]}"#,
            400,
            "Invalid parameter stop_sequences. Use stop instead.",
        ),
        (
            "/gateway/co-completions/invocations",
            r#"{"prompt":"p","num_generations":2,"stream":true}"#,
            400,
            "Invalid parameter num_generations. Use n instead.",
        ),
        (
            "/gateway/co-embeddings/invocations",
            r#"{"input":"a","texts":["b"]}"#,
            422,
            "Invalid parameter texts. Use input instead.",
        ),
    ] {
        let r = gw.post(path, body).await;
        assert_eq!(
            (r.status, r.json()),
            (status, json!({ "detail": detail })),
            "{body}"
        );
    }
    assert!(up.take().is_empty());
}

#[tokio::test]
async fn errors_and_broken_streams() {
    let (gw, up) = start().await;
    // Cohere's error body has no `error` key: MLflow passes the whole JSON.
    up.on("/v1/chat", Answer::raw(401, "application/json", ERROR_401));
    let r = gw.post("/gateway/co-chat/invocations", HI).await;
    assert_eq!(
        (r.status, r.json()),
        (401, json!({"detail":{"message":"invalid api token"}}))
    );
    // On a stream the status is real too (MLflow answers 200 and aborts).
    let r = gw.post("/gateway/co-chat/invocations", HI_STREAM).await;
    assert_eq!(
        (r.status, r.json()),
        (401, json!({"detail":{"message":"invalid api token"}}))
    );
    // A key echoed by the upstream is redacted.
    up.on(
        "/v1/generate",
        Answer::raw(429, "text/plain", "slow down, co-test-key"),
    );
    let r = gw
        .post(
            "/gateway/co-completions/invocations",
            r#"{"prompt":"p","stream":true}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (429, json!({"detail":{"message":"slow down, [redacted]"}}))
    );

    // An error object after some content: one SSE error event ends the stream.
    let first = CHAT_STREAM_UP
        .lines()
        .take(2)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    up.on(
        "/v1/chat",
        ndjson(&(first.clone() + "{\"message\":\"internal error\"}\n"), 8),
    );
    let r = gw.post("/gateway/co-chat/invocations", HI_STREAM).await;
    assert_eq!(r.status, 200);
    let events = r.sse_data();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[1].contains("internal error"), "{}", events[1]);

    // Cut before `stream-end`: an error event, not a silent end.
    up.on("/v1/chat", ndjson(&first, 8));
    let r = gw.post("/gateway/co-chat/invocations", HI_STREAM).await;
    let events = r.sse_data();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[1].contains("\"error\""), "{}", events[1]);

    // Nothing at all: the failure comes before the first chunk, so it is a real 502.
    up.on("/v1/chat", ndjson("", 8));
    let r = gw.post("/gateway/co-chat/invocations", HI_STREAM).await;
    assert_eq!(r.status, 502, "{}", r.body);
    up.on("/v1/generate", ndjson("{\"message\":\"overloaded\"}\n", 8));
    let r = gw
        .post(
            "/gateway/co-completions/invocations",
            r#"{"prompt":"p","stream":true}"#,
        )
        .await;
    assert_eq!((r.status, r.json()), (502, json!({"detail":"overloaded"})));
    up.take();
}

#[tokio::test]
async fn grpc_surface() {
    let (gw, up) = start().await;
    let channel = gw.channel().await;
    let req = pb::ChatRequest {
        endpoint: "co-chat".into(),
        messages: vec![pb::Message {
            role: "user".into(),
            content: Some("hi".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut chat = ChatServiceClient::new(channel.clone());
    up.on("/v1/chat", Answer::raw(200, "application/json", CHAT_UP));
    let resp = chat.chat(req.clone()).await.unwrap().into_inner();
    assert_eq!(
        (resp.provider.as_str(), resp.model.as_str()),
        ("cohere", "command")
    );
    assert_eq!(up.one().json(), json!({"model":"command","message":"hi"}));
    up.on("/v1/chat", ndjson(CHAT_STREAM_UP, 5));
    let chunks: Vec<_> = chat
        .stream_chat(req.clone())
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(chunks.len(), 4);
    let last = chunks[3].as_ref().unwrap();
    assert_eq!(last.choices[0].finish_reason.as_deref(), Some("COMPLETE"));
    assert_eq!(last.usage.as_ref().unwrap().total_tokens, Some(146));
    up.take();
    let err = chat
        .chat(pb::ChatRequest { n: Some(3), ..req })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        tonic::Code::InvalidArgument,
        "{}",
        err.message()
    );

    let mut completions = CompletionsServiceClient::new(channel.clone());
    let creq = pb::CompletionRequest {
        endpoint: "co-completions".into(),
        prompt: "Hello".into(),
        ..Default::default()
    };
    up.on("/v1/generate", ndjson(GENERATE_STREAM_UP, 64));
    let chunks: Vec<_> = completions
        .stream_complete(creq.clone())
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    let text: String = chunks
        .iter()
        .map(|c| c.as_ref().unwrap().choices[0].text.clone())
        .collect();
    assert_eq!(text, " Hi Hi");
    up.on(
        "/v1/generate",
        Answer::raw(200, "application/json", GENERATE_UP),
    );
    let resp = completions.complete(creq).await.unwrap().into_inner();
    assert_eq!(resp.choices.len(), 2);

    up.on("/v1/embed", Answer::raw(200, "application/json", EMBED_UP));
    let resp = EmbeddingsServiceClient::new(channel)
        .embed(pb::EmbedRequest {
            endpoint: "co-embeddings".into(),
            texts: vec!["a".into(), "b".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.data.len(), 2);
    up.take();
}
