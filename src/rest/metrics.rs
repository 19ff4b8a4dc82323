//! `GET /metrics` on the main port: the gateway's Prometheus metrics, rendered by
//! [`crate::telemetry`] (which also serves them on the admin port, `--admin-port`).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::RestState;

route_table! {
    /// The metrics route.
    pub fn routes() {
        GET "/metrics" => metrics,
    }
}

/// Whether `path` is one of this module's routes (for the trailing-slash redirect).
pub fn is_route(path: &str) -> bool {
    ROUTES.iter().any(|(_, route)| *route == path)
}

async fn metrics(State(st): State<RestState>, headers: HeaderMap) -> Response {
    crate::telemetry::metrics_response(st.gateway.metrics(), &headers)
}
