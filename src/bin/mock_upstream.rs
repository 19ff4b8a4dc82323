//! `mock-upstream`: the deterministic OpenAI-compatible mock upstream as a process, for the Python
//! client tests and `scripts/bench.sh`. Never a production path; see `llm_gateway::mock_upstream`.
//!
//! Prints `listening on http://HOST:PORT` as its first stdout line (then flushes) so a script can
//! start it on port 0 and read the port back. Stops on SIGINT or SIGTERM.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use llm_gateway::mock_upstream::{MockOptions, MockUpstream};

// The benchmark measures the gateway against this process; a fast allocator keeps the mock from
// being the bottleneck.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "mock-upstream",
    about = "Deterministic OpenAI/Azure-compatible mock upstream (tests and benchmarks only)"
)]
struct Args {
    /// Address to bind (keep it on loopback).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Port to bind; 0 picks a free one (read it from the first stdout line).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Record every request (readable at `GET /__mock/requests`); off for benchmarks.
    #[arg(long)]
    record: bool,
    /// Delay of the `slow` behaviour, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    slow_ms: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mock-upstream: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.port)).await?;
    let opts = MockOptions {
        record: args.record,
        slow_ms: args.slow_ms,
    };
    let mock = MockUpstream::start(listener, opts).await?;
    announce(&mock.base_url())?;
    wait_for_stop().await?;
    mock.shutdown().await;
    Ok(())
}

/// The one line scripts parse; flushed because stdout is a pipe there, not a terminal.
#[allow(clippy::print_stdout)]
fn announce(base_url: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {base_url}")?;
    out.flush()
}

async fn wait_for_stop() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
