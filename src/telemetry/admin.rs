//! The HTTP side of telemetry: the `/metrics` answer (served on the main port by the REST
//! router, and on the admin port) and the admin router (`--admin-port`), which serves
//! `GET /metrics` and `GET /health` on a second listener. Admin requests are not counted,
//! logged or authenticated, so scrapes and probes leave the request metrics alone; keep the
//! admin port off public networks.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;

use super::metrics::{Exposition, Metrics};

/// `GET /metrics`: every metric, in the Prometheus text format, or OpenMetrics when `Accept`
/// asks for `application/openmetrics-text`.
pub fn metrics_response(metrics: &Metrics, headers: &HeaderMap) -> Response {
    let format = Exposition::negotiate(headers.get(header::ACCEPT));
    let (status, content_type, body) = match metrics.render(format) {
        Ok(text) => (StatusCode::OK, format.content_type(), text),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            "the metrics could not be encoded\n".to_owned(),
        ),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// The admin port's routes: `GET /metrics` and `GET /health`.
pub fn admin_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move |headers: HeaderMap| {
                let metrics = metrics.clone();
                async move { metrics_response(&metrics, &headers) }
            }),
        )
        .route(
            "/health",
            get(|| async {
                let mut resp = Response::new(Body::from(r#"{"status":"OK"}"#));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                resp
            }),
        )
}

/// Serves the admin routes on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, admin_router(metrics))
        .with_graceful_shutdown(shutdown)
        .await
}
