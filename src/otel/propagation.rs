//! W3C trace context (`traceparent`, `tracestate`) in and out of HTTP headers: read from the
//! client's request, written into each upstream request. Only called while tracing is on.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// The trace context the client sent, as the parent for the server span; an empty context (a
/// new trace) when it sent none or an invalid one.
pub(crate) fn extract(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderReader(headers))
}

/// Writes the trace context of `cx`'s span into `headers`, replacing any already there.
pub(crate) fn inject(cx: &Context, headers: &mut HeaderMap) {
    TraceContextPropagator::new().inject_context(cx, &mut HeaderWriter(headers));
}

struct HeaderReader<'a>(&'a HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderWriter<'a>(&'a mut HeaderMap);

impl Injector for HeaderWriter<'_> {
    fn set(&mut self, key: &str, value: String) {
        let Ok(name) = HeaderName::from_bytes(key.as_bytes()) else {
            return;
        };
        // The propagator writes `tracestate` even when it is empty; an empty header says nothing.
        if value.is_empty() {
            self.0.remove(&name);
            return;
        }
        if let Ok(value) = HeaderValue::from_str(&value) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceContextExt, TraceId};

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_client_traceparent_round_trips() {
        let mut incoming = HeaderMap::new();
        incoming.insert("traceparent", HeaderValue::from_static(PARENT));
        incoming.insert("tracestate", HeaderValue::from_static("vendor=abc"));
        let cx = extract(&incoming);
        let sc = cx.span().span_context().clone();
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(
            sc.trace_id(),
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()
        );
        let mut outgoing = HeaderMap::new();
        outgoing.insert("traceparent", HeaderValue::from_static("stale"));
        inject(&cx, &mut outgoing);
        assert_eq!(outgoing["traceparent"], PARENT);
        assert_eq!(outgoing["tracestate"], "vendor=abc");
    }

    #[test]
    fn no_or_bad_context_is_a_new_trace_and_writes_nothing() {
        for bad in [
            "",
            "garbage",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        ] {
            let mut incoming = HeaderMap::new();
            if !bad.is_empty() {
                incoming.insert("traceparent", HeaderValue::from_static(bad));
            }
            let cx = extract(&incoming);
            assert!(!cx.span().span_context().is_valid(), "{bad}");
            let mut outgoing = HeaderMap::new();
            inject(&cx, &mut outgoing);
            assert!(outgoing.is_empty(), "{bad}");
        }
    }
}
