//! MLflow's gateway REST API (spec §2.1-2.7), byte-compatible with MLflow 3.x: health, the
//! endpoint listings (2.0, legacy 2.0 `gateway/routes`, 3.0), traffic-route metadata, the two
//! invocation URL families, and the limits routes MLflow answers with 501.
//!
//! An invocation's body is parsed by the schema of the endpoint's type (as MLflow dispatches), so
//! a chat body sent to an embeddings endpoint fails validation the way it does in MLflow.

use axum::body::Body;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

use super::{RestState, codec, error_response, json_bytes, json_value, read_body, sse_response};
use crate::auth::Access;
use crate::config::EndpointType;
use crate::error::{FieldError, GatewayError, LocPart};
use crate::pb::v1 as pb;
use crate::routing::ratelimit::Family;
use crate::service::{CallOptions, DEFAULT_PAGE_SIZE};

route_table! {
    /// The MLflow routes.
    pub fn routes() {
        GET "/" => root,
        GET "/health" => health,
        GET "/api/2.0/endpoints/" => list_endpoints,
        GET "/api/2.0/endpoints/{name}" => get_endpoint,
        GET "/api/3.0/gateway/endpoint/{name}" => get_endpoint,
        GET "/api/2.0/gateway/routes/" => list_legacy_routes,
        GET "/api/2.0/gateway/routes/{name}" => get_legacy_route,
        GET "/api/3.0/gateway/route/{name}" => get_traffic_route,
        GET "/api/2.0/endpoints/limits/{name}" => get_limits,
        GET "/api/2.0/gateway/limits/{name}" => get_limits,
        POST "/api/2.0/endpoints/limits/" => set_limits,
        POST "/api/2.0/gateway/limits/" => set_limits,
        POST "/endpoints/{name}/invocations" => endpoints_invocations,
        POST "/gateway/{name}/invocations" => gateway_invocations,
    }
}

/// Whether `path` is one of this module's routes.
pub fn is_route(path: &str) -> bool {
    ROUTES
        .iter()
        .any(|(_, pattern)| matches_pattern(pattern, path))
}

fn matches_pattern(pattern: &str, path: &str) -> bool {
    let (mut p, mut s) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) => {
                let wildcard = a.starts_with('{') && !b.is_empty();
                if !wildcard && a != b {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

async fn root() -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    resp.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/docs"));
    resp
}

async fn health() -> Response {
    json_bytes(StatusCode::OK, br#"{"status":"OK"}"#.to_vec())
}

// ---------------------------------------------------------------------------------------------
// Metadata

#[derive(Serialize)]
struct ModelJson<'a> {
    name: Option<&'a str>,
    provider: &'a str,
}

#[derive(Serialize)]
struct LimitJson<'a> {
    calls: u64,
    key: Option<&'a str>,
    renewal_period: &'a str,
}

#[derive(Serialize)]
struct EndpointJson<'a> {
    name: &'a str,
    endpoint_type: &'a str,
    model: ModelJson<'a>,
    endpoint_url: &'a str,
    limit: Option<LimitJson<'a>>,
}

#[derive(Serialize)]
struct LegacyRouteJson<'a> {
    name: &'a str,
    route_type: &'a str,
    model: ModelJson<'a>,
    route_url: &'a str,
    limit: Option<LimitJson<'a>>,
}

fn model_json(e: &pb::Endpoint) -> ModelJson<'_> {
    ModelJson {
        name: e.model.as_ref().and_then(|m| m.name.as_deref()),
        provider: e.model.as_ref().map(|m| m.provider.as_str()).unwrap_or(""),
    }
}

fn limit_json(e: &pb::Endpoint) -> Option<LimitJson<'_>> {
    e.limit.as_ref().map(|l| LimitJson {
        calls: l.calls,
        key: l.key.as_deref(),
        renewal_period: &l.renewal_period,
    })
}

fn endpoint_json(e: &pb::Endpoint) -> EndpointJson<'_> {
    EndpointJson {
        name: &e.name,
        endpoint_type: &e.endpoint_type,
        model: model_json(e),
        endpoint_url: &e.endpoint_url,
        limit: limit_json(e),
    }
}

fn legacy_json(e: &pb::Endpoint) -> LegacyRouteJson<'_> {
    LegacyRouteJson {
        name: &e.name,
        route_type: &e.endpoint_type,
        model: model_json(e),
        route_url: &e.endpoint_url,
        limit: limit_json(e),
    }
}

fn to_json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => json_bytes(StatusCode::OK, bytes),
        Err(e) => error_response(&GatewayError::Internal(format!(
            "could not encode the response: {e}"
        ))),
    }
}

#[derive(serde::Deserialize)]
struct PageQuery {
    page_token: Option<String>,
}

/// One page of endpoints under `key`, each rendered by `render`: MLflow's current and legacy
/// listings differ only in those two. (A metadata route, off the request path, so building a
/// JSON value here costs nothing that matters.)
fn page(
    st: &RestState,
    q: &PageQuery,
    access: &Access,
    key: &'static str,
    render: fn(&pb::Endpoint) -> serde_json::Value,
) -> Response {
    match st.gateway.list_endpoints(
        q.page_token.as_deref().unwrap_or(""),
        DEFAULT_PAGE_SIZE,
        access,
    ) {
        Ok(page) => {
            let mut out = serde_json::Map::new();
            out.insert(key.to_owned(), page.endpoints.iter().map(render).collect());
            out.insert(
                "next_page_token".to_owned(),
                Some(page.next_page_token)
                    .filter(|t| !t.is_empty())
                    .map_or(serde_json::Value::Null, serde_json::Value::String),
            );
            json_value(StatusCode::OK, &serde_json::Value::Object(out))
        }
        Err(e) => error_response(&e),
    }
}

fn to_value<T: Serialize>(v: T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

async fn list_endpoints(
    State(st): State<RestState>,
    access: Access,
    Query(q): Query<PageQuery>,
) -> Response {
    page(&st, &q, &access, "endpoints", |e| {
        to_value(endpoint_json(e))
    })
}

async fn get_endpoint(
    State(st): State<RestState>,
    access: Access,
    Path(name): Path<String>,
) -> Response {
    match st.gateway.get_endpoint(&name, &access) {
        Ok(e) => to_json(&endpoint_json(&e)),
        Err(e) => error_response(&e),
    }
}

fn route_not_found(name: &str) -> Response {
    error_response(&GatewayError::NotFound(format!(
        "The route '{name}' is not present or active on the server. Please verify the route name."
    )))
}

async fn list_legacy_routes(
    State(st): State<RestState>,
    access: Access,
    Query(q): Query<PageQuery>,
) -> Response {
    page(&st, &q, &access, "routes", |e| to_value(legacy_json(e)))
}

async fn get_legacy_route(
    State(st): State<RestState>,
    access: Access,
    Path(name): Path<String>,
) -> Response {
    match st.gateway.get_endpoint(&name, &access) {
        Ok(e) => to_json(&legacy_json(&e)),
        Err(e @ (GatewayError::Unauthenticated(_) | GatewayError::PermissionDenied(_))) => {
            error_response(&e)
        }
        Err(_) => route_not_found(&name),
    }
}

async fn get_traffic_route(
    State(st): State<RestState>,
    access: Access,
    Path(name): Path<String>,
) -> Response {
    #[derive(Serialize)]
    struct Dest<'a> {
        name: &'a str,
        traffic_percentage: u32,
    }
    #[derive(Serialize)]
    struct RouteJson<'a> {
        name: &'a str,
        task_type: &'a str,
        destinations: Vec<Dest<'a>>,
        routing_strategy: &'a str,
    }
    match st.gateway.route(&name, &access) {
        Ok(Some(r)) => to_json(&RouteJson {
            name: &r.name,
            task_type: r.task_type.as_str(),
            destinations: r
                .destinations
                .iter()
                .map(|d| Dest {
                    name: &d.name,
                    traffic_percentage: d.traffic_percentage,
                })
                .collect(),
            routing_strategy: "TRAFFIC_SPLIT",
        }),
        Ok(None) => route_not_found(&name),
        Err(e) => error_response(&e),
    }
}

async fn get_limits() -> Response {
    json_value(
        StatusCode::NOT_IMPLEMENTED,
        &serde_json::json!({"detail": "The get_limits API is not available yet."}),
    )
}

async fn set_limits(State(st): State<RestState>, body: Body) -> Response {
    let bytes = match read_body(body, st.body_limit).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    if let Err(e) = validate_set_limits(&bytes) {
        return error_response(&e);
    }
    json_value(
        StatusCode::NOT_IMPLEMENTED,
        &serde_json::json!({"detail": "The set_limits API is not available yet."}),
    )
}

/// MLflow validates `{"route": str, "limits": [object]}` before answering 501.
fn validate_set_limits(bytes: &[u8]) -> Result<(), GatewayError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| {
        GatewayError::field(
            "json_invalid",
            vec![LocPart::Index(0)],
            "JSON decode error",
            serde_json::json!({}),
            Some(serde_json::json!({"error": "Expecting value"})),
        )
    })?;
    let mut errors = Vec::new();
    let obj = value.as_object();
    match obj.and_then(|o| o.get("route")) {
        None => errors.push(missing("route", &value)),
        Some(serde_json::Value::String(_)) => {}
        Some(other) => errors.push(FieldError {
            kind: "string_type",
            loc: vec!["route".into()],
            msg: "Input should be a valid string".into(),
            input: other.clone(),
            ctx: None,
        }),
    }
    match obj.and_then(|o| o.get("limits")) {
        None => errors.push(missing("limits", &value)),
        Some(serde_json::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if !item.is_object() {
                    errors.push(FieldError {
                        kind: "dict_type",
                        loc: vec!["limits".into(), LocPart::Index(i)],
                        msg: "Input should be a valid dictionary".into(),
                        input: item.clone(),
                        ctx: None,
                    });
                }
            }
        }
        Some(other) => errors.push(FieldError {
            kind: "list_type",
            loc: vec!["limits".into()],
            msg: "Input should be a valid list".into(),
            input: other.clone(),
            ctx: None,
        }),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(GatewayError::Validation(errors))
    }
}

fn missing(field: &str, input: &serde_json::Value) -> FieldError {
    FieldError {
        kind: "missing",
        loc: vec![field.into()],
        msg: "Field required".into(),
        input: input.clone(),
        ctx: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Invocations

async fn endpoints_invocations(
    State(st): State<RestState>,
    Path(name): Path<String>,
    req: axum::extract::Request,
) -> Response {
    invocations(st, name, Family::Endpoints, req).await
}

async fn gateway_invocations(
    State(st): State<RestState>,
    Path(name): Path<String>,
    req: axum::extract::Request,
) -> Response {
    invocations(st, name, Family::Gateway, req).await
}

/// The client's IP, as rate limits count it (the peer address; proxies are not trusted, as in
/// MLflow). Unknown only for in-process calls without a socket.
fn client_ip(req: &axum::extract::Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

async fn invocations(
    st: RestState,
    name: String,
    family: Family,
    req: axum::extract::Request,
) -> Response {
    let access = Access::of(req.extensions());
    // Before the name is looked up and the limit counted: a key may not learn which names
    // exist outside its grant, nor spend quota on them.
    if let Err(e) = st.gateway.authorize(&access, &name) {
        return error_response(&e);
    }
    // MLflow registers one route per endpoint name, so an unknown name is FastAPI's plain 404.
    let Some(ty) = st.gateway.target_type(&name) else {
        return json_value(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"detail": "Not Found"}),
        );
    };
    let caller = Caller {
        ip: client_ip(&req),
        family,
    };
    let bytes = match read_body(req.into_body(), st.body_limit).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    let opts = CallOptions {
        access,
        ..CallOptions::default()
    };
    match invoke(&st, name, ty, caller, opts, &bytes).await {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

/// Who is calling, for the rate limit.
#[derive(Clone, Copy)]
struct Caller {
    ip: IpAddr,
    family: Family,
}

/// Parses by the endpoint's type, then counts the call against the limit (a 422 is not
/// counted, as in MLflow), then serves it.
async fn invoke(
    st: &RestState,
    name: String,
    ty: EndpointType,
    caller: Caller,
    opts: CallOptions,
    bytes: &[u8],
) -> Result<Response, GatewayError> {
    match ty {
        EndpointType::Chat => {
            let parsed = codec::parse_chat(bytes)?;
            st.gateway
                .check_limit(&name, caller.family, caller.ip)
                .await?;
            let mut req = parsed.request;
            req.endpoint = name;
            req.model = parsed.model;
            if parsed.stream {
                let stream = st.gateway.stream_chat(req, opts).await?;
                Ok(sse_response(stream, codec::chat_chunk))
            } else {
                let resp = st.gateway.chat(req, opts).await?;
                Ok(json_bytes(StatusCode::OK, codec::chat_response(&resp)))
            }
        }
        EndpointType::Completions => {
            let parsed = codec::parse_completion(bytes)?;
            st.gateway
                .check_limit(&name, caller.family, caller.ip)
                .await?;
            let mut req = parsed.request;
            req.endpoint = name;
            req.model = parsed.model;
            if parsed.stream {
                let stream = st.gateway.stream_complete(req, opts).await?;
                Ok(sse_response(stream, codec::completion_chunk))
            } else {
                let resp = st.gateway.complete(req, opts).await?;
                Ok(json_bytes(
                    StatusCode::OK,
                    codec::completion_response(&resp),
                ))
            }
        }
        EndpointType::Embeddings => {
            let parsed = codec::parse_embed(bytes)?;
            st.gateway
                .check_limit(&name, caller.family, caller.ip)
                .await?;
            let mut req = parsed.request;
            req.endpoint = name;
            req.model = parsed.model;
            let resp = st.gateway.embed(req, opts).await?;
            Ok(json_bytes(StatusCode::OK, codec::embed_response(&resp)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_patterns_match() {
        assert!(is_route("/api/2.0/endpoints/"));
        assert!(is_route("/gateway/chat/invocations"));
        assert!(!is_route("/gateway//invocations"));
        assert!(!is_route("/api/2.0/endpoints"));
        assert!(is_route("/health"));
        assert!(!is_route("/health/"));
    }

    #[test]
    fn set_limits_body_is_validated() {
        let e = validate_set_limits(br#"{"limits": 3}"#).unwrap_err();
        let body = e.rest_body();
        assert_eq!(body["detail"][0]["type"], "missing");
        assert_eq!(
            body["detail"][0]["loc"],
            serde_json::json!(["body", "route"])
        );
        assert_eq!(body["detail"][1]["type"], "list_type");
        assert!(validate_set_limits(br#"{"route":"r","limits":[{}]}"#).is_ok());
    }
}
