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
//! (ALPN h2 / http/1.1) with the same drain; [`serve`] stays the plain-text path. Both run
//! every connection with the same limits ([`crate::guard::conn`]: header size, header-read and
//! idle timeouts, HTTP/2 limits).

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use tower::ServiceExt;

use crate::connect::ConnectApi;
use crate::cors::Cors;
use crate::grpc::GrpcApi;
use crate::grpc::health::Health;
use crate::guard::{CatchPanicLayer, ConnectionLimits, LoadShedLayer};
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
///    Inside it, [`LoadShedLayer`]: past `max_in_flight` requests in flight, refuses at once
///    (503 / `RESOURCE_EXHAUSTED`; `/health`, `/metrics` and the gRPC health check are
///    exempt); then [`CatchPanicLayer`]: a panic below becomes a 500 for that request only;
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
    /// The bound on requests in flight, past which requests are shed (0: no bound).
    pub max_in_flight: usize,
    /// Extra routes that get the first pick of every request (any protocol), behind all the
    /// layers; requests they do not match go on to the normal dispatch. For embedding the
    /// gateway and for tests; the `llm-gateway` binary adds none.
    pub routes: Option<Router>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            body_limit: DEFAULT_BODY_LIMIT,
            cors: Cors::same_origin(),
            health: Health::new(),
            max_in_flight: crate::guard::DEFAULT_MAX_IN_FLIGHT,
            routes: None,
        }
    }
}

/// The whole application with `options`; its layers are listed on [`app`].
pub fn app_with(gateway: Gateway, options: AppOptions) -> Router {
    let body_limit = options.body_limit;
    let telemetry = TelemetryLayer::new(gateway.metrics().clone());
    let shed = LoadShedLayer::new(options.max_in_flight, gateway.metrics().clone());
    // Before dispatch, so every protocol is authenticated by the same code, once.
    let auth = crate::auth::AuthLayer::new(gateway.clone());
    let grpc = GrpcApi::new(gateway.clone())
        .routes(body_limit, &options.health)
        .into_axum_router()
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(tower::util::MapResponseLayer::new(
            crate::guard::grpc_decode_errors as fn(Response) -> Response,
        ));
    // Connect calls to the gRPC-only services (health, reflection) go through to these routes.
    let connect = ConnectApi::new(gateway.clone(), body_limit).with_grpc(grpc.clone());
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
    let app = match options.routes {
        Some(routes) => routes.fallback_service(dispatch),
        None => Router::new().fallback_service(dispatch),
    };
    let app = app.layer(auth);
    let app = match options.cors.layer() {
        Some(cors) => app.layer(cors),
        None => app,
    };
    let app = app.layer(CatchPanicLayer).layer(shed).layer(telemetry);
    // Outermost, when tracing is on: the server span covers authentication and access logging.
    crate::otel::server::traced(app)
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and drains
/// in-flight requests and streams for at most `grace`; whatever is still open then is closed.
/// Connections get the default [`ConnectionLimits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    serve_with_limits(listener, app, shutdown, grace, &ConnectionLimits::default()).await
}

/// [`serve`] with these connection limits.
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    limits: &ConnectionLimits,
) -> std::io::Result<()> {
    let builder = std::sync::Arc::new(limits.builder());
    let idle = limits.idle_timeout;
    crate::guard::conn::accept_loop(listener, shutdown, grace, move |tcp, peer, stop| {
        let (app, builder) = (app.clone(), builder.clone());
        async move {
            crate::guard::conn::serve_connection(tcp, peer, app, &builder, idle, stop).await;
        }
    })
    .await
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
