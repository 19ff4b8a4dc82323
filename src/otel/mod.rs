//! OpenTelemetry traces over OTLP/gRPC, off unless an endpoint is configured (`--otlp-endpoint`
//! or `OTEL_EXPORTER_OTLP_ENDPOINT`).
//!
//! **Off** nothing is installed: the server layer is not in the stack, no header is read, no
//! span or context is built, and the hooks on the request path ([`genai::traced`],
//! [`upstream::start`]) cost one atomic load ([`enabled`]) before doing nothing.
//!
//! **On**, each call makes this tree of spans, in the client's trace when its request carries a
//! W3C `traceparent` (gRPC metadata and grpc-web headers are HTTP headers at the server layer, so
//! every surface is covered the same way):
//!
//! ```text
//! POST /v1/chat/completions      SERVER    one per request, until the body ends  (server)
//! └─ chat my-endpoint            INTERNAL  one per call, gen_ai.* attributes      (genai)
//!    └─ POST                     CLIENT    one per upstream request: each retry,  (upstream)
//!                                          fallback and credential fetch; its context goes
//!                                          upstream as `traceparent`
//! ```
//!
//! Spans never carry prompts, completions, credentials or query strings (some providers put the
//! key there): the upstream span records the host and the path, the call span token counts,
//! models and finish reasons, and failures are recorded by class (`error.type`), never by message.
//!
//! The OpenTelemetry API is used directly rather than through `tracing` spans: spans exist only
//! when tracing is on, attributes keep their types (token counts are integers, finish reasons an
//! array) without going through field formatting, and traces do not depend on `RUST_LOG` or on
//! how the log subscriber is layered. The export pipeline ([`Tracing`]) is in [`pipeline`].

mod pipeline;
mod propagation;

pub mod genai;
pub mod server;
pub mod upstream;

use std::sync::OnceLock;

use opentelemetry_sdk::trace::SdkTracer;

pub use pipeline::{OtelError, Tracing, TracingOptions};

/// The tracer, set once when tracing starts; never set when it is off.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Whether traces are being exported (an OTLP endpoint was configured and the pipeline started).
#[inline]
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

/// The tracer, when tracing is on.
#[inline]
fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// A method as a static name (`_OTHER` for a non-standard one, as the HTTP conventions say).
pub(crate) fn method_name(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        _ => "_OTHER",
    }
}

/// The `error.type` of a failed call or upstream request: its transient-failure class
/// (`timeout`, `connect_error`, `rate_limited`, `server_error`) or else its HTTP status. Never
/// the message, which may quote the request.
fn error_type(e: &crate::error::GatewayError) -> std::borrow::Cow<'static, str> {
    match e.class() {
        Some(class) => class.as_str().into(),
        None => e.http_status().to_string().into(),
    }
}

/// Spans exported to memory, for unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter};

    /// An exporter that keeps what it is given.
    #[derive(Debug, Clone, Default)]
    pub struct Memory(Arc<Mutex<Vec<SpanData>>>);

    impl Memory {
        /// A tracer whose spans are exported here as each ends.
        pub fn tracer() -> (Memory, SdkTracer) {
            let memory = Memory::default();
            let provider = SdkTracerProvider::builder()
                .with_simple_exporter(memory.clone())
                .build();
            (memory, provider.tracer("test"))
        }

        /// The spans ended so far, in the order they ended.
        pub fn take(&self) -> Vec<SpanData> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    impl SpanExporter for Memory {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    /// An attribute's value as text; `""` when the span has none.
    pub fn attr(span: &SpanData, key: &str) -> String {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
            .unwrap_or_default()
    }
}
