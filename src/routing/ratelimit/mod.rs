//! Per-endpoint rate limits with MLflow's semantics (spec §4): a fixed window of `calls` per
//! `renewal_period` that opens at a key's first hit, counted per client IP and per invocation
//! URL family (`/endpoints/...` and `/gateway/...` have separate counters, as MLflow's two
//! decorated handlers do). Exceeding it is a 429 with MLflow's body and a `Retry-After`.
//!
//! Where the counters live is the [`LimitStore`], chosen once per process from a storage URI
//! (`MLFLOW_GATEWAY_RATE_LIMITS_STORAGE_URI`, MLflow's variable):
//!
//! - `memory://` (the default, [`memory`]): counters in this process. Unlike MLflow, whose
//!   in-memory counters live in each worker process (so the effective limit is `calls` x
//!   workers), one process holds one set of counters: limits are exact for one replica.
//! - `redis://` ([`redis`]): counters in Redis, counted by one atomic script per hit, so any
//!   number of replicas behind a load balancer share one exact limit. When Redis cannot be
//!   reached the configured [`FailureMode`] decides, within a bounded time, whether a request
//!   passes unchecked or is refused.
//!
//! This module owns the shared vocabulary ([`Family`], [`LimitStore`], [`Limiter`]) and the
//! parsing of storage URIs; each store owns its own counting.

mod memory;
mod redis;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Limit;
use crate::error::GatewayError;

pub use self::redis::{FailureMode, RedisOptions, RedisStore, RedisWindow, redact_uri};
pub use memory::FixedWindow;

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
    /// Counters in Redis, shared by every gateway pointed at the same server and database.
    Redis(Arc<RedisStore>),
}

impl LimitStore {
    /// The store named by a storage URI: empty or `memory://` for in-process counters;
    /// `redis://[[user]:password@]host[:port][/db]`, `rediss://` (TLS), `valkey://`,
    /// `redis+unix:///path` or `unix:///path[?db=N&pass=P]` for Redis. Nothing connects yet. The error says why the URI
    /// is refused, showing it with any password redacted.
    pub fn from_uri(uri: &str, options: RedisOptions) -> Result<LimitStore, String> {
        let trimmed = uri.trim();
        if trimmed.is_empty() {
            return Ok(LimitStore::Memory);
        }
        let scheme = trimmed
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("memory") => Ok(LimitStore::Memory),
            Some("rediss" | "valkeys") if trimmed.contains('#') => Err(format!(
                "{}: TLS certificate checks cannot be turned off (#insecure); make the \
                 server's CA trusted instead, e.g. with SSL_CERT_FILE",
                redact_uri(trimmed)
            )),
            Some(
                "redis" | "valkey" | "rediss" | "valkeys" | "redis+unix" | "valkey+unix" | "unix",
            ) => RedisStore::new(trimmed, options).map(|s| LimitStore::Redis(Arc::new(s))),
            Some(other) => Err(format!(
                "{}: unsupported rate-limit storage scheme '{other}://'; use memory:// or \
                 redis://host:port[/db]",
                redact_uri(trimmed)
            )),
            None => Err(format!(
                "{}: not a storage URI; use memory:// or redis://host:port[/db]",
                redact_uri(trimmed)
            )),
        }
    }

    /// The store for logs: `memory` or the Redis URI without its password.
    pub fn describe(&self) -> String {
        match self {
            LimitStore::Memory => "memory".into(),
            LimitStore::Redis(store) => store.uri().to_owned(),
        }
    }
}

/// One limited endpoint's counters in the configured store.
#[derive(Debug, Clone)]
pub enum Limiter {
    /// In-process counters.
    Memory(Arc<FixedWindow>),
    /// Counters in Redis.
    Redis(Arc<RedisWindow>),
}

impl Limiter {
    /// The limiter of `endpoint` for `limit`. A `previous` limiter of the same endpoint with
    /// the same limit (from before a config reload) is kept, so its counters survive. (Redis
    /// counters survive anyway: their keys name the endpoint and the limit.)
    pub fn new(
        store: &LimitStore,
        endpoint: &str,
        limit: &Limit,
        previous: Option<&Limiter>,
    ) -> Limiter {
        match (store, previous) {
            (LimitStore::Memory, Some(Limiter::Memory(fw))) if fw.same_limit(limit) => {
                Limiter::Memory(fw.clone())
            }
            (LimitStore::Memory, _) => Limiter::Memory(Arc::new(FixedWindow::new(limit))),
            (LimitStore::Redis(store), _) => {
                Limiter::Redis(Arc::new(RedisWindow::new(store.clone(), endpoint, limit)))
            }
        }
    }

    /// Counts one hit from `ip` through `family`, or refuses it with a 429-class error (or,
    /// when the store is unreachable and fails closed, a 503).
    pub async fn hit(&self, ip: IpAddr, family: Family) -> Result<(), GatewayError> {
        match self {
            Limiter::Memory(fw) => fw.hit(ip, family),
            Limiter::Redis(w) => w.hit(ip, family).await,
        }
    }
}

/// The window length of `limit` (at least a second, as `limits` counts in whole seconds).
fn window(limit: &Limit) -> Duration {
    limit.renewal_period.window().max(Duration::from_secs(1))
}

/// Whole seconds until a window that has `left` to run resets, rounded up.
fn retry_after(left: Duration) -> u64 {
    left.as_secs() + u64::from(left.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(uri: &str) -> Result<LimitStore, String> {
        LimitStore::from_uri(uri, RedisOptions::default())
    }

    #[test]
    fn memory_uris() {
        assert!(matches!(store(""), Ok(LimitStore::Memory)));
        assert!(matches!(store("  "), Ok(LimitStore::Memory)));
        assert!(matches!(store("memory://"), Ok(LimitStore::Memory)));
        assert!(matches!(store("MEMORY://"), Ok(LimitStore::Memory)));
    }

    #[tokio::test]
    async fn redis_uris() {
        for uri in [
            "redis://127.0.0.1:6379",
            "redis://localhost",
            "redis://cache.internal:6380/2",
            "redis://:s3cret@127.0.0.1:6379/0",
            "redis://user:s3cret@[::1]:6379",
            "valkey://127.0.0.1",
            "redis+unix:///run/redis/redis.sock",
            "unix:///run/redis/redis.sock?db=3&pass=s3cret",
            "rediss://:s3cret@cache.example.com:6380/1",
        ] {
            match store(uri) {
                Ok(LimitStore::Redis(s)) => assert!(!s.uri().contains("s3cret"), "{uri}"),
                other => panic!("{uri}: {other:?}"),
            }
        }
    }

    #[test]
    fn refused_uris_say_why_without_the_password() {
        for (uri, why) in [
            ("memcached://:s3cret@host:11211", "unsupported"),
            ("redis+cluster://:s3cret@host:7000", "unsupported"),
            ("mongodb://u:s3cret@host", "unsupported"),
            (
                "rediss://:s3cret@host:6380/#insecure",
                "cannot be turned off",
            ),
            ("localhost:6379", "not a storage URI"),
            ("redis://:s3cret@host/notadb", "database"),
            ("redis://:s3cret@0.0.0.0:6379", "wildcard"),
            ("redis://:s3cret@host:6379/?protocol=9", "protocol"),
        ] {
            let err = store(uri).expect_err(uri);
            assert!(err.contains(why), "{uri}: {err}");
            assert!(!err.contains("s3cret"), "{uri}: {err}");
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after(Duration::ZERO), 0);
        assert_eq!(retry_after(Duration::from_millis(1)), 1);
        assert_eq!(retry_after(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after(Duration::from_millis(59_001)), 60);
    }
}
