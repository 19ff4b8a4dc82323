//! OpenTelemetry traces end to end, received by an in-process OTLP/gRPC collector: REST and gRPC
//! calls (unary and streamed) make a server span under the client's `traceparent`, a call span
//! with the GenAI attributes and an upstream span whose context the upstream receives; nothing
//! secret or said reaches a span. Then the real binary: without an endpoint nothing is
//! propagated or exported; with `--otlp-endpoint` its spans are flushed when it stops.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{CONFIG, TestGateway};
use futures::StreamExt;
use llm_gateway::mock_upstream::{MockOptions, MockUpstream, RecordedRequest};
use llm_gateway::otel::{Tracing, TracingOptions};
use llm_gateway::pb::v1 as pb;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

const BIN: &str = env!("CARGO_BIN_EXE_llm-gateway");

/// Words that must never reach a span: the prompt, the mock's answer, the upstream key.
const PROMPT: &str = "describe-the-purple-elephant";
const SECRETS: [&str; 3] = [PROMPT, "Hello from mock", "sk-test-key"];

// ---------------------------------------------------------------------------------------------
// The collector

/// A span as the collector received it, with its attributes as text.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    kind: SpanKind,
    attributes: HashMap<String, String>,
    error: bool,
}

impl Received {
    fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut out = self.spans.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
                .unwrap_or_default();
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                out.push(Received {
                    service: service.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name.clone(),
                    kind: SpanKind::try_from(span.kind).unwrap(),
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| {
                            let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
                            (kv.key.clone(), text(value))
                        })
                        .collect(),
                    // STATUS_CODE_ERROR = 2
                    error: span.status.as_ref().is_some_and(|s| s.code == 2),
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn text(value: Option<&AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(|v| text(v.value.as_ref())).collect();
            format!("[{}]", items.join(","))
        }
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The collector, on its own thread and runtime so that it outlives any one test's runtime.
fn collector() -> &'static (SocketAddr, Collector) {
    static COLLECTOR: OnceLock<(SocketAddr, Collector)> = OnceLock::new();
    COLLECTOR.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let collector = Collector::default();
                tx.send((listener.local_addr().unwrap(), collector.clone()))
                    .unwrap();
                let router = tonic::service::Routes::new(TraceServiceServer::new(collector))
                    .into_axum_router();
                axum::serve(listener, router).await.unwrap();
            });
        });
        rx.recv().unwrap()
    })
}

/// Tracing on in this process, exporting to the collector (once; before any gateway starts).
fn tracing_on() -> &'static Tracing {
    static TRACING: OnceLock<Tracing> = OnceLock::new();
    TRACING.get_or_init(|| {
        let options = TracingOptions {
            endpoint: format!("http://{}", collector().0),
            service_name: "otel-traces-test".into(),
        };
        Tracing::start(&options).unwrap()
    })
}

fn received(trace_id: &str) -> Vec<Received> {
    let spans = collector().1.spans.lock().unwrap();
    spans
        .iter()
        .filter(|s| s.trace_id == trace_id)
        .cloned()
        .collect()
}

/// Flushes this process's spans until `count` of trace `trace_id` arrived (the server span ends
/// only once the response body is done, a moment after the client has it), within 10 s.
async fn spans_of(trace_id: &str, count: usize) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::task::spawn_blocking(|| tracing_on().force_flush())
            .await
            .unwrap()
            .unwrap();
        let spans = received(trace_id);
        if spans.len() >= count {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "expected {count} spans of trace {trace_id}, got {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the tests

/// A client's trace context: (trace id, parent span id, traceparent header).
fn client_context() -> (String, String, String) {
    let trace_id = format!("{:016x}{:016x}", fastrand::u64(1..), fastrand::u64(..));
    let span_id = format!("{:016x}", fastrand::u64(1..));
    let header = format!("00-{trace_id}-{span_id}-01");
    (trace_id, span_id, header)
}

/// The span id the upstream was told is its parent, after checking the trace id.
fn upstream_parent(up: &RecordedRequest, trace_id: &str) -> String {
    let tp = up
        .header("traceparent")
        .unwrap_or_else(|| panic!("no traceparent upstream: {:?}", up.headers));
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    assert_eq!(
        (parts[0], parts[1], parts[3]),
        ("00", trace_id, "01"),
        "{tp}"
    );
    parts[2].to_owned()
}

fn one<'a>(spans: &'a [Received], what: &str, pick: impl Fn(&Received) -> bool) -> &'a Received {
    let found: Vec<&Received> = spans.iter().filter(|s| pick(s)).collect();
    assert_eq!(found.len(), 1, "one {what} span expected in {spans:#?}");
    found[0]
}

/// The three spans of one call, linked parent to child, the upstream's parent the upstream span.
struct Tree<'a> {
    server: &'a Received,
    call: &'a Received,
    upstream: &'a Received,
}

fn tree<'a>(spans: &'a [Received], up: &RecordedRequest, call_name: &str) -> Tree<'a> {
    let server = one(spans, "server", |s| s.kind == SpanKind::Server);
    let call = one(spans, "call", |s| s.name == call_name);
    let upstream = one(spans, "upstream", |s| s.kind == SpanKind::Client);
    assert_eq!(call.kind, SpanKind::Internal);
    assert_eq!(call.parent_span_id, server.span_id);
    assert_eq!(upstream.parent_span_id, call.span_id);
    assert_eq!(upstream_parent(up, &server.trace_id), upstream.span_id);
    assert_eq!(upstream.name, "POST");
    assert_eq!(upstream.attr("server.address"), "127.0.0.1");
    assert_eq!(upstream.attr("url.path"), up.path());
    assert_eq!(upstream.attr("http.response.status_code"), "200");
    for span in spans {
        assert_eq!(span.service, "otel-traces-test");
        for (key, value) in &span.attributes {
            for secret in SECRETS {
                assert!(!value.contains(secret), "{key}={value} in {}", span.name);
            }
        }
    }
    Tree {
        server,
        call,
        upstream,
    }
}

fn chat_request(endpoint: &str) -> pb::ChatRequest {
    pb::ChatRequest {
        endpoint: endpoint.into(),
        messages: vec![pb::Message {
            role: "user".into(),
            content: Some(PROMPT.into()),
            ..Default::default()
        }],
        temperature: Some(0.5),
        ..Default::default()
    }
}

fn with_traceparent<T>(message: T, traceparent: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    request
}

// ---------------------------------------------------------------------------------------------
// In process

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_chat_joins_the_client_trace() {
    tracing_on();
    let gw = TestGateway::start(CONFIG).await;
    let (trace_id, client_span, traceparent) = client_context();
    let resp = gw
        .http
        .post(gw.url("/gateway/chat/invocations"))
        .header("content-type", "application/json")
        .header("traceparent", &traceparent)
        .header("tracestate", "vendor=opaque")
        .body(format!(
            r#"{{"messages":[{{"role":"user","content":"{PROMPT}"}}],"temperature":0.5}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let request_id = resp
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    assert!(request_id.is_some());
    resp.text().await.unwrap();
    let up = gw.upstream().remove(0);
    assert_eq!(up.header("tracestate"), Some("vendor=opaque"));

    let spans = spans_of(&trace_id, 3).await;
    let t = tree(&spans, &up, "chat chat");
    assert_eq!(t.server.parent_span_id, client_span);
    assert_eq!(t.server.name, "POST /gateway/{name}/invocations");
    assert_eq!(t.server.attr("http.route"), "/gateway/{name}/invocations");
    assert_eq!(t.server.attr("url.path"), "/gateway/chat/invocations");
    assert_eq!(t.server.attr("http.response.status_code"), "200");
    assert_eq!(
        Some(t.server.attr("llm_gateway.request_id")),
        request_id.as_deref()
    );
    assert!(!t.server.error);
    let call = t.call;
    assert_eq!(call.attr("gen_ai.operation.name"), "chat");
    assert_eq!(call.attr("gen_ai.system"), "openai");
    assert_eq!(call.attr("gen_ai.request.model"), "gpt-4o-mini");
    assert_eq!(call.attr("gen_ai.request.temperature"), "0.5");
    assert_eq!(call.attr("gen_ai.response.model"), "gpt-4o-mini");
    assert_eq!(call.attr("gen_ai.response.id"), "chatcmpl-mock");
    assert_eq!(call.attr("gen_ai.usage.input_tokens"), "9");
    assert_eq!(call.attr("gen_ai.usage.output_tokens"), "3");
    assert_eq!(call.attr("gen_ai.response.finish_reasons"), "[stop]");
    assert_eq!(call.attr("llm_gateway.endpoint"), "chat");
    assert_eq!(call.attr("llm_gateway.destination"), "chat");
    assert!(!call.error && !t.upstream.error);
}

/// Every line this process logged, as JSON (a subscriber installed once per test process).
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(tracing_subscriber::EnvFilter::new("access=info"))
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        lines
    })
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_line_names_the_trace() {
    let logs = captured_logs();
    tracing_on();
    let gw = TestGateway::start(CONFIG).await;
    let (trace_id, _, traceparent) = client_context();
    let resp = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .header("traceparent", &traceparent)
        .header("x-request-id", "traced-1")
        .body(r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    // Written when the response body ends, a moment after the client has it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
        let found = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["target"] == "access" && l["request_id"] == "traced-1");
        if let Some(line) = found {
            break line;
        }
        assert!(Instant::now() < deadline, "no access line: {text}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_chat_joins_the_client_trace() {
    tracing_on();
    let gw = TestGateway::start(CONFIG).await;
    let (trace_id, client_span, traceparent) = client_context();
    let mut client = pb::chat_service_client::ChatServiceClient::new(gw.channel().await);
    let resp = client
        .chat(with_traceparent(chat_request("split"), &traceparent))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.choices.len(), 1);
    let up = gw.upstream().remove(0);

    let spans = spans_of(&trace_id, 3).await;
    let t = tree(&spans, &up, "chat split");
    assert_eq!(t.server.parent_span_id, client_span);
    assert_eq!(t.server.name, "llmgateway.v1.ChatService/Chat");
    assert_eq!(t.server.attr("rpc.system"), "grpc");
    assert_eq!(t.server.attr("rpc.service"), "llmgateway.v1.ChatService");
    assert_eq!(t.server.attr("rpc.method"), "Chat");
    assert_eq!(t.server.attr("rpc.grpc.status_code"), "0");
    // A route: the span names what was called and which destination served.
    assert_eq!(t.call.attr("llm_gateway.endpoint"), "split");
    assert_eq!(t.call.attr("llm_gateway.destination"), "chat");
    assert_eq!(t.call.attr("gen_ai.system"), "openai");
    assert_eq!(t.call.attr("gen_ai.response.finish_reasons"), "[stop]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_stream_span_lasts_to_the_end_of_the_stream() {
    tracing_on();
    let gw = TestGateway::start(CONFIG).await;
    let (trace_id, client_span, traceparent) = client_context();
    let mut client = pb::chat_service_client::ChatServiceClient::new(gw.channel().await);
    let mut stream = client
        .stream_chat(with_traceparent(chat_request("chat"), &traceparent))
        .await
        .unwrap()
        .into_inner();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        chunk.unwrap();
        chunks += 1;
    }
    assert!(chunks > 1);
    let up = gw.upstream().remove(0);

    let spans = spans_of(&trace_id, 3).await;
    let t = tree(&spans, &up, "chat chat");
    assert_eq!(t.server.parent_span_id, client_span);
    assert_eq!(t.server.name, "llmgateway.v1.ChatService/StreamChat");
    assert_eq!(t.server.attr("rpc.grpc.status_code"), "0");
    let call = t.call;
    assert_eq!(call.attr("llm_gateway.stream"), "true");
    assert_eq!(call.attr("gen_ai.response.model"), "gpt-4o-mini");
    assert_eq!(call.attr("gen_ai.response.finish_reasons"), "[stop]");
    assert_eq!(call.attr("gen_ai.usage.input_tokens"), "9");
    assert_eq!(call.attr("gen_ai.usage.output_tokens"), "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_trace_context_starts_one_and_sends_it_upstream() {
    tracing_on();
    let gw = TestGateway::start(CONFIG).await;
    let reply = gw
        .post(
            "/v1/embeddings",
            r#"{"model":"embeddings","input":["a","b"]}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let up = gw.upstream().remove(0);
    let tp = up.header("traceparent").expect("a traceparent upstream");
    let trace_id = tp.split('-').nth(1).unwrap().to_owned();

    let spans = spans_of(&trace_id, 3).await;
    let t = tree(&spans, &up, "embeddings embeddings");
    // A new trace: the server span is its root.
    assert_eq!(t.server.parent_span_id, "");
    assert_eq!(t.server.name, "POST /v1/embeddings");
    assert_eq!(t.call.attr("gen_ai.operation.name"), "embeddings");
    assert_eq!(t.call.attr("gen_ai.usage.input_tokens"), "8");
    assert_eq!(
        t.call.attr("gen_ai.request.model"),
        "text-embedding-3-small"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsampled_client_trace_is_carried_upstream_but_not_recorded() {
    tracing_on();
    let gw = TestGateway::start(CONFIG).await;
    let body = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#;
    let call = |traceparent: String| {
        gw.http
            .post(gw.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .header("traceparent", traceparent)
            .body(body)
            .send()
    };
    let (unsampled, parent, _) = client_context();
    let resp = call(format!("00-{unsampled}-{parent}-00")).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    let up = gw.upstream().remove(0);
    let tp = up.header("traceparent").expect("the context goes on");
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!((parts[1], parts[3]), (unsampled.as_str(), "00"), "{tp}");

    // A sampled call after it, on the same connection: once its spans are in, any of the first
    // call's would be too.
    let (sampled, _, traceparent) = client_context();
    let resp = call(traceparent).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    spans_of(&sampled, 3).await;
    assert!(received(&unsampled).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_recorded_by_class_not_by_message() {
    tracing_on();
    let gw = TestGateway::start(CONFIG).await;
    let (trace_id, _, traceparent) = client_context();
    let resp = gw
        .http
        .post(gw.url("/v1/completions"))
        .header("content-type", "application/json")
        .header("traceparent", &traceparent)
        .body(r#"{"model":"completions","prompt":"p","max_tokens":7}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = gw
        .http
        .post(gw.url("/gateway/err429/invocations"))
        .header("content-type", "application/json")
        .header("traceparent", &traceparent)
        .body(format!(
            r#"{{"messages":[{{"role":"user","content":"{PROMPT}"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);

    let spans = spans_of(&trace_id, 6).await;
    let completion = one(&spans, "completion call", |s| {
        s.name == "text_completion completions"
    });
    assert_eq!(completion.attr("gen_ai.system"), "openai");
    assert_eq!(completion.attr("gen_ai.request.max_tokens"), "7");
    assert_eq!(
        completion.attr("gen_ai.response.finish_reasons"),
        "[length]"
    );
    assert_eq!(completion.attr("gen_ai.usage.output_tokens"), "7");

    let failed = one(&spans, "failed call", |s| s.name == "chat err429");
    assert!(failed.error);
    assert_eq!(failed.attr("error.type"), "rate_limited");
    assert_eq!(failed.attr("gen_ai.response.model"), "");
    let upstream = one(&spans, "failed upstream", |s| {
        s.kind == SpanKind::Client && s.parent_span_id == failed.span_id
    });
    assert!(upstream.error);
    assert_eq!(upstream.attr("http.response.status_code"), "429");
    assert_eq!(upstream.attr("error.type"), "429");
    // A client-side status is not a server fault.
    let server = one(&spans, "failed server", |s| {
        s.span_id == failed.parent_span_id
    });
    assert_eq!(server.attr("http.response.status_code"), "429");
    assert!(!server.error);
    for span in &spans {
        for (key, value) in &span.attributes {
            assert!(!value.contains(PROMPT), "{key}={value}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The binary

/// A running `llm-gateway start` and the mock upstream its one chat endpoint calls.
struct Binary {
    child: Child,
    addr: String,
    mock: MockUpstream,
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Binary {
    fn start(extra: &[&str], env: &[(&str, &str)]) -> Binary {
        llm_gateway::providers::http::install_crypto_provider();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mock = rt
            .block_on(MockUpstream::start_local(MockOptions {
                record: true,
                slow_ms: 2_000,
            }))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("gateway.yaml");
        std::fs::write(
            &config,
            format!(
                "endpoints:\n  - name: chat\n    endpoint_type: llm/v1/chat\n    model:\n      provider: openai\n      name: gpt-4o-mini\n      config: {{openai_api_key: sk-test-key, openai_api_base: \"{}/v1\"}}\n",
                mock.base_url()
            ),
        )
        .unwrap();
        let mut command = Command::new(BIN);
        command
            .args([
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--config-path",
            ])
            .arg(&config)
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_SERVICE_NAME")
            .env_remove("OTEL_SDK_DISABLED")
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                panic!("the gateway exited before listening");
            };
            if let Some(rest) = line.unwrap().split("listening on http://").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Binary {
            child,
            addr,
            mock,
            rt,
            _dir: dir,
        }
    }

    /// One chat call with a client trace context; returns what the upstream received.
    fn chat(&self, traceparent: &str) -> RecordedRequest {
        let status = self.rt.block_on(async {
            reqwest::Client::new()
                .post(format!("http://{}/gateway/chat/invocations", self.addr))
                .header("traceparent", traceparent)
                .header("tracestate", "vendor=opaque")
                .body(r#"{"messages":[{"role":"user","content":"hi"}]}"#)
                .send()
                .await
                .unwrap()
                .status()
        });
        assert_eq!(status, 200);
        self.mock.take_requests().remove(0)
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit status after SIGTERM: {status}");
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn off_without_an_endpoint_nothing_is_propagated_or_exported() {
    collector();
    let gw = Binary::start(&[], &[("OTEL_SERVICE_NAME", "otel-off")]);
    let (trace_id, _, traceparent) = client_context();
    let up = gw.chat(&traceparent);
    assert_eq!(up.header("traceparent"), None, "{:?}", up.headers);
    assert_eq!(up.header("tracestate"), None);
    // Stopping would flush: after it, nothing of the trace can still be on its way.
    gw.stop();
    assert!(received(&trace_id).is_empty());
}

#[test]
fn the_binary_exports_with_its_service_name_and_flushes_on_shutdown() {
    let (addr, _) = collector();
    let endpoint = format!("http://{addr}");
    let gw = Binary::start(
        &["--otlp-endpoint", &endpoint],
        &[
            ("OTEL_SERVICE_NAME", "gateway-under-test"),
            // No export on a timer during the test: what arrives was flushed by the shutdown.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    );
    let (trace_id, client_span, traceparent) = client_context();
    let up = gw.chat(&traceparent);
    let upstream_span = upstream_parent(&up, &trace_id);
    assert_eq!(up.header("tracestate"), Some("vendor=opaque"));
    gw.stop();

    let spans = received(&trace_id);
    assert_eq!(spans.len(), 3, "{spans:#?}");
    assert!(spans.iter().all(|s| s.service == "gateway-under-test"));
    let server = one(&spans, "server", |s| s.kind == SpanKind::Server);
    assert_eq!(server.parent_span_id, client_span);
    let upstream = one(&spans, "upstream", |s| s.kind == SpanKind::Client);
    assert_eq!(upstream.span_id, upstream_span);
}

#[test]
fn a_bad_endpoint_is_refused_at_start() {
    let out = Command::new(BIN)
        .args([
            "start",
            "--config-path",
            "examples/quickstart.yaml",
            "--port",
            "0",
            "--otlp-endpoint",
            "collector:4317",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--otlp-endpoint"), "{stderr}");
    assert!(stderr.contains("http://"), "{stderr}");
}
