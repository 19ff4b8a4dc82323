//! The PaLM provider end to end (spec §3.11): the gateway on 127.0.0.1:0 in front of a scripted
//! PaLM `v1beta3` API, through MLflow's REST routes, the OpenAI-compatible routes and gRPC.
//! Nothing streams (MLflow's 501).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod scripted_upstream;

use common::TestGateway;
use llm_gateway::pb::v1 as pb;
use pb::chat_service_client::ChatServiceClient;
use pb::completions_service_client::CompletionsServiceClient;
use pb::embeddings_service_client::EmbeddingsServiceClient;
use scripted_upstream::{Answer, Upstream};
use serde_json::json;

const CONFIG: &str = r#"
endpoints:
  - name: palm-chat
    endpoint_type: llm/v1/chat
    model:
      provider: palm
      name: chat-bison-001
      config: {palm_api_key: palm-test-key, palm_api_base: "{UP}/v1beta3/models/"}
  - name: palm-completions
    endpoint_type: llm/v1/completions
    model:
      provider: palm
      name: text-bison-001
      config: {palm_api_key: palm-test-key, palm_api_base: "{UP}/v1beta3/models"}
  - name: palm-embeddings
    endpoint_type: llm/v1/embeddings
    model:
      provider: palm
      name: embedding-gecko-001
      config: {palm_api_key: palm-test-key, palm_api_base: "{UP}/v1beta3/models/"}
"#;

const MESSAGE_UP: &str = include_str!("fixtures/palm/generate_message_response.json");
const TEXT_UP: &str = include_str!("fixtures/palm/generate_text_response.json");
const EMBED_UP: &str = include_str!("fixtures/palm/batch_embed_text_response.json");
const ERROR_400: &str = include_str!("fixtures/palm/error_400.json");

const CHAT_PATH: &str = "/v1beta3/models/chat-bison-001:generateMessage";
const TEXT_PATH: &str = "/v1beta3/models/text-bison-001:generateText";
const EMBED_PATH: &str = "/v1beta3/models/embedding-gecko-001:batchEmbedText";

async fn start() -> (TestGateway, Upstream) {
    let up = Upstream::start().await;
    let gw = TestGateway::start(&CONFIG.replace("{UP}", &up.base)).await;
    (gw, up)
}

fn check_request(r: &scripted_upstream::Recorded, path: &str) {
    // The key travels in a header only, never in the URL.
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", path));
    assert_eq!(r.header("x-goog-api-key"), Some("palm-test-key"));
    assert!(r.header("authorization").is_none());
    assert_eq!(r.header("content-type"), Some("application/json"));
}

fn created(v: &mut serde_json::Value) {
    assert!(v["created"].as_i64().unwrap() > 1_700_000_000);
    v["created"] = json!(0);
}

#[tokio::test]
async fn chat_with_examples_and_context() {
    let (gw, up) = start().await;
    up.on(CHAT_PATH, Answer::raw(200, "application/json", MESSAGE_UP));
    let r = gw
        .post(
            "/gateway/palm-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"temperature":0.4,"stop":["x"],"top_p":0.5,"top_k":3,"examples":[{"input":{"content":"a"},"output":{"content":"b"}}],"context":"ctx","foo":"bar"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut v = r.json();
    created(&mut v);
    // MLflow reports PaLM's `author` as the role.
    assert_eq!(
        v.to_string(),
        r#"{"id":null,"object":"chat.completion","created":0,"model":"chat-bison-001","choices":[{"index":0,"message":{"role":"1","content":"Hi there! How can I help you today?","tool_calls":null,"refusal":null},"finish_reason":null}],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null},"provider":"palm"}"#
    );
    let req = up.one();
    check_request(&req, CHAT_PATH);
    assert_eq!(
        String::from_utf8(req.body).unwrap(),
        r#"{"candidateCount":1,"stopSequences":["x"],"temperature":0.2,"top_p":0.5,"top_k":3,"foo":"bar","prompt":{"messages":[{"author":"user","content":"hi"}],"examples":[{"input":{"content":"a"},"output":{"content":"b"}}],"context":"ctx"}}"#
    );
}

#[tokio::test]
async fn completions_and_embeddings() {
    let (gw, up) = start().await;
    up.on(TEXT_PATH, Answer::raw(200, "application/json", TEXT_UP));
    let r = gw
        .post(
            "/v1/completions",
            r#"{"model":"palm-completions","prompt":"Tell a story","n":2,"max_tokens":50,"temperature":1.0,"stop":["END"]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut v = r.json();
    created(&mut v);
    assert_eq!(
        v.to_string(),
        r#"{"id":null,"object":"text_completion","created":0,"model":"text-bison-001","choices":[{"index":0,"text":"Once upon a time, there was a young girl named Lily...","finish_reason":null},{"index":1,"text":"Once upon a time, there was a young boy named Billy...","finish_reason":null}],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null}}"#
    );
    let req = up.one();
    check_request(&req, TEXT_PATH);
    assert_eq!(
        String::from_utf8(req.body).unwrap(),
        r#"{"candidateCount":2,"stopSequences":["END"],"maxOutputTokens":50,"temperature":0.5,"prompt":{"text":"Tell a story"}}"#
    );

    up.on(EMBED_PATH, Answer::raw(200, "application/json", EMBED_UP));
    let r = gw
        .post(
            "/gateway/palm-embeddings/invocations",
            r#"{"input":["hello","world"]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        r#"{"object":"list","data":[{"object":"embedding","embedding":[3.25,0.7685547,2.65625],"index":0},{"object":"embedding","embedding":[-0.30126953,-2.3554688,1.2597656],"index":1}],"model":"embedding-gecko-001","usage":{"prompt_tokens":null,"total_tokens":null}}"#
    );
    let req = up.one();
    check_request(&req, EMBED_PATH);
    assert_eq!(
        String::from_utf8(req.body).unwrap(),
        r#"{"texts":["hello","world"]}"#
    );
}

#[tokio::test]
async fn checks_errors_and_501s() {
    let (gw, up) = start().await;
    for (path, body, status, detail) in [
        (
            "/gateway/palm-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":5}"#,
            422,
            "Max tokens is not supported for PaLM chat.",
        ),
        (
            "/gateway/palm-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"candidateCount":2}"#,
            422,
            "Invalid parameter candidateCount. Use n instead.",
        ),
        (
            "/gateway/palm-completions/invocations",
            r#"{"prompt":"p","maxOutputTokens":5}"#,
            422,
            "Invalid parameter maxOutputTokens. Use max_tokens instead.",
        ),
        (
            "/gateway/palm-embeddings/invocations",
            r#"{"input":"a","texts":["b"]}"#,
            422,
            "Invalid parameter texts. Use input instead.",
        ),
        (
            "/gateway/palm-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#,
            501,
            "The chat streaming route is not implemented for PaLM models.",
        ),
        (
            "/gateway/palm-completions/invocations",
            r#"{"prompt":"p","stream":true}"#,
            501,
            "The completions streaming route is not implemented for PaLM models.",
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

    // Google's error body: MLflow reports `error.message` with the upstream status.
    up.on(TEXT_PATH, Answer::raw(400, "application/json", ERROR_400));
    let r = gw
        .post("/gateway/palm-completions/invocations", r#"{"prompt":"p"}"#)
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"detail":"API key not valid. Please pass a valid API key."})
        )
    );
    // An upstream that echoes the key never shows it to the client.
    up.on(
        CHAT_PATH,
        Answer::raw(403, "text/plain", "key palm-test-key is disabled"),
    );
    let r = gw
        .post(
            "/gateway/palm-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            403,
            json!({"detail":{"message":"key [redacted] is disabled"}})
        )
    );
    up.on(EMBED_PATH, Answer::raw(200, "text/html", "<html>"));
    let r = gw
        .post("/gateway/palm-embeddings/invocations", r#"{"input":"a"}"#)
        .await;
    assert_eq!(r.status, 502);
    up.take();
}

#[tokio::test]
async fn grpc_surface() {
    let (gw, up) = start().await;
    let channel = gw.channel().await;
    up.on(CHAT_PATH, Answer::raw(200, "application/json", MESSAGE_UP));
    let mut chat = ChatServiceClient::new(channel.clone());
    let req = pb::ChatRequest {
        endpoint: "palm-chat".into(),
        messages: vec![pb::Message {
            role: "user".into(),
            content: Some("hi".into()),
            ..Default::default()
        }],
        temperature: Some(1.0),
        ..Default::default()
    };
    let resp = chat.chat(req.clone()).await.unwrap().into_inner();
    assert_eq!(resp.provider, "palm");
    assert_eq!(resp.choices.len(), 1);
    assert_eq!(
        up.one().json(),
        json!({"candidateCount":1,"temperature":0.5,"prompt":{"messages":[{"author":"user","content":"hi"}]}})
    );
    let err = chat.stream_chat(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);

    up.on(TEXT_PATH, Answer::raw(200, "application/json", TEXT_UP));
    let resp = CompletionsServiceClient::new(channel.clone())
        .complete(pb::CompletionRequest {
            endpoint: "palm-completions".into(),
            prompt: "p".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.choices.len(), 2);
    up.take();

    up.on(EMBED_PATH, Answer::raw(200, "application/json", EMBED_UP));
    let resp = EmbeddingsServiceClient::new(channel)
        .embed(pb::EmbedRequest {
            endpoint: "palm-embeddings".into(),
            texts: vec!["a".into()],
            single_input: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.data.len(), 2);
    assert_eq!(up.one().json(), json!({"texts":["a"]}));
}
