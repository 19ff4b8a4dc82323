//! [`CatchPanicLayer`]: a panic while handling a request ends that request only.
//!
//! The crate denies `unwrap`, `expect` and `panic!` on request paths (clippy), so a panic here
//! is a bug: an index out of bounds, an overflow in a dependency. Without this layer it would
//! abort the connection's task, and the client would see its connection reset with no answer.
//! With it, the request is answered with a 500 in the caller's protocol (REST
//! `{"detail": ...}`, gRPC / grpc-web `INTERNAL`, Connect `internal`), the panic is logged at
//! ERROR with the request's method and path, and every other request and connection carries
//! on. The panic message is logged, never sent: it may hold request data.
//!
//! It covers the handling up to the response head (the handler and the layers inside it); a
//! panic while a streamed body is being produced ends that stream's connection task only.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use futures::FutureExt as _;
use futures::future::CatchUnwind;
use http::{Method, Uri};

use super::Caller;
use crate::error::GatewayError;

/// Turns a panic while handling a request into that request's 500; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanicLayer;

impl<S> tower::Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic { inner }
    }
}

/// The service [`CatchPanicLayer`] makes.
#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
}

impl<S> tower::Service<Request> for CatchPanic<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Caught<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let context = RequestInfo {
            caller: Caller::of(&req),
            method: req.method().clone(),
            // Shares the request's buffer: no allocation on the hot path.
            uri: req.uri().clone(),
        };
        let inner = &mut self.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.call(req))) {
            Ok(answer) => Caught::Running {
                answer: AssertUnwindSafe(answer).catch_unwind(),
                context: Some(context),
            },
            Err(payload) => Caught::Panicked {
                answer: Some(context.answer(&*payload)),
            },
        }
    }
}

/// What a panic's answer and log line need of the request.
#[derive(Debug)]
pub struct RequestInfo {
    caller: Caller,
    method: Method,
    uri: Uri,
}

impl RequestInfo {
    fn answer(&self, payload: &(dyn Any + Send)) -> Response {
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(not a string)");
        tracing::error!(
            method = self.method.as_str(),
            path = self.uri.path(),
            panic = message,
            "a request handler panicked; answered 500 and kept serving"
        );
        let e = GatewayError::Internal(
            "The gateway failed while handling this request; it has been logged.".into(),
        );
        self.caller.refuse(&e)
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`CatchPanic`].
    #[project = CaughtProj]
    pub enum Caught<F> {
        Running {
            #[pin]
            answer: CatchUnwind<AssertUnwindSafe<F>>,
            context: Option<RequestInfo>,
        },
        Panicked {
            answer: Option<Response>,
        },
    }
}

impl<F> Future for Caught<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CaughtProj::Running { answer, context } => match std::task::ready!(answer.poll(cx)) {
                Ok(answered) => Poll::Ready(answered),
                Err(payload) => {
                    let resp = match context.take() {
                        Some(context) => context.answer(&*payload),
                        None => crate::rest::error_response(&GatewayError::Internal(
                            "The gateway failed while handling this request.".into(),
                        )),
                    };
                    Poll::Ready(Ok(resp))
                }
            },
            CaughtProj::Panicked { answer } => {
                Poll::Ready(Ok(answer.take().unwrap_or_else(|| {
                    crate::rest::error_response(&GatewayError::Internal(
                        "The gateway failed while handling this request.".into(),
                    ))
                })))
            }
        }
    }
}
