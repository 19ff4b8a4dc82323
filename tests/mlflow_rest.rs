//! MLflow's REST API end to end: the gateway on 127.0.0.1:0 in front of the recording mock
//! upstream. Bodies are compared byte for byte where MLflow fixes them (spec §2); upstream
//! requests are checked for path, headers and body; every row of spec §2.7 has a test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{CONFIG, TestGateway};
use serde_json::json;

const HI: &str = r#"{"messages":[{"role":"user","content":"hi"}]}"#;

const CHAT_OK: &str = r#"{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from mock","tool_calls":null,"refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"provider":"openai"}"#;

#[tokio::test]
async fn health_root_and_generic_http_behaviour() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw.get("/health").await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"OK"}"#));
    assert_eq!(r.header("content-type"), Some("application/json"));

    let r = gw.get("/").await;
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/docs"));

    let r = gw.get("/nope").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, r#"{"detail":"Not Found"}"#)
    );

    let r = gw.get("/api/2.0/endpoints").await;
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("location"),
        Some(format!("http://{}/api/2.0/endpoints/", gw.addr).as_str())
    );

    let r = gw.http.delete(gw.url("/health")).send().await.unwrap();
    let r = common::Reply::read(r).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (405, r#"{"detail":"Method Not Allowed"}"#)
    );
    assert!(r.header("allow").unwrap().contains("GET"));

    let r = gw.get("/gateway/chat/invocations").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
}

#[tokio::test]
async fn endpoint_metadata_matches_mlflow() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw.get("/api/2.0/endpoints/chat-limited").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        r#"{"name":"chat-limited","endpoint_type":"llm/v1/chat","model":{"name":"gpt-4o-mini","provider":"openai"},"endpoint_url":"/gateway/chat-limited/invocations","limit":{"calls":2,"key":null,"renewal_period":"minute"}}"#
    );
    let v3 = gw.get("/api/3.0/gateway/endpoint/chat-limited").await;
    assert_eq!(v3.body, r.body);

    let r = gw.get("/api/2.0/endpoints/azure-chat").await;
    assert_eq!(
        r.json()["model"],
        json!({"name": "gpt-4o", "provider": "azure"})
    );
    assert_eq!(r.json()["limit"], json!(null));
    assert!(
        !r.body.contains("az-test-key"),
        "a secret leaked: {}",
        r.body
    );

    let r = gw.get("/api/2.0/endpoints/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body,
        r#"{"detail":"The endpoint 'nope' is not present or active on the server. Please verify the endpoint name."}"#
    );
    // Traffic routes are invocable but not endpoints.
    assert_eq!(gw.get("/api/2.0/endpoints/split").await.status, 404);
}

#[tokio::test]
async fn listing_is_in_config_order_without_routes_or_secrets() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw.get("/api/2.0/endpoints/").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let names: Vec<&str> = v["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        &names[..4],
        ["chat", "completions", "embeddings", "azure-chat"]
    );
    assert!(!names.contains(&"split"));
    assert_eq!(v["next_page_token"], json!(null));
    assert!(r.body.ends_with(r#","next_page_token":null}"#));
    for secret in ["sk-test-key", "az-test-key", "aad-token", "gsk-test-key"] {
        assert!(!r.body.contains(secret), "{secret} leaked");
    }
    let legacy = gw.get("/api/2.0/gateway/routes/").await.json();
    assert_eq!(legacy["routes"][0]["route_type"], "llm/v1/chat");
    assert_eq!(
        legacy["routes"][0]["route_url"],
        "/gateway/chat/invocations"
    );
    let one = gw.get("/api/2.0/gateway/routes/chat").await;
    assert_eq!(
        one.body,
        r#"{"name":"chat","route_type":"llm/v1/chat","model":{"name":"gpt-4o-mini","provider":"openai"},"route_url":"/gateway/chat/invocations","limit":null}"#
    );
    let missing = gw.get("/api/2.0/gateway/routes/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json()["detail"],
        "The route 'nope' is not present or active on the server. Please verify the route name."
    );
}

#[tokio::test]
async fn page_tokens_paginate_and_bad_tokens_are_400() {
    let gw = TestGateway::start(CONFIG).await;
    // MLflow's token for index 1 is base64('{"index": 1}').
    let r = gw
        .get("/api/2.0/endpoints/?page_token=eyJpbmRleCI6IDF9")
        .await;
    assert_eq!(r.json()["endpoints"][0]["name"], "completions");
    let bad = gw.get("/api/2.0/endpoints/?page_token=garbage").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["detail"]
            .as_str()
            .unwrap()
            .contains("page token")
    );
}

#[tokio::test]
async fn traffic_route_metadata_and_limits_stubs() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw.get("/api/3.0/gateway/route/split").await;
    assert_eq!(
        r.body,
        r#"{"name":"split","task_type":"llm/v1/chat","destinations":[{"name":"chat","traffic_percentage":100},{"name":"groq-chat","traffic_percentage":0}],"routing_strategy":"TRAFFIC_SPLIT"}"#
    );
    let r = gw.get("/api/3.0/gateway/route/nope").await;
    assert_eq!(r.status, 404);
    let r = gw.get("/api/2.0/endpoints/limits/chat").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            501,
            r#"{"detail":"The get_limits API is not available yet."}"#
        )
    );
    let r = gw.post("/api/2.0/gateway/limits/", "{}").await;
    assert_eq!(r.status, 422);
    let r = gw
        .post(
            "/api/2.0/endpoints/limits/",
            r#"{"route":"chat","limits":[]}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            501,
            r#"{"detail":"The set_limits API is not available yet."}"#
        )
    );
}

#[tokio::test]
async fn chat_invocation_body_and_upstream_request() {
    let gw = TestGateway::start(CONFIG).await;
    let body = r#"{"messages":[{"role":"system","content":"be nice"},{"role":"user","content":"hi","name":"dropped"}],"temperature":0.5,"max_tokens":10,"stop":["x"],"foo":"bar"}"#;
    let r = gw.post("/gateway/chat/invocations", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, CHAT_OK);

    let up = gw.upstream();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].method, "POST");
    assert_eq!(up[0].path_and_query, "/v1/chat/completions");
    assert_eq!(up[0].header("authorization"), Some("Bearer sk-test-key"));
    assert_eq!(up[0].header("openai-organization"), Some("my-org"));
    assert_eq!(
        up[0].json(),
        json!({"model":"gpt-4o-mini","n":1,"stop":["x"],"max_tokens":10,"temperature":0.5,
               "messages":[{"role":"system","content":"be nice"},{"role":"user","content":"hi"}],
               "foo":"bar"})
    );

    // The Python client's URL family serves the same thing.
    let r = gw.post("/endpoints/chat/invocations", HI).await;
    assert_eq!(r.body, CHAT_OK);
}

#[tokio::test]
async fn tool_calls_round_trip() {
    let gw = TestGateway::start(CONFIG).await;
    let body = r#"{"messages":[{"role":"user","content":"weather?"}],
        "tools":[{"type":"function","function":{"name":"get_weather","description":"d",
                  "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],
        "tool_choice":"auto"}"#;
    let r = gw.post("/gateway/chat/invocations", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(
        v["choices"][0]["message"],
        json!({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}}],"refusal":null})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let up = gw.upstream().remove(0).json();
    assert_eq!(up["tool_choice"], "auto");
    assert_eq!(
        up["tools"][0]["function"]["parameters"]["required"],
        json!(["city"])
    );

    // A tool result goes back upstream with its call id.
    let follow = r#"{"messages":[{"role":"user","content":"weather?"},
        {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
        {"role":"tool","content":"sunny","tool_call_id":"call_1"}]}"#;
    let r = gw.post("/gateway/chat/invocations", follow).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let up = gw.upstream().remove(0).json();
    assert_eq!(up["messages"][1]["tool_calls"][0]["id"], "call_1");
    assert_eq!(
        up["messages"][2],
        json!({"role":"tool","content":"sunny","tool_call_id":"call_1"})
    );
}

#[tokio::test]
async fn chat_stream_is_framed_like_mlflow() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw
        .post(
            "/gateway/chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let events = r.sse_data();
    assert_eq!(events.last().unwrap(), "[DONE]");
    assert_eq!(
        events[0],
        r#"{"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":"","tool_calls":null}}],"usage":null,"provider":"openai"}"#
    );
    let text: String = events[..events.len() - 1]
        .iter()
        .filter_map(|e| {
            let v: serde_json::Value = serde_json::from_str(e).unwrap();
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Hello from mock");
    // The usage chunk MLflow gets by injecting include_usage.
    let usage: serde_json::Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 12);
    let up = gw.upstream().remove(0).json();
    assert_eq!(up["stream"], true);
    assert_eq!(up["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn completions_and_embeddings() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw
        .post(
            "/gateway/completions/invocations",
            r#"{"prompt":"Is this a test?","max_tokens":7}"#,
        )
        .await;
    assert_eq!(
        r.body,
        r#"{"id":"cmpl-mock","object":"text_completion","created":1700000001,"model":"gpt-3.5-turbo-instruct","choices":[{"index":0,"text":"This is a test","finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#
    );
    let up = gw.upstream().remove(0);
    assert_eq!(up.path_and_query, "/v1/completions");
    assert_eq!(
        up.json(),
        json!({"model":"gpt-3.5-turbo-instruct","n":1,"max_tokens":7,"prompt":"Is this a test?"})
    );

    let r = gw
        .post(
            "/gateway/completions/invocations",
            r#"{"prompt":"x","stream":true}"#,
        )
        .await;
    let events = r.sse_data();
    assert_eq!(events.last().unwrap(), "[DONE]");
    let first: serde_json::Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(first["object"], "text_completion_chunk");
    assert!(first.get("provider").is_none());
    assert_eq!(gw.upstream().remove(0).json()["stream"], true);

    let r = gw
        .post(
            "/gateway/embeddings/invocations",
            r#"{"input":["a","b"],"dimensions":4,"user":"u1"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 4);
    assert_eq!(v["usage"], json!({"prompt_tokens": 8, "total_tokens": 8}));
    let up = gw.upstream().remove(0).json();
    assert_eq!(
        up,
        json!({"model":"text-embedding-3-small","input":["a","b"],"dimensions":4,"user":"u1"})
    );
}

#[tokio::test]
async fn azure_and_compatible_providers_address_upstream_correctly() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw.post("/gateway/azure-chat/invocations", HI).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["provider"], "azure");
    let up = gw.upstream().remove(0);
    assert_eq!(
        up.path_and_query,
        "/openai/deployments/my-dep/chat/completions?api-version=2024-02-01"
    );
    assert_eq!(up.header("api-key"), Some("az-test-key"));
    assert_eq!(up.header("authorization"), None);
    assert!(up.json().get("model").is_none());

    let r = gw
        .post(
            "/gateway/azuread-embeddings/invocations",
            r#"{"input":"a"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let up = gw.upstream().remove(0);
    assert_eq!(
        up.path_and_query,
        "/openai/deployments/emb-dep/embeddings?api-version=2024-02-01"
    );
    assert_eq!(up.header("authorization"), Some("Bearer aad-token"));

    let r = gw.post("/gateway/groq-chat/invocations", HI).await;
    assert_eq!(r.json()["provider"], "groq");
    let up = gw.upstream().remove(0);
    assert_eq!(up.path_and_query, "/openai/v1/chat/completions");
    assert_eq!(up.header("authorization"), Some("Bearer gsk-test-key"));
    assert_eq!(up.json()["model"], "llama-3.1-8b-instant");

    // Ollama's default key means: no auth header at all.
    let r = gw.post("/gateway/ollama-chat/invocations", HI).await;
    assert_eq!(r.status, 200);
    assert_eq!(gw.upstream().remove(0).header("authorization"), None);

    let r = gw
        .post("/gateway/groq-completions/invocations", r#"{"prompt":"x"}"#)
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            501,
            r#"{"detail":"The completions route is not implemented for Groq models."}"#
        )
    );
    assert!(gw.upstream().is_empty());
}

#[tokio::test]
async fn traffic_route_serves_as_its_destination() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw.post("/gateway/split/invocations", HI).await;
    assert_eq!(r.body, CHAT_OK);
    assert_eq!(gw.upstream()[0].path_and_query, "/v1/chat/completions");
}

#[tokio::test]
async fn invalid_bodies_are_fastapi_422s() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw
        .post(
            "/gateway/chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4"}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            422,
            r#"{"detail":"The parameter 'model' is not permitted to be passed. The route being queried already defines a model instance."}"#
        )
    );
    let r = gw.post("/gateway/chat/invocations", "{}").await;
    assert_eq!(
        r.body,
        r#"{"detail":[{"type":"missing","loc":["body","messages"],"msg":"Field required","input":{}}]}"#
    );
    let r = gw.post("/gateway/chat/invocations", "{not json").await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["type"], "json_invalid");
    let r = gw
        .post(
            "/gateway/chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"stop":"END"}"#,
        )
        .await;
    assert_eq!(r.json()["detail"][0]["type"], "list_type");
    assert_eq!(r.json()["detail"][0]["loc"], json!(["body", "stop"]));
    let r = gw
        .post(
            "/gateway/chat/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"temperature":3}"#,
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["type"], "less_than_equal");
    assert_eq!(r.json()["detail"][0]["ctx"], json!({"le": 2.0}));
    // A chat body sent to an embeddings endpoint is validated as an embeddings body.
    let r = gw.post("/gateway/embeddings/invocations", HI).await;
    assert_eq!(r.json()["detail"][0]["loc"], json!(["body", "input"]));
    // None of these reached the upstream.
    assert!(gw.upstream().is_empty());
    // Unknown endpoint names are not routes at all.
    let r = gw.post("/gateway/nope/invocations", HI).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, r#"{"detail":"Not Found"}"#)
    );
}

#[tokio::test]
async fn upstream_errors_map_like_mlflow() {
    let gw = TestGateway::start(CONFIG).await;
    let cases = [
        ("err400", 400, json!({"detail": "upstream bad request"})),
        ("err429", 429, json!({"detail": "upstream rate limited"})),
        ("errnoerr", 503, json!({"detail": {"detail": "weird"}})),
        (
            "err500text",
            500,
            json!({"detail": {"message": "boom plain"}}),
        ),
    ];
    for (name, status, body) in cases {
        let r = gw.post(&format!("/gateway/{name}/invocations"), HI).await;
        assert_eq!(r.status, status, "{name}: {}", r.body);
        assert_eq!(r.json(), body, "{name}");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let r = gw.post("/gateway/err429/invocations", HI).await;
    assert_eq!(r.header("retry-after"), Some("7"));

    let r = gw.post("/gateway/errhtml/invocations", HI).await;
    assert_eq!(r.status, 502);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .starts_with("The returned data type from the route service is not supported. Received content type: text/html")
    );
}

#[tokio::test]
async fn network_failures_are_json_502_and_504() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw.post("/gateway/unreachable/invocations", HI).await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.json()["detail"].as_str().unwrap().contains("connect"));

    let r = gw.post("/gateway/slow/invocations", HI).await;
    assert_eq!(r.status, 504, "{}", r.body);
    assert!(r.json()["detail"].as_str().unwrap().contains("0.3 seconds"));

    let r = gw.post("/gateway/badjson/invocations", HI).await;
    assert_eq!(r.status, 502);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("could not be parsed")
    );
}

#[tokio::test]
async fn upstream_echoes_of_the_key_are_redacted() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw.post("/gateway/echo-key/invocations", HI).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!r.body.contains("sk-test-key"), "key leaked: {}", r.body);
    assert!(r.body.contains("[redacted]"), "{}", r.body);
}

#[tokio::test]
async fn stream_failures_before_and_after_the_first_byte() {
    let gw = TestGateway::start(CONFIG).await;
    // Before the first event: a real status, not a 200 with a cut body.
    let r = gw
        .post(
            "/gateway/err400/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"detail": "upstream bad request"}));

    // After it: one explicit error event and no [DONE].
    for name in ["stream-cut", "stream-error"] {
        let r = gw
            .post(
                &format!("/gateway/{name}/invocations"),
                r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#,
            )
            .await;
        assert_eq!(r.status, 200, "{name}");
        let events = r.sse_data();
        assert!(events.len() >= 2, "{name}: {events:?}");
        let last: serde_json::Value = serde_json::from_str(events.last().unwrap()).unwrap();
        assert!(last["error"]["message"].is_string(), "{name}: {last}");
        assert!(!events.iter().any(|e| e == "[DONE]"), "{name}");
    }
}

#[tokio::test]
async fn oversized_bodies_are_413_json() {
    let gw = TestGateway::start_with_limit(CONFIG, 1024).await;
    let big = format!(
        r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(4096)
    );
    let r = gw.post("/gateway/chat/invocations", &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(
        r.json(),
        json!({"detail": "request body exceeds the limit of 1024 bytes"})
    );
    let r = gw.post("/v1/chat/completions", &big).await;
    assert_eq!(r.status, 413);
    assert!(gw.upstream().is_empty());
}

#[tokio::test]
async fn rate_limits_follow_mlflow() {
    let gw = TestGateway::start(CONFIG).await;
    // A 422 does not consume quota.
    assert_eq!(
        gw.post("/gateway/chat-limited/invocations", "{}")
            .await
            .status,
        422
    );
    for _ in 0..2 {
        assert_eq!(
            gw.post("/gateway/chat-limited/invocations", HI)
                .await
                .status,
            200
        );
    }
    let r = gw.post("/gateway/chat-limited/invocations", HI).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (429, r#"{"error":"Rate limit exceeded: 2 per 1 minute"}"#)
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The other URL family has its own counter; /v1 is never limited.
    assert_eq!(
        gw.post("/endpoints/chat-limited/invocations", HI)
            .await
            .status,
        200
    );
    let v1 = r#"{"model":"chat-limited","messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(gw.post("/v1/chat/completions", v1).await.status, 200);
    // Exactly the admitted calls reached the upstream.
    assert_eq!(gw.upstream().len(), 4);
}
