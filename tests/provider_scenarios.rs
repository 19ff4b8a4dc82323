//! The scenario suite every provider instantiates: behaviours that must hold whatever the
//! upstream's dialect, checked on the MLflow REST surface and over gRPC.
//!
//! 1. calls the provider lacks answer MLflow's 501 text / `UNIMPLEMENTED`, without an upstream call;
//! 2. an upstream error status passes through with its message / the matching gRPC code;
//! 3. an upstream that echoes what it received (headers and body) never gets a configured secret
//!    back to the client;
//! 4. an unreachable upstream is a 502 / `UNAVAILABLE`;
//! 5. an upstream slower than the endpoint's timeout is a 504 / `DEADLINE_EXCEEDED`.
//!
//! The upstream is one generic fault mock (it needs no dialect to fail); it also serves an OAuth
//! token endpoint so Vertex AI can authenticate against it. Each provider's own dialect — request
//! bodies, answers, streams — is tested in its `tests/provider_<name>.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::TestGateway;
use llm_gateway::pb::v1 as pb;

#[derive(Clone, Copy, PartialEq)]
enum Call {
    Chat,
    ChatStream,
    Completions,
    CompletionsStream,
    Embeddings,
}

const ALL: [Call; 5] = [
    Call::Chat,
    Call::ChatStream,
    Call::Completions,
    Call::CompletionsStream,
    Call::Embeddings,
];

impl Call {
    fn route(self) -> &'static str {
        match self {
            Call::Chat => "chat",
            Call::ChatStream => "chat streaming",
            Call::Completions => "completions",
            Call::CompletionsStream => "completions streaming",
            Call::Embeddings => "embeddings",
        }
    }
    fn endpoint(self) -> &'static str {
        match self {
            Call::Chat | Call::ChatStream => "chat",
            Call::Completions | Call::CompletionsStream => "completions",
            Call::Embeddings => "embeddings",
        }
    }
    fn body(self) -> &'static str {
        match self {
            Call::Chat => r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            Call::ChatStream => r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#,
            Call::Completions => r#"{"prompt":"hi","max_tokens":5}"#,
            Call::CompletionsStream => r#"{"prompt":"hi","max_tokens":5,"stream":true}"#,
            Call::Embeddings => r#"{"input":["hi"]}"#,
        }
    }
}

/// One provider under the suite.
struct Case {
    /// MLflow's display name, as in its 501 messages.
    display: &'static str,
    /// The `model:` mapping (flow style) of an endpoint of `endpoint_type` whose upstream is `base`.
    model: fn(endpoint_type: &str, base: &str, key_file: &str) -> String,
    /// The calls it serves.
    supports: &'static [Call],
    /// Every secret its config holds.
    secrets: &'static [&'static str],
    /// The header that carries its credentials, if any.
    auth: Option<&'static str>,
    /// For each call it serves, a fragment the upstream request's path must contain.
    paths: &'static [(Call, &'static str)],
}

impl Case {
    fn first_call(&self) -> Call {
        *self
            .supports
            .iter()
            .find(|c| matches!(c, Call::Chat | Call::Completions | Call::Embeddings))
            .unwrap()
    }

    /// Three endpoints (chat, completions, embeddings) on `base`, with a short timeout.
    fn config(&self, base: &str, key_file: &str) -> String {
        let mut yaml = String::from("endpoints:\n");
        for (name, ty) in [
            ("chat", "llm/v1/chat"),
            ("completions", "llm/v1/completions"),
            ("embeddings", "llm/v1/embeddings"),
        ] {
            yaml.push_str(&format!(
                "  - name: {name}\n    endpoint_type: {ty}\n    model: {}\n    timeouts: {{total_seconds: 0.5}}\n",
                (self.model)(ty, base, key_file)
            ));
        }
        yaml
    }
}

// ---------------------------------------------------------------------------------------------
// The generic fault mock

#[derive(Clone, Copy)]
enum Fault {
    /// 503 with an OpenAI-style error message.
    Unavailable,
    /// 401 whose message repeats every header and the body it received.
    Echo,
    /// Answers after 5 s (beyond every endpoint timeout of the suite).
    Slow,
}

struct Mock {
    fault: Fault,
    calls: AtomicUsize,
    /// (path and query, header names, body) of every API request (token requests excluded).
    seen: std::sync::Mutex<Vec<(String, Vec<String>, String)>>,
}

async fn handle(State(m): State<Arc<Mock>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if uri.path().ends_with("/token") {
        let token = r#"{"access_token":"ya29.scenario","expires_in":3600,"token_type":"Bearer"}"#;
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            token,
        )
            .into_response();
    }
    m.calls.fetch_add(1, Ordering::SeqCst);
    m.seen.lock().unwrap().push((
        uri.path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers.keys().map(|k| k.as_str().to_owned()).collect(),
        String::from_utf8_lossy(&body).into_owned(),
    ));
    match m.fault {
        Fault::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/json")],
            r#"{"error":{"message":"overloaded upstream","type":"server_error"},"message":"overloaded upstream"}"#,
        )
            .into_response(),
        Fault::Echo => {
            let seen: Vec<String> = headers
                .iter()
                .map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v.as_bytes())))
                .collect();
            let message = format!(
                "rejected; headers: {}; body: {}",
                seen.join(" "),
                String::from_utf8_lossy(&body)
            );
            let json = serde_json::json!({"error": {"message": message}, "message": message});
            (
                StatusCode::UNAUTHORIZED,
                [("content-type", "application/json")],
                json.to_string(),
            )
                .into_response()
        }
        Fault::Slow => {
            // The delay is the behaviour under test: the gateway must give up first.
            tokio::time::sleep(Duration::from_secs(5)).await;
            (StatusCode::OK, [("content-type", "application/json")], "{}").into_response()
        }
    }
}

async fn start_mock(fault: Fault) -> (String, Arc<Mock>) {
    let mock = Arc::new(Mock {
        fault,
        calls: AtomicUsize::new(0),
        seen: std::sync::Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(handle).with_state(mock.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), mock)
}

/// A service-account key for Vertex AI whose token endpoint is `{base}/token`.
fn key_file(dir: &tempfile::TempDir, base: &str) -> String {
    let key = serde_json::json!({
        "type": "service_account",
        "project_id": "scenario",
        "private_key_id": "scenario-key",
        "private_key": include_str!("fixtures/vertex/test-only-private-key.pem"),
        "client_email": "gateway@scenario.iam.gserviceaccount.com",
        "token_uri": format!("{base}/token"),
    });
    let path = dir.path().join("sa.json");
    std::fs::write(&path, key.to_string()).unwrap();
    path.display().to_string()
}

async fn gateway(case: &Case, base: &str) -> (TestGateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(&dir, base);
    (TestGateway::start(&case.config(base, &key)).await, dir)
}

/// A gRPC call of `call`'s kind; for streams, the opening status.
async fn grpc(gw: &TestGateway, call: Call) -> Result<(), tonic::Status> {
    let channel = gw.channel().await;
    let chat = || pb::ChatRequest {
        endpoint: "chat".into(),
        messages: vec![pb::Message {
            role: "user".into(),
            content: Some("hi".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let completion = || pb::CompletionRequest {
        endpoint: "completions".into(),
        prompt: "hi".into(),
        max_tokens: Some(5),
        ..Default::default()
    };
    match call {
        Call::Chat => pb::chat_service_client::ChatServiceClient::new(channel)
            .chat(chat())
            .await
            .map(drop),
        Call::ChatStream => pb::chat_service_client::ChatServiceClient::new(channel)
            .stream_chat(chat())
            .await
            .map(drop),
        Call::Completions => pb::completions_service_client::CompletionsServiceClient::new(channel)
            .complete(completion())
            .await
            .map(drop),
        Call::CompletionsStream => {
            pb::completions_service_client::CompletionsServiceClient::new(channel)
                .stream_complete(completion())
                .await
                .map(drop)
        }
        Call::Embeddings => pb::embeddings_service_client::EmbeddingsServiceClient::new(channel)
            .embed(pb::EmbedRequest {
                endpoint: "embeddings".into(),
                texts: vec!["hi".into()],
                ..Default::default()
            })
            .await
            .map(drop),
    }
}

async fn rest(gw: &TestGateway, call: Call) -> common::Reply {
    gw.post(
        &format!("/gateway/{}/invocations", call.endpoint()),
        call.body(),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// The scenarios

async fn unsupported_calls_are_501(case: &Case) {
    let (base, mock) = start_mock(Fault::Unavailable).await;
    let (gw, _dir) = gateway(case, &base).await;
    for call in ALL.into_iter().filter(|c| !case.supports.contains(c)) {
        let want = format!(
            "The {} route is not implemented for {} models.",
            call.route(),
            case.display
        );
        let r = rest(&gw, call).await;
        assert_eq!(r.status, 501, "{}: {}", call.route(), r.body);
        assert_eq!(r.json()["detail"], want.as_str());
        let status = grpc(&gw, call).await.unwrap_err();
        assert_eq!(
            status.code(),
            tonic::Code::Unimplemented,
            "{}",
            call.route()
        );
        assert_eq!(status.message(), want);
    }
    assert_eq!(
        mock.calls.load(Ordering::SeqCst),
        0,
        "a 501 reached upstream"
    );
}

async fn upstream_errors_pass_through(case: &Case) {
    let (base, mock) = start_mock(Fault::Unavailable).await;
    let (gw, _dir) = gateway(case, &base).await;
    let call = case.first_call();
    let r = rest(&gw, call).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("overloaded upstream"), "{}", r.body);
    let status = grpc(&gw, call).await.unwrap_err();
    assert_eq!(
        status.code(),
        tonic::Code::Unavailable,
        "{}",
        status.message()
    );
    assert!(mock.calls.load(Ordering::SeqCst) >= 2);
}

async fn secrets_never_reach_the_client(case: &Case) {
    let (base, _mock) = start_mock(Fault::Echo).await;
    let (gw, _dir) = gateway(case, &base).await;
    for call in case.supports.iter().copied() {
        let r = rest(&gw, call).await;
        assert!(r.status >= 400, "{}: {}", call.route(), r.body);
        let grpc_message = grpc(&gw, call)
            .await
            .err()
            .map(|s| s.message().to_owned())
            .unwrap_or_default();
        for secret in case.secrets {
            assert!(!r.body.contains(secret), "{secret} leaked: {}", r.body);
            assert!(
                !grpc_message.contains(secret),
                "{secret} leaked: {grpc_message}"
            );
        }
    }
}

async fn unreachable_upstream_is_502(case: &Case) {
    let (gw, _dir) = gateway(case, "http://127.0.0.1:9").await;
    let call = case.first_call();
    let r = rest(&gw, call).await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.json()["detail"].is_string(), "{}", r.body);
    let status = grpc(&gw, call).await.unwrap_err();
    assert_eq!(
        status.code(),
        tonic::Code::Unavailable,
        "{}",
        status.message()
    );
}

async fn slow_upstream_is_504(case: &Case) {
    let (base, _mock) = start_mock(Fault::Slow).await;
    let (gw, _dir) = gateway(case, &base).await;
    let call = case.first_call();
    let r = rest(&gw, call).await;
    assert_eq!(r.status, 504, "{}", r.body);
    let status = grpc(&gw, call).await.unwrap_err();
    assert_eq!(
        status.code(),
        tonic::Code::DeadlineExceeded,
        "{}",
        status.message()
    );
}

async fn upstream_requests_are_addressed_and_authenticated(case: &Case) {
    let (base, mock) = start_mock(Fault::Unavailable).await;
    let (gw, _dir) = gateway(case, &base).await;
    for call in case.supports.iter().copied() {
        let (_, fragment) = case
            .paths
            .iter()
            .find(|(c, _)| *c == call)
            .unwrap_or_else(|| panic!("no expected path for {}", call.route()));
        mock.seen.lock().unwrap().clear();
        rest(&gw, call).await;
        let seen = mock.seen.lock().unwrap().clone();
        let (path, headers, body) = seen
            .first()
            .unwrap_or_else(|| panic!("{}: nothing reached the upstream", call.route()));
        assert!(
            path.contains(fragment),
            "{}: {path} lacks {fragment}",
            call.route()
        );
        if let Some(auth) = case.auth {
            assert!(
                headers.iter().any(|h| h == auth),
                "{}: no {auth} in {headers:?}",
                call.route()
            );
        }
        assert!(
            body.contains("hi"),
            "{}: the prompt is not in {body}",
            call.route()
        );
    }
}

macro_rules! scenarios {
    ($($name:ident => $case:expr),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test]
            async fn unsupported_calls_are_501() { super::unsupported_calls_are_501(&$case).await }
            #[tokio::test]
            async fn upstream_errors_pass_through() { super::upstream_errors_pass_through(&$case).await }
            #[tokio::test]
            async fn secrets_never_reach_the_client() { super::secrets_never_reach_the_client(&$case).await }
            #[tokio::test]
            async fn unreachable_upstream_is_502() { super::unreachable_upstream_is_502(&$case).await }
            #[tokio::test]
            async fn slow_upstream_is_504() { super::slow_upstream_is_504(&$case).await }
            #[tokio::test]
            async fn upstream_requests_are_addressed_and_authenticated() {
                super::upstream_requests_are_addressed_and_authenticated(&$case).await
            }
        }
    )*};
}

// ---------------------------------------------------------------------------------------------
// The providers

use Call::{Chat, ChatStream, Completions, CompletionsStream, Embeddings};

const EVERYTHING: &[Call] = &[Chat, ChatStream, Completions, CompletionsStream, Embeddings];
const OPENAI_COMPATIBLE: &[Call] = &[Chat, ChatStream, Embeddings];

fn compatible(provider: &'static str) -> fn(&str, &str, &str) -> String {
    // One function per provider name keeps `Case` a plain const.
    match provider {
        "groq" => |_, b, _| {
            format!(
                "{{provider: groq, name: m, config: {{api_key: cmp-scn-secret, api_base: \"{b}/v1\"}}}}"
            )
        },
        "deepseek" => |_, b, _| {
            format!(
                "{{provider: deepseek, name: m, config: {{api_key: cmp-scn-secret, api_base: \"{b}/v1\"}}}}"
            )
        },
        "xai" => |_, b, _| {
            format!(
                "{{provider: xai, name: m, config: {{api_key: cmp-scn-secret, api_base: \"{b}/v1\"}}}}"
            )
        },
        "openrouter" => |_, b, _| {
            format!(
                "{{provider: openrouter, name: m, config: {{api_key: cmp-scn-secret, api_base: \"{b}/v1\"}}}}"
            )
        },
        "ollama" => |_, b, _| {
            format!(
                "{{provider: ollama, name: m, config: {{api_key: cmp-scn-secret, api_base: \"{b}/v1\"}}}}"
            )
        },
        _ => unreachable!(),
    }
}

scenarios! {
    openai => Case {
        display: "OpenAI",
        model: |_, b, _| format!("{{provider: openai, name: gpt-4o-mini, config: {{openai_api_key: sk-scn-secret, openai_api_base: \"{b}/v1\", openai_organization: org-1}}}}"),
        supports: EVERYTHING,
        auth: Some("authorization"),
        paths: &[(Chat, "/v1/chat/completions"), (ChatStream, "/v1/chat/completions"), (Completions, "/v1/completions"), (CompletionsStream, "/v1/completions"), (Embeddings, "/v1/embeddings")],
        secrets: &["sk-scn-secret"],
    },
    azure => Case {
        display: "OpenAI",
        model: |_, b, _| format!("{{provider: azure, name: gpt-4o, config: {{openai_api_type: azure, openai_api_key: az-scn-secret, openai_api_base: \"{b}\", openai_deployment_name: dep, openai_api_version: \"2024-02-01\"}}}}"),
        supports: EVERYTHING,
        auth: Some("api-key"),
        paths: &[(Chat, "/openai/deployments/dep/chat/completions"), (ChatStream, "/openai/deployments/dep/chat/completions"), (Completions, "/openai/deployments/dep/completions"), (CompletionsStream, "/openai/deployments/dep/completions"), (Embeddings, "/openai/deployments/dep/embeddings")],
        secrets: &["az-scn-secret"],
    },
    groq => Case { display: "Groq", model: compatible("groq"), supports: OPENAI_COMPATIBLE, auth: Some("authorization"),
        paths: &[(Chat, "/v1/chat/completions"), (ChatStream, "/v1/chat/completions"), (Embeddings, "/v1/embeddings")],
        secrets: &["cmp-scn-secret"] },
    deepseek => Case { display: "DeepSeek", model: compatible("deepseek"), supports: OPENAI_COMPATIBLE, auth: Some("authorization"),
        paths: &[(Chat, "/v1/chat/completions"), (ChatStream, "/v1/chat/completions"), (Embeddings, "/v1/embeddings")],
        secrets: &["cmp-scn-secret"] },
    xai => Case { display: "xAI", model: compatible("xai"), supports: OPENAI_COMPATIBLE, auth: Some("authorization"),
        paths: &[(Chat, "/v1/chat/completions"), (ChatStream, "/v1/chat/completions"), (Embeddings, "/v1/embeddings")],
        secrets: &["cmp-scn-secret"] },
    openrouter => Case { display: "OpenRouter", model: compatible("openrouter"), supports: OPENAI_COMPATIBLE, auth: Some("authorization"),
        paths: &[(Chat, "/v1/chat/completions"), (ChatStream, "/v1/chat/completions"), (Embeddings, "/v1/embeddings")],
        secrets: &["cmp-scn-secret"] },
    ollama => Case { display: "Ollama", model: compatible("ollama"), supports: OPENAI_COMPATIBLE, auth: Some("authorization"),
        paths: &[(Chat, "/v1/chat/completions"), (ChatStream, "/v1/chat/completions"), (Embeddings, "/v1/embeddings")],
        secrets: &["cmp-scn-secret"] },
    portkey => Case {
        display: "Portkey",
        model: |_, b, _| format!("{{provider: portkey, name: m, config: {{api_key: pk-scn-secret, provider_api_key: pv-scn-secret, portkey_provider: openai, api_base: \"{b}/v1\"}}}}"),
        supports: OPENAI_COMPATIBLE,
        auth: Some("x-portkey-api-key"),
        paths: &[(Chat, "/v1/chat/completions"), (ChatStream, "/v1/chat/completions"), (Embeddings, "/v1/embeddings")],
        secrets: &["pk-scn-secret", "pv-scn-secret"],
    },
    databricks => Case {
        display: "Databricks",
        model: |_, b, _| format!("{{provider: databricks, name: m, config: {{host: \"{b}\", token: dapi-scn-secret}}}}"),
        supports: OPENAI_COMPATIBLE,
        auth: Some("authorization"),
        paths: &[(Chat, "/serving-endpoints/chat/completions"), (ChatStream, "/serving-endpoints/chat/completions"), (Embeddings, "/serving-endpoints/embeddings")],
        secrets: &["dapi-scn-secret"],
    },
    anthropic => Case {
        display: "Anthropic",
        model: |_, b, _| format!("{{provider: anthropic, name: claude-3-5-sonnet-latest, config: {{anthropic_api_key: ant-scn-secret, anthropic_api_base: \"{b}/v1\"}}}}"),
        supports: &[Chat, ChatStream, Completions],
        auth: Some("x-api-key"),
        paths: &[(Chat, "/v1/messages"), (ChatStream, "/v1/messages"), (Completions, "/v1/complete")],
        secrets: &["ant-scn-secret"],
    },
    gemini => Case {
        display: "Gemini",
        model: |_, b, _| format!("{{provider: gemini, name: gemini-2.0-flash, config: {{gemini_api_key: gem-scn-secret, gemini_api_base: \"{b}/v1beta/models\"}}}}"),
        supports: EVERYTHING,
        auth: Some("x-goog-api-key"),
        paths: &[(Chat, "/models/gemini-2.0-flash:generateContent"), (ChatStream, "/models/gemini-2.0-flash:streamGenerateContent"), (Completions, "/models/gemini-2.0-flash:generateContent"), (CompletionsStream, "/models/gemini-2.0-flash:streamGenerateContent"), (Embeddings, "/models/gemini-2.0-flash:")],
        secrets: &["gem-scn-secret"],
    },
    vertex_ai => Case {
        display: "Vertex AI",
        model: |_, b, k| format!("{{provider: vertex_ai, name: gemini-1.5-pro, config: {{vertex_project: p, vertex_location: us-central1, vertex_credentials: \"{k}\", vertex_api_base: \"{b}\"}}}}"),
        supports: EVERYTHING,
        auth: Some("authorization"),
        paths: &[(Chat, "/publishers/google/models/gemini-1.5-pro:generateContent"), (ChatStream, "/publishers/google/models/gemini-1.5-pro:streamGenerateContent"), (Completions, "/publishers/google/models/gemini-1.5-pro:generateContent"), (CompletionsStream, "/publishers/google/models/gemini-1.5-pro:streamGenerateContent"), (Embeddings, "/publishers/google/models/gemini-1.5-pro:")],
        secrets: &["ya29.scenario", "BEGIN PRIVATE KEY"],
    },
    bedrock => Case {
        display: "Amazon Bedrock",
        model: |ty, b, _| {
            let name = if ty.ends_with("embeddings") { "amazon.titan-embed-text-v2:0" } else { "anthropic.claude-3-haiku-20240307-v1:0" };
            format!("{{provider: bedrock, name: \"{name}\", config: {{bedrock_api_base: \"{b}\", aws_config: {{aws_region: us-east-1, aws_access_key_id: AKIDSCENARIO, aws_secret_access_key: aws-scn-secret, aws_session_token: aws-scn-session}}}}}}")
        },
        supports: &[Chat, ChatStream, Completions, Embeddings],
        auth: Some("authorization"),
        paths: &[(Chat, "/converse"), (ChatStream, "/converse-stream"), (Completions, "/invoke"), (Embeddings, "/model/amazon.titan-embed-text-v2")],
        secrets: &["aws-scn-secret", "aws-scn-session"],
    },
    mistral => Case {
        display: "Mistral",
        model: |_, b, _| format!("{{provider: mistral, name: mistral-small, config: {{mistral_api_key: mis-scn-secret, mistral_api_base: \"{b}/v1\"}}}}"),
        supports: &[Chat, ChatStream, Completions, Embeddings],
        auth: Some("authorization"),
        paths: &[(Chat, "/v1/chat/completions"), (ChatStream, "/v1/chat/completions"), (Completions, "/v1/chat/completions"), (Embeddings, "/v1/embeddings")],
        secrets: &["mis-scn-secret"],
    },
    togetherai => Case {
        display: "TogetherAI",
        model: |_, b, _| format!("{{provider: togetherai, name: m, config: {{togetherai_api_key: tog-scn-secret, togetherai_api_base: \"{b}/v1\"}}}}"),
        supports: EVERYTHING,
        auth: Some("authorization"),
        paths: &[(Chat, "/v1/chat/completions"), (ChatStream, "/v1/chat/completions"), (Completions, "/v1/completions"), (CompletionsStream, "/v1/completions"), (Embeddings, "/v1/embeddings")],
        secrets: &["tog-scn-secret"],
    },
    cohere => Case {
        display: "Cohere",
        model: |_, b, _| format!("{{provider: cohere, name: command, config: {{cohere_api_key: coh-scn-secret, cohere_api_base: \"{b}/v1\"}}}}"),
        supports: EVERYTHING,
        auth: Some("authorization"),
        paths: &[(Chat, "/v1/chat"), (ChatStream, "/v1/chat"), (Completions, "/v1/generate"), (CompletionsStream, "/v1/generate"), (Embeddings, "/v1/embed")],
        secrets: &["coh-scn-secret"],
    },
    palm => Case {
        display: "PaLM",
        model: |_, b, _| format!("{{provider: palm, name: text-bison-001, config: {{palm_api_key: palm-scn-secret, palm_api_base: \"{b}/v1beta3/models\"}}}}"),
        supports: &[Chat, Completions, Embeddings],
        auth: Some("x-goog-api-key"),
        paths: &[(Chat, "text-bison-001:generateMessage"), (Completions, "text-bison-001:generateText"), (Embeddings, "text-bison-001:")],
        secrets: &["palm-scn-secret"],
    },
    mosaicml => Case {
        display: "MosaicML",
        model: |_, b, _| format!("{{provider: mosaicml, name: llama2-70b-chat, config: {{mosaicml_api_key: mos-scn-secret, mosaicml_api_base: \"{b}\"}}}}"),
        supports: &[Chat, Completions, Embeddings],
        auth: Some("authorization"),
        paths: &[(Chat, "/llama2-70b-chat/v1/predict"), (Completions, "/llama2-70b-chat/v1/predict"), (Embeddings, "/llama2-70b-chat/v1/predict")],
        secrets: &["mos-scn-secret"],
    },
    ai21labs => Case {
        display: "AI21Labs",
        model: |_, b, _| format!("{{provider: ai21labs, name: j2-mid, config: {{ai21labs_api_key: a21-scn-secret, ai21labs_api_base: \"{b}/studio/v1\"}}}}"),
        supports: &[Completions],
        auth: Some("authorization"),
        paths: &[(Completions, "/studio/v1/j2-mid/complete")],
        secrets: &["a21-scn-secret"],
    },
    mlflow_model_serving => Case {
        display: "MLflow Model Serving",
        model: |_, b, _| format!("{{provider: mlflow-model-serving, name: m, config: {{model_server_url: \"{b}\"}}}}"),
        supports: &[Chat, Completions, Embeddings],
        auth: None,
        paths: &[(Chat, "/invocations"), (Completions, "/invocations"), (Embeddings, "/invocations")],
        secrets: &[],
    },
    huggingface_tgi => Case {
        display: "Hugging Face Text Generation Inference",
        model: |_, b, _| format!("{{provider: huggingface-text-generation-inference, name: m, config: {{hf_server_url: \"{b}\"}}}}"),
        supports: &[Completions],
        auth: None,
        paths: &[(Completions, "/generate")],
        secrets: &[],
    },
}
