//! Rate limits shared through Redis: a real `redis-server` per test (started on a free port,
//! killed on drop) and two or more in-process gateways pointed at it, as replicas behind a load
//! balancer would be. Without `redis-server` these tests fail: `scripts/test.sh` installs it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Reply, TestGateway};
use llm_gateway::pb::v1 as pb;
use llm_gateway::routing::ratelimit::{FailureMode, LimitStore, RedisOptions};
use llm_gateway::service::Settings;
use pb::chat_service_client::ChatServiceClient;

const CONFIG: &str = r#"
endpoints:
  - name: limited
    endpoint_type: llm/v1/chat
    model:
      provider: openai
      name: gpt-4o-mini
      config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}
    limit: {renewal_period: minute, calls: 3}
  - name: short
    endpoint_type: llm/v1/chat
    model:
      provider: openai
      name: gpt-4o-mini
      config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}
    limit: {renewal_period: 10 seconds, calls: 1}
  - name: free
    endpoint_type: llm/v1/chat
    model:
      provider: openai
      name: gpt-4o-mini
      config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}
"#;

const HI: &str = r#"{"messages":[{"role":"user","content":"hi"}]}"#;

/// A bound on every wait in these tests: nothing here may take longer when things work.
const DEADLINE: Duration = Duration::from_secs(10);

/// A private `redis-server` on 127.0.0.1, without persistence, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// `redis-server` from PATH, /usr/bin or /usr/sbin.
    fn binary() -> PathBuf {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "redis-server is not installed (looked in PATH, /usr/bin and /usr/sbin): \
                     these tests need a real Redis. scripts/test.sh installs it from Debian's \
                     packages (apt-get install redis-server); or install it yourself"
                )
            })
    }

    /// Starts a server on a free port.
    async fn start() -> RedisServer {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::start_on(free_port()).await {
                Ok(server) => return server,
                // Another process took the port between our probe and redis-server's bind.
                Err(why) => last = why,
            }
        }
        panic!("redis-server did not start: {last}");
    }

    /// Starts a server on `port` and waits (bounded) until it answers PING.
    async fn start_on(port: u16) -> Result<RedisServer, String> {
        let args = ["--port".to_owned(), port.to_string()];
        Self::spawn(port, &args, || ping(port)).await
    }

    /// Starts a server that speaks only TLS, on a free port, with `tls`'s server certificate.
    async fn start_tls(tls: &TestCa) -> RedisServer {
        let port = free_port();
        let dir = tls.dir.path();
        let args = [
            "--port".to_owned(),
            "0".to_owned(),
            "--tls-port".to_owned(),
            port.to_string(),
            "--tls-cert-file".to_owned(),
            dir.join("server.pem").display().to_string(),
            "--tls-key-file".to_owned(),
            dir.join("server.key").display().to_string(),
            "--tls-ca-cert-file".to_owned(),
            dir.join("ca.pem").display().to_string(),
            "--tls-auth-clients".to_owned(),
            "no".to_owned(),
        ];
        let ca = std::fs::read(dir.join("ca.pem")).unwrap();
        let url = format!("rediss://localhost:{port}");
        let ready = || {
            let (url, ca) = (url.clone(), ca.clone());
            async move {
                let probe = async {
                    let client = redis::Client::build_with_tls(
                        url.as_str(),
                        redis::TlsCertificates {
                            client_tls: None,
                            root_cert: Some(ca),
                        },
                    )?;
                    let mut conn = client.get_multiplexed_async_connection().await?;
                    redis::cmd("PING").query_async::<String>(&mut conn).await
                };
                matches!(
                    tokio::time::timeout(Duration::from_millis(500), probe).await,
                    Ok(Ok(_))
                )
            }
        };
        Self::spawn(port, &args, ready)
            .await
            .unwrap_or_else(|e| panic!("redis-server (TLS) did not start: {e}"))
    }

    async fn spawn<F, Fut>(port: u16, args: &[String], ready: F) -> Result<RedisServer, String>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("redis.log");
        let child = Command::new(Self::binary())
            .args(args)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run redis-server: {e}"));
        let mut server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            if ready().await {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                return Err(format!("exited with {status}: {}", read_log(&log)));
            }
            if started.elapsed() > DEADLINE {
                return Err(format!("no PONG within {DEADLINE:?}: {}", read_log(&log)));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server and waits for it to exit.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A plain client connection, for inspecting and editing keys.
    async fn client(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Whether something on `port` answers a RESP PING with PONG.
async fn ping(port: u16) -> bool {
    let probe = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(b"PING\r\n").await?;
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(&buf == b"+PONG\r\n")
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), probe).await,
        Ok(Ok(true))
    )
}

fn settings(uri: &str, failure_mode: FailureMode) -> Settings {
    let options = RedisOptions {
        timeout: Duration::from_millis(300),
        failure_mode,
    };
    Settings {
        connect_timeout: Duration::from_secs(2),
        limit_store: LimitStore::from_uri(uri, options).unwrap(),
        ..Settings::default()
    }
}

/// A gateway replica counting in the Redis at `uri` (each with its own store and connection,
/// as separate processes would have).
async fn replica(uri: &str, failure_mode: FailureMode) -> TestGateway {
    TestGateway::start_with_settings(CONFIG, settings(uri, failure_mode)).await
}

/// An HTTP client whose every request is bounded, calling from `source` (any 127.x address is
/// loopback on Linux, so a second source address is a second client IP).
fn client_from(source: IpAddr) -> reqwest::Client {
    llm_gateway::providers::http::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .local_address(source)
        .build()
        .unwrap()
}

async fn invoke(http: &reqwest::Client, gw: &TestGateway, path: &str) -> Reply {
    let resp = http
        .post(gw.url(path))
        .header("content-type", "application/json")
        .body(HI)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: no answer (a hang would time out here): {e}"));
    Reply::read(resp).await
}

fn assert_limited(r: &Reply, describe: &str, retry_after: std::ops::RangeInclusive<u64>) {
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(
        r.json(),
        serde_json::json!({ "error": format!("Rate limit exceeded: {describe}") })
    );
    let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after.contains(&secs), "Retry-After {secs}");
}

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

#[tokio::test]
async fn two_replicas_share_one_limit_per_family_and_client() {
    let redis = RedisServer::start().await;
    let a = replica(&redis.url(), FailureMode::Open).await;
    let b = replica(&redis.url(), FailureMode::Open).await;
    let http = client_from(LOCAL);
    let path = "/gateway/limited/invocations";

    // Alternating replicas: calls 3 is 3 in total, not 3 each.
    for gw in [&a, &b, &a] {
        assert_eq!(invoke(&http, gw, path).await.status, 200);
    }
    let over = invoke(&http, &b, path).await;
    assert_limited(&over, "3 per 1 minute", 55..=60);
    assert_limited(&invoke(&http, &a, path).await, "3 per 1 minute", 55..=60);

    // The counter is one key with MLflow's window: opened at the first hit, a minute long.
    let mut conn = redis.client().await;
    let key = "llm-gateway:rl:limited:3/60:gateway:127.0.0.1";
    let count: u64 = redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 5, "refused hits are counted too, as `limits` does");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((50_000..=60_000).contains(&ttl), "PTTL {ttl}");

    // Other families, other clients and unlimited endpoints are untouched.
    assert_eq!(
        invoke(&http, &b, "/endpoints/limited/invocations")
            .await
            .status,
        200
    );
    let other = client_from(OTHER);
    assert_eq!(invoke(&other, &a, path).await.status, 200);
    assert_eq!(
        invoke(&http, &a, "/gateway/free/invocations").await.status,
        200
    );

    // A replica started later (or a restart) sees the same counters...
    let c = replica(&redis.url(), FailureMode::Open).await;
    assert_limited(&invoke(&http, &c, path).await, "3 per 1 minute", 55..=60);
    // ...and a changed limit starts fresh ones.
    let changed = CONFIG.replace("calls: 3}", "calls: 4}");
    let d =
        TestGateway::start_with_settings(&changed, settings(&redis.url(), FailureMode::Open)).await;
    assert_eq!(invoke(&http, &d, path).await.status, 200);
}

#[tokio::test]
async fn grpc_calls_share_the_limit_in_their_own_family() {
    let redis = RedisServer::start().await;
    let a = replica(&redis.url(), FailureMode::Open).await;
    let b = replica(&redis.url(), FailureMode::Open).await;
    let request = || pb::ChatRequest {
        endpoint: "limited".into(),
        messages: vec![pb::Message {
            role: "user".into(),
            content: Some("hi".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut ca = ChatServiceClient::new(a.channel().await);
    let mut cb = ChatServiceClient::new(b.channel().await);
    ca.chat(request()).await.unwrap();
    cb.chat(request()).await.unwrap();
    ca.chat(request()).await.unwrap();
    let status = cb.chat(request()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status
            .message()
            .contains("Rate limit exceeded: 3 per 1 minute"),
        "{status:?}"
    );
    // REST has its own counters.
    let http = client_from(LOCAL);
    assert_eq!(
        invoke(&http, &a, "/gateway/limited/invocations")
            .await
            .status,
        200
    );
    let mut conn = redis.client().await;
    let count: u64 = redis::cmd("GET")
        .arg("llm-gateway:rl:limited:3/60:grpc:127.0.0.1")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 4);
}

#[tokio::test]
async fn windows_reset_when_their_key_expires() {
    let redis = RedisServer::start().await;
    let a = replica(&redis.url(), FailureMode::Open).await;
    let b = replica(&redis.url(), FailureMode::Open).await;
    let http = client_from(LOCAL);
    let path = "/gateway/short/invocations";
    let key = "llm-gateway:rl:short:1/10:gateway:127.0.0.1";
    let mut conn = redis.client().await;

    assert_eq!(invoke(&http, &a, path).await.status, 200);
    // Retry-After is the window's time left, from Redis: 10 s less what has passed.
    assert_limited(&invoke(&http, &b, path).await, "1 per 10 second", 9..=10);

    // 1.4 s left: Retry-After rounds up to 2.
    let _: () = redis::cmd("PEXPIRE")
        .arg(key)
        .arg(1_400)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_limited(&invoke(&http, &a, path).await, "1 per 10 second", 1..=2);

    // The window ends (simulated): both replicas admit the client again, once.
    let _: () = redis::cmd("DEL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(invoke(&http, &b, path).await.status, 200);
    assert_limited(&invoke(&http, &a, path).await, "1 per 10 second", 9..=10);

    // A real expiry: shorten the window to 50 ms and poll (bounded) until it has passed.
    let _: () = redis::cmd("PEXPIRE")
        .arg(key)
        .arg(50)
        .query_async(&mut conn)
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let exists: u64 = redis::cmd("EXISTS")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        if exists == 0 {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the key never expired");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(invoke(&http, &a, path).await.status, 200);
}

/// Captures the log lines of everything on this (current-thread) test runtime.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .matches(needle)
            .count()
    }
}

#[tokio::test]
async fn redis_outage_fails_open_or_closed_logs_once_and_recovers() {
    let logs = Logs::default();
    let writer = logs.clone();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    );
    let mut redis = RedisServer::start().await;
    let port = redis.port;
    let open = replica(&redis.url(), FailureMode::Open).await;
    let closed = replica(&redis.url(), FailureMode::Closed).await;
    let http = client_from(LOCAL);
    let path = "/gateway/limited/invocations";
    assert_eq!(invoke(&http, &open, path).await.status, 200);
    assert_eq!(invoke(&http, &closed, path).await.status, 200);

    redis.kill();
    for _ in 0..4 {
        let started = Instant::now();
        // Open: served, even past the limit, since nothing counts.
        assert_eq!(invoke(&http, &open, path).await.status, 200);
        // Closed: 503 with a detail.
        let r = invoke(&http, &closed, path).await;
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(
            r.json(),
            serde_json::json!({"detail": "Rate limits cannot be checked: the rate-limit store is unreachable."})
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    // Unlimited endpoints never ask Redis.
    assert_eq!(
        invoke(&http, &closed, "/gateway/free/invocations")
            .await
            .status,
        200
    );
    // One warning per replica for the whole outage, not one per request.
    assert_eq!(logs.count("rate-limit store unreachable"), 2);
    assert_eq!(logs.count("failing open"), 1);
    assert_eq!(logs.count("failing closed"), 1);

    // Redis comes back (empty, on the same port): the replicas reconnect by themselves.
    let _redis = RedisServer::start_on(port).await.unwrap();
    let started = Instant::now();
    while invoke(&http, &closed, path).await.status != 200 {
        assert!(started.elapsed() < DEADLINE, "never reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    while logs.count("reachable again") < 2 {
        // The open replica recovers on its next call too.
        assert_eq!(invoke(&http, &open, path).await.status, 200);
        assert!(
            started.elapsed() < DEADLINE,
            "the open replica never reconnected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(logs.count("rate-limit store unreachable"), 2);
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        text.contains(&format!("redis://127.0.0.1:{port}")),
        "{text}"
    );
}

#[tokio::test]
async fn a_redis_that_never_answers_does_not_hang_requests() {
    // Accepts connections and reads, but never replies.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut conn in listener.incoming().flatten().take(16) {
            let mut buf = [0u8; 256];
            let _ = conn.set_read_timeout(Some(Duration::from_millis(10)));
            let _ = conn.read(&mut buf);
            held.push(conn);
        }
        std::thread::sleep(DEADLINE);
        drop(held);
    });
    let uri = format!("redis://127.0.0.1:{port}");
    let open = replica(&uri, FailureMode::Open).await;
    let closed = replica(&uri, FailureMode::Closed).await;
    let http = client_from(LOCAL);
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(
            invoke(&http, &open, "/endpoints/limited/invocations")
                .await
                .status,
            200
        );
        assert_eq!(
            invoke(&http, &closed, "/endpoints/limited/invocations")
                .await
                .status,
            503
        );
        // Each waits at most the store's 300 ms timeout, plus the upstream call.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn the_binary_refuses_unknown_stores_without_showing_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.yaml");
    std::fs::File::create(&config)
        .unwrap()
        .write_all(b"endpoints: []\n")
        .unwrap();
    for uri in [
        "memcached://:s3cret@localhost:11211",
        "redis://:s3cret@host/x",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_llm-gateway"))
            .args(["start", "--port", "0", "--config-path"])
            .arg(&config)
            .env("MLFLOW_GATEWAY_RATE_LIMITS_STORAGE_URI", uri)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{uri}: {stderr}");
        assert!(
            stderr.contains("MLFLOW_GATEWAY_RATE_LIMITS_STORAGE_URI"),
            "{stderr}"
        );
        assert!(!stderr.contains("s3cret"), "{stderr}");
    }
}

/// A throwaway certificate authority and a server certificate for `localhost` it signed, made
/// with the `openssl` command.
struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    fn new() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run openssl ({e}): scripts/test.sh installs it with redis-server"
                    )
                });
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
            &[
                "-subj",
                "/CN=llm-gateway test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat());
        run(&[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat());
        std::fs::write(
            dir.path().join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        TestCa { dir }
    }
}

/// The `llm-gateway` binary, serving `config` on a free port; killed on drop.
struct GatewayProcess {
    child: Child,
    addr: String,
    stderr: PathBuf,
}

impl GatewayProcess {
    async fn start(config: &Path, args: &[&str], envs: &[(&str, &Path)]) -> GatewayProcess {
        let port = free_port();
        let stderr = config.with_extension(format!("{port}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_llm-gateway"))
            .args(["start", "--port", &port.to_string(), "--config-path"])
            .arg(config)
            .args(args)
            .envs(envs.iter().map(|(k, v)| (k, v.as_os_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut gw = GatewayProcess {
            child,
            addr: format!("http://127.0.0.1:{port}"),
            stderr,
        };
        let http = client_from(LOCAL);
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/health", gw.addr)).send().await
                && r.status() == 200
            {
                return gw;
            }
            if let Some(status) = gw.child.try_wait().unwrap() {
                panic!("llm-gateway exited with {status}: {}", gw.log());
            }
            assert!(
                started.elapsed() < DEADLINE,
                "llm-gateway did not start: {}",
                gw.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log(&self) -> String {
        read_log(&self.stderr)
    }

    async fn invoke(&self, path: &str) -> Reply {
        let resp = client_from(LOCAL)
            .post(format!("{}{path}", self.addr))
            .header("content-type", "application/json")
            .body(HI)
            .send()
            .await
            .unwrap();
        Reply::read(resp).await
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `rediss://`: the certificate is verified against the trusted roots (here a test CA made
/// trusted through SSL_CERT_FILE), and an untrusted one fails like an unreachable Redis.
#[tokio::test]
async fn rediss_uses_tls_with_verified_certificates() {
    let ca = TestCa::new();
    let redis = RedisServer::start_tls(&ca).await;
    let dir = ca.dir.path();
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        "endpoints:\n  - name: limited\n    endpoint_type: llm/v1/chat\n    \
         model: {provider: mock, name: mock-model, config: {}}\n    \
         limit: {renewal_period: minute, calls: 1}\n",
    )
    .unwrap();
    let uri = format!("rediss://localhost:{}", redis.port);
    let args = [
        "--rate-limits-storage-uri",
        uri.as_str(),
        "--rate-limits-failure-mode",
        "closed",
    ];
    let path = "/gateway/limited/invocations";

    let trusted =
        GatewayProcess::start(&config, &args, &[("SSL_CERT_FILE", &dir.join("ca.pem"))]).await;
    let first = trusted.invoke(path).await;
    assert_eq!(first.status, 200, "{} {}", first.body, trusted.log());
    assert_limited(&trusted.invoke(path).await, "1 per 1 minute", 55..=60);
    assert!(
        trusted.log().contains("rate limits are counted in Redis"),
        "{}",
        trusted.log()
    );

    let empty = dir.join("no-roots.pem");
    std::fs::write(&empty, "").unwrap();
    let untrusted = GatewayProcess::start(&config, &args, &[("SSL_CERT_FILE", &empty)]).await;
    let refused = untrusted.invoke(path).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    let log = untrusted.log();
    assert_eq!(
        log.matches("rate-limit store unreachable").count(),
        1,
        "{log}"
    );
}

/// A Redis restart between two calls is not an outage: the dropped connection is retried
/// once, within the request, so nothing fails and nothing is logged.
#[tokio::test]
async fn a_redis_restart_between_calls_is_not_an_outage() {
    let logs = Logs::default();
    let writer = logs.clone();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    );
    let mut redis = RedisServer::start().await;
    let port = redis.port;
    let gw = replica(&redis.url(), FailureMode::Closed).await;
    let http = client_from(LOCAL);
    let path = "/gateway/limited/invocations";
    assert_eq!(invoke(&http, &gw, path).await.status, 200);
    redis.kill();
    let _redis = RedisServer::start_on(port).await.unwrap();
    // The new server is empty: the window starts again.
    for _ in 0..3 {
        let r = invoke(&http, &gw, path).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_limited(&invoke(&http, &gw, path).await, "3 per 1 minute", 55..=60);
    assert_eq!(logs.count("unreachable"), 0);
}

/// A connection that could not be set up (here: AUTH refused, as Redis has no password yet)
/// is not kept: once the server accepts the password, the gateway connects afresh.
#[tokio::test]
async fn a_refused_connection_setup_is_retried_afresh() {
    let logs = Logs::default();
    let writer = logs.clone();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    );
    let redis = RedisServer::start().await;
    let uri = format!("redis://:s3cret-pw@127.0.0.1:{}", redis.port);
    let gw = replica(&uri, FailureMode::Closed).await;
    let http = client_from(LOCAL);
    let path = "/gateway/limited/invocations";
    assert_eq!(invoke(&http, &gw, path).await.status, 503);

    let mut conn = redis.client().await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("s3cret-pw")
        .query_async(&mut conn)
        .await
        .unwrap();
    let started = Instant::now();
    while invoke(&http, &gw, path).await.status != 200 {
        assert!(started.elapsed() < DEADLINE, "never reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert_eq!(
        text.matches("rate-limit store unreachable").count(),
        1,
        "{text}"
    );
    assert_eq!(text.matches("reachable again").count(), 1, "{text}");
    assert!(text.contains("redis://:redacted@127.0.0.1"), "{text}");
    assert!(!text.contains("s3cret-pw"), "{text}");
}
