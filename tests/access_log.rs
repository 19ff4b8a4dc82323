//! Access lines and request ids: one line per request on every surface, with its outcome,
//! endpoint, provider, latency and usage; `x-request-id` honoured or minted on every response;
//! no prompt, completion or secret in any log line unless `--log-bodies` asks for bodies (and
//! then secrets redacted); and the binary's JSON lines and admin port.
//!
//! The in-process tests share one capturing subscriber (JSON, like `--log-format json`) and
//! find their lines by request id, so they may run in one process side by side.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{CONFIG, TestGateway};
use futures::StreamExt;
use llm_gateway::pb::v1 as pb;
use llm_gateway::service::Settings;
use pb::chat_service_client::ChatServiceClient;
use serde_json::Value;

/// Every line the in-process gateways logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The lines of request `id` on `target`.
    fn of(&self, id: &str, target: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["request_id"] == id && l["target"] == target)
            .collect()
    }

    /// The access line of request `id`, once it is written (a request is logged when its
    /// response body ends, which the client may see a moment before the server does).
    async fn access(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut lines = self.of(id, "access");
            if !lines.is_empty() {
                assert_eq!(lines.len(), 1, "one access line per request: {lines:?}");
                return lines.remove(0);
            }
            assert!(Instant::now() < deadline, "no access line for {id}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,bodies=debug"))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        captured
    })
}

async fn post_with_id(gw: &TestGateway, path: &str, id: &str, body: &str) -> common::Reply {
    let resp = gw
        .http
        .post(gw.url(path))
        .header("content-type", "application/json")
        .header("x-request-id", id)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    common::Reply::read(resp).await
}

fn chat_body(model: &str, prompt: &str, stream: bool) -> String {
    serde_json::json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": prompt}]})
        .to_string()
}

fn grpc_request(endpoint: &str, id: &str) -> tonic::Request<pb::ChatRequest> {
    let mut r = tonic::Request::new(pb::ChatRequest {
        endpoint: endpoint.into(),
        messages: vec![pb::Message {
            role: "user".into(),
            content: Some("hi".into()),
            ..Default::default()
        }],
        ..Default::default()
    });
    r.metadata_mut().insert("x-request-id", id.parse().unwrap());
    r
}

#[tokio::test]
async fn every_request_gets_one_access_line_and_its_id_back() {
    let logs = logs();
    let gw = TestGateway::start(CONFIG).await;

    let reply = post_with_id(
        &gw,
        "/v1/chat/completions",
        "rest-1",
        &chat_body("chat", "hi", false),
    )
    .await;
    assert_eq!(reply.header("x-request-id"), Some("rest-1"));
    // The id goes upstream too, so the provider's logs can be matched with the gateway's.
    let upstream = gw.upstream();
    assert_eq!(upstream.len(), 1);
    assert_eq!(upstream[0].header("x-request-id"), Some("rest-1"));
    let line = logs.access("rest-1").await;
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["surface"], "openai-rest");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["path"], "/v1/chat/completions");
    assert_eq!(line["status"], 200);
    assert_eq!(line["class"], "2xx");
    assert_eq!(line["endpoint"], "chat");
    assert_eq!(line["provider"], "openai");
    assert_eq!(line["stream"], false);
    assert_eq!(line["completed"], true);
    assert_eq!(
        (
            line["prompt_tokens"].as_u64(),
            line["completion_tokens"].as_u64()
        ),
        (Some(9), Some(3))
    );
    assert!(line["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(line["upstream_ms"].as_f64().unwrap() <= line["latency_ms"].as_f64().unwrap());

    // A 404 from the router carries the id and is logged without an endpoint.
    let reply = post_with_id(&gw, "/no/such/path", "nf-1", "{}").await;
    assert_eq!(
        (reply.status, reply.header("x-request-id")),
        (404, Some("nf-1"))
    );
    let line = logs.access("nf-1").await;
    assert_eq!(
        (line["status"].as_u64(), line["class"].as_str()),
        (Some(404), Some("4xx"))
    );
    assert!(line.get("endpoint").is_none(), "{line}");

    // An unusable id (a space, or too long) is replaced by a minted one, logged under it.
    for bad in ["has space", &"x".repeat(129)] {
        let reply = post_with_id(&gw, "/health", bad, "").await;
        let minted = reply.header("x-request-id").unwrap().to_owned();
        assert_eq!(minted.len(), 32);
        assert!(minted.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(logs.access(&minted).await["path"], "/health");
    }

    // gRPC: the id comes back as metadata, the outcome is a gRPC code.
    let mut client = ChatServiceClient::new(gw.channel().await);
    let reply = client.chat(grpc_request("chat", "grpc-1")).await.unwrap();
    assert_eq!(reply.metadata().get("x-request-id").unwrap(), "grpc-1");
    assert_eq!(
        gw.upstream()
            .last()
            .and_then(|r| r.header("x-request-id").map(str::to_owned)),
        Some("grpc-1".to_owned())
    );
    let line = logs.access("grpc-1").await;
    assert_eq!(
        (line["surface"].as_str(), line["grpc_status"].as_str()),
        (Some("grpc"), Some("OK"))
    );
    let err = client
        .chat(grpc_request("nope", "grpc-2"))
        .await
        .unwrap_err();
    assert_eq!(err.metadata().get("x-request-id").unwrap(), "grpc-2");
    let line = logs.access("grpc-2").await;
    assert_eq!(
        (line["grpc_status"].as_str(), line["class"].as_str()),
        (Some("NOT_FOUND"), Some("4xx"))
    );
    let mut stream = client
        .stream_chat(grpc_request("chat", "grpc-3"))
        .await
        .unwrap()
        .into_inner();
    while let Some(item) = stream.next().await {
        item.unwrap();
    }
    let line = logs.access("grpc-3").await;
    assert_eq!(
        (line["stream"].as_bool(), line["grpc_status"].as_str()),
        (Some(true), Some("OK"))
    );
    assert!(line["ttft_ms"].as_f64().unwrap() <= line["latency_ms"].as_f64().unwrap());

    // An SSE stream the client reads to the end.
    let reply = post_with_id(
        &gw,
        "/v1/chat/completions",
        "sse-1",
        &chat_body("chat", "hi", true),
    )
    .await;
    assert!(reply.body.ends_with("data: [DONE]\n\n"));
    let line = logs.access("sse-1").await;
    assert_eq!(
        (line["stream"].as_bool(), line["completed"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(line["ttft_ms"].is_number());
    assert_eq!(line["completion_tokens"], 3);
}

#[tokio::test]
async fn a_client_that_leaves_early_is_logged_as_such() {
    let logs = logs();
    let gw = TestGateway::start(CONFIG).await;
    // The `slow` endpoint's upstream answers after 2 s; the client gives up long before.
    let sent = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("x-request-id", "gone-1")
        .body(chat_body("slow", "hi", false))
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(sent.is_err());
    let line = logs.access("gone-1").await;
    assert_eq!(
        (line["class"].as_str(), line["completed"].as_bool()),
        (Some("4xx"), Some(false))
    );
    assert!(line.get("status").is_none(), "no response was sent: {line}");
}

#[tokio::test]
async fn logs_hold_no_prompt_completion_or_secret() {
    let logs = logs();
    let gw = TestGateway::start(CONFIG).await;
    let canary = "PROMPT-CANARY-7f3a";
    for (i, model) in ["chat", "echo-key", "stream-error", "nope"]
        .iter()
        .enumerate()
    {
        let id = format!("quiet-{i}");
        post_with_id(
            &gw,
            "/v1/chat/completions",
            &id,
            &chat_body(model, canary, false),
        )
        .await;
        logs.access(&id).await;
        let id = format!("{id}-s");
        post_with_id(
            &gw,
            "/gateway/chat/invocations",
            &id,
            &chat_body(model, canary, true),
        )
        .await;
        logs.access(&id).await;
    }
    let text = logs.text();
    assert!(!text.contains(canary), "a prompt reached the log:\n{text}");
    // The echo-key upstream put the key in its error; neither the key nor the config's
    // other secrets are logged anywhere.
    for secret in ["sk-test-key", "az-test-key", "gsk-test-key", "aad-token"] {
        assert!(!text.contains(secret), "{secret} reached the log:\n{text}");
    }
    let quiet: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|l| {
            l["request_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("quiet-"))
        })
        .collect();
    assert!(!quiet.is_empty());
    for line in quiet {
        assert_eq!(
            line["target"], "access",
            "only access lines without --log-bodies: {line}"
        );
        assert!(!line.to_string().contains("Hello from mock"), "{line}");
    }
}

#[tokio::test]
async fn log_bodies_logs_them_with_secrets_redacted() {
    let logs = logs();
    let settings = Settings {
        connect_timeout: Duration::from_secs(2),
        log_bodies: true,
        ..Settings::default()
    };
    let gw = TestGateway::start_with_settings(CONFIG, settings).await;
    let prompt = "BODY-CANARY quoting sk-test-key";
    let reply = post_with_id(
        &gw,
        "/v1/chat/completions",
        "bodies-1",
        &chat_body("chat", prompt, false),
    )
    .await;
    assert_eq!(reply.status, 200);
    logs.access("bodies-1").await;
    let bodies = logs.of("bodies-1", "bodies");
    let kinds: Vec<&str> = bodies.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["request", "response"]);
    assert!(bodies.iter().all(|l| l["level"] == "DEBUG"));
    let request = bodies[0]["body"].as_str().unwrap();
    assert!(
        request.contains("BODY-CANARY quoting [redacted]"),
        "{request}"
    );
    assert!(
        bodies[1]["body"]
            .as_str()
            .unwrap()
            .contains("Hello from mock")
    );

    post_with_id(
        &gw,
        "/v1/chat/completions",
        "bodies-2",
        &chat_body("chat", prompt, true),
    )
    .await;
    logs.access("bodies-2").await;
    let chunks = logs.of("bodies-2", "bodies");
    assert!(
        chunks.iter().filter(|l| l["kind"] == "chunk").count() >= 2,
        "{chunks:?}"
    );
    assert!(!logs.text().contains("sk-test-key"));
}

// ---------------------------------------------------------------------------------------------
// The binary: --log-format json, --admin-port

const BIN: &str = env!("CARGO_BIN_EXE_llm-gateway");

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for a line of `lines` that `find` accepts.
fn wait_line(lines: &Mutex<Vec<String>>, find: impl Fn(&str) -> Option<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = lines.lock().unwrap().iter().find_map(|l| find(l)) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "not logged: {:?}",
            lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn address_after(line: &str, marker: &str) -> Option<String> {
    let v: Value = serde_json::from_str(line).ok()?;
    let rest = v["message"].as_str()?.split(marker).nth(1)?;
    Some(rest.split([' ', ':']).take(2).collect::<Vec<_>>().join(":"))
}

#[test]
fn the_binary_logs_json_lines_and_serves_metrics_on_the_admin_port() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.yaml");
    std::fs::write(
        &config,
        "endpoints:\n  - name: chat\n    endpoint_type: llm/v1/chat\n    model: {provider: mock, name: m, config: {}}\n  - name: keyed\n    endpoint_type: llm/v1/chat\n    model: {provider: openai, name: gpt-4o, config: {openai_api_key: sk-bin-secret-4242, openai_api_base: \"http://127.0.0.1:9/v1\"}}\n",
    )
    .unwrap();
    let mut child = Child(
        Command::new(BIN)
            .args([
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--admin-port",
                "0",
            ])
            .args(["--log-format", "json", "--log-bodies", "--config-path"])
            .arg(&config)
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let stderr = child.0.stderr.take().unwrap();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let main = wait_line(&lines, |l| {
        address_after(l, "llm-gateway listening on http://")
    });
    let admin = wait_line(&lines, |l| address_after(l, "admin listening on http://"));

    let rt = tokio::runtime::Runtime::new().unwrap();
    llm_gateway::providers::http::install_crypto_provider();
    let http = reqwest::Client::new();
    let prompt = "BIN-CANARY sk-bin-secret-4242";
    let (answer, metrics, health) = rt.block_on(async {
        let answer = http
            .post(format!("http://{main}/v1/chat/completions"))
            .header("x-request-id", "bin-1")
            .body(chat_body("chat", prompt, false))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.headers()["x-request-id"], "bin-1");
        let answer = answer.text().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let metrics = loop {
            let text = http.get(format!("http://{admin}/metrics")).send().await.unwrap().text().await.unwrap();
            if text.contains("llm_gateway_requests_total{surface=\"openai-rest\",endpoint=\"chat\",provider=\"mock\",stream=\"false\",status_class=\"2xx\",code=\"200\"} 1") {
                break text;
            }
            assert!(Instant::now() < deadline, "{text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let health = http.get(format!("http://{admin}/health")).send().await.unwrap().text().await.unwrap();
        (answer, metrics, health)
    });
    assert!(
        answer.contains("BIN-CANARY"),
        "the mock echoes the prompt: {answer}"
    );
    assert!(metrics.starts_with("# HELP"), "{metrics}");
    assert_eq!(health, r#"{"status":"OK"}"#);

    let access = wait_line(&lines, |l| {
        let v: Value = serde_json::from_str(l).ok()?;
        (v["target"] == "access" && v["request_id"] == "bin-1").then(|| l.to_owned())
    });
    let access: Value = serde_json::from_str(&access).unwrap();
    assert_eq!(
        (access["level"].as_str(), access["endpoint"].as_str()),
        (Some("INFO"), Some("chat"))
    );
    assert_eq!(access["provider"], "mock");
    let logged = lines.lock().unwrap().clone();
    for line in &logged {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            !line.contains("sk-bin-secret-4242"),
            "a secret reached the log: {line}"
        );
        if v["target"] != "bodies" {
            assert!(
                !line.contains("BIN-CANARY"),
                "a prompt outside the body log: {line}"
            );
        }
        // Admin requests are not access-logged.
        assert!(v["path"] != "/metrics" && v["path"] != "/health", "{line}");
    }
    // --log-bodies: the prompt and the completion are logged, the secret in them redacted.
    let bodies: Vec<&String> = logged
        .iter()
        .filter(|l| l.contains("\"target\":\"bodies\""))
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(
        bodies.iter().all(|l| l.contains("BIN-CANARY [redacted]")),
        "{bodies:?}"
    );
}
