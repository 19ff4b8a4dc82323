//! CORS on the one port, as a browser meets it: preflights from an allowed origin are answered
//! (before authentication) with what grpc-web, Connect and REST callers need; other origins and
//! the same-origin default get no allow header; a real cross-origin call (grpc-web, and a
//! refused one) exposes the gRPC status and request id headers to the page.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestGateway, grpc_web_frame};
use llm_gateway::cors::Cors;
use llm_gateway::pb::v1 as pb;
use llm_gateway::server::AppOptions;
use llm_gateway::service::Settings;

const APP: &str = "https://app.example.com";

/// A config with gateway API keys, so preflights are seen to pass before authentication.
const KEYED: &str = r#"
endpoints:
  - name: mock-chat
    endpoint_type: llm/v1/chat
    model: {provider: mock, name: mock-model, config: {}}
api_keys:
  - name: team
    key: team-key-0123456789abcdef
"#;

async fn start(origins: &str) -> TestGateway {
    let options = AppOptions {
        cors: Cors::parse(origins).unwrap(),
        ..AppOptions::default()
    };
    TestGateway::start_with_options(KEYED, Settings::default(), options).await
}

/// A browser's preflight for a grpc-web call from `origin`.
async fn preflight(gw: &TestGateway, origin: &str) -> reqwest::Response {
    gw.http
        .request(
            reqwest::Method::OPTIONS,
            gw.url("/llmgateway.v1.EndpointsService/ListEndpoints"),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-grpc-web,x-user-agent",
        )
        .send()
        .await
        .unwrap()
}

fn header<'r>(resp: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

/// The comma-separated values of `name`, lowercased.
fn list(resp: &reqwest::Response, name: &str) -> Vec<String> {
    header(resp, name)
        .unwrap_or_else(|| panic!("no {name}"))
        .split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

fn has_cors_headers(resp: &reqwest::Response) -> bool {
    resp.headers()
        .keys()
        .any(|k| k.as_str().starts_with("access-control-"))
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_before_authentication() {
    let gw = start(&format!("{APP},http://localhost:3000")).await;
    let resp = preflight(&gw, APP).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(APP));
    let methods = list(&resp, "access-control-allow-methods");
    for m in ["get", "post", "options"] {
        assert!(methods.iter().any(|v| v == m), "{m} not in {methods:?}");
    }
    let allowed = list(&resp, "access-control-allow-headers");
    for h in [
        "content-type",
        "authorization",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "connect-protocol-version",
        "connect-timeout-ms",
        "connect-content-encoding",
        "connect-accept-encoding",
        "x-request-id",
        "traceparent",
    ] {
        assert!(allowed.iter().any(|v| v == h), "{h} not in {allowed:?}");
    }
    assert_eq!(header(&resp, "access-control-max-age"), Some("3600"));
    assert!(header(&resp, "access-control-allow-credentials").is_none());
    // The second listed origin is allowed too.
    let resp = preflight(&gw, "http://localhost:3000").await;
    assert_eq!(
        header(&resp, "access-control-allow-origin"),
        Some("http://localhost:3000")
    );
}

#[tokio::test]
async fn another_origin_gets_no_allow_origin() {
    let gw = start(APP).await;
    for origin in ["https://evil.example.com", "http://app.example.com"] {
        let resp = preflight(&gw, origin).await;
        assert!(
            header(&resp, "access-control-allow-origin").is_none(),
            "{origin}: {:?}",
            resp.headers()
        );
    }
    let resp = gw
        .http
        .get(gw.url("/health"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "access-control-allow-origin").is_none());
}

#[tokio::test]
async fn by_default_no_response_carries_cors_headers() {
    let gw = TestGateway::start(KEYED).await;
    let resp = preflight(&gw, APP).await;
    assert!(!has_cors_headers(&resp), "{:?}", resp.headers());
    let resp = gw
        .http
        .get(gw.url("/health"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(!has_cors_headers(&resp), "{:?}", resp.headers());
}

/// A grpc-web `ListEndpoints` from `APP` over HTTP/1.1, with `key` if given.
async fn grpc_web_call(gw: &TestGateway, key: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::builder().http1_only().build().unwrap();
    let mut request = client
        .post(gw.url("/llmgateway.v1.EndpointsService/ListEndpoints"))
        .header("origin", APP)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(grpc_web_frame(&pb::ListEndpointsRequest::default()));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_cross_origin_grpc_web_call_exposes_the_grpc_and_request_id_headers() {
    let gw = start(APP).await;
    let resp = grpc_web_call(&gw, Some("team-key-0123456789abcdef")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(APP));
    let exposed = list(&resp, "access-control-expose-headers");
    for h in [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "x-request-id",
        "connect-content-encoding",
        "content-encoding",
    ] {
        assert!(exposed.iter().any(|v| v == h), "{h} not in {exposed:?}");
    }
    assert!(header(&resp, "x-request-id").is_some());

    // A refusal is readable by the page too: its status is in the exposed headers.
    let resp = grpc_web_call(&gw, None).await;
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(APP));
    assert_eq!(header(&resp, "grpc-status"), Some("16"));
}

#[tokio::test]
async fn a_star_allows_any_origin() {
    let gw = start("*").await;
    let resp = preflight(&gw, "https://anywhere.example").await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(header(&resp, "access-control-allow-origin"), Some("*"));
}
