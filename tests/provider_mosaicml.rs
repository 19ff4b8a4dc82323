//! The MosaicML provider end to end (spec §3.12, Appendix B): the gateway on 127.0.0.1:0 in front
//! of a scripted MosaicML `predict` API, through MLflow's REST routes, the OpenAI-compatible
//! routes and gRPC. Chat is MLflow's Llama-2 prompt; nothing streams (MLflow's 501).

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
  - name: chat-mosaic
    endpoint_type: llm/v1/chat
    model:
      provider: mosaicml
      name: llama2-70b-chat
      config: {mosaicml_api_key: mos-key, mosaicml_api_base: "{UP}/mosaic"}
  - name: mosaic-completions
    endpoint_type: llm/v1/completions
    model:
      provider: mosaicml
      name: mpt-7b-instruct
      config: {mosaicml_api_key: mos-key, mosaicml_api_base: "{UP}/mosaic"}
  - name: mosaic-embeddings
    endpoint_type: llm/v1/embeddings
    model:
      provider: mosaicml
      name: instructor-xl
      config: {mosaicml_api_key: mos-key, mosaicml_api_base: "{UP}/mosaic"}
"#;

const CHAT_UP: &str = include_str!("fixtures/mosaicml/chat_response.json");
const COMPLETIONS_UP: &str = include_str!("fixtures/mosaicml/completions_response.json");
const EMB_UP: &str = include_str!("fixtures/mosaicml/embeddings_response.json");
const TOKEN_ERROR: &str = include_str!("fixtures/mosaicml/error_500_tokens.json");

const CHAT_PATH: &str = "/mosaic/llama2-70b-chat/v1/predict";
const COMPLETIONS_PATH: &str = "/mosaic/mpt-7b-instruct/v1/predict";
const EMB_PATH: &str = "/mosaic/instructor-xl/v1/predict";

async fn start() -> (TestGateway, Upstream) {
    let up = Upstream::start().await;
    let gw = TestGateway::start(&CONFIG.replace("{UP}", &up.base)).await;
    (gw, up)
}

fn check_request(r: &scripted_upstream::Recorded, path: &str) {
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", path));
    // The raw key, no "Bearer" (observed on MLflow 3.18).
    assert_eq!(r.header("authorization"), Some("mos-key"));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

fn created(v: &mut serde_json::Value) {
    assert!(v["created"].as_i64().unwrap() > 1_700_000_000);
    v["created"] = json!(0);
}

#[tokio::test]
async fn chat_matches_the_observed_transcript() {
    let (gw, up) = start().await;
    up.on(CHAT_PATH, Answer::raw(200, "application/json", CHAT_UP));
    let r = gw
        .post(
            "/gateway/chat-mosaic/invocations",
            r#"{"messages":[{"role":"system","content":"s"},{"role":"user","content":"u1"},{"role":"assistant","content":"a1"},{"role":"user","content":"u2"}],"max_tokens":9}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut v = r.json();
    created(&mut v);
    assert_eq!(
        v.to_string(),
        r#"{"id":null,"object":"chat.completion","created":0,"model":"llama2-70b-chat","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","tool_calls":null,"refusal":null},"finish_reason":null}],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null},"provider":"mosaicml"}"#
    );
    let req = up.one();
    check_request(&req, CHAT_PATH);
    assert_eq!(
        String::from_utf8(req.body).unwrap(),
        r#"{"inputs":["<s>[INST] <<SYS>> s <</SYS>> u1 [/INST] a1 </s><s>[INST] u2 [/INST]"],"parameters":{"n":1,"max_new_tokens":9}}"#
    );
}

#[tokio::test]
async fn chat_all_parameters_through_the_openai_route() {
    let (gw, up) = start().await;
    up.on(CHAT_PATH, Answer::raw(200, "application/json", CHAT_UP));
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"chat-mosaic","messages":[{"role":"user","content":"u"}],"temperature":0.4,"top_p":0.9,"top_k":3,"stop":["x"],"max_tokens":5,"presence_penalty":0.1,"frequency_penalty":0.2,"seed":7}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["provider"], "mosaicml");
    let req = up.one();
    check_request(&req, CHAT_PATH);
    // MosaicML's temperature is not rescaled.
    assert_eq!(
        req.json(),
        json!({"inputs":["<s>[INST] u [/INST]"],"parameters":{"n":1,"stop":["x"],"max_new_tokens":5,
               "temperature":0.4,"top_p":0.9,"presence_penalty":0.1,"frequency_penalty":0.2,"top_k":3,"seed":7}})
    );
}

#[tokio::test]
async fn completions_and_embeddings() {
    let (gw, up) = start().await;
    up.on(
        COMPLETIONS_PATH,
        Answer::raw(200, "application/json", COMPLETIONS_UP),
    );
    let r = gw
        .post(
            "/gateway/mosaic-completions/invocations",
            r#"{"prompt":"This is a test","n":2,"temperature":0.1,"max_tokens":5}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut v = r.json();
    created(&mut v);
    assert_eq!(
        v.to_string(),
        r#"{"id":null,"object":"text_completion","created":0,"model":"mpt-7b-instruct","choices":[{"index":0,"text":"This is a test","finish_reason":null},{"index":1,"text":"Another completion","finish_reason":null}],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null}}"#
    );
    let req = up.one();
    check_request(&req, COMPLETIONS_PATH);
    assert_eq!(
        String::from_utf8(req.body).unwrap(),
        r#"{"inputs":["This is a test"],"parameters":{"n":2,"max_new_tokens":5,"temperature":0.1}}"#
    );

    up.on(EMB_PATH, Answer::raw(200, "application/json", EMB_UP));
    let r = gw
        .post(
            "/v1/embeddings",
            r#"{"model":"mosaic-embeddings","input":"hello"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        r#"{"object":"list","data":[{"object":"embedding","embedding":[3.25,0.7685547,2.65625],"index":0},{"object":"embedding","embedding":[-0.30126953,-2.3554688,1.2597656],"index":1}],"model":"instructor-xl","usage":{"prompt_tokens":null,"total_tokens":null}}"#
    );
    let req = up.one();
    check_request(&req, EMB_PATH);
    assert_eq!(
        String::from_utf8(req.body).unwrap(),
        r#"{"inputs":["hello"]}"#
    );
}

#[tokio::test]
async fn checks_errors_and_501s() {
    let (gw, up) = start().await;
    for (path, body, status, detail) in [
        (
            "/gateway/mosaic-completions/invocations",
            r#"{"prompt":"p","max_new_tokens":3}"#,
            422,
            "Invalid parameter max_new_tokens. Use max_tokens instead.",
        ),
        (
            "/gateway/mosaic-embeddings/invocations",
            r#"{"input":"a","inputs":["b"]}"#,
            422,
            "Invalid parameter inputs. Use input instead.",
        ),
        (
            "/gateway/chat-mosaic/invocations",
            r#"{"messages":[{"role":"tool","content":"x","tool_call_id":"c"}]}"#,
            422,
            "An invalid request structure was submitted. Invalid role tool inputted. Must be one of 'system', 'user', or 'assistant'.",
        ),
        (
            "/gateway/chat-mosaic/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#,
            501,
            "The chat streaming route is not implemented for MosaicML models.",
        ),
        (
            "/gateway/mosaic-completions/invocations",
            r#"{"prompt":"p","stream":true}"#,
            501,
            "The completions streaming route is not implemented for MosaicML models.",
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

    // MosaicML reports a too-long request as a 500; MLflow turns it into a 422.
    up.on(
        COMPLETIONS_PATH,
        Answer::raw(500, "application/json", TOKEN_ERROR),
    );
    let r = gw
        .post(
            "/gateway/mosaic-completions/invocations",
            r#"{"prompt":"p"}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            422,
            json!({"detail":{"message":"Error: max output tokens is limited to 4096 for this model"}})
        )
    );
    // Other 500s pass through; a key echoed by the upstream never reaches the client.
    up.on(
        CHAT_PATH,
        Answer::raw(500, "text/plain", "internal failure for key mos-key"),
    );
    let r = gw
        .post(
            "/gateway/chat-mosaic/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            500,
            json!({"detail":{"message":"internal failure for key [redacted]"}})
        )
    );
    up.on(
        EMB_PATH,
        Answer::raw(
            401,
            "application/json",
            r#"{"error":{"message":"bad token"}}"#,
        ),
    );
    let r = gw
        .post("/gateway/mosaic-embeddings/invocations", r#"{"input":"a"}"#)
        .await;
    assert_eq!((r.status, r.json()), (401, json!({"detail":"bad token"})));
    // An answer without `outputs` is the upstream's fault: 502.
    up.on(EMB_PATH, Answer::json(json!({"predictions": []})));
    let r = gw
        .post("/gateway/mosaic-embeddings/invocations", r#"{"input":"a"}"#)
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            502,
            json!({"detail":"The response is missing the required key: outputs."})
        )
    );
    up.take();
}

#[tokio::test]
async fn grpc_surface() {
    let (gw, up) = start().await;
    let channel = gw.channel().await;
    up.on(CHAT_PATH, Answer::raw(200, "application/json", CHAT_UP));
    let resp = ChatServiceClient::new(channel.clone())
        .chat(pb::ChatRequest {
            endpoint: "chat-mosaic".into(),
            messages: vec![pb::Message {
                role: "user".into(),
                content: Some("hi".into()),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.provider, "mosaicml");
    assert_eq!(
        resp.choices[0].message.as_ref().unwrap().content.as_deref(),
        Some("Hello! How can I help you today?")
    );
    assert_eq!(
        up.one().json(),
        json!({"inputs":["<s>[INST] hi [/INST]"],"parameters":{"n":1}})
    );

    up.on(
        COMPLETIONS_PATH,
        Answer::raw(200, "application/json", COMPLETIONS_UP),
    );
    let mut completions = CompletionsServiceClient::new(channel.clone());
    let creq = pb::CompletionRequest {
        endpoint: "mosaic-completions".into(),
        prompt: "p".into(),
        ..Default::default()
    };
    let resp = completions
        .complete(creq.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.choices.len(), 2);
    up.take();
    let err = completions.stream_complete(creq).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);

    up.on(EMB_PATH, Answer::raw(200, "application/json", EMB_UP));
    let resp = EmbeddingsServiceClient::new(channel)
        .embed(pb::EmbedRequest {
            endpoint: "mosaic-embeddings".into(),
            texts: vec!["a".into(), "b".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.data.len(), 2);
    assert_eq!(up.one().json(), json!({"inputs":["a","b"]}));
}
