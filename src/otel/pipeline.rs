//! The export pipeline: an OTLP/gRPC span exporter behind the SDK's batch processor, started once
//! per process and flushed on shutdown.
//!
//! The exporter is built on, and its tonic channel lives on, a dedicated thread with a one-thread
//! runtime of its own (`otel-export`). The batch processor exports from its own thread too, so
//! no request task ever waits on the collector, the pipeline can start before (and be flushed
//! after) the serving runtime, and a flush works whatever that runtime is doing, even with
//! `--workers 1`.
//!
//! The SDK reads the standard variables it owns: `OTEL_EXPORTER_OTLP_HEADERS` and `_TIMEOUT`,
//! `OTEL_TRACES_SAMPLER` (default: follow the parent's sampling decision, sample new traces),
//! `OTEL_BSP_*` (batching) and `OTEL_RESOURCE_ATTRIBUTES`.

use std::thread::JoinHandle;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::TRACER;

/// How long the final flush may take on shutdown before the remaining spans are dropped.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why tracing could not start or flush.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    /// The endpoint is not an `http://` or `https://` URL.
    #[error(
        "the OTLP endpoint must be an http:// or https:// URL of an OTLP/gRPC collector (such as http://localhost:4317)"
    )]
    InvalidEndpoint,
    /// The exporter could not be built.
    #[error("could not build the OTLP exporter: {0}")]
    Exporter(String),
    /// The exporter thread could not be started.
    #[error("could not start the OTLP exporter thread: {0}")]
    Thread(#[from] std::io::Error),
    /// Tracing was started already in this process.
    #[error("tracing is already started")]
    AlreadyStarted,
    /// Spans could not be flushed to the collector.
    #[error("could not export spans: {0}")]
    Flush(String),
}

/// What tracing needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracingOptions {
    /// The collector's OTLP/gRPC URL.
    pub endpoint: String,
    /// The `service.name` resource attribute.
    pub service_name: String,
}

impl TracingOptions {
    /// The options for an endpoint, if one is configured; `None` (tracing off) without one,
    /// or when `OTEL_SDK_DISABLED=true` (the standard switch to disable the SDK).
    pub fn new(endpoint: Option<&str>, service_name: &str) -> Option<TracingOptions> {
        let endpoint = endpoint.map(str::trim).filter(|e| !e.is_empty())?;
        let disabled =
            std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if disabled {
            return None;
        }
        Some(TracingOptions {
            endpoint: endpoint.to_owned(),
            service_name: service_name.to_owned(),
        })
    }
}

/// The running pipeline. [`Tracing::shutdown`] flushes what is still queued.
pub struct Tracing {
    provider: SdkTracerProvider,
    thread: ExportThread,
}

impl std::fmt::Debug for Tracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracing")
    }
}

impl Tracing {
    /// Starts exporting and turns the request-path hooks on, for the rest of the process. Call
    /// it before building the app ([`crate::server::app`] adds the server layer only when on).
    pub fn start(options: &TracingOptions) -> Result<Tracing, OtelError> {
        if super::enabled() {
            return Err(OtelError::AlreadyStarted);
        }
        let endpoint = options.endpoint.as_str();
        let https = if endpoint.starts_with("https://") {
            true
        } else if endpoint.starts_with("http://") {
            false
        } else {
            return Err(OtelError::InvalidEndpoint);
        };
        crate::providers::http::install_crypto_provider();
        let endpoint = endpoint.to_owned();
        let (thread, exporter) = ExportThread::spawn(move || {
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint);
            if https {
                builder = builder
                    .with_tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots());
            }
            builder
                .build()
                .map_err(|e| OtelError::Exporter(e.to_string()))
        })?;
        let resource = Resource::builder()
            .with_service_name(options.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let scope = opentelemetry::InstrumentationScope::builder("llm-gateway")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        TRACER
            .set(provider.tracer_with_scope(scope))
            .map_err(|_| OtelError::AlreadyStarted)?;
        Ok(Tracing { provider, thread })
    }

    /// Exports every span ended so far; blocks until the collector answered (or the export
    /// timed out). Not for an async context's thread: use `spawn_blocking`.
    pub fn force_flush(&self) -> Result<(), OtelError> {
        self.provider
            .force_flush()
            .map_err(|e| OtelError::Flush(e.to_string()))
    }

    /// Flushes the spans still queued (for at most [`SHUTDOWN_TIMEOUT`]) and stops exporting.
    /// Blocks: call it once the server has stopped, outside the serving runtime.
    pub fn shutdown(mut self) -> Result<(), OtelError> {
        let flushed = self
            .provider
            .shutdown_with_timeout(SHUTDOWN_TIMEOUT)
            .map_err(|e| OtelError::Flush(e.to_string()));
        self.thread.stop();
        flushed
    }
}

/// The thread that drives the exporter's runtime until it is stopped.
struct ExportThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl ExportThread {
    /// Starts the thread and its runtime, and builds the exporter there (its channel's
    /// background task is spawned onto that runtime).
    fn spawn(
        build: impl FnOnce() -> Result<SpanExporter, OtelError> + Send + 'static,
    ) -> Result<(ExportThread, SpanExporter), OtelError> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (built, exporter) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("otel-export".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = built.send(Err(OtelError::Thread(e)));
                        return;
                    }
                };
                let exporter = {
                    let _entered = runtime.enter();
                    build()
                };
                let ok = exporter.is_ok();
                if built.send(exporter).is_ok() && ok {
                    runtime.block_on(async {
                        // Resolves on `stop` and when the sender is dropped alike.
                        let _ = stopped.await;
                    });
                }
            })?;
        let mut thread = ExportThread {
            stop: Some(stop),
            handle: Some(handle),
        };
        match exporter.recv() {
            Ok(Ok(exporter)) => Ok((thread, exporter)),
            Ok(Err(e)) => {
                thread.stop();
                Err(e)
            }
            Err(_) => {
                thread.stop();
                Err(OtelError::Exporter("the exporter thread ended".into()))
            }
        }
    }

    fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for ExportThread {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_need_an_endpoint() {
        assert_eq!(TracingOptions::new(None, "llm-gateway"), None);
        assert_eq!(TracingOptions::new(Some("  "), "llm-gateway"), None);
        let on = TracingOptions::new(Some(" http://127.0.0.1:4317 "), "gw").unwrap();
        assert_eq!(on.endpoint, "http://127.0.0.1:4317");
        assert_eq!(on.service_name, "gw");
    }

    #[test]
    fn an_endpoint_without_a_scheme_is_refused() {
        let options = TracingOptions::new(Some("127.0.0.1:4317"), "gw").unwrap();
        let err = Tracing::start(&options).unwrap_err();
        assert!(matches!(err, OtelError::InvalidEndpoint), "{err}");
        // Refused by the exporter, on its thread: the error comes back and tracing stays off.
        let options = TracingOptions::new(Some("http://bad host:4317"), "gw").unwrap();
        let err = Tracing::start(&options).unwrap_err();
        assert!(matches!(err, OtelError::Exporter(_)), "{err}");
        assert!(!super::super::enabled());
    }
}
