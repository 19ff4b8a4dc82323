//! A deterministic OpenAI / Azure-OpenAI-compatible mock upstream. **Never a production path.**
//!
//! Three users share it:
//! - the integration tests start it in-process on `127.0.0.1:0` ([`MockUpstream::start_local`])
//!   and assert on every request it recorded (method, path, lower-cased headers, body);
//! - the Python client tests and the benchmark run it as the `mock-upstream` binary
//!   (`src/bin/mock_upstream.rs`);
//! - `scripts/bench.sh` uses it, without recording, as the "static upstream" the gateway is
//!   measured against, so the hot path below avoids `serde_json::Value` and builds each answer
//!   from compile-time JSON fragments plus the request's `model`.
//!
//! Dispatch is on the path *suffix* (`chat/completions`, `completions`, `embeddings`), so one mock
//! serves `/v1/...`, Azure's `/openai/deployments/{dep}/...?api-version=...`,
//! `/serving-endpoints/...`, `/groq/openai/v1/...` and so on. Faults are selected by the request's
//! `model` or, because Azure bodies carry no model, by any path segment equal to a fault name
//! (see [`Behaviour`]). Unknown paths answer 404 `{"error":{"message":"mock: unknown path"}}`.
//!
//! Two control routes exist for out-of-process users (the Python tests): `GET /__mock/requests`
//! returns the recorded requests as JSON, `DELETE /__mock/requests` clears them.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::serve::ListenerExt;
use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Largest request body the mock reads; far above any test payload, small enough to be harmless.
const MAX_BODY: usize = 64 * 1024 * 1024;
/// How long [`MockUpstream::shutdown`] waits for in-flight requests (e.g. a `slow` one).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How the mock behaves.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Record every request. `false` for benchmarks: no per-request copies of headers or body.
    pub record: bool,
    /// Delay used by the `slow` behaviour, in milliseconds.
    pub slow_ms: u64,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            record: true,
            slow_ms: 2000,
        }
    }
}

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path_and_query: String,
    /// In arrival order; names are lower case (as `http` normalises them).
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl RecordedRequest {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, or `Value::Null` when it is not JSON (tests then fail on a
    /// readable assertion instead of a panic inside the helper).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(p, _)| p)
    }

    fn to_json(&self) -> Value {
        let body = serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()));
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        json!({"method": self.method, "path_and_query": self.path_and_query,
               "headers": headers, "body": body})
    }
}

struct Shared {
    opts: MockOptions,
    count: AtomicUsize,
    log: Mutex<Vec<RecordedRequest>>,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        // A panicking test thread must not hide the requests from the next assertion.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running mock upstream; stops when [`shutdown`](Self::shutdown) is awaited or it is dropped.
pub struct MockUpstream {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl fmt::Debug for MockUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockUpstream")
            .field("addr", &self.addr)
            .field("opts", &self.shared.opts)
            .finish_non_exhaustive()
    }
}

impl MockUpstream {
    /// Serve on `listener` (HTTP/1.1 keep-alive and h2c prior knowledge, TCP_NODELAY).
    pub async fn start(listener: TcpListener, opts: MockOptions) -> std::io::Result<MockUpstream> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            opts,
            count: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        // Nagle would add ~40 ms to small responses on keep-alive connections; failing to turn it
        // off only costs latency, so it is not an error.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(MockUpstream {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Serve on a fresh `127.0.0.1:0` port.
    pub async fn start_local(opts: MockOptions) -> std::io::Result<MockUpstream> {
        Self::start(TcpListener::bind("127.0.0.1:0").await?, opts).await
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of every request recorded so far (empty when `record` is off).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.log().clone()
    }

    /// The recorded requests, clearing the log (the count is not reset).
    pub fn take_requests(&self) -> Vec<RecordedRequest> {
        std::mem::take(&mut *self.shared.log())
    }

    /// Requests answered or in progress since start, counted even when `record` is off; the
    /// control routes under `/__mock/` are not counted.
    pub fn request_count(&self) -> usize {
        self.shared.count.load(Ordering::Relaxed)
    }

    /// Stop accepting, let in-flight requests finish (bounded), then return.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        // A test that forgets `shutdown` must not leave the port open for the rest of the run.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Which OpenAI operation a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Chat,
    Completions,
    Embeddings,
}

impl Kind {
    fn from_path(path: &str) -> Option<Kind> {
        let path = path.trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            Some(Kind::Chat)
        } else if path.ends_with("/completions") {
            Some(Kind::Completions)
        } else if path.ends_with("/embeddings") {
            Some(Kind::Embeddings)
        } else {
            None
        }
    }
}

/// Fault injection, chosen by `model` or by a path segment with the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Err400,
    Err401,
    Err429,
    Err500Text,
    ErrHtml,
    ErrNoErr,
    Slow,
    BadJson,
    Empty,
    /// Stream: two chunks, then the connection is dropped (no `[DONE]`). Non-stream: half a
    /// JSON body, then the connection is dropped.
    StreamCut,
    /// Always answers 200 SSE: one chunk, then an in-band `{"error":...}` event, then the end.
    StreamError,
    EchoKey,
}

impl Behaviour {
    fn from_name(name: &str) -> Option<Behaviour> {
        Some(match name {
            "err400" => Behaviour::Err400,
            "err401" => Behaviour::Err401,
            "err429" => Behaviour::Err429,
            "err500text" => Behaviour::Err500Text,
            "errhtml" => Behaviour::ErrHtml,
            "errnoerr" => Behaviour::ErrNoErr,
            "slow" => Behaviour::Slow,
            "badjson" => Behaviour::BadJson,
            "empty" => Behaviour::Empty,
            "stream-cut" => Behaviour::StreamCut,
            "stream-error" => Behaviour::StreamError,
            "echo-key" => Behaviour::EchoKey,
            _ => return None,
        })
    }
}

/// The few request fields the mock looks at, borrowed from the body (no `Value` on the hot path).
#[derive(Deserialize, Default)]
struct Probe<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(borrow, default)]
    tools: Option<Vec<ToolProbe<'a>>>,
    #[serde(default)]
    input: Option<EmbeddingInput>,
    #[serde(default)]
    dimensions: Option<usize>,
    #[serde(borrow, default)]
    encoding_format: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
struct ToolProbe<'a> {
    #[serde(borrow, default)]
    function: Option<FunctionProbe<'a>>,
}

#[derive(Deserialize)]
struct FunctionProbe<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<i64>),
    TokenLists(Vec<Vec<i64>>),
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return error_json(
            StatusCode::BAD_REQUEST,
            br#"{"error":{"message":"mock: could not read the request body"}}"#,
        );
    };
    let path = parts.uri.path();
    if let Some(resp) = control_route(&shared, &parts.method, path) {
        return resp;
    }
    shared.count.fetch_add(1, Ordering::Relaxed);
    if shared.opts.record {
        let recorded = RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path_and_query: parts
                .uri
                .path_and_query()
                .map_or(path, |pq| pq.as_str())
                .to_owned(),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (k.as_str().to_owned(), v)
                })
                .collect(),
            body: body.clone(),
        };
        shared.log().push(recorded);
    }

    let Some(kind) = Kind::from_path(path).filter(|_| parts.method == Method::POST) else {
        return error_json(
            StatusCode::NOT_FOUND,
            br#"{"error":{"message":"mock: unknown path"}}"#,
        );
    };
    let probe = serde_json::from_slice::<Probe<'_>>(&body);
    let from_model = probe
        .as_ref()
        .ok()
        .and_then(|p| p.model.as_deref())
        .and_then(Behaviour::from_name);
    let behaviour = from_model.or_else(|| path.split('/').find_map(Behaviour::from_name));
    let probe = match (probe, behaviour) {
        (Ok(p), _) => p,
        // Faults chosen by path (Azure) do not need a readable body.
        (Err(_), Some(_)) => Probe::default(),
        (Err(_), None) => {
            return error_json(
                StatusCode::BAD_REQUEST,
                br#"{"error":{"message":"mock: request body is not valid JSON for this route","type":"invalid_request_error"}}"#,
            );
        }
    };

    match behaviour {
        None => {}
        Some(Behaviour::Slow) => {
            // The delay is the behaviour: timeouts and cancellation are tested against it.
            tokio::time::sleep(Duration::from_millis(shared.opts.slow_ms)).await;
        }
        Some(b) => return fault(b, kind, &probe, &parts.headers),
    }
    answer(kind, &probe)
}

/// `GET`/`DELETE /__mock/requests`: lets an out-of-process test read or reset the log.
fn control_route(shared: &Shared, method: &Method, path: &str) -> Option<Response> {
    if path != "/__mock/requests" {
        return None;
    }
    Some(match *method {
        Method::GET => {
            let list: Vec<Value> = shared.log().iter().map(RecordedRequest::to_json).collect();
            match serde_json::to_vec(&list) {
                Ok(body) => with_type(StatusCode::OK, JSON, body),
                Err(_) => error_json(StatusCode::INTERNAL_SERVER_ERROR, b"{}"),
            }
        }
        Method::DELETE => {
            shared.log().clear();
            with_type(StatusCode::OK, JSON, &b"{}"[..])
        }
        _ => error_json(
            StatusCode::NOT_FOUND,
            br#"{"error":{"message":"mock: unknown path"}}"#,
        ),
    })
}

const JSON: &str = "application/json";
// OpenAI's exact value, so a gateway that compares content types strictly fails here, not in prod.
const SSE: &str = "text/event-stream; charset=utf-8";

fn with_type(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn error_json(status: StatusCode, body: &'static [u8]) -> Response {
    with_type(status, JSON, Bytes::from_static(body))
}

fn sse(frames: Vec<Bytes>, cut: bool) -> Response {
    let body = if cut {
        cut_body(frames)
    } else {
        let items = frames.into_iter().map(Ok::<Bytes, Infallible>);
        Body::from_stream(futures::stream::iter(items))
    };
    with_type(StatusCode::OK, SSE, body)
}

/// `frames`, then a body error: hyper drops the connection without the chunked terminator, which
/// is what a client sees when an upstream dies mid-response.
fn cut_body(frames: Vec<Bytes>) -> Body {
    let head = futures::stream::iter(frames.into_iter().map(Ok::<Bytes, std::io::Error>));
    let cut = futures::stream::once(async {
        // Pausing first lets hyper flush the frames, so the client really receives them.
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(std::io::Error::other("mock: stream-cut"))
    });
    Body::from_stream(head.chain(cut))
}

fn fault(b: Behaviour, kind: Kind, probe: &Probe<'_>, headers: &HeaderMap) -> Response {
    match b {
        Behaviour::Err400 => error_json(
            StatusCode::BAD_REQUEST,
            br#"{"error":{"message":"upstream bad request","type":"invalid_request_error"}}"#,
        ),
        Behaviour::Err401 => error_json(
            StatusCode::UNAUTHORIZED,
            br#"{"error":{"message":"upstream unauthorized","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        ),
        Behaviour::Err429 => {
            let mut resp = error_json(
                StatusCode::TOO_MANY_REQUESTS,
                br#"{"error":{"message":"upstream rate limited"}}"#,
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
            resp
        }
        Behaviour::Err500Text => with_type(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            "boom plain",
        ),
        Behaviour::ErrHtml => with_type(
            StatusCode::BAD_GATEWAY,
            "text/html; charset=utf-8",
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        ),
        Behaviour::ErrNoErr => {
            error_json(StatusCode::SERVICE_UNAVAILABLE, br#"{"detail":"weird"}"#)
        }
        Behaviour::BadJson => error_json(
            StatusCode::OK,
            br#"{"id":"chatcmpl-mock","object":"chat.completion","created":17"#,
        ),
        Behaviour::Empty => with_type(StatusCode::OK, JSON, Body::empty()),
        Behaviour::StreamCut => {
            if probe.stream == Some(true) {
                let mut frames = stream_frames(kind, probe);
                frames.truncate(2);
                sse(frames, true)
            } else {
                let full = answer_body(kind, probe);
                with_type(StatusCode::OK, JSON, cut_body(vec![full.slice(..full.len() / 2)]))
            }
        }
        Behaviour::StreamError => {
            let mut frames = stream_frames(kind, probe);
            frames.truncate(1);
            frames.push(Bytes::from_static(
                b"data: {\"error\":{\"message\":\"upstream exploded mid-stream\"}}\n\n",
            ));
            sse(frames, false)
        }
        Behaviour::EchoKey => {
            // Deliberately leaks the credential it received, like some real upstreams do, so the
            // gateway's redaction can be tested.
            let seen: Vec<&str> = [header::AUTHORIZATION.as_str(), "api-key", "x-api-key"]
                .iter()
                .filter_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
                .collect();
            let body = json!({"error": {
                "message": format!("Incorrect API key provided: {}", seen.join(" ")),
                "type": "invalid_request_error", "code": "invalid_api_key"}});
            match serde_json::to_vec(&body) {
                Ok(b) => with_type(StatusCode::UNAUTHORIZED, JSON, b),
                Err(_) => error_json(StatusCode::UNAUTHORIZED, b"{}"),
            }
        }
        Behaviour::Slow => answer(kind, probe),
    }
}

fn answer(kind: Kind, probe: &Probe<'_>) -> Response {
    if probe.stream == Some(true) && kind != Kind::Embeddings {
        return sse(stream_frames(kind, probe), false);
    }
    if kind == Kind::Embeddings {
        return embeddings(probe);
    }
    with_type(StatusCode::OK, JSON, answer_body(kind, probe))
}

mod answers;
use answers::{answer_body, embeddings, stream_frames};

#[cfg(test)]
mod tests;
