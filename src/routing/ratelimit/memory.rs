//! In-process counters (`memory://`, the default): one mutex-guarded map per limited endpoint,
//! keyed by (client IP, URL family). Only endpoints with a `limit` pay for it, and the critical
//! section is a lookup and an increment. Expired windows are pruned when the map grows, so many
//! one-off clients cannot grow it without bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{Family, retry_after, window};
use crate::config::Limit;
use crate::error::GatewayError;

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
            period: window(limit),
            describe: limit.describe(),
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn same_limit(&self, limit: &Limit) -> bool {
        self.calls == limit.calls
            && self.period == window(limit)
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
                retry_after_secs: retry_after(left),
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
