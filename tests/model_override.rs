//! A client's `model` on an invocation route: MLflow lets Together AI use it as the upstream
//! model and forwards it to MLflow model serving inside `params`; every other provider answers
//! MLflow's 422 (gRPC: INVALID_ARGUMENT), without calling the upstream.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestGateway;
use llm_gateway::pb::v1 as pb;

const CONFIG: &str = r#"
endpoints:
  - name: together
    endpoint_type: llm/v1/chat
    model: {provider: togetherai, name: configured-model, config: {togetherai_api_key: tk, togetherai_api_base: "{MOCK}/v1"}}
  - name: served
    endpoint_type: llm/v1/completions
    model: {provider: mlflow-model-serving, name: served-model, config: {model_server_url: "{MOCK}/serve"}}
  - name: chat
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: gpt-4o-mini, config: {openai_api_key: sk-test, openai_api_base: "{MOCK}/v1"}}
"#;

const NOT_PERMITTED: &str = "The parameter 'model' is not permitted to be passed. The route being queried already defines a model instance.";

#[tokio::test]
async fn together_ai_uses_the_client_model() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw
        .post(
            "/gateway/together/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"model":"meta-llama/Llama-3-8b"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(gw.upstream()[0].json()["model"], "meta-llama/Llama-3-8b");
    // Without one, the configured model is used.
    gw.post(
        "/gateway/together/invocations",
        r#"{"messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await;
    assert_eq!(gw.upstream()[0].json()["model"], "configured-model");
}

#[tokio::test]
async fn mlflow_serving_receives_it_in_params() {
    let gw = TestGateway::start(CONFIG).await;
    gw.post(
        "/gateway/served/invocations",
        r#"{"prompt":"hi","model":"v2"}"#,
    )
    .await;
    let up = gw.upstream().remove(0);
    assert_eq!(up.path_and_query, "/serve/invocations");
    assert_eq!(up.json()["params"]["model"], "v2");
    assert_eq!(up.json()["inputs"], serde_json::json!(["hi"]));
}

#[tokio::test]
async fn other_providers_refuse_it_on_every_surface() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw
        .post(
            "/gateway/chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4"}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["detail"].as_str()),
        (422, Some(NOT_PERMITTED))
    );
    let err = pb::chat_service_client::ChatServiceClient::new(gw.channel().await)
        .chat(pb::ChatRequest {
            endpoint: "chat".into(),
            model: Some("gpt-4".into()),
            messages: vec![pb::Message {
                role: "user".into(),
                content: Some("hi".into()),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(err.message(), NOT_PERMITTED);
    assert!(gw.upstream().is_empty());
}
