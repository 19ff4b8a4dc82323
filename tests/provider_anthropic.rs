//! The Anthropic provider end to end (spec §3.4, Appendix B): the gateway on 127.0.0.1:0 in
//! front of a small scripted Anthropic API (Messages, legacy Complete, SSE streams sent in
//! small pieces), driven through MLflow's REST routes, the OpenAI-compatible routes and gRPC.
//! Every upstream request is checked for path, headers and exact body; answers are compared
//! byte for byte where MLflow fixes them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use common::TestGateway;
use futures::StreamExt;
use llm_gateway::pb::v1 as pb;
use pb::chat_service_client::ChatServiceClient;
use pb::completions_service_client::CompletionsServiceClient;
use serde_json::{Value, json};

const TEXT_UP: &str = include_str!("fixtures/anthropic/chat_text_response.json");
const TOOLS_UP: &str = include_str!("fixtures/anthropic/chat_tools_response.json");
const TOOLS_REQUEST: &str = include_str!("fixtures/anthropic/chat_tools_request.json");
const TOOLS_MLFLOW: &str = include_str!("fixtures/anthropic/chat_tools_mlflow.json");
const STREAM_TEXT: &str = include_str!("fixtures/anthropic/stream_text.sse");
const STREAM_TOOLS: &str = include_str!("fixtures/anthropic/stream_tools.sse");
const STREAM_ERROR: &str = include_str!("fixtures/anthropic/stream_error.sse");
const COMPLETE_UP: &str = include_str!("fixtures/anthropic/complete_response.json");
const ERROR_UP: &str = include_str!("fixtures/anthropic/error_body.json");

const KEY: &str = "sk-ant-test-key-1234";

fn endpoint(name: &str, kind: &str, model: &str) -> String {
    format!(
        "  - name: {name}\n    endpoint_type: llm/v1/{kind}\n    model:\n      provider: anthropic\n      name: {model}\n      config: {{anthropic_api_key: {KEY}, anthropic_api_base: \"{{ANTH}}/v1\"}}\n"
    )
}

fn config() -> String {
    let mut yaml = String::from("endpoints:\n");
    for (name, kind, model) in [
        ("chat", "chat", "claude-text"),
        ("tools", "chat", "claude-tools"),
        ("err400", "chat", "claude-err400"),
        ("echo-key", "chat", "claude-echo-key"),
        ("stream-error", "chat", "claude-stream-error"),
        ("error-first", "chat", "claude-error-first"),
        ("cut", "chat", "claude-cut"),
        ("empty", "chat", "claude-empty"),
        ("completions", "completions", "claude-instant-1"),
        ("embeddings", "embeddings", "claude-embed"),
    ] {
        yaml.push_str(&endpoint(name, kind, model));
    }
    // One endpoint with an explicit API version.
    yaml.push_str(
        "  - name: versioned\n    endpoint_type: llm/v1/chat\n    model:\n      provider: anthropic\n      name: claude-text\n      config: {anthropic_api_key: KEY, anthropic_version: \"2024-01-01\", anthropic_api_base: \"{ANTH}/v1/\"}\n"
            .replace("KEY", KEY)
            .as_str(),
    );
    yaml
}

// ---------------------------------------------------------------------------------------------
// The scripted Anthropic API

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Value,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone, Default)]
struct Mock {
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl Mock {
    fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

fn json_answer(status: u16, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

/// An event stream sent in 7-byte pieces, so SSE frames arrive split across reads.
fn sse_answer(body: &str) -> Response {
    let pieces: Vec<Result<Bytes, std::io::Error>> = body
        .as_bytes()
        .chunks(7)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream; charset=utf-8")
        .body(Body::from_stream(futures::stream::iter(pieces)))
        .unwrap()
}

async fn handle(
    State(mock): State<Mock>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    mock.log.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: uri.to_string(),
        headers,
        body: parsed.clone(),
    });
    let model = parsed["model"].as_str().unwrap_or_default();
    let stream = parsed["stream"] == json!(true);
    match (uri.path(), model, stream) {
        (_, "claude-err400", _) => json_answer(400, ERROR_UP),
        (_, "claude-echo-key", _) => json_answer(
            401,
            &json!({"type":"error","error":{"type":"authentication_error","message":format!("invalid x-api-key {key}")}})
                .to_string(),
        ),
        ("/v1/complete", _, _) => json_answer(200, COMPLETE_UP),
        ("/v1/messages", "claude-tools", false) => json_answer(200, TOOLS_UP),
        ("/v1/messages", "claude-tools", true) => sse_answer(STREAM_TOOLS),
        ("/v1/messages", "claude-stream-error", true) => sse_answer(STREAM_ERROR),
        ("/v1/messages", "claude-error-first", true) => {
            let first = STREAM_ERROR.split("event: content_block_start").next().unwrap();
            sse_answer(&format!(
                "{first}event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}}}\n\n"
            ))
        }
        ("/v1/messages", "claude-cut", true) => {
            sse_answer(STREAM_TEXT.split("event: message_delta").next().unwrap())
        }
        ("/v1/messages", "claude-empty", true) => sse_answer(""),
        ("/v1/messages", _, true) => sse_answer(STREAM_TEXT),
        ("/v1/messages", _, false) => json_answer(200, TEXT_UP),
        _ => json_answer(
            404,
            r#"{"type":"error","error":{"type":"not_found_error","message":"Not Found"}}"#,
        ),
    }
}

async fn start() -> (TestGateway, Mock) {
    let mock = Mock::default();
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let yaml = config().replace("{ANTH}", &base);
    (TestGateway::start(&yaml).await, mock)
}

fn assert_headers(r: &Recorded, version: &str) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("x-api-key"), Some(KEY));
    assert_eq!(r.header("anthropic-version"), Some(version));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("authorization"), None);
}

/// The body with `created` (the gateway's clock) checked and pinned, re-serialised in order.
fn pin_created(body: &str) -> String {
    let mut v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let created = v["created"].as_i64().unwrap();
    assert!(created > 1_700_000_000, "created {created}");
    v["created"] = json!(1_700_000_000);
    v.to_string()
}

// ---------------------------------------------------------------------------------------------
// Chat

#[tokio::test]
async fn chat_plain_matches_mlflow() {
    let (gw, mock) = start().await;
    let r = gw
        .post(
            "/gateway/chat/invocations",
            r#"{"messages":[{"role":"system","content":"sys1"},{"role":"system","content":"sys2"},{"role":"user","content":"hi"}],"temperature":1.0,"stop":["END"]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        pin_created(&r.body),
        r#"{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","object":"chat.completion","created":1700000000,"model":"claude-3-5-sonnet-20241022","choices":[{"index":0,"message":{"role":"assistant","content":"Greeting.Hello! How can I help?","tool_calls":null,"refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18},"provider":"anthropic"}"#
    );
    let up = mock.take();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].path, "/v1/messages");
    assert_headers(&up[0], "2023-06-01");
    assert_eq!(
        up[0].body,
        json!({"stop_sequences":["END"],"temperature":0.5,"messages":[{"role":"user","content":"hi"}],
               "model":"claude-text","max_tokens":8192,"system":"sys1\nsys2"})
    );

    // The configured version and a trailing slash on the base.
    let r = gw
        .post(
            "/gateway/versioned/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let up = mock.take();
    assert_eq!(up[0].path, "/v1/messages");
    assert_headers(&up[0], "2024-01-01");
}

#[tokio::test]
async fn tool_round_trip_matches_the_mlflow_transcript() {
    let (gw, mock) = start().await;
    let request = json!({
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "toolu_0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]},
            {"role": "tool", "content": "sunny", "tool_call_id": "toolu_0"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "d",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "required"
    });
    let r = gw
        .post("/gateway/tools/invocations", &request.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let want: Value = serde_json::from_str(TOOLS_MLFLOW).unwrap();
    assert_eq!(pin_created(&r.body), want.to_string());

    let mut want_up: Value = serde_json::from_str(TOOLS_REQUEST).unwrap();
    want_up["model"] = json!("claude-tools");
    let up = mock.take();
    assert_eq!(up[0].body, want_up);

    // The same through the OpenAI-compatible route.
    let mut v1 = request.clone();
    v1["model"] = json!("tools");
    let r = gw.post("/v1/chat/completions", &v1.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(pin_created(&r.body), want.to_string());
    assert_eq!(mock.take()[0].body, want_up);
}

#[tokio::test]
async fn all_parameters_reach_anthropic_translated() {
    let (gw, mock) = start().await;
    let request = json!({
        "model": "chat",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
            ]},
            {"role": "assistant", "content": "A cat."},
            {"role": "user", "content": "weather there?"}
        ],
        "temperature": 0.8,
        "max_tokens": 100,
        "stop": ["END", "STOP"],
        "n": 1,
        "top_k": 3,
        "response_format": {"type": "json_object"},
        "tools": [{"type": "function", "function": {"name": "get_weather",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": false,
        "metadata": {"user_id": "u-1"}
    });
    let r = gw.post("/v1/chat/completions", &request.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let up = mock.take();
    assert_eq!(
        up[0].body,
        json!({
            "model": "claude-text",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
                ]},
                {"role": "assistant", "content": "A cat."},
                {"role": "user", "content": "weather there?"}
            ],
            "system": "be brief\nRespond with only a single valid JSON object. Do not include any explanatory text, markdown, or code fences before or after the JSON object.",
            "max_tokens": 100,
            "stop_sequences": ["END", "STOP"],
            "temperature": 0.4,
            "top_k": 3,
            "tools": [{"name": "get_weather", "input_schema": {"properties": {"city": {"type": "string"}}, "required": ["city"], "type": "object"}}],
            "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true},
            "metadata": {"user_id": "u-1"}
        })
    );

    // json_schema becomes Anthropic structured output, every object closed.
    let r = gw
        .post(
            "/gateway/chat/invocations",
            &json!({"messages": [{"role": "user", "content": "hi"}], "top_p": 0.9,
                    "response_format": {"type": "json_schema", "json_schema": {"name": "person",
                        "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}}})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let up = mock.take().remove(0).body;
    assert_eq!(up["top_p"], json!(0.9));
    assert_eq!(
        up["output_config"],
        json!({"format": {"type": "json_schema", "schema": {"type": "object",
               "properties": {"name": {"type": "string"}}, "additionalProperties": false}}})
    );
}

#[tokio::test]
async fn mlflow_422s_never_reach_the_upstream() {
    let (gw, mock) = start().await;
    for (body, detail) in [
        (
            r#"{"messages":[{"role":"user","content":"hi"}],"temperature":0.5,"top_p":0.5}"#,
            "Cannot set both 'temperature' and 'top_p' parameters.",
        ),
        (
            r#"{"messages":[{"role":"user","content":"hi"}],"n":2}"#,
            "'n' must be '1' for the Anthropic provider. Received value: '2'.",
        ),
        (
            r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":1000001}"#,
            "Invalid value for max_tokens: cannot exceed 1000000.",
        ),
        (
            r#"{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"uc_function","uc_function":{"name":"a.b.c"}}]}"#,
            "Only function calling tool is supported, but received tool type uc_function",
        ),
    ] {
        for stream in [false, true] {
            let body = if stream {
                body.replacen('{', r#"{"stream":true,"#, 1)
            } else {
                body.to_owned()
            };
            let r = gw.post("/gateway/chat/invocations", &body).await;
            assert_eq!(
                (r.status, r.json()),
                (422, json!({"detail": detail})),
                "{body}"
            );
        }
    }
    let err = ChatServiceClient::new(gw.channel().await)
        .chat(pb::ChatRequest {
            endpoint: "chat".into(),
            messages: vec![user("hi")],
            n: Some(2),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("'n' must be '1'"),
        "{}",
        err.message()
    );
    assert!(mock.take().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Streams

#[tokio::test]
async fn chat_stream_is_framed_like_mlflow() {
    let (gw, mock) = start().await;
    let r = gw
        .post(
            "/gateway/chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"stream":true,"temperature":0.2}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let events = r.sse_data();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<String> = events[..events.len() - 1]
        .iter()
        .map(|e| pin_created(e))
        .collect();
    let head = r#"{"id":"msg_s1","object":"chat.completion.chunk","created":1700000000,"model":"claude-up","choices":[{"index":0,"finish_reason":"#;
    assert_eq!(
        chunks,
        vec![
            format!(
                r#"{head}null,"delta":{{"role":"assistant","content":"","tool_calls":null}}}}],"usage":null,"provider":"anthropic"}}"#
            ),
            format!(
                r#"{head}null,"delta":{{"role":null,"content":"Hello","tool_calls":null}}}}],"usage":null,"provider":"anthropic"}}"#
            ),
            format!(
                r#"{head}null,"delta":{{"role":null,"content":"!","tool_calls":null}}}}],"usage":null,"provider":"anthropic"}}"#
            ),
            format!(
                r#"{head}"stop","delta":{{"role":null,"content":null,"tool_calls":null}}}}],"usage":{{"prompt_tokens":25,"completion_tokens":15,"total_tokens":40,"prompt_tokens_details":{{"cached_tokens":2}},"cache_creation_input_tokens":3}},"provider":"anthropic"}}"#
            ),
        ]
    );
    let up = mock.take().remove(0);
    assert_eq!(up.path, "/v1/messages");
    assert_headers(&up, "2023-06-01");
    assert_eq!(
        up.body,
        json!({"model":"claude-text","messages":[{"role":"user","content":"hi"}],"max_tokens":8192,
               "temperature":0.1,"stream":true})
    );

    // OpenAI clients send stream_options; Anthropic would refuse it, so it is not forwarded.
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"chat","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.sse_data().len(), 5);
    assert!(mock.take()[0].body.get("stream_options").is_none());
}

#[tokio::test]
async fn tool_call_stream_over_rest_and_grpc() {
    let (gw, mock) = start().await;
    let r = gw
        .post(
            "/gateway/tools/invocations",
            r#"{"messages":[{"role":"user","content":"weather?"}],"stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    let events = r.sse_data();
    let deltas: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["choices"][0]["delta"]["tool_calls"].clone()
        })
        .filter(|t| !t.is_null())
        .collect();
    assert_eq!(
        deltas,
        vec![
            json!([{"index":0,"id":"toolu_a","type":"function","function":{"name":"get_weather","arguments":null}}]),
            json!([{"index":0,"id":null,"type":null,"function":{"name":null,"arguments":""}}]),
            json!([{"index":0,"id":null,"type":null,"function":{"name":null,"arguments":"{\"city\": \"Pa"}}]),
            json!([{"index":0,"id":null,"type":null,"function":{"name":null,"arguments":"ris\"}"}}]),
            json!([{"index":1,"id":"toolu_b","type":"function","function":{"name":"get_time","arguments":null}}]),
            json!([{"index":1,"id":null,"type":null,"function":{"name":null,"arguments":"{}"}}]),
        ]
    );
    let last: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], json!("tool_calls"));
    mock.take();

    let mut stream = ChatServiceClient::new(gw.channel().await)
        .stream_chat(pb::ChatRequest {
            endpoint: "tools".into(),
            messages: vec![user("weather?")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut args = String::new();
    let mut finish = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert_eq!(chunk.provider, "anthropic");
        for c in &chunk.choices {
            for t in &c.delta.as_ref().unwrap().tool_calls {
                if t.index == 0 {
                    args.push_str(
                        t.function
                            .as_ref()
                            .unwrap()
                            .arguments
                            .as_deref()
                            .unwrap_or(""),
                    );
                }
            }
            finish = finish.or(c.finish_reason.clone());
        }
    }
    assert_eq!(args, r#"{"city": "Paris"}"#);
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    assert_eq!(mock.take()[0].body["stream"], json!(true));
}

#[tokio::test]
async fn stream_failures_before_and_after_the_first_byte() {
    let (gw, _mock) = start().await;
    let hi = r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#;

    // Failures before any content: a real status.
    let r = gw.post("/gateway/err400/invocations", hi).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"detail": "max_tokens: 9999999 > 64000, which is the maximum allowed number of output tokens for claude-up"})
    );
    let r = gw.post("/gateway/error-first/invocations", hi).await;
    assert_eq!((r.status, r.json()), (529, json!({"detail": "Overloaded"})));
    let r = gw.post("/gateway/empty/invocations", hi).await;
    assert_eq!(r.status, 502);
    assert_eq!(
        r.json(),
        json!({"detail": "The upstream stream ended before its end event (message_stop)."})
    );

    // After content: the chunks, one error event, no [DONE].
    for (name, code) in [("stream-error", 529), ("cut", 502)] {
        let r = gw.post(&format!("/gateway/{name}/invocations"), hi).await;
        assert_eq!(r.status, 200, "{name}");
        let events = r.sse_data();
        assert!(events.len() >= 3, "{name}: {events:?}");
        assert!(!events.iter().any(|e| e == "[DONE]"), "{name}");
        let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
        assert_eq!(last["error"]["code"], json!(code), "{name}: {last}");
    }

    // gRPC: the same error as the stream's last item.
    let mut stream = ChatServiceClient::new(gw.channel().await)
        .stream_chat(pb::ChatRequest {
            endpoint: "stream-error".into(),
            messages: vec![user("hi")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item);
    }
    let err = items.pop().unwrap().unwrap_err();
    // 529 is Anthropic's "overloaded"; error.rs maps unlisted 5xx to INTERNAL (UNAVAILABLE
    // proposed for 529).
    assert!(
        matches!(err.code(), tonic::Code::Internal | tonic::Code::Unavailable),
        "{:?}: {}",
        err.code(),
        err.message()
    );
    assert!(err.message().contains("Overloaded"));
    assert!(items.iter().all(Result::is_ok));
}

// ---------------------------------------------------------------------------------------------
// Errors, completions, unsupported calls

#[tokio::test]
async fn upstream_errors_pass_through_redacted() {
    let (gw, _mock) = start().await;
    let hi = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
    let r = gw.post("/gateway/err400/invocations", hi).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        r#"{"detail":"max_tokens: 9999999 > 64000, which is the maximum allowed number of output tokens for claude-up"}"#
    );
    let r = gw.post("/gateway/echo-key/invocations", hi).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"detail": "invalid x-api-key [redacted]"}));

    let err = ChatServiceClient::new(gw.channel().await)
        .chat(pb::ChatRequest {
            endpoint: "err400".into(),
            messages: vec![user("hi")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn completions_use_the_legacy_api() {
    let (gw, mock) = start().await;
    let r = gw
        .post(
            "/gateway/completions/invocations",
            r#"{"prompt":"hello","temperature":0.4,"max_tokens":50,"stop":["\n"]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        pin_created(&r.body),
        r#"{"id":null,"object":"text_completion","created":1700000000,"model":"claude-2.1","choices":[{"index":0,"text":" Hello! My name is Claude.","finish_reason":"stop"}],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null}}"#
    );
    let up = mock.take().remove(0);
    assert_eq!(up.path, "/v1/complete");
    assert_headers(&up, "2023-06-01");
    assert_eq!(
        up.body,
        json!({"stop_sequences":["\n"],"max_tokens_to_sample":50,"temperature":0.2,
               "prompt":"\n\nHuman: hello\n\nAssistant:","model":"claude-instant-1"})
    );

    let r = gw
        .post(
            "/gateway/completions/invocations",
            r#"{"prompt":"x","top_p":0.5}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            422,
            json!({"detail": "Cannot set both 'temperature' and 'top_p' parameters. Please use only the temperature parameter for your query."})
        )
    );

    let mut client = CompletionsServiceClient::new(gw.channel().await);
    let resp = client
        .complete(pb::CompletionRequest {
            endpoint: "completions".into(),
            prompt: "Human: hi".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.choices[0].text, " Hello! My name is Claude.");
    let up = mock.take().remove(0).body;
    assert_eq!(up["prompt"], json!("\n\nHuman: hi\n\nAssistant:"));
    assert_eq!(up["max_tokens_to_sample"], json!(8192));

    let err = client
        .stream_complete(pb::CompletionRequest {
            endpoint: "completions".into(),
            prompt: "hi".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    assert!(mock.take().is_empty());
}

#[tokio::test]
async fn calls_anthropic_lacks_are_501() {
    let (gw, mock) = start().await;
    let r = gw
        .post(
            "/gateway/completions/invocations",
            r#"{"prompt":"x","stream":true}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            501,
            json!({"detail": "The completions streaming route is not implemented for Anthropic models."})
        )
    );
    let r = gw
        .post(
            "/v1/completions",
            r#"{"model":"completions","prompt":"x","stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 501);
    let r = gw
        .post("/gateway/embeddings/invocations", r#"{"input":"x"}"#)
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            501,
            json!({"detail": "The embeddings route is not implemented for Anthropic models."})
        )
    );
    assert!(mock.take().is_empty());
}

fn user(text: &str) -> pb::Message {
    pb::Message {
        role: "user".into(),
        content: Some(text.into()),
        ..Default::default()
    }
}
