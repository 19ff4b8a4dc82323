//! `/openapi.json` and `/docs` against the gateway that serves them: the document is OpenAPI
//! 3.1, it documents exactly the routes the REST router serves (each documented route is
//! requested: not 404, not 405, and answered with a documented status and media type), every
//! `$ref` resolves, its examples are accepted, and `/docs` renders it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeSet, HashSet};

use common::{Reply, TestGateway};
use serde_json::{Value, json};

/// Endpoints and a traffic route named as the document's examples name them, on the built-in
/// mock provider (no upstream is called).
const CONFIG: &str = r#"
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: {provider: mock, name: mock-model, config: {}}
  - name: completions
    endpoint_type: llm/v1/completions
    model: {provider: mock, name: mock-model, config: {}}
  - name: embeddings
    endpoint_type: llm/v1/embeddings
    model: {provider: mock, name: mock-model, config: {}}
routes:
  - name: chat-split
    task_type: llm/v1/chat
    destinations:
      - {name: chat, traffic_percentage: 100}
"#;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(gw: &TestGateway) -> Value {
    let r = gw.get("/openapi.json").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.json()
}

/// `$ref` targets inside the document.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.strip_prefix('#').unwrap())
            .unwrap_or_else(|| panic!("unresolved {r}")),
        None => v,
    }
}

/// Every documented (METHOD, path template) with its operation.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{path}: {method}");
            out.push((method.to_uppercase(), path.clone(), op));
        }
    }
    out
}

/// The path with each `{param}` replaced by the example of its path parameter.
fn concrete_path(doc: &Value, path: &str, op: &Value) -> String {
    let mut out = path.to_owned();
    for p in op["parameters"].as_array().into_iter().flatten() {
        let p = resolve(doc, p);
        if p["in"] == "path" {
            let name = p["name"].as_str().unwrap();
            let example = p["example"]
                .as_str()
                .unwrap_or_else(|| panic!("{path}: {name} has no example"));
            out = out.replace(&format!("{{{name}}}"), example);
        }
    }
    assert!(
        !out.contains('{'),
        "{path}: a path parameter is undocumented"
    );
    out
}

async fn request(gw: &TestGateway, method: &str, path: &str, body: Option<&Value>) -> Reply {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client.request(method.parse().unwrap(), gw.url(path));
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    Reply::read(req.send().await.unwrap()).await
}

/// Asserts `reply` is one of `op`'s documented answers: its status (or `default`), its content
/// type among that answer's media types, and the `x-request-id` every answer documents.
fn assert_documented(doc: &Value, what: &str, op: &Value, reply: &Reply) {
    let responses = op["responses"].as_object().unwrap();
    let status = reply.status.to_string();
    let response = responses
        .get(&status)
        .or_else(|| responses.get("default"))
        .unwrap_or_else(|| panic!("{what}: status {status} is not documented: {}", reply.body));
    let response = resolve(doc, response);
    assert!(
        reply.header("x-request-id").is_some(),
        "{what}: the documented x-request-id header is missing"
    );
    match reply.header("content-type") {
        Some(ct) => assert!(
            response["content"].get(ct).is_some(),
            "{what}: {status} with content-type {ct:?} is not documented"
        ),
        None => assert!(
            reply.body.is_empty(),
            "{what}: a body without a content type"
        ),
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1() {
    let gw = TestGateway::start(CONFIG).await;
    let doc = document(&gw).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    assert_eq!(doc["info"]["title"], "llm-gateway");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    // Served as rendered once: the same bytes every time.
    assert_eq!(gw.get("/openapi.json").await.body, doc.to_string());
}

#[tokio::test]
async fn every_served_route_is_documented_and_every_documented_route_is_served() {
    let gw = TestGateway::start(CONFIG).await;
    let doc = document(&gw).await;
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let served: BTreeSet<(String, String)> = llm_gateway::rest::served_routes()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(
        documented.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not in any route table"
    );
    assert_eq!(
        served.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "served but not documented"
    );

    for (method, path, op) in operations(&doc) {
        let url = concrete_path(&doc, &path, op);
        let body = op.get("requestBody").map(|_| json!({}));
        let reply = request(&gw, &method, &url, body.as_ref()).await;
        let what = format!("{method} {url}");
        assert!(
            reply.status != 404 && reply.status != 405,
            "{what}: {} {}",
            reply.status,
            reply.body
        );
        assert_documented(&doc, &what, op, &reply);
    }
}

#[tokio::test]
async fn request_examples_are_accepted_and_answers_have_the_documented_fields() {
    let gw = TestGateway::start(CONFIG).await;
    let doc = document(&gw).await;
    let mut tried = 0;
    for (method, path, op) in operations(&doc) {
        let Some(body) = op.get("requestBody").map(|b| resolve(&doc, b)) else {
            continue;
        };
        let Some(example) = body["content"]["application/json"].get("example") else {
            continue;
        };
        let url = concrete_path(&doc, &path, op);
        let what = format!("{method} {url}");
        let reply = request(&gw, &method, &url, Some(example)).await;
        assert_eq!(reply.status, 200, "{what}: {}", reply.body);
        assert_documented(&doc, &what, op, &reply);
        // Where the answer has one schema, its fields are the schema's, in order.
        let ok = resolve(&doc, &op["responses"]["200"]);
        let schema = &ok["content"]["application/json"]["schema"];
        if schema.get("$ref").is_some() {
            let schema = resolve(&doc, schema);
            let fields: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
            let answer = reply.json();
            let got: Vec<&String> = answer.as_object().unwrap().keys().collect();
            assert_eq!(got, fields, "{what}");
        }
        // A streaming example answers with the documented event stream.
        if body["content"]["application/json"]["schema"]
            .to_string()
            .contains("ChatRequest")
        {
            let mut streaming = example.clone();
            streaming["stream"] = json!(true);
            let reply = request(&gw, &method, &url, Some(&streaming)).await;
            assert_eq!(reply.status, 200, "{what} streaming: {}", reply.body);
            assert_documented(&doc, &what, op, &reply);
            assert_eq!(reply.sse_data().last().map(String::as_str), Some("[DONE]"));
        }
        tried += 1;
    }
    assert!(tried >= 5, "only {tried} examples");
}

/// Every `"$ref"` (and discriminator mapping) in `v`.
fn collect_refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match (k.as_str(), child) {
                    ("$ref", Value::String(r)) => out.push(r),
                    ("mapping", Value::Object(m)) => {
                        out.extend(m.values().filter_map(Value::as_str))
                    }
                    _ => collect_refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_ref_resolves_and_every_component_is_used() {
    let gw = TestGateway::start(CONFIG).await;
    let doc = document(&gw).await;
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50);
    for r in &refs {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "unresolved $ref {r}");
    }
    let used: HashSet<&str> = refs.into_iter().collect();
    for (kind, entries) in doc["components"].as_object().unwrap() {
        if kind == "securitySchemes" {
            continue;
        }
        for name in entries.as_object().unwrap().keys() {
            let r = format!("#/components/{kind}/{name}");
            assert!(used.contains(r.as_str()), "{r} is never used");
        }
    }
}

#[tokio::test]
async fn operations_are_well_formed() {
    let gw = TestGateway::start(CONFIG).await;
    let doc = document(&gw).await;
    let mut ids = HashSet::new();
    for (method, path, op) in operations(&doc) {
        let what = format!("{method} {path}");
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no operationId"));
        assert!(
            ids.insert(id.to_owned()),
            "{what}: duplicate operationId {id}"
        );
        assert!(op["summary"].is_string(), "{what}: no summary");
        assert!(!op["responses"].as_object().unwrap().is_empty(), "{what}");
        // OpenAPI: each template variable is a required path parameter, and vice versa.
        // A variable may share its segment with a `:verb` (the REST bridge's templates).
        let template: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(name, _)| name))
            .collect();
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "path")
            .inspect(|p| assert_eq!(p["required"], true, "{what}"))
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(template, declared, "{what}");
        // Every answer carries the request id header.
        for (status, response) in op["responses"].as_object().unwrap() {
            let response = resolve(&doc, response);
            assert!(
                response["headers"].get("x-request-id").is_some(),
                "{what} {status}: no x-request-id"
            );
        }
    }
}

#[tokio::test]
async fn docs_page_renders_the_document_and_root_leads_to_it() {
    let gw = TestGateway::start(CONFIG).await;
    let doc = document(&gw).await;
    let r = gw.get("/docs").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.body.starts_with("<!DOCTYPE html>"));
    assert!(r.body.contains(&format!(
        "llm-gateway <small>{}</small>",
        env!("CARGO_PKG_VERSION")
    )));
    for (_, path, op) in operations(&doc) {
        assert!(r.body.contains(&format!("<code>{path}</code>")), "{path}");
        let anchor = format!("id=\"op-{}\"", op["operationId"].as_str().unwrap());
        assert!(r.body.contains(&anchor), "{path}");
    }
    assert!(!r.body.contains("<script"), "the page must work offline");

    let root = gw.get("/").await;
    assert_eq!(root.status, 307);
    assert_eq!(root.header("location"), Some("/docs"));
    // Followed, as a browser does.
    let followed = gw.http.get(gw.url("/")).send().await.unwrap();
    assert_eq!(followed.url().path(), "/docs");
    assert_eq!(followed.status(), 200);

    let slash = gw.get("/docs/").await;
    assert_eq!(slash.status, 307);
    assert_eq!(
        slash.header("location"),
        Some(format!("http://{}/docs", gw.addr).as_str())
    );
}
