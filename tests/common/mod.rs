//! Shared harness for the integration tests: a recording mock upstream and the whole gateway
//! (every surface, one port) started in-process on 127.0.0.1:0, from a YAML config whose
//! `{MOCK}` placeholders are replaced by the mock's base URL.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use llm_gateway::config;
use llm_gateway::mock_upstream::{MockOptions, MockUpstream, RecordedRequest};
use llm_gateway::server;
use llm_gateway::service::{Gateway, Settings};

/// The config most tests use: OpenAI, Azure and OpenAI-compatible endpoints on the mock, fault
/// models (the mock picks its misbehaviour from the model name), a mock-provider endpoint, a
/// limited endpoint and a traffic route.
pub const CONFIG: &str = r#"
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model:
      provider: openai
      name: gpt-4o-mini
      config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1", openai_organization: my-org}
  - name: completions
    endpoint_type: llm/v1/completions
    model:
      provider: openai
      name: gpt-3.5-turbo-instruct
      config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}
  - name: embeddings
    endpoint_type: llm/v1/embeddings
    model:
      provider: openai
      name: text-embedding-3-small
      config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}
  - name: azure-chat
    endpoint_type: llm/v1/chat
    model:
      provider: azure
      name: gpt-4o
      config:
        openai_api_type: azure
        openai_api_key: az-test-key
        openai_api_base: "{MOCK}/"
        openai_deployment_name: my-dep
        openai_api_version: "2024-02-01"
  - name: azuread-embeddings
    endpoint_type: llm/v1/embeddings
    model:
      provider: openai
      name: text-embedding-3-small
      config:
        openai_api_type: azuread
        openai_api_key: aad-token
        openai_api_base: "{MOCK}"
        openai_deployment_name: emb-dep
        openai_api_version: "2024-02-01"
  - name: groq-chat
    endpoint_type: llm/v1/chat
    model:
      provider: groq
      name: llama-3.1-8b-instant
      config: {api_key: gsk-test-key, api_base: "{MOCK}/openai/v1"}
  - name: groq-completions
    endpoint_type: llm/v1/completions
    model:
      provider: groq
      name: llama-3.1-8b-instant
      config: {api_key: gsk-test-key, api_base: "{MOCK}/openai/v1"}
  - name: ollama-chat
    endpoint_type: llm/v1/chat
    model:
      provider: ollama
      name: llama3
      config: {api_base: "{MOCK}/v1"}
  - name: chat-limited
    endpoint_type: llm/v1/chat
    model:
      provider: openai
      name: gpt-4o-mini
      config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}
    limit: {renewal_period: minute, calls: 2}
  - name: mock-chat
    endpoint_type: llm/v1/chat
    model: {provider: mock, name: mock-model, config: {}}
  - name: err400
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: err400, config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}}
  - name: err429
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: err429, config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}}
  - name: err500text
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: err500text, config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}}
  - name: errhtml
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: errhtml, config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}}
  - name: errnoerr
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: errnoerr, config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}}
  - name: badjson
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: badjson, config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}}
  - name: echo-key
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: echo-key, config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}}
  - name: stream-cut
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: stream-cut, config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}}
  - name: stream-error
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: stream-error, config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}}
  - name: slow
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: slow, config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}}
    timeouts: {total_seconds: 0.3}
  - name: unreachable
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: gpt-4o-mini, config: {openai_api_key: sk-test-key, openai_api_base: "http://127.0.0.1:9/v1"}}
routes:
  - name: split
    task_type: llm/v1/chat
    destinations:
      - {name: chat, traffic_percentage: 100}
      - {name: groq-chat, traffic_percentage: 0}
"#;

/// A running gateway and its mock upstream.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub mock: MockUpstream,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestGateway {
    /// Starts the mock, then the gateway on `yaml` (with `{MOCK}` replaced).
    pub async fn start(yaml: &str) -> TestGateway {
        Self::start_with_limit(yaml, server::DEFAULT_BODY_LIMIT).await
    }

    /// As [`TestGateway::start`], with a request-body limit.
    pub async fn start_with_limit(yaml: &str, body_limit: usize) -> TestGateway {
        let settings = Settings {
            connect_timeout: Duration::from_secs(2),
            ..Settings::default()
        };
        Self::start_with(yaml, body_limit, settings).await
    }

    /// As [`TestGateway::start`], with process settings (e.g. a rate-limit store).
    pub async fn start_with_settings(yaml: &str, settings: Settings) -> TestGateway {
        Self::start_with(yaml, server::DEFAULT_BODY_LIMIT, settings).await
    }

    async fn start_with(yaml: &str, body_limit: usize, settings: Settings) -> TestGateway {
        let options = server::AppOptions {
            body_limit,
            ..server::AppOptions::default()
        };
        Self::start_with_options(yaml, settings, options).await
    }

    /// As [`TestGateway::start`], with app options (CORS origins, the health state); as in
    /// `main`, the health service turns NOT_SERVING when [`TestGateway::shutdown`] begins the
    /// drain.
    pub async fn start_with_options(
        yaml: &str,
        settings: Settings,
        options: server::AppOptions,
    ) -> TestGateway {
        let mock = MockUpstream::start_local(MockOptions {
            record: true,
            slow_ms: 2_000,
        })
        .await
        .unwrap();
        let text = yaml.replace("{MOCK}", &mock.base_url());
        let loaded = config::load_str(Path::new("test.yaml"), &text, &|_| None)
            .unwrap_or_else(|e| panic!("test config invalid: {e}"));
        let gateway = Gateway::new(&loaded.config, &settings).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = options.health.not_serving_after(async move {
            let _ = stopped.await;
        });
        let app = server::app_with(gateway, options);
        tokio::spawn(async move {
            let _ = server::serve(listener, app, shutdown, Duration::from_secs(5)).await;
        });
        TestGateway {
            addr,
            mock,
            http: {
                llm_gateway::providers::http::install_crypto_provider();
                reqwest::Client::new()
            },
            stop: Some(stop),
        }
    }

    /// Begins the gateway's shutdown (as SIGTERM would): the listener closes and the drain
    /// starts.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs JSON text; returns status, content type and body text.
    pub async fn post(&self, path: &str, body: &str) -> Reply {
        let resp = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        Reply::read(resp).await
    }

    /// GETs a path without following redirects.
    pub async fn get(&self, path: &str) -> Reply {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Reply::read(client.get(self.url(path)).send().await.unwrap()).await
    }

    /// The upstream requests recorded so far, clearing the log.
    pub fn upstream(&self) -> Vec<RecordedRequest> {
        self.mock.take_requests()
    }

    /// A gRPC channel (h2c) to the gateway.
    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.url(""))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub async fn read(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `data:` payloads of an SSE body, in order.
    pub fn sse_data(&self) -> Vec<String> {
        self.body
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not an SSE data event: {e:?}"))
                    .to_owned()
            })
            .collect()
    }
}

/// A one-message chat request (the user says "hi") to `endpoint`.
pub fn chat_request(endpoint: &str) -> llm_gateway::pb::v1::ChatRequest {
    use llm_gateway::pb::v1 as pb;
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

/// One envelope of a Connect stream, or one gRPC / grpc-web frame: the flags byte, the
/// big-endian length, the payload.
pub fn envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// (flags, payload) of each envelope of a Connect stream or a gRPC / grpc-web body.
pub fn envelopes(body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let (mut out, mut rest) = (Vec::new(), body);
    while !rest.is_empty() {
        assert!(rest.len() >= 5, "truncated envelope: {body:?}");
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        assert!(rest.len() >= 5 + len, "truncated envelope: {body:?}");
        out.push((rest[0], rest[5..5 + len].to_vec()));
        rest = &rest[5 + len..];
    }
    out
}

/// One grpc-web (and gRPC) data frame of `msg`: an uncompressed envelope.
pub fn grpc_web_frame(msg: &impl prost::Message) -> Vec<u8> {
    envelope(0, &msg.encode_to_vec())
}
