//! One listener for every protocol. HTTP/1.1 and HTTP/2 (h2c, prior knowledge) are negotiated
//! per connection; each request is then dispatched on its content type:
//!
//! 1. `application/grpc*` (gRPC, and grpc-web through tonic-web's translation layer) goes to
//!    the tonic services;
//! 2. any other request to a typed service's path (`/llmgateway.v1.*`) is the Connect
//!    protocol ([`crate::connect`]: JSON or Protobuf, unary, streaming or GET);
//! 3. everything else goes to the REST router (MLflow and OpenAI facades, with its JSON 404).
//!
//! gRPC, grpc-web and Connect share URL paths, so the path alone cannot decide. Before
//! dispatch, when gateway API keys are configured, [`crate::auth::AuthLayer`] authenticates
//! the request (and refuses it in its own protocol). Shutdown is graceful:
//! on the signal the listener closes and in-flight requests and streams may finish, up to a
//! drain deadline after which the remaining connections are closed and `serve` returns. The
//! gRPC health service turns NOT_SERVING as the drain begins when the caller wraps the shutdown
//! future with [`Health::not_serving_after`] (as `main` does).
//! With `--tls-cert`, [`crate::tls::serve`] serves the same [`app`] behind a TLS handshake
//! (ALPN h2 / http/1.1) with the same drain; [`serve`] stays the plain-text path.

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use axum::serve::ListenerExt;
use tower::ServiceExt;

use crate::connect::ConnectApi;
use crate::cors::Cors;
use crate::grpc::GrpcApi;
use crate::grpc::health::Health;
use crate::rest::{self, RestState};
use crate::service::Gateway;
use crate::telemetry::TelemetryLayer;

/// Default drain deadline on shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Default request-body limit: 16 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

fn is_grpc(req: &Request) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// The whole application: every surface over `gateway`.
///
/// The layers around the dispatch, outermost first (each sees what those above it did):
///
/// 0. when OpenTelemetry tracing is on, the server span ([`crate::otel::server`]);
/// 1. [`TelemetryLayer`]: settles the request id (`x-request-id`, on every response: 404s,
///    refusals and gRPC errors included), counts requests in flight, and reports each request
///    (metrics, one access line) when its response body ends, so requests the layers below
///    refuse are counted too;
/// 2. CORS ([`crate::cors`]), when cross-origin callers are allowed: answers preflights
///    before authentication (browsers send them without credentials) and adds its headers to
///    every answer, refusals included;
/// 3. [`crate::auth::AuthLayer`]: gateway API keys, when configured;
/// 4. the dispatch by content type and path to the gRPC, Connect or REST surface.
///
/// This is [`app_with`] with the default options: same-origin only, and a health state that
/// stays SERVING.
pub fn app(gateway: Gateway, body_limit: usize) -> Router {
    app_with(
        gateway,
        AppOptions {
            body_limit,
            ..AppOptions::default()
        },
    )
}

/// What [`app_with`] builds the application with.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Largest accepted request body (REST) or message (gRPC), in bytes.
    pub body_limit: usize,
    /// The web origins allowed to call cross-origin.
    pub cors: Cors,
    /// The state the gRPC health service reports; flip it when the drain begins
    /// ([`Health::not_serving_after`] on the shutdown future).
    pub health: Health,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            body_limit: DEFAULT_BODY_LIMIT,
            cors: Cors::same_origin(),
            health: Health::new(),
        }
    }
}

/// The whole application with `options`; its layers are listed on [`app`].
pub fn app_with(gateway: Gateway, options: AppOptions) -> Router {
    let body_limit = options.body_limit;
    let telemetry = TelemetryLayer::new(gateway.metrics().clone());
    // Before dispatch, so every protocol is authenticated by the same code, once.
    let auth = crate::auth::AuthLayer::new(gateway.clone());
    let grpc = GrpcApi::new(gateway.clone())
        .routes(body_limit, &options.health)
        .into_axum_router()
        .layer(tonic_web::GrpcWebLayer::new());
    let connect = ConnectApi::new(gateway.clone(), body_limit);
    let rest = rest::router(RestState {
        gateway,
        body_limit,
    });
    let dispatch = tower::service_fn(move |req: Request| {
        let (grpc, connect, rest) = (grpc.clone(), connect.clone(), rest.clone());
        async move {
            let resp: Response = if is_grpc(&req) {
                grpc.oneshot(req).await?
            } else if crate::connect::is_connect_path(req.uri().path()) {
                connect.handle(req).await
            } else {
                rest.oneshot(req).await?
            };
            Ok::<_, Infallible>(resp)
        }
    });
    let app = Router::new().fallback_service(dispatch).layer(auth);
    let app = match options.cors.layer() {
        Some(cors) => app.layer(cors),
        None => app,
    };
    let app = app.layer(telemetry);
    // Outermost, when tracing is on: the server span covers authentication and access logging.
    crate::otel::server::traced(app)
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and drains
/// in-flight requests and streams for at most `grace`; whatever is still open then is closed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        // Small request/response exchanges: send each write at once.
        let _ = tcp.set_nodelay(true);
    });
    let draining = Arc::new(tokio::sync::Notify::new());
    let signal = draining.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        // A stored permit: the deadline below starts even if it is not awaited yet.
        signal.notify_one();
    })
    .into_future();
    tokio::select! {
        result = server => result,
        () = async {
            draining.notified().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(
                "shutdown: requests still in flight after {:.1}s; closing them",
                grace.as_secs_f64()
            );
            Ok(())
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received: draining in-flight requests");
}
