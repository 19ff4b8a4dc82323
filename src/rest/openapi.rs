//! `/openapi.json` and `/docs`: the OpenAPI 3.1 document of the REST facades, and the readable
//! page rendered from it (as MLflow serves FastAPI's).
//!
//! The document's static part is `openapi.json` beside this file, written by hand next to the
//! handlers it describes; `tests/openapi.rs` holds it to the routes actually served (both ways)
//! and checks every `$ref`. [`document`] assembles the served document once, at startup: it
//! parses the static part, fills in what only the build knows (the version) and adds what every
//! response shares (the `x-request-id` header) rather than repeating it forty times by hand.
//! Other generated parts (REST routes derived from the proto `google.api.http` annotations) can
//! be merged into the same `serde_json::Value` before [`ApiDocs::new`] serialises it.
//!
//! Requests pay nothing for this: both bodies are rendered once and served as shared bytes.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::docs_page;

/// The hand-written part of the document.
const STATIC_DOCUMENT: &str = include_str!("openapi.json");

/// The response header every answer carries, as the document names it.
const REQUEST_ID_HEADER: &str = "x-request-id";

route_table! {
    fn routes() {
        GET "/openapi.json" => openapi_json,
        GET "/docs" => docs,
    }
}

/// Whether `path` is one of this module's routes (for the trailing-slash redirect).
pub fn is_route(path: &str) -> bool {
    ROUTES.iter().any(|(_, route)| *route == path)
}

/// The two rendered bodies, built once.
#[derive(Debug, Clone)]
pub struct ApiDocs {
    json: Bytes,
    html: Bytes,
}

impl ApiDocs {
    /// Renders `/openapi.json` and `/docs` from an assembled document.
    pub fn new(document: &Value) -> Self {
        ApiDocs {
            json: Bytes::from(document.to_string()),
            html: Bytes::from(docs_page::render(document)),
        }
    }
}

/// The routes serving `docs`.
pub fn router(docs: ApiDocs) -> axum::Router<super::RestState> {
    routes().layer(Extension(Arc::new(docs)))
}

/// The served document: the static part, with the crate version and the answers every
/// operation shares.
pub fn document() -> Value {
    let mut doc = match serde_json::from_str::<Value>(STATIC_DOCUMENT) {
        Ok(doc) => doc,
        Err(e) => {
            // A unit test parses the file, so this is unreachable in a tested build; serve a
            // valid, empty document rather than refuse to start over documentation.
            tracing::error!("src/rest/openapi.json is not valid JSON: {e}");
            json!({"openapi": "3.1.0", "info": {"title": "llm-gateway"}, "paths": {}})
        }
    };
    if let Some(info) = doc.get_mut("info").and_then(Value::as_object_mut) {
        info.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    }
    add_shared_answers(&mut doc);
    doc
}

/// Adds, rather than repeating by hand: the 401 to every operation (any path may need an API
/// key, since `auth.exempt_paths` is configurable), and the `x-request-id` header, declared
/// once under `components.headers` and listed on every response object: the shared ones in
/// `components.responses` and each inline one (a `$ref` response gets it from its target).
fn add_shared_answers(doc: &mut Value) {
    let header_ref = json!({"$ref": "#/components/headers/RequestId"});
    let Some(root) = doc.as_object_mut() else {
        return;
    };
    if let Some(components) = object_entry(root, "components") {
        if let Some(headers) = object_entry(components, "headers") {
            headers.insert(
                "RequestId".into(),
                json!({
                    "description": "The request's id: the client's own `x-request-id` when it sent a usable one (1 to 128 visible ASCII characters), else 32 hex digits made by the gateway. The gateway's logs and traces carry it too: quote it when reporting a problem.",
                    "schema": {"type": "string"}
                }),
            );
        }
        if let Some(responses) = components
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        {
            for response in responses.values_mut() {
                add_header(response, &header_ref);
            }
        }
    }
    let operations = root
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        responses.insert(
            "401".into(),
            json!({"$ref": "#/components/responses/Unauthenticated"}),
        );
        // Status order, `default` last: the order the docs page lists them in.
        let mut sorted: Vec<(String, Value)> = std::mem::take(responses).into_iter().collect();
        sorted.sort_by(|(a, _), (b, _)| (a == "default", a).cmp(&(b == "default", b)));
        for (status, mut response) in sorted {
            add_header(&mut response, &header_ref);
            responses.insert(status, response);
        }
    }
}

fn add_header(response: &mut Value, header_ref: &Value) {
    if let Some(obj) = response.as_object_mut()
        && !obj.contains_key("$ref")
        && let Some(headers) = object_entry(obj, "headers")
    {
        headers.insert(REQUEST_ID_HEADER.into(), header_ref.clone());
    }
}

/// `map[key]` as an object, created when absent; `None` if it holds something else.
fn object_entry<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    map.entry(key)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
}

async fn openapi_json(Extension(docs): Extension<Arc<ApiDocs>>) -> Response {
    bytes_response(docs.json.clone(), "application/json")
}

async fn docs(Extension(docs): Extension<Arc<ApiDocs>>) -> Response {
    bytes_response(docs.html.clone(), "text/html; charset=utf-8")
}

fn bytes_response(body: Bytes, content_type: &'static str) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_part_parses_and_assembly_adds_version_401_and_request_id() {
        let raw: Value = serde_json::from_str(STATIC_DOCUMENT).unwrap();
        assert!(raw["info"].get("version").is_none());
        let doc = document();
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        // Inline responses and shared ones get the header; `$ref` responses inherit it.
        let health = &doc["paths"]["/health"]["get"]["responses"];
        assert_eq!(
            health["200"]["headers"][REQUEST_ID_HEADER]["$ref"],
            "#/components/headers/RequestId"
        );
        let limited = &doc["components"]["responses"]["RateLimited"]["headers"];
        assert!(limited.get("retry-after").is_some());
        assert!(limited.get(REQUEST_ID_HEADER).is_some());
        let by_ref = &doc["paths"]["/api/2.0/endpoints/{name}"]["get"]["responses"]["404"];
        assert_eq!(by_ref.as_object().unwrap().len(), 1, "{by_ref}");
        // Every operation may answer 401; statuses stay in order with `default` last.
        let invoke = doc["paths"]["/gateway/{name}/invocations"]["post"]["responses"]
            .as_object()
            .unwrap();
        let statuses: Vec<&str> = invoke.keys().map(String::as_str).collect();
        assert_eq!(statuses.first(), Some(&"200"));
        assert_eq!(statuses.last(), Some(&"default"));
        assert!(
            statuses
                .windows(2)
                .all(|w| w[0] < w[1] || w[1] == "default")
        );
        assert!(health.get("401").is_some());
    }

    #[test]
    fn rendered_bodies_are_the_document() {
        let doc = document();
        let docs = ApiDocs::new(&doc);
        let served: Value = serde_json::from_slice(&docs.json).unwrap();
        assert_eq!(served, doc);
        assert!(docs.html.starts_with(b"<!DOCTYPE html>"));
    }
}
