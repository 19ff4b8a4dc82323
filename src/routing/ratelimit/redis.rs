//! Counters in Redis (`redis://...`), so every replica behind a load balancer shares one limit.
//!
//! Each hit is one Lua script, run atomically by Redis (EVALSHA, loaded on first use): `INCR`
//! the key, and when that opened a new window (or the key somehow has no expiry) `PEXPIRE` it to
//! the window length; return the count and the milliseconds left. That is `limits`' fixed window
//! exactly: the window opens at a key's first hit. Over the limit, `Retry-After` is the time
//! left, rounded up to whole seconds.
//!
//! Keys are `llm-gateway:rl:{endpoint}:{calls}/{period seconds}:{family}:{ip}`: a reload or a
//! restart that keeps an endpoint's limit keeps its counters, and a changed limit starts fresh
//! ones (the old keys expire on their own).
//!
//! Availability: the connection ([`ConnectionManager`], multiplexed and reconnecting) is made
//! lazily, so the gateway starts while Redis is down; every call to Redis is bounded by
//! [`RedisOptions::timeout`], so a hung Redis never hangs a request. When a call fails, the
//! [`FailureMode`] decides: `open` serves the request unchecked, `closed` answers 503. A
//! connection dropped between calls (a Redis restart, an idle connection cut by a proxy) is
//! retried once within the request, so it is not an outage. While Redis is down, one request a
//! second tries it again, on a fresh connection, and the others fail at once: an outage adds
//! no latency and no reconnect storm. The outage is logged once when it starts and once when it
//! ends, never per request.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisResult, Script};
use arc_swap::ArcSwapOption;
use tokio::time::Instant;

use super::{Family, retry_after, window};
use crate::config::Limit;
use crate::error::GatewayError;

/// The detail of the 503 a closed store answers while Redis is unreachable.
pub const UNAVAILABLE_DETAIL: &str =
    "Rate limits cannot be checked: the rate-limit store is unreachable.";

/// While Redis is down, how often (ms) one request tries it again (the others fail at once).
const RETRY_EVERY_MS: u64 = 1_000;

/// One hit: count it, open the window on the first, return `{count, ms left}`.
const HIT_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
local ttl = -1
if count > 1 then ttl = redis.call('PTTL', KEYS[1]) end
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

/// What a limited endpoint does when its counters cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureMode {
    /// Serve the request without counting it (availability over exactness: an outage of the
    /// limiter does not become an outage of every limited endpoint).
    #[default]
    Open,
    /// Refuse the request with a 503 (exactness over availability).
    Closed,
}

impl FailureMode {
    /// The flag spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureMode::Open => "open",
            FailureMode::Closed => "closed",
        }
    }
}

impl FromStr for FailureMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(FailureMode::Open),
            "closed" => Ok(FailureMode::Closed),
            _ => Err(format!("'{s}' is not a failure mode: use open or closed")),
        }
    }
}

/// How the Redis store behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisOptions {
    /// The longest a hit waits for Redis (connecting included) before the failure mode applies.
    pub timeout: Duration,
    /// What happens when Redis fails or does not answer in time.
    pub failure_mode: FailureMode,
}

impl RedisOptions {
    /// The default [`RedisOptions::timeout`].
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            timeout: Self::DEFAULT_TIMEOUT,
            failure_mode: FailureMode::Open,
        }
    }
}

/// A Redis server (and database) holding the counters of every limited endpoint.
pub struct RedisStore {
    /// The URI with its password redacted, for logs and errors.
    uri: String,
    client: Client,
    /// The connection, made on first use and dropped after a failure, so a connection that
    /// could not be set up (a refused AUTH, a server still loading) is made afresh next time.
    manager: ArcSwapOption<ConnectionManager>,
    script: Script,
    options: RedisOptions,
    /// Whether the last call failed: flips once per outage, so it is logged once.
    down: AtomicBool,
    /// While down: when (ms after `epoch`) the next request may try Redis again.
    retry_at_ms: AtomicU64,
    epoch: Instant,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("uri", &self.uri)
            .field("options", &self.options)
            .field("down", &self.down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for `uri` (a `redis://`, `rediss://`, `valkey://`, `redis+unix://` or `unix://`
    /// URI). Nothing connects until the first call.
    pub fn new(uri: &str, options: RedisOptions) -> Result<RedisStore, String> {
        // `rediss://` builds its rustls config from the process-wide provider at connect time.
        crate::providers::http::install_crypto_provider();
        let client = Client::open(uri).map_err(|e| format!("{}: {e}", redact_uri(uri)))?;
        Ok(RedisStore {
            uri: redact_uri(uri),
            client,
            manager: ArcSwapOption::empty(),
            script: Script::new(HIT_SCRIPT),
            options,
            down: AtomicBool::new(false),
            retry_at_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    /// The URI, password redacted.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Whether the last call to Redis failed.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Checks that Redis answers a PING within the timeout, logging the outcome (an outage is
    /// logged as any other). For startup: the gateway serves either way.
    pub async fn probe(&self) -> bool {
        let ping =
            self.call(|mut conn| async move {
                ::redis::cmd("PING").query_async::<String>(&mut conn).await
            })
            .await;
        match ping {
            Ok(_) => {
                tracing::info!(store = %self.uri, "rate limits are counted in Redis, shared by every replica using it");
                true
            }
            Err(()) => false,
        }
    }

    /// Runs one hit of `key` for a window of `window_ms`: the count so far and the
    /// milliseconds left in the window.
    async fn count(&self, key: &str, window_ms: u64) -> Result<(u64, u64), ()> {
        let (count, ttl) = self
            .call(|mut conn| async move {
                self.script
                    .key(key)
                    .arg(window_ms)
                    .invoke_async::<(i64, i64)>(&mut conn)
                    .await
            })
            .await?;
        Ok((
            u64::try_from(count).unwrap_or(0),
            u64::try_from(ttl).unwrap_or(0),
        ))
    }

    /// Runs `op` on the shared connection within the timeout, tracking the store's health.
    async fn call<T, F, Fut>(&self, op: F) -> Result<T, ()>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if self.down.load(Ordering::Relaxed) && !self.may_retry() {
            return Err(());
        }
        let attempt = async {
            match op(self.manager()?).await {
                // A connection dropped since the last call (Redis restarted, an idle
                // connection cut by a proxy): the manager reconnects, so try once more.
                Err(e) if e.is_io_error() || e.is_connection_dropped() => op(self.manager()?).await,
                done => done,
            }
        };
        match tokio::time::timeout(self.options.timeout, attempt).await {
            Ok(Ok(value)) => {
                self.healthy();
                Ok(value)
            }
            Ok(Err(e)) => {
                self.unhealthy(&e);
                Err(())
            }
            Err(_) => {
                self.unhealthy(&format_args!(
                    "no answer within {} ms",
                    self.options.timeout.as_millis()
                ));
                Err(())
            }
        }
    }

    /// The shared connection, made (without waiting for Redis) when there is none.
    fn manager(&self) -> RedisResult<ConnectionManager> {
        if let Some(manager) = self.manager.load().as_deref() {
            return Ok(manager.clone());
        }
        let manager = self.connect()?;
        self.manager.store(Some(Arc::new(manager.clone())));
        Ok(manager)
    }

    /// A reconnecting connection, made without waiting for Redis: it connects on first use.
    fn connect(&self) -> RedisResult<ConnectionManager> {
        // No backoff of its own: `call` retries a dropped connection once, within the
        // request's budget, and outages are paced by `RETRY_EVERY_MS`. A failed connect then
        // reports its real error (connection refused, auth failed) instead of a timeout.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.options.timeout))
            .set_response_timeout(Some(self.options.timeout))
            .set_number_of_retries(0);
        ConnectionManager::new_lazy_with_config(self.client.clone(), config)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// While down: whether this request is the one that tries Redis again now.
    fn may_retry(&self) -> bool {
        let now = self.now_ms();
        let at = self.retry_at_ms.load(Ordering::Acquire);
        let next = now.saturating_add(RETRY_EVERY_MS);
        now >= at
            && self
                .retry_at_ms
                .compare_exchange(at, next, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    fn healthy(&self) {
        // A load first: while healthy, the hot path only reads the flag.
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::AcqRel) {
            tracing::info!(store = %self.uri, "rate-limit store reachable again: limits are enforced");
        }
    }

    fn unhealthy(&self, error: &dyn std::fmt::Display) {
        let next = self.now_ms().saturating_add(RETRY_EVERY_MS);
        self.retry_at_ms.store(next, Ordering::Release);
        self.manager.store(None);
        if !self.down.swap(true, Ordering::AcqRel) {
            let consequence = match self.options.failure_mode {
                FailureMode::Open => {
                    "failing open: limited endpoints serve requests without counting them"
                }
                FailureMode::Closed => "failing closed: limited endpoints answer 503",
            };
            tracing::warn!(
                store = %self.uri,
                %error,
                "rate-limit store unreachable, {consequence} until it recovers (logged once per outage)"
            );
        }
    }

    /// What a hit returns when Redis failed.
    fn unreachable(&self) -> Result<(), GatewayError> {
        match self.options.failure_mode {
            FailureMode::Open => Ok(()),
            FailureMode::Closed => Err(GatewayError::Unavailable {
                message: UNAVAILABLE_DETAIL.into(),
                retry_after_secs: None,
            }),
        }
    }
}

/// One limited endpoint's counters in Redis.
#[derive(Debug)]
pub struct RedisWindow {
    store: Arc<RedisStore>,
    /// `llm-gateway:rl:{endpoint}:{calls}/{period secs}:`
    prefix: String,
    calls: u64,
    window_ms: u64,
    describe: String,
}

impl RedisWindow {
    /// The counters of `endpoint` for `limit` in `store`.
    pub fn new(store: Arc<RedisStore>, endpoint: &str, limit: &Limit) -> RedisWindow {
        let period = window(limit);
        RedisWindow {
            store,
            prefix: format!(
                "llm-gateway:rl:{endpoint}:{}/{}:",
                limit.calls,
                period.as_secs()
            ),
            calls: limit.calls,
            window_ms: u64::try_from(period.as_millis()).unwrap_or(u64::MAX),
            describe: limit.describe(),
        }
    }

    /// The Redis key counting `ip`'s hits through `family`.
    pub fn key(&self, ip: IpAddr, family: Family) -> String {
        format!("{}{}:{ip}", self.prefix, family.as_str())
    }

    /// Counts one hit from `ip` through `family`, or refuses it.
    pub async fn hit(&self, ip: IpAddr, family: Family) -> Result<(), GatewayError> {
        match self
            .store
            .count(&self.key(ip, family), self.window_ms)
            .await
        {
            Ok((count, _)) if count <= self.calls => Ok(()),
            Ok((_, left_ms)) => Err(GatewayError::RateLimited {
                limit: self.describe.clone(),
                retry_after_secs: retry_after(Duration::from_millis(left_ms)),
            }),
            Err(()) => self.store.unreachable(),
        }
    }
}

/// `uri` fit for a log line or an error: any password (`redis://user:PASSWORD@host`, or a
/// `pass`/`password` query parameter as unix-socket URIs take) replaced by `[redacted]`.
pub fn redact_uri(uri: &str) -> String {
    const REDACTED: &str = "[redacted]";
    let Ok(mut url) = reqwest::Url::parse(uri) else {
        // Not parseable, so nothing tells where a password would be: show only the scheme.
        return match uri.split_once("://") {
            Some((scheme, _)) if uri.contains(['@', '?']) => format!("{scheme}://{REDACTED}"),
            _ if uri.contains(['@', '?']) => REDACTED.into(),
            _ => uri.into(),
        };
    };
    if url.password().is_some() {
        // Fails only for URLs that cannot have credentials, which then have no password.
        let _ = url.set_password(Some("redacted"));
    }
    let secret = |k: &str| k.eq_ignore_ascii_case("pass") || k.eq_ignore_ascii_case("password");
    if url.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "redacted".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
#[path = "redis_tests.rs"]
mod tests;
