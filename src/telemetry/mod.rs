//! Telemetry: Prometheus metrics, one access line per request, request ids, and the log
//! output's format and filter.
//!
//! - [`layer`]: the outermost tower layer on the main port: request id, requests in flight,
//!   and, when a response ends, its metrics and access line.
//! - [`metrics`]: the registry and its families; per-endpoint series resolved once per config.
//! - [`record`]: [`CallRecord`], what the service layer reports about one request.
//! - [`stream`]: the same for a committed stream, chunk by chunk.
//! - [`labels`]: the bounded label values (surface, outcome code and class).
//! - [`request_id`]: honouring or minting `x-request-id`.
//! - [`logging`]: text or JSON lines, the level filter, and the opt-in, redacted body log.
//! - [`admin`]: `/metrics`, and the admin port's router.
//!
//! The layer and the service meet through a task-local: while the inner service handles a
//! request, the request's [`CallRecord`] is the task's current one, and the service reports into
//! it with [`with_call`] (a no-op outside a request, e.g. in unit tests). This keeps telemetry
//! out of every surface's signatures; it relies on surfaces awaiting the service in the
//! request's own task, which they do (tonic, tonic-web and axum spawn nothing per request).
//! A stream outlives that scope, so it holds its record ([`current_call`]).

pub mod admin;
pub mod labels;
pub mod layer;
pub mod logging;
pub mod metrics;
pub mod record;
pub mod request_id;
pub mod stream;

use std::future::Future;
use std::sync::Arc;

pub use admin::{admin_router, metrics_response};
pub use layer::TelemetryLayer;
pub use logging::{BodyLog, LogFormat};
pub use metrics::{EndpointMetrics, Metrics};
pub use record::CallRecord;

tokio::task_local! {
    static CALL: Arc<CallRecord>;
}

/// Runs `f` with `record` as the current request's record.
pub(crate) fn scope<F: Future>(
    record: Arc<CallRecord>,
    f: F,
) -> tokio::task::futures::TaskLocalFuture<Arc<CallRecord>, F> {
    CALL.scope(record, f)
}

/// Calls `f` with the current request's record, if there is one.
pub fn with_call(f: impl FnOnce(&CallRecord)) {
    let _ = CALL.try_with(|r| f(r));
}

/// The current request's record, for something that outlives the handler (a stream).
pub fn current_call() -> Option<Arc<CallRecord>> {
    CALL.try_with(Arc::clone).ok()
}
