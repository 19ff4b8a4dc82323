//! The `llm-gateway` command: `start` serves a config, `validate` checks one. The flags of
//! `start` are those of `mlflow gateway start`, so existing launch scripts keep working.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use llm_gateway::config;
use llm_gateway::server::{self, DEFAULT_BODY_LIMIT};
use llm_gateway::service::{Gateway, Settings};

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
}

#[derive(Subcommand)]
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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => validate(&args.config_path),
        Command::Start(args) => start(args),
    }
}

fn load(path: &Path) -> Result<config::GatewayConfig, ExitCode> {
    match config::load(path) {
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
    let cfg = match load(&args.config.config_path) {
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
    runtime.block_on(run(args, cfg))
}

async fn run(args: StartArgs, cfg: config::GatewayConfig) -> ExitCode {
    let settings = Settings {
        default_timeout: Duration::from_secs_f64(args.route_timeout_seconds),
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
    let local: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(
        "llm-gateway listening on http://{} ({} endpoints, {} routes): gRPC, grpc-web, MLflow REST and OpenAI REST",
        local.map_or(addr.clone(), |a| a.to_string()),
        cfg.endpoints.len(),
        cfg.routes.len()
    );
    let app = server::app(gateway, args.max_body_bytes);
    let grace = Duration::from_secs_f64(args.shutdown_grace_seconds);
    match server::serve(listener, app, server::shutdown_signal(), grace).await {
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
