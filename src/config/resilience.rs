//! Our resilience extensions, in MLflow's YAML style: `retries:` and `circuit_breaker:` on an
//! endpoint, `fallback:` on a route, and the error-class lists (`on:`) they share.
//!
//! Each block is optional and every key in it has a default, so `retries: {}` means "the
//! defaults". Values are checked here (positive durations, attempts within bounds, known error
//! classes with a "did you mean"), so the routing code never sees a policy it cannot run.

use std::time::Duration;

use crate::config::node::{Node, Pos};
use crate::config::reader::{Ctx, Obj, Res, index};
use crate::config::suggest;
use crate::config::types::{CircuitPolicy, ErrorClass, ErrorClasses, FallbackPolicy, RetryPolicy};

const RETRY_KEYS: &[&str] = &[
    "max_attempts",
    "initial_backoff_seconds",
    "max_backoff_seconds",
    "on",
];
const CIRCUIT_KEYS: &[&str] = &["failure_threshold", "cooldown_seconds", "on"];
const FALLBACK_KEYS: &[&str] = &["max_attempts", "on"];

/// The most attempts a retry policy may ask for: beyond this, retries only multiply cost.
pub(crate) const MAX_RETRY_ATTEMPTS: i128 = 10;

/// Retry defaults: 3 attempts, 0.5 s doubling to at most 10 s, every transient class.
pub(crate) const DEFAULT_RETRY_ATTEMPTS: u32 = 3;
const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(500);
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Circuit defaults: 5 consecutive failures open it for 30 s. An upstream 429 does not count
/// by default: the upstream is answering, just asking us to slow down.
const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
const CIRCUIT_DEFAULT_CLASSES: [ErrorClass; 3] = [
    ErrorClass::ConnectError,
    ErrorClass::Timeout,
    ErrorClass::ServerError,
];

/// Parses an endpoint's `retries:` (null = none).
pub(crate) fn parse_retries(ctx: &Ctx<'_>, path: &str, node: &Node) -> Res<Option<RetryPolicy>> {
    if node.is_null() {
        return Ok(None);
    }
    let obj = Obj::new(ctx, path, node, "a mapping of retry settings")?;
    obj.check_keys(ctx, RETRY_KEYS)?;
    let max_attempts = attempts(ctx, &obj, MAX_RETRY_ATTEMPTS)?.unwrap_or(DEFAULT_RETRY_ATTEMPTS);
    let initial_backoff =
        seconds(ctx, &obj, "initial_backoff_seconds")?.unwrap_or(DEFAULT_INITIAL_BACKOFF);
    let max_backoff = match seconds(ctx, &obj, "max_backoff_seconds")? {
        Some(d) if d < initial_backoff => {
            return Err(ctx.err(
                &obj.path_of("max_backoff_seconds"),
                obj.pos_of("max_backoff_seconds"),
                format!(
                    "must be at least initial_backoff_seconds ({})",
                    initial_backoff.as_secs_f64()
                ),
            ));
        }
        Some(d) => d,
        None => DEFAULT_MAX_BACKOFF.max(initial_backoff),
    };
    Ok(Some(RetryPolicy {
        max_attempts,
        initial_backoff,
        max_backoff,
        on: classes(ctx, &obj)?.unwrap_or(ErrorClasses::ALL),
    }))
}

/// Parses an endpoint's `circuit_breaker:` (null = none).
pub(crate) fn parse_circuit(ctx: &Ctx<'_>, path: &str, node: &Node) -> Res<Option<CircuitPolicy>> {
    if node.is_null() {
        return Ok(None);
    }
    let obj = Obj::new(ctx, path, node, "a mapping of circuit breaker settings")?;
    obj.check_keys(ctx, CIRCUIT_KEYS)?;
    let failure_threshold = match obj.int_opt(ctx, "failure_threshold")? {
        None => DEFAULT_FAILURE_THRESHOLD,
        Some((n, pos)) => u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
            ctx.err(
                &obj.path_of("failure_threshold"),
                pos,
                format!("must be a positive integer, got {n}"),
            )
        })?,
    };
    Ok(Some(CircuitPolicy {
        failure_threshold,
        cooldown: seconds(ctx, &obj, "cooldown_seconds")?.unwrap_or(DEFAULT_COOLDOWN),
        on: classes(ctx, &obj)?.unwrap_or(ErrorClasses::of(&CIRCUIT_DEFAULT_CLASSES)),
    }))
}

/// Parses a route's `fallback:`; `destinations` bounds `max_attempts` and is its default.
/// A `FALLBACK` route without the block gets the defaults (`required_default`).
pub(crate) fn parse_fallback(
    ctx: &Ctx<'_>,
    path: &str,
    node: Option<&Node>,
    destinations: usize,
    required_default: bool,
) -> Res<Option<FallbackPolicy>> {
    let all = u32::try_from(destinations).unwrap_or(u32::MAX);
    let node = match node {
        Some(n) if !n.is_null() => n,
        _ if required_default => {
            return Ok(Some(FallbackPolicy {
                max_attempts: all,
                on: ErrorClasses::ALL,
            }));
        }
        _ => return Ok(None),
    };
    let obj = Obj::new(ctx, path, node, "a mapping of fallback settings")?;
    obj.check_keys(ctx, FALLBACK_KEYS)?;
    let max_attempts = attempts(ctx, &obj, i128::from(all))?.unwrap_or(all);
    Ok(Some(FallbackPolicy {
        max_attempts,
        on: classes(ctx, &obj)?.unwrap_or(ErrorClasses::ALL),
    }))
}

/// `max_attempts`: an integer in `1..=max`.
fn attempts(ctx: &Ctx<'_>, obj: &Obj<'_>, max: i128) -> Res<Option<u32>> {
    let Some((n, pos)) = obj.int_opt(ctx, "max_attempts")? else {
        return Ok(None);
    };
    u32::try_from(n)
        .ok()
        .filter(|_| (1..=max).contains(&n))
        .map(Some)
        .ok_or_else(|| {
            ctx.err(
                &obj.path_of("max_attempts"),
                pos,
                format!("must be an integer from 1 to {max}, got {n}"),
            )
        })
}

/// A positive number of seconds.
fn seconds(ctx: &Ctx<'_>, obj: &Obj<'_>, key: &str) -> Res<Option<Duration>> {
    positive_seconds(ctx, &obj.path_of(key), obj.number_opt(ctx, key)?)
}

/// A located number as a positive duration, or the error saying why not.
pub(crate) fn positive_seconds(
    ctx: &Ctx<'_>,
    path: &str,
    value: Option<(f64, Pos)>,
) -> Res<Option<Duration>> {
    match value {
        None => Ok(None),
        Some((v, pos)) => match Duration::try_from_secs_f64(v) {
            Ok(d) if v > 0.0 => Ok(Some(d)),
            _ => Err(ctx.err(
                path,
                pos,
                format!("must be a positive number of seconds, got {v}"),
            )),
        },
    }
}

/// `on:` a non-empty list of error class names.
fn classes(ctx: &Ctx<'_>, obj: &Obj<'_>) -> Res<Option<ErrorClasses>> {
    let Some(node) = obj.opt("on") else {
        return Ok(None);
    };
    let path = obj.path_of("on");
    let items = ctx.list(&path, node)?;
    if items.is_empty() {
        return Err(ctx.err(
            &path,
            node.pos,
            "must list at least one of connect_error, timeout, rate_limited, server_error",
        ));
    }
    let names: Vec<&str> = ErrorClass::ALL.iter().map(|c| c.as_str()).collect();
    let mut found = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = index(&path, i);
        let name = ctx.string(&item_path, item)?;
        match ErrorClass::ALL.iter().find(|c| c.as_str() == name) {
            Some(c) => found.push(*c),
            None => {
                let hint = suggest::closest(name, &names)
                    .map(|s| format!(", did you mean '{s}'?"))
                    .unwrap_or_default();
                return Err(ctx.err(
                    &item_path,
                    item.pos,
                    format!(
                        "unknown error class '{name}' (expected one of {}){hint}",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(Some(ErrorClasses::of(&found)))
}
