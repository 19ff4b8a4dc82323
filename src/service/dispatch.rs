//! Running one call against its destinations: the order they are tried in, retries on the
//! same destination, fallback to the next, circuit breakers, and the client's deadline.
//!
//! A [`Plan`] is the ordered list of endpoints a call may use: one for an endpoint; for a
//! traffic split, one drawn by weight among the destinations whose circuit is not open (then,
//! with a `fallback:` block, the others in config order); for a `FALLBACK` route, every
//! destination in config order. [`run`] walks it:
//!
//! 1. a destination that cannot serve this call (capability, `model` override) is skipped,
//!    and so is one whose circuit is open;
//! 2. each attempt gets the endpoint's total timeout, shortened to the client's deadline;
//! 3. a failure of the endpoint's `retries.on` classes is retried after a backoff (honouring
//!    `Retry-After`) while attempts and the deadline allow;
//! 4. a destination's final failure of the route's `fallback.on` classes moves on to the next
//!    destination; any other error is the answer.
//!
//! For streams an attempt is "open the upstream and read its first event" (the commit of
//! design.md §3.5), so streams retry and fall back exactly like unary calls up to the first
//! byte sent to the client, and never after.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use crate::config::FallbackPolicy;
use crate::error::GatewayError;
use crate::providers::{Call, ChunkStream};
use crate::routing::circuit::Admission;
use crate::routing::retry;
use crate::service::EndpointRuntime;
use crate::telemetry;

/// The destinations a call may use, in the order to try them.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The candidates, best first.
    pub candidates: Vec<Arc<EndpointRuntime>>,
    /// How far down the list to go; `None` = the first candidate only.
    pub fallback: Option<FallbackPolicy>,
    /// The name the client called (for messages).
    pub name: String,
    /// The route's fallback counter, when it has a `fallback:` block.
    pub fallbacks: Option<prometheus_client::metrics::counter::Counter>,
}

/// What the client asked that every candidate must honour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Needs<'a> {
    pub call: Call,
    pub model: Option<&'a str>,
    pub deadline: Option<Instant>,
}

/// Tries the plan's candidates until one answers; returns the answer and who gave it.
pub(crate) async fn run<T, F, Fut>(
    plan: Plan,
    needs: Needs<'_>,
    mut attempt: F,
) -> Result<(T, Arc<EndpointRuntime>), GatewayError>
where
    F: FnMut(Arc<EndpointRuntime>, Duration) -> Fut,
    Fut: Future<Output = Result<T, GatewayError>>,
{
    let budget = plan
        .fallback
        .as_ref()
        .map_or(1, |f| usize::try_from(f.max_attempts).unwrap_or(usize::MAX));
    let mut tried = 0usize;
    let mut last: Option<GatewayError> = None;
    let mut skipped_open: Option<Duration> = None;
    for ep in plan.candidates {
        if tried >= budget {
            break;
        }
        if needs.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(last.unwrap_or_else(GatewayError::client_deadline));
        }
        if let Err(e) = ep.can_serve(needs.call, needs.model) {
            last.get_or_insert(e);
            continue;
        }
        if let Some(Admission::Rejected { retry_after }) = ep.circuit.as_ref().map(|c| c.admit()) {
            skipped_open = Some(skipped_open.map_or(retry_after, |d| d.min(retry_after)));
            continue;
        }
        tried += 1;
        if tried > 1 {
            if let Some(c) = &plan.fallbacks {
                c.inc();
            }
            tracing::info!(
                target_name = %plan.name,
                endpoint = %ep.config.name,
                "falling back to the next destination"
            );
        }
        telemetry::with_call(|r| r.attempt(&ep.metrics));
        let stream = matches!(needs.call, Call::ChatStream | Call::CompletionsStream);
        match on_destination(&ep, needs.deadline, stream, &mut attempt).await {
            Ok(v) => return Ok((v, ep)),
            Err(e) => {
                if !plan.fallback.as_ref().is_some_and(|f| f.on.matches(&e)) {
                    return Err(e);
                }
                last = Some(e);
            }
        }
    }
    match (last, skipped_open) {
        // Something was tried or refused for a reason of its own: that is the answer.
        (Some(e), _) => Err(e),
        (None, Some(wait)) => Err(GatewayError::Unavailable {
            message: format!(
                "'{}' is temporarily unavailable: its upstream failed repeatedly and is skipped for a cool-down (circuit open).",
                plan.name
            ),
            retry_after_secs: Some(ceil_secs(wait)),
        }),
        (None, None) => Err(GatewayError::Internal(format!(
            "'{}' has no destination to call",
            plan.name
        ))),
    }
}

/// One destination: its attempts with retries, each outcome recorded by its breaker, each
/// attempt's time (and each backoff) reported to metrics and the request's record.
async fn on_destination<T, F, Fut>(
    ep: &Arc<EndpointRuntime>,
    deadline: Option<Instant>,
    stream: bool,
    attempt: &mut F,
) -> Result<T, GatewayError>
where
    F: FnMut(Arc<EndpointRuntime>, Duration) -> Fut,
    Fut: Future<Output = Result<T, GatewayError>>,
{
    let mut retry = 0u32;
    loop {
        let (timeout, cut) = match deadline {
            None => (ep.timeout, false),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(GatewayError::client_deadline());
                }
                (ep.timeout.min(left), left < ep.timeout)
            }
        };
        let began = std::time::Instant::now();
        let outcome = attempt(ep.clone(), timeout).await;
        let took = began.elapsed();
        ep.metrics.upstream_attempt(stream, took);
        telemetry::with_call(|r| r.upstream(took));
        let result = match outcome {
            // The client's deadline, not the upstream, ended this attempt: say so, and do not
            // hold it against the upstream's circuit.
            Err(GatewayError::UpstreamTimeout(_)) if cut => {
                return Err(GatewayError::client_deadline());
            }
            other => other,
        };
        if let Some(circuit) = &ep.circuit {
            circuit.record(result.as_ref().map(|_| ()));
        }
        let err = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        retry += 1;
        let wait = ep
            .config
            .retries
            .as_ref()
            .and_then(|p| retry::delay(p, retry, &err, fastrand::f64()));
        let Some(wait) = wait else {
            return Err(err);
        };
        if deadline.is_some_and(|d| Instant::now() + wait >= d) {
            return Err(err);
        }
        if ep.circuit.as_ref().is_some_and(|c| c.is_open()) {
            // This failure opened the circuit: retrying here would defeat it.
            return Err(err);
        }
        ep.metrics.retried();
        telemetry::with_call(|r| r.upstream(wait));
        tracing::debug!(
            endpoint = %ep.config.name,
            retry,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            error = %err,
            "retrying upstream call"
        );
        tokio::time::sleep(wait).await;
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Ends a stream with a timeout error when the upstream sends nothing for `idle`.
pub(crate) fn idle_timeout<T: Send + 'static>(
    stream: ChunkStream<T>,
    idle: Duration,
) -> ChunkStream<T> {
    Box::pin(futures::stream::unfold(
        Some(stream),
        move |state| async move {
            let mut stream = state?;
            match tokio::time::timeout(idle, stream.next()).await {
                Ok(Some(item)) => Some((item, Some(stream))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(GatewayError::UpstreamTimeout(format!(
                        "The upstream stream sent nothing for {} seconds.",
                        idle.as_secs_f64()
                    ))),
                    None,
                )),
            }
        },
    ))
}
