//! The CLIENT span of one upstream HTTP request, and the trace context it sends upstream.
//!
//! [`crate::providers::http::send`] wraps every upstream request in [`start`] and
//! [`UpstreamSpan::finish`], so each attempt, retry, fallback and credential fetch is its own
//! span under the call span. The span lasts until the response headers arrive; a stream's body
//! is timed by the call span.
//!
//! The URL is recorded as host, port, scheme and path only: some providers take their key in
//! the query string, and nothing of it may reach a trace.

use std::borrow::Cow;

use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};

use crate::error::GatewayError;

/// An upstream request's span, ended by [`UpstreamSpan::finish`] (or when dropped, if the call
/// was abandoned).
#[derive(Debug)]
pub struct UpstreamSpan {
    span: opentelemetry_sdk::trace::Span,
}

/// Starts the span of `request`, a child of the current call span, and writes its trace context
/// into the request's headers (`traceparent`, and `tracestate` when there is one). `None`,
/// with the request untouched, when tracing is off.
#[inline]
pub fn start(request: &mut reqwest::Request) -> Option<UpstreamSpan> {
    let tracer = super::tracer()?;
    Some(start_with(tracer, request))
}

fn start_with(
    tracer: &opentelemetry_sdk::trace::SdkTracer,
    request: &mut reqwest::Request,
) -> UpstreamSpan {
    let method = super::method_name(request.method());
    let mut span = tracer
        .span_builder(method)
        .with_kind(SpanKind::Client)
        .start_with_context(tracer, &Context::current());
    // Sampled out, the span is described by nothing; its context still goes upstream.
    if span.is_recording() {
        let url = request.url();
        let mut attributes = Vec::with_capacity(5);
        attributes.push(KeyValue::new("http.request.method", method));
        if let Some(host) = url.host_str() {
            attributes.push(KeyValue::new("server.address", host.to_owned()));
        }
        if let Some(port) = url.port_or_known_default() {
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
        attributes.push(KeyValue::new("url.scheme", scheme_name(url.scheme())));
        attributes.push(KeyValue::new("url.path", url.path().to_owned()));
        span.set_attributes(attributes);
    }
    let sent = Context::new().with_remote_span_context(span.span_context().clone());
    super::propagation::inject(&sent, request.headers_mut());
    UpstreamSpan { span }
}

impl UpstreamSpan {
    /// Records the outcome (status code, or the class of transport failure) and ends the span.
    pub fn finish(mut self, outcome: &Result<reqwest::Response, GatewayError>) {
        if !self.span.is_recording() {
            return;
        }
        match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                self.span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
                if status >= 400 {
                    // The HTTP conventions for a client: the status code is the error type.
                    let code = status.to_string();
                    self.span
                        .set_attribute(KeyValue::new("error.type", code.clone()));
                    self.span.set_status(Status::error(code));
                }
            }
            Err(e) => {
                let kind = super::error_type(e);
                self.span
                    .set_attribute(KeyValue::new("error.type", kind.clone()));
                self.span.set_status(Status::error(kind));
            }
        }
        self.span.end();
    }
}

fn scheme_name(scheme: &str) -> Cow<'static, str> {
    match scheme {
        "https" => Cow::Borrowed("https"),
        "http" => Cow::Borrowed("http"),
        other => Cow::Owned(other.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otel::testing::{Memory, attr};

    #[test]
    fn the_span_keeps_the_query_out_and_its_context_goes_upstream() {
        let (memory, tracer) = Memory::tracer();
        let url = reqwest::Url::parse(
            "https://generativelanguage.example/v1/models/m:generate?key=AIza-secret",
        )
        .unwrap();
        let mut request = reqwest::Request::new(reqwest::Method::POST, url);
        let span = start_with(&tracer, &mut request);
        let traceparent = request.headers()["traceparent"]
            .to_str()
            .unwrap()
            .to_owned();
        let sc = span.span.span_context().clone();
        assert_eq!(
            traceparent,
            format!("00-{}-{}-01", sc.trace_id(), sc.span_id())
        );
        span.finish(&Err(GatewayError::UpstreamTimeout("late".into())));
        let [span] = memory.take().try_into().unwrap();
        assert_eq!(span.name, "POST");
        assert_eq!(span.span_kind, SpanKind::Client);
        let text = format!("{:?}", span.attributes);
        assert!(!text.contains("secret") && !text.contains("key="), "{text}");
        assert_eq!(attr(&span, "server.address"), "generativelanguage.example");
        assert_eq!(attr(&span, "server.port"), "443");
        assert_eq!(attr(&span, "url.path"), "/v1/models/m:generate");
        assert_eq!(attr(&span, "error.type"), "timeout");
        assert_eq!(span.status, Status::error("timeout"));
    }
}
