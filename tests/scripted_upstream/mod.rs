//! A small scripted upstream for the provider integration tests (`tests/provider_*.rs`): an axum
//! server on 127.0.0.1:0 that records method, path, headers and body of every request and answers
//! each path with whatever the test scripted for it: a JSON or text body with any status, or an
//! event stream sent in chunks (so frame splits and truncation can be tested), optionally with
//! extra headers or a body that stalls after its chunks. A path may be scripted with a sequence
//! of answers (fail twice, then succeed): each request takes the next, the last one repeats.
//! Unscripted paths answer 404 with an OpenAI-style error.
//!
//! For the fault-injection tests a path may also be given a [`Fault`] (`fault`), which takes
//! precedence over its answers: close or reset the connection once the request is read, never
//! answer, or send the answer's chunks and then abort the body. Body chunks and header values
//! may contain `{SEEN_CREDENTIALS}`, replaced by the credential headers the request carried (an
//! upstream that echoes the key it received). A `Hang`, `HangUp` or `Reset` fault and a
//! stalling answer fire a drop signal when the server drops their handler or body
//! (`wait_dropped`): how the tests see that a gateway cancelled its upstream call. The server
//! speaks HTTP/1.1 (as the gateway does to a plain-`http` upstream), one task per connection.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    /// The body, sent in these pieces (one piece for an ordinary body).
    pub chunks: Vec<String>,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// After the chunks, keep the body open without sending anything more.
    pub stall: bool,
}

impl Answer {
    /// 200 with a JSON body.
    pub fn json(body: serde_json::Value) -> Answer {
        Answer::raw(200, "application/json", &body.to_string())
    }

    /// Any status, content type and body text.
    pub fn raw(status: u16, content_type: &str, body: &str) -> Answer {
        Answer {
            status,
            content_type: content_type.into(),
            chunks: vec![body.into()],
            headers: Vec::new(),
            stall: false,
        }
    }

    /// This answer with one more response header.
    pub fn with_header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// This answer, its body left open after its chunks.
    pub fn stalling(mut self) -> Answer {
        self.stall = true;
        self
    }

    /// 200 `text/event-stream` sent in these pieces.
    pub fn sse(chunks: &[&str]) -> Answer {
        Answer {
            status: 200,
            content_type: "text/event-stream".into(),
            chunks: chunks.iter().map(|c| (*c).to_owned()).collect(),
            headers: Vec::new(),
            stall: false,
        }
    }
}

/// One recorded upstream request.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A misbehaviour of the connection itself, beyond what an [`Answer`] can say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Read the request, then close the connection without a response (FIN).
    HangUp,
    /// Read the request, then reset the connection (RST) without a response.
    Reset,
    /// Read the request and never answer (headers never come).
    Hang,
    /// Send the answer's status, headers and chunks, then abort the body (no chunked
    /// terminator; with a `content-length` header, fewer bytes than it announced).
    Cut,
}

#[derive(Default)]
struct Inner {
    answers: HashMap<String, VecDeque<Answer>>,
    faults: HashMap<String, Fault>,
    requests: Vec<Recorded>,
}

/// A running scripted upstream.
#[derive(Clone)]
pub struct Upstream {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    dropped: Arc<tokio::sync::watch::Sender<usize>>,
    arrived: Arc<tokio::sync::watch::Sender<usize>>,
}

/// Counts one drop when dropped: lives in a fault's handler or a stalling body.
struct DropSignal(Arc<tokio::sync::watch::Sender<usize>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n += 1);
    }
}

/// Per connection: how the handler asks the connection task to close (`false`) or reset
/// (`true`) the socket without answering.
#[derive(Clone)]
struct Kill(Arc<Mutex<Option<tokio::sync::oneshot::Sender<bool>>>>);

#[derive(Clone)]
struct AppState {
    inner: Arc<Mutex<Inner>>,
    dropped: Arc<tokio::sync::watch::Sender<usize>>,
    arrived: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Upstream {
    /// Starts the server on 127.0.0.1:0.
    pub async fn start() -> Upstream {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let dropped = Arc::new(tokio::sync::watch::channel(0usize).0);
        let arrived = Arc::new(tokio::sync::watch::channel(0usize).0);
        let app = axum::Router::new().fallback(handle).with_state(AppState {
            inner: inner.clone(),
            dropped: dropped.clone(),
            arrived: arrived.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_connection(stream, app.clone()));
            }
        });
        Upstream {
            base: format!("http://{addr}"),
            inner,
            dropped,
            arrived,
        }
    }

    /// How many requests arrived since start (`take` does not reset it).
    pub fn arrived(&self) -> usize {
        *self.arrived.borrow()
    }

    /// Waits (at most `within`) until more than `seen` requests arrived; false on timeout.
    pub async fn wait_arrived(&self, seen: usize, within: std::time::Duration) -> bool {
        let mut rx = self.arrived.subscribe();
        tokio::time::timeout(within, rx.wait_for(|n| *n > seen))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Gives `path` (path only) a connection fault from now on, over its answers.
    pub fn fault(&self, path: &str, fault: Fault) {
        self.inner
            .lock()
            .unwrap()
            .faults
            .insert(path.to_owned(), fault);
    }

    /// Removes every fault and answer.
    pub fn reset(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.faults.clear();
        inner.answers.clear();
    }

    /// How many fault handlers and stalling bodies the server has dropped so far.
    pub fn dropped(&self) -> usize {
        *self.dropped.borrow()
    }

    /// Waits (at most `within`) until more than `seen` handlers or bodies were dropped; false
    /// on timeout.
    pub async fn wait_dropped(&self, seen: usize, within: std::time::Duration) -> bool {
        let mut rx = self.dropped.subscribe();
        tokio::time::timeout(within, rx.wait_for(|n| *n > seen))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Answers `path` (path only, no query) with `answer` from now on.
    pub fn on(&self, path: &str, answer: Answer) {
        self.on_seq(path, vec![answer]);
    }

    /// Answers the next requests to `path` with `answers` in order, the last one from then on.
    pub fn on_seq(&self, path: &str, answers: Vec<Answer>) {
        assert!(!answers.is_empty());
        self.inner
            .lock()
            .unwrap()
            .answers
            .insert(path.to_owned(), answers.into());
    }

    /// How many requests to `path` were recorded since the last `take`.
    pub fn count(&self, path: &str) -> usize {
        self.inner
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.path.split('?').next() == Some(path))
            .count()
    }

    /// The requests recorded so far, clearing the log.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.inner.lock().unwrap().requests)
    }

    /// The only request recorded since the last `take`.
    pub fn one(&self) -> Recorded {
        let mut all = self.take();
        assert_eq!(all.len(), 1, "expected one upstream request: {all:?}");
        all.remove(0)
    }
}

/// Serves one HTTP/1.1 connection until it ends or a handler asks to close or reset it.
async fn serve_connection(mut stream: tokio::net::TcpStream, app: axum::Router) {
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<bool>();
    let kill = Kill(Arc::new(Mutex::new(Some(kill_tx))));
    let reset = {
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(kill.clone());
            let app = app.clone();
            async move {
                use tower::ServiceExt;
                app.oneshot(req.map(Body::new)).await
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(&mut stream), service);
        tokio::select! {
            _ = conn => return,
            reset = kill_rx => reset.unwrap_or(false),
        }
    };
    if reset {
        // SO_LINGER 0: closing sends RST instead of FIN (never blocks with a zero timeout).
        #[allow(deprecated)]
        let _ = stream.set_linger(Some(std::time::Duration::ZERO));
    }
    drop(stream);
}

/// The credential headers of a request, as an echoing upstream would repeat them.
fn seen_credentials(headers: &HeaderMap) -> String {
    [
        "authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "x-amz-security-token",
    ]
    .iter()
    .filter_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
    .collect::<Vec<_>>()
    .join(" ")
}

async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap().to_vec();
    let path = parts.uri.path().to_owned();
    let kill = parts.extensions.remove::<Kill>();
    let (answer, fault) = {
        let mut inner = state.inner.lock().unwrap();
        inner.requests.push(Recorded {
            method: parts.method.to_string(),
            path: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            headers: parts.headers.clone(),
            body,
        });
        let answer = inner.answers.get_mut(&path).and_then(|queue| {
            if queue.len() > 1 {
                queue.pop_front()
            } else {
                queue.front().cloned()
            }
        });
        (answer, inner.faults.get(&path).copied())
    };
    state.arrived.send_modify(|n| *n += 1);
    let signal = (matches!(fault, Some(Fault::Hang | Fault::HangUp | Fault::Reset))
        || answer.as_ref().is_some_and(|a| a.stall))
    .then(|| DropSignal(state.dropped.clone()));
    match fault {
        Some(Fault::HangUp | Fault::Reset) => {
            let tx = kill.and_then(|k| k.0.lock().unwrap().take());
            if let Some(tx) = tx {
                let _ = tx.send(fault == Some(Fault::Reset));
            }
            // The connection task drops this handler with the connection.
            let _signal = signal;
            return std::future::pending::<Response>().await;
        }
        Some(Fault::Hang) => {
            let _signal = signal;
            return std::future::pending::<Response>().await;
        }
        Some(Fault::Cut) | None => {}
    }
    let seen = seen_credentials(&parts.headers);
    let answer = answer.unwrap_or_else(|| {
        Answer::raw(
            404,
            "application/json",
            r#"{"error":{"message":"scripted upstream: unknown path"}}"#,
        )
    });
    let pieces = answer.chunks.into_iter().map(move |c| {
        Ok::<_, std::io::Error>(bytes::Bytes::from(c.replace("{SEEN_CREDENTIALS}", &seen)))
    });
    use futures::StreamExt;
    let body = if answer.stall {
        Body::from_stream(
            futures::stream::iter(pieces)
                .chain(futures::stream::pending())
                .map(move |item| {
                    let _alive = &signal;
                    item
                }),
        )
    } else if fault == Some(Fault::Cut) {
        let cut = futures::stream::once(async {
            // Let hyper flush the chunks first, so the client really receives them.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Err(std::io::Error::other("scripted upstream: cut"))
        });
        Body::from_stream(futures::stream::iter(pieces).chain(cut))
    } else {
        Body::from_stream(futures::stream::iter(pieces))
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(answer.status).unwrap();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, answer.content_type.parse().unwrap());
    for (name, value) in &answer.headers {
        resp.headers_mut().insert(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value
                .replace("{SEEN_CREDENTIALS}", &seen_credentials(&parts.headers))
                .parse()
                .unwrap(),
        );
    }
    resp
}
