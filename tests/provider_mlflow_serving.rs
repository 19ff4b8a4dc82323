//! The MLflow model serving provider end to end (spec §3.8): the gateway on 127.0.0.1:0 in front
//! of a scripted `POST /invocations` server, driven through MLflow's REST routes, the
//! OpenAI-compatible routes and gRPC.

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
  - name: s-chat
    endpoint_type: llm/v1/chat
    model:
      provider: mlflow-model-serving
      name: chat-bot-9000
      config: {model_server_url: "{UP}/chat"}
  - name: s-completions
    endpoint_type: llm/v1/completions
    model:
      provider: mlflow-model-serving
      name: text2text
      config: {model_server_url: "{UP}/text/"}
  - name: s-embeddings
    endpoint_type: llm/v1/embeddings
    model:
      provider: mlflow-model-serving
      name: sentence-piece
      config: {model_server_url: "{UP}/emb"}
"#;

async fn start() -> (TestGateway, Upstream) {
    let up = Upstream::start().await;
    let gw = TestGateway::start(&CONFIG.replace("{UP}", &up.base)).await;
    (gw, up)
}

fn check_request(r: &scripted_upstream::Recorded, path: &str) {
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", path));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("authorization").is_none());
}

fn created(v: &mut serde_json::Value) {
    assert!(v["created"].as_i64().unwrap() > 1_700_000_000);
    v["created"] = json!(0);
}

#[tokio::test]
async fn chat_single_message_matches_mlflow() {
    let (gw, up) = start().await;
    up.on(
        "/chat/invocations",
        Answer::json(json!({"predictions": ["It is a test"]})),
    );
    let r = gw
        .post(
            "/gateway/s-chat/invocations",
            r#"{"messages":[{"role":"user","content":"Is this a test?"}],"max_tokens":5,"temperature":0.1}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut v = r.json();
    created(&mut v);
    assert_eq!(
        v.to_string(),
        r#"{"id":null,"object":"chat.completion","created":0,"model":"chat-bot-9000","choices":[{"index":0,"message":{"role":"assistant","content":"It is a test","tool_calls":null,"refusal":null},"finish_reason":null}],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null},"provider":"mlflow-model-serving"}"#
    );
    let req = up.one();
    check_request(&req, "/chat/invocations");
    assert_eq!(
        req.json(),
        json!({"inputs":["Is this a test?"],"params":{"n":1,"max_tokens":5,"temperature":0.1}})
    );
}

#[tokio::test]
async fn chat_accepts_several_messages_as_a_transcript() {
    let (gw, up) = start().await;
    up.on(
        "/chat/invocations",
        Answer::json(json!({"predictions": {"choices": ["a1", "a2"]}})),
    );
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"s-chat","messages":[{"role":"system","content":"be nice"},{"role":"user","content":"hi"}],"top_p":0.5,"extra_param":1}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["choices"][1]["message"]["content"], "a2");
    assert_eq!(v["choices"][1]["index"], 1);
    assert_eq!(
        up.one().json(),
        json!({"inputs":["system: be nice\nuser: hi"],"params":{"n":1,"top_p":0.5,"extra_param":1}})
    );
}

#[tokio::test]
async fn completions_every_prediction_form() {
    let (gw, up) = start().await;
    let forms = [
        json!({"predictions": ["This is a test!"]}),
        json!({"predictions": {"arbitrary_key": ["This is a test!"]}}),
        json!({"predictions": {"choices": ["This is a test!"], "ignored": ["x"]}}),
    ];
    for form in forms {
        up.on("/text/invocations", Answer::json(form.clone()));
        let r = gw
            .post(
                "/gateway/s-completions/invocations",
                r#"{"prompt":"Is this a test?","temperature":0.0}"#,
            )
            .await;
        assert_eq!(r.status, 200, "{form}: {}", r.body);
        let mut v = r.json();
        created(&mut v);
        assert_eq!(
            v.to_string(),
            r#"{"id":null,"object":"text_completion","created":0,"model":"text2text","choices":[{"index":0,"text":"This is a test!","finish_reason":null}],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null}}"#
        );
        let req = up.one();
        check_request(&req, "/text/invocations");
        assert_eq!(
            req.json(),
            json!({"inputs":["Is this a test?"],"params":{"n":1,"temperature":0.0}})
        );
    }
}

#[tokio::test]
async fn embeddings() {
    let (gw, up) = start().await;
    up.on(
        "/emb/invocations",
        Answer::json(json!({"predictions": [[0.01, -0.1], [0.03, -0.03]]})),
    );
    let r = gw
        .post(
            "/gateway/s-embeddings/invocations",
            r#"{"input":["test1","test2"]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        r#"{"object":"list","data":[{"object":"embedding","embedding":[0.01,-0.1],"index":0},{"object":"embedding","embedding":[0.03,-0.03],"index":1}],"model":"sentence-piece","usage":{"prompt_tokens":null,"total_tokens":null}}"#
    );
    let req = up.one();
    check_request(&req, "/emb/invocations");
    assert_eq!(req.json(), json!({"inputs":["test1","test2"]}));

    up.on(
        "/emb/invocations",
        Answer::json(json!({"predictions": [0.5, 0.25]})),
    );
    let r = gw
        .post(
            "/gateway/s-embeddings/invocations",
            r#"{"input":"a","extra_param":1}"#,
        )
        .await;
    assert_eq!(r.json()["data"][0]["embedding"], json!([0.5, 0.25]));
    assert_eq!(
        up.one().json(),
        json!({"inputs":["a"],"params":{"extra_param":1}})
    );
}

#[tokio::test]
async fn malformed_predictions_are_502_with_mlflows_texts() {
    let (gw, up) = start().await;
    up.on("/text/invocations", Answer::json(json!({"outputs": ["x"]})));
    let r = gw
        .post("/gateway/s-completions/invocations", r#"{"prompt":"p"}"#)
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            502,
            json!({"detail":"The response is missing the required key: predictions."})
        )
    );
    up.on(
        "/chat/invocations",
        Answer::json(json!({"predictions": []})),
    );
    let r = gw
        .post(
            "/gateway/s-chat/invocations",
            r#"{"messages":[{"role":"user","content":"q"}]}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            502,
            json!({"detail":"1 validation error for ServingTextResponse\npredictions\n  Value error, The input list is empty [type=value_error, input_value=[], input_type=list]"})
        )
    );
    up.on(
        "/emb/invocations",
        Answer::json(json!({"predictions": [[1.0, 2.3], [1.2, "string"]]})),
    );
    let r = gw
        .post("/gateway/s-embeddings/invocations", r#"{"input":"a"}"#)
        .await;
    assert_eq!(r.status, 502);
    assert_eq!(
        r.json()["detail"],
        "1 validation error for EmbeddingsResponse\npredictions.1.1\n  Input should be a valid number [type=float_type, input_value='string', input_type=str]"
    );
}

#[tokio::test]
async fn upstream_errors_and_501s() {
    let (gw, up) = start().await;
    // A served model's own error body: `error_code` + `message`, no `error` key → whole JSON.
    up.on(
        "/text/invocations",
        Answer::raw(
            400,
            "application/json",
            r#"{"error_code":"BAD_REQUEST","message":"Invalid input"}"#,
        ),
    );
    let r = gw
        .post("/gateway/s-completions/invocations", r#"{"prompt":"p"}"#)
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"detail":{"error_code":"BAD_REQUEST","message":"Invalid input"}})
        )
    );
    up.on("/text/invocations", Answer::raw(200, "text/html", "<html>"));
    let r = gw
        .post("/gateway/s-completions/invocations", r#"{"prompt":"p"}"#)
        .await;
    assert_eq!(r.status, 502);
    up.take();

    // No streaming: MLflow's 501 texts, before any upstream call.
    let r = gw
        .post(
            "/gateway/s-chat/invocations",
            r#"{"messages":[{"role":"user","content":"q"}],"stream":true}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            501,
            json!({"detail":"The chat streaming route is not implemented for MLflow Model Serving models."})
        )
    );
    let r = gw
        .post(
            "/gateway/s-completions/invocations",
            r#"{"prompt":"p","stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 501);
    assert!(up.take().is_empty());
}

#[tokio::test]
async fn grpc_surface() {
    let (gw, up) = start().await;
    let channel = gw.channel().await;
    up.on(
        "/chat/invocations",
        Answer::json(json!({"predictions": ["ok"]})),
    );
    let req = pb::ChatRequest {
        endpoint: "s-chat".into(),
        messages: vec![pb::Message {
            role: "user".into(),
            content: Some("q".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut chat = ChatServiceClient::new(channel.clone());
    let resp = chat.chat(req.clone()).await.unwrap().into_inner();
    assert_eq!(resp.provider, "mlflow-model-serving");
    assert_eq!(
        resp.choices[0].message.as_ref().unwrap().content.as_deref(),
        Some("ok")
    );
    assert_eq!(up.one().json(), json!({"inputs":["q"],"params":{"n":1}}));
    let err = chat.stream_chat(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);

    up.on("/text/invocations", Answer::json(json!({"predictions": 5})));
    let err = CompletionsServiceClient::new(channel.clone())
        .complete(pb::CompletionRequest {
            endpoint: "s-completions".into(),
            prompt: "p".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{}", err.message());
    assert!(
        err.message().contains("ServingTextResponse"),
        "{}",
        err.message()
    );

    up.on(
        "/emb/invocations",
        Answer::json(json!({"predictions": [[1, 2]]})),
    );
    let resp = EmbeddingsServiceClient::new(channel)
        .embed(pb::EmbedRequest {
            endpoint: "s-embeddings".into(),
            token_ids: vec![pb::TokenIds { ids: vec![1, 2] }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.data[0].values, vec![1.0, 2.0]);
    assert_eq!(up.take().pop().unwrap().json(), json!({"inputs":[[1, 2]]}));
}
