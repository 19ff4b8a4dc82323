//! Per-endpoint rate limits with MLflow's semantics (spec §4): a fixed window of `calls` per
//! `renewal_period` that opens at a key's first hit, counted per client IP and per invocation
//! URL family (`/endpoints/...` and `/gateway/...` have separate counters, as MLflow's two
//! decorated handlers do). Exceeding it is a 429 with MLflow's body and a `Retry-After`.
//!
//! Unlike MLflow, whose in-memory counters live in each worker process (so the effective limit
//! is `calls` x workers), one process holds one set of counters: limits are exact.
//!
//! Counters are a mutex-guarded map per endpoint: only endpoints with a `limit` pay for it, and
//! the critical section is a lookup and an increment. Expired windows are pruned when the map
//! grows, so many one-off clients cannot grow it without bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Limit;
use crate::error::GatewayError;

/// Which invocation URL family a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `/endpoints/{name}/invocations` (MLflow's `deployments` handler).
    Endpoints,
    /// `/gateway/{name}/invocations`.
    Gateway,
    /// gRPC and grpc-web calls (our extension: MLflow has no gRPC surface).
    Grpc,
}

impl Family {
    /// A short stable name, for storage keys and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Endpoints => "endpoints",
            Family::Gateway => "gateway",
            Family::Grpc => "grpc",
        }
    }
}

/// Where limit counters live: in this process, or in a store shared by every replica.
#[derive(Debug, Clone, Default)]
pub enum LimitStore {
    /// Per-process counters (MLflow's default `memory://`, but one set for all cores).
    #[default]
    Memory,
}

/// One limited endpoint's counters in the configured store.
#[derive(Debug, Clone)]
pub enum Limiter {
    /// In-process counters.
    Memory(Arc<FixedWindow>),
}

impl Limiter {
    /// The limiter of `endpoint` for `limit`. A `previous` limiter of the same endpoint with
    /// the same limit (from before a config reload) is kept, so its counters survive.
    pub fn new(
        store: &LimitStore,
        _endpoint: &str,
        limit: &Limit,
        previous: Option<&Limiter>,
    ) -> Limiter {
        match (store, previous) {
            (LimitStore::Memory, Some(Limiter::Memory(fw))) if fw.same_limit(limit) => {
                Limiter::Memory(fw.clone())
            }
            (LimitStore::Memory, _) => Limiter::Memory(Arc::new(FixedWindow::new(limit))),
        }
    }

    /// Counts one hit from `ip` through `family`, or refuses it with a 429-class error.
    pub async fn hit(&self, ip: IpAddr, family: Family) -> Result<(), GatewayError> {
        match self {
            Limiter::Memory(fw) => fw.hit(ip, family),
        }
    }
}

/// Map size above which expired windows are swept.
const PRUNE_AT: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Instant,
    count: u64,
}

/// The counters of one limited endpoint.
#[derive(Debug)]
pub struct FixedWindow {
    calls: u64,
    period: Duration,
    describe: String,
    windows: Mutex<HashMap<(IpAddr, Family), Window>>,
}

impl FixedWindow {
    /// Counters for `limit`.
    pub fn new(limit: &Limit) -> Self {
        FixedWindow {
            calls: limit.calls,
            period: limit.renewal_period.window().max(Duration::from_secs(1)),
            describe: limit.describe(),
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn same_limit(&self, limit: &Limit) -> bool {
        self.calls == limit.calls
            && self.period == limit.renewal_period.window().max(Duration::from_secs(1))
            && self.describe == limit.describe()
    }

    /// Counts one hit from `ip` through `family`, or refuses it.
    pub fn hit(&self, ip: IpAddr, family: Family) -> Result<(), GatewayError> {
        let now = Instant::now();
        // A poisoned lock only means another request panicked mid-update; the counts are
        // still plain integers, so carry on with them.
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() >= PRUNE_AT {
            let period = self.period;
            windows.retain(|_, w| now.duration_since(w.opened) < period);
        }
        let w = windows.entry((ip, family)).or_insert(Window {
            opened: now,
            count: 0,
        });
        if now.duration_since(w.opened) >= self.period {
            *w = Window {
                opened: now,
                count: 0,
            };
        }
        if w.count >= self.calls {
            let left = self.period.saturating_sub(now.duration_since(w.opened));
            return Err(GatewayError::RateLimited {
                limit: self.describe.clone(),
                retry_after_secs: left.as_secs() + u64::from(left.subsec_nanos() > 0),
            });
        }
        w.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Granularity, RenewalPeriod};

    fn limit(calls: u64) -> Limit {
        Limit {
            calls,
            renewal_period: RenewalPeriod {
                multiples: 1,
                granularity: Granularity::Minute,
            },
            raw_period: "minute".into(),
            key: None,
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[tokio::test(start_paused = true)]
    async fn window_counts_per_ip_and_family_then_resets() {
        let fw = FixedWindow::new(&limit(2));
        assert!(fw.hit(A, Family::Gateway).is_ok());
        assert!(fw.hit(A, Family::Gateway).is_ok());
        let err = fw.hit(A, Family::Gateway).unwrap_err();
        assert_eq!(
            err.rest_body(),
            serde_json::json!({"error": "Rate limit exceeded: 2 per 1 minute"})
        );
        assert_eq!(err.retry_after_secs(), Some(60));
        // Other families and clients have their own counters.
        assert!(fw.hit(A, Family::Endpoints).is_ok());
        assert!(fw.hit(B, Family::Gateway).is_ok());
        tokio::time::advance(Duration::from_secs(45)).await;
        assert_eq!(
            fw.hit(A, Family::Gateway).unwrap_err().retry_after_secs(),
            Some(15)
        );
        tokio::time::advance(Duration::from_secs(15)).await;
        assert!(fw.hit(A, Family::Gateway).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn zero_calls_refuses_everything() {
        let fw = FixedWindow::new(&limit(0));
        assert!(fw.hit(A, Family::Gateway).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn expired_windows_are_pruned() {
        let fw = FixedWindow::new(&limit(1));
        for i in 0..PRUNE_AT {
            let ip = IpAddr::V6(std::net::Ipv6Addr::from(u128::try_from(i).unwrap()));
            fw.hit(ip, Family::Gateway).unwrap();
        }
        tokio::time::advance(Duration::from_secs(61)).await;
        fw.hit(A, Family::Gateway).unwrap();
        assert_eq!(fw.windows.lock().unwrap().len(), 1);
    }
}
