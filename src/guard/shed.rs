//! [`LoadShedLayer`]: a bound on requests in flight, with load shedding past it.
//!
//! Each request takes a slot from one atomic counter and gives it back when its response body
//! ends or is dropped (a stream holds its slot until its last byte, or until the client goes
//! away). A request that finds every slot taken is refused at once, never queued: 503 with
//! `Retry-After: 1` and the REST JSON error, `RESOURCE_EXHAUSTED` for gRPC and grpc-web,
//! Connect's `resource_exhausted` (HTTP 429, Connect's status for that code). Probes and
//! scrapes are exempt, so a saturated gateway still answers them at once: `/health`,
//! `/metrics` and the gRPC health service.
//!
//! The layer sits inside the telemetry layer, so shed requests are counted and logged like any
//! other (with their 503 / `RESOURCE_EXHAUSTED`), and also in
//! `llm_gateway_requests_shed_total`. The cost of an admitted request is two atomic
//! operations on the counter and the response body's wrapper.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use futures::future::{Either, Ready, ready};
use http_body::Frame;

use crate::error::GatewayError;
use crate::telemetry::Metrics;
use crate::telemetry::labels::Surface;

/// Default bound on requests in flight (`--max-in-flight`).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4096;

/// Paths never shed: liveness and readiness probes and metrics scrapes must answer on a
/// saturated gateway (they are cheap and hold nothing for long).
const EXEMPT: [&str; 4] = [
    "/health",
    "/metrics",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
];

/// Bounds requests in flight; see the module docs.
#[derive(Debug, Clone)]
pub struct LoadShedLayer {
    limit: usize,
    in_flight: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
}

impl LoadShedLayer {
    /// At most `limit` requests in flight (0: no bound), shed requests counted in `metrics`.
    pub fn new(limit: usize, metrics: Arc<Metrics>) -> LoadShedLayer {
        LoadShedLayer {
            limit,
            in_flight: Arc::new(AtomicUsize::new(0)),
            metrics,
        }
    }

    /// Requests holding a slot now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

impl<S> tower::Layer<S> for LoadShedLayer {
    type Service = LoadShed<S>;

    fn layer(&self, inner: S) -> LoadShed<S> {
        LoadShed {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`LoadShedLayer`] makes.
#[derive(Debug, Clone)]
pub struct LoadShed<S> {
    inner: S,
    layer: LoadShedLayer,
}

impl<S> tower::Service<Request> for LoadShed<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, Held<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let limit = self.layer.limit;
        if limit == 0 || EXEMPT.contains(&req.uri().path()) {
            return Either::Right(Held {
                answer: self.inner.call(req),
                slot: None,
            });
        }
        let taken = self.layer.in_flight.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(self.layer.in_flight.clone());
        if taken >= limit {
            drop(slot);
            self.layer.metrics.shed(Surface::of(&req));
            tracing::debug!(
                "shed {} {}: {limit} requests in flight",
                req.method(),
                req.uri().path()
            );
            let e = GatewayError::Overloaded { limit };
            return Either::Left(ready(Ok(super::refusal(&req, &e))));
        }
        Either::Right(Held {
            answer: self.inner.call(req),
            slot: Some(slot),
        })
    }
}

/// One request's place in the count; given back when dropped.
#[derive(Debug)]
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// The answer of an admitted request; its body keeps the slot.
    pub struct Held<F> {
        #[pin]
        answer: F,
        slot: Option<Slot>,
    }
}

impl<F> std::future::Future for Held<F>
where
    F: std::future::Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(resp) = std::task::ready!(this.answer.poll(cx));
        let Some(slot) = this.slot.take() else {
            return Poll::Ready(Ok(resp));
        };
        let (parts, body) = resp.into_parts();
        // An empty body (a trailers-only gRPC answer) may never be polled: free the slot now.
        if http_body::Body::is_end_stream(&body) {
            drop(slot);
            return Poll::Ready(Ok(Response::from_parts(parts, body)));
        }
        let body = SlotBody {
            inner: body,
            slot: Some(slot),
        };
        Poll::Ready(Ok(Response::from_parts(parts, Body::new(body))))
    }
}

/// A response body holding its request's slot until it ends or is dropped.
struct SlotBody {
    inner: Body,
    slot: Option<Slot>,
}

impl http_body::Body for SlotBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.slot = None,
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() || this.inner.is_end_stream() => {
                this.slot = None;
            }
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
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
