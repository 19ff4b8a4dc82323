//! The `llm-gateway` command: `start` serves a config, `validate` checks one. The flags of
//! `start` are those of `mlflow gateway start`, so existing launch scripts keep working.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use llm_gateway::config;
use llm_gateway::cors::Cors;
use llm_gateway::grpc::health::Health;
use llm_gateway::guard::{self, ConnectionLimits, DEFAULT_MAX_IN_FLIGHT};
use llm_gateway::otel::{Tracing, TracingOptions};
use llm_gateway::reload::{self, Reloader, WatchOptions};
use llm_gateway::routing::ratelimit::{FailureMode, LimitStore, RedisOptions};
use llm_gateway::server::{self, AppOptions, DEFAULT_BODY_LIMIT};
use llm_gateway::service::{Gateway, Settings};
use llm_gateway::telemetry::{self, LogFormat};
use llm_gateway::tls::{self, Certificates};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "llm-gateway",
    version,
    about = "A fast, MLflow-gateway-compatible LLM gateway: gRPC, grpc-web, MLflow REST and OpenAI REST on one port"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as human-readable `text` or as `json` (one object per line). Levels come from
    /// RUST_LOG (default `info`; access lines are INFO on the `access` target).
    #[arg(long, global = true, env = "LLM_GATEWAY_LOG_FORMAT", value_enum, default_value_t = LogFormatArg::Text)]
    log_format: LogFormatArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Subcommand)]
// Parsed once at startup: the size of the `start` variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Serve the endpoints of a gateway config.
    Start(StartArgs),
    /// Check a gateway config and exit: 0 and a summary if valid, 2 and the error if not.
    Validate(ConfigArg),
}

#[derive(Args)]
struct ConfigArg {
    /// The MLflow gateway YAML config.
    #[arg(long, env = "MLFLOW_GATEWAY_CONFIG")]
    config_path: PathBuf,
}

#[derive(Args)]
struct StartArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 5000)]
    port: u16,
    /// Worker threads (MLflow's worker processes); default: one per core.
    #[arg(long)]
    workers: Option<usize>,
    /// Reload the config when its file changes (the default, as MLflow does). SIGHUP always
    /// reloads.
    #[arg(long, overrides_with = "no_watch_config")]
    watch_config: bool,
    /// Do not watch the config file; reload only on SIGHUP.
    #[arg(long, overrides_with = "watch_config")]
    no_watch_config: bool,
    /// How often to check the config file for changes, in seconds.
    #[arg(long, env = "LLM_GATEWAY_CONFIG_POLL_SECONDS", default_value_t = reload::DEFAULT_POLL_INTERVAL.as_secs_f64())]
    config_poll_seconds: f64,
    /// Upstream timeout in seconds for endpoints without their own `timeouts.total_seconds`.
    #[arg(
        long,
        env = "MLFLOW_GATEWAY_ROUTE_TIMEOUT_SECONDS",
        default_value_t = 300.0
    )]
    route_timeout_seconds: f64,
    /// On SIGTERM/SIGINT, how long in-flight requests and streams may take to finish, in seconds.
    #[arg(long, env = "LLM_GATEWAY_SHUTDOWN_GRACE_SECONDS", default_value_t = server::DEFAULT_SHUTDOWN_GRACE.as_secs_f64())]
    shutdown_grace_seconds: f64,
    /// Largest accepted request body (REST) or message (gRPC), in bytes.
    #[arg(long, env = "LLM_GATEWAY_MAX_BODY_BYTES", default_value_t = DEFAULT_BODY_LIMIT)]
    max_body_bytes: usize,
    /// Largest request head (HTTP/1.1: 431 past it) or header list (HTTP/2), in bytes.
    #[arg(long, env = "LLM_GATEWAY_MAX_HEADER_BYTES", default_value_t = guard::conn::DEFAULT_MAX_HEADER_BYTES)]
    max_header_bytes: usize,
    /// HTTP/1.1: seconds a client has to send a request's headers, counted from the moment the
    /// connection is ready for a request; slower (slowloris) or silent connections are closed.
    #[arg(long, env = "LLM_GATEWAY_HEADER_READ_TIMEOUT_SECONDS", default_value_t = guard::conn::DEFAULT_HEADER_READ_TIMEOUT.as_secs_f64())]
    header_read_timeout_seconds: f64,
    /// Seconds a connection may stay open with no request in flight (HTTP/1.1 keep-alive, an
    /// HTTP/2 connection without streams) before it is closed.
    #[arg(long, env = "LLM_GATEWAY_IDLE_TIMEOUT_SECONDS", default_value_t = guard::conn::DEFAULT_IDLE_TIMEOUT.as_secs_f64())]
    idle_timeout_seconds: f64,
    /// HTTP/2: streams (calls) open at once on one connection.
    #[arg(long, env = "LLM_GATEWAY_HTTP2_MAX_CONCURRENT_STREAMS", default_value_t = guard::conn::DEFAULT_H2_MAX_CONCURRENT_STREAMS)]
    http2_max_concurrent_streams: u32,
    /// HTTP/2: seconds between keep-alive PINGs (a connection whose PING goes unanswered for
    /// 20 s is closed); 0 turns them off.
    #[arg(long, env = "LLM_GATEWAY_HTTP2_KEEPALIVE_SECONDS", default_value_t = guard::conn::DEFAULT_H2_KEEP_ALIVE_INTERVAL.as_secs_f64())]
    http2_keepalive_seconds: f64,
    /// Requests in flight at most (streams count until they end); past it requests are shed
    /// at once (503 + Retry-After, RESOURCE_EXHAUSTED). /health and /metrics are exempt.
    /// 0: no bound.
    #[arg(long, env = "LLM_GATEWAY_MAX_IN_FLIGHT", default_value_t = DEFAULT_MAX_IN_FLIGHT)]
    max_in_flight: usize,
    /// Where rate-limit counters live: `memory://` (this process, the default) or
    /// `redis://[[user]:password@]host[:port][/db]` (`rediss://` for TLS, `redis+unix:///path`
    /// for a socket) to share limits between replicas.
    #[arg(
        long,
        env = "MLFLOW_GATEWAY_RATE_LIMITS_STORAGE_URI",
        default_value = "memory://",
        hide_env_values = true
    )]
    rate_limits_storage_uri: String,
    /// With a Redis store: what limited endpoints do while Redis is unreachable. `open` serves
    /// requests without counting them; `closed` answers 503.
    #[arg(long, env = "LLM_GATEWAY_RATE_LIMITS_FAILURE_MODE", value_enum, default_value_t = FailureModeArg::Open)]
    rate_limits_failure_mode: FailureModeArg,
    /// With a Redis store: the longest a request waits for it, in milliseconds, before the
    /// failure mode applies.
    #[arg(
        long,
        env = "LLM_GATEWAY_RATE_LIMITS_TIMEOUT_MS",
        default_value_t = 250
    )]
    rate_limits_timeout_ms: u64,
    /// Also serve `GET /metrics` and `GET /health` on this port (on --host), for scrapers and
    /// probes kept apart from the API; requests there are not counted, logged or authenticated.
    #[arg(long, env = "LLM_GATEWAY_ADMIN_PORT")]
    admin_port: Option<u16>,
    /// Debugging only: log request and response bodies (prompts and completions) at DEBUG on
    /// the `bodies` target, with every configured secret redacted.
    #[arg(long, env = "LLM_GATEWAY_LOG_BODIES")]
    log_bodies: bool,
    /// Serve HTTPS and gRPC over TLS (ALPN h2 and http/1.1) on the port with this PEM
    /// certificate chain, the server's certificate first. Needs --tls-key. Re-read on SIGHUP.
    #[arg(long, env = "LLM_GATEWAY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC) of --tls-cert. Re-read on SIGHUP.
    #[arg(long, env = "LLM_GATEWAY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Export OpenTelemetry traces to this OTLP/gRPC collector (`http://host:4317`, or
    /// `https://`). Without it tracing is off and costs nothing.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// The `service.name` of exported traces.
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = "llm-gateway")]
    otel_service_name: String,
    /// Web origins allowed to call from a browser page (CORS), comma-separated and exact
    /// (`https://app.example.com,http://localhost:3000`), or `*` for any. Default: none
    /// (same-origin only, no CORS headers).
    #[arg(long, env = "LLM_GATEWAY_CORS_ALLOWED_ORIGINS")]
    cors_allowed_origins: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum FailureModeArg {
    Open,
    Closed,
}

fn main() -> ExitCode {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let cli = Cli::parse();
    let log_bodies = matches!(&cli.command, Command::Start(a) if a.log_bodies);
    let format = match cli.log_format {
        LogFormatArg::Text => LogFormat::Text,
        LogFormatArg::Json => LogFormat::Json,
    };
    tracing_subscriber::registry()
        .with(telemetry::logging::env_filter(log_bodies))
        .with(telemetry::logging::fmt_layer(format))
        .init();
    match cli.command {
        Command::Validate(args) => validate(&args.config_path),
        Command::Start(args) => start(args),
    }
}

fn load(path: &Path) -> Result<config::GatewayConfig, ExitCode> {
    report(config::load(path))
}

/// Logs a loaded config's warnings, or prints why it could not be loaded.
fn report(
    loaded: Result<config::Loaded, config::ConfigError>,
) -> Result<config::GatewayConfig, ExitCode> {
    match loaded {
        Ok(loaded) => {
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            Ok(loaded.config)
        }
        Err(e) => {
            eprintln!("error: invalid gateway configuration: {e}");
            Err(ExitCode::from(2))
        }
    }
}

#[allow(clippy::print_stdout)]
fn validate(path: &Path) -> ExitCode {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let count = |t: config::EndpointType| {
        cfg.endpoints
            .iter()
            .filter(|e| e.endpoint_type == t)
            .count()
    };
    println!(
        "{}: valid: {} endpoints ({} chat, {} completions, {} embeddings), {} routes",
        path.display(),
        cfg.endpoints.len(),
        count(config::EndpointType::Chat),
        count(config::EndpointType::Completions),
        count(config::EndpointType::Embeddings),
        cfg.routes.len()
    );
    ExitCode::SUCCESS
}

fn start(args: StartArgs) -> ExitCode {
    // The bytes the gateway starts from are the ones hot reload compares the file against.
    let source = match reload::Source::read(&args.config.config_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: invalid gateway configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let cfg = match report(source.load()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !(args.route_timeout_seconds.is_finite() && args.route_timeout_seconds > 0.0) {
        eprintln!("error: the route timeout must be a positive number of seconds");
        return ExitCode::from(2);
    }
    if !(args.shutdown_grace_seconds.is_finite() && args.shutdown_grace_seconds >= 0.0) {
        eprintln!("error: the shutdown grace must be zero or a positive number of seconds");
        return ExitCode::from(2);
    }
    if !(args.config_poll_seconds.is_finite() && args.config_poll_seconds > 0.0) {
        eprintln!("error: the config poll interval must be a positive number of seconds");
        return ExitCode::from(2);
    }
    let limits = match connection_limits(&args) {
        Ok(limits) => limits,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.rate_limits_timeout_ms == 0 {
        eprintln!("error: --rate-limits-timeout-ms must be a positive number of milliseconds");
        return ExitCode::from(2);
    }
    let cors = match Cors::parse(args.cors_allowed_origins.as_deref().unwrap_or_default()) {
        Ok(cors) => cors,
        Err(e) => {
            eprintln!("error: --cors-allowed-origins (LLM_GATEWAY_CORS_ALLOWED_ORIGINS): {e}");
            return ExitCode::from(2);
        }
    };
    let options = RedisOptions {
        timeout: Duration::from_millis(args.rate_limits_timeout_ms),
        failure_mode: match args.rate_limits_failure_mode {
            FailureModeArg::Open => FailureMode::Open,
            FailureModeArg::Closed => FailureMode::Closed,
        },
    };
    let limit_store = match LimitStore::from_uri(&args.rate_limits_storage_uri, options) {
        Ok(store) => store,
        Err(e) => {
            eprintln!(
                "error: --rate-limits-storage-uri (MLFLOW_GATEWAY_RATE_LIMITS_STORAGE_URI): {e}"
            );
            return ExitCode::from(2);
        }
    };
    // clap makes the two flags come together; a file that cannot serve is refused before start.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match Certificates::load(cert, key) {
            Ok(certs) => Some(certs),
            Err(e) => {
                eprintln!("error: --tls-cert/--tls-key: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(n) = args.workers {
        runtime.worker_threads(n.max(1));
    }
    let runtime = match runtime.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Before the app is built (it adds the server span layer only when tracing is on); the
    // exporter runs on a thread of its own, so it needs nothing of the runtime.
    let traces = TracingOptions::new(args.otlp_endpoint.as_deref(), &args.otel_service_name);
    let traces = match traces.as_ref().map(Tracing::start).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: --otlp-endpoint (OTEL_EXPORTER_OTLP_ENDPOINT): {e}");
            return ExitCode::from(2);
        }
    };
    if traces.is_some() {
        tracing::info!(
            "OpenTelemetry traces: exported over OTLP/gRPC as service '{}'",
            args.otel_service_name
        );
    }
    let code = runtime.block_on(run(args, cfg, source, limit_store, tls, cors, limits));
    if let Some(traces) = traces {
        // After the drain, so the spans of the last requests are exported too.
        if let Err(e) = traces.shutdown() {
            tracing::warn!("OpenTelemetry traces: {e}");
        }
    }
    code
}

async fn run(
    args: StartArgs,
    cfg: config::GatewayConfig,
    source: reload::Source,
    limit_store: LimitStore,
    tls: Option<Certificates>,
    cors: Cors,
    limits: ConnectionLimits,
) -> ExitCode {
    if let LimitStore::Redis(store) = &limit_store {
        // Bounded by the store's timeout; the gateway serves whether Redis answers or not.
        store.probe().await;
    }
    let settings = Settings {
        default_timeout: Duration::from_secs_f64(args.route_timeout_seconds),
        limit_store,
        log_bodies: args.log_bodies,
        ..Settings::default()
    };
    let gateway = match Gateway::new(&cfg, &settings) {
        Ok(g) => g,
        Err(e) => {
            eprintln!(
                "error: {}: cannot serve {e}",
                args.config.config_path.display()
            );
            return ExitCode::from(2);
        }
    };
    let addr = format!("{}:{}", args.host, args.port);
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Before the "listening" line: from then on a SIGHUP reloads instead of ending the process.
    let watch = args.watch_config || !args.no_watch_config;
    let reloading = Reloader::new(gateway.clone(), source, &cfg).spawn(WatchOptions {
        poll_interval: watch.then(|| Duration::from_secs_f64(args.config_poll_seconds)),
        sighup: true,
    });
    // Also before it: the certificate is re-read on the same SIGHUP.
    let tls_reloading = tls.as_ref().map(|certs| {
        tracing::info!(
            "TLS: {} (sha256 {}), ALPN h2 and http/1.1; re-read on SIGHUP",
            certs.cert_path().display(),
            certs.fingerprint()
        );
        certs.reload_on_sighup()
    });
    let local: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(
        "llm-gateway listening on {}://{} ({} endpoints, {} routes): gRPC, grpc-web, MLflow REST and OpenAI REST",
        if tls.is_some() { "https" } else { "http" },
        local.map_or(addr.clone(), |a| a.to_string()),
        cfg.endpoints.len(),
        cfg.routes.len()
    );
    let admin = match args.admin_port {
        Some(port) => match start_admin(&args.host, port, &gateway) {
            Ok(admin) => Some(admin),
            Err(code) => return code,
        },
        None => None,
    };
    let health = Health::new();
    let app = server::app_with(
        gateway,
        AppOptions {
            body_limit: args.max_body_bytes,
            cors,
            health: health.clone(),
            max_in_flight: args.max_in_flight,
            routes: None,
        },
    );
    let grace = Duration::from_secs_f64(args.shutdown_grace_seconds);
    // The gRPC health service reports NOT_SERVING from the moment the drain begins.
    let shutdown = health.not_serving_after(server::shutdown_signal());
    let served = match &tls {
        Some(certs) => {
            let acceptor = certs.acceptor();
            tls::serve_with_limits(listener, app, acceptor, shutdown, grace, &limits).await
        }
        None => server::serve_with_limits(listener, app, shutdown, grace, &limits).await,
    };
    reloading.stop().await;
    if let Some((stop, thread)) = admin {
        let _ = stop.send(());
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    if let Some(task) = tls_reloading {
        task.stop().await;
    }
    match served {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The connection limits of the flags, or what is wrong with them.
fn connection_limits(args: &StartArgs) -> Result<ConnectionLimits, String> {
    let seconds = |flag: &str, value: f64| {
        if value.is_finite() && value > 0.0 {
            Ok(Duration::from_secs_f64(value))
        } else {
            Err(format!("--{flag} must be a positive number of seconds"))
        }
    };
    if args.max_header_bytes < 1024 {
        return Err("--max-header-bytes must be at least 1024".into());
    }
    if args.http2_max_concurrent_streams == 0 {
        return Err("--http2-max-concurrent-streams must be at least 1".into());
    }
    let keepalive = args.http2_keepalive_seconds;
    Ok(ConnectionLimits {
        max_header_bytes: args.max_header_bytes,
        header_read_timeout: seconds(
            "header-read-timeout-seconds",
            args.header_read_timeout_seconds,
        )?,
        idle_timeout: seconds("idle-timeout-seconds", args.idle_timeout_seconds)?,
        h2_max_concurrent_streams: args.http2_max_concurrent_streams,
        h2_keep_alive_interval: if keepalive == 0.0 {
            None
        } else {
            Some(seconds("http2-keepalive-seconds", keepalive)?)
        },
    })
}

/// Binds the admin port and serves `/metrics` and `/health` there until told to stop, on a
/// thread and runtime of its own: the operating system schedules it apart from the API's
/// workers, so probes and scrapes are answered promptly even when those are saturated.
fn start_admin(
    host: &str,
    port: u16,
    gateway: &Gateway,
) -> Result<
    (
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    ),
    ExitCode,
> {
    let addr = format!("{host}:{port}");
    let listener = match std::net::TcpListener::bind(&addr).and_then(|l| {
        l.set_nonblocking(true)?;
        Ok(l)
    }) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr} (--admin-port): {e}");
            return Err(ExitCode::FAILURE);
        }
    };
    tracing::info!(
        "admin listening on http://{}: /metrics, /health",
        listener
            .local_addr()
            .map_or(addr.clone(), |a| a.to_string())
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics = gateway.metrics().clone();
    let serve = move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::error!("admin server failed to start: {e}");
                return;
            }
        };
        runtime.block_on(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let served = match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => telemetry::admin::serve(listener, metrics, shutdown).await,
                Err(e) => Err(e),
            };
            if let Err(e) = served {
                tracing::error!("admin server failed: {e}");
            }
        });
    };
    match std::thread::Builder::new()
        .name("admin".into())
        .spawn(serve)
    {
        Ok(thread) => Ok((stop, thread)),
        Err(e) => {
            eprintln!("error: cannot start the admin server's thread: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}
