//! Hot reload: owns the config file's path, notices when the file changes or SIGHUP arrives,
//! and swaps a valid new config into the running [`Gateway`] (whose [`Gateway::reload`] makes
//! the swap atomic: calls in flight finish on the config they started with, and limit counters
//! and circuit state of unchanged endpoints carry over).
//!
//! What a trigger does, in order (MLflow's `monitor_config` rules, spec §1.9, minus the worker
//! restart): the file is gone or unreadable → a warning, and the current config keeps serving;
//! its bytes equal those already handled → nothing; it is not a valid config → an error naming
//! `file:line:column: key.path`, and the current config keeps serving; the gateway cannot
//! serve it (e.g. a base URL that is not a URL) → the same; otherwise it is swapped in and one
//! line says what changed. Config warnings are logged as at startup. Reloads run one at a
//! time, and their file reads, secret resolution and client building run on the blocking pool.
//!
//! **Why polling, not inotify (`notify`).** A change is noticed by polling the file's
//! metadata (modification and change times, length, device and inode, all through symlinks)
//! once per interval, one `stat` per second by default, and reading the content only when
//! those moved. That sees every way a config gets replaced with one rule: in-place writes,
//! editors' write-and-rename, and Kubernetes ConfigMap updates, which swap a `..data` symlink
//! in the parent directory, so an inotify watch filtered on the file's own path never fires.
//! It also works where inotify does not (NFS, many FUSE and container bind mounts), needs no
//! event-burst debouncing, and adds no dependency. The cost is latency (at most one interval;
//! MLflow takes seconds to restart its workers) and a `stat` per interval. Two guards keep it
//! exact: a file modified less than [`SETTLE`] ago is left to settle first, so a writer that
//! truncates and then writes is not caught half way; and while the modification time is
//! younger than [`RACY`], the content is compared on every poll, because a file system with
//! coarse timestamps can give two different writes the same metadata (git's "racy" files).
//!
//! SIGHUP always reloads, even when the file's bytes did not change: it is how an operator
//! makes the gateway re-read secret files and `$ENV` keys that the config refers to.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{self, ConfigError, GatewayConfig, Loaded, Secret};
use crate::service::{Gateway, StartError};

/// Default interval between two looks at the config file's metadata.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A file modified less than this long ago may still be being written: wait before reading.
pub const SETTLE: Duration = Duration::from_millis(100);

/// While the file's modification time is younger than this, metadata alone cannot prove the
/// content unchanged (coarse timestamps), so the content is compared on each poll.
pub const RACY: Duration = Duration::from_secs(2);

/// The config file as read at one moment: its bytes and its metadata just before the read.
#[derive(Debug, Clone)]
pub struct Source {
    path: PathBuf,
    bytes: Vec<u8>,
    stamp: Stamp,
}

impl Source {
    /// Reads the config file at `path`. The error is the one [`config::load`] gives for an
    /// unreadable file.
    pub fn read(path: &Path) -> Result<Source, ConfigError> {
        let stamp = std::fs::metadata(path).map(|m| Stamp::of(&m));
        let read = stamp.and_then(|stamp| Ok((stamp, std::fs::read(path)?)));
        match read {
            Ok((stamp, bytes)) => Ok(Source {
                path: path.to_path_buf(),
                bytes,
                stamp,
            }),
            Err(e) => Err(unreadable_error(path, &e)),
        }
    }

    /// Validates the bytes read, as [`config::load`] would (secrets from the environment).
    pub fn load(&self) -> Result<Loaded, ConfigError> {
        let text = std::str::from_utf8(&self.bytes).map_err(|e| {
            unreadable_error(&self.path, &io::Error::new(io::ErrorKind::InvalidData, e))
        })?;
        config::load_str(&self.path, text, &|name| std::env::var(name).ok())
    }

    /// The file's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn unreadable_error(path: &Path, e: &io::Error) -> ConfigError {
    ConfigError {
        file: path.to_path_buf(),
        key_path: String::new(),
        line: None,
        column: None,
        message: format!("cannot read the configuration file: {e}"),
    }
}

/// What the file system says about the file; when it is unchanged (and not racy), so is the
/// content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    /// (device, inode, ctime seconds, ctime nanoseconds): a replaced file is another inode,
    /// and ctime moves even when a writer restores the old mtime.
    #[cfg(unix)]
    identity: (u64, u64, i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt as _;
        Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            #[cfg(unix)]
            identity: (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// How old the last modification is; `None` when unknown or in the future (clock skew).
    fn age(&self) -> Option<Duration> {
        self.modified
            .and_then(|m| SystemTime::now().duration_since(m).ok())
    }

    /// How much longer to let a fresh write settle, if at all.
    fn settling(&self) -> Option<Duration> {
        let age = self.age()?;
        (age < SETTLE).then(|| SETTLE.saturating_sub(age))
    }

    fn racy(&self) -> bool {
        self.age().is_none_or(|age| age < RACY)
    }
}

/// What started a reload attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The file's metadata changed (the poll): acts only on new content, once it settled.
    FileChange,
    /// SIGHUP or a caller's explicit request: reloads even if the bytes are unchanged, so
    /// secret files and `$ENV` keys are resolved again.
    Explicit,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::FileChange => "file changed",
            Trigger::Explicit => "reload requested",
        })
    }
}

/// The result of one reload attempt. Whatever the operator should know about it has been
/// logged.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing new: the same metadata, or bytes already handled.
    Unchanged,
    /// The file was modified moments ago; look again after this long.
    Settling(Duration),
    /// The file is gone or unreadable; the current config keeps serving.
    Unreadable(io::Error),
    /// The new file is not a valid config; the current config keeps serving.
    Invalid(ConfigError),
    /// The new config is valid but cannot be served; the current config keeps serving.
    Refused(StartError),
    /// The new config is being served.
    Reloaded(Changes),
}

/// What a successful reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Endpoints in the new config.
    pub endpoints: usize,
    /// Traffic routes in the new config.
    pub routes: usize,
    /// Endpoints and routes that are new, in file order.
    pub added: Vec<String>,
    /// Endpoints and routes no longer there, in their old file order.
    pub removed: Vec<String>,
    /// Endpoints and routes whose definition changed (a secret's new value included), in file
    /// order.
    pub changed: Vec<String>,
}

impl fmt::Display for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{} endpoint{}, {} route{}",
            self.endpoints,
            plural(self.endpoints),
            self.routes,
            plural(self.routes)
        )?;
        let mut parts = Vec::new();
        for (label, names) in [
            ("added", &self.added),
            ("removed", &self.removed),
            ("changed", &self.changed),
        ] {
            if !names.is_empty() {
                parts.push(format!("{label}: {}", names.join(", ")));
            }
        }
        if parts.is_empty() {
            f.write_str("; no endpoint or route changed")
        } else {
            write!(f, "; {}", parts.join("; "))
        }
    }
}

/// One endpoint's or route's definition, comparable without printing a secret: its `Debug`
/// text (secrets show as `[redacted]`) and its secrets, compared by value.
#[derive(Debug, PartialEq, Eq)]
struct Definition {
    name: String,
    debug: String,
    secrets: Vec<Secret>,
}

fn definitions(config: &GatewayConfig) -> Vec<Definition> {
    let endpoints = config.endpoints.iter().map(|ep| Definition {
        name: ep.name.clone(),
        debug: format!("{ep:?}"),
        secrets: GatewayConfig {
            endpoints: vec![ep.clone()],
            routes: Vec::new(),
            auth: None,
        }
        .secrets(),
    });
    let routes = config.routes.iter().map(|r| Definition {
        name: r.name.clone(),
        debug: format!("{r:?}"),
        secrets: Vec::new(),
    });
    endpoints.chain(routes).collect()
}

fn diff(before: &[Definition], after: &[Definition], config: &GatewayConfig) -> Changes {
    let index = |list: &[Definition]| -> HashMap<String, usize> {
        list.iter()
            .enumerate()
            .map(|(i, d)| (d.name.clone(), i))
            .collect()
    };
    let (old, new) = (index(before), index(after));
    let mut changes = Changes {
        endpoints: config.endpoints.len(),
        routes: config.routes.len(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
    };
    for d in after {
        match old.get(&d.name).and_then(|&i| before.get(i)) {
            None => changes.added.push(d.name.clone()),
            Some(old) if old != d => changes.changed.push(d.name.clone()),
            Some(_) => {}
        }
    }
    for d in before {
        if !new.contains_key(&d.name) {
            changes.removed.push(d.name.clone());
        }
    }
    changes
}

/// What the reloader knows about the file and the config being served.
#[derive(Debug)]
struct State {
    /// The bytes of the config being served.
    loaded: Vec<u8>,
    /// The bytes last acted on (served, or reported invalid), so a bad file is reported once;
    /// `None` after the file went missing, so whatever comes back is looked at afresh.
    seen: Option<Vec<u8>>,
    /// The metadata at the last read; `None` after the file was found missing or unreadable.
    stamp: Option<Stamp>,
    /// Whether `stamp` was too fresh to vouch for the content.
    racy: bool,
    /// The served config's endpoints and routes, to describe what a reload changed.
    definitions: Vec<Definition>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    gateway: Gateway,
    state: Arc<Mutex<State>>,
}

/// Reloads one gateway from one config file. Cheap to clone; reloads are serialised.
#[derive(Debug, Clone)]
pub struct Reloader {
    inner: Arc<Inner>,
}

/// When to look for a new config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Poll the file this often; `None` = do not watch the file.
    pub poll_interval: Option<Duration>,
    /// Reload on SIGHUP (Unix).
    pub sighup: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            poll_interval: Some(DEFAULT_POLL_INTERVAL),
            sighup: true,
        }
    }
}

impl Reloader {
    /// A reloader for `gateway`, which is serving `config`, loaded from `source`.
    pub fn new(gateway: Gateway, source: Source, config: &GatewayConfig) -> Reloader {
        let state = State {
            loaded: source.bytes.clone(),
            seen: Some(source.bytes),
            stamp: Some(source.stamp),
            racy: source.stamp.racy(),
            definitions: definitions(config),
        };
        Reloader {
            inner: Arc::new(Inner {
                path: source.path,
                gateway,
                state: Arc::new(Mutex::new(state)),
            }),
        }
    }

    /// The config file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Looks at the file now and reloads if `trigger` calls for it; logs the outcome. Waits
    /// for a reload already under way to finish first.
    pub async fn reload_now(&self, trigger: Trigger) -> Outcome {
        let mut state = self.inner.state.clone().lock_owned().await;
        let inner = self.inner.clone();
        // File and secret reads, and building providers (which may probe cloud metadata
        // services), block: keep them off the async workers.
        let work = tokio::task::spawn_blocking(move || {
            evaluate(&inner.path, &inner.gateway, &mut state, trigger)
        });
        match work.await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(
                    "{}: configuration reload failed: {e}; still serving the current configuration",
                    self.inner.path.display()
                );
                Outcome::Unchanged
            }
        }
    }

    /// Starts watching: polls the file (if `options.poll_interval`) and listens for SIGHUP
    /// (if `options.sighup`). The SIGHUP handler is installed before this returns, so a
    /// SIGHUP sent afterwards reloads rather than ending the process.
    pub fn spawn(&self, options: WatchOptions) -> ReloadTask {
        let hangup = Hangup::install(options.sighup);
        let path = self.inner.path.display();
        match (options.poll_interval, options.sighup) {
            (Some(every), sighup) => tracing::info!(
                "{path}: reloaded when it changes (checked every {:.2}s){}",
                every.as_secs_f64(),
                if sighup { " and on SIGHUP" } else { "" }
            ),
            (None, true) => tracing::info!("{path}: reloaded on SIGHUP (file not watched)"),
            (None, false) => {}
        }
        let (stop, stopped) = oneshot::channel();
        let handle = tokio::spawn(self.clone().run(options.poll_interval, hangup, stopped));
        ReloadTask {
            stop: Some(stop),
            handle,
        }
    }

    async fn run(
        self,
        poll: Option<Duration>,
        mut hangup: Hangup,
        mut stopped: oneshot::Receiver<()>,
    ) {
        let interval = poll.unwrap_or(DEFAULT_POLL_INTERVAL);
        let mut next = Instant::now() + interval;
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                () = hangup.recv() => {
                    tracing::info!(
                        "SIGHUP received: reloading {}",
                        self.inner.path.display()
                    );
                    self.reload_now(Trigger::Explicit).await;
                }
                () = tokio::time::sleep_until(next), if poll.is_some() => {
                    let outcome = self.reload_now(Trigger::FileChange).await;
                    next = Instant::now() + match outcome {
                        Outcome::Settling(wait) => wait,
                        _ => interval,
                    };
                }
            }
        }
    }
}

/// The running watch task. [`ReloadTask::stop`] ends it after any reload under way; dropping
/// it aborts it.
#[derive(Debug)]
pub struct ReloadTask {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<()>,
}

impl ReloadTask {
    /// Stops watching and waits for the task to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.handle).await;
    }
}

impl Drop for ReloadTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// SIGHUP, where there is such a thing and it was asked for.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn install(wanted: bool) -> Hangup {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signal = if wanted {
                match signal(SignalKind::hangup()) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!("cannot listen for SIGHUP ({e}); it will not reload");
                        None
                    }
                }
            } else {
                None
            };
            Hangup { signal }
        }
        #[cfg(not(unix))]
        {
            let _ = wanted;
            Hangup {}
        }
    }

    /// Resolves on each SIGHUP; never, without one.
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = &mut self.signal
            && s.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await;
    }
}

/// One reload attempt, on the blocking pool, holding the reload lock.
fn evaluate(path: &Path, gateway: &Gateway, state: &mut State, trigger: Trigger) -> Outcome {
    let explicit = trigger == Trigger::Explicit;
    let stamp = match std::fs::metadata(path) {
        Ok(meta) => Stamp::of(&meta),
        Err(e) => return unreadable(path, state, e, explicit),
    };
    if !explicit {
        if state.stamp == Some(stamp) && !state.racy {
            return Outcome::Unchanged;
        }
        if let Some(wait) = stamp.settling() {
            return Outcome::Settling(wait);
        }
    }
    // The stamp is taken before the read: a write after it changes the metadata (or leaves
    // it racy), so the next poll looks again.
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return unreadable(path, state, e, explicit),
    };
    state.stamp = Some(stamp);
    state.racy = stamp.racy();
    if !explicit && (state.seen.as_ref() == Some(&bytes) || bytes == state.loaded) {
        state.seen = Some(bytes);
        return Outcome::Unchanged;
    }
    let source = Source {
        path: path.to_path_buf(),
        bytes,
        stamp,
    };
    let outcome = apply(gateway, state, &source, trigger);
    state.seen = Some(source.bytes);
    outcome
}

fn unreadable(path: &Path, state: &mut State, e: io::Error, explicit: bool) -> Outcome {
    // Warn once per disappearance, not on every poll while the file is away.
    if explicit || state.stamp.is_some() {
        if e.kind() == io::ErrorKind::NotFound {
            tracing::warn!(
                "{}: the configuration file is gone; still serving the configuration loaded before",
                path.display()
            );
        } else {
            tracing::warn!(
                "{}: cannot read the configuration file ({e}); still serving the current configuration",
                path.display()
            );
        }
    }
    state.stamp = None;
    state.seen = None;
    Outcome::Unreadable(e)
}

/// Validates `source` and swaps it in, or reports why not.
fn apply(gateway: &Gateway, state: &mut State, source: &Source, trigger: Trigger) -> Outcome {
    let loaded = match source.load() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(
                "invalid configuration, not reloaded (still serving the previous one): {e}"
            );
            return Outcome::Invalid(e);
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    if let Err(e) = gateway.reload(&loaded.config) {
        tracing::error!(
            "{}: cannot serve the new configuration, not reloaded (still serving the previous one): {e}",
            source.path.display()
        );
        return Outcome::Refused(e);
    }
    let after = definitions(&loaded.config);
    let changes = diff(&state.definitions, &after, &loaded.config);
    state.definitions = after;
    state.loaded.clone_from(&source.bytes);
    tracing::info!(
        "{}: configuration reloaded ({trigger}): {changes}",
        source.path.display()
    );
    Outcome::Reloaded(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> GatewayConfig {
        config::load_str(Path::new("t.yaml"), yaml, &|_| None)
            .unwrap()
            .config
    }

    const A: &str = "endpoints:\n  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock, config: {}}}\n  - {name: b, endpoint_type: llm/v1/chat, model: {provider: openai, name: m, config: {openai_api_key: k1}}}\n  - {name: c, endpoint_type: llm/v1/chat, model: {provider: mock, config: {}}}\n";

    #[test]
    fn diff_names_added_removed_and_changed_definitions() {
        let before = config(A);
        let after = config(
            "endpoints:\n  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock, config: {response: hi}}}\n  - {name: b, endpoint_type: llm/v1/chat, model: {provider: openai, name: m, config: {openai_api_key: k1}}}\n  - {name: d, endpoint_type: llm/v1/chat, model: {provider: mock, config: {}}}\nroutes:\n  - {name: r, task_type: llm/v1/chat, destinations: [{name: a, traffic_percentage: 100}]}\n",
        );
        let changes = diff(&definitions(&before), &definitions(&after), &after);
        assert_eq!(changes.added, ["d", "r"]);
        assert_eq!(changes.removed, ["c"]);
        assert_eq!(changes.changed, ["a"]);
        assert_eq!(
            changes.to_string(),
            "3 endpoints, 1 route; added: d, r; removed: c; changed: a"
        );
    }

    #[test]
    fn a_new_secret_value_is_a_change_that_is_never_printed() {
        let before = config(A);
        let after = config(&A.replace("k1", "k2-secret"));
        let changes = diff(&definitions(&before), &definitions(&after), &after);
        assert_eq!(changes.changed, ["b"]);
        assert!(!format!("{:?}", definitions(&after)).contains("k2-secret"));
        let same = diff(&definitions(&before), &definitions(&before), &before);
        assert_eq!(
            same.to_string(),
            "3 endpoints, 0 routes; no endpoint or route changed"
        );
    }

    #[test]
    fn fresh_writes_settle_and_are_racy() {
        let now = Stamp {
            modified: Some(SystemTime::now()),
            len: 1,
            #[cfg(unix)]
            identity: (0, 0, 0, 0),
        };
        assert!(now.settling().is_some());
        assert!(now.racy());
        let old = Stamp {
            modified: SystemTime::now().checked_sub(Duration::from_secs(60)),
            ..now
        };
        assert_eq!(old.settling(), None);
        assert!(!old.racy());
        // A modification time in the future (clock skew) cannot be trusted, but must not
        // hold a reload back forever.
        let future = Stamp {
            modified: SystemTime::now().checked_add(Duration::from_secs(60)),
            ..now
        };
        assert_eq!(future.settling(), None);
        assert!(future.racy());
    }
}
