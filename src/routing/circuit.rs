//! Circuit breaking per endpoint: after `failure_threshold` consecutive failures of the
//! configured classes the circuit opens and the endpoint is skipped for `cooldown`; then one
//! request is let through as a probe (half-open). A probe that succeeds closes the circuit, one
//! that fails opens it for another cool-down. Every transition is logged.
//!
//! Only failures of the policy's classes count; a success or a non-transient error (an
//! upstream 4xx proves the upstream is up) resets the count; transient failures of other
//! classes leave it as it is. A probe whose caller goes away
//! without an outcome does not wedge the circuit: after another cool-down a new probe is let
//! through. State is a small mutex-guarded enum, touched twice per request and only for
//! endpoints that configure a breaker. Its current state is mirrored in a gauge
//! (`llm_gateway_circuit_state`: 0 closed, 1 open, 2 half-open).

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::time::Instant;

use crate::config::CircuitPolicy;
use crate::error::GatewayError;

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_since: Instant },
}

impl State {
    /// The gauge value of this state.
    fn gauge(self) -> i64 {
        match self {
            State::Closed { .. } => 0,
            State::Open { .. } => 1,
            State::HalfOpen { .. } => 2,
        }
    }
}

/// What a breaker says about sending a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it.
    Allowed,
    /// Send it as the one probe of a half-open circuit.
    Probe,
    /// Skip this endpoint; it may be tried again after this long.
    Rejected {
        /// Time left in the cool-down.
        retry_after: Duration,
    },
}

/// One endpoint's breaker.
#[derive(Debug)]
pub struct Circuit {
    endpoint: String,
    policy: CircuitPolicy,
    state: Mutex<State>,
    gauge: Gauge,
}

impl Circuit {
    /// A closed breaker for `endpoint`.
    pub fn new(endpoint: &str, policy: &CircuitPolicy) -> Self {
        Circuit {
            endpoint: endpoint.to_owned(),
            policy: policy.clone(),
            state: Mutex::new(State::Closed { failures: 0 }),
            gauge: Gauge::default(),
        }
    }

    /// This breaker, reporting its state in `gauge` from now on.
    pub fn with_gauge(mut self, gauge: Gauge) -> Self {
        gauge.set(self.lock().gauge());
        self.gauge = gauge;
        self
    }

    /// The policy this breaker runs.
    pub fn policy(&self) -> &CircuitPolicy {
        &self.policy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain data; a panic elsewhere cannot leave it half-written.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the circuit is open right now (a peek: takes no probe slot).
    pub fn is_open(&self) -> bool {
        let now = Instant::now();
        match *self.lock() {
            State::Closed { .. } => false,
            State::Open { until } => now < until,
            State::HalfOpen { probe_since } => now < probe_since + self.policy.cooldown,
        }
    }

    /// Asks to send one request.
    pub fn admit(&self) -> Admission {
        let now = Instant::now();
        let mut state = self.lock();
        let wait_until = match *state {
            State::Closed { .. } => return Admission::Allowed,
            State::Open { until } => until,
            State::HalfOpen { probe_since } => probe_since + self.policy.cooldown,
        };
        if now < wait_until {
            return Admission::Rejected {
                retry_after: wait_until - now,
            };
        }
        *state = State::HalfOpen { probe_since: now };
        self.gauge.set(state.gauge());
        tracing::info!(
            endpoint = %self.endpoint,
            "circuit half-open: sending one probe request"
        );
        Admission::Probe
    }

    /// Records the outcome of an admitted request.
    pub fn record(&self, outcome: Result<(), &GatewayError>) {
        let counts = match outcome {
            Ok(()) => false,
            Err(e) if self.policy.on.matches(e) => true,
            // A transient failure this policy ignores proves nothing either way.
            Err(e) if e.class().is_some() => return,
            Err(_) => false,
        };
        let now = Instant::now();
        let mut state = self.lock();
        match (*state, counts) {
            (State::Closed { failures }, true) => {
                let failures = failures + 1;
                if failures >= self.policy.failure_threshold {
                    *state = State::Open {
                        until: now + self.policy.cooldown,
                    };
                    tracing::warn!(
                        endpoint = %self.endpoint,
                        failures,
                        cooldown_s = self.policy.cooldown.as_secs_f64(),
                        "circuit opened: endpoint skipped until the cool-down ends"
                    );
                } else {
                    *state = State::Closed { failures };
                }
            }
            (State::HalfOpen { .. }, true) => {
                *state = State::Open {
                    until: now + self.policy.cooldown,
                };
                tracing::warn!(
                    endpoint = %self.endpoint,
                    cooldown_s = self.policy.cooldown.as_secs_f64(),
                    "circuit re-opened: the probe request failed"
                );
            }
            (State::HalfOpen { .. }, false) => {
                *state = State::Closed { failures: 0 };
                tracing::info!(endpoint = %self.endpoint, "circuit closed: the probe request succeeded");
            }
            (State::Closed { .. }, false) => *state = State::Closed { failures: 0 },
            // A request admitted before the circuit opened finished late: the open state,
            // decided by newer outcomes, stands.
            (State::Open { .. }, _) => {}
        }
        self.gauge.set(state.gauge());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorClass, ErrorClasses};

    fn policy(threshold: u32) -> CircuitPolicy {
        CircuitPolicy {
            failure_threshold: threshold,
            cooldown: Duration::from_secs(30),
            on: ErrorClasses::of(&[ErrorClass::ServerError, ErrorClass::ConnectError]),
        }
    }

    fn e500() -> GatewayError {
        GatewayError::Upstream {
            status: 500,
            detail: serde_json::json!("boom"),
            retry_after_secs: None,
        }
    }

    fn e400() -> GatewayError {
        GatewayError::Upstream {
            status: 400,
            detail: serde_json::json!("bad"),
            retry_after_secs: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_then_probes_after_cooldown() {
        let c = Circuit::new("ep", &policy(3));
        for _ in 0..2 {
            assert_eq!(c.admit(), Admission::Allowed);
            c.record(Err(&e500()));
        }
        assert!(!c.is_open());
        c.record(Err(&e500()));
        assert!(c.is_open());
        assert_eq!(
            c.admit(),
            Admission::Rejected {
                retry_after: Duration::from_secs(30)
            }
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(
            c.admit(),
            Admission::Rejected {
                retry_after: Duration::from_secs(20)
            }
        );
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(!c.is_open());
        assert_eq!(c.admit(), Admission::Probe);
        // Only one probe at a time.
        assert!(matches!(c.admit(), Admission::Rejected { .. }));
        c.record(Ok(()));
        assert_eq!(c.admit(), Admission::Allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens_for_a_full_cooldown() {
        let c = Circuit::new("ep", &policy(1));
        c.record(Err(&e500()));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(c.admit(), Admission::Probe);
        c.record(Err(&GatewayError::UpstreamUnreachable("x".into())));
        assert_eq!(
            c.admit(),
            Admission::Rejected {
                retry_after: Duration::from_secs(30)
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn other_outcomes_reset_the_count() {
        let c = Circuit::new("ep", &policy(2));
        c.record(Err(&e500()));
        c.record(Err(&e400()));
        c.record(Err(&e500()));
        assert!(!c.is_open(), "a 4xx between failures resets the count");
        c.record(Err(&GatewayError::UpstreamTimeout("t".into())));
        assert!(!c.is_open(), "timeouts are not in this policy's classes");
        c.record(Err(&e500()));
        assert!(c.is_open(), "an ignored class neither counts nor resets");
    }

    #[tokio::test(start_paused = true)]
    async fn the_gauge_follows_the_state() {
        let gauge = Gauge::default();
        let c = Circuit::new("ep", &policy(1)).with_gauge(gauge.clone());
        assert_eq!(gauge.get(), 0);
        c.record(Err(&e500()));
        assert_eq!(gauge.get(), 1, "open");
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(c.admit(), Admission::Probe);
        assert_eq!(gauge.get(), 2, "half-open");
        c.record(Ok(()));
        assert_eq!(gauge.get(), 0, "closed again");
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_does_not_wedge_the_circuit() {
        let c = Circuit::new("ep", &policy(1));
        c.record(Err(&e500()));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(c.admit(), Admission::Probe);
        // The probe's caller disconnects: no outcome is ever recorded.
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(c.admit(), Admission::Probe);
    }
}
