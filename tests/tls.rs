//! TLS on the one port: HTTPS over HTTP/1.1 and HTTP/2 (ALPN), gRPC over TLS with a tonic
//! client, the client address reaching the app, plain HTTP and silent clients failing alone,
//! the shutdown drain, certificate reload (in-process and on SIGHUP with the real binary) and
//! the CLI's refusals. Every certificate is self-signed, made by the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::chat_request;
use futures::StreamExt;
use llm_gateway::pb::v1 as pb;
use llm_gateway::server;
use llm_gateway::service::{Gateway, Settings};
use llm_gateway::tls::{self, Certificates};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Upper bound for anything the tests wait for; reached only when something is broken.
const DEADLINE: Duration = Duration::from_secs(15);

const CONFIG: &str = "endpoints:\n  - {name: chat, endpoint_type: llm/v1/chat, model: {provider: mock, name: m, config: {response: hello over tls, chunk_words: 1}}}\n  - {name: slow, endpoint_type: llm/v1/chat, model: {provider: mock, name: m, config: {response: one two three four five six seven eight nine ten, chunk_words: 1, delay_ms: 150}}}\n";

const CHAT: &str = r#"{"messages":[{"role":"user","content":"hi"}]}"#;

/// A self-signed certificate for `127.0.0.1` and `localhost`, and its key, in PEM.
#[derive(Clone)]
struct Pair {
    cert: String,
    key: String,
}

fn self_signed() -> Pair {
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    Pair {
        cert: made.cert.pem(),
        key: made.signing_key.serialize_pem(),
    }
}

/// A certificate and key file in a temp directory.
struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new(pair: &Pair) -> Files {
        let dir = tempfile::tempdir().unwrap();
        let files = Files {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            _dir: dir,
        };
        files.replace(pair);
        files
    }

    /// Replaces both files as deployment tools do: write aside, rename over.
    fn replace(&self, pair: &Pair) {
        for (path, text) in [(&self.cert, &pair.cert), (&self.key, &pair.key)] {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
    }
}

/// An HTTPS client that trusts `pair`'s certificate and nothing else.
fn client(pair: &Pair, http1_only: bool) -> reqwest::Client {
    llm_gateway::providers::http::install_crypto_provider();
    let cert = reqwest::Certificate::from_pem(pair.cert.as_bytes()).unwrap();
    let builder = reqwest::Client::builder().tls_certs_only([cert]);
    let builder = if http1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().unwrap()
}

/// The gateway (mock endpoints) in-process over TLS on 127.0.0.1:0.
struct TlsGateway {
    addr: SocketAddr,
    files: Files,
    certs: Certificates,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: JoinHandle<std::io::Result<()>>,
}

impl TlsGateway {
    async fn start(pair: &Pair, handshake_timeout: Duration, grace: Duration) -> TlsGateway {
        let loaded =
            llm_gateway::config::load_str(Path::new("tls.yaml"), CONFIG, &|_| None).unwrap();
        let gateway = Gateway::new(&loaded.config, &Settings::default()).unwrap();
        Self::serve(
            server::app(gateway, server::DEFAULT_BODY_LIMIT),
            pair,
            handshake_timeout,
            grace,
        )
        .await
    }

    async fn serve(
        app: axum::Router,
        pair: &Pair,
        handshake_timeout: Duration,
        grace: Duration,
    ) -> TlsGateway {
        let files = Files::new(pair);
        let certs = Certificates::load(&files.cert, &files.key).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let acceptor = certs.acceptor().with_handshake_timeout(handshake_timeout);
        let served = tokio::spawn(tls::serve(
            listener,
            app,
            acceptor,
            async move {
                let _ = stopped.await;
            },
            grace,
        ));
        TlsGateway {
            addr,
            files,
            certs,
            stop: Some(stop),
            served,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    fn shut_down(&mut self) {
        let _ = self.stop.take().unwrap().send(());
    }
}

impl Drop for TlsGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn chat_content(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    json["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn https_serves_rest_over_http1_and_over_h2_by_alpn() {
    let pair = self_signed();
    let gw = TlsGateway::start(&pair, tls::DEFAULT_HANDSHAKE_TIMEOUT, DEADLINE).await;
    for (http, version) in [
        (client(&pair, true), reqwest::Version::HTTP_11),
        (client(&pair, false), reqwest::Version::HTTP_2),
    ] {
        let health = http.get(gw.url("/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert_eq!(health.version(), version);

        let resp = http
            .post(gw.url("/gateway/chat/invocations"))
            .header("content-type", "application/json")
            .body(CHAT)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), version);
        assert_eq!(chat_content(&resp.text().await.unwrap()), "hello over tls");
    }
}

/// A tonic channel over a TLS connection made here (ALPN h2, trusting `pair` only), which
/// needs no TLS feature in tonic.
async fn grpc_channel(addr: SocketAddr, pair: &Pair) -> tonic::transport::Channel {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(pair.cert.as_bytes()).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let connect = tower::service_fn(move |_: http::Uri| {
        let connector = connector.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let stream = connector.connect(name, tcp).await?;
            assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
        }
    });
    tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(connect)
        .await
        .unwrap()
}

#[tokio::test]
async fn grpc_unary_and_streaming_calls_work_over_tls() {
    let pair = self_signed();
    let gw = TlsGateway::start(&pair, tls::DEFAULT_HANDSHAKE_TIMEOUT, DEADLINE).await;
    let mut chat =
        pb::chat_service_client::ChatServiceClient::new(grpc_channel(gw.addr, &pair).await);
    let resp = chat.chat(chat_request("chat")).await.unwrap().into_inner();
    let message = resp.choices[0].message.as_ref().unwrap();
    assert_eq!(message.content.as_deref(), Some("hello over tls"));

    let mut stream = chat
        .stream_chat(chat_request("chat"))
        .await
        .unwrap()
        .into_inner();
    let mut text = String::new();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        for choice in &chunk.unwrap().choices {
            let delta = choice.delta.as_ref().and_then(|d| d.content.as_deref());
            if let Some(t) = delta.filter(|t| !t.is_empty()) {
                text.push_str(t);
                chunks += 1;
            }
        }
    }
    assert_eq!(text, "hello over tls");
    assert_eq!(chunks, 3, "one chunk per word");
}

#[tokio::test]
async fn requests_see_the_client_address() {
    use axum::extract::ConnectInfo;
    let app = axum::Router::new().route(
        "/peer",
        axum::routing::get(
            |ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() },
        ),
    );
    let pair = self_signed();
    let gw = TlsGateway::serve(app, &pair, tls::DEFAULT_HANDSHAKE_TIMEOUT, DEADLINE).await;
    for http in [client(&pair, true), client(&pair, false)] {
        let resp = http.get(gw.url("/peer")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let peer: SocketAddr = resp.text().await.unwrap().parse().unwrap();
        assert_eq!(peer.ip().to_string(), "127.0.0.1");
        assert_ne!(peer.port(), gw.addr.port());
    }
}

#[tokio::test]
async fn plain_http_gets_a_readable_400_and_the_server_keeps_serving() {
    let pair = self_signed();
    let gw = TlsGateway::start(&pair, tls::DEFAULT_HANDSHAKE_TIMEOUT, DEADLINE).await;
    llm_gateway::providers::http::install_crypto_provider();
    let plain = reqwest::Client::new()
        .post(format!("http://{}/gateway/chat/invocations", gw.addr))
        .body(CHAT)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 400);
    assert!(
        plain.text().await.unwrap().contains("use an https:// URL"),
        "the 400 says what to do"
    );

    // Bytes that are neither TLS nor HTTP: the handshake fails and the connection closes.
    let mut junk = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    junk.write_all(&[0u8; 64]).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(DEADLINE, junk.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was not closed");

    let http = client(&pair, false);
    let resp = http.get(gw.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_silent_client_is_cut_off_at_the_handshake_timeout_without_holding_up_others() {
    let pair = self_signed();
    let timeout = Duration::from_millis(1500);
    let gw = TlsGateway::start(&pair, timeout, DEADLINE).await;
    let opened = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    // Half a ClientHello record header, then nothing.
    let mut stalled = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();

    let http = client(&pair, false);
    let resp = http.get(gw.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    for conn in [&mut silent, &mut stalled] {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(DEADLINE, conn.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "still open after {DEADLINE:?}");
        assert!(
            opened.elapsed() >= timeout - Duration::from_millis(50),
            "closed after {:?}, before the handshake timeout",
            opened.elapsed()
        );
    }
}

/// Opens an SSE chat stream on `slow` and returns it once its first event arrived.
async fn open_stream(http: &reqwest::Client, gw: &TlsGateway) -> reqwest::Response {
    let resp = http
        .post(gw.url("/gateway/slow/invocations"))
        .header("content-type", "application/json")
        .body(r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp
}

#[tokio::test]
async fn shutdown_lets_open_streams_finish_and_stops_accepting() {
    let pair = self_signed();
    let mut gw = TlsGateway::start(&pair, tls::DEFAULT_HANDSHAKE_TIMEOUT, DEADLINE).await;
    let http = client(&pair, false);
    let mut body = open_stream(&http, &gw).await.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));

    gw.shut_down();
    let until = Instant::now() + DEADLINE;
    while tokio::net::TcpStream::connect(gw.addr).await.is_ok() {
        assert!(Instant::now() < until, "still accepting after shutdown");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut rest = Vec::new();
    while let Some(chunk) = body.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    let rest = String::from_utf8(rest).unwrap();
    assert!(rest.contains("ten"), "the stream finished: {rest}");
    tokio::time::timeout(DEADLINE, &mut gw.served)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn the_drain_is_bounded_by_the_grace_period() {
    let pair = self_signed();
    let mut gw = TlsGateway::start(
        &pair,
        tls::DEFAULT_HANDSHAKE_TIMEOUT,
        Duration::from_millis(100),
    )
    .await;
    let http = client(&pair, false);
    let mut body = open_stream(&http, &gw).await.bytes_stream();
    body.next().await.unwrap().unwrap();

    gw.shut_down();
    tokio::time::timeout(DEADLINE, &mut gw.served)
        .await
        .expect("serve did not return after the grace period")
        .unwrap()
        .unwrap();
    // The stream needed ~1.5 s more: it was cut, not finished.
    let mut rest = Vec::new();
    let mut failed = false;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(c) => rest.extend_from_slice(&c),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    let rest = String::from_utf8_lossy(&rest);
    assert!(failed || !rest.contains("ten"), "{rest}");
}

#[tokio::test]
async fn a_reloaded_certificate_reaches_new_handshakes_and_open_connections_stay() {
    let (a, b) = (self_signed(), self_signed());
    let gw = TlsGateway::start(&a, tls::DEFAULT_HANDSHAKE_TIMEOUT, DEADLINE).await;
    let (trusts_a, trusts_b) = (client(&a, false), client(&b, false));
    assert_eq!(
        trusts_a
            .get(gw.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(trusts_b.get(gw.url("/health")).send().await.is_err());

    gw.files.replace(&b);
    assert!(gw.certs.reload().unwrap());
    assert_eq!(
        trusts_b
            .get(gw.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The h2 connection made with A before the reload is still open and serving.
    assert_eq!(
        trusts_a
            .get(gw.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A new handshake that trusts only A fails now.
    assert!(
        client(&a, false)
            .get(gw.url("/health"))
            .send()
            .await
            .is_err()
    );
}

// ---- the binary: flags, SIGHUP, exit codes ----

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
    /// Starts `llm-gateway start` and reads stderr until it listens on https://.
    fn start(config: &Path, cert: &Path, key: &Path) -> Process {
        let mut child = Command::new(BIN)
            .args(["start", "--host", "127.0.0.1", "--port", "0"])
            .args(["--no-watch-config", "--config-path"])
            .arg(config)
            .arg("--tls-cert")
            .arg(cert)
            .env("LLM_GATEWAY_TLS_KEY", key)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
        // Read stderr for as long as the process lives, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut startup = Vec::new();
        let addr = loop {
            let line = lines
                .blocking_recv()
                .unwrap_or_else(|| panic!("the gateway exited before listening: {startup:?}"));
            startup.push(line.clone());
            if let Some(rest) = line.split("listening on https://").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        Process {
            child,
            addr,
            startup,
            lines,
        }
    }

    /// Waits until each of `wanted` (needles all in one line) has been logged, in any order.
    async fn wait_for_lines(&mut self, wanted: &[&[&str]]) -> Vec<String> {
        let mut found: Vec<Option<String>> = vec![None; wanted.len()];
        let until = Instant::now() + DEADLINE;
        while found.iter().any(Option::is_none) {
            let line = tokio::time::timeout_at(until, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("not all of {wanted:?} logged: {found:?}"))
                .unwrap_or_else(|| panic!("the gateway exited before logging {wanted:?}"));
            for (needles, slot) in wanted.iter().zip(&mut found) {
                if slot.is_none() && needles.iter().all(|n| line.contains(n)) {
                    *slot = Some(line.clone());
                }
            }
        }
        found.into_iter().flatten().collect()
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
}

/// Whether a fresh client trusting only `pair` gets a 200 from `/health`.
async fn handshake_presents(gw: &Process, pair: &Pair) -> bool {
    match client(pair, false).get(gw.url("/health")).send().await {
        Ok(resp) => resp.status() == 200,
        Err(_) => false,
    }
}

#[tokio::test]
async fn the_binary_serves_https_and_reloads_the_certificate_on_sighup() {
    let (a, b) = (self_signed(), self_signed());
    let files = Files::new(&a);
    let config = files.cert.with_file_name("config.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let (cert, key) = (files.cert.clone(), files.key.clone());
    let mut gw = tokio::task::spawn_blocking(move || Process::start(&config, &cert, &key))
        .await
        .unwrap();
    let announced = gw.startup.iter().find(|l| l.contains("TLS: ")).unwrap();
    assert!(announced.contains("ALPN h2 and http/1.1"), "{announced}");
    assert!(handshake_presents(&gw, &a).await);
    let resp = client(&a, true)
        .post(gw.url("/gateway/chat/invocations"))
        .header("content-type", "application/json")
        .body(CHAT)
        .send()
        .await
        .unwrap();
    assert_eq!(chat_content(&resp.text().await.unwrap()), "hello over tls");

    files.replace(&b);
    gw.signal("-HUP");
    let until = Instant::now() + DEADLINE;
    while !handshake_presents(&gw, &b).await {
        assert!(Instant::now() < until, "still not presenting certificate B");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One SIGHUP, two listeners: the certificate and the config are both re-read.
    gw.wait_for_lines(&[
        &["TLS certificate reloaded"],
        &["configuration reloaded (reload requested)"],
    ])
    .await;
    assert!(!handshake_presents(&gw, &a).await);

    // An unusable new certificate: logged with its file, and B keeps serving.
    std::fs::write(&files.cert, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    gw.signal("-HUP");
    let cert = files.cert.display().to_string();
    let line = gw
        .wait_for_lines(&[&["TLS certificate not reloaded", &cert]])
        .await
        .remove(0);
    assert!(line.contains("ERROR"), "{line}");
    assert!(handshake_presents(&gw, &b).await);

    gw.signal("-TERM");
    // Waited for off the runtime: the clients' connection tasks must keep running to close.
    let status = tokio::task::spawn_blocking(move || gw.child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
}

/// Runs `llm-gateway start` with `args` and environment `env`; returns (exit code, stderr).
fn refused(args: &[&std::ffi::OsStr], env: &[(&str, &Path)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "start",
        "--port",
        "0",
        "--config-path",
        "examples/quickstart.yaml",
    ])
    .args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_refuses_half_a_pair_and_unusable_files_with_exit_2() {
    let pair = self_signed();
    let files = Files::new(&pair);

    let (code, stderr) = refused(&["--tls-cert".as_ref(), files.cert.as_os_str()], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");

    let missing = files.key.with_file_name("missing-key.pem");
    let (code, stderr) = refused(
        &[],
        &[
            ("LLM_GATEWAY_TLS_CERT", &files.cert),
            ("LLM_GATEWAY_TLS_KEY", &missing),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");

    // Key and certificate swapped: the certificate file holds no certificate.
    let (code, stderr) = refused(
        &[
            "--tls-cert".as_ref(),
            files.key.as_os_str(),
            "--tls-key".as_ref(),
            files.cert.as_os_str(),
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}: no certificate found", files.key.display())),
        "{stderr}"
    );
    assert!(
        !stderr.contains(pair.key.lines().nth(1).unwrap()),
        "{stderr}"
    );
}
