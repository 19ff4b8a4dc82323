//! Hot reload of the config file: a change (in place, by rename, by a Kubernetes-style symlink
//! swap) or SIGHUP swaps a valid config in; an invalid, unservable or missing one leaves the
//! old config serving, with a located error; requests in flight finish on the config they
//! started with; no request fails while configs are swapped under load; limit counters of
//! unchanged endpoints survive. In-process tests drive [`Reloader`] directly; the binary tests
//! check the CLI wiring, SIGHUP and the log lines.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llm_gateway::mock_upstream::{MockOptions, MockUpstream};
use llm_gateway::reload::{Outcome, ReloadTask, Reloader, Source, Trigger, WatchOptions};
use llm_gateway::server;
use llm_gateway::service::{Gateway, Settings};
use tokio::time::Instant;

/// Upper bound for anything the tests wait for; reached only when something is broken.
const DEADLINE: Duration = Duration::from_secs(15);

const CHAT: &str = r#"{"messages":[{"role":"user","content":"hi"}]}"#;

/// An endpoint line on the `mock` provider answering `response`.
fn mock(name: &str, response: &str) -> String {
    format!(
        "  - {{name: {name}, endpoint_type: llm/v1/chat, model: {{provider: mock, name: m, config: {{response: \"{response}\"}}}}}}\n"
    )
}

fn config(endpoints: &[String]) -> String {
    format!("endpoints:\n{}", endpoints.concat())
}

/// The gateway in-process on 127.0.0.1:0, serving a config file in a temp directory.
struct Harness {
    _dir: tempfile::TempDir,
    path: PathBuf,
    addr: SocketAddr,
    http: reqwest::Client,
    reloader: Reloader,
    _watching: Option<ReloadTask>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Harness {
    /// Serves `yaml`; with `watch`, polls the file every 20 ms.
    async fn start(yaml: &str, watch: bool) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        Self::serve(dir, path, watch).await
    }

    async fn serve(dir: tempfile::TempDir, path: PathBuf, watch: bool) -> Harness {
        let source = Source::read(&path).unwrap();
        let loaded = source.load().unwrap_or_else(|e| panic!("{e}"));
        let gateway = Gateway::new(&loaded.config, &Settings::default()).unwrap();
        let reloader = Reloader::new(gateway.clone(), source, &loaded.config);
        let watching = watch.then(|| {
            reloader.spawn(WatchOptions {
                poll_interval: Some(Duration::from_millis(20)),
                sighup: false,
            })
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = server::app(gateway, server::DEFAULT_BODY_LIMIT);
        tokio::spawn(server::serve(
            listener,
            app,
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
        ));
        llm_gateway::providers::http::install_crypto_provider();
        Harness {
            _dir: dir,
            path,
            addr,
            http: reqwest::Client::new(),
            reloader,
            _watching: watching,
            stop: Some(stop),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Rewrites the config file in place.
    fn write(&self, yaml: &str) {
        std::fs::write(&self.path, yaml).unwrap();
    }

    /// Replaces the config file as editors do: write a new file, rename it over the old one.
    fn replace(&self, yaml: &str) {
        let tmp = self.path.with_extension("yaml.tmp");
        std::fs::write(&tmp, yaml).unwrap();
        std::fs::rename(&tmp, &self.path).unwrap();
    }

    async fn reload(&self) -> Outcome {
        self.reloader.reload_now(Trigger::Explicit).await
    }

    /// POST `/gateway/{endpoint}/invocations`: status and body.
    async fn invoke(&self, endpoint: &str) -> (u16, String) {
        post(
            &self.http,
            &self.url(&format!("/gateway/{endpoint}/invocations")),
            CHAT,
        )
        .await
    }

    /// The chat answer of `endpoint`, asserting a 200.
    async fn answer(&self, endpoint: &str) -> String {
        let (status, body) = self.invoke(endpoint).await;
        assert_eq!(status, 200, "{endpoint}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        json["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits until `GET /api/2.0/endpoints/` lists exactly `names`.
    async fn wait_for_endpoints(&self, names: &[&str]) {
        wait_for_listing(&self.http, &self.url(""), names).await;
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn post(http: &reqwest::Client, url: &str, body: &str) -> (u16, String) {
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn endpoint_names(http: &reqwest::Client, base: &str) -> Vec<String> {
    let body: serde_json::Value = http
        .get(format!("{base}/api/2.0/endpoints/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls the endpoint listing (the observable effect of a reload) until it is `names`.
async fn wait_for_listing(http: &reqwest::Client, base: &str, names: &[&str]) {
    let until = Instant::now() + DEADLINE;
    loop {
        let now = endpoint_names(http, base).await;
        if now == names {
            return;
        }
        assert!(
            Instant::now() < until,
            "still listing {now:?}, expected {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn changes(outcome: Outcome) -> llm_gateway::reload::Changes {
    match outcome {
        Outcome::Reloaded(c) => c,
        other => panic!("not reloaded: {other:?}"),
    }
}

#[tokio::test]
async fn a_changed_file_swaps_endpoints_in_and_out() {
    let gw = Harness::start(&config(&[mock("a", "A1"), mock("b", "B")]), true).await;
    assert_eq!(gw.answer("a").await, "A1");

    // In place.
    gw.write(&config(&[mock("a", "A2"), mock("c", "C")]));
    gw.wait_for_endpoints(&["a", "c"]).await;
    assert_eq!(gw.answer("c").await, "C");
    assert_eq!(gw.answer("a").await, "A2");
    let (status, body) = gw.invoke("b").await;
    assert_eq!(status, 404, "{body}");

    // Write-and-rename, as editors save.
    gw.replace(&config(&[mock("a", "A2"), mock("d", "D")]));
    gw.wait_for_endpoints(&["a", "d"]).await;
    assert_eq!(gw.answer("d").await, "D");
}

#[cfg(unix)]
#[tokio::test]
async fn a_kubernetes_configmap_update_is_seen() {
    // A mounted ConfigMap: config.yaml -> ..data/config.yaml, ..data -> ..v1; an update
    // writes ..v2 and renames a new ..data symlink over the old one.
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("..v1")).unwrap();
    std::fs::write(
        root.join("..v1/config.yaml"),
        config(&[mock("a", "A"), mock("b", "B")]),
    )
    .unwrap();
    symlink("..v1", root.join("..data")).unwrap();
    symlink("..data/config.yaml", root.join("config.yaml")).unwrap();
    let path = root.join("config.yaml");
    let gw = Harness::serve(dir, path, true).await;
    gw.wait_for_endpoints(&["a", "b"]).await;

    let root = gw.path.parent().unwrap();
    std::fs::create_dir(root.join("..v2")).unwrap();
    std::fs::write(
        root.join("..v2/config.yaml"),
        config(&[mock("a", "A"), mock("k8s", "K")]),
    )
    .unwrap();
    symlink("..v2", root.join("..data_tmp")).unwrap();
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    gw.wait_for_endpoints(&["a", "k8s"]).await;
    assert_eq!(gw.answer("k8s").await, "K");
}

/// Runs the file-change trigger until the write has settled.
async fn poll_once(reloader: &Reloader) -> Outcome {
    let until = Instant::now() + DEADLINE;
    loop {
        match reloader.reload_now(Trigger::FileChange).await {
            Outcome::Settling(wait) if Instant::now() < until => tokio::time::sleep(wait).await,
            other => return other,
        }
    }
}

#[tokio::test]
async fn a_file_change_acts_on_new_bytes_only() {
    let yaml = config(&[mock("a", "A")]);
    let gw = Harness::start(&yaml, false).await;
    // Same bytes, new metadata: nothing to do.
    gw.write(&yaml);
    assert!(matches!(poll_once(&gw.reloader).await, Outcome::Unchanged));
    // Nothing touched at all: not even a read.
    assert!(matches!(poll_once(&gw.reloader).await, Outcome::Unchanged));
    // New bytes.
    gw.write(&config(&[mock("a", "A"), mock("b", "B")]));
    let c = changes(poll_once(&gw.reloader).await);
    assert_eq!(c.added, ["b"]);
    assert!(matches!(poll_once(&gw.reloader).await, Outcome::Unchanged));
    // An explicit reload (SIGHUP) re-reads even unchanged bytes.
    let c = changes(gw.reload().await);
    assert!(c.added.is_empty() && c.changed.is_empty() && c.removed.is_empty());
}

#[tokio::test]
async fn a_bad_new_config_keeps_the_old_one_serving() {
    let gw = Harness::start(&config(&[mock("a", "A")]), false).await;

    // Invalid: the error is located (file:line:column: key path: message).
    gw.write(
        "endpoints:\n  - name: b\n    endpoint_type: llm/v1/chat\n    model: {provider: mock, name: m, config: {respnse: x}}\n",
    );
    let Outcome::Invalid(e) = gw.reload().await else {
        panic!("an invalid config was not refused")
    };
    let text = e.to_string();
    let prefix = format!("{}:4:", gw.path.display());
    assert!(text.starts_with(&prefix), "{text}");
    assert!(text.contains("endpoints[0].model.config.respnse"), "{text}");
    assert!(text.contains("did you mean 'response'"), "{text}");
    assert_eq!(gw.answer("a").await, "A");

    // Valid but unservable (no request could reach this upstream).
    gw.write(
        "endpoints:\n  - {name: b, endpoint_type: llm/v1/chat, model: {provider: openai, name: m, config: {openai_api_key: sk-x, openai_api_base: not a url}}}\n",
    );
    let Outcome::Refused(e) = gw.reload().await else {
        panic!("an unservable config was not refused")
    };
    assert!(e.to_string().contains("endpoint 'b'"), "{e}");
    assert_eq!(gw.answer("a").await, "A");

    // Gone.
    std::fs::remove_file(&gw.path).unwrap();
    assert!(matches!(gw.reload().await, Outcome::Unreadable(_)));
    assert_eq!(gw.answer("a").await, "A");
    assert_eq!(
        endpoint_names(&gw.http, &gw.url("")).await,
        ["a"],
        "the old config is still listed"
    );

    // Back, valid: served.
    gw.write(&config(&[mock("b", "B")]));
    let c = changes(gw.reload().await);
    assert_eq!((c.added, c.removed), (vec!["b".into()], vec!["a".into()]));
    assert_eq!(gw.answer("b").await, "B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_while_configs_are_swapped_under_load() {
    const CLIENTS: usize = 8;
    const RELOADS: usize = 100;
    let route = "routes:\n  - {name: split, task_type: llm/v1/chat, destinations: [{name: chat, traffic_percentage: 100}]}\n";
    let a = format!("{}{route}", config(&[mock("chat", "alpha")]));
    let b = format!(
        "{}{route}",
        config(&[mock("extra", "extra"), mock("chat", "beta")])
    );
    let gw = Arc::new(Harness::start(&a, false).await);

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let (gw, stop, done, seen, failures) = (
            gw.clone(),
            stop.clone(),
            done.clone(),
            seen.clone(),
            failures.clone(),
        );
        clients.spawn(async move {
            let mut n = client;
            while !stop.load(Ordering::Relaxed) {
                // Every surface a client may use: MLflow invocations of the endpoint and of
                // the route, OpenAI chat, and an OpenAI stream.
                let (url, body) = match n % 4 {
                    0 => (gw.url("/gateway/chat/invocations"), CHAT.to_owned()),
                    1 => (gw.url("/endpoints/split/invocations"), CHAT.to_owned()),
                    2 => (
                        gw.url("/v1/chat/completions"),
                        r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#
                            .to_owned(),
                    ),
                    _ => (
                        gw.url("/v1/chat/completions"),
                        r#"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#
                            .to_owned(),
                    ),
                };
                n += 1;
                let (status, text) = post(&gw.http, &url, &body).await;
                let alpha = text.contains("alpha");
                let beta = text.contains("beta");
                let complete = n % 4 != 0 || text.ends_with("data: [DONE]\n\n");
                if status != 200 || alpha == beta || !complete {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{url}: {status} {text}"));
                }
                seen[usize::from(beta)].fetch_add(1, Ordering::Relaxed);
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    for i in 0..RELOADS {
        gw.write(if i % 2 == 0 { &b } else { &a });
        changes(gw.reload().await);
        // Let some requests run on this config before the next swap.
        let target = done.load(Ordering::Relaxed) + CLIENTS;
        let until = Instant::now() + DEADLINE;
        while done.load(Ordering::Relaxed) < target {
            assert!(Instant::now() < until, "clients stalled");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    while let Some(joined) = clients.join_next().await {
        joined.unwrap();
    }

    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let total = done.load(Ordering::Relaxed);
    assert!(total >= RELOADS * CLIENTS, "only {total} requests");
    assert!(
        seen[0].load(Ordering::Relaxed) > 0,
        "config A never answered"
    );
    assert!(
        seen[1].load(Ordering::Relaxed) > 0,
        "config B never answered"
    );
}

#[tokio::test]
async fn an_open_stream_finishes_on_the_config_it_started_with() {
    let slow = "  - {name: chat, endpoint_type: llm/v1/chat, model: {provider: mock, name: m, config: {response: \"old1 old2 old3 old4\", delay_ms: 100}}}\n";
    let gw = Harness::start(&config(&[slow.to_owned(), mock("other", "O")]), false).await;
    let resp = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .body(r#"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    // Headers come after the first upstream event: the stream is in flight now.
    assert_eq!(resp.status(), 200);

    gw.write(&config(&[mock("other", "O2")]));
    let c = changes(gw.reload().await);
    assert_eq!(c.removed, ["chat"]);
    let (status, _) = gw.invoke("chat").await;
    assert_eq!(status, 404, "new calls see the new config");

    let body = resp.text().await.unwrap();
    for word in ["old1", "old2", "old3", "old4"] {
        assert!(body.contains(word), "{body}");
    }
    assert!(body.ends_with("data: [DONE]\n\n"), "stream was cut: {body}");
}

#[tokio::test]
async fn a_request_waiting_on_its_upstream_finishes_on_its_config() {
    let upstream = MockUpstream::start_local(MockOptions {
        record: true,
        slow_ms: 500,
    })
    .await
    .unwrap();
    let remote = |base: &str| {
        format!(
            "  - {{name: chat, endpoint_type: llm/v1/chat, model: {{provider: openai, name: slow, config: {{openai_api_key: sk-test, openai_api_base: \"{base}/v1\"}}}}}}\n"
        )
    };
    let gw = Arc::new(Harness::start(&config(&[remote(&upstream.base_url())]), false).await);
    let call = tokio::spawn({
        let gw = gw.clone();
        async move { gw.invoke("chat").await }
    });
    // The upstream has the request: the gateway is past choosing its endpoint.
    let until = Instant::now() + DEADLINE;
    while upstream.request_count() == 0 {
        assert!(
            Instant::now() < until,
            "the request never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // The endpoint now points at an upstream that refuses connections.
    gw.write(&config(&[remote("http://127.0.0.1:9")]));
    assert_eq!(changes(gw.reload().await).changed, ["chat"]);

    let (status, body) = call.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("choices"), "{body}");
    let (status, _) = gw.invoke("chat").await;
    assert_eq!(status, 502, "new calls use the new upstream");
    assert_eq!(upstream.request_count(), 1);
}

#[tokio::test]
async fn limit_counters_of_unchanged_limits_survive_a_reload() {
    let limited = |calls: u32| {
        format!(
            "  - {{name: limited, endpoint_type: llm/v1/chat, model: {{provider: mock, name: m, config: {{response: L}}}}, limit: {{calls: {calls}, renewal_period: minute}}}}\n"
        )
    };
    let gw = Harness::start(&config(&[limited(2), mock("other", "O1")]), false).await;
    assert_eq!(gw.answer("limited").await, "L");
    assert_eq!(gw.answer("limited").await, "L");

    // Another endpoint changes, one is added; the limited one keeps its counters.
    gw.write(&config(&[
        limited(2),
        mock("other", "O2"),
        mock("added", "N"),
    ]));
    let c = changes(gw.reload().await);
    assert_eq!(
        (c.changed, c.added),
        (vec!["other".into()], vec!["added".into()])
    );
    let (status, body) = gw.invoke("limited").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(gw.answer("other").await, "O2");

    // A changed limit starts counting afresh.
    gw.write(&config(&[
        limited(3),
        mock("other", "O2"),
        mock("added", "N"),
    ]));
    assert_eq!(changes(gw.reload().await).changed, ["limited"]);
    assert_eq!(gw.answer("limited").await, "L");
}

// ---- the binary: CLI flags, SIGHUP, log lines ----

const BIN: &str = env!("CARGO_BIN_EXE_llm-gateway");

/// The gateway process; killed if a test fails before it stopped by itself.
struct Process {
    child: std::process::Child,
    addr: String,
    /// The lines logged up to and including the "listening" one.
    startup: Vec<String>,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    fn start(config: &Path, extra: &[&str]) -> Process {
        let mut child = Command::new(BIN)
            .args([
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--config-path",
            ])
            .arg(config)
            .args(extra)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        // Read stderr on a thread for as long as the process lives, so it never blocks on
        // a full pipe and every line reaches the test.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = Process {
            child,
            addr: String::new(),
            startup: Vec::new(),
            lines,
        };
        let line = process.wait_for_line_blocking("listening on http://");
        process.addr = line
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap()
            .to_owned();
        process
    }

    fn wait_for_line_blocking(&mut self, needle: &str) -> String {
        loop {
            let line = self
                .lines
                .blocking_recv()
                .unwrap_or_else(|| panic!("the gateway exited before logging {needle:?}"));
            self.startup.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// The next stderr line containing every one of `needles`.
    async fn wait_for_line(&mut self, needles: &[&str]) -> String {
        let until = Instant::now() + DEADLINE;
        loop {
            let line = tokio::time::timeout_at(until, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("no log line with {needles:?}"))
                .unwrap_or_else(|| panic!("the gateway exited before logging {needles:?}"));
            if needles.iter().all(|n| line.contains(n)) {
                return line;
            }
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
}

fn client() -> reqwest::Client {
    llm_gateway::providers::http::install_crypto_provider();
    reqwest::Client::new()
}

/// Spawns the gateway from a blocking context (its startup line is read synchronously).
async fn spawn_process(config: PathBuf, extra: &'static [&'static str]) -> Process {
    tokio::task::spawn_blocking(move || Process::start(&config, extra))
        .await
        .unwrap()
}

#[tokio::test]
async fn sighup_reloads_when_the_file_is_not_watched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config(&[mock("a", "A")])).unwrap();
    let mut gw = spawn_process(path.clone(), &["--no-watch-config"]).await;
    assert!(
        gw.startup
            .iter()
            .any(|l| l.contains("reloaded on SIGHUP (file not watched)")),
        "{:?}",
        gw.startup
    );
    let http = client();

    std::fs::write(&path, config(&[mock("a", "A"), mock("b", "B")])).unwrap();
    gw.signal("-HUP");
    wait_for_listing(&http, &gw.base(), &["a", "b"]).await;
    gw.wait_for_line(&["configuration reloaded", "added: b"])
        .await;
    let (status, body) = post(&http, &format!("{}/gateway/b/invocations", gw.base()), CHAT).await;
    assert_eq!(status, 200, "{body}");

    // The reload task ends with the server: SIGTERM still exits cleanly.
    gw.signal("-TERM");
    let status = tokio::task::spawn_blocking(move || gw.child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn the_binary_watches_the_file_and_logs_a_bad_config_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config(&[mock("a", "A")])).unwrap();
    let mut gw = spawn_process(path.clone(), &["--config-poll-seconds", "0.05"]).await;
    let http = client();
    let a_answers = |http: reqwest::Client, base: String| async move {
        let (status, body) = post(&http, &format!("{base}/gateway/a/invocations"), CHAT).await;
        assert_eq!(status, 200, "{body}");
    };

    std::fs::write(
        &path,
        "endpoints:\n  - name: a\n    endpoint_type: llm/v1/chat\n    model: {provider: mock, name: m, config: {respnse: x}}\n",
    )
    .unwrap();
    let located = format!("{}:4:", path.display());
    let line = gw.wait_for_line(&["invalid configuration", &located]).await;
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("endpoints[0].model.config.respnse"), "{line}");
    a_answers(http.clone(), gw.base()).await;

    std::fs::remove_file(&path).unwrap();
    gw.wait_for_line(&["the configuration file is gone"]).await;
    a_answers(http.clone(), gw.base()).await;

    std::fs::write(&path, config(&[mock("a", "A"), mock("b", "B")])).unwrap();
    wait_for_listing(&http, &gw.base(), &["a", "b"]).await;
    gw.wait_for_line(&["configuration reloaded (file changed)", "added: b"])
        .await;
}

#[test]
fn a_non_positive_poll_interval_is_refused() {
    let out = Command::new(BIN)
        .args([
            "start",
            "--config-path",
            "examples/quickstart.yaml",
            "--config-poll-seconds",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("poll interval"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
