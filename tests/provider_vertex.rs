//! The Vertex AI provider end to end (spec §3.6): the gateway on 127.0.0.1:0 in front of one
//! scripted upstream that plays both Google's OAuth token endpoint (the test service-account key
//! names it as `token_uri`) and the Vertex API (`vertex_api_base`). Checked: the token exchange
//! (the JWT assertion decoded and its RS256 signature verified with the test public key), one
//! token for many calls, refresh of short-lived tokens, the URL and body of each model family
//! (Gemini, Claude, MaaS), the unified answers on MLflow REST, OpenAI REST and gRPC, errors
//! and MLflow's 501s. Application Default Credentials from the GCE metadata server (played by a
//! second local server that `GCE_METADATA_HOST` names) need environment variables, which a test
//! cannot set in its own process: the gateway runs in a child process of this test binary, and
//! the start-up failure without any credential is checked on the `llm-gateway` binary itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod scripted_upstream;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Reply, TestGateway};
use futures::StreamExt;
use llm_gateway::pb::v1 as pb;
use pb::chat_service_client::ChatServiceClient;
use pb::embeddings_service_client::EmbeddingsServiceClient;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use scripted_upstream::{Answer, Recorded, Upstream};
use serde_json::{Value, json};

const PRIVATE_KEY: &str = include_str!("fixtures/vertex/test-only-private-key.pem");
const PUBLIC_KEY: &str = include_str!("fixtures/vertex/test-only-public-key.pem");
const TOKEN_UP: &str = include_str!("fixtures/vertex/token_response.json");
const GEMINI_UP: &str = include_str!("fixtures/vertex/gemini_response.json");
const GEMINI_STREAM_UP: &str = include_str!("fixtures/vertex/gemini_stream.sse");
const CLAUDE_UP: &str = include_str!("fixtures/vertex/claude_response.json");
const CLAUDE_STREAM_UP: &str = include_str!("fixtures/vertex/claude_stream.sse");
const MAAS_UP: &str = include_str!("fixtures/vertex/maas_response.json");
const ERROR_403: &str = include_str!("fixtures/vertex/error_403.json");

const CLIENT_EMAIL: &str = "gateway@my-proj.iam.gserviceaccount.com";
const BEARER: &str = "Bearer ya29.test-access-token-1";

const SCOPE: &str = "/v1/projects/my-proj/locations";
const G_GENERATE: &str = "/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent";
const G_STREAM: &str = "/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent";
const G_EMBED: &str = "/v1/projects/my-proj/locations/us-central1/publishers/google/models/text-embedding-005:embedContent";
const G_BATCH: &str = "/v1/projects/my-proj/locations/us-central1/publishers/google/models/text-embedding-005:batchEmbedContents";
const C_PREDICT: &str = "/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict";
const C_STREAM: &str = "/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict";
const M_CHAT: &str =
    "/v1/projects/my-proj/locations/us-central1/endpoints/openapi/chat/completions";

/// `{KEY}` is a path to the key file, `{KEY_JSON}` the key's JSON text (single-quoted YAML keeps
/// its `\n` escapes for JSON). MaaS leaves the location to the default (us-central1).
const CONFIG: &str = r#"
endpoints:
  - name: v-gemini
    endpoint_type: llm/v1/chat
    model:
      provider: vertex_ai
      name: gemini-2.0-flash
      config: {vertex_project: my-proj, vertex_location: us-central1, vertex_credentials: "{KEY}", vertex_api_base: "{UP}"}
  - name: v-gemini-completions
    endpoint_type: llm/v1/completions
    model:
      provider: vertex_ai
      name: gemini-2.0-flash
      config: {vertex_project: my-proj, vertex_location: us-central1, vertex_credentials: "{KEY}", vertex_api_base: "{UP}"}
  - name: v-embeddings
    endpoint_type: llm/v1/embeddings
    model:
      provider: vertex_ai
      name: text-embedding-005
      config: {vertex_project: my-proj, vertex_location: us-central1, vertex_credentials: "{KEY}", vertex_api_base: "{UP}"}
  - name: v-claude
    endpoint_type: llm/v1/chat
    model:
      provider: vertex_ai
      name: claude-sonnet-4-5@20250929
      config: {vertex_project: my-proj, vertex_location: us-east5, vertex_credentials: '{KEY_JSON}', vertex_api_base: "{UP}"}
  - name: v-claude-completions
    endpoint_type: llm/v1/completions
    model:
      provider: vertex_ai
      name: claude-sonnet-4-5@20250929
      config: {vertex_project: my-proj, vertex_location: us-east5, vertex_credentials: "{KEY}", vertex_api_base: "{UP}"}
  - name: v-maas
    endpoint_type: llm/v1/chat
    model:
      provider: vertex_ai
      name: meta/llama-3.1-405b-instruct-maas
      config: {vertex_project: my-proj, vertex_credentials: "{KEY}", vertex_api_base: "{UP}"}
  - name: v-maas-embeddings
    endpoint_type: llm/v1/embeddings
    model:
      provider: vertex_ai
      name: meta/llama-3.1-405b-instruct-maas
      config: {vertex_project: my-proj, vertex_credentials: "{KEY}", vertex_api_base: "{UP}"}
"#;

struct Env {
    gw: TestGateway,
    up: Upstream,
    _dir: tempfile::TempDir,
}

fn key_json(token_uri: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "my-proj",
        "private_key_id": "test-key-id",
        "private_key": PRIVATE_KEY,
        "client_email": CLIENT_EMAIL,
        "token_uri": token_uri,
    })
    .to_string()
}

async fn start_with_token(token: Answer) -> Env {
    let up = Upstream::start().await;
    up.on("/token", token);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("service-account.json");
    let token_uri = format!("{}/token", up.base);
    std::fs::write(&key, key_json(&token_uri)).unwrap();
    let yaml = CONFIG
        .replace("{KEY_JSON}", &key_json(&token_uri))
        .replace("{KEY}", key.to_str().unwrap())
        .replace("{UP}", &up.base);
    let gw = TestGateway::start(&yaml).await;
    Env { gw, up, _dir: dir }
}

async fn start() -> Env {
    start_with_token(Answer::json(serde_json::from_str(TOKEN_UP).unwrap())).await
}

fn json_up(status: u16, body: &str) -> Answer {
    Answer::raw(status, "application/json; charset=UTF-8", body)
}

/// Checks a token request: a form POST whose JWT assertion carries Google's claims and verifies
/// with the test public key.
fn assert_token_request(r: &Recorded, token_uri: &str) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/token");
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let body = String::from_utf8(r.body.clone()).unwrap();
    let jwt = body
        .strip_prefix("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=")
        .unwrap_or_else(|| panic!("unexpected token request body: {body}"));
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode =
        |p: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap() };
    assert_eq!(
        decode(parts[0]),
        json!({"alg": "RS256", "typ": "JWT", "kid": "test-key-id"})
    );
    let claims = decode(parts[1]);
    assert_eq!(claims["iss"], CLIENT_EMAIL);
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
    assert_eq!(claims["aud"], token_uri);
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 3600);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(iat <= now && now - iat < 60, "iat {iat} vs now {now}");
    let der = STANDARD
        .decode(
            PUBLIC_KEY
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &der)
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
        )
        .expect("the assertion is signed by the test key");
}

/// An API call: POST, JSON, the cached bearer token.
fn assert_api_call(r: &Recorded, path_and_query: &str) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, path_and_query);
    assert_eq!(r.header("authorization"), Some(BEARER));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

/// The requests of one call on a fresh endpoint: its token exchange, then the API call.
fn token_then_call(up: &Upstream, path_and_query: &str) -> Recorded {
    let mut all = up.take();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_token_request(&all[0], &format!("{}/token", up.base));
    let call = all.remove(1);
    assert_api_call(&call, path_and_query);
    call
}

fn text(r: &Recorded) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

fn pin_created(r: &Reply) -> String {
    let created = r.json()["created"].as_i64().unwrap();
    r.body
        .replace(&format!("\"created\":{created}"), "\"created\":0")
        .replace(&format!("gemini-chat-{created}"), "gemini-chat-0")
}

const HI: &str = r#"{"messages":[{"role":"user","content":"Hello"}]}"#;
const HI_STREAM: &str = r#"{"messages":[{"role":"user","content":"Hello"}],"stream":true}"#;

// ---------------------------------------------------------------------------------------------
// Tokens

#[tokio::test]
async fn one_token_exchange_serves_many_calls() {
    let env = start().await;
    env.up.on(G_GENERATE, json_up(200, GEMINI_UP));
    for _ in 0..3 {
        let r = env.gw.post("/gateway/v-gemini/invocations", HI).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let all = env.up.take();
    assert_eq!(all.len(), 4, "one token request, three API calls: {all:?}");
    assert_token_request(&all[0], &format!("{}/token", env.up.base));
    for call in &all[1..] {
        assert_api_call(call, G_GENERATE);
    }
}

#[tokio::test]
async fn short_lived_tokens_are_refreshed_before_each_call() {
    // 60 s is inside the refresh margin: the token is used once, then replaced.
    let env = start_with_token(Answer::json(
        json!({"access_token": "ya29.test-access-token-1", "expires_in": 60, "token_type": "Bearer"}),
    ))
    .await;
    env.up.on(G_GENERATE, json_up(200, GEMINI_UP));
    for _ in 0..2 {
        let r = env.gw.post("/gateway/v-gemini/invocations", HI).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let paths: Vec<String> = env.up.take().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/token", G_GENERATE, "/token", G_GENERATE]);
}

#[tokio::test]
async fn token_endpoint_failures_are_502_and_the_api_is_not_called() {
    let env = start_with_token(json_up(
        400,
        include_str!("fixtures/vertex/token_error.json"),
    ))
    .await;
    let r = env.gw.post("/gateway/v-gemini/invocations", HI).await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"detail": format!("Could not obtain a Google Cloud access token from {}/token: HTTP 400: invalid_grant (Invalid JWT Signature.)", env.up.base)})
    );
    let all = env.up.take();
    assert_eq!(all.len(), 1);
    assert!(!r.body.contains("PRIVATE KEY"));
}

// ---------------------------------------------------------------------------------------------
// Gemini models

#[tokio::test]
async fn gemini_chat_and_tool_turn_without_call_ids() {
    let env = start().await;
    env.up.on(G_GENERATE, json_up(200, GEMINI_UP));
    let r = env
        .gw
        .post(
            "/gateway/v-gemini/invocations",
            r#"{"messages":[{"role":"system","content":"sys"},{"role":"user","content":"hi"}],"temperature":0.3,"max_tokens":20}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        pin_created(&r),
        r#"{"id":"gemini-chat-0","object":"chat.completion","created":0,"model":"gemini-2.0-flash","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from Vertex AI!","tool_calls":null,"refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30},"provider":"vertex_ai"}"#
    );
    let call = token_then_call(&env.up, G_GENERATE);
    assert_eq!(
        text(&call),
        r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"system_instruction":{"parts":[{"text":"sys"}]},"generationConfig":{"candidateCount":1,"maxOutputTokens":20,"temperature":0.3}}"#
    );

    // A tool turn on the OpenAI route: Vertex gets no `id` on either function part.
    let body = json!({
        "model": "v-gemini",
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_001", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_001", "content": "sunny"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "d",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    });
    let r = env.gw.post("/v1/chat/completions", &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let call = env.up.one();
    assert_api_call(&call, G_GENERATE);
    assert_eq!(
        call.json()["contents"],
        json!([
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}]}
        ])
    );
}

#[tokio::test]
async fn gemini_stream_and_its_errors() {
    let env = start().await;
    let (a, b) = GEMINI_STREAM_UP.split_at(50);
    env.up.on(G_STREAM, Answer::sse(&[a, b]));
    let r = env
        .gw
        .post("/gateway/v-gemini/invocations", HI_STREAM)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.sse_data();
    assert_eq!(events.len(), 3, "{events:?}");
    let first: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(first["choices"][0]["delta"]["content"], "Hello ");
    assert_eq!(first["provider"], "vertex_ai");
    assert_eq!(first["model"], "gemini-2.0-flash");
    let last: Value = serde_json::from_str(&events[1]).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["usage"]["total_tokens"], 6);
    assert_eq!(events[2], "[DONE]");
    let call = token_then_call(&env.up, &format!("{G_STREAM}?alt=sse"));
    assert_eq!(
        text(&call),
        r#"{"contents":[{"role":"user","parts":[{"text":"Hello"}]}],"generationConfig":{"candidateCount":1}}"#
    );

    // An in-band error first: a real status.
    env.up.on(
        G_STREAM,
        Answer::sse(&[
            "data: {\"error\": {\"code\": 429, \"message\": \"Quota exceeded.\", \"status\": \"RESOURCE_EXHAUSTED\"}}\n\n",
        ]),
    );
    let r = env
        .gw
        .post("/gateway/v-gemini/invocations", HI_STREAM)
        .await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(r.json(), json!({"detail": "Quota exceeded."}));
    // Cut after content: one error event, no [DONE].
    let first = GEMINI_STREAM_UP.split("\n\n").next().unwrap().to_owned() + "\n\n";
    env.up.on(G_STREAM, Answer::sse(&[&first]));
    let r = env
        .gw
        .post("/gateway/v-gemini/invocations", HI_STREAM)
        .await;
    assert_eq!(r.status, 200);
    let events = r.sse_data();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[1].contains("\"error\""), "{}", events[1]);
    // An empty stream: 502.
    env.up.on(G_STREAM, Answer::sse(&[""]));
    let r = env
        .gw
        .post("/gateway/v-gemini/invocations", HI_STREAM)
        .await;
    assert_eq!(r.status, 502, "{}", r.body);
}

#[tokio::test]
async fn gemini_completions_plain_and_streamed() {
    let env = start().await;
    env.up.on(G_GENERATE, json_up(200, GEMINI_UP));
    let r = env
        .gw
        .post(
            "/gateway/v-gemini-completions/invocations",
            r#"{"prompt":"Say hi","max_tokens":5}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        pin_created(&r),
        r#"{"id":null,"object":"text_completion","created":0,"model":"gemini-2.0-flash","choices":[{"index":0,"text":"Hello from Vertex AI!","finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}}"#
    );
    let call = token_then_call(&env.up, G_GENERATE);
    assert_eq!(
        text(&call),
        r#"{"contents":[{"role":"user","parts":[{"text":"Say hi"}]}],"generationConfig":{"candidateCount":1,"maxOutputTokens":5}}"#
    );

    env.up.on(G_STREAM, Answer::sse(&[GEMINI_STREAM_UP]));
    let r = env
        .gw
        .post(
            "/gateway/v-gemini-completions/invocations",
            r#"{"prompt":"Say hi","stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.sse_data();
    let texts: Vec<Value> = events[..2]
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap()["choices"][0]["text"].clone())
        .collect();
    assert_eq!(texts, [json!("Hello "), json!("Vertex")]);
    assert_eq!(events[2], "[DONE]");
    assert_api_call(&env.up.one(), &format!("{G_STREAM}?alt=sse"));
}

#[tokio::test]
async fn gemini_embeddings_single_and_batch() {
    let env = start().await;
    env.up.on(
        G_EMBED,
        json_up(200, r#"{"embedding":{"values":[0.5,-0.25]}}"#),
    );
    let r = env
        .gw
        .post("/gateway/v-embeddings/invocations", r#"{"input":"a"}"#)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"object":"list","data":[{"object":"embedding","embedding":[0.5,-0.25],"index":0}],"model":"text-embedding-005","usage":{"prompt_tokens":null,"total_tokens":null}})
    );
    let call = token_then_call(&env.up, G_EMBED);
    assert_eq!(call.json(), json!({"content":{"parts":[{"text":"a"}]}}));

    env.up.on(
        G_BATCH,
        json_up(200, r#"{"embeddings":[{"values":[1.0]},{"values":[2.0]}]}"#),
    );
    let r = env
        .gw
        .post(
            "/v1/embeddings",
            r#"{"model":"v-embeddings","input":["a","b"]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["data"][1]["embedding"], json!([2.0]));
    let call = env.up.one();
    assert_api_call(&call, G_BATCH);
    assert_eq!(
        call.json(),
        json!({"requests":[
            {"model":"models/text-embedding-005","content":{"parts":[{"text":"a"}]}},
            {"model":"models/text-embedding-005","content":{"parts":[{"text":"b"}]}}
        ]})
    );
}

// ---------------------------------------------------------------------------------------------
// Claude models

#[tokio::test]
async fn claude_chat_uses_raw_predict_with_the_vertex_body() {
    let env = start().await;
    env.up.on(C_PREDICT, json_up(200, CLAUDE_UP));
    let r = env
        .gw
        .post(
            "/gateway/v-claude/invocations",
            r#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"}],"temperature":0.5,"stop":["END"]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        pin_created(&r),
        r#"{"id":"msg-vertex-test","object":"chat.completion","created":0,"model":"claude-sonnet-4-5@20250929","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from Claude on Vertex AI!","tool_calls":null,"refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":15,"total_tokens":25},"provider":"vertex_ai"}"#
    );
    // Credentials given as JSON text work like a key file.
    let call = token_then_call(&env.up, C_PREDICT);
    assert_eq!(
        text(&call),
        include_str!("fixtures/vertex/claude_chat_body.json").trim_end()
    );
}

#[tokio::test]
async fn claude_stream_uses_stream_raw_predict() {
    let env = start().await;
    env.up.on(C_STREAM, Answer::sse(&[CLAUDE_STREAM_UP]));
    let r = env
        .gw
        .post("/gateway/v-claude/invocations", HI_STREAM)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.sse_data();
    assert_eq!(events.len(), 4, "{events:?}");
    let chunks: Vec<Value> = events[..3]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["id"], "msg-vrtx-1");
    assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Hello");
    assert_eq!(chunks[2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        chunks[2]["usage"],
        json!({"prompt_tokens":5,"completion_tokens":3,"total_tokens":8})
    );
    assert_eq!(events[3], "[DONE]");
    let call = token_then_call(&env.up, C_STREAM);
    assert_eq!(
        text(&call),
        r#"{"messages":[{"role":"user","content":"Hello"}],"max_tokens":8192,"stream":true,"anthropic_version":"vertex-2023-10-16"}"#
    );

    // Cut before message_stop: an error event after the content.
    let cut = CLAUDE_STREAM_UP
        .split("event: message_delta")
        .next()
        .unwrap();
    env.up.on(C_STREAM, Answer::sse(&[cut]));
    let r = env
        .gw
        .post("/gateway/v-claude/invocations", HI_STREAM)
        .await;
    assert_eq!(r.status, 200);
    let events = r.sse_data();
    assert!(
        events.last().unwrap().contains("message_stop"),
        "{events:?}"
    );
}

#[tokio::test]
async fn claude_and_maas_have_no_completions_and_maas_no_embeddings() {
    let env = start().await;
    for body in [r#"{"prompt":"hi"}"#, r#"{"prompt":"hi","stream":true}"#] {
        let r = env
            .gw
            .post("/gateway/v-claude-completions/invocations", body)
            .await;
        assert_eq!(r.status, 501, "{}", r.body);
        assert_eq!(
            r.json(),
            json!({"detail": "The completions endpoint is not supported for claude-sonnet-4-5@20250929 on Vertex AI. Use the chat endpoint instead."})
        );
    }
    let r = env
        .gw
        .post("/gateway/v-maas-embeddings/invocations", r#"{"input":"a"}"#)
        .await;
    assert_eq!(r.status, 501, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"detail": "The embeddings route is not implemented for Vertex AI models."})
    );
    assert!(
        env.up.take().is_empty(),
        "no upstream call, not even a token"
    );
}

// ---------------------------------------------------------------------------------------------
// MaaS models

#[tokio::test]
async fn maas_chat_and_stream_use_the_openai_endpoint() {
    let env = start().await;
    env.up.on(M_CHAT, json_up(200, MAAS_UP));
    let r = env.gw.post("/gateway/v-maas/invocations", HI).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        r#"{"id":"chatcmpl-123","object":"chat.completion","created":1677858242,"model":"meta/llama-3.1-405b-instruct-maas","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from Llama on Vertex AI!","tool_calls":null,"refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":8,"total_tokens":18},"provider":"vertex_ai"}"#
    );
    // MLflow's observed MaaS body (spec §3.6, OpenAI-compatible delegate).
    let call = token_then_call(&env.up, M_CHAT);
    assert_eq!(
        call.json(),
        json!({"model":"meta/llama-3.1-405b-instruct-maas","n":1,"messages":[{"role":"user","content":"Hello"}]})
    );
    assert!(call.path.starts_with(&format!("{SCOPE}/us-central1/")));

    env.up.on(
        M_CHAT,
        Answer::sse(&[
            "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"meta/llama\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"meta/llama\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
        ]),
    );
    let r = env.gw.post("/gateway/v-maas/invocations", HI_STREAM).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.sse_data();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events[0].contains("\"content\":\"Hi\""), "{}", events[0]);
    let call = env.up.one();
    assert_api_call(&call, M_CHAT);
    assert_eq!(call.json()["stream"], true);
    assert_eq!(
        call.json()["stream_options"],
        json!({"include_usage": true})
    );
}

// ---------------------------------------------------------------------------------------------
// Errors and gRPC

#[tokio::test]
async fn upstream_errors_pass_through_with_googles_message() {
    let env = start().await;
    env.up.on(G_GENERATE, json_up(403, ERROR_403));
    let r = env.gw.post("/gateway/v-gemini/invocations", HI).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"detail": "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.0-flash' (or it may not exist)."})
    );
    env.up.on(
        C_STREAM,
        json_up(
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}"#,
        ),
    );
    let r = env
        .gw
        .post("/gateway/v-claude/invocations", HI_STREAM)
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json(), json!({"detail": "max_tokens: Field required"}));
}

#[tokio::test]
async fn grpc_chat_stream_and_embeddings() {
    let env = start().await;
    let channel = env.gw.channel().await;
    let user = |t: &str| pb::Message {
        role: "user".into(),
        content: Some(t.into()),
        ..Default::default()
    };

    env.up.on(C_PREDICT, json_up(200, CLAUDE_UP));
    let resp = ChatServiceClient::new(channel.clone())
        .chat(pb::ChatRequest {
            endpoint: "v-claude".into(),
            messages: vec![user("Hello")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.provider, "vertex_ai");
    assert_eq!(resp.id.as_deref(), Some("msg-vertex-test"));
    assert_eq!(
        resp.choices[0].message.as_ref().unwrap().content.as_deref(),
        Some("Hello from Claude on Vertex AI!")
    );
    token_then_call(&env.up, C_PREDICT);

    env.up.on(G_STREAM, Answer::sse(&[GEMINI_STREAM_UP]));
    let mut stream = ChatServiceClient::new(channel.clone())
        .stream_chat(pb::ChatRequest {
            endpoint: "v-gemini".into(),
            messages: vec![user("Hello")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        for c in chunk.unwrap().choices {
            text.push_str(c.delta.unwrap().content.as_deref().unwrap_or(""));
        }
    }
    assert_eq!(text, "Hello Vertex");
    token_then_call(&env.up, &format!("{G_STREAM}?alt=sse"));

    let status = EmbeddingsServiceClient::new(channel.clone())
        .embed(pb::EmbedRequest {
            endpoint: "v-maas-embeddings".into(),
            texts: vec!["a".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);

    env.up
        .on(G_EMBED, json_up(200, r#"{"embedding":{"values":[0.5]}}"#));
    let resp = EmbeddingsServiceClient::new(channel)
        .embed(pb::EmbedRequest {
            endpoint: "v-embeddings".into(),
            texts: vec!["a".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.provider, "vertex_ai");
    token_then_call(&env.up, G_EMBED);
}

// ---------------------------------------------------------------------------------------------
// Application Default Credentials from the GCE metadata server (child processes)

const METADATA_TOKEN: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

/// `(method, path, Metadata-Flavor request header)` of a request to the metadata server.
type MetadataRequest = (String, String, Option<String>);

/// A recording GCE metadata server: `/` and the token path answer with `Metadata-Flavor: Google`.
#[derive(Clone)]
struct MetadataServer {
    host: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<MetadataRequest>>>,
}

async fn start_metadata(token: Value) -> MetadataServer {
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = requests.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let log = log.clone();
        let token = token.clone();
        async move {
            let path = req.uri().path().to_owned();
            let flavor = req
                .headers()
                .get("metadata-flavor")
                .map(|v| v.to_str().unwrap().to_owned());
            log.lock()
                .unwrap()
                .push((req.method().to_string(), path.clone(), flavor));
            let body = if path == METADATA_TOKEN {
                token.to_string()
            } else {
                "computeMetadata/\n".to_owned()
            };
            axum::response::Response::builder()
                .header("metadata-flavor", "Google")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body))
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    MetadataServer {
        host: addr.to_string(),
        requests,
    }
}

/// The Google ADC variables, cleared so the metadata server is the only source left (`HOME`
/// points at an empty directory, so there is no gcloud file either).
const ADC_VARS: [&str; 3] = [
    "GOOGLE_APPLICATION_CREDENTIALS",
    "CLOUDSDK_CONFIG",
    "GCE_METADATA_HOST",
];

/// Re-runs `test` in a child process of this test binary with `env` set (off the runtime, which
/// keeps serving the mocks meanwhile).
async fn run_child(test: &'static str, env: Vec<(&'static str, String)>) {
    tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([test, "--exact", "--ignored", "--nocapture"]);
        for var in ADC_VARS {
            cmd.env_remove(var);
        }
        cmd.envs(env);
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child {test} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await
    .unwrap();
}

/// Runs `child_metadata` against a metadata server handing out `token`; returns the metadata
/// server's requests and the Vertex API's.
async fn metadata_run(token: Value) -> (Vec<MetadataRequest>, Vec<Recorded>) {
    let metadata = start_metadata(token).await;
    let up = Upstream::start().await;
    up.on(G_GENERATE, json_up(200, GEMINI_UP));
    let home = tempfile::tempdir().unwrap();
    run_child(
        "child_metadata",
        vec![
            ("GCE_METADATA_HOST", metadata.host.clone()),
            ("HOME", home.path().to_str().unwrap().to_owned()),
            ("VERTEX_TEST_API_BASE", up.base.clone()),
        ],
    )
    .await;
    let requests = metadata.requests.lock().unwrap().clone();
    (requests, up.take())
}

fn metadata_request(path: &str) -> MetadataRequest {
    ("GET".to_owned(), path.to_owned(), Some("Google".to_owned()))
}

#[tokio::test]
async fn metadata_server_token_serves_every_call() {
    let (metadata, api) = metadata_run(serde_json::from_str(TOKEN_UP).unwrap()).await;
    // The start-up probe, then exactly one token request for the three calls.
    assert_eq!(
        metadata,
        vec![metadata_request("/"), metadata_request(METADATA_TOKEN)]
    );
    assert_eq!(api.len(), 3, "{api:?}");
    for call in &api {
        assert_api_call(call, G_GENERATE);
    }
}

#[tokio::test]
async fn short_lived_metadata_tokens_are_fetched_again() {
    // 60 s is inside the refresh margin: every call fetches a fresh token (the clock-driven
    // refresh schedule is unit-tested in `providers::vertex::auth`).
    let (metadata, api) = metadata_run(
        json!({"access_token": "ya29.test-access-token-1", "expires_in": 60, "token_type": "Bearer"}),
    )
    .await;
    assert_eq!(
        metadata,
        vec![
            metadata_request("/"),
            metadata_request(METADATA_TOKEN),
            metadata_request(METADATA_TOKEN),
            metadata_request(METADATA_TOKEN),
        ]
    );
    assert_eq!(api.len(), 3, "{api:?}");
}

#[tokio::test]
#[ignore = "run by the metadata_server tests in a child process"]
async fn child_metadata() {
    let base = std::env::var("VERTEX_TEST_API_BASE").unwrap();
    let yaml = format!(
        "endpoints:\n  - name: v-gemini\n    endpoint_type: llm/v1/chat\n    model:\n      provider: vertex_ai\n      name: gemini-2.0-flash\n      config: {{vertex_project: my-proj, vertex_location: us-central1, vertex_api_base: \"{base}\"}}\n"
    );
    let gw = TestGateway::start(&yaml).await;
    for _ in 0..3 {
        let r = gw.post("/gateway/v-gemini/invocations", HI).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

#[test]
fn without_any_credential_the_gateway_refuses_to_start_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vertex.yaml");
    std::fs::write(
        &config,
        "endpoints:\n  - name: v-gemini\n    endpoint_type: llm/v1/chat\n    model:\n      provider: vertex_ai\n      name: gemini-2.0-flash\n      config: {vertex_project: my-proj}\n",
    )
    .unwrap();
    // A local port where nothing listens stands for a machine off Google Cloud.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_llm-gateway"));
    cmd.args(["start", "--port", "0", "--config-path"])
        .arg(&config);
    for var in ADC_VARS {
        cmd.env_remove(var);
    }
    cmd.env("GCE_METADATA_HOST", &closed)
        .env("HOME", dir.path());
    let started = std::time::Instant::now();
    let out = cmd.output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let home = dir.path().to_str().unwrap();
    assert!(
        stderr.contains(&format!(
            "endpoint 'v-gemini': vertex_ai found no Google Cloud credentials: `vertex_credentials` is not set, GOOGLE_APPLICATION_CREDENTIALS is not set, there is no gcloud application-default file at '{home}/.config/gcloud/application_default_credentials.json', no GCE metadata server answered at {closed} ({closed}: could not connect). Set `vertex_credentials`"
        )),
        "{stderr}"
    );
}
