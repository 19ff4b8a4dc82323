//! Overload, end to end: with `--max-in-flight 2`, two streams held open against a stalling
//! upstream fill the gateway; a third request is shed at once on every surface (503 +
//! `Retry-After` for REST, `RESOURCE_EXHAUSTED` for gRPC and grpc-web, Connect's
//! `resource_exhausted`), never queued and never sent upstream, while `/health`, `/metrics`
//! and the gRPC health check still answer. Once the streams end, service resumes. Shed
//! requests are counted in `llm_gateway_requests_shed_total`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod scripted_upstream;

use std::time::Duration;

use common::TestGateway;
use futures::StreamExt;
use llm_gateway::pb::v1 as pb;
use llm_gateway::server::AppOptions;
use llm_gateway::service::Settings;
use pb::chat_service_client::ChatServiceClient;
use scripted_upstream::{Answer, Upstream};
use tonic_health::pb::health_client::HealthClient;

const CONFIG: &str = r#"
endpoints:
  - name: stall
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m, config: {openai_api_key: k, openai_api_base: "{UP}/v1"}}
  - name: mock-chat
    endpoint_type: llm/v1/chat
    model: {provider: mock, name: mock-model, config: {}}
"#;

const UPSTREAM: &str = "/v1/chat/completions";
const CHUNK: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"first\"},\"finish_reason\":null}]}\n\n";

/// The outer bound on anything a test waits for.
const BOUND: Duration = Duration::from_secs(10);

fn grpc_chat(endpoint: &str) -> pb::ChatRequest {
    pb::ChatRequest {
        endpoint: endpoint.into(),
        messages: vec![pb::Message {
            role: "user".into(),
            content: Some("hi".into()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A REST chat through the MLflow route, as status, `Retry-After` and JSON body.
async fn mlflow_chat(gw: &TestGateway, endpoint: &str) -> (u16, Option<String>, serde_json::Value) {
    let resp = gw
        .http
        .post(gw.url(&format!("/gateway/{endpoint}/invocations")))
        .header("content-type", "application/json")
        .body(r#"{"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, resp.json().await.unwrap())
}

#[tokio::test]
async fn past_max_in_flight_requests_are_shed_on_every_surface_and_probes_still_answer() {
    let up = Upstream::start().await;
    up.on(UPSTREAM, Answer::sse(&[CHUNK]).stalling());
    let options = AppOptions {
        max_in_flight: 2,
        ..AppOptions::default()
    };
    let yaml = CONFIG.replace("{UP}", &up.base);
    let gw = TestGateway::start_with_options(&yaml, Settings::default(), options).await;

    // Two streams take both slots: one over REST, one over gRPC. Each has sent its first chunk,
    // and holds its slot until its body ends.
    let mut rest_stream = gw
        .http
        .post(gw.url("/gateway/stall/invocations"))
        .header("content-type", "application/json")
        .body(r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(rest_stream.status(), 200);
    let first = tokio::time::timeout(BOUND, rest_stream.chunk())
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first.unwrap()).contains("first"));
    let mut grpc = ChatServiceClient::new(gw.channel().await);
    let mut grpc_stream = grpc
        .stream_chat(grpc_chat("stall"))
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(BOUND, grpc_stream.next())
        .await
        .unwrap();
    assert!(first.unwrap().is_ok());
    assert_eq!(up.count(UPSTREAM), 2);

    // A third request is shed at once, on every surface, without reaching the upstream.
    let (status, retry, body) = mlflow_chat(&gw, "stall").await;
    assert_eq!((status, retry.as_deref()), (503, Some("1")));
    assert_eq!(
        body["detail"],
        "The gateway is at its limit of 2 requests in flight; try again shortly."
    );
    let resp = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(r#"{"model":"stall","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let status = grpc.chat(grpc_chat("stall")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        status.message(),
        "The gateway is at its limit of 2 requests in flight; try again shortly."
    );
    let resp = gw
        .http
        .post(gw.url("/llmgateway.v1.ChatService/Chat"))
        .header("content-type", "application/grpc-web+proto")
        .body(common::grpc_web_frame(&grpc_chat("stall")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["grpc-status"], "8", "RESOURCE_EXHAUSTED");
    assert_eq!(resp.headers()["retry-after"], "1");
    let resp = gw
        .http
        .post(gw.url("/llmgateway.v1.ChatService/Chat"))
        .header("content-type", "application/json")
        .body(r#"{"endpoint":"stall","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    // Connect's HTTP status for resource_exhausted.
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "resource_exhausted");
    assert_eq!(up.count(UPSTREAM), 2, "a shed request reached the upstream");

    // Probes and scrapes are exempt.
    assert_eq!(gw.get("/health").await.status, 200);
    let mut health = HealthClient::new(gw.channel().await);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(serving.status, 1, "SERVING");
    let metrics = gw.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    for (surface, shed) in [
        ("mlflow-rest", 1),
        ("openai-rest", 1),
        ("grpc", 1),
        ("grpc-web", 1),
        ("connect", 1),
    ] {
        let line = format!("llm_gateway_requests_shed_total{{surface=\"{surface}\"}} {shed}");
        assert!(
            metrics.body.contains(&line),
            "{line} not in\n{}",
            metrics.body
        );
    }

    // The streams end (their clients go away): their slots come back and service resumes.
    drop(rest_stream);
    drop(grpc_stream);
    let resumed = tokio::time::timeout(BOUND, async {
        loop {
            let (status, _, _) = mlflow_chat(&gw, "mock-chat").await;
            if status != 503 {
                return status;
            }
            // The server notices the closed streams asynchronously.
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("service did not resume after the streams ended");
    assert_eq!(resumed, 200);
    // Both slots: two requests in flight at once are served again.
    let (a, b) = tokio::join!(mlflow_chat(&gw, "mock-chat"), mlflow_chat(&gw, "mock-chat"));
    assert_eq!((a.0, b.0), (200, 200));
    assert_eq!(
        grpc.chat(grpc_chat("mock-chat"))
            .await
            .unwrap()
            .into_inner()
            .choices
            .len(),
        1
    );
}

#[tokio::test]
async fn without_a_bound_nothing_is_shed() {
    let up = Upstream::start().await;
    up.on(UPSTREAM, Answer::sse(&[CHUNK]).stalling());
    let options = AppOptions {
        max_in_flight: 0,
        ..AppOptions::default()
    };
    let yaml = CONFIG.replace("{UP}", &up.base);
    let gw = TestGateway::start_with_options(&yaml, Settings::default(), options).await;
    let mut grpc = ChatServiceClient::new(gw.channel().await);
    let mut streams = Vec::new();
    for _ in 0..5 {
        let mut s = grpc
            .stream_chat(grpc_chat("stall"))
            .await
            .unwrap()
            .into_inner();
        assert!(
            tokio::time::timeout(BOUND, s.next())
                .await
                .unwrap()
                .unwrap()
                .is_ok()
        );
        streams.push(s);
    }
    assert_eq!(mlflow_chat(&gw, "mock-chat").await.0, 200);
}
