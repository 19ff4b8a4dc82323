//! The Hugging Face TGI provider end to end (spec §3.9): the gateway on 127.0.0.1:0 in front of a
//! scripted `POST /generate` server, through MLflow's REST routes, the OpenAI-compatible routes
//! and gRPC; chat and embeddings answer MLflow's 501.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod scripted_upstream;

use common::TestGateway;
use llm_gateway::pb::v1 as pb;
use pb::chat_service_client::ChatServiceClient;
use pb::completions_service_client::CompletionsServiceClient;
use scripted_upstream::{Answer, Upstream};
use serde_json::json;

const CONFIG: &str = r#"
endpoints:
  - name: tgi
    endpoint_type: llm/v1/completions
    model:
      provider: huggingface-text-generation-inference
      name: llama
      config: {hf_server_url: "{UP}/tgi"}
  - name: tgi-chat
    endpoint_type: llm/v1/chat
    model:
      provider: huggingface-text-generation-inference
      config: {hf_server_url: "{UP}/tgi"}
  - name: tgi-embeddings
    endpoint_type: llm/v1/embeddings
    model:
      provider: huggingface-text-generation-inference
      config: {hf_server_url: "{UP}/tgi"}
"#;

const GENERATED: &str = include_str!("fixtures/huggingface-tgi/generate_response.json");

async fn start() -> (TestGateway, Upstream) {
    let up = Upstream::start().await;
    let gw = TestGateway::start(&CONFIG.replace("{UP}", &up.base)).await;
    (gw, up)
}

#[tokio::test]
async fn completion_matches_mlflow() {
    let (gw, up) = start().await;
    up.on(
        "/tgi/generate",
        Answer::raw(200, "application/json", GENERATED),
    );
    let r = gw
        .post(
            "/gateway/tgi/invocations",
            r#"{"prompt":"p","stop":["x"],"max_tokens":7,"temperature":0.0}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut v = r.json();
    assert!(v["created"].as_i64().unwrap() > 1_700_000_000);
    v["created"] = json!(0);
    assert_eq!(
        v.to_string(),
        r#"{"id":null,"object":"text_completion","created":0,"model":"llama","choices":[{"index":0,"text":"test","finish_reason":"length"}],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}"#
    );
    let req = up.one();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/tgi/generate")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("authorization").is_none());
    // Byte for byte what MLflow sends (spec §3.9, observed).
    assert_eq!(
        String::from_utf8(req.body).unwrap(),
        r#"{"inputs":"p","parameters":{"stop":["x"],"max_new_tokens":7,"temperature":0.001,"details":true,"decoder_input_details":true}}"#
    );
}

#[tokio::test]
async fn all_parameters_and_checks() {
    let (gw, up) = start().await;
    up.on(
        "/tgi/generate",
        Answer::raw(200, "application/json", GENERATED),
    );
    let r = gw
        .post(
            "/v1/completions",
            r#"{"model":"tgi","prompt":"p","temperature":1.0,"top_p":0.9,"top_k":10,"seed":3,"n":1}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        up.one().json(),
        json!({"inputs":"p","parameters":{"temperature":50.0,"top_p":0.9,"top_k":10,"seed":3,
               "details":true,"decoder_input_details":true}})
    );
    for (body, detail) in [
        (
            r#"{"prompt":"p","n":2}"#,
            "'n' must be '1' for the Text Generation Inference provider.Received value: '2'.",
        ),
        (
            r#"{"prompt":"p","max_new_tokens":5}"#,
            "Invalid parameter max_new_tokens. Use max_tokens instead.",
        ),
    ] {
        let r = gw.post("/gateway/tgi/invocations", body).await;
        assert_eq!((r.status, r.json()), (422, json!({ "detail": detail })));
    }
    assert!(up.take().is_empty());
}

#[tokio::test]
async fn upstream_errors_pass_through() {
    let (gw, up) = start().await;
    // TGI's error shape: `{"error": "<text>", "error_type": ...}`.
    up.on(
        "/tgi/generate",
        Answer::raw(
            422,
            "application/json",
            r#"{"error":"Input validation error: `inputs` must have less than 4096 tokens","error_type":"validation"}"#,
        ),
    );
    let r = gw
        .post("/gateway/tgi/invocations", r#"{"prompt":"p"}"#)
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            422,
            json!({"detail":"Input validation error: `inputs` must have less than 4096 tokens"})
        )
    );
    up.on(
        "/tgi/generate",
        Answer::raw(503, "text/plain", "overloaded"),
    );
    let r = gw
        .post("/gateway/tgi/invocations", r#"{"prompt":"p"}"#)
        .await;
    assert_eq!(
        (r.status, r.json()),
        (503, json!({"detail":{"message":"overloaded"}}))
    );
    up.take();
}

#[tokio::test]
async fn unsupported_calls_are_501() {
    let (gw, up) = start().await;
    let cases = [
        (
            "/gateway/tgi-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            "The chat route is not implemented for Hugging Face Text Generation Inference models.",
        ),
        (
            "/gateway/tgi-embeddings/invocations",
            r#"{"input":"a"}"#,
            "The embeddings route is not implemented for Hugging Face Text Generation Inference models.",
        ),
        (
            "/gateway/tgi/invocations",
            r#"{"prompt":"p","stream":true}"#,
            "The completions streaming route is not implemented for Hugging Face Text Generation Inference models.",
        ),
    ];
    for (path, body, detail) in cases {
        let r = gw.post(path, body).await;
        assert_eq!(
            (r.status, r.json()),
            (501, json!({ "detail": detail })),
            "{path}"
        );
    }
    assert!(up.take().is_empty());
}

#[tokio::test]
async fn grpc_surface() {
    let (gw, up) = start().await;
    up.on(
        "/tgi/generate",
        Answer::raw(200, "application/json", GENERATED),
    );
    let channel = gw.channel().await;
    let mut completions = CompletionsServiceClient::new(channel.clone());
    let req = pb::CompletionRequest {
        endpoint: "tgi".into(),
        prompt: "p".into(),
        temperature: Some(0.5),
        ..Default::default()
    };
    let resp = completions
        .complete(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.provider, "huggingface-text-generation-inference");
    assert_eq!(resp.choices[0].text, "test");
    assert_eq!(up.one().json()["parameters"]["temperature"], json!(25.0));
    let err = completions.stream_complete(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    let err = ChatServiceClient::new(channel)
        .chat(pb::ChatRequest {
            endpoint: "tgi-chat".into(),
            messages: vec![pb::Message {
                role: "user".into(),
                content: Some("hi".into()),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
}
