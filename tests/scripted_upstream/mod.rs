//! A small scripted upstream for the provider integration tests (`tests/provider_*.rs`): an axum
//! server on 127.0.0.1:0 that records method, path, headers and body of every request and answers
//! each path with whatever the test scripted for it: a JSON or text body with any status, or an
//! event stream sent in chunks (so frame splits and truncation can be tested). Unscripted paths
//! answer 404 with an OpenAI-style error.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::convert::Infallible;
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
        }
    }

    /// 200 `text/event-stream` sent in these pieces.
    pub fn sse(chunks: &[&str]) -> Answer {
        Answer {
            status: 200,
            content_type: "text/event-stream".into(),
            chunks: chunks.iter().map(|c| (*c).to_owned()).collect(),
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

#[derive(Default)]
struct Inner {
    answers: HashMap<String, Answer>,
    requests: Vec<Recorded>,
}

/// A running scripted upstream.
#[derive(Clone)]
pub struct Upstream {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl Upstream {
    /// Starts the server on 127.0.0.1:0.
    pub async fn start() -> Upstream {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream {
            base: format!("http://{addr}"),
            inner,
        }
    }

    /// Answers `path` (path only, no query) with `answer` from now on.
    pub fn on(&self, path: &str, answer: Answer) {
        self.inner
            .lock()
            .unwrap()
            .answers
            .insert(path.to_owned(), answer);
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

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap().to_vec();
    let path = parts.uri.path().to_owned();
    let answer = {
        let mut inner = inner.lock().unwrap();
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
        inner.answers.get(&path).cloned()
    };
    let answer = answer.unwrap_or_else(|| {
        Answer::raw(
            404,
            "application/json",
            r#"{"error":{"message":"scripted upstream: unknown path"}}"#,
        )
    });
    let pieces = answer
        .chunks
        .into_iter()
        .map(|c| Ok::<_, Infallible>(bytes::Bytes::from(c)));
    let body = Body::from_stream(futures::stream::iter(pieces));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(answer.status).unwrap();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, answer.content_type.parse().unwrap());
    resp
}
