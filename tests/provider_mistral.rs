//! The Mistral provider end to end (spec §3.14): the gateway on 127.0.0.1:0 in front of a
//! scripted Mistral API, driven through MLflow's REST routes, the OpenAI-compatible routes and
//! gRPC; every upstream request is checked for path, auth header and exact body.

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
use serde_json::{Value, json};

const CONFIG: &str = r#"
endpoints:
  - name: m-chat
    endpoint_type: llm/v1/chat
    model:
      provider: mistral
      name: mistral-small-latest
      config: {mistral_api_key: mk-test-key, mistral_api_base: "{UP}/v1"}
  - name: m-completions
    endpoint_type: llm/v1/completions
    model:
      provider: mistral
      name: mistral-tiny
      config: {mistral_api_key: mk-test-key, mistral_api_base: "{UP}/v1"}
  - name: m-embeddings
    endpoint_type: llm/v1/embeddings
    model:
      provider: mistral
      name: mistral-embed
      config: {mistral_api_key: mk-test-key, mistral_api_base: "{UP}/v1"}
"#;

const CHAT_UP: &str = include_str!("fixtures/mistral/chat_response.json");
const TOOLS_UP: &str = include_str!("fixtures/mistral/chat_response_tools.json");
const STREAM_UP: &str = include_str!("fixtures/mistral/chat_stream.txt");
const EMB_UP: &str = include_str!("fixtures/mistral/embeddings_response.json");

async fn start() -> (TestGateway, Upstream) {
    let up = Upstream::start().await;
    let gw = TestGateway::start(&CONFIG.replace("{UP}", &up.base)).await;
    (gw, up)
}

fn assert_auth(r: &scripted_upstream::Recorded) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("authorization"), Some("Bearer mk-test-key"));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn chat_plain_matches_mlflow() {
    let (gw, up) = start().await;
    up.on(
        "/v1/chat/completions",
        Answer::raw(200, "application/json", CHAT_UP),
    );
    let r = gw
        .post(
            "/gateway/m-chat/invocations",
            r#"{"messages":[{"role":"user","content":"Capital of France?"}]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        r#"{"id":"cmpl-e5cc70bb28c444948073e77776eb30ef","object":"chat.completion","created":1702256327,"model":"mistral-small-latest","choices":[{"index":0,"message":{"role":"assistant","content":"Paris is the capital of France.","tool_calls":null,"refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":16,"completion_tokens":34,"total_tokens":50},"provider":"mistral"}"#
    );
    let req = up.one();
    assert_eq!(req.path, "/v1/chat/completions");
    assert_auth(&req);
    assert_eq!(
        req.json(),
        json!({"model":"mistral-small-latest","n":1,
               "messages":[{"role":"user","content":"Capital of France?"}]})
    );
}

#[tokio::test]
async fn chat_all_parameters_and_tools() {
    let (gw, up) = start().await;
    up.on(
        "/v1/chat/completions",
        Answer::raw(200, "application/json", TOOLS_UP),
    );
    let body = json!({
        "messages":[{"role":"system","content":"be brief"},{"role":"user","content":"weather?"}],
        "temperature":1.5,"top_p":0.9,"max_tokens":50,"stop":["END"],"n":1,
        "presence_penalty":0.1,"frequency_penalty":0.2,"random_seed":7,
        "tools":[{"type":"function","function":{"name":"get_weather","description":"d",
            "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],
        "tool_choice":"auto",
        "response_format":{"type":"json_object"}
    });
    let r = gw
        .post("/gateway/m-chat/invocations", &body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"id":"3b9d3f3e","object":"chat.completion","created":1702256400,"model":"mistral-large-latest",
            "choices":[{"index":0,"message":{"role":"assistant","content":"","tool_calls":[
                {"id":"D681PevKs","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}}],
                "refusal":null},"finish_reason":"tool_calls"}],
            "usage":{"prompt_tokens":80,"completion_tokens":22,"total_tokens":102},"provider":"mistral"})
    );
    let sent = up.one().json();
    // Chat temperature is not rescaled for Mistral (only completions are).
    assert_eq!(
        sent,
        json!({"model":"mistral-small-latest","n":1,"stop":["END"],"max_tokens":50,"temperature":1.5,
            "top_p":0.9,"presence_penalty":0.1,"frequency_penalty":0.2,
            "response_format":{"type":"json_object"},
            "messages":[{"role":"system","content":"be brief"},{"role":"user","content":"weather?"}],
            "tools":[{"type":"function","function":{"name":"get_weather","description":"d",
                "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],
            "tool_choice":"auto","random_seed":7})
    );
}

#[tokio::test]
async fn chat_stream_split_frames() {
    let (gw, up) = start().await;
    // The fixture cut at arbitrary byte positions, so events span network chunks.
    let (a, rest) = STREAM_UP.split_at(70);
    let (b, c) = rest.split_at(300);
    up.on("/v1/chat/completions", Answer::sse(&[a, b, c]));
    let r = gw
        .post(
            "/gateway/m-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.sse_data(),
        vec![
            r#"{"id":"s-1","object":"chat.completion.chunk","created":1702256327,"model":"mistral-small-latest","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":"","tool_calls":null}}],"usage":null,"provider":"mistral"}"#,
            r#"{"id":"s-1","object":"chat.completion.chunk","created":1702256327,"model":"mistral-small-latest","choices":[{"index":0,"finish_reason":null,"delta":{"role":null,"content":"Hello","tool_calls":null}}],"usage":null,"provider":"mistral"}"#,
            r#"{"id":"s-1","object":"chat.completion.chunk","created":1702256327,"model":"mistral-small-latest","choices":[{"index":0,"finish_reason":"stop","delta":{"role":null,"content":"!","tool_calls":null}}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7},"provider":"mistral"}"#,
            "[DONE]",
        ]
    );
    let sent = up.one().json();
    assert_eq!(sent["stream"], json!(true));
    // MLflow injects no stream_options for Mistral.
    assert!(sent.get("stream_options").is_none());
}

#[tokio::test]
async fn openai_route_chat() {
    let (gw, up) = start().await;
    up.on(
        "/v1/chat/completions",
        Answer::raw(200, "application/json", CHAT_UP),
    );
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"m-chat","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["provider"], "mistral");
    assert_eq!(up.one().json()["model"], "mistral-small-latest");
}

#[tokio::test]
async fn completions_go_through_chat_with_half_temperature() {
    let (gw, up) = start().await;
    up.on(
        "/v1/chat/completions",
        Answer::raw(200, "application/json", CHAT_UP),
    );
    let r = gw
        .post(
            "/gateway/m-completions/invocations",
            r#"{"prompt":"Capital of France?","temperature":0.8,"max_tokens":20,"stop":["x"],"n":1,"top_p":0.5}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut v = r.json();
    assert!(v["created"].as_i64().unwrap() > 1_700_000_000);
    v["created"] = json!(0);
    assert_eq!(
        v,
        json!({"id":null,"object":"text_completion","created":0,"model":"mistral-tiny",
            "choices":[{"index":0,"text":"Paris is the capital of France.","finish_reason":"stop"}],
            "usage":{"prompt_tokens":16,"completion_tokens":34,"total_tokens":50}})
    );
    let req = up.one();
    assert_eq!(req.path, "/v1/chat/completions");
    assert_auth(&req);
    assert_eq!(
        req.json(),
        json!({"model":"mistral-tiny","messages":[{"role":"user","content":"Capital of France?"}],
               "max_tokens":20,"temperature":0.4,"top_p":0.5})
    );
    // Streamed completions are not offered (as in MLflow), now with a real status.
    let r = gw
        .post(
            "/gateway/m-completions/invocations",
            r#"{"prompt":"p","stream":true}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            501,
            r#"{"detail":"The completions streaming route is not implemented for Mistral models."}"#
        )
    );
    assert!(up.take().is_empty());
}

#[tokio::test]
async fn embeddings() {
    let (gw, up) = start().await;
    up.on(
        "/v1/embeddings",
        Answer::raw(200, "application/json", EMB_UP),
    );
    let r = gw
        .post(
            "/gateway/m-embeddings/invocations",
            r#"{"input":["a","b"],"encoding_format":"float"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        r#"{"object":"list","data":[{"object":"embedding","embedding":[0.1,-0.2,0.3],"index":0},{"object":"embedding","embedding":[0.4,0.5,-0.6],"index":1}],"model":"mistral-embed","usage":{"prompt_tokens":6,"total_tokens":6}}"#
    );
    let req = up.one();
    assert_eq!(req.path, "/v1/embeddings");
    assert_auth(&req);
    assert_eq!(
        req.json(),
        json!({"model":"mistral-embed","input":["a","b"],"encoding_format":"float"})
    );
}

#[tokio::test]
async fn upstream_errors_pass_through() {
    let (gw, up) = start().await;
    // Mistral's own error shape has no `error` key: MLflow passes the whole JSON as detail.
    up.on(
        "/v1/chat/completions",
        Answer::raw(
            422,
            "application/json",
            r#"{"object":"error","message":"Invalid model: nope","type":"invalid_model","param":null,"code":"1500"}"#,
        ),
    );
    let r = gw
        .post(
            "/gateway/m-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"detail":{"object":"error","message":"Invalid model: nope","type":"invalid_model","param":null,"code":"1500"}})
    );
    // An upstream echoing the key never leaks it.
    up.on(
        "/v1/embeddings",
        Answer::raw(
            401,
            "application/json",
            r#"{"error":{"message":"bad key mk-test-key"}}"#,
        ),
    );
    let r = gw
        .post("/gateway/m-embeddings/invocations", r#"{"input":"a"}"#)
        .await;
    assert_eq!(
        (r.status, r.json()),
        (401, json!({"detail":"bad key [redacted]"}))
    );
    // Same on a stream's opening: a real status, not a 200.
    up.on(
        "/v1/chat/completions",
        Answer::raw(
            429,
            "application/json",
            r#"{"error":{"message":"slow down"}}"#,
        ),
    );
    let r = gw
        .post(
            "/gateway/m-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        )
        .await;
    assert_eq!((r.status, r.json()), (429, json!({"detail":"slow down"})));
}

#[tokio::test]
async fn stream_errors_in_band_truncated_and_empty() {
    let (gw, up) = start().await;
    let stream_req = r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#;
    let first = STREAM_UP.split("\n\n").next().unwrap().to_owned() + "\n\n";

    // An error event after content: the stream ends with an error event and no [DONE].
    let err = "data: {\"error\":{\"message\":\"overloaded\"}}\n\n";
    up.on("/v1/chat/completions", Answer::sse(&[&first, err]));
    let r = gw.post("/gateway/m-chat/invocations", stream_req).await;
    assert_eq!(r.status, 200);
    let events = r.sse_data();
    assert_eq!(events.len(), 2);
    let e: Value = serde_json::from_str(&events[1]).unwrap();
    assert_eq!(
        e["error"]["message"],
        "upstream returned HTTP 502: overloaded"
    );

    // An error event first: a real status before any byte.
    up.on("/v1/chat/completions", Answer::sse(&[err]));
    let r = gw.post("/gateway/m-chat/invocations", stream_req).await;
    assert_eq!((r.status, r.json()), (502, json!({"detail":"overloaded"})));

    // Cut before [DONE]: an explicit error, never a silent end.
    up.on("/v1/chat/completions", Answer::sse(&[&first]));
    let r = gw.post("/gateway/m-chat/invocations", stream_req).await;
    assert_eq!(r.status, 200);
    let events = r.sse_data();
    assert_eq!(events.len(), 2);
    assert!(
        events[1].contains("ended before its end marker"),
        "{}",
        events[1]
    );

    // A stream with no event at all.
    up.on("/v1/chat/completions", Answer::sse(&[""]));
    let r = gw.post("/gateway/m-chat/invocations", stream_req).await;
    assert_eq!(r.status, 502, "{}", r.body);

    // Just [DONE]: an empty but well-formed stream.
    up.on("/v1/chat/completions", Answer::sse(&["data: [DONE]\n\n"]));
    let r = gw.post("/gateway/m-chat/invocations", stream_req).await;
    assert_eq!((r.status, r.sse_data()), (200, vec!["[DONE]".to_owned()]));
}

#[tokio::test]
async fn grpc_surface() {
    let (gw, up) = start().await;
    up.on(
        "/v1/chat/completions",
        Answer::raw(200, "application/json", CHAT_UP),
    );
    up.on(
        "/v1/embeddings",
        Answer::raw(200, "application/json", EMB_UP),
    );
    let channel = gw.channel().await;
    let mut chat = ChatServiceClient::new(channel.clone());
    let req = pb::ChatRequest {
        endpoint: "m-chat".into(),
        messages: vec![pb::Message {
            role: "user".into(),
            content: Some("hi".into()),
            ..Default::default()
        }],
        temperature: Some(0.5),
        ..Default::default()
    };
    let resp = chat.chat(req.clone()).await.unwrap().into_inner();
    assert_eq!(resp.provider, "mistral");
    assert_eq!(
        resp.choices[0].message.as_ref().unwrap().content.as_deref(),
        Some("Paris is the capital of France.")
    );
    assert_eq!(up.one().json()["temperature"], json!(0.5));

    up.on("/v1/chat/completions", Answer::sse(&[STREAM_UP]));
    let chunks: Vec<_> = chat
        .stream_chat(req)
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    let text: String = chunks
        .iter()
        .map(|c| c.as_ref().unwrap())
        .filter_map(|c| c.choices.first()?.delta.as_ref()?.content.clone())
        .collect();
    assert_eq!(text, "Hello!");
    up.take();

    up.on(
        "/v1/chat/completions",
        Answer::raw(200, "application/json", CHAT_UP),
    );
    let mut completions = CompletionsServiceClient::new(channel.clone());
    let creq = pb::CompletionRequest {
        endpoint: "m-completions".into(),
        prompt: "p".into(),
        temperature: Some(1.0),
        ..Default::default()
    };
    let resp = completions
        .complete(creq.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.choices[0].text, "Paris is the capital of France.");
    assert_eq!(up.one().json()["temperature"], json!(0.5));
    let err = completions.stream_complete(creq).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);

    let resp = EmbeddingsServiceClient::new(channel)
        .embed(pb::EmbedRequest {
            endpoint: "m-embeddings".into(),
            texts: vec!["a".into()],
            single_input: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.model, "mistral-embed");
    assert_eq!(resp.data.len(), 2);
    assert_eq!(up.one().json()["input"], json!("a"));
}
