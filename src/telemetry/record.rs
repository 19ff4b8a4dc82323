//! What the service learns about one request, kept for the telemetry layer to report when the
//! response ends: the endpoint that served it (or the target it named), the time spent waiting
//! on upstreams, when a stream committed, the token usage, and an error that ended a stream
//! after its response had started.
//!
//! The layer creates one [`CallRecord`] per request and makes it the task's current record
//! (see [`super::with_call`]); the service fills it in. Every method is a short critical section
//! on one uncontended mutex: a handful per request.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http::HeaderValue;

use super::metrics::EndpointMetrics;
use crate::error::GatewayError;
use crate::pb::v1 as pb;

/// One request's telemetry, shared by the layer and the service.
#[derive(Debug)]
pub struct CallRecord {
    request_id: HeaderValue,
    started: Instant,
    state: Mutex<Outcome>,
}

/// What a request did, as far as the service reported it.
#[derive(Debug, Default, Clone)]
pub(super) struct Outcome {
    /// The configured endpoint or route the request named, once it was resolved.
    pub target: Option<Arc<str>>,
    /// The endpoint of the latest upstream attempt (the one that answered, if any did).
    pub served: Option<Arc<EndpointMetrics>>,
    /// Whether the service served (or tried to serve) it as a stream.
    pub stream: bool,
    /// Time in upstream attempts and retry backoff.
    pub upstream: Duration,
    /// When the stream committed (its first upstream event), since arrival.
    pub first_token: Option<Duration>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// The error a started stream ended with: its HTTP status and gRPC code.
    pub failure: Option<(u16, tonic::Code)>,
}

impl Outcome {
    /// The `endpoint` label: the serving endpoint, else the named target, else none.
    pub fn endpoint(&self) -> Option<&Arc<str>> {
        self.served
            .as_ref()
            .map(|ep| ep.name())
            .or(self.target.as_ref())
    }

    /// The `provider` label: the serving endpoint's provider kind, or "".
    pub fn provider(&self) -> &'static str {
        self.served.as_ref().map_or("", |ep| ep.provider())
    }
}

impl CallRecord {
    /// A record for a request that arrived at `started` with this id.
    pub fn new(request_id: HeaderValue, started: Instant) -> CallRecord {
        CallRecord {
            request_id,
            started,
            state: Mutex::new(Outcome::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Outcome> {
        // Plain data: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The request's `x-request-id`, as a header value (cheap to clone).
    pub fn request_id_header(&self) -> &HeaderValue {
        &self.request_id
    }

    /// The request's `x-request-id`.
    pub fn request_id(&self) -> &str {
        // Only visible ASCII is ever accepted or generated (see `request_id`).
        self.request_id.to_str().unwrap_or("")
    }

    /// The request names this configured endpoint or route.
    pub fn target(&self, name: &Arc<str>) {
        let mut s = self.lock();
        if s.target.is_none() {
            s.target = Some(name.clone());
        }
    }

    /// An upstream attempt on `ep` starts.
    pub fn attempt(&self, ep: &Arc<EndpointMetrics>) {
        let mut s = self.lock();
        if !s.served.as_ref().is_some_and(|cur| Arc::ptr_eq(cur, ep)) {
            s.served = Some(ep.clone());
        }
    }

    /// The request waited `d` on an upstream attempt or a retry backoff.
    pub fn upstream(&self, d: Duration) {
        self.lock().upstream += d;
    }

    /// The request is served as a stream.
    pub fn streaming(&self) {
        self.lock().stream = true;
    }

    /// The stream committed: its first upstream event arrived.
    pub fn first_token(&self) {
        let after = self.started.elapsed();
        self.lock().first_token = Some(after);
    }

    /// The upstream reported `usage` (a later report replaces an earlier one, as streams send
    /// the usage of the whole call).
    pub fn usage(&self, usage: Option<&pb::Usage>) {
        let Some(u) = usage else { return };
        let mut s = self.lock();
        if let Some(n) = u.prompt_tokens {
            s.prompt_tokens = Some(u64::from(n));
        }
        if let Some(n) = u.completion_tokens {
            s.completion_tokens = Some(u64::from(n));
        }
    }

    /// A started stream ended with `e`.
    pub fn failed(&self, e: &GatewayError) {
        self.lock().failure = Some((e.http_status(), e.grpc_code()));
    }

    pub(super) fn started(&self) -> Instant {
        self.started
    }

    pub(super) fn outcome(&self) -> Outcome {
        self.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Metrics;
    use crate::telemetry::metrics::Produces;

    #[test]
    fn the_serving_endpoint_wins_over_the_named_target() {
        let m = Metrics::new();
        let rec = CallRecord::new(HeaderValue::from_static("id-1"), Instant::now());
        assert!(rec.outcome().endpoint().is_none());
        rec.target(&Arc::from("route"));
        assert_eq!(rec.outcome().endpoint().map(|s| &**s), Some("route"));
        assert_eq!(rec.outcome().provider(), "");
        rec.attempt(&m.endpoint("primary", "openai", Produces::ALL));
        rec.attempt(&m.endpoint("secondary", "anthropic", Produces::ALL));
        let out = rec.outcome();
        assert_eq!(out.endpoint().map(|s| &**s), Some("secondary"));
        assert_eq!(out.provider(), "anthropic");
        assert_eq!(rec.request_id(), "id-1");
    }

    #[test]
    fn usage_keeps_the_latest_report_and_failures_keep_both_codes() {
        let rec = CallRecord::new(HeaderValue::from_static("x"), Instant::now());
        rec.usage(Some(&pb::Usage {
            prompt_tokens: Some(3),
            ..Default::default()
        }));
        rec.usage(Some(&pb::Usage {
            prompt_tokens: Some(9),
            completion_tokens: Some(4),
            ..Default::default()
        }));
        rec.usage(None);
        rec.upstream(Duration::from_millis(2));
        rec.upstream(Duration::from_millis(3));
        rec.failed(&GatewayError::UpstreamTimeout("t".into()));
        let out = rec.outcome();
        assert_eq!(
            (out.prompt_tokens, out.completion_tokens),
            (Some(9), Some(4))
        );
        assert_eq!(out.upstream, Duration::from_millis(5));
        assert_eq!(out.failure, Some((504, tonic::Code::DeadlineExceeded)));
    }
}
