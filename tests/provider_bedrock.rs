//! The Amazon Bedrock provider end to end (spec §3.7): the gateway on 127.0.0.1:0 in front of a
//! small scripted Bedrock runtime (Converse, ConverseStream as AWS event-stream frames sent in
//! small pieces, InvokeModel) and STS, driven through MLflow's REST routes, the
//! OpenAI-compatible routes and gRPC. Every upstream request is checked for path, body and
//! authorisation; SigV4 signatures are re-verified by the mock from the request it received.
//! The role and default-chain tests need environment variables, which a test cannot set in its
//! own process (`unsafe`), so they re-run this binary as a child process with them; the same
//! mock then also plays the container credentials endpoint and EC2 instance metadata (IMDSv2).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use common::TestGateway;
use futures::StreamExt;
use llm_gateway::pb::v1 as pb;
use pb::chat_service_client::ChatServiceClient;
use pb::embeddings_service_client::EmbeddingsServiceClient;
use serde_json::{Value, json};

const OBSERVED_REQUEST: &str = include_str!("fixtures/bedrock/converse_request_observed.json");
const TEXT_UP: &str = include_str!("fixtures/bedrock/converse_text_response.json");
const TOOLS_UP: &str = include_str!("fixtures/bedrock/converse_tools_response.json");
const TOOLS_REQUEST: &str = include_str!("fixtures/bedrock/converse_tools_request.json");
const STREAM_TEXT: &str = include_str!("fixtures/bedrock/converse_stream_text.json");
const STREAM_TOOLS: &str = include_str!("fixtures/bedrock/converse_stream_tools.json");
const STREAM_EXCEPTION: &str = include_str!("fixtures/bedrock/converse_stream_exception.json");
const TITAN_UP: &str = include_str!("fixtures/bedrock/invoke_titan_response.json");
const ANTHROPIC_UP: &str = include_str!("fixtures/bedrock/invoke_anthropic_response.json");
const EMBED_UP: &str = include_str!("fixtures/bedrock/invoke_embed_response.json");
const ERROR_UP: &str = include_str!("fixtures/bedrock/error_validation.json");
const STS_UP: &str = include_str!("fixtures/bedrock/sts_assume_role_response.xml");

const KEY_ID: &str = "AKIDTEST";
const SECRET: &str = "test-secret-key-1234";
const TOKEN: &str = "test-session-token-5678";
const BEARER: &str = "ABSKbedrock-api-key-9999";

const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const CLAUDE_PATH: &str = "anthropic.claude-3-haiku-20240307-v1%3A0";

fn keys_endpoint(name: &str, kind: &str, model: &str) -> String {
    format!(
        "  - name: {name}\n    endpoint_type: llm/v1/{kind}\n    model:\n      provider: bedrock\n      name: \"{model}\"\n      config:\n        bedrock_api_base: \"{{BR}}\"\n        aws_config: {{aws_region: us-east-1, aws_access_key_id: {KEY_ID}, aws_secret_access_key: {SECRET}, aws_session_token: {TOKEN}}}\n"
    )
}

fn config() -> String {
    let mut yaml = String::from("endpoints:\n");
    for (name, kind, model) in [
        ("chat", "chat", CLAUDE),
        ("tools", "chat", "us.anthropic.tools-v1:0"),
        ("err400", "chat", "amazon.err400"),
        ("echo-key", "chat", "amazon.echo-key"),
        ("stream-error", "chat", "amazon.stream-error"),
        ("error-first", "chat", "amazon.error-first"),
        ("cut", "chat", "amazon.cut"),
        ("empty", "chat", "amazon.empty"),
        ("titan", "completions", "amazon.titan-text-express-v1"),
        ("claude-complete", "completions", "anthropic.claude-v2"),
        ("unknown-family", "completions", "acme.model-1"),
        ("embeddings", "embeddings", "amazon.titan-embed-text-v1"),
    ] {
        yaml.push_str(&keys_endpoint(name, kind, model));
    }
    for (name, kind) in [("bearer", "chat"), ("bearer-embeddings", "embeddings")] {
        yaml.push_str(&format!(
            "  - name: {name}\n    endpoint_type: llm/v1/{kind}\n    model:\n      provider: amazon-bedrock\n      name: \"{CLAUDE}\"\n      config:\n        bedrock_api_base: \"{{BR}}\"\n        aws_config: {{aws_region: us-west-2, aws_bearer_token: {BEARER}}}\n"
        ));
    }
    yaml
}

// ---------------------------------------------------------------------------------------------
// The scripted Bedrock runtime (and STS)

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
struct Mock {
    log: Arc<Mutex<Vec<Recorded>>>,
    /// How often `/ecs/rotating` was asked.
    rotations: Arc<AtomicUsize>,
}

impl Mock {
    fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

fn answer(status: u16, content_type: &str, body: Vec<u8>, piece: usize) -> Response {
    let pieces: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(piece.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::from_stream(futures::stream::iter(pieces)))
        .unwrap()
}

fn json_answer(status: u16, body: &str) -> Response {
    answer(
        status,
        "application/json",
        body.as_bytes().to_vec(),
        usize::MAX,
    )
}

fn string(s: &str) -> HeaderValue {
    HeaderValue::String(s.to_owned().into())
}

/// The event-stream frames of a fixture (see `src/providers/bedrock/stream_tests.rs`).
fn frames(fixture: &str) -> Vec<Vec<u8>> {
    let events: Vec<Value> = serde_json::from_str(fixture).unwrap();
    events
        .iter()
        .map(|e| {
            let payload = serde_json::to_vec(&e["payload"]).unwrap();
            let headers = match e.get("event") {
                Some(name) => vec![
                    Header::new(":event-type", string(name.as_str().unwrap())),
                    Header::new(":content-type", string("application/json")),
                    Header::new(":message-type", string("event")),
                ],
                None => vec![
                    Header::new(":exception-type", string(e["exception"].as_str().unwrap())),
                    Header::new(":content-type", string("application/json")),
                    Header::new(":message-type", string("exception")),
                ],
            };
            let mut out = Vec::new();
            write_message_to(&Message::new_from_parts(headers, payload), &mut out).unwrap();
            out
        })
        .collect()
}

/// An event stream sent in 9-byte pieces, so frames arrive split across reads.
fn stream_answer(frames: Vec<Vec<u8>>) -> Response {
    answer(
        200,
        "application/vnd.amazon.eventstream",
        frames.concat(),
        9,
    )
}

async fn handle(
    State(mock): State<Mock>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    mock.log.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: uri.to_string(),
        headers: headers.clone(),
        body: body.to_vec(),
    });
    let path = uri.path();
    if let Some(answer) = metadata_answer(&mock, &method, path, &headers) {
        return answer;
    }
    if path == "/sts/" {
        return answer(200, "text/xml", STS_UP.as_bytes().to_vec(), usize::MAX);
    }
    let Some(rest) = path.strip_prefix("/model/") else {
        return json_answer(404, r#"{"message":"unknown path"}"#);
    };
    let (model, op) = rest.rsplit_once('/').unwrap();
    match (model, op) {
        ("amazon.err400", _) => json_answer(400, ERROR_UP),
        ("amazon.echo-key", _) => {
            let auth = headers.get("authorization").unwrap().to_str().unwrap();
            json_answer(
                403,
                &json!({"message": format!("bad signature for {auth} with {SECRET}")}).to_string(),
            )
        }
        (_, "converse") if model.contains("tools") => json_answer(200, TOOLS_UP),
        (_, "converse") => json_answer(200, TEXT_UP),
        ("amazon.stream-error", "converse-stream") => stream_answer(frames(STREAM_EXCEPTION)),
        ("amazon.error-first", "converse-stream") => {
            let all = frames(STREAM_EXCEPTION);
            stream_answer(vec![all[0].clone(), all[2].clone()])
        }
        ("amazon.cut", "converse-stream") => stream_answer(frames(STREAM_TEXT)[..3].to_vec()),
        ("amazon.empty", "converse-stream") => stream_answer(Vec::new()),
        (_, "converse-stream") if model.contains("tools") => stream_answer(frames(STREAM_TOOLS)),
        (_, "converse-stream") => stream_answer(frames(STREAM_TEXT)),
        ("amazon.titan-embed-text-v1", "invoke") => json_answer(200, EMBED_UP),
        ("amazon.titan-text-express-v1", "invoke") => json_answer(200, TITAN_UP),
        ("anthropic.claude-v2", "invoke") => json_answer(200, ANTHROPIC_UP),
        _ => json_answer(404, r#"{"message":"unknown model"}"#),
    }
}

const IMDS_TOKEN: &str = "imds-session-token-4321";
const IMDS_ROLES: &str = "/latest/meta-data/iam/security-credentials/";

/// A metadata credentials document expiring `expires_in` from now.
fn metadata_keys(id: &str, secret: &str, token: &str, expires_in: Duration) -> String {
    let expiration = aws_smithy_types::DateTime::from(SystemTime::now() + expires_in)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap();
    json!({"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": id, "SecretAccessKey": secret, "Token": token, "Expiration": expiration}).to_string()
}

/// The container credentials endpoints and IMDSv2 (which insists on its session token).
fn metadata_answer(
    mock: &Mock,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    let hour = Duration::from_secs(3600);
    let imds_token_ok = headers
        .get("x-aws-ec2-metadata-token")
        .is_some_and(|t| t == IMDS_TOKEN);
    Some(match (method.as_str(), path) {
        ("GET", "/ecs/creds") => json_answer(
            200,
            &metadata_keys("ASIAECS", "ecs-secret", "ecs-token", hour),
        ),
        ("GET", "/ecs/rotating") => {
            if mock.rotations.fetch_add(1, Ordering::SeqCst) == 0 {
                // Inside the refresh margin already: the first request must refresh.
                let soon = Duration::from_secs(60);
                json_answer(
                    200,
                    &metadata_keys("ASIAOLD", "old-secret", "old-token", soon),
                )
            } else {
                json_answer(
                    200,
                    &metadata_keys("ASIANEW", "new-secret", "new-token", hour),
                )
            }
        }
        ("PUT", "/latest/api/token") => answer(200, "text/plain", IMDS_TOKEN.into(), usize::MAX),
        ("GET", IMDS_ROLES) if imds_token_ok => {
            answer(200, "text/plain", b"gateway-role\n".to_vec(), usize::MAX)
        }
        ("GET", "/latest/meta-data/iam/security-credentials/gateway-role") if imds_token_ok => {
            json_answer(
                200,
                &metadata_keys("ASIAIMDS", "imds-secret", "imds-token", hour),
            )
        }
        (_, p) if p.starts_with("/latest/") => json_answer(401, "{}"),
        _ => return None,
    })
}

async fn start_mock() -> (String, Mock) {
    let mock = Mock::default();
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, mock)
}

async fn start() -> (TestGateway, Mock) {
    let (base, mock) = start_mock().await;
    let yaml = config().replace("{BR}", &base);
    (TestGateway::start(&yaml).await, mock)
}

/// Re-computes the SigV4 signature of a received request with `aws-sigv4` and compares it,
/// returning the `Credential=` scope. Checks that what was signed is what arrived.
fn verify_sigv4(r: &Recorded, key_id: &str, secret: &str, token: Option<&str>, region: &str) {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let auth = r.header("authorization").expect("authorization header");
    let date = r.header("x-amz-date").expect("x-amz-date");
    let day = &date[..8];
    let prefix = format!("AWS4-HMAC-SHA256 Credential={key_id}/{day}/{region}/");
    assert!(auth.starts_with(&prefix), "{auth}");
    let signed: Vec<&str> = auth
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .split(';')
        .collect();
    assert_eq!(r.header("x-amz-security-token"), token);
    let service = if r.path.starts_with("/sts/") {
        "sts"
    } else {
        "bedrock"
    };
    assert!(
        auth.contains(&format!("/{service}/aws4_request, ")),
        "{auth}"
    );
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[0..4],
        &date[4..6],
        &date[6..8],
        &date[9..11],
        &date[11..13],
        &date[13..15]
    );
    let dt =
        aws_smithy_types::DateTime::from_str(&rfc, aws_smithy_types::date_time::Format::DateTime)
            .unwrap();
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(dt.secs() as u64);
    let identity = aws_credential_types::Credentials::new(
        key_id,
        secret,
        token.map(str::to_owned),
        None,
        "test",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers: Vec<(&str, &str)> = signed
        .iter()
        .filter(|h| **h != "x-amz-date" && **h != "x-amz-security-token")
        .map(|h| (*h, r.header(h).unwrap()))
        .collect();
    let host = r.header("host").unwrap();
    let url = format!("http://{host}{}", r.path);
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.into_iter(),
        SignableBody::Bytes(&r.body),
    )
    .unwrap();
    let (_, signature) = sign(signable, &params).unwrap().into_parts();
    assert!(
        auth.ends_with(&format!("Signature={signature}")),
        "signature mismatch: {auth} vs {signature}"
    );
}

fn assert_signed(r: &Recorded) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("accept"), Some("application/json"));
    let auth = r.header("authorization").unwrap();
    assert!(
        auth.contains(
            ", SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token, Signature="
        ),
        "{auth}"
    );
    verify_sigv4(r, KEY_ID, SECRET, Some(TOKEN), "us-east-1");
}

/// The body with `created` (the gateway's clock) checked and pinned, re-serialised in order.
fn pin_created(body: &str) -> String {
    let mut v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let created = v["created"].as_i64().unwrap();
    assert!(created > 1_700_000_000, "created {created}");
    v["created"] = json!(1_700_000_000);
    v.to_string()
}

// ---------------------------------------------------------------------------------------------
// Chat

#[tokio::test]
async fn chat_plain_is_signed_and_matches_mlflow() {
    let (gw, mock) = start().await;
    let r = gw
        .post(
            "/gateway/chat/invocations",
            r#"{"messages":[{"role":"system","content":"sys"},{"role":"user","content":"hi"}],"temperature":0.7,"max_tokens":30,"stop":["z"]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        pin_created(&r.body),
        format!(
            r#"{{"id":null,"object":"chat.completion","created":1700000000,"model":"{CLAUDE}","choices":[{{"index":0,"message":{{"role":"assistant","content":"Hello from Bedrock!","tool_calls":null,"refusal":null}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}},"provider":"bedrock"}}"#
        )
    );
    let up = mock.take();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].path, format!("/model/{CLAUDE_PATH}/converse"));
    assert_signed(&up[0]);
    assert_eq!(up[0].body, OBSERVED_REQUEST.trim().as_bytes());
}

#[tokio::test]
async fn tools_round_trip_on_every_surface() {
    let (gw, mock) = start().await;
    let request = json!({
        "model": "tools",
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "tooluse_0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
                {"id": "tooluse_1", "type": "function", "function": {"name": "get_time"}}]},
            {"role": "tool", "content": "sunny", "tool_call_id": "tooluse_0"},
            {"role": "tool", "content": [{"type": "text", "text": "noon"}], "tool_call_id": "tooluse_1"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "d",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "get_time"}}
        ],
        "tool_choice": "required"
    });
    let r = gw.post("/v1/chat/completions", &request.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        pin_created(&r.body),
        r#"{"id":null,"object":"chat.completion","created":1700000000,"model":"us.anthropic.tools-v1:0","choices":[{"index":0,"message":{"role":"assistant","content":"Let me check.","tool_calls":[{"id":"tooluse_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\", \"units\": [\"c\", \"\\u00e9\"]}"}}],"refusal":null},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":15,"completion_tokens":5,"total_tokens":20,"prompt_tokens_details":{"cached_tokens":2},"cache_creation_input_tokens":3},"provider":"bedrock"}"#
    );
    let up = mock.take();
    assert_eq!(up[0].path, "/model/us.anthropic.tools-v1%3A0/converse");
    assert_eq!(
        up[0].json(),
        serde_json::from_str::<Value>(TOOLS_REQUEST).unwrap()
    );

    // gRPC.
    let resp = ChatServiceClient::new(gw.channel().await)
        .chat(pb::ChatRequest {
            endpoint: "tools".into(),
            messages: vec![pb::Message {
                role: "user".into(),
                content: Some("weather?".into()),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.provider, "bedrock");
    let call = &resp.choices[0].message.as_ref().unwrap().tool_calls[0];
    assert_eq!(call.id, "tooluse_1");
    assert_eq!(resp.usage.unwrap().prompt_tokens, Some(15));
    assert_signed(&mock.take()[0]);
}

#[tokio::test]
async fn upstream_errors_pass_through_redacted() {
    let (gw, _mock) = start().await;
    let hi = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
    let r = gw.post("/gateway/err400/invocations", hi).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"detail": {"message": "The provided model identifier is invalid."}})
    );
    let r = gw.post("/gateway/echo-key/invocations", hi).await;
    assert_eq!(r.status, 403);
    assert!(!r.body.contains(SECRET), "{}", r.body);
    assert!(r.body.contains("[redacted]"), "{}", r.body);
    let r = gw
        .post(
            "/gateway/chat/invocations",
            r#"{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{bad"}}]}]}"#,
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"detail": "Invalid assistant tool call arguments: not valid JSON for tool_call_id=t, tool_name=f."})
    );
}

#[tokio::test]
async fn bearer_token_auth() {
    let (gw, mock) = start().await;
    let hi = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
    let r = gw.post("/gateway/bearer/invocations", hi).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let up = mock.take();
    // MLflow's API-key path keeps `:` unencoded.
    assert_eq!(up[0].path, format!("/model/{CLAUDE}/converse"));
    assert_eq!(
        up[0].header("authorization"),
        Some(format!("Bearer {BEARER}").as_str())
    );
    assert!(up[0].header("x-amz-date").is_none());

    let r = gw
        .post(
            "/gateway/bearer/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 501);
    assert_eq!(
        r.json(),
        json!({"detail": "Streaming is not yet supported for Bedrock API key (bearer token) auth. Use a non-streaming chat request instead."})
    );
    let r = gw
        .post("/gateway/bearer-embeddings/invocations", r#"{"input":"a"}"#)
        .await;
    assert_eq!(r.status, 501);
    assert_eq!(
        r.json(),
        json!({"detail": "Embeddings are not supported for Bedrock API key (bearer token) auth. Use access_keys or default_chain auth mode for embeddings."})
    );
    assert!(mock.take().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Streaming

#[tokio::test]
async fn stream_text_and_tools() {
    let (gw, mock) = start().await;
    let r = gw
        .post(
            "/gateway/chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.sse_data();
    let chunk = |delta: &str, finish: &str, usage: &str| {
        format!(
            r#"{{"id":null,"object":"chat.completion.chunk","created":1700000000,"model":"{CLAUDE}","choices":[{{"index":0,"finish_reason":{finish},"delta":{delta}}}],"usage":{usage},"provider":"bedrock"}}"#
        )
    };
    let got: Vec<String> = events[..events.len() - 1]
        .iter()
        .map(|e| pin_created(e))
        .collect();
    assert_eq!(
        got,
        vec![
            chunk(
                r#"{"role":null,"content":"Hello","tool_calls":null}"#,
                "null",
                "null"
            ),
            chunk(
                r#"{"role":null,"content":" from Bedrock!","tool_calls":null}"#,
                "null",
                "null"
            ),
            chunk(
                r#"{"role":null,"content":null,"tool_calls":null}"#,
                r#""stop""#,
                "null"
            ),
            chunk(
                r#"{"role":null,"content":null,"tool_calls":null}"#,
                "null",
                r#"{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14}"#
            ),
        ]
    );
    assert_eq!(events.last().unwrap(), "[DONE]");
    let up = mock.take();
    assert_eq!(up[0].path, format!("/model/{CLAUDE_PATH}/converse-stream"));
    assert_signed(&up[0]);
    assert_eq!(
        up[0].json(),
        json!({"messages":[{"role":"user","content":[{"text":"hi"}]}]})
    );

    // Tool deltas over gRPC.
    let mut stream = ChatServiceClient::new(gw.channel().await)
        .stream_chat(pb::ChatRequest {
            endpoint: "tools".into(),
            messages: vec![pb::Message {
                role: "user".into(),
                content: Some("weather?".into()),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut args = String::new();
    let mut finish = None;
    let mut ids = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        for c in &chunk.choices {
            if let Some(f) = &c.finish_reason {
                finish = Some(f.clone());
            }
            for t in &c.delta.as_ref().unwrap().tool_calls {
                ids.extend(t.id.clone());
                args.push_str(t.function.as_ref().unwrap().arguments());
            }
        }
    }
    assert_eq!(ids, ["tooluse_abc"]);
    assert_eq!(args, r#"{"city": "Paris"}"#);
    assert_eq!(finish.as_deref(), Some("tool_calls"));
}

#[tokio::test]
async fn stream_failures_before_and_after_the_first_byte() {
    let (gw, _mock) = start().await;
    let hi = r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#;
    let r = gw.post("/gateway/err400/invocations", hi).await;
    assert_eq!(r.status, 400);
    let r = gw.post("/gateway/error-first/invocations", hi).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"detail": "Amazon Bedrock returned throttlingException while streaming: Too many requests, please wait before trying again."})
    );
    let r = gw.post("/gateway/empty/invocations", hi).await;
    assert_eq!(r.status, 502);
    assert_eq!(
        r.json(),
        json!({"detail": "The Amazon Bedrock stream ended before its messageStop event."})
    );
    for (name, code) in [("stream-error", 429), ("cut", 502)] {
        let r = gw.post(&format!("/gateway/{name}/invocations"), hi).await;
        assert_eq!(r.status, 200, "{name}");
        let events = r.sse_data();
        assert!(events.len() >= 2, "{name}: {events:?}");
        assert!(!events.iter().any(|e| e == "[DONE]"), "{name}");
        let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
        assert_eq!(last["error"]["code"], json!(code), "{name}: {last}");
    }
}

// ---------------------------------------------------------------------------------------------
// Completions and embeddings

#[tokio::test]
async fn completions_per_family() {
    let (gw, mock) = start().await;
    let r = gw
        .post(
            "/gateway/titan/invocations",
            r#"{"prompt":"This is a test","n":1,"temperature":0.5,"stop":["foobar"],"max_tokens":1000}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        pin_created(&r.body),
        r#"{"id":null,"object":"text_completion","created":1700000000,"model":"amazon.titan-text-express-v1","choices":[{"index":0,"text":"\nThis is a test","finish_reason":null}],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null}}"#
    );
    let up = mock.take();
    assert_eq!(up[0].path, "/model/amazon.titan-text-express-v1/invoke");
    assert_signed(&up[0]);
    assert_eq!(
        up[0].body,
        br#"{"inputText":"This is a test","textGenerationConfig":{"temperature":0.25,"stopSequences":["foobar"],"maxTokenCount":1000}}"#
    );

    let r = gw
        .post(
            "/v1/completions",
            r#"{"model":"claude-complete","prompt":"hello","max_tokens":100,"temperature":0.6}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["choices"][0]["text"], " Hello there!");
    assert_eq!(r.json()["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        mock.take()[0].json(),
        json!({"max_tokens_to_sample":100,"temperature":0.3,"prompt":"\n\nHuman: hello\n\nAssistant:","stop_sequences":["\n\nHuman:"],"anthropic_version":"bedrock-2023-05-31"})
    );

    let r = gw
        .post("/gateway/unknown-family/invocations", r#"{"prompt":"x"}"#)
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"detail": "Unknown Amazon Bedrock model type None"})
    );
    let r = gw
        .post(
            "/gateway/titan/invocations",
            r#"{"prompt":"x","stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 501);
    assert_eq!(
        r.json(),
        json!({"detail": "The completions streaming route is not implemented for Amazon Bedrock models."})
    );
    assert!(mock.take().is_empty());
}

#[tokio::test]
async fn embeddings_one_call_per_input() {
    let (gw, mock) = start().await;
    let r = gw
        .post("/gateway/embeddings/invocations", r#"{"input":["a","b"]}"#)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"object":"list","data":[
            {"object":"embedding","embedding":[0.1,-0.25,3e-05],"index":0},
            {"object":"embedding","embedding":[0.1,-0.25,3e-05],"index":1}],
            "model":"amazon.titan-embed-text-v1","usage":{"prompt_tokens":6,"total_tokens":6}})
    );
    let mut up = mock.take();
    assert_eq!(up.len(), 2);
    up.sort_by_key(|r| r.body.clone());
    for (r, text) in up.iter().zip(["a", "b"]) {
        assert_eq!(r.path, "/model/amazon.titan-embed-text-v1/invoke");
        assert_signed(r);
        assert_eq!(r.json(), json!({"inputText": text}));
    }
    let resp = EmbeddingsServiceClient::new(gw.channel().await)
        .embed(pb::EmbedRequest {
            endpoint: "embeddings".into(),
            texts: vec!["x".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.data[0].values, vec![0.1, -0.25, 3e-05]);
    assert_eq!(resp.provider, "bedrock");
}

// ---------------------------------------------------------------------------------------------
// Credentials from the environment (child processes)

/// Re-runs `test` in a child process of this test binary with `env` set (off the runtime,
/// which keeps serving the mock meanwhile).
async fn run_child(test: &'static str, env: &[(&str, &str)]) {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || run_child_blocking(test, &env))
        .await
        .unwrap();
}

fn run_child_blocking(test: &str, env: &[(String, String)]) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args([test, "--exact", "--ignored", "--nocapture"]);
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child {test} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn env_endpoint(auth: &str) -> String {
    format!(
        "endpoints:\n  - name: chat\n    endpoint_type: llm/v1/chat\n    model:\n      provider: bedrock\n      name: amazon.nova-lite-v1:0\n      config:\n        aws_config: {{{auth}}}\n"
    )
}

#[tokio::test]
async fn role_credentials_are_assumed_once_and_shared() {
    let (base, mock) = start_mock().await;
    run_child(
        "child_role",
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDBASE"),
            ("AWS_SECRET_ACCESS_KEY", "base-secret"),
            ("AWS_ENDPOINT_URL_STS", &format!("{base}/sts/")),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &base),
        ],
    )
    .await;
    let up = mock.take();
    let sts: Vec<&Recorded> = up.iter().filter(|r| r.path == "/sts/").collect();
    assert_eq!(sts.len(), 1, "one AssumeRole for all requests: {up:?}");
    assert_eq!(
        sts[0].body,
        b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo&RoleSessionName=ai-gateway-bedrock&DurationSeconds=1800"
    );
    verify_sigv4(sts[0], "AKIDBASE", "base-secret", None, "eu-west-1");
    let calls: Vec<&Recorded> = up.iter().filter(|r| r.path != "/sts/").collect();
    assert_eq!(calls.len(), 3);
    for c in calls {
        assert_eq!(c.path, "/model/amazon.nova-lite-v1%3A0/converse");
        verify_sigv4(
            c,
            "ASIATEMPKEY",
            "temp/secret+key",
            Some("FwoGZX&token"),
            "eu-west-1",
        );
    }
}

#[tokio::test]
#[ignore = "run by role_credentials_are_assumed_once_and_shared in a child process"]
async fn child_role() {
    let yaml = env_endpoint(
        "aws_region: eu-west-1, aws_role_arn: \"arn:aws:iam::123456789012:role/demo\", session_length_seconds: 1800",
    );
    let gw = TestGateway::start(&yaml).await;
    let hi = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
    let (a, b, c) = tokio::join!(
        gw.post("/gateway/chat/invocations", hi),
        gw.post("/gateway/chat/invocations", hi),
        gw.post("/gateway/chat/invocations", hi),
    );
    for r in [a, b, c] {
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

#[tokio::test]
async fn default_chain_reads_the_shared_credentials_file() {
    let (base, mock) = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    std::fs::write(
        &file,
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n[team]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\naws_session_token = file-token\n",
    )
    .unwrap();
    run_child(
        "child_default",
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap()),
            ("AWS_PROFILE", "team"),
            ("AWS_DEFAULT_REGION", "ap-south-1"),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &base),
        ],
    )
    .await;
    let up = mock.take();
    assert_eq!(up.len(), 1);
    verify_sigv4(
        &up[0],
        "AKIDFILE",
        "file-secret",
        Some("file-token"),
        "ap-south-1",
    );
}

#[tokio::test]
#[ignore = "run by default_chain_reads_the_shared_credentials_file in a child process"]
async fn child_default() {
    let gw = TestGateway::start(&env_endpoint("")).await;
    let r = gw
        .post(
            "/gateway/chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

// ---------------------------------------------------------------------------------------------
// Credentials from container and instance metadata (child processes)

/// The environment of a metadata test: no keys anywhere else, Bedrock and IMDS on the mock.
fn metadata_env<'a>(base: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws/credentials",
        ),
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", base),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", base),
    ];
    env.extend_from_slice(extra);
    env
}

fn model_calls(up: &[Recorded]) -> Vec<&Recorded> {
    up.iter()
        .filter(|r| r.path.starts_with("/model/"))
        .collect()
}

#[tokio::test]
async fn container_credentials_with_authorization_token() {
    let (base, mock) = start_mock().await;
    let full_uri = format!("{base}/ecs/creds");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "ecs-auth-from-file\n").unwrap();
    // The token file wins over the token variable, as in the SDKs.
    let env = metadata_env(
        &base,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                file.to_str().unwrap(),
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-auth-from-env"),
        ],
    );
    run_child("child_metadata", &env).await;
    let up = mock.take();
    let ecs: Vec<&Recorded> = up.iter().filter(|r| r.path == "/ecs/creds").collect();
    assert_eq!(ecs.len(), 1, "fetched once at start, then cached: {up:?}");
    assert_eq!(ecs[0].method, "GET");
    assert_eq!(ecs[0].header("authorization"), Some("ecs-auth-from-file"));
    assert!(
        !up.iter().any(|r| r.path.starts_with("/latest/")),
        "container credentials exclude instance metadata"
    );
    let calls = model_calls(&up);
    assert_eq!(calls.len(), 3);
    for c in calls {
        verify_sigv4(c, "ASIAECS", "ecs-secret", Some("ecs-token"), "us-east-1");
    }

    let env = metadata_env(
        &base,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-auth-from-env"),
        ],
    );
    run_child("child_metadata", &env).await;
    let up = mock.take();
    assert_eq!(up[0].path, "/ecs/creds");
    assert_eq!(up[0].header("authorization"), Some("ecs-auth-from-env"));
}

#[tokio::test]
async fn instance_metadata_v2_token_role_and_keys() {
    let (base, mock) = start_mock().await;
    let endpoint = format!("{base}/");
    let env = metadata_env(&base, &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)]);
    run_child("child_metadata", &env).await;
    let up = mock.take();
    let imds: Vec<&Recorded> = up
        .iter()
        .filter(|r| r.path.starts_with("/latest/"))
        .collect();
    let seen: Vec<(&str, &str)> = imds
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("PUT", "/latest/api/token"),
            ("GET", IMDS_ROLES),
            (
                "GET",
                "/latest/meta-data/iam/security-credentials/gateway-role"
            ),
        ],
        "one probe at start, then the cache"
    );
    assert_eq!(
        imds[0].header("x-aws-ec2-metadata-token-ttl-seconds"),
        Some("21600")
    );
    assert_eq!(imds[0].header("x-aws-ec2-metadata-token"), None);
    for r in &imds[1..] {
        assert_eq!(r.header("x-aws-ec2-metadata-token"), Some(IMDS_TOKEN));
    }
    let calls = model_calls(&up);
    assert_eq!(calls.len(), 3);
    for c in calls {
        verify_sigv4(
            c,
            "ASIAIMDS",
            "imds-secret",
            Some("imds-token"),
            "us-east-1",
        );
    }
}

#[tokio::test]
async fn expiring_metadata_keys_are_refreshed_once_for_a_burst() {
    let (base, mock) = start_mock().await;
    let full_uri = format!("{base}/ecs/rotating");
    let env = metadata_env(&base, &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri)]);
    run_child("child_metadata", &env).await;
    let up = mock.take();
    let fetches = up.iter().filter(|r| r.path == "/ecs/rotating").count();
    assert_eq!(
        fetches, 2,
        "the start-up probe, then one refresh shared by 3 requests"
    );
    let calls = model_calls(&up);
    assert_eq!(calls.len(), 3);
    for c in calls {
        verify_sigv4(c, "ASIANEW", "new-secret", Some("new-token"), "us-east-1");
    }
}

#[tokio::test]
async fn roles_are_assumed_with_instance_metadata_keys() {
    let (base, mock) = start_mock().await;
    let sts = format!("{base}/sts/");
    let env = metadata_env(&base, &[("AWS_ENDPOINT_URL_STS", &sts)]);
    run_child("child_role", &env).await;
    let up = mock.take();
    let sts: Vec<&Recorded> = up.iter().filter(|r| r.path == "/sts/").collect();
    assert_eq!(sts.len(), 1, "{up:?}");
    verify_sigv4(
        sts[0],
        "ASIAIMDS",
        "imds-secret",
        Some("imds-token"),
        "eu-west-1",
    );
    assert_eq!(
        up.iter().filter(|r| r.path.starts_with("/latest/")).count(),
        3
    );
    for c in model_calls(&up) {
        verify_sigv4(
            c,
            "ASIATEMPKEY",
            "temp/secret+key",
            Some("FwoGZX&token"),
            "eu-west-1",
        );
    }
}

#[tokio::test]
#[ignore = "run by the metadata tests in a child process"]
async fn child_metadata() {
    let gw = TestGateway::start(&env_endpoint("aws_region: us-east-1")).await;
    let hi = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
    let (a, b, c) = tokio::join!(
        gw.post("/gateway/chat/invocations", hi),
        gw.post("/gateway/chat/invocations", hi),
        gw.post("/gateway/chat/invocations", hi),
    );
    for r in [a, b, c] {
        assert_eq!(r.status, 200, "{}", r.body);
    }
}
