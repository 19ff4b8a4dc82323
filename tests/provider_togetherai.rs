//! The Together AI provider end to end (spec §3.15): the gateway on 127.0.0.1:0 in front of a
//! scripted Together API, driven through MLflow's REST routes, the OpenAI-compatible routes and
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
  - name: t-chat
    endpoint_type: llm/v1/chat
    model:
      provider: togetherai
      name: mistralai/Mixtral-8x7B-Instruct-v0.1
      config: {togetherai_api_key: tg-test-key, togetherai_api_base: "{UP}/v1"}
  - name: t-completions
    endpoint_type: llm/v1/completions
    model:
      provider: togetherai
      name: mistralai/Mixtral-8x7B-v0.1
      config: {togetherai_api_key: tg-test-key, togetherai_api_base: "{UP}/v1"}
  - name: t-embeddings
    endpoint_type: llm/v1/embeddings
    model:
      provider: togetherai
      name: togethercomputer/m2-bert-80M-8k-retrieval
      config: {togetherai_api_key: tg-test-key, togetherai_api_base: "{UP}/v1"}
"#;

const CHAT_UP: &str = include_str!("fixtures/togetherai/chat_response.json");
const TOOLS_UP: &str = include_str!("fixtures/togetherai/chat_response_tools.json");
const CHAT_STREAM_UP: &str = include_str!("fixtures/togetherai/chat_stream.txt");
const COMPLETION_UP: &str = include_str!("fixtures/togetherai/completions_response.json");
const COMPLETION_STREAM_UP: &str = include_str!("fixtures/togetherai/completions_stream.txt");
const EMB_UP: &str = include_str!("fixtures/togetherai/embeddings_response.json");

const CHAT_MODEL: &str = "mistralai/Mixtral-8x7B-Instruct-v0.1";
const HI: &str = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
const HI_STREAM: &str = r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#;

async fn start() -> (TestGateway, Upstream) {
    let up = Upstream::start().await;
    let gw = TestGateway::start(&CONFIG.replace("{UP}", &up.base)).await;
    (gw, up)
}

fn assert_auth(r: &scripted_upstream::Recorded) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("authorization"), Some("Bearer tg-test-key"));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn chat_plain() {
    let (gw, up) = start().await;
    up.on(
        "/v1/chat/completions",
        Answer::raw(200, "application/json", CHAT_UP),
    );
    let r = gw.post("/gateway/t-chat/invocations", HI).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The configured model is reported; finish_reason is kept (MLflow answers null).
    assert_eq!(
        r.body,
        r#"{"id":"8448080b880415ea-SJC","object":"chat.completion","created":1705090115,"model":"mistralai/Mixtral-8x7B-Instruct-v0.1","choices":[{"index":0,"message":{"role":"assistant","content":"example","tool_calls":null,"refusal":null},"finish_reason":"eos"}],"usage":{"prompt_tokens":31,"completion_tokens":455,"total_tokens":486},"provider":"togetherai"}"#
    );
    let req = up.one();
    assert_eq!(req.path, "/v1/chat/completions");
    assert_auth(&req);
    assert_eq!(
        req.json(),
        json!({"model":CHAT_MODEL,"n":1,"messages":[{"role":"user","content":"hi"}]})
    );
}

#[tokio::test]
async fn chat_all_parameters_tools_and_logprobs() {
    let (gw, up) = start().await;
    up.on(
        "/v1/chat/completions",
        Answer::raw(200, "application/json", TOOLS_UP),
    );
    let body = json!({
        "messages":[{"role":"system","content":"s"},{"role":"user","content":"weather?"}],
        "temperature":0.7,"top_p":0.8,"top_k":40,"max_tokens":64,"stop":["</s>"],
        "presence_penalty":0.5,"frequency_penalty":0.25,"repetition_penalty":1.1,"top_logprobs":2,
        "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
        "tool_choice":{"type":"function","function":{"name":"get_weather"}}
    });
    let r = gw
        .post("/gateway/t-chat/invocations", &body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["choices"][0],
        json!({"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}],
            "refusal":null},"finish_reason":"tool_calls"})
    );
    // Temperature unchanged; top_logprobs renamed logprobs (Together's name).
    assert_eq!(
        up.one().json(),
        json!({"model":CHAT_MODEL,"n":1,"stop":["</s>"],"max_tokens":64,"temperature":0.7,"top_p":0.8,
            "top_k":40,"presence_penalty":0.5,"frequency_penalty":0.25,
            "messages":[{"role":"system","content":"s"},{"role":"user","content":"weather?"}],
            "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
            "tool_choice":{"type":"function","function":{"name":"get_weather"}},
            "logprobs":2,"repetition_penalty":1.1})
    );
}

#[tokio::test]
async fn parameter_checks_are_mlflows() {
    let (gw, up) = start().await;
    let cases = [
        (
            "/gateway/t-completions/invocations",
            r#"{"prompt":"p"}"#,
            "max_tokens is not present in payload.It is a required parameter for TogetherAI completions.",
        ),
        (
            "/gateway/t-completions/invocations",
            r#"{"prompt":"p","max_tokens":5,"logprobs":true}"#,
            "Wrong type for logprobs. It should be an 32bit integer.",
        ),
        (
            "/gateway/t-chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"top_logprobs":"x"}"#,
            "Wrong type for top_logprobs. It should a 32bit integer.",
        ),
        (
            "/gateway/t-completions/invocations",
            r#"{"prompt":"p","stream":true}"#,
            "max_tokens is not present in payload.It is a required parameter for TogetherAI completions.",
        ),
    ];
    for (path, body, detail) in cases {
        let r = gw.post(path, body).await;
        assert_eq!(
            (r.status, r.json()),
            (422, json!({ "detail": detail })),
            "{body}"
        );
    }
    assert!(up.take().is_empty());
}

#[tokio::test]
async fn chat_stream() {
    let (gw, up) = start().await;
    let (a, b) = CHAT_STREAM_UP.split_at(101);
    up.on("/v1/chat/completions", Answer::sse(&[a, b]));
    let r = gw.post("/gateway/t-chat/invocations", HI_STREAM).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.sse_data(),
        vec![
            r#"{"id":"86f2cfd18f6b38ca-ATH","object":"chat.completion.chunk","created":1712249578,"model":"mistralai/Mixtral-8x7B-Instruct-v0.1","choices":[{"index":0,"finish_reason":null,"delta":{"role":null,"content":" The","tool_calls":null}}],"usage":null,"provider":"togetherai"}"#,
            r#"{"id":"86f2cfd18f6b38ca-ATH","object":"chat.completion.chunk","created":1712249578,"model":"mistralai/Mixtral-8x7B-Instruct-v0.1","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":" City","tool_calls":null}}],"usage":null,"provider":"togetherai"}"#,
            r#"{"id":"86f2cfd18f6b38ca-ATH","object":"chat.completion.chunk","created":1712249578,"model":"mistralai/Mixtral-8x7B-Instruct-v0.1","choices":[{"index":0,"finish_reason":"length","delta":{"role":null,"content":" Paris","tool_calls":null}}],"usage":{"prompt_tokens":93,"completion_tokens":100,"total_tokens":193},"provider":"togetherai"}"#,
            "[DONE]",
        ]
    );
    let sent = up.one().json();
    assert_eq!(
        sent,
        json!({"model":CHAT_MODEL,"n":1,"stream":true,"messages":[{"role":"user","content":"hi"}]})
    );
}

#[tokio::test]
async fn completions_and_stream() {
    let (gw, up) = start().await;
    up.on(
        "/v1/completions",
        Answer::raw(200, "application/json", COMPLETION_UP),
    );
    let r = gw
        .post(
            "/gateway/t-completions/invocations",
            r#"{"prompt":"Once","max_tokens":200,"temperature":1.2,"stop":["."],"n":1}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        r#"{"id":"8447f286bbdb67b3-SJC","object":"text_completion","created":1705089226,"model":"mistralai/Mixtral-8x7B-v0.1","choices":[{"index":0,"text":"Example text.","finish_reason":"length"}],"usage":{"prompt_tokens":16,"completion_tokens":78,"total_tokens":94}}"#
    );
    let req = up.one();
    assert_eq!(req.path, "/v1/completions");
    assert_auth(&req);
    assert_eq!(
        req.json(),
        json!({"model":"mistralai/Mixtral-8x7B-v0.1","n":1,"stop":["."],"max_tokens":200,"temperature":1.2,"prompt":"Once"})
    );

    up.on("/v1/completions", Answer::sse(&[COMPLETION_STREAM_UP]));
    let r = gw
        .post(
            "/v1/completions",
            r#"{"model":"t-completions","prompt":"Once","max_tokens":200,"stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.sse_data();
    assert_eq!(events.len(), 4);
    assert_eq!(
        events[1],
        r#"{"id":"86d8d6e06df86f61-ATH","object":"text_completion_chunk","created":1711977238,"model":"mistralai/Mixtral-8x7B-v0.1","choices":[{"index":0,"finish_reason":null,"text":" \""}],"usage":null}"#
    );
    let last: Value = serde_json::from_str(&events[2]).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert_eq!(events[3], "[DONE]");
    let sent = up.one().json();
    assert_eq!(sent["stream"], json!(true));
    assert!(sent.get("stream_options").is_none());
}

#[tokio::test]
async fn embeddings_send_the_configured_model() {
    let (gw, up) = start().await;
    up.on(
        "/v1/embeddings",
        Answer::raw(200, "application/json", EMB_UP),
    );
    let r = gw
        .post(
            "/gateway/t-embeddings/invocations",
            r#"{"input":"Our solar system"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        r#"{"object":"list","data":[{"object":"embedding","embedding":[0.44990748,-0.2521129,-0.43091708],"index":0}],"model":"togethercomputer/m2-bert-80M-8k-retrieval","usage":{"prompt_tokens":null,"total_tokens":null}}"#
    );
    let req = up.one();
    assert_eq!(req.path, "/v1/embeddings");
    assert_auth(&req);
    assert_eq!(
        req.json(),
        json!({"model":"togethercomputer/m2-bert-80M-8k-retrieval","input":"Our solar system"})
    );
}

#[tokio::test]
async fn errors_and_broken_streams() {
    let (gw, up) = start().await;
    up.on(
        "/v1/chat/completions",
        Answer::raw(
            401,
            "application/json",
            r#"{"id":"x","error":{"message":"Invalid API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        ),
    );
    let r = gw.post("/gateway/t-chat/invocations", HI).await;
    assert_eq!(
        (r.status, r.json()),
        (401, json!({"detail":"Invalid API key provided"}))
    );
    let r = gw.post("/gateway/t-chat/invocations", HI_STREAM).await;
    assert_eq!(r.status, 401);

    up.on(
        "/v1/completions",
        Answer::raw(503, "text/plain", "model is loading"),
    );
    let r = gw
        .post(
            "/gateway/t-completions/invocations",
            r#"{"prompt":"p","max_tokens":3}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (503, json!({"detail":{"message":"model is loading"}}))
    );

    let first = CHAT_STREAM_UP.split("\n\n").next().unwrap().to_owned() + "\n\n";
    up.on(
        "/v1/chat/completions",
        Answer::sse(&[
            &first,
            "data: {\"error\":{\"message\":\"server overloaded\"}}\n\n",
        ]),
    );
    let r = gw.post("/gateway/t-chat/invocations", HI_STREAM).await;
    assert_eq!(r.status, 200);
    let events = r.sse_data();
    assert_eq!(events.len(), 2);
    assert!(events[1].contains("server overloaded"), "{}", events[1]);

    up.on("/v1/chat/completions", Answer::sse(&[&first]));
    let r = gw.post("/gateway/t-chat/invocations", HI_STREAM).await;
    let events = r.sse_data();
    assert_eq!(events.len(), 2);
    assert!(events[1].contains("\"error\""), "{}", events[1]);

    up.on("/v1/chat/completions", Answer::sse(&[""]));
    let r = gw.post("/gateway/t-chat/invocations", HI_STREAM).await;
    assert_eq!(r.status, 502, "{}", r.body);
}

#[tokio::test]
async fn grpc_surface() {
    let (gw, up) = start().await;
    let channel = gw.channel().await;
    let req = pb::ChatRequest {
        endpoint: "t-chat".into(),
        messages: vec![pb::Message {
            role: "user".into(),
            content: Some("hi".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut chat = ChatServiceClient::new(channel.clone());
    up.on(
        "/v1/chat/completions",
        Answer::raw(200, "application/json", CHAT_UP),
    );
    let resp = chat.chat(req.clone()).await.unwrap().into_inner();
    assert_eq!(
        (resp.provider.as_str(), resp.model.as_str()),
        ("togetherai", CHAT_MODEL)
    );
    up.on("/v1/chat/completions", Answer::sse(&[CHAT_STREAM_UP]));
    let chunks: Vec<_> = chat
        .stream_chat(req)
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(chunks.len(), 3);
    assert!(chunks.iter().all(Result::is_ok));

    let mut completions = CompletionsServiceClient::new(channel.clone());
    let creq = pb::CompletionRequest {
        endpoint: "t-completions".into(),
        prompt: "p".into(),
        ..Default::default()
    };
    let err = completions.complete(creq.clone()).await.unwrap_err();
    assert_eq!(
        err.code(),
        tonic::Code::InvalidArgument,
        "{}",
        err.message()
    );
    up.on("/v1/completions", Answer::sse(&[COMPLETION_STREAM_UP]));
    let chunks: Vec<_> = completions
        .stream_complete(pb::CompletionRequest {
            max_tokens: Some(3),
            ..creq
        })
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    let text: String = chunks
        .iter()
        .map(|c| c.as_ref().unwrap().choices[0].text.clone())
        .collect();
    assert_eq!(text, "    \"name");

    up.on(
        "/v1/embeddings",
        Answer::raw(200, "application/json", EMB_UP),
    );
    let resp = EmbeddingsServiceClient::new(channel)
        .embed(pb::EmbedRequest {
            endpoint: "t-embeddings".into(),
            texts: vec!["a".into(), "b".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.data[0].values.len(), 3);
    up.take();
}
