//! The REST facades: MLflow's gateway API ([`mlflow`]) and OpenAI's API ([`openai`]), both over
//! the same service layer, plus what they share: the request-body limit answered with a JSON 413,
//! JSON and SSE responses, errors in MLflow's FastAPI shapes, and FastAPI's generic behaviour for
//! unknown paths (404 JSON), wrong methods (405 JSON with `allow`) and trailing-slash mismatches
//! (307 to the other form).
//!
//! Beside them, [`bridge`]: the REST routes generated at build time from the proto's
//! `google.api.http` annotations, over the same RPC adapters gRPC uses.
//!
//! REST JSON types never leave this module: [`codec`] turns bodies into proto requests and proto
//! responses into MLflow's exact bytes. [`openapi`] describes the routes (`/openapi.json`,
//! `/docs`) and `playground` serves the browser page `/playground`; each module declares its
//! routes once with `route_table!`, and [`served_routes`] lists them all.

// First: the macro is visible only to the modules declared after it.
#[macro_use]
mod route_table;

mod bridge;
pub mod codec;
mod docs_page;
mod metrics;
pub mod mlflow;
pub mod openai;
pub mod openapi;
mod playground;
mod sse;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;

use crate::error::GatewayError;
use crate::service::Gateway;

pub use sse::sse_response;

/// What every REST handler needs.
#[derive(Clone)]
pub struct RestState {
    /// The services.
    pub gateway: Gateway,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
}

/// The REST router: MLflow and OpenAI routes and their documentation, with FastAPI's
/// 404/405/redirect behaviour. Called once at startup: the OpenAPI document and the docs page
/// are rendered here.
pub fn router(state: RestState) -> Router {
    let routes = mlflow::routes()
        .merge(openai::routes())
        .merge(bridge::routes())
        .merge(metrics::routes())
        .merge(playground::routes())
        .merge(openapi::router(openapi::ApiDocs::new(&openapi::document())));
    // With tracing on, server spans are named after the route that matched.
    crate::otel::server::name_routes(routes)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found_or_redirect)
        .with_state(state)
}

/// Every (method, path template) the REST router serves, from the modules' `route_table!`s:
/// what `tests/openapi.rs` holds `/openapi.json` to.
pub fn served_routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    mlflow::ROUTES
        .iter()
        .chain(openai::ROUTES)
        .chain(metrics::ROUTES)
        .chain(openapi::ROUTES)
        .chain(playground::ROUTES)
        .copied()
        .chain(bridge::served_routes())
}

/// Whether `path` belongs to the REST bridge generated from the proto annotations.
pub fn is_bridge_path(path: &str) -> bool {
    bridge::owns(path)
}

/// A gateway error as the REST bridge answers it (Google's JSON error shape), for the layers
/// in front of dispatch that refuse a bridge request (API keys, load shedding, panics).
pub fn bridge_error_response(e: &GatewayError) -> Response {
    bridge::refusal(e)
}

/// Reads a request body up to `limit` bytes; a larger one is a 413 JSON error.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, GatewayError> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(GatewayError::PayloadTooLarge { limit })
            } else {
                Err(GatewayError::BadRequest(
                    "The request body could not be read.".into(),
                ))
            }
        }
    }
}

/// A JSON response from already-serialised bytes.
pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A JSON response from a value.
pub fn json_value(status: StatusCode, value: &serde_json::Value) -> Response {
    json_bytes(status, value.to_string().into_bytes())
}

/// A gateway error as MLflow's gateway answers it.
pub fn error_response(e: &GatewayError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json_value(status, &e.rest_body());
    if let Some(secs) = e.retry_after_secs() {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if matches!(e, GatewayError::Unauthenticated(_)) {
        // RFC 9110 §15.5.2: a 401 names the scheme that would be accepted.
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        error_response(&self)
    }
}

async fn method_not_allowed() -> Response {
    json_value(
        StatusCode::METHOD_NOT_ALLOWED,
        &serde_json::json!({"detail": "Method Not Allowed"}),
    )
}

/// Unknown path: FastAPI redirects to the other trailing-slash form when that form is a route,
/// else answers 404 `{"detail":"Not Found"}`.
async fn not_found_or_redirect(uri: Uri, headers: axum::http::HeaderMap) -> Response {
    let path = uri.path();
    let other = match path.strip_suffix('/') {
        Some(stripped) if !stripped.is_empty() => stripped.to_owned(),
        _ => format!("{path}/"),
    };
    if mlflow::is_route(&other)
        || openai::is_route(&other)
        || openapi::is_route(&other)
        || metrics::is_route(&other)
        || playground::is_route(&other)
    {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let mut location = format!("http://{host}{other}");
        if let Some(q) = uri.query() {
            location.push('?');
            location.push_str(q);
        }
        if let Ok(value) = HeaderValue::from_str(&location) {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::TEMPORARY_REDIRECT;
            resp.headers_mut().insert(header::LOCATION, value);
            return resp;
        }
    }
    json_value(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"detail": "Not Found"}),
    )
}
