//! Retries, fallback routes, circuit breakers, stream idle timeouts and client deadlines, end to
//! end on the MLflow REST and gRPC surfaces, against a scripted upstream that fails a chosen
//! number of times. Every test asserts the exact number of upstream calls each destination got.
//!
//! Backoffs are configured in milliseconds so the tests stay fast without sleeping; the backoff
//! arithmetic itself (doubling, jitter, `Retry-After`) is unit-tested on paused time in
//! `routing::retry` and `routing::circuit`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod scripted_upstream;

use std::time::{Duration, Instant};

use common::TestGateway;
use futures::StreamExt;
use llm_gateway::pb::v1 as pb;
use pb::chat_service_client::ChatServiceClient;
use scripted_upstream::{Answer, Upstream};

const CONFIG: &str = r#"
endpoints:
  - name: retrying
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m-a, config: {openai_api_key: k, openai_api_base: "{UP}/a/v1"}}
    retries: {max_attempts: 3, initial_backoff_seconds: 0.001, max_backoff_seconds: 0.05}
  - name: primary
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m-b, config: {openai_api_key: k, openai_api_base: "{UP}/b/v1"}}
  - name: secondary
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m-c, config: {openai_api_key: k, openai_api_base: "{UP}/c/v1"}}
  - name: fragile
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m-d, config: {openai_api_key: k, openai_api_base: "{UP}/d/v1"}}
    circuit_breaker: {failure_threshold: 2, cooldown_seconds: 60}
  - name: idle
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m-e, config: {openai_api_key: k, openai_api_base: "{UP}/e/v1"}}
    timeouts: {stream_idle_seconds: 0.3}
  - name: limited
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m-f, config: {openai_api_key: k, openai_api_base: "{UP}/f/v1"}}
    limit: {calls: 1, renewal_period: minute}
routes:
  - name: fallback
    task_type: llm/v1/chat
    routing_strategy: FALLBACK
    destinations: [{name: primary}, {name: secondary}]
    fallback: {on: [connect_error, timeout, server_error]}
  - name: split
    task_type: llm/v1/chat
    destinations:
      - {name: fragile, traffic_percentage: 50}
      - {name: secondary, traffic_percentage: 50}
"#;

const A: &str = "/a/v1/chat/completions";
const B: &str = "/b/v1/chat/completions";
const C: &str = "/c/v1/chat/completions";
const D: &str = "/d/v1/chat/completions";
const E: &str = "/e/v1/chat/completions";
const F: &str = "/f/v1/chat/completions";

const CHAT: &str = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
const CHAT_STREAM: &str = r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#;

struct Env {
    up: Upstream,
    gw: TestGateway,
}

async fn start() -> Env {
    let up = Upstream::start().await;
    let gw = TestGateway::start(&CONFIG.replace("{UP}", &up.base)).await;
    Env { up, gw }
}

fn ok(text: &str) -> Answer {
    Answer::json(serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    }))
}

fn status(code: u16) -> Answer {
    Answer::raw(
        code,
        "application/json",
        &format!(r#"{{"error":{{"message":"upstream said {code}"}}}}"#),
    )
}

fn sse_ok(text: &str) -> Answer {
    Answer::sse(&[
        &format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\n"
        ),
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    ])
}

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

impl Env {
    async fn rest(&self, name: &str, body: &str) -> common::Reply {
        self.gw
            .post(&format!("/gateway/{name}/invocations"), body)
            .await
    }

    async fn grpc(&self) -> ChatServiceClient<tonic::transport::Channel> {
        ChatServiceClient::new(self.gw.channel().await)
    }
}

#[tokio::test]
async fn retries_transient_failures_until_success() {
    let env = start().await;
    env.up
        .on_seq(A, vec![status(500), status(503), ok("third time")]);
    let r = env.rest("retrying", CHAT).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["choices"][0]["message"]["content"], "third time");
    assert_eq!(env.up.count(A), 3);

    env.up.take();
    env.up.on_seq(A, vec![status(502), ok("second time")]);
    let resp = env
        .grpc()
        .await
        .chat(grpc_chat("retrying"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        resp.choices[0].message.as_ref().unwrap().content.as_deref(),
        Some("second time")
    );
    assert_eq!(env.up.count(A), 2);
}

#[tokio::test]
async fn retries_stop_at_max_attempts_with_the_last_error() {
    let env = start().await;
    env.up.on(A, status(503));
    let r = env.rest("retrying", CHAT).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["detail"], "upstream said 503");
    assert_eq!(env.up.count(A), 3);

    env.up.take();
    let err = env
        .grpc()
        .await
        .chat(grpc_chat("retrying"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert_eq!(env.up.count(A), 3);
}

#[tokio::test]
async fn client_errors_and_unconfigured_endpoints_are_not_retried() {
    let env = start().await;
    env.up.on(A, status(400));
    assert_eq!(env.rest("retrying", CHAT).await.status, 400);
    assert_eq!(env.up.count(A), 1);
    // An endpoint without `retries:` makes one attempt, as MLflow does.
    env.up.on(B, status(500));
    assert_eq!(env.rest("primary", CHAT).await.status, 500);
    assert_eq!(env.up.count(B), 1);
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_is_answered_not_waited() {
    let env = start().await;
    env.up.on(A, status(429).with_header("retry-after", "30"));
    let started = Instant::now();
    let r = env.rest("retrying", CHAT).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("30"));
    assert_eq!(env.up.count(A), 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    // A short one is honoured: the retry happens and succeeds.
    env.up.take();
    env.up.on_seq(
        A,
        vec![
            status(429).with_header("retry-after", "0"),
            ok("after wait"),
        ],
    );
    assert_eq!(env.rest("retrying", CHAT).await.status, 200);
    assert_eq!(env.up.count(A), 2);
}

#[tokio::test]
async fn fallback_route_tries_the_next_destination_on_configured_errors() {
    let env = start().await;
    env.up.on(B, status(500));
    env.up.on(C, ok("from secondary"));
    let r = env.rest("fallback", CHAT).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "from secondary"
    );
    assert_eq!((env.up.count(B), env.up.count(C)), (1, 1));

    env.up.take();
    let resp = env
        .grpc()
        .await
        .chat(grpc_chat("fallback"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.provider, "openai");
    assert_eq!((env.up.count(B), env.up.count(C)), (1, 1));

    // 429 is not in this route's `fallback.on`, and a 400 never falls back.
    for code in [429, 400] {
        env.up.take();
        env.up.on(B, status(code));
        let r = env.rest("fallback", CHAT).await;
        assert_eq!(r.status, code);
        assert_eq!((env.up.count(B), env.up.count(C)), (1, 0), "{code}");
    }

    // Every destination failing: the last error is the answer.
    env.up.take();
    env.up.on(B, status(502));
    env.up.on(C, status(503));
    let r = env.rest("fallback", CHAT).await;
    assert_eq!(r.status, 503);
    assert_eq!((env.up.count(B), env.up.count(C)), (1, 1));
}

#[tokio::test]
async fn streams_fall_back_before_the_first_byte_and_never_after() {
    let env = start().await;
    env.up.on(B, status(503));
    env.up.on(C, sse_ok("streamed by secondary"));
    let r = env.rest("fallback", CHAT_STREAM).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.sse_data();
    assert!(events[0].contains("streamed by secondary"), "{events:?}");
    assert_eq!(events.last().unwrap(), "[DONE]");
    assert_eq!((env.up.count(B), env.up.count(C)), (1, 1));

    // gRPC streams too.
    env.up.take();
    let mut stream = env
        .grpc()
        .await
        .stream_chat(grpc_chat("fallback"))
        .await
        .unwrap()
        .into_inner();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(
        first.choices[0].delta.as_ref().unwrap().content.as_deref(),
        Some("streamed by secondary")
    );
    assert_eq!((env.up.count(B), env.up.count(C)), (1, 1));

    // The first destination's stream starts, then breaks: the client has bytes, so no
    // fallback; the stream ends with one error event.
    env.up.take();
    env.up.on(
        B,
        Answer::sse(&["data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"},\"finish_reason\":null}]}\n\n"]),
    );
    let r = env.rest("fallback", CHAT_STREAM).await;
    assert_eq!(r.status, 200);
    let events = r.sse_data();
    assert!(events[0].contains("partial"));
    assert!(events.last().unwrap().contains("\"error\""), "{events:?}");
    assert!(!events.iter().any(|e| e == "[DONE]"));
    assert_eq!((env.up.count(B), env.up.count(C)), (1, 0));
}

#[tokio::test]
async fn an_open_circuit_skips_the_endpoint_until_its_cooldown() {
    let env = start().await;
    env.up.on(D, status(500));
    for _ in 0..2 {
        assert_eq!(env.rest("fragile", CHAT).await.status, 500);
    }
    assert_eq!(env.up.count(D), 2);
    // Open: no upstream call, a 503 that says when to come back.
    let r = env.rest("fragile", CHAT).await;
    assert_eq!(r.status, 503);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("circuit open"),
        "{}",
        r.body
    );
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let err = env
        .grpc()
        .await
        .chat(grpc_chat("fragile"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert_eq!(env.up.count(D), 2);

    // A traffic split draws only among closed destinations while one is open.
    env.up.on(C, ok("secondary"));
    for _ in 0..20 {
        assert_eq!(env.rest("split", CHAT).await.status, 200);
    }
    assert_eq!((env.up.count(D), env.up.count(C)), (2, 20));
}

#[tokio::test]
async fn a_stalled_stream_ends_with_an_idle_timeout_error() {
    let env = start().await;
    env.up.on(
        E,
        Answer::sse(&["data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"first\"},\"finish_reason\":null}]}\n\n"]).stalling(),
    );
    let r = env.rest("idle", CHAT_STREAM).await;
    assert_eq!(r.status, 200);
    let events = r.sse_data();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[0].contains("first"));
    let err: serde_json::Value = serde_json::from_str(&events[1]).unwrap();
    assert_eq!(err["error"]["code"], 504);
    assert_eq!(
        err["error"]["message"],
        "The upstream stream sent nothing for 0.3 seconds."
    );

    let mut stream = env
        .grpc()
        .await
        .stream_chat(grpc_chat("idle"))
        .await
        .unwrap()
        .into_inner();
    assert!(stream.next().await.unwrap().is_ok());
    let status = stream.next().await.unwrap().unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn the_grpc_deadline_bounds_attempts_and_retries() {
    let env = start().await;
    // The upstream never finishes its body; the endpoint's own timeout is the default 300 s.
    env.up.on(A, ok("never").stalling());
    // grpc-web over HTTP/1.1 from a plain HTTP client: unlike a gRPC client library, it does
    // not enforce the deadline itself, so what comes back is the gateway's own answer.
    let started = Instant::now();
    let resp = env
        .gw
        .http
        .post(env.gw.url("/llmgateway.v1.ChatService/Chat"))
        .header("content-type", "application/grpc-web+proto")
        .header("grpc-timeout", "300m")
        .body(common::grpc_web_frame(&grpc_chat("retrying")))
        .send()
        .await
        .unwrap();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(
        header("grpc-status").as_deref(),
        Some("4"),
        "DEADLINE_EXCEEDED"
    );
    let message = header("grpc-message").unwrap();
    assert_eq!(
        message,
        "The%20client's%20deadline%20passed%20before%20the%20call%20completed."
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The timed-out attempt is not retried past the deadline.
    assert_eq!(env.up.count(A), 1);
}

#[tokio::test]
async fn grpc_calls_count_against_endpoint_limits() {
    let env = start().await;
    env.up.on(F, ok("limited"));
    let mut client = env.grpc().await;
    // An invalid request costs no quota.
    let mut bad = grpc_chat("limited");
    bad.messages.clear();
    assert_eq!(
        client.chat(bad).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
    client.chat(grpc_chat("limited")).await.unwrap();
    let err = client.chat(grpc_chat("limited")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert_eq!(err.message(), "Rate limit exceeded: 1 per 1 minute");
    assert_eq!(env.up.count(F), 1);
    // gRPC has its own counter: the REST invocation family still has its call.
    assert_eq!(env.rest("limited", CHAT).await.status, 200);
    assert_eq!(env.rest("limited", CHAT).await.status, 429);
}
