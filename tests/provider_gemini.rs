//! The Gemini provider end to end (spec §3.5): the gateway on 127.0.0.1:0 in front of a
//! scripted Gemini API (this file's own axum mock), driven through MLflow's REST routes, the
//! OpenAI-compatible routes and gRPC. Every upstream request is checked for path, query, the
//! `x-goog-api-key` header and its exact body; every answer for MLflow's exact shape.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use common::{Reply, TestGateway};
use futures::StreamExt;
use llm_gateway::pb::v1 as pb;
use pb::chat_service_client::ChatServiceClient;
use pb::completions_service_client::CompletionsServiceClient;
use pb::embeddings_service_client::EmbeddingsServiceClient;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The scripted Gemini API

#[derive(Clone)]
struct Answer {
    status: u16,
    content_type: &'static str,
    /// Sent as separate body frames, so SSE events can straddle network chunks.
    chunks: Vec<String>,
}

fn json_answer(status: u16, body: &str) -> Answer {
    Answer {
        status,
        content_type: "application/json; charset=UTF-8",
        chunks: vec![body.into()],
    }
}

fn sse_answer(chunks: &[&str]) -> Answer {
    Answer {
        status: 200,
        content_type: "text/event-stream",
        chunks: chunks.iter().map(|c| (*c).to_owned()).collect(),
    }
}

#[derive(Debug)]
struct Recorded {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Recorded {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    fn assert_gemini_call(&self, path: &str, query: Option<&str>) {
        assert_eq!(self.method, "POST");
        assert_eq!(self.path, path);
        assert_eq!(self.query.as_deref(), query);
        let h = |n: &str| self.headers.get(n).and_then(|v| v.to_str().ok());
        assert_eq!(h("x-goog-api-key"), Some("g-test-key"));
        assert_eq!(h("content-type"), Some("application/json"));
        assert_eq!(h("authorization"), None);
    }
}

type Shared = Arc<Mutex<(HashMap<String, Answer>, Vec<Recorded>)>>;

#[derive(Clone)]
struct MockGemini {
    base: String,
    shared: Shared,
}

impl MockGemini {
    async fn start() -> MockGemini {
        let shared: Shared = Arc::default();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockGemini {
            base: format!("http://{addr}"),
            shared,
        }
    }

    fn on(&self, path: &str, answer: Answer) {
        self.shared
            .lock()
            .unwrap()
            .0
            .insert(path.to_owned(), answer);
    }

    fn one(&self) -> Recorded {
        let mut all = std::mem::take(&mut self.shared.lock().unwrap().1);
        assert_eq!(all.len(), 1, "expected one upstream request: {all:?}");
        all.remove(0)
    }
}

async fn handle(State(shared): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap().to_vec();
    let path = parts.uri.path().to_owned();
    let answer = {
        let mut s = shared.lock().unwrap();
        s.1.push(Recorded {
            method: parts.method.to_string(),
            path: path.clone(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
            body,
        });
        s.0.get(&path).cloned()
    };
    let answer = answer.unwrap_or_else(|| {
        json_answer(
            404,
            r#"{"error":{"code":404,"message":"mock: unknown path","status":"NOT_FOUND"}}"#,
        )
    });
    let frames = answer
        .chunks
        .into_iter()
        .map(|c| Ok::<_, Infallible>(bytes::Bytes::from(c)));
    let mut resp = Response::new(Body::from_stream(futures::stream::iter(frames)));
    *resp.status_mut() = StatusCode::from_u16(answer.status).unwrap();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, answer.content_type.parse().unwrap());
    resp
}

// ---------------------------------------------------------------------------------------------
// Fixtures and helpers

/// The three accepted forms of `gemini_api_base`: versioned root, origin, models base.
const CONFIG: &str = r#"
endpoints:
  - name: g-chat
    endpoint_type: llm/v1/chat
    model:
      provider: gemini
      name: gemini-2.0-flash
      config: {gemini_api_key: g-test-key, gemini_api_base: "{UP}/v1beta"}
  - name: g-completions
    endpoint_type: llm/v1/completions
    model:
      provider: gemini
      name: gemini-2.0-flash
      config: {gemini_api_key: g-test-key, gemini_api_base: "{UP}"}
  - name: g-embeddings
    endpoint_type: llm/v1/embeddings
    model:
      provider: gemini
      name: text-embedding-004
      config: {gemini_api_key: g-test-key, gemini_api_base: "{UP}/v1/models"}
"#;

const GENERATE: &str = "/v1beta/models/gemini-2.0-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.0-flash:streamGenerateContent";
const EMBED: &str = "/v1/models/text-embedding-004:embedContent";
const BATCH: &str = "/v1/models/text-embedding-004:batchEmbedContents";

const CHAT_UP: &str = include_str!("fixtures/gemini/chat_response.json");
const CALL_UP: &str = include_str!("fixtures/gemini/chat_function_call_response.json");
const STREAM_UP: &str = include_str!("fixtures/gemini/chat_stream.sse");
const CALL_STREAM_UP: &str = include_str!("fixtures/gemini/chat_stream_function_call.sse");
const ERROR_UP: &str = include_str!("fixtures/gemini/error_400.json");

async fn start() -> (TestGateway, MockGemini) {
    let up = MockGemini::start().await;
    let gw = TestGateway::start(&CONFIG.replace("{UP}", &up.base)).await;
    (gw, up)
}

/// The body with its time-derived `created` and `id` checked and replaced by fixed values, so
/// the rest can be compared byte for byte.
fn pin_time(r: &Reply, id_prefix: Option<&str>) -> String {
    let v = r.json();
    let created = v["created"].as_i64().unwrap();
    let mut body = r
        .body
        .replace(&format!("\"created\":{created}"), "\"created\":0");
    if let Some(prefix) = id_prefix {
        let id = format!("{prefix}{created}");
        assert_eq!(v["id"], json!(id), "{}", r.body);
        body = body.replace(&id, &format!("{prefix}0"));
    }
    body
}

/// The SSE data events of a stream, with times pinned as in [`pin_time`].
fn pinned_events(r: &Reply, id_prefix: &str) -> Vec<String> {
    r.sse_data()
        .into_iter()
        .map(|e| {
            if e == "[DONE]" {
                return e;
            }
            let v: Value = serde_json::from_str(&e).unwrap();
            let created = v["created"].as_i64().unwrap();
            assert_eq!(v["id"], json!(format!("{id_prefix}{created}")));
            e.replace(&format!("\"created\":{created}"), "\"created\":0")
                .replace(&format!("{id_prefix}{created}"), &format!("{id_prefix}0"))
        })
        .collect()
}

fn user(text: &str) -> pb::Message {
    pb::Message {
        role: "user".into(),
        content: Some(text.into()),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Chat

#[tokio::test]
async fn chat_plain_matches_mlflow() {
    let (gw, up) = start().await;
    up.on(GENERATE, json_answer(200, CHAT_UP));
    let r = gw
        .post(
            "/gateway/g-chat/invocations",
            r#"{"messages":[{"role":"system","content":"sys"},{"role":"user","content":"hi"},{"role":"assistant","content":"hey"},{"role":"user","content":"again"}],"temperature":0.3,"top_p":0.9,"max_tokens":20,"stop":["x"],"seed":7}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        pin_time(&r, Some("gemini-chat-")),
        r#"{"id":"gemini-chat-0","object":"chat.completion","created":0,"model":"gemini-2.0-flash","choices":[{"index":0,"message":{"role":"assistant","content":"Hello Gemini","tool_calls":null,"refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":11,"total_tokens":20,"prompt_tokens_details":{"cached_tokens":4},"promptTokensDetails":[{"modality":"TEXT","tokenCount":9}],"thoughtsTokenCount":8},"provider":"gemini"}"#
    );
    let req = up.one();
    req.assert_gemini_call(GENERATE, None);
    // Spec §3.5's observed body, byte for byte (the unknown `seed` is dropped, as MLflow does).
    assert_eq!(
        req.text(),
        r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"hey"}]},{"role":"user","parts":[{"text":"again"}]}],"system_instruction":{"parts":[{"text":"sys"}]},"generationConfig":{"candidateCount":1,"stopSequences":["x"],"maxOutputTokens":20,"temperature":0.3,"topP":0.9}}"#
    );
}

#[tokio::test]
async fn chat_all_parameters_tools_and_tool_choice_on_openai_route() {
    let (gw, up) = start().await;
    up.on(GENERATE, json_answer(200, CALL_UP));
    let body = json!({
        "model": "g-chat",
        "messages": [{"role": "user", "content": "What's the weather like in Singapore today?"}],
        "temperature": 1.5, "top_p": 0.5, "top_k": 3, "n": 2, "max_completion_tokens": 99,
        "stop": ["END"], "presence_penalty": 0.25, "frequency_penalty": -0.25,
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "d",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}
    });
    let r = gw.post("/v1/chat/completions", &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        pin_time(&r, Some("gemini-chat-")),
        r#"{"id":"gemini-chat-0","object":"chat.completion","created":0,"model":"gemini-2.0-flash","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_c8800a29b7c6d0e92541b3fa793048ab","type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"Singapore\"}"}}],"refusal":null},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null},"provider":"gemini"}"#
    );
    let req = up.one();
    req.assert_gemini_call(GENERATE, None);
    assert_eq!(
        req.text(),
        concat!(
            r#"{"contents":[{"role":"user","parts":[{"text":"What's the weather like in Singapore today?"}]}],"#,
            r#""generationConfig":{"candidateCount":2,"stopSequences":["END"],"maxOutputTokens":99,"temperature":1.5,"topP":0.5,"topK":3,"#,
            r#""presencePenalty":0.25,"frequencyPenalty":-0.25,"responseJsonSchema":{"type":"object"},"responseMimeType":"application/json"},"#,
            r#""tools":[{"functionDeclarations":[{"name":"get_weather","description":"d","parametersJsonSchema":{"properties":{"location":{"type":"string"}},"required":["location"],"type":"object"}}]}],"#,
            r#""toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}}}"#
        )
    );
}

#[tokio::test]
async fn tool_results_go_back_as_function_responses() {
    let (gw, up) = start().await;
    up.on(GENERATE, json_answer(200, CHAT_UP));
    let body = json!({
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_821e29faf2e71a9d4d7d18a620ba741c", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_821e29faf2e71a9d4d7d18a620ba741c", "content": "sunny"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "d",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "required"
    });
    let r = gw
        .post("/gateway/g-chat/invocations", &body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        up.one().json(),
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "weather?"}]},
                {"role": "model", "parts": [{"functionCall": {"id": "call_821e29faf2e71a9d4d7d18a620ba741c", "name": "get_weather", "args": {"city": "Paris"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"id": "call_821e29faf2e71a9d4d7d18a620ba741c", "name": "get_weather", "response": {"result": "sunny"}}}]}
            ],
            "generationConfig": {"candidateCount": 1},
            "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "d",
                "parametersJsonSchema": {"properties": {"city": {"type": "string"}}, "type": "object"}}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}
        })
    );

    // A result for a call no assistant message made: MLflow's 422, and no upstream call.
    let bad = json!({"messages": [{"role": "user", "content": "q"},
        {"role": "tool", "tool_call_id": "call_x", "content": "sunny"}]});
    let r = gw
        .post("/gateway/g-chat/invocations", &bad.to_string())
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"detail": "Invalid tool message: tool_call_id=call_x does not match any tool call in a preceding assistant message."})
    );
}

#[tokio::test]
async fn gemini_parameter_names_are_refused() {
    let (gw, _up) = start().await;
    let r = gw
        .post(
            "/gateway/g-chat/invocations",
            r#"{"messages":[{"role":"user","content":"q"}],"topK":4}"#,
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"detail": "Invalid parameter topK. Use top_k instead."})
    );
}

// ---------------------------------------------------------------------------------------------
// Streams

#[tokio::test]
async fn chat_stream_split_frames_and_no_done_marker_upstream() {
    let (gw, up) = start().await;
    // Cut at arbitrary byte positions: events straddle network frames. Gemini sends no [DONE].
    let (a, rest) = STREAM_UP.split_at(60);
    let (b, c) = rest.split_at(200);
    up.on(STREAM, sse_answer(&[a, b, c]));
    let r = gw
        .post(
            "/gateway/g-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        pinned_events(&r, "gemini-chat-stream-"),
        vec![
            r#"{"id":"gemini-chat-stream-0","object":"chat.completion.chunk","created":0,"model":"gemini-2.0-flash","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":"Hello","tool_calls":null}}],"usage":{"prompt_tokens":5,"completion_tokens":null,"total_tokens":5},"provider":"gemini"}"#,
            r#"{"id":"gemini-chat-stream-0","object":"chat.completion.chunk","created":0,"model":"gemini-2.0-flash","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":" there","tool_calls":null}}],"usage":{"prompt_tokens":5,"completion_tokens":null,"total_tokens":5},"provider":"gemini"}"#,
            r#"{"id":"gemini-chat-stream-0","object":"chat.completion.chunk","created":0,"model":"gemini-2.0-flash","choices":[{"index":0,"finish_reason":"stop","delta":{"role":"assistant","content":"!","tool_calls":null}}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8},"provider":"gemini"}"#,
            "[DONE]",
        ]
    );
    let req = up.one();
    req.assert_gemini_call(STREAM, Some("alt=sse"));
    assert_eq!(
        req.text(),
        r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"candidateCount":1}}"#
    );
}

#[tokio::test]
async fn chat_stream_function_calls() {
    let (gw, up) = start().await;
    up.on(STREAM, sse_answer(&[CALL_STREAM_UP]));
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"g-chat","messages":[{"role":"user","content":"weather?"}],"stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = pinned_events(&r, "gemini-chat-stream-");
    assert_eq!(
        events[0],
        r#"{"id":"gemini-chat-stream-0","object":"chat.completion.chunk","created":0,"model":"gemini-2.0-flash","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_c8800a29b7c6d0e92541b3fa793048ab","type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"Singapore\"}"}}]}}],"usage":null,"provider":"gemini"}"#
    );
    let last: Value = serde_json::from_str(&events[1]).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(last["choices"][0]["delta"]["tool_calls"][0]["index"], 1);
    assert_eq!(last["usage"]["total_tokens"], 30);
    assert_eq!(events[2], "[DONE]");
}

#[tokio::test]
async fn stream_errors_before_and_after_the_first_chunk() {
    let (gw, up) = start().await;
    let ask = r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#;

    // An in-band error as the first event: a real status, not a 200 with a cut body.
    up.on(
        STREAM,
        sse_answer(&["data: {\"error\": {\"code\": 503, \"message\": \"The model is overloaded.\", \"status\": \"UNAVAILABLE\"}}\n\n"]),
    );
    let r = gw.post("/gateway/g-chat/invocations", ask).await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(r.json(), json!({"detail": "The model is overloaded."}));

    // An upstream error status on open passes through with Gemini's message.
    up.on(STREAM, json_answer(429, r#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#));
    let r = gw.post("/gateway/g-chat/invocations", ask).await;
    assert_eq!(r.status, 429);
    assert_eq!(
        r.json(),
        json!({"detail": "Resource has been exhausted (e.g. check quota)."})
    );

    // An empty stream is a 502, never an empty success.
    up.on(STREAM, sse_answer(&[""]));
    let r = gw.post("/gateway/g-chat/invocations", ask).await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("finish reason")
    );

    // Cut after content (no finish reason) and an error mid-stream: one error event, no [DONE].
    let first = STREAM_UP.split("\n\n").next().unwrap().to_owned() + "\n\n";
    for tail in [
        String::new(),
        "data: {\"error\": {\"code\": 500, \"message\": \"internal\"}}\n\n".to_owned(),
    ] {
        up.on(STREAM, sse_answer(&[&first, &tail]));
        let r = gw.post("/gateway/g-chat/invocations", ask).await;
        assert_eq!(r.status, 200);
        let events = r.sse_data();
        assert_eq!(events.len(), 2, "{events:?}");
        let last: Value = serde_json::from_str(&events[1]).unwrap();
        assert!(last["error"]["message"].is_string(), "{last}");
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

#[tokio::test]
async fn upstream_errors_map_like_mlflow_and_never_show_the_key() {
    let (gw, up) = start().await;
    let ask = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
    up.on(GENERATE, json_answer(400, ERROR_UP));
    let r = gw.post("/gateway/g-chat/invocations", ask).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"detail": "API key not valid. Please pass a valid API key."})
    );

    up.on(
        GENERATE,
        json_answer(
            403,
            r#"{"error":{"code":403,"message":"key g-test-key is not allowed"}}"#,
        ),
    );
    let r = gw.post("/gateway/g-chat/invocations", ask).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json(), json!({"detail": "key [redacted] is not allowed"}));

    up.on(
        GENERATE,
        Answer {
            status: 500,
            content_type: "text/plain",
            chunks: vec!["boom".into()],
        },
    );
    let r = gw.post("/gateway/g-chat/invocations", ask).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json(), json!({"detail": {"message": "boom"}}));

    up.on(
        GENERATE,
        Answer {
            status: 502,
            content_type: "text/html",
            chunks: vec!["<html>".into()],
        },
    );
    let r = gw.post("/gateway/g-chat/invocations", ask).await;
    assert_eq!(r.status, 502);
    assert_eq!(
        r.json(),
        json!({"detail": "The returned data type from the route service is not supported. Received content type: text/html"})
    );
}

// ---------------------------------------------------------------------------------------------
// Completions and embeddings

#[tokio::test]
async fn completions_plain_and_streamed() {
    let (gw, up) = start().await;
    up.on(GENERATE, json_answer(200, CHAT_UP));
    let r = gw
        .post(
            "/gateway/g-completions/invocations",
            r#"{"prompt":"Tell me a joke","temperature":0.1,"top_p":1,"stop":["\n"],"n":1,"max_tokens":50,"top_k":40,"system_prompt":"be brief"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        pin_time(&r, None),
        r#"{"id":null,"object":"text_completion","created":0,"model":"gemini-2.0-flash","choices":[{"index":0,"text":"Hello Gemini","finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":11,"total_tokens":20}}"#
    );
    let req = up.one();
    req.assert_gemini_call(GENERATE, None);
    assert_eq!(
        req.text(),
        r#"{"contents":[{"role":"user","parts":[{"text":"Tell me a joke"}]}],"system_instruction":{"parts":[{"text":"be brief"}]},"generationConfig":{"candidateCount":1,"stopSequences":["\n"],"maxOutputTokens":50,"temperature":0.1,"topP":1.0,"topK":40}}"#
    );

    up.on(STREAM, sse_answer(&[STREAM_UP]));
    let r = gw
        .post(
            "/v1/completions",
            r#"{"model":"g-completions","prompt":"hi","stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = pinned_events(&r, "gemini-completions-stream-");
    assert_eq!(events.len(), 4, "{events:?}");
    let texts: Vec<String> = events[..3]
        .iter()
        .map(|e| {
            let v: Value = serde_json::from_str(e).unwrap();
            assert_eq!(v["usage"], Value::Null);
            v["choices"][0]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(texts, ["Hello", " there", "!"]);
    up.one().assert_gemini_call(STREAM, Some("alt=sse"));
}

#[tokio::test]
async fn embeddings_single_and_batch() {
    let (gw, up) = start().await;
    up.on(
        EMBED,
        json_answer(
            200,
            include_str!("fixtures/gemini/embed_single_response.json"),
        ),
    );
    up.on(
        BATCH,
        json_answer(
            200,
            include_str!("fixtures/gemini/embed_batch_response.json"),
        ),
    );
    let r = gw
        .post(
            "/gateway/g-embeddings/invocations",
            r#"{"input":"This is a test embedding."}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        r#"{"object":"list","data":[{"object":"embedding","embedding":[0.1,0.2,0.3],"index":0}],"model":"text-embedding-004","usage":{"prompt_tokens":null,"total_tokens":null}}"#
    );
    let req = up.one();
    req.assert_gemini_call(EMBED, None);
    assert_eq!(
        req.text(),
        r#"{"content":{"parts":[{"text":"This is a test embedding."}]}}"#
    );

    let r = gw
        .post(
            "/v1/embeddings",
            r#"{"model":"g-embeddings","input":["Test embedding 1.","Test embedding 2."],"dimensions":3}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["data"][1]["embedding"], json!([0.4, 0.5, 0.6]));
    let req = up.one();
    req.assert_gemini_call(BATCH, None);
    assert_eq!(
        req.text(),
        r#"{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"Test embedding 1."}]},"outputDimensionality":3},{"model":"models/text-embedding-004","content":{"parts":[{"text":"Test embedding 2."}]},"outputDimensionality":3}]}"#
    );
}

// ---------------------------------------------------------------------------------------------
// gRPC

#[tokio::test]
async fn grpc_chat_stream_completion_and_embeddings() {
    let (gw, up) = start().await;
    let channel = gw.channel().await;

    up.on(GENERATE, json_answer(200, CALL_UP));
    let resp = ChatServiceClient::new(channel.clone())
        .chat(pb::ChatRequest {
            endpoint: "g-chat".into(),
            messages: vec![user("weather?")],
            temperature: Some(0.5),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.provider, "gemini");
    assert_eq!(resp.model, "gemini-2.0-flash");
    assert_eq!(resp.id, Some(format!("gemini-chat-{}", resp.created)));
    let choice = &resp.choices[0];
    assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
    let call = &choice.message.as_ref().unwrap().tool_calls[0];
    assert_eq!(call.id, "call_c8800a29b7c6d0e92541b3fa793048ab");
    assert_eq!(
        up.one().json(),
        json!({"contents":[{"role":"user","parts":[{"text":"weather?"}]}],
               "generationConfig":{"candidateCount":1,"temperature":0.5}})
    );

    up.on(STREAM, sse_answer(&[STREAM_UP]));
    let mut stream = ChatServiceClient::new(channel.clone())
        .stream_chat(pb::ChatRequest {
            endpoint: "g-chat".into(),
            messages: vec![user("hi")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut text = String::new();
    let mut finish = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert_eq!(chunk.provider, "gemini");
        for c in chunk.choices {
            text.push_str(c.delta.unwrap().content.as_deref().unwrap_or(""));
            finish = c.finish_reason.or(finish);
        }
    }
    assert_eq!(text, "Hello there!");
    assert_eq!(finish.as_deref(), Some("stop"));
    up.one().assert_gemini_call(STREAM, Some("alt=sse"));

    // An in-band error before any content is the call's status.
    up.on(
        STREAM,
        sse_answer(&["data: {\"error\": {\"code\": 500, \"message\": \"internal\"}}\n\n"]),
    );
    let status = ChatServiceClient::new(channel.clone())
        .stream_chat(pb::ChatRequest {
            endpoint: "g-chat".into(),
            messages: vec![user("hi")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);

    up.on(GENERATE, json_answer(200, CHAT_UP));
    let resp = CompletionsServiceClient::new(channel.clone())
        .complete(pb::CompletionRequest {
            endpoint: "g-completions".into(),
            prompt: "p".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.choices[0].text, "Hello Gemini");
    assert_eq!(resp.id, None);

    up.on(
        BATCH,
        json_answer(
            200,
            include_str!("fixtures/gemini/embed_batch_response.json"),
        ),
    );
    let resp = EmbeddingsServiceClient::new(channel)
        .embed(pb::EmbedRequest {
            endpoint: "g-embeddings".into(),
            texts: vec!["a".into(), "b".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.provider, "gemini");
    assert_eq!(resp.data.len(), 2);
    assert_eq!(resp.data[0].values, vec![0.1, 0.2, 0.3]);
}
