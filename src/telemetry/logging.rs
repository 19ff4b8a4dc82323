//! Log output: the format of every line (human text or one JSON object per line), the level
//! filter (`RUST_LOG`, default `info`), and the opt-in body log.
//!
//! Log lines name endpoints, statuses and timings, never a prompt, a completion or a secret.
//! The one exception is asked for explicitly: with `--log-bodies`, request and response bodies
//! (and each chunk of a stream) are logged at DEBUG to the `bodies` target, with every secret of
//! the loaded config replaced by `[redacted]` first.

use std::fmt::Debug;
use std::io::IsTerminal;
use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::config::Secret;
use crate::providers::http::Redactor;

/// The target of access lines (one per request, at INFO).
pub const ACCESS_TARGET: &str = "access";

/// The target of body lines (`--log-bodies`, at DEBUG).
pub const BODIES_TARGET: &str = "bodies";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `tracing`'s human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, the event's fields at the top level.
    Json,
}

/// The level filter: `RUST_LOG` if set (default `info`), plus DEBUG for the `bodies` target
/// when `log_bodies` asks for bodies (so the flag alone is enough).
pub fn env_filter(log_bodies: bool) -> EnvFilter {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match (log_bodies, format!("{BODIES_TARGET}=debug").parse()) {
        (true, Ok(directive)) => filter.add_directive(directive),
        _ => filter,
    }
}

/// The formatting layer for `format`, writing to stderr (ANSI colours only on a terminal).
pub fn fmt_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => layer.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => layer.json().flatten_event(true).boxed(),
    }
}

/// Where request and response bodies are logged, when `--log-bodies` asks for it; a no-op
/// (one branch) otherwise. Rebuilt with each config, whose secrets it redacts.
#[derive(Debug, Clone, Default)]
pub struct BodyLog {
    redactor: Option<Arc<Redactor>>,
}

impl BodyLog {
    /// A body log redacting `secrets`, or the no-op one when not `enabled`.
    pub fn new(enabled: bool, secrets: Vec<Secret>) -> BodyLog {
        BodyLog {
            redactor: enabled.then(|| Arc::new(Redactor::new(secrets))),
        }
    }

    /// Whether bodies are logged.
    pub fn enabled(&self) -> bool {
        self.redactor.is_some()
    }

    /// Logs the current request's body (`kind` "request" or "response").
    pub fn current(&self, kind: &'static str, body: &dyn Debug) {
        if self.enabled() {
            super::with_call(|r| self.log(r.request_id(), kind, body));
        }
    }

    /// Logs a body of the request `request_id`, redacted.
    pub fn log(&self, request_id: &str, kind: &'static str, body: &dyn Debug) {
        let Some(redactor) = &self.redactor else {
            return;
        };
        if !tracing::enabled!(target: BODIES_TARGET, tracing::Level::DEBUG) {
            return;
        }
        let text = redactor.text(&format!("{body:?}"));
        tracing::debug!(target: BODIES_TARGET, request_id, kind, body = %text, "body");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bodies_are_logged_only_when_asked_and_always_redacted() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let on = BodyLog::new(true, vec![Secret::new("sk-secret-value")]);
            on.log("id-on", "request", &"a prompt quoting sk-secret-value");
            let off = BodyLog::new(false, vec![Secret::new("sk-secret-value")]);
            off.log("id-off", "request", &"a prompt quoting sk-secret-value");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("id-on"), "{text}");
        assert!(text.contains("a prompt quoting [redacted]"), "{text}");
        assert!(!text.contains("sk-secret-value"), "{text}");
        assert!(!text.contains("id-off"), "{text}");
    }
}
