//! The AI21 Labs provider end to end (spec §3.13): the gateway on 127.0.0.1:0 in front of a
//! scripted AI21 Studio API, through MLflow's REST routes, the OpenAI-compatible routes and
//! gRPC; chat and embeddings answer MLflow's 501.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod scripted_upstream;

use common::TestGateway;
use llm_gateway::pb::v1 as pb;
use pb::completions_service_client::CompletionsServiceClient;
use pb::embeddings_service_client::EmbeddingsServiceClient;
use scripted_upstream::{Answer, Upstream};
use serde_json::json;

const CONFIG: &str = r#"
endpoints:
  - name: j2
    endpoint_type: llm/v1/completions
    model:
      provider: ai21labs
      name: j2-ultra
      config: {ai21labs_api_key: ai21-test-key, ai21labs_api_base: "{UP}/studio/v1"}
  - name: j2-chat
    endpoint_type: llm/v1/chat
    model:
      provider: ai21labs
      name: j2-ultra
      config: {ai21labs_api_key: ai21-test-key, ai21labs_api_base: "{UP}/studio/v1"}
  - name: j2-embeddings
    endpoint_type: llm/v1/embeddings
    model:
      provider: ai21labs
      name: j2-ultra
      config: {ai21labs_api_key: ai21-test-key, ai21labs_api_base: "{UP}/studio/v1"}
"#;

const COMPLETE: &str = include_str!("fixtures/ai21labs/complete_response.json");

async fn start() -> (TestGateway, Upstream) {
    let up = Upstream::start().await;
    let gw = TestGateway::start(&CONFIG.replace("{UP}", &up.base)).await;
    (gw, up)
}

#[tokio::test]
async fn completion_with_all_parameters() {
    let (gw, up) = start().await;
    up.on(
        "/studio/v1/j2-ultra/complete",
        Answer::raw(200, "application/json", COMPLETE),
    );
    let r = gw
        .post(
            "/gateway/j2/invocations",
            r#"{"prompt":"I will","n":2,"max_tokens":16,"stop":["END"],"temperature":0.7,"top_p":0.9,"topKReturn":0}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut v = r.json();
    assert!(v["created"].as_i64().unwrap() > 1_700_000_000);
    v["created"] = json!(0);
    assert_eq!(
        v.to_string(),
        r#"{"id":null,"object":"text_completion","created":0,"model":"j2-ultra","choices":[{"index":0,"text":" complete this","finish_reason":"length"},{"index":1,"text":" be there","finish_reason":"endoftext"}],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null}}"#
    );
    let req = up.one();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/studio/v1/j2-ultra/complete")
    );
    assert_eq!(req.header("authorization"), Some("Bearer ai21-test-key"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({"prompt":"I will","numResults":2,"stopSequences":["END"],"maxTokens":16,
               "temperature":0.7,"top_p":0.9,"topKReturn":0})
    );
}

#[tokio::test]
async fn checks_errors_and_501s() {
    let (gw, up) = start().await;
    let r = gw
        .post(
            "/v1/completions",
            r#"{"model":"j2","prompt":"p","maxTokens":3}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            422,
            json!({"detail":"Invalid parameter maxTokens. Use max_tokens instead."})
        )
    );
    for (path, body, detail) in [
        (
            "/gateway/j2-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            "The chat route is not implemented for AI21Labs models.",
        ),
        (
            "/gateway/j2-embeddings/invocations",
            r#"{"input":"a"}"#,
            "The embeddings route is not implemented for AI21Labs models.",
        ),
        (
            "/gateway/j2/invocations",
            r#"{"prompt":"p","stream":true}"#,
            "The completions streaming route is not implemented for AI21Labs models.",
        ),
    ] {
        let r = gw.post(path, body).await;
        assert_eq!(
            (r.status, r.json()),
            (501, json!({ "detail": detail })),
            "{path}"
        );
    }
    assert!(up.take().is_empty());

    // AI21's error body has `detail`, not `error`: MLflow passes the whole JSON; the key an
    // upstream might echo never reaches the client.
    up.on(
        "/studio/v1/j2-ultra/complete",
        Answer::raw(
            401,
            "application/json",
            r#"{"detail":"Forbidden: bad key ai21-test-key"}"#,
        ),
    );
    let r = gw
        .post("/gateway/j2/invocations", r#"{"prompt":"p"}"#)
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            401,
            json!({"detail":{"detail":"Forbidden: bad key [redacted]"}})
        )
    );
    up.take();
}

#[tokio::test]
async fn grpc_surface() {
    let (gw, up) = start().await;
    up.on(
        "/studio/v1/j2-ultra/complete",
        Answer::raw(200, "application/json", COMPLETE),
    );
    let channel = gw.channel().await;
    let resp = CompletionsServiceClient::new(channel.clone())
        .complete(pb::CompletionRequest {
            endpoint: "j2".into(),
            prompt: "I will".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.provider, "ai21labs");
    assert_eq!(resp.choices.len(), 2);
    assert_eq!(up.one().json(), json!({"prompt":"I will","numResults":1}));
    let err = EmbeddingsServiceClient::new(channel)
        .embed(pb::EmbedRequest {
            endpoint: "j2-embeddings".into(),
            texts: vec!["a".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
}
