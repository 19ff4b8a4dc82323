//! Gateway API keys on every surface: MLflow REST, OpenAI REST, gRPC (tonic, `authorization`
//! metadata) and grpc-web over HTTP/1.1, each with no key, a wrong key, a right key, a key not
//! allowed for the endpoint, route names, and filtered listings; exempt paths; authentication
//! off without an `api_keys` section; and a reload that rotates keys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{CONFIG, Reply, TestGateway, chat_request, grpc_web_frame};
use llm_gateway::pb::v1 as pb;
use llm_gateway::reload::{Outcome, Reloader, Source, Trigger};
use llm_gateway::server;
use llm_gateway::service::{Gateway, Settings};
use pb::chat_service_client::ChatServiceClient;
use pb::endpoints_service_client::EndpointsServiceClient;
use prost::Message as _;

const ADMIN: &str = "admin-key-0123456789";
const TEAM_A: &str = "team-a-key-0123456789";

/// `chat` and `other-chat` on the mock provider, `upstream` on the recording mock upstream,
/// route `ab` over `other-chat`; `team-a` may use `chat` and `ab`, `admin` everything.
fn keyed(auth: &str) -> String {
    format!(
        r#"
endpoints:
  - {{name: chat, endpoint_type: llm/v1/chat, model: {{provider: mock, name: m, config: {{response: "from chat"}}}}}}
  - {{name: other-chat, endpoint_type: llm/v1/chat, model: {{provider: mock, name: m, config: {{response: "from other"}}}}}}
  - {{name: embeddings, endpoint_type: llm/v1/embeddings, model: {{provider: mock, name: m}}}}
  - name: upstream
    endpoint_type: llm/v1/chat
    model: {{provider: openai, name: gpt-4o-mini, config: {{openai_api_key: sk-provider-key, openai_api_base: "{{MOCK}}/v1"}}}}
routes:
  - name: ab
    task_type: llm/v1/chat
    destinations: [{{name: other-chat, traffic_percentage: 100}}]
api_keys:
  - {{name: admin, key: {ADMIN}}}
  - {{name: team-a, key: {TEAM_A}, endpoints: [chat, ab]}}
{auth}"#
    )
}

const CHAT: &str = r#"{"messages":[{"role":"user","content":"hi"}]}"#;

fn openai_chat(model: &str) -> String {
    format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}]}}"#)
}

/// POSTs JSON with an optional `Authorization: Bearer` key.
async fn post(gw: &TestGateway, path: &str, body: &str, key: Option<&str>) -> Reply {
    let mut req = gw
        .http
        .post(gw.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    Reply::read(req.send().await.unwrap()).await
}

async fn get(gw: &TestGateway, path: &str, key: Option<&str>) -> Reply {
    let mut req = gw.http.get(gw.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    Reply::read(req.send().await.unwrap()).await
}

fn assert_401(r: &Reply, detail: &str) {
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json(), serde_json::json!({ "detail": detail }));
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
}

fn assert_403(r: &Reply, target: &str) {
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.json(),
        serde_json::json!({
            "detail": format!("The API key 'team-a' is not allowed to use '{target}'.")
        })
    );
}

const MISSING: &str = "Missing API key: send it as 'Authorization: Bearer <key>'.";
const INVALID: &str = "Invalid API key.";

fn names(listing: &serde_json::Value, key: &str) -> Vec<String> {
    listing[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn mlflow_rest() {
    let gw = TestGateway::start(&keyed("")).await;
    let path = "/gateway/chat/invocations";
    assert_401(&post(&gw, path, CHAT, None).await, MISSING);
    assert_401(&post(&gw, path, CHAT, Some("wrong-key")).await, INVALID);
    let ok = post(&gw, path, CHAT, Some(TEAM_A)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["choices"][0]["message"]["content"], "from chat");
    // A route name in the grant; the endpoint behind it is not.
    let via_route = post(&gw, "/gateway/ab/invocations", CHAT, Some(TEAM_A)).await;
    assert_eq!(via_route.status, 200, "{}", via_route.body);
    assert_eq!(
        via_route.json()["choices"][0]["message"]["content"],
        "from other"
    );
    assert_403(
        &post(&gw, "/gateway/other-chat/invocations", CHAT, Some(TEAM_A)).await,
        "other-chat",
    );
    assert_403(
        &post(
            &gw,
            "/endpoints/embeddings/invocations",
            r#"{"input":"x"}"#,
            Some(TEAM_A),
        )
        .await,
        "embeddings",
    );
    // A name outside the grant is 403 whether it exists or not; an unrestricted key sees 404.
    assert_403(
        &post(&gw, "/gateway/nope/invocations", CHAT, Some(TEAM_A)).await,
        "nope",
    );
    assert_eq!(
        post(&gw, "/gateway/nope/invocations", CHAT, Some(ADMIN))
            .await
            .status,
        404
    );
    let admin = post(&gw, "/gateway/other-chat/invocations", CHAT, Some(ADMIN)).await;
    assert_eq!(admin.status, 200, "{}", admin.body);

    // Listings show what the key may call (routes are never listed, as in MLflow).
    assert_401(&get(&gw, "/api/2.0/endpoints/", None).await, MISSING);
    let team = get(&gw, "/api/2.0/endpoints/", Some(TEAM_A)).await;
    assert_eq!(names(&team.json(), "endpoints"), ["chat"]);
    let all = get(&gw, "/api/2.0/endpoints/", Some(ADMIN)).await;
    assert_eq!(
        names(&all.json(), "endpoints"),
        ["chat", "other-chat", "embeddings", "upstream"]
    );
    let legacy = get(&gw, "/api/2.0/gateway/routes/", Some(TEAM_A)).await;
    assert_eq!(names(&legacy.json(), "routes"), ["chat"]);
    assert_eq!(
        get(&gw, "/api/2.0/endpoints/chat", Some(TEAM_A))
            .await
            .status,
        200
    );
    assert_403(
        &get(&gw, "/api/2.0/endpoints/other-chat", Some(TEAM_A)).await,
        "other-chat",
    );
    assert_403(
        &get(&gw, "/api/2.0/gateway/routes/other-chat", Some(TEAM_A)).await,
        "other-chat",
    );
    assert_eq!(
        get(&gw, "/api/3.0/gateway/route/ab", Some(TEAM_A))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn openai_rest() {
    let gw = TestGateway::start(&keyed("")).await;
    let path = "/v1/chat/completions";
    assert_401(&post(&gw, path, &openai_chat("chat"), None).await, MISSING);
    assert_401(
        &post(&gw, path, &openai_chat("chat"), Some("wrong-key")).await,
        INVALID,
    );
    for model in ["chat", "ab"] {
        let r = post(&gw, path, &openai_chat(model), Some(TEAM_A)).await;
        assert_eq!(r.status, 200, "{model}: {}", r.body);
    }
    assert_403(
        &post(&gw, path, &openai_chat("other-chat"), Some(TEAM_A)).await,
        "other-chat",
    );
    assert_403(
        &post(
            &gw,
            "/v1/embeddings",
            r#"{"model":"embeddings","input":"x"}"#,
            Some(TEAM_A),
        )
        .await,
        "embeddings",
    );
    // Streams are refused before they start, with the same status.
    let stream =
        r#"{"model":"other-chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    assert_403(&post(&gw, path, stream, Some(TEAM_A)).await, "other-chat");
    let r = post(&gw, path, &openai_chat("other-chat"), Some(ADMIN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

fn with_key<T>(msg: T, key: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Some(k) = key {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {k}").parse().unwrap());
    }
    req
}

#[tokio::test]
async fn grpc() {
    let gw = TestGateway::start(&keyed("")).await;
    let channel = gw.channel().await;
    let mut chat = ChatServiceClient::new(channel.clone());
    let err = chat
        .chat(with_key(chat_request("chat"), None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(err.message(), MISSING);
    let err = chat
        .chat(with_key(chat_request("chat"), Some("wrong-key")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(err.message(), INVALID);
    for (endpoint, content) in [("chat", "from chat"), ("ab", "from other")] {
        let resp = chat
            .chat(with_key(chat_request(endpoint), Some(TEAM_A)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            resp.choices[0].message.as_ref().unwrap().content.as_deref(),
            Some(content)
        );
    }
    let err = chat
        .chat(with_key(chat_request("other-chat"), Some(TEAM_A)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        err.message(),
        "The API key 'team-a' is not allowed to use 'other-chat'."
    );
    let err = chat
        .stream_chat(with_key(chat_request("other-chat"), Some(TEAM_A)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert!(
        chat.chat(with_key(chat_request("other-chat"), Some(ADMIN)))
            .await
            .is_ok()
    );

    let mut endpoints = EndpointsServiceClient::new(channel);
    let listed = |r: pb::ListEndpointsResponse| -> Vec<String> {
        r.endpoints.into_iter().map(|e| e.name).collect()
    };
    let err = endpoints
        .list_endpoints(with_key(pb::ListEndpointsRequest::default(), None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let team = endpoints
        .list_endpoints(with_key(pb::ListEndpointsRequest::default(), Some(TEAM_A)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed(team), ["chat"]);
    let all = endpoints
        .list_endpoints(with_key(pb::ListEndpointsRequest::default(), Some(ADMIN)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed(all).len(), 4);
    let get = |name: &str, key| with_key(pb::GetEndpointRequest { name: name.into() }, key);
    assert!(
        endpoints
            .get_endpoint(get("chat", Some(TEAM_A)))
            .await
            .is_ok()
    );
    let err = endpoints
        .get_endpoint(get("other-chat", Some(TEAM_A)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
}

/// A grpc-web call over HTTP/1.1: HTTP status, `grpc-status` (from the headers of a
/// trailers-only answer, else from the trailer frame) and the data messages.
async fn grpc_web(
    gw: &TestGateway,
    endpoint: &str,
    key: Option<&str>,
) -> (u16, String, Vec<Vec<u8>>) {
    let client = reqwest::Client::builder().http1_only().build().unwrap();
    let mut req = client
        .post(gw.url("/llmgateway.v1.ChatService/Chat"))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(grpc_web_frame(&chat_request(endpoint)));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "application/grpc-web+proto");
    let header_status = resp
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.bytes().await.unwrap();
    let (mut messages, mut trailer_status, mut rest) = (Vec::new(), None, &body[..]);
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let payload = &rest[5..5 + len];
        if rest[0] & 0x80 != 0 {
            let text = std::str::from_utf8(payload).unwrap();
            trailer_status = text
                .lines()
                .find_map(|l| l.strip_prefix("grpc-status:"))
                .map(|s| s.trim().to_owned());
        } else {
            messages.push(payload.to_vec());
        }
        rest = &rest[5 + len..];
    }
    (status, header_status.or(trailer_status).unwrap(), messages)
}

#[tokio::test]
async fn grpc_web_over_http1() {
    let gw = TestGateway::start(&keyed("")).await;
    let unauthenticated = (tonic::Code::Unauthenticated as i32).to_string();
    let (status, code, messages) = grpc_web(&gw, "chat", None).await;
    assert_eq!(
        (status, code.as_str(), messages.len()),
        (200, unauthenticated.as_str(), 0)
    );
    let (_, code, _) = grpc_web(&gw, "chat", Some("wrong-key")).await;
    assert_eq!(code, unauthenticated);
    for endpoint in ["chat", "ab"] {
        let (status, code, messages) = grpc_web(&gw, endpoint, Some(TEAM_A)).await;
        assert_eq!((status, code.as_str()), (200, "0"), "{endpoint}");
        let reply = pb::ChatResponse::decode(messages[0].as_slice()).unwrap();
        assert!(!reply.choices.is_empty());
    }
    let (_, code, _) = grpc_web(&gw, "other-chat", Some(TEAM_A)).await;
    assert_eq!(code, (tonic::Code::PermissionDenied as i32).to_string());
}

#[tokio::test]
async fn health_is_exempt_by_default_and_exemptions_are_configurable() {
    let gw = TestGateway::start(&keyed("")).await;
    let health = get(&gw, "/health", None).await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"status":"OK"}"#)
    );
    // The metrics scrape is exempt too; exemptions are exact paths only.
    assert_ne!(get(&gw, "/metrics", None).await.status, 401);
    assert_eq!(get(&gw, "/health/", None).await.status, 401);

    let gw = TestGateway::start(&keyed("auth: {exempt_paths: []}\n")).await;
    assert_401(&get(&gw, "/health", None).await, MISSING);
    assert_eq!(get(&gw, "/health", Some(TEAM_A)).await.status, 200);

    // An exempt path is open to everyone, listings included.
    let gw = TestGateway::start(&keyed("auth: {exempt_paths: [/api/2.0/endpoints/]}\n")).await;
    let open = get(&gw, "/api/2.0/endpoints/", None).await;
    assert_eq!(open.status, 200);
    assert_eq!(names(&open.json(), "endpoints").len(), 4);
    assert_401(&get(&gw, "/health", None).await, MISSING);
}

#[tokio::test]
async fn cors_preflights_need_no_key() {
    let gw = TestGateway::start(&keyed("")).await;
    let resp = gw
        .http
        .request(reqwest::Method::OPTIONS, gw.url("/v1/chat/completions"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status().as_u16(), 401);
    // Without the preflight headers an OPTIONS request is an ordinary one.
    let resp = gw
        .http
        .request(reqwest::Method::OPTIONS, gw.url("/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn the_gateway_key_is_not_forwarded_upstream() {
    let gw = TestGateway::start(&keyed("")).await;
    let r = post(&gw, "/gateway/upstream/invocations", CHAT, Some(ADMIN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = gw.upstream();
    assert_eq!(sent.len(), 1);
    let auth = sent[0]
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>();
    assert_eq!(auth, ["Bearer sk-provider-key"]);
    assert!(!format!("{sent:?}").contains(ADMIN));
}

#[tokio::test]
async fn no_api_keys_section_means_everything_is_open() {
    let gw = TestGateway::start(CONFIG).await;
    for key in [None, Some("anything")] {
        let r = post(&gw, "/gateway/mock-chat/invocations", CHAT, key).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = post(&gw, "/v1/chat/completions", &openai_chat("mock-chat"), key).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(get(&gw, "/api/2.0/endpoints/", key).await.status, 200);
    }
    let mut chat = ChatServiceClient::new(gw.channel().await);
    assert!(chat.chat(chat_request("mock-chat")).await.is_ok());
}

/// Rotating keys: a reload (here `Trigger::Explicit`, what SIGHUP does) re-reads a key file
/// and applies a changed `api_keys` section to the next request.
#[tokio::test]
async fn a_reload_changes_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("team-a.key");
    std::fs::write(&key_file, "first-key-0123456789\n").unwrap();
    let config = |grant: &str| {
        format!(
            "endpoints:\n  - {{name: chat, endpoint_type: llm/v1/chat, model: {{provider: mock}}}}\n  - {{name: other, endpoint_type: llm/v1/chat, model: {{provider: mock}}}}\napi_keys:\n  - {{name: team-a, key: '{}'{grant}}}\n",
            key_file.display()
        )
    };
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config("")).unwrap();
    let source = Source::read(&path).unwrap();
    let loaded = source.load().unwrap();
    let gateway = Gateway::new(&loaded.config, &Settings::default()).unwrap();
    let reloader = Reloader::new(gateway.clone(), source, &loaded.config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(
        listener,
        server::app(gateway, server::DEFAULT_BODY_LIMIT),
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    let http = reqwest::Client::new();
    let call = |endpoint: &'static str, key: &'static str| {
        let req = http
            .post(format!("http://{addr}/gateway/{endpoint}/invocations"))
            .header("content-type", "application/json")
            .bearer_auth(key)
            .body(CHAT);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(call("other", "first-key-0123456789").await, 200);

    // The key file is rotated: the old key stops working, the new one starts.
    std::fs::write(&key_file, "second-key-0123456789\n").unwrap();
    assert_eq!(call("other", "first-key-0123456789").await, 200);
    assert!(matches!(
        reloader.reload_now(Trigger::Explicit).await,
        Outcome::Reloaded(_)
    ));
    assert_eq!(call("other", "first-key-0123456789").await, 401);
    assert_eq!(call("other", "second-key-0123456789").await, 200);

    // The grant is narrowed in the config file.
    std::fs::write(&path, config(", endpoints: [chat]")).unwrap();
    assert!(matches!(
        reloader.reload_now(Trigger::Explicit).await,
        Outcome::Reloaded(_)
    ));
    assert_eq!(call("other", "second-key-0123456789").await, 403);
    assert_eq!(call("chat", "second-key-0123456789").await, 200);
    let _ = stop.send(());
}
