//! A small scripted upstream for the provider integration tests (`tests/provider_*.rs`): an axum
//! server on 127.0.0.1:0 that records method, path, headers and body of every request and answers
//! each path with whatever the test scripted for it: a JSON or text body with any status, or an
//! event stream sent in chunks (so frame splits and truncation can be tested), optionally with
//! extra headers or a body that stalls after its chunks. A path may be scripted with a sequence
//! of answers (fail twice, then succeed): each request takes the next, the last one repeats.
//! Unscripted paths answer 404 with an OpenAI-style error.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, VecDeque};
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

#[derive(Default)]
struct Inner {
    answers: HashMap<String, VecDeque<Answer>>,
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
        inner.answers.get_mut(&path).and_then(|queue| {
            if queue.len() > 1 {
                queue.pop_front()
            } else {
                queue.front().cloned()
            }
        })
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
    let body = if answer.stall {
        use futures::StreamExt;
        Body::from_stream(futures::stream::iter(pieces).chain(futures::stream::pending()))
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
            value.parse().unwrap(),
        );
    }
    resp
}
