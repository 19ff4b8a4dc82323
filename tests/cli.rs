//! The `llm-gateway` binary: `validate` exit codes and messages (file, key path, line), `start`
//! refusing a config it cannot serve, and `start` serving the quickstart config.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_llm-gateway");

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `llm-gateway <command> --config-path <path>` and returns (exit code, stderr).
fn run(command: &str, path: &std::path::Path) -> (Option<i32>, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg(command);
    if command == "start" {
        cmd.args(["--port", "0"]);
    }
    let out = cmd.arg("--config-path").arg(path).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_accepts_the_quickstart_config() {
    let out = Command::new(BIN)
        .args(["validate", "--config-path", "examples/quickstart.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("valid: 3 endpoints (1 chat, 1 completions, 1 embeddings), 0 routes"),
        "{stdout}"
    );
}

#[test]
fn validate_reports_file_key_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "bad.yaml",
        "endpoints:\n  - name: chat\n    endpoint_type: llm/v1/chat\n    model:\n      provider: openai\n      name: gpt-4o\n      config:\n        openai_api_kye: sk-secret-value\n",
    );
    let (code, stderr) = run("validate", &path);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("bad.yaml:8:"), "{stderr}");
    assert!(
        stderr.contains("endpoints[0].model.config.openai_api_kye"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean 'openai_api_key'"), "{stderr}");
    assert!(!stderr.contains("sk-secret-value"), "{stderr}");
}

#[test]
fn validate_uses_mlflow_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "dup.yaml",
        "endpoints:\n  - name: a\n    endpoint_type: llm/v1/chat\n    model: {provider: mock, config: {}}\n  - name: a\n    endpoint_type: llm/v1/chat\n    model: {provider: mock, config: {}}\n",
    );
    let (code, stderr) = run("validate", &path);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("Duplicate names found in endpoint / route configurations."),
        "{stderr}"
    );
}

#[test]
fn config_path_comes_from_the_environment_too() {
    let out = Command::new(BIN)
        .arg("validate")
        .env("MLFLOW_GATEWAY_CONFIG", "examples/quickstart.yaml")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn start_refuses_a_config_it_cannot_serve() {
    let dir = tempfile::tempdir().unwrap();
    // Valid YAML and valid MLflow config, but no request could ever reach this upstream:
    // refused at start, naming the endpoint, rather than failing every request.
    let path = write(
        &dir,
        "bad-base.yaml",
        "endpoints:\n  - name: chat\n    endpoint_type: llm/v1/chat\n    model:\n      provider: openai\n      name: gpt-4o\n      config: {openai_api_key: sk-secret-value, openai_api_base: not a url}\n",
    );
    let (code, stderr) = run("start", &path);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("endpoint 'chat'"), "{stderr}");
    assert!(stderr.contains("not a valid URL"), "{stderr}");
    assert!(!stderr.contains("sk-secret-value"), "{stderr}");
}

/// Kills the child if the test fails before it has stopped by itself.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn start_serves_and_stops_on_sigterm() {
    let child = Command::new(BIN)
        .args([
            "start",
            "--config-path",
            "examples/quickstart.yaml",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    // The startup line names the bound address.
    let stderr = child.0.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the gateway exited before listening")
            .unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    llm_gateway::providers::http::install_crypto_provider();
    let body = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("http://{addr}/v1/chat/completions"))
            .body(r#"{"model":"chat","messages":[{"role":"user","content":"hello"}]}"#)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(body.contains("You said: hello"), "{body}");
    let pid = child.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

/// Starts `llm-gateway start` on `config` with `extra` flags; returns it and its address.
fn spawn_gateway(config: &std::path::Path, extra: &[&str]) -> (KillOnDrop, String) {
    let child = Command::new(BIN)
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
    let mut child = KillOnDrop(child);
    let stderr = child.0.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the gateway exited before listening")
            .unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

/// A slow, streaming mock endpoint: one word per chunk, `delay_ms` before each.
fn slow_stream_config(dir: &tempfile::TempDir, words: usize, delay_ms: u64) -> std::path::PathBuf {
    let response = vec!["word"; words].join(" ");
    write(
        dir,
        "slow.yaml",
        &format!(
            "endpoints:\n  - name: chat\n    endpoint_type: llm/v1/chat\n    model: {{provider: mock, name: m, config: {{response: \"{response}\", delay_ms: {delay_ms}}}}}\n"
        ),
    )
}

/// Opens a stream (its first event has arrived when this returns), sends SIGTERM, then reads
/// the rest of the body; returns the body and whether the gateway exited successfully.
fn stream_across_sigterm(mut child: KillOnDrop, addr: &str) -> (String, bool) {
    llm_gateway::providers::http::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("http://{addr}/v1/chat/completions"))
            .body(r#"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        // Headers are sent after the first upstream event: the request is in flight now.
        let killed = Command::new("kill")
            .args(["-TERM", &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        // A body cut by the drain deadline reads as an error: nothing of it is returned.
        let body = resp.text().await.unwrap_or_default();
        let status = child.0.wait().unwrap();
        (body, status.success())
    })
}

#[test]
fn sigterm_lets_open_streams_finish() {
    let dir = tempfile::tempdir().unwrap();
    let config = slow_stream_config(&dir, 4, 150);
    let (child, addr) = spawn_gateway(&config, &[]);
    let (body, exited_ok) = stream_across_sigterm(child, &addr);
    assert!(
        body.ends_with("data: [DONE]\n\n"),
        "stream was cut: {body:?}"
    );
    assert!(body.contains("word"), "{body}");
    assert!(exited_ok);
}

#[test]
fn sigterm_drain_is_bounded_by_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    // About 24 s of stream against a 0.3 s grace period.
    let config = slow_stream_config(&dir, 60, 400);
    let (child, addr) = spawn_gateway(&config, &["--shutdown-grace-seconds", "0.3"]);
    let (body, exited_ok) = stream_across_sigterm(child, &addr);
    assert!(!body.contains("[DONE]"), "{body}");
    assert!(
        exited_ok,
        "the gateway must exit 0 after the drain deadline"
    );
}
