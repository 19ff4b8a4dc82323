//! The SERVER span of each request, and the client's trace context as its parent.
//!
//! [`traced`] wraps the whole app (both surfaces) in [`ServerLayer`] when tracing is on, and
//! [`name_routes`] names REST spans after their route. Every protocol reaches the layer as an
//! HTTP request, so one reading of `traceparent`/`tracestate` covers REST, gRPC metadata and
//! grpc-web alike. The handler runs with the span as the current context (the call span's
//! parent), and the span lasts until the response body has been sent, so a stream is timed to
//! its last byte.
//!
//! - REST: `{method} {route}` (`POST /gateway/{name}/invocations`), `http.request.method`,
//!   `http.route`, `url.path` (never the query), `http.response.status_code`; an error status
//!   for 5xx.
//! - gRPC and grpc-web: `{service}/{method}`, `rpc.system`, `rpc.service`, `rpc.method`,
//!   `rpc.grpc.status_code` (from the headers of an immediate error, or the trailers of gRPC);
//!   an error status for the codes that mean a server fault.
//! - Every request: `client.address`, and `llm_gateway.request_id` (the response's
//!   `x-request-id`, which names the request in the access log).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use futures::future::BoxFuture;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use opentelemetry::trace::{
    FutureExt as _, Span as _, SpanKind, Status, TraceContextExt, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;

/// Adds a server span to every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerLayer;

impl<S> tower::Layer<S> for ServerLayer {
    type Service = ServerSpan<S>;

    fn layer(&self, inner: S) -> ServerSpan<S> {
        ServerSpan { inner }
    }
}

/// The service [`ServerLayer`] makes.
#[derive(Debug, Clone)]
pub struct ServerSpan<S> {
    inner: S,
}

impl<S> tower::Service<Request> for ServerSpan<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let Some(tracer) = super::tracer() else {
            return Box::pin(self.inner.call(req));
        };
        let (cx, grpc) = start(tracer, &req);
        // The access line names the trace, so a log line leads to its spans.
        let trace_id = cx.span().span_context().trace_id();
        if trace_id != opentelemetry::trace::TraceId::INVALID {
            req.extensions_mut().insert(TraceId(trace_id.to_string()));
        }
        let handled = self.inner.call(req).with_context(cx.clone());
        Box::pin(async move {
            let response = handled.await?;
            Ok(finish(cx, grpc, response))
        })
    }
}

/// The trace a request belongs to (32 hex digits), in its extensions when tracing is on.
#[derive(Debug, Clone)]
pub struct TraceId(pub String);

/// `app` with a server span per request when tracing is on; untouched when it is off.
pub fn traced(app: axum::Router) -> axum::Router {
    if super::enabled() {
        app.layer(ServerLayer)
    } else {
        app
    }
}

/// Names the server span of a matched REST route after its template and records `http.route`:
/// the REST router runs it as a route layer, under the server span.
pub async fn name_route(req: Request, next: Next) -> Response {
    if let Some(route) = req.extensions().get::<MatchedPath>() {
        let cx = Context::current();
        let span = cx.span();
        if span.is_recording() {
            span.update_name(format!("{} {}", req.method(), route.as_str()));
            span.set_attribute(KeyValue::new("http.route", route.as_str().to_owned()));
        }
    }
    next.run(req).await
}

/// `routes` with [`name_route`] on each when tracing is on; untouched when it is off.
pub fn name_routes<S: Clone + Send + Sync + 'static>(routes: axum::Router<S>) -> axum::Router<S> {
    if super::enabled() {
        routes.route_layer(axum::middleware::from_fn(name_route))
    } else {
        routes
    }
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"))
}

/// Starts the span of `req` under the client's context; returns it as the current context for
/// the handler, and whether the request is gRPC (or grpc-web).
fn start(tracer: &SdkTracer, req: &Request) -> (Context, bool) {
    let parent = super::propagation::extract(req.headers());
    let grpc = is_grpc(req.headers());
    let method = super::method_name(req.method());
    let mut span = tracer
        .span_builder(if grpc { "grpc" } else { method })
        .with_kind(SpanKind::Server)
        .start_with_context(tracer, &parent);
    // A span sampled out (by the client's flag or `OTEL_TRACES_SAMPLER`) only carries the trace
    // context on: describing it would be wasted work.
    if span.is_recording() {
        describe(&mut span, req, grpc, method);
    }
    (parent.with_span(span), grpc)
}

fn describe(
    span: &mut opentelemetry_sdk::trace::Span,
    req: &Request,
    grpc: bool,
    method: &'static str,
) {
    let path = req.uri().path();
    let mut attributes = Vec::with_capacity(5);
    if grpc {
        let full = path.trim_start_matches('/');
        span.update_name(full.to_owned());
        attributes.push(KeyValue::new("rpc.system", "grpc"));
        if let Some((service, method)) = full.split_once('/') {
            attributes.push(KeyValue::new("rpc.service", service.to_owned()));
            attributes.push(KeyValue::new("rpc.method", method.to_owned()));
        }
    } else {
        // Renamed after its route by `name_route` when one matches.
        attributes.push(KeyValue::new("http.request.method", method));
        attributes.push(KeyValue::new("url.path", path.to_owned()));
    }
    if let Some(peer) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        attributes.push(KeyValue::new("client.address", peer.0.ip().to_string()));
    }
    span.set_attributes(attributes);
}

/// Records the response's status and hands the span to its body, which ends it.
fn finish(cx: Context, grpc: bool, response: Response) -> Response {
    let span = cx.span();
    if !span.is_recording() {
        return response;
    }
    let status = response.status().as_u16();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    // The id the access log names the request by, so a trace and a log line can be matched.
    if let Some(id) = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
    {
        span.set_attribute(KeyValue::new("llm_gateway.request_id", id.to_owned()));
    }
    if grpc {
        // An immediate error is "trailers-only": its status is in the headers.
        record_grpc_status(&cx, response.headers());
    } else if status >= 500 {
        let code = status.to_string();
        span.set_attribute(KeyValue::new("error.type", code.clone()));
        span.set_status(Status::error(code));
    }
    response.map(|inner| Body::new(SpanBody { inner, cx, grpc }))
}

fn record_grpc_status(cx: &Context, headers: &HeaderMap) {
    let Some(code) = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
    else {
        return;
    };
    let span = cx.span();
    span.set_attribute(KeyValue::new("rpc.grpc.status_code", i64::from(code)));
    // The server faults of the gRPC conventions: UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
    // INTERNAL, UNAVAILABLE, DATA_LOSS.
    if matches!(code, 2 | 4 | 12 | 13 | 14 | 15) {
        let kind = tonic::Code::from_i32(code).description().to_owned();
        span.set_attribute(KeyValue::new("error.type", code.to_string()));
        span.set_status(Status::error(kind));
    }
}

/// A response body that ends the server span when it is done (or dropped: the client left).
struct SpanBody {
    inner: Body,
    cx: Context,
    grpc: bool,
}

impl http_body::Body for SpanBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        task: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(task);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if this.grpc
                    && let Some(trailers) = frame.trailers_ref()
                {
                    record_grpc_status(&this.cx, trailers);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                let span = this.cx.span();
                span.set_attribute(KeyValue::new("error.type", "response_body"));
                span.set_status(Status::error("response_body"));
                span.end();
            }
            Poll::Ready(None) => this.cx.span().end(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for SpanBody {
    fn drop(&mut self) {
        // A no-op when the span already ended.
        self.cx.span().end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otel::testing::{Memory, attr};
    use http_body_util::BodyExt;

    fn request(content_type: &str, path: &str) -> Request {
        http::Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", content_type)
            .header(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn a_grpc_span_ends_with_the_status_in_its_trailers() {
        let (memory, tracer) = Memory::tracer();
        let (cx, grpc) = start(&tracer, &request("application/grpc", "/pkg.Svc/Call"));
        assert!(grpc);
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "14".parse().unwrap());
        let frames = futures::stream::iter(vec![
            Ok::<_, axum::Error>(Frame::data(Bytes::from_static(b"\0\0\0\0\0"))),
            Ok(Frame::trailers(trailers)),
        ]);
        let response = Response::new(Body::new(http_body_util::StreamBody::new(frames)));
        let response = finish(cx, grpc, response);
        assert!(memory.take().is_empty(), "open until the body is done");
        response.into_body().collect().await.unwrap();
        let [span] = memory.take().try_into().unwrap();
        assert_eq!(span.name, "pkg.Svc/Call");
        assert_eq!(span.span_kind, SpanKind::Server);
        assert_eq!(
            span.parent_span_id.to_string(),
            "b7ad6b7169203331",
            "the client's span is the parent"
        );
        assert_eq!(attr(&span, "rpc.service"), "pkg.Svc");
        assert_eq!(attr(&span, "rpc.method"), "Call");
        assert_eq!(attr(&span, "rpc.grpc.status_code"), "14");
        assert_eq!(attr(&span, "error.type"), "14");
        assert!(matches!(span.status, Status::Error { .. }));
    }

    #[tokio::test]
    async fn a_rest_span_is_an_error_only_for_server_faults() {
        let (memory, tracer) = Memory::tracer();
        for (status, error) in [(404, false), (502, true)] {
            let (cx, grpc) = start(&tracer, &request("application/json", "/v1/x?key=secret"));
            let mut response = Response::new(Body::from("{}"));
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            drop(finish(cx, grpc, response));
            let [span] = memory.take().try_into().unwrap();
            assert_eq!(span.name, "POST");
            assert_eq!(attr(&span, "url.path"), "/v1/x");
            assert_eq!(attr(&span, "http.response.status_code"), status.to_string());
            assert_eq!(
                matches!(span.status, Status::Error { .. }),
                error,
                "{status}"
            );
        }
    }
}
