//! When to retry an upstream call, and how long to wait first.
//!
//! Exponential backoff with "equal jitter": the n-th retry waits between half and all of
//! `initial * 2^(n-1)` (capped at `max_backoff`), so retries of many requests failing together
//! spread out without ever retrying immediately. An upstream `Retry-After` is honoured: the
//! wait is at least that long; a `Retry-After` beyond `max_backoff` means "not soon", so the
//! destination is given up on (the client, or the next fallback destination, gets the answer
//! now rather than a request held open for minutes).

use std::time::Duration;

use crate::config::RetryPolicy;
use crate::error::GatewayError;

/// The wait before retry number `retry` (1 = the first retry) after `err`, or `None` when the
/// error must not be retried: not of the policy's classes, attempts used up, or an upstream
/// `Retry-After` longer than the policy's cap. `jitter` is a uniform draw in `0.0..1.0`.
pub fn delay(
    policy: &RetryPolicy,
    retry: u32,
    err: &GatewayError,
    jitter: f64,
) -> Option<Duration> {
    if retry >= policy.max_attempts || !policy.on.matches(err) {
        return None;
    }
    let exp = policy
        .initial_backoff
        .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
        .min(policy.max_backoff);
    let half = exp / 2;
    let backoff = half + (exp - half).mul_f64(jitter.clamp(0.0, 1.0));
    match err.retry_after_secs().map(Duration::from_secs) {
        Some(asked) if asked > policy.max_backoff => None,
        Some(asked) => Some(backoff.max(asked)),
        None => Some(backoff),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorClass, ErrorClasses};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            on: ErrorClasses::of(&[ErrorClass::ServerError, ErrorClass::RateLimited]),
        }
    }

    fn upstream(status: u16, retry_after_secs: Option<u64>) -> GatewayError {
        GatewayError::Upstream {
            status,
            detail: serde_json::json!("x"),
            retry_after_secs,
        }
    }

    #[test]
    fn doubles_with_jitter_within_the_cap() {
        let p = policy();
        let e = upstream(503, None);
        assert_eq!(delay(&p, 1, &e, 0.0), Some(Duration::from_millis(50)));
        assert_eq!(delay(&p, 1, &e, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(delay(&p, 2, &e, 0.0), Some(Duration::from_millis(100)));
        assert_eq!(delay(&p, 3, &e, 1.0), Some(Duration::from_millis(400)));
        assert_eq!(delay(&p, 4, &e, 1.0), Some(Duration::from_millis(500)));
        let mid = delay(&p, 2, &e, 0.5).unwrap();
        assert!(mid > Duration::from_millis(100) && mid < Duration::from_millis(200));
    }

    #[test]
    fn stops_when_attempts_are_used_up() {
        let p = policy();
        assert!(delay(&p, 4, &upstream(500, None), 0.0).is_some());
        assert_eq!(delay(&p, 5, &upstream(500, None), 0.0), None);
    }

    #[test]
    fn only_the_policys_classes_are_retried() {
        let p = policy();
        assert_eq!(delay(&p, 1, &upstream(400, None), 0.0), None);
        assert_eq!(
            delay(&p, 1, &GatewayError::UpstreamTimeout("t".into()), 0.0),
            None
        );
        assert_eq!(
            delay(&p, 1, &GatewayError::BadRequest("b".into()), 0.0),
            None
        );
    }

    #[test]
    fn retry_after_is_a_floor_and_too_long_gives_up() {
        let p = RetryPolicy {
            max_backoff: Duration::from_secs(10),
            ..policy()
        };
        assert_eq!(
            delay(&p, 1, &upstream(429, Some(3)), 0.0),
            Some(Duration::from_secs(3))
        );
        assert_eq!(delay(&p, 1, &upstream(429, Some(11)), 0.0), None);
    }
}
