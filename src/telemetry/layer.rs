//! The telemetry tower layer: the outermost layer around every request on the main port.
//!
//! For each request it
//!
//! 1. settles the request id (the client's `x-request-id` if usable, else a new one, written
//!    into the request for the layers and handlers further in) and sets it on the response;
//! 2. counts the request in flight on its surface;
//! 3. makes a [`CallRecord`] the current one while the inner service runs, for the service
//!    layer to note the endpoint that served, upstream time, usage and stream failures;
//! 4. when the response body ends, or is dropped unfinished (a client that went away), counts
//!    the request with its outcome, observes its latencies and token usage, and writes one
//!    access line at INFO to the `access` target.
//!
//! The outcome is the HTTP status for REST, and for gRPC the `grpc-status` of the headers
//! (trailers-only answers) or trailers, else the error a stream ended with, else `OK` for a
//! body that ended and `CANCELLED` for one the client abandoned. An access line never holds a
//! body, a header value other than the request id, or a query string.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use http_body::{Body as _, Frame};

use super::labels::{CLIENT_CLOSED, Code, Surface, grpc_name};
use super::metrics::{Metrics, RequestLabels};
use super::record::{CallRecord, Outcome};
use super::request_id;

/// Adds request ids, metrics and access lines to a service (see the module docs).
#[derive(Debug, Clone)]
pub struct TelemetryLayer {
    metrics: Arc<Metrics>,
}

impl TelemetryLayer {
    /// A layer reporting into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        TelemetryLayer { metrics }
    }
}

impl<S> tower::Layer<S> for TelemetryLayer {
    type Service = Telemetry<S>;

    fn layer(&self, inner: S) -> Telemetry<S> {
        Telemetry {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`TelemetryLayer`] makes.
#[derive(Debug, Clone)]
pub struct Telemetry<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> tower::Service<Request> for Telemetry<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TelemetryFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let started = Instant::now();
        let surface = Surface::of(&req);
        let id = request_id::ensure(req.headers_mut());
        let record = Arc::new(CallRecord::new(id.clone(), started));
        // Created before the inner call, so a request abandoned before its answer is still
        // counted and logged (when this is dropped).
        let mut finish = Finish::new(
            self.metrics.clone(),
            record.clone(),
            surface,
            req.method().clone(),
            req.uri().clone(),
        );
        finish.trace_id = req
            .extensions_mut()
            .remove::<crate::otel::server::TraceId>()
            .map(|t| t.0);
        // Called at once on the service that was polled ready: no clone needed.
        TelemetryFuture {
            answer: super::scope(record, self.inner.call(req)),
            finish: Some(finish),
            id: Some(id),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Telemetry`]: the inner answer, with the request id set and its
    /// body metered. Dropped unfinished (the client went away), it reports the request.
    pub struct TelemetryFuture<F> {
        #[pin]
        answer: tokio::task::futures::TaskLocalFuture<Arc<CallRecord>, F>,
        finish: Option<Finish>,
        id: Option<http::HeaderValue>,
    }
}

impl<F> Future for TelemetryFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut resp) = std::task::ready!(this.answer.poll(cx));
        if let Some(id) = this.id.take() {
            resp.headers_mut().insert(request_id::HEADER, id);
        }
        let Some(mut finish) = this.finish.take() else {
            // Polled again after it answered: nothing left to report.
            return Poll::Ready(Ok(resp));
        };
        finish.head(&resp);
        let (parts, body) = resp.into_parts();
        Poll::Ready(Ok(Response::from_parts(
            parts,
            Body::new(Metered::new(body, finish)),
        )))
    }
}

/// Reports one request, exactly once: when its body ends, or when it is dropped.
struct Finish {
    metrics: Arc<Metrics>,
    record: Arc<CallRecord>,
    surface: Surface,
    method: Method,
    uri: Uri,
    /// The response's status and time, once the inner service answered.
    http: Option<u16>,
    head: Option<Duration>,
    /// A `grpc-status` from the response headers or trailers.
    grpc: Option<tonic::Code>,
    /// The body was sent to its end.
    ended: bool,
    done: bool,
    /// The request's trace, when tracing is on.
    trace_id: Option<String>,
}

fn grpc_status(headers: &HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .map(|v| tonic::Code::from_bytes(v.as_bytes()))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Finish {
    fn new(
        metrics: Arc<Metrics>,
        record: Arc<CallRecord>,
        surface: Surface,
        method: Method,
        uri: Uri,
    ) -> Finish {
        metrics.in_flight(surface).inc();
        Finish {
            metrics,
            record,
            surface,
            method,
            uri,
            http: None,
            head: None,
            grpc: None,
            ended: false,
            done: false,
            trace_id: None,
        }
    }

    fn head(&mut self, resp: &Response) {
        self.head = Some(self.record.started().elapsed());
        self.http = Some(resp.status().as_u16());
        self.grpc = grpc_status(resp.headers());
    }

    fn trailers(&mut self, trailers: &HeaderMap) {
        if let Some(code) = grpc_status(trailers) {
            self.grpc = Some(code);
        }
    }

    /// What the request ended with (see the module docs).
    fn code(&self, out: &Outcome) -> Code {
        let grpc = self.surface.is_grpc();
        let Some(http) = self.http else {
            return if grpc {
                Code::Grpc(tonic::Code::Cancelled)
            } else {
                Code::Http(CLIENT_CLOSED)
            };
        };
        if grpc {
            let code = self.grpc.or(out.failure.map(|(_, c)| c)).or_else(|| {
                (http == 200).then_some(if self.ended {
                    tonic::Code::Ok
                } else {
                    tonic::Code::Cancelled
                })
            });
            return code.map_or(Code::Http(http), Code::Grpc);
        }
        if (200..300).contains(&http) {
            if let Some((status, _)) = out.failure {
                return Code::Http(status);
            }
            if !self.ended {
                return Code::Http(CLIENT_CLOSED);
            }
        }
        Code::Http(http)
    }

    fn emit(&mut self) {
        self.done = true;
        let total = self.record.started().elapsed();
        let out = self.record.outcome();
        let code = self.code(&out);
        let labels = RequestLabels {
            surface: self.surface,
            endpoint: out.endpoint().cloned(),
            provider: out.provider(),
            stream: out.stream,
            code,
        };
        let overhead = self.head.map(|h| h.saturating_sub(out.upstream));
        self.metrics.finished(&labels, total, overhead);
        self.metrics.in_flight(self.surface).dec();
        if let Some(ep) = &out.served {
            ep.tokens(out.prompt_tokens, out.completion_tokens);
            if let Some(t) = out.first_token {
                ep.first_token(t);
            }
        }
        let provider = out.provider();
        tracing::info!(
            target: "access",
            request_id = self.record.request_id(),
            trace_id = self.trace_id.as_deref(),
            surface = self.surface.as_str(),
            method = self.method.as_str(),
            path = self.uri.path(),
            status = self.http,
            grpc_status = match code {
                Code::Grpc(c) => Some(grpc_name(c)),
                Code::Http(_) => None,
            },
            class = code.class(),
            stream_error = out.failure.map(|(status, _)| status),
            completed = self.ended,
            endpoint = out.endpoint().map(|e| &**e),
            provider = (!provider.is_empty()).then_some(provider),
            stream = out.stream,
            latency_ms = millis(total),
            upstream_ms = millis(out.upstream),
            ttft_ms = out.first_token.map(millis),
            prompt_tokens = out.prompt_tokens,
            completion_tokens = out.completion_tokens,
            "request"
        );
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        if !self.done {
            self.emit();
        }
    }
}

/// A response body that reports its request when it ends or is dropped.
struct Metered {
    inner: Body,
    finish: Option<Finish>,
}

impl Metered {
    fn new(inner: Body, finish: Finish) -> Metered {
        let mut body = Metered {
            inner,
            finish: Some(finish),
        };
        // An empty body (a trailers-only gRPC answer, a redirect) may never be polled.
        if body.inner.is_end_stream() {
            body.end();
        }
        body
    }

    fn end(&mut self) {
        if let Some(mut f) = self.finish.take() {
            f.ended = true;
            f.emit();
        }
    }
}

impl http_body::Body for Metered {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                // Trailers are a body's last frame: over HTTP/2 the server may not poll again.
                let last = match (frame.trailers_ref(), this.finish.as_mut()) {
                    (Some(t), Some(f)) => {
                        f.trailers(t);
                        true
                    }
                    _ => false,
                };
                if last || this.inner.is_end_stream() {
                    this.end();
                }
            }
            Poll::Ready(None) => this.end(),
            // A body that failed is reported as unfinished (dropping `Finish` emits).
            Poll::Ready(Some(Err(_))) => drop(this.finish.take()),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
