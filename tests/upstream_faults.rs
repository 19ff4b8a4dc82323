//! Upstream faults, proven on every surface (issue 7): a scripted upstream misbehaves as each
//! row of a table says (error statuses, `Retry-After`, too slow, refused, closed or reset before
//! headers, cut bodies with and without `content-length`, malformed, empty, HTML or
//! wrongly-shaped JSON, and for streams: failures before the first event, drops, malformed and
//! error events after it), and every surface must show the exact result the row expects:
//! MLflow REST (both route spellings), OpenAI REST, gRPC, grpc-web, Connect and the REST
//! bridge, streaming and not. Then: a client that leaves cancels its upstream call, and an
//! upstream that echoes the credentials it received leaks them to no client and no log line.
//!
//! Each surface helper (`surfaces.rs`) reduces an answer to an [`Outcome`] and checks that it
//! is protocol-correct on the way; each table row is one fault and its expected status, gRPC
//! code and error text. A table test runs every row on every surface and reports every
//! mismatch at once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod scripted_upstream;
#[path = "upstream_faults/surfaces.rs"]
mod surfaces;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::TestGateway;
use scripted_upstream::{Answer, Fault, Upstream};
use surfaces::{ALL, Outcome, Surface, call, code_http};
use tonic::Code;

/// `faulty` and `slowpoke` call the scripted upstream; `refused` a port nobody listens on.
const CONFIG: &str = r#"
endpoints:
  - name: faulty
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m, config: {openai_api_key: sk-faults-0000, openai_api_base: "{UP}/v1"}}
  - name: slowpoke
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m, config: {openai_api_key: sk-faults-0000, openai_api_base: "{UP}/slow/v1"}}
    timeouts: {total_seconds: 0.5}
  - name: refused
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m, config: {openai_api_key: sk-faults-0000, openai_api_base: "http://127.0.0.1:{DEAD}/v1"}}
"#;

const PATH: &str = "/v1/chat/completions";
/// The key of every endpoint in [`CONFIG`].
const KEY: &str = "sk-faults-0000";
const SLOW_PATH: &str = "/slow/v1/chat/completions";

/// A port with nothing listening: bound, then released.
async fn dead_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

async fn start(config: &str) -> (Upstream, TestGateway) {
    let up = Upstream::start().await;
    let yaml = config
        .replace("{UP}", &up.base)
        .replace("{DEAD}", &dead_port().await.to_string());
    let gw = TestGateway::start(&yaml).await;
    (up, gw)
}

fn completion() -> Answer {
    Answer::json(serde_json::json!({
        "id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    }))
}

fn chunk(text: &str) -> String {
    format!(
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\n"
    )
}

fn json_error(status: u16, message: &str) -> Answer {
    Answer::raw(
        status,
        "application/json",
        &format!(r#"{{"error":{{"message":"{message}","type":"upstream_error"}}}}"#),
    )
}

/// How the upstream misbehaves for one row.
#[derive(Clone)]
enum Setup {
    /// `faulty` answers this.
    Answer(Answer),
    /// `faulty` answers this with a connection fault.
    Fault(Answer, Fault),
    /// `slowpoke` (0.5 s timeout) never answers.
    TooSlow,
    /// `refused`.
    Refused,
}

/// One fault and what every surface must show for it.
struct Row {
    name: &'static str,
    setup: Setup,
    /// The REST surfaces' HTTP status (and a started stream's SSE error `code`).
    http: u16,
    /// The gRPC code (gRPC, grpc-web, Connect; the bridge and Connect unary answer its HTTP
    /// status).
    code: Code,
    /// Text every surface's error message contains.
    text: &'static str,
    /// The `Retry-After` every surface forwards.
    retry_after: Option<&'static str>,
}

fn row(name: &'static str, setup: Setup, http: u16, code: Code, text: &'static str) -> Row {
    Row {
        name,
        setup,
        http,
        code,
        text,
        retry_after: None,
    }
}

const CUT: &str = "cut off or could not be read";
const NO_RESPONSE: &str = "failed before a complete response arrived";
const NOT_PARSED: &str = "could not be parsed";

/// Faults that fail a call before anything was answered: the same result streaming or not.
#[rustfmt::skip]
fn opening_faults() -> Vec<Row> {
    use Code::*;
    let half = r#"{"id":"x","object":"chat.completion","choices":[{"index":0,"#;
    vec![
        row("400", Setup::Answer(json_error(400, "upstream says bad request")), 400, InvalidArgument, "upstream says bad request"),
        row("401", Setup::Answer(json_error(401, "upstream says bad key")), 401, Unauthenticated, "upstream says bad key"),
        row("401 echoing the key", Setup::Answer(json_error(401, "bad key sk-faults-0000")), 401, Unauthenticated, "bad key [redacted]"),
        row("403", Setup::Answer(json_error(403, "upstream says forbidden")), 403, PermissionDenied, "upstream says forbidden"),
        row("404", Setup::Answer(json_error(404, "upstream says no such model")), 404, NotFound, "upstream says no such model"),
        Row {
            retry_after: Some("7"),
            ..row("429 + Retry-After", Setup::Answer(json_error(429, "upstream says slow down").with_header("retry-after", "7")), 429, ResourceExhausted, "upstream says slow down")
        },
        row("500", Setup::Answer(json_error(500, "upstream says internal")), 500, Internal, "upstream says internal"),
        row("502", Setup::Answer(json_error(502, "upstream says bad gateway")), 502, Unavailable, "upstream says bad gateway"),
        row("503", Setup::Answer(json_error(503, "upstream says unavailable")), 503, Unavailable, "upstream says unavailable"),
        row("500 text/plain", Setup::Answer(Answer::raw(500, "text/plain", "plain boom")), 500, Internal, "plain boom"),
        row("slower than the timeout", Setup::TooSlow, 504, DeadlineExceeded, "did not respond within 0.5 seconds"),
        row("connection refused", Setup::Refused, 502, Unavailable, "Could not connect to the upstream provider"),
        row("closed before headers", Setup::Fault(completion(), Fault::HangUp), 502, Unavailable, NO_RESPONSE),
        row("reset before headers", Setup::Fault(completion(), Fault::Reset), 502, Unavailable, NO_RESPONSE),
        row("5xx HTML error page", Setup::Answer(Answer::raw(503, "text/html", "<html>down</html>")), 502, Unavailable, "Received content type: text/html"),
        row("truncated, content-length", Setup::Fault(Answer::raw(200, "application/json", half).with_header("content-length", "400"), Fault::Cut), 502, Unavailable, CUT),
        row("truncated, chunked", Setup::Fault(Answer::raw(200, "application/json", half), Fault::Cut), 502, Unavailable, CUT),
    ]
}

/// Non-streaming faults beyond the opening ones: what a 2xx body can get wrong.
#[rustfmt::skip]
fn body_faults() -> Vec<Row> {
    use Code::*;
    vec![
        row("malformed JSON", Setup::Answer(Answer::raw(200, "application/json", r#"{"id":"x","choices":["#)), 502, Unavailable, NOT_PARSED),
        row("JSON with trailing garbage", Setup::Answer(Answer::raw(200, "application/json", r#"{"choices":[]} trailing"#)), 502, Unavailable, NOT_PARSED),
        row("empty body", Setup::Answer(Answer::raw(200, "application/json", "")), 502, Unavailable, "empty body"),
        row("200 HTML", Setup::Answer(Answer::raw(200, "text/html; charset=utf-8", "<html>hi</html>")), 502, Unavailable, "Received content type: text/html"),
        row("200 text/plain", Setup::Answer(Answer::raw(200, "text/plain", "hello")), 502, Unavailable, "text/plain where JSON was expected"),
        row("JSON of another shape", Setup::Answer(Answer::raw(200, "application/json", r#"{"unexpected":true}"#)), 502, Unavailable, "missing field `choices`"),
        row("JSON with wrong types", Setup::Answer(Answer::raw(200, "application/json", r#"{"choices":"none"}"#)), 502, Unavailable, NOT_PARSED),
        row("JSON quoting the key in a bad field", Setup::Answer(Answer::raw(200, "application/json", r#"{"choices":"sk-faults-0000"}"#)), 502, Unavailable, "invalid type: string \"[redacted]\""),
        row("JSON array", Setup::Answer(Answer::raw(200, "application/json", "[1,2,3]")), 502, Unavailable, NOT_PARSED),
    ]
}

/// Streaming faults before the first event, beyond the opening ones.
#[rustfmt::skip]
fn stream_opening_faults() -> Vec<Row> {
    use Code::*;
    vec![
        row("first event malformed", Setup::Answer(Answer::sse(&["data: {\"id\":\"c\",\"choi\n\n"])), 502, Unavailable, "not valid JSON"),
        row("first event of another shape", Setup::Answer(Answer::sse(&["data: [1,2]\n\n"])), 502, Unavailable, "unexpected shape"),
        row("first event quoting the key", Setup::Answer(Answer::sse(&["data: {\"choices\":\"sk-faults-0000\"}\n\n"])), 502, Unavailable, "[redacted]"),
        row("first event an error", Setup::Answer(Answer::sse(&["data: {\"error\":{\"message\":\"upstream exploded early\"}}\n\n"])), 502, Unavailable, "upstream exploded early"),
        row("stream ends before any event", Setup::Answer(Answer::sse(&[])), 502, Unavailable, "ended before its end marker"),
        row("stream cut before any event", Setup::Fault(Answer::sse(&[": ping\n\n"]), Fault::Cut), 502, Unavailable, CUT),
        row("2xx JSON instead of a stream", Setup::Answer(completion()), 502, Unavailable, "did not answer with an event stream"),
    ]
}

/// Streaming faults after the first event: the stream has started, and must end with one
/// terminal error.
#[rustfmt::skip]
fn mid_stream_faults() -> Vec<Row> {
    use Code::*;
    let one = chunk("Hel");
    let two = chunk("lo");
    vec![
        row("dropped mid-stream", Setup::Fault(Answer::sse(&[&one, &two]), Fault::Cut), 502, Unavailable, CUT),
        row("malformed event mid-stream", Setup::Answer(Answer::sse(&[&one, "data: {\"id\":\"c\",\"choi\n\n", &two, "data: [DONE]\n\n"])), 502, Unavailable, "not valid JSON"),
        row("error event mid-stream", Setup::Answer(Answer::sse(&[&one, "data: {\"error\":{\"message\":\"upstream exploded mid-stream\"}}\n\n"])), 502, Unavailable, "upstream exploded mid-stream"),
        row("error event echoing the key", Setup::Answer(Answer::sse(&[&one, "data: {\"error\":{\"message\":\"exploded, key sk-faults-0000\"}}\n\n"])), 502, Unavailable, "exploded, key [redacted]"),
        row("ends without [DONE]", Setup::Answer(Answer::sse(&[&one, &two])), 502, Unavailable, "ended before its end marker"),
    ]
}

fn apply(up: &Upstream, setup: &Setup) -> &'static str {
    up.reset();
    match setup {
        Setup::Answer(a) => {
            up.on(PATH, a.clone());
            "faulty"
        }
        Setup::Fault(a, f) => {
            up.on(PATH, a.clone());
            up.fault(PATH, *f);
            "faulty"
        }
        Setup::TooSlow => {
            up.fault(SLOW_PATH, Fault::Hang);
            "slowpoke"
        }
        Setup::Refused => "refused",
    }
}

/// The mismatches between what `surface` showed and what `row` expects.
fn check(row: &Row, surface: Surface, stream: bool, started: bool, o: &Outcome) -> Vec<String> {
    let mut bad = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            bad.push(format!(
                "{} | {surface:?} | stream={stream}: {what}\n    saw {o:?}",
                row.name
            ));
        }
    };
    expect(!o.ok, "a success".into());
    if o.ok {
        return bad;
    }
    expect(
        o.text.contains(row.text),
        format!("text should contain {:?}", row.text),
    );
    if surface.has_codes() {
        expect(o.code == Some(row.code), format!("code {:?}", row.code));
    } else {
        expect(o.status == Some(row.http), format!("status {}", row.http));
    }
    if started {
        // A started stream: 200, the events so far, then the terminal error.
        expect(o.http == 200, "HTTP 200 for a started stream".into());
        expect(o.before >= 1, "the events before the error".into());
    } else {
        expect(o.before == 0, "nothing before the error".into());
        let http = match surface {
            Surface::Grpc | Surface::GrpcWeb => 200,
            Surface::Connect if stream => 200,
            Surface::Connect | Surface::Bridge => code_http(row.code),
            _ => row.http,
        };
        expect(o.http == http, format!("HTTP {http}"));
        if let Some(ra) = row.retry_after {
            expect(
                o.retry_after.as_deref() == Some(ra),
                format!("Retry-After {ra}"),
            );
        }
    }
    // The endpoint's key never reaches a client (some rows echo it).
    expect(!o.raw.contains(KEY), "the API key leaked".into());
    bad
}

async fn run_table(rows: &[Row], stream: bool, started: bool) {
    let (up, gw) = start(CONFIG).await;
    let mut bad = Vec::new();
    for row in rows {
        let endpoint = apply(&up, &row.setup);
        for surface in ALL {
            let o = call(&gw, surface, endpoint, stream).await;
            bad.extend(check(row, surface, stream, started, &o));
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[tokio::test]
async fn a_healthy_upstream_passes_on_every_surface() {
    // The baseline the fault tables are measured against: the same surfaces, a good upstream.
    let (up, gw) = start(CONFIG).await;
    up.on(PATH, completion());
    for surface in ALL {
        let o = call(&gw, surface, "faulty", false).await;
        assert!(o.ok, "{surface:?}: {o:?}");
    }
    up.on(
        PATH,
        Answer::sse(&[&chunk("Hel"), &chunk("lo"), "data: [DONE]\n\n"]),
    );
    for surface in ALL {
        let o = call(&gw, surface, "faulty", true).await;
        assert!(o.ok && o.before >= 2, "{surface:?}: {o:?}");
    }
}

#[tokio::test]
async fn non_streaming_faults_on_every_surface() {
    let mut rows = opening_faults();
    rows.extend(body_faults());
    run_table(&rows, false, false).await;
}

#[tokio::test]
async fn streaming_faults_before_the_first_event_on_every_surface() {
    let mut rows = opening_faults();
    rows.extend(stream_opening_faults());
    run_table(&rows, true, false).await;
}

#[tokio::test]
async fn streaming_faults_after_the_first_event_end_with_one_terminal_error() {
    run_table(&mid_stream_faults(), true, true).await;
}

// -------------------------------------------------------------------------------------------
// Cancellation

/// Generous: the gateway should cancel at once; this bounds a test run, it does not time it.
const CANCEL_BOUND: Duration = Duration::from_secs(10);

/// Starts a call on `surface` in a task, waits until the upstream has it (and, for a stream,
/// until the client holds the first event), drops the client, and waits for the upstream to
/// see its handler or body dropped.
async fn cancels_upstream(up: &Upstream, gw: &TestGateway, surface: Surface, stream: bool) -> bool {
    let arrived = up.arrived();
    let dropped = up.dropped();
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let addr = gw.addr;
    let task = tokio::spawn(client_call(addr, surface, stream, first_tx));
    assert!(
        up.wait_arrived(arrived, CANCEL_BOUND).await,
        "{surface:?} stream={stream}: the upstream never got the call"
    );
    if stream {
        tokio::time::timeout(CANCEL_BOUND, first_rx)
            .await
            .unwrap_or_else(|_| panic!("{surface:?}: no first event"))
            .unwrap();
    }
    task.abort();
    let _ = task.await;
    up.wait_dropped(dropped, CANCEL_BOUND).await
}

/// A call that holds its connection open until aborted; `first` fires at the first byte of
/// the body (the first event of a stream).
async fn client_call(
    addr: std::net::SocketAddr,
    surface: Surface,
    stream: bool,
    first: tokio::sync::oneshot::Sender<()>,
) {
    use futures::StreamExt;
    use llm_gateway::pb::v1 as pb;
    let request = pb::ChatRequest {
        endpoint: "faulty".into(),
        messages: vec![pb::Message {
            role: "user".into(),
            content: Some("hi".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let base = format!("http://{addr}");
    if surface == Surface::Grpc {
        let channel = tonic::transport::Endpoint::from_shared(base)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = pb::chat_service_client::ChatServiceClient::new(channel);
        if stream {
            let mut items = client.stream_chat(request).await.unwrap().into_inner();
            let _ = items.next().await;
            let _ = first.send(());
            std::future::pending::<()>().await;
        } else {
            let _ = client.chat(request).await;
        }
        return;
    }
    let envelope = |payload: Vec<u8>, flags: u8| {
        let mut out = vec![flags];
        out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&payload);
        out
    };
    let http = reqwest::Client::builder().http1_only().build().unwrap();
    let rpc = if stream { "StreamChat" } else { "Chat" };
    let req = match surface {
        Surface::MlflowGateway | Surface::MlflowEndpoints | Surface::OpenAi => {
            let (path, model) = match surface {
                Surface::MlflowGateway => ("/gateway/faulty/invocations", None),
                Surface::MlflowEndpoints => ("/endpoints/faulty/invocations", None),
                _ => ("/v1/chat/completions", Some("faulty")),
            };
            http.post(format!("{base}{path}"))
                .header("content-type", "application/json")
                .body(surfaces::rest_body(model, stream))
        }
        Surface::GrpcWeb => http
            .post(format!("{base}/llmgateway.v1.ChatService/{rpc}"))
            .header("content-type", "application/grpc-web+proto")
            .body(common::grpc_web_frame(&request)),
        Surface::Connect => {
            let json = serde_json::to_vec(&request).unwrap();
            let (ct, body) = if stream {
                ("application/connect+json", envelope(json, 0))
            } else {
                ("application/json", json)
            };
            http.post(format!("{base}/llmgateway.v1.ChatService/{rpc}"))
                .header("content-type", ct)
                .header("connect-protocol-version", "1")
                .body(body)
        }
        Surface::Bridge => {
            let verb = if stream { "streamChat" } else { "chat" };
            http.post(format!("{base}/v1/endpoints/faulty:{verb}"))
                .header("content-type", "application/json")
                .body(r#"{"messages":[{"role":"user","content":"hi"}]}"#)
        }
        Surface::Grpc => unreachable!(),
    };
    let resp = req.send().await.unwrap();
    let mut body = resp.bytes_stream();
    let _ = body.next().await;
    let _ = first.send(());
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_upstream_call() {
    let (up, gw) = start(CONFIG).await;
    let mut missed = Vec::new();
    // Not streaming: the upstream never answers; the client gives up.
    up.on(PATH, completion());
    up.fault(PATH, Fault::Hang);
    for surface in ALL {
        if !cancels_upstream(&up, &gw, surface, false).await {
            missed.push(format!("{surface:?} unary"));
        }
    }
    // Streaming: one event, then the upstream keeps the stream open; the client leaves.
    up.reset();
    up.on(PATH, Answer::sse(&[&chunk("Hel")]).stalling());
    for surface in ALL {
        if !cancels_upstream(&up, &gw, surface, true).await {
            missed.push(format!("{surface:?} streaming"));
        }
    }
    assert!(
        missed.is_empty(),
        "upstream calls still running after the client left: {missed:?}"
    );
}

// -------------------------------------------------------------------------------------------
// Secret hygiene

const OPENAI_KEY: &str = "sk-echo-openai-1111";
const ANTHROPIC_KEY: &str = "sk-ant-echo-2222";
const AWS_SECRET: &str = "aws-echo-secret-3333";
const AWS_TOKEN: &str = "aws-echo-session-4444";
const GATEWAY_KEY: &str = "gw-echo-client-key-5555";
const BEDROCK_MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

const SECRETS: [&str; 5] = [
    OPENAI_KEY,
    ANTHROPIC_KEY,
    AWS_SECRET,
    AWS_TOKEN,
    GATEWAY_KEY,
];

fn secret_config() -> String {
    format!(
        r#"
endpoints:
  - name: echo-openai
    endpoint_type: llm/v1/chat
    model: {{provider: openai, name: m, config: {{openai_api_key: {OPENAI_KEY}, openai_api_base: "{{UP}}/oai/v1"}}}}
  - name: echo-anthropic
    endpoint_type: llm/v1/chat
    model: {{provider: anthropic, name: claude, config: {{anthropic_api_key: {ANTHROPIC_KEY}, anthropic_api_base: "{{UP}}/ant/v1"}}}}
  - name: echo-bedrock
    endpoint_type: llm/v1/chat
    model:
      provider: bedrock
      name: "{BEDROCK_MODEL}"
      config:
        bedrock_api_base: "{{UP}}/br"
        aws_config: {{aws_region: us-east-1, aws_access_key_id: AKIDECHO, aws_secret_access_key: {AWS_SECRET}, aws_session_token: {AWS_TOKEN}}}
api_keys:
  - {{name: client, key: {GATEWAY_KEY}}}
"#
    )
}

/// Every line the gateway logged in this process (one capturing subscriber per test binary).
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

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        captured
    })
}

/// An echoing answer: the credentials the request carried, in the body and in headers, plus
/// `extra`: secrets it could only know from elsewhere (SigV4 never sends the AWS secret key;
/// another endpoint's key, as a shared proxy might repeat it).
fn echo(status: u16, extra: &str) -> Answer {
    let body = serde_json::json!({
        "error": {"message": format!("Incorrect API key provided: {{SEEN_CREDENTIALS}} {extra}"), "type": "invalid_request_error"},
        "message": format!("key was {{SEEN_CREDENTIALS}} {extra}"),
    });
    Answer::raw(status, "application/json", &body.to_string())
        .with_header("x-echo-key", "{SEEN_CREDENTIALS}")
        .with_header("www-authenticate", "Bearer realm={SEEN_CREDENTIALS}")
        .with_header("retry-after", "3")
}

/// Every secret kind is echoed by the upstreams of an OpenAI, an Anthropic and a Bedrock
/// endpoint (key in `Authorization`, in `x-api-key`, AWS secret key and session token); the
/// client calls with a gateway API key, which must not go upstream at all (the gateway keeps
/// only its digest, so it could not redact it: it must never hand it out).
#[tokio::test]
async fn echoed_credentials_reach_no_client_and_no_log() {
    let logs = logs();
    let (up, gw) = start(&secret_config()).await;
    let bedrock_path = format!("/br/model/{}/converse", BEDROCK_MODEL.replace(':', "%3A"));
    let bedrock_stream_path = format!("{bedrock_path}-stream");
    let extra =
        format!("(signed with {AWS_SECRET}, token {AWS_TOKEN}, key {OPENAI_KEY} {ANTHROPIC_KEY})");
    for path in [
        "/oai/v1/chat/completions",
        "/ant/v1/messages",
        &bedrock_path,
        &bedrock_stream_path,
    ] {
        up.on(path, echo(401, &extra));
    }
    let mut leaks = Vec::new();
    let mut calls = 0;
    for endpoint in ["echo-openai", "echo-anthropic", "echo-bedrock"] {
        for stream in [false, true] {
            for surface in ALL {
                let o =
                    surfaces::call_with(&gw, surface, endpoint, stream, Some(GATEWAY_KEY)).await;
                calls += 1;
                assert!(!o.ok, "{endpoint} {surface:?}: {o:?}");
                assert!(
                    o.text.contains("[redacted]") || o.text.contains("Incorrect API key"),
                    "{endpoint} {surface:?} stream={stream}: the upstream's error is shown: {o:?}"
                );
                for secret in SECRETS {
                    if o.raw.contains(secret) || o.text.contains(secret) {
                        leaks.push(format!(
                            "{endpoint} {surface:?} stream={stream}: {secret} in {}",
                            o.raw
                        ));
                    }
                }
            }
        }
    }
    // The upstream really echoed what it got (else the test proves nothing).
    let seen = up.take();
    assert!(seen.len() >= calls, "{} upstream calls", seen.len());
    let got = |p: &str, h: &str| {
        seen.iter()
            .filter(|r| r.path.starts_with(p))
            .filter_map(|r| r.header(h).map(str::to_owned))
            .next()
    };
    assert_eq!(
        got("/oai/", "authorization").as_deref(),
        Some(&*format!("Bearer {OPENAI_KEY}"))
    );
    assert_eq!(got("/ant/", "x-api-key").as_deref(), Some(ANTHROPIC_KEY));
    assert_eq!(
        got("/br/", "x-amz-security-token").as_deref(),
        Some(AWS_TOKEN)
    );
    // The gateway's own key goes nowhere upstream.
    for r in &seen {
        let all = format!("{:?} {}", r.headers, String::from_utf8_lossy(&r.body));
        assert!(
            !all.contains(GATEWAY_KEY),
            "the gateway key went upstream: {all}"
        );
    }
    let text = logs.0.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&text);
    assert!(!text.is_empty(), "the capture works");
    for secret in SECRETS {
        if text.contains(secret) {
            let line = text.lines().find(|l| l.contains(secret)).unwrap();
            leaks.push(format!("log: {secret} in {line}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

// -------------------------------------------------------------------------------------------
// Other providers' decoders

/// The body faults are decided per provider (each decodes its own wire format): a 2xx body a
/// provider cannot use is a 502 naming the problem on every provider, never an empty success.
#[tokio::test]
async fn every_provider_refuses_unusable_bodies() {
    let config = r#"
endpoints:
  - name: anthropic
    endpoint_type: llm/v1/chat
    model: {provider: anthropic, name: claude, config: {anthropic_api_key: sk-ant-k, anthropic_api_base: "{UP}/ant/v1"}}
  - name: gemini
    endpoint_type: llm/v1/chat
    model: {provider: gemini, name: gemini-2.0-flash, config: {gemini_api_key: g-key, gemini_api_base: "{UP}/gem/v1beta"}}
  - name: mistral
    endpoint_type: llm/v1/chat
    model: {provider: mistral, name: mistral-small, config: {mistral_api_key: m-key, mistral_api_base: "{UP}/mis/v1"}}
  - name: cohere
    endpoint_type: llm/v1/chat
    model: {provider: cohere, name: command, config: {cohere_api_key: c-key, cohere_api_base: "{UP}/co/v1"}}
  - name: bedrock
    endpoint_type: llm/v1/chat
    model:
      provider: bedrock
      name: "anthropic.claude-3-haiku-20240307-v1:0"
      config:
        bedrock_api_base: "{UP}/br"
        aws_config: {aws_region: us-east-1, aws_access_key_id: AKID, aws_secret_access_key: sec-ret-key}
"#;
    let (up, gw) = start(config).await;
    let paths = [
        ("anthropic", "/ant/v1/messages"),
        (
            "gemini",
            "/gem/v1beta/models/gemini-2.0-flash:generateContent",
        ),
        ("mistral", "/mis/v1/chat/completions"),
        ("cohere", "/co/v1/chat"),
        (
            "bedrock",
            "/br/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
        ),
    ];
    let bodies = [
        ("malformed", "application/json", r#"{"id":"x","#),
        ("empty", "application/json", ""),
        (
            "another shape",
            "application/json",
            r#"{"unexpected":true}"#,
        ),
        ("an array", "application/json", "[1,2,3]"),
        ("HTML", "text/html", "<html></html>"),
    ];
    let mut bad = Vec::new();
    for (endpoint, path) in paths {
        for (what, ct, body) in bodies {
            up.reset();
            up.on(path, Answer::raw(200, ct, body));
            let o = call(&gw, Surface::MlflowGateway, endpoint, false).await;
            if o.ok || o.status != Some(502) || o.text.is_empty() {
                bad.push(format!("{endpoint}, {what}: {o:?}"));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
