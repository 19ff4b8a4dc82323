//! OpenAI's REST API (`/v1/*`) end to end: `model` names the endpoint or route; answers are
//! MLflow's shapes; SSE ends with `data: [DONE]`; unknown, missing and wrong-type models are JSON
//! errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{CONFIG, TestGateway};
use serde_json::json;

#[tokio::test]
async fn chat_completions_by_endpoint_and_route_name() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"chat","messages":[{"role":"user","content":"hi"}],"seed":7}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["choices"][0]["message"]["content"], "Hello from mock");
    assert_eq!(v["provider"], "openai");
    let up = gw.upstream().remove(0).json();
    // The endpoint's model replaces the client's `model`; extras are forwarded.
    assert_eq!(up["model"], "gpt-4o-mini");
    assert_eq!(up["seed"], 7);

    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"split","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn streaming_chat_ends_with_done() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.ends_with("data: [DONE]\n\n"), "{}", r.body);
    for event in r.sse_data().iter().filter(|e| *e != "[DONE]") {
        let v: serde_json::Value = serde_json::from_str(event).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
    }
}

#[tokio::test]
async fn completions_and_embeddings_routes() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw
        .post("/v1/completions", r#"{"model":"completions","prompt":"p"}"#)
        .await;
    assert_eq!(r.json()["choices"][0]["text"], "This is a test");
    let r = gw
        .post(
            "/v1/embeddings",
            r#"{"model":"embeddings","input":"a","encoding_format":"base64"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["data"][0]["embedding"].is_string());
    assert_eq!(
        gw.upstream().last().unwrap().json(),
        json!({"model":"text-embedding-3-small","input":"a","encoding_format":"base64"})
    );
}

#[tokio::test]
async fn model_errors_are_json() {
    let gw = TestGateway::start(CONFIG).await;
    let msg = r#""messages":[{"role":"user","content":"hi"}]"#;
    let r = gw
        .post(
            "/v1/chat/completions",
            &format!(r#"{{"model":"nope",{msg}}}"#),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["detail"],
        "The endpoint 'nope' is not present or active on the server. Please verify the endpoint name."
    );
    let r = gw.post("/v1/chat/completions", &format!("{{{msg}}}")).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["detail"].as_str().unwrap().contains("'model'"));
    let r = gw
        .post(
            "/v1/chat/completions",
            &format!(r#"{{"model":"embeddings",{msg}}}"#),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            400,
            r#"{"detail":"Endpoint 'embeddings' is not a chat endpoint."}"#
        )
    );
    let r = gw
        .post("/v1/embeddings", r#"{"model":"chat","input":"a"}"#)
        .await;
    assert_eq!(
        r.body,
        r#"{"detail":"Endpoint 'chat' is not an embeddings endpoint."}"#
    );
    let r = gw
        .post("/v1/completions", r#"{"model":"chat","prompt":"a"}"#)
        .await;
    assert_eq!(
        r.body,
        r#"{"detail":"Endpoint 'chat' is not a completions endpoint."}"#
    );
    assert!(gw.upstream().is_empty());
}

#[tokio::test]
async fn the_mock_provider_answers_offline() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"mock-chat","messages":[{"role":"user","content":"ping pong"}]}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "You said: ping pong"
    );
    assert_eq!(r.json()["provider"], "mock");
    assert!(gw.upstream().is_empty());
}
