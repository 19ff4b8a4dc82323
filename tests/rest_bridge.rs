//! The REST bridge generated from the proto's `google.api.http` annotations, end to end: every
//! RPC over plain HTTP + JSON (path variables, query parameters, proto3 JSON bodies in either
//! field spelling), server-streaming RPCs as server-sent events, errors in Google's JSON shape
//! with the HTTP status of their code, and the bridge's routes in `/openapi.json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{CONFIG, Reply, TestGateway};
use llm_gateway::pb::v1 as pb;
use serde_json::Value;

const HI: &str = r#"{"messages":[{"role":"user","content":"hi"}]}"#;

/// A Google-shaped error: (HTTP status, `error.status`, `error.message`), checking the shape.
fn google_error(r: &Reply) -> (u16, String, String) {
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{}",
        r.body
    );
    let j = r.json();
    let e = &j["error"];
    assert_eq!(e["code"], r.status, "code repeats the HTTP status: {j}");
    assert!(e["details"].is_array(), "{j}");
    (
        r.status,
        e["status"].as_str().unwrap().to_owned(),
        e["message"].as_str().unwrap().to_owned(),
    )
}

/// The events of an SSE body: (event name, data).
fn sse_events(r: &Reply) -> Vec<(Option<String>, String)> {
    r.body
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let mut name = None;
            let mut data = None;
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = Some(d.to_owned());
                } else {
                    panic!("unexpected SSE line {line:?} in {:?}", r.body);
                }
            }
            (name, data.expect("every event has data"))
        })
        .collect()
}

#[tokio::test]
async fn every_rpc_over_http_json() {
    let gw = TestGateway::start(CONFIG).await;

    // Chat: the endpoint from the path, the message from the body.
    let r = gw.post("/v1/endpoints/chat:chat", HI).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let chat: pb::ChatResponse = serde_json::from_str(&r.body).unwrap();
    assert_eq!(chat.provider, "openai");
    assert_eq!(
        chat.choices[0].message.as_ref().unwrap().content.as_deref(),
        Some("Hello from mock")
    );
    // Proto3 JSON with the proto field names.
    assert_eq!(r.json()["usage"]["total_tokens"], 12);
    let upstream = gw.upstream();
    assert_eq!(upstream[0].path_and_query, "/v1/chat/completions");
    let sent: Value = serde_json::from_slice(&upstream[0].body).unwrap();
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(sent["messages"][0]["content"], "hi");

    // lowerCamelCase names work too, as proto3 JSON allows.
    let r = gw
        .post(
            "/v1/endpoints/chat:chat",
            r#"{"messages":[{"role":"user","content":"hi"}],"maxTokens":7}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent: Value = serde_json::from_slice(&gw.upstream().last().unwrap().body).unwrap();
    assert_eq!(sent["max_tokens"], 7);

    let r = gw
        .post("/v1/endpoints/completions:complete", r#"{"prompt":"p"}"#)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let done: pb::CompletionResponse = serde_json::from_str(&r.body).unwrap();
    assert_eq!(done.choices[0].text, "This is a test");

    let r = gw
        .post("/v1/endpoints/embeddings:embed", r#"{"texts":["a","b"]}"#)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let embed: pb::EmbedResponse = serde_json::from_str(&r.body).unwrap();
    assert_eq!(embed.data.len(), 2);
    assert_eq!(embed.model, "text-embedding-3-small");

    // Listing: query parameters in either spelling, pages chained by the token.
    let r = gw.get("/v1/endpoints?page_size=2").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page: pb::ListEndpointsResponse = serde_json::from_str(&r.body).unwrap();
    assert_eq!(page.endpoints.len(), 2);
    assert_eq!(page.endpoints[0].name, "chat");
    assert!(!page.next_page_token.is_empty());
    let next = gw
        .get(&format!(
            "/v1/endpoints?pageSize=2&pageToken={}",
            page.next_page_token
        ))
        .await;
    let next: pb::ListEndpointsResponse = serde_json::from_str(&next.body).unwrap();
    assert_eq!(next.endpoints[0].name, "embeddings");
    let all: pb::ListEndpointsResponse =
        serde_json::from_str(&gw.get("/v1/endpoints").await.body).unwrap();
    assert!(all.endpoints.len() > 2 && all.next_page_token.is_empty());

    let r = gw.get("/v1/endpoints/chat-limited").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ep: pb::Endpoint = serde_json::from_str(&r.body).unwrap();
    assert_eq!(ep.endpoint_url, "/gateway/chat-limited/invocations");
    assert_eq!(ep.limit.unwrap().calls, 2);

    // Metrics label these calls with their own surface.
    let metrics = gw.get("/metrics").await;
    assert!(
        metrics.body.contains(r#"surface="rest-bridge""#),
        "{}",
        metrics.body
    );
}

#[tokio::test]
async fn streams_are_server_sent_events() {
    let gw = TestGateway::start(CONFIG).await;
    let r = gw.post("/v1/endpoints/chat:streamChat", HI).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let events = sse_events(&r);
    assert!(events.len() > 1, "{events:?}");
    let mut text = String::new();
    for (name, data) in &events {
        assert_eq!(name, &None, "only data events in a good stream");
        let chunk: pb::ChatChunk = serde_json::from_str(data).unwrap();
        assert_eq!(chunk.provider, "openai");
        if let Some(delta) = chunk.choices.first().and_then(|c| c.delta.as_ref()) {
            text.push_str(delta.content.as_deref().unwrap_or_default());
        }
    }
    assert!(!text.is_empty());
    // The gateway asked the upstream to stream.
    let sent: Value = serde_json::from_slice(&gw.upstream()[0].body).unwrap();
    assert_eq!(sent["stream"], true);

    let r = gw
        .post(
            "/v1/endpoints/completions:streamComplete",
            r#"{"prompt":"p"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let chunks: Vec<pb::CompletionChunk> = sse_events(&r)
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks.iter().any(|c| !c.choices.is_empty()), "{chunks:?}");

    // A failure before the stream starts is an ordinary error answer, not an event stream.
    let r = gw.post("/v1/endpoints/nope:streamChat", HI).await;
    assert_eq!(google_error(&r).1, "NOT_FOUND");
    // After it started: the events so far, then one error event, and the stream ends.
    let r = gw.post("/v1/endpoints/stream-error:streamChat", HI).await;
    assert_eq!(r.status, 200);
    let events = sse_events(&r);
    let (last_name, last_data) = events.last().unwrap();
    assert_eq!(last_name.as_deref(), Some("error"), "{events:?}");
    let error: Value = serde_json::from_str(last_data).unwrap();
    assert!(error["error"]["status"].is_string(), "{error}");
    assert!(error["error"]["message"].as_str().unwrap().len() > 3);
    assert!(events.len() > 1, "data before the error: {events:?}");
}

#[tokio::test]
async fn errors_are_google_shaped_with_their_http_status() {
    let gw = TestGateway::start(CONFIG).await;

    let (status, code, message) = google_error(&gw.post("/v1/endpoints/nope:chat", HI).await);
    assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));
    assert!(message.contains("nope"), "{message}");
    let (status, code, _) = google_error(&gw.get("/v1/endpoints/nope").await);
    assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));

    // Invalid requests: no messages; the wrong endpoint type; a body that is not the message.
    let (status, code, message) = google_error(
        &gw.post("/v1/endpoints/chat:chat", r#"{"messages":[]}"#)
            .await,
    );
    assert_eq!((status, code.as_str()), (400, "INVALID_ARGUMENT"));
    assert!(message.contains("messages"), "{message}");
    let (status, code, _) = google_error(&gw.post("/v1/endpoints/embeddings:chat", HI).await);
    assert_eq!((status, code.as_str()), (400, "INVALID_ARGUMENT"));
    let (status, _, message) = google_error(
        &gw.post("/v1/endpoints/chat:chat", r#"{"messages": [}"#)
            .await,
    );
    assert_eq!(status, 400);
    assert!(
        message.contains("not valid JSON") && message.contains("column"),
        "{message}"
    );
    let (status, _, message) = google_error(&gw.post("/v1/endpoints/chat:chat", "[1]").await);
    assert_eq!(status, 400);
    assert!(message.contains("JSON object"), "{message}");
    let (status, _, message) = google_error(
        &gw.post("/v1/endpoints/chat:chat", r#"{"messages":"hi"}"#)
            .await,
    );
    assert_eq!(status, 400);
    assert!(message.contains("does not fit"), "{message}");

    // Query parameters: typed, known, and only where the body is not the whole message.
    let (status, _, message) = google_error(&gw.get("/v1/endpoints?page_size=many").await);
    assert_eq!(status, 400);
    assert!(
        message.contains("page_size") && message.contains("many"),
        "{message}"
    );
    let (status, _, message) = google_error(&gw.get("/v1/endpoints?size=2").await);
    assert_eq!(status, 400);
    assert!(
        message.contains("\"size\"") && message.contains("page_size"),
        "{message}"
    );
    let (status, _, message) = google_error(&gw.post("/v1/endpoints/chat:chat?n=2", HI).await);
    assert_eq!(status, 400);
    assert!(message.contains("Query parameters"), "{message}");

    // Wrong method on a bound path: 405 naming the allowed one; an unknown verb: 404.
    let r = gw.get("/v1/endpoints/chat:chat").await;
    assert_eq!(r.header("allow"), Some("POST"));
    assert_eq!(google_error(&r).0, 405);
    let r = Reply::read(
        gw.http
            .delete(gw.url("/v1/endpoints/chat"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.header("allow"), Some("GET"));
    assert_eq!(google_error(&r).0, 405);
    let (status, code, _) = google_error(&gw.post("/v1/endpoints/chat:nope", HI).await);
    assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));

    // Upstream failures keep their meaning: a 429 upstream is RESOURCE_EXHAUSTED / 429.
    let (status, code, _) = google_error(&gw.post("/v1/endpoints/err429:chat", HI).await);
    assert_eq!((status, code.as_str()), (429, "RESOURCE_EXHAUSTED"));
    let (status, code, _) = google_error(&gw.post("/v1/endpoints/unreachable:chat", HI).await);
    assert_eq!((status, code.as_str()), (503, "UNAVAILABLE"));
}

#[tokio::test]
async fn limits_deadlines_and_sizes() {
    let gw = TestGateway::start_with_limit(CONFIG, 300).await;
    // The endpoint's rate limit, with Retry-After.
    for _ in 0..2 {
        assert_eq!(
            gw.post("/v1/endpoints/chat-limited:chat", HI).await.status,
            200
        );
    }
    let r = gw.post("/v1/endpoints/chat-limited:chat", HI).await;
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    let (status, code, message) = google_error(&r);
    assert_eq!((status, code.as_str()), (429, "RESOURCE_EXHAUSTED"));
    assert_eq!(message, "Rate limit exceeded: 2 per 1 minute");

    // The body limit: 413, in the bridge's shape.
    let big = format!(
        r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(400)
    );
    let (status, code, _) = google_error(&gw.post("/v1/endpoints/chat:chat", &big).await);
    assert_eq!((status, code.as_str()), (413, "RESOURCE_EXHAUSTED"));

    // `grpc-timeout` is the deadline, as for gRPC callers (`slow` answers after 2 s).
    let r = Reply::read(
        gw.http
            .post(gw.url("/v1/endpoints/slow:chat"))
            .header("content-type", "application/json")
            .header("grpc-timeout", "200m")
            .body(HI)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (status, code, _) = google_error(&r);
    assert_eq!((status, code.as_str()), (504, "DEADLINE_EXCEEDED"));
}

#[tokio::test]
async fn the_bridge_is_documented_in_openapi() {
    let gw = TestGateway::start(CONFIG).await;
    let doc = gw.get("/openapi.json").await.json();
    let chat = &doc["paths"]["/v1/endpoints/{endpoint}:chat"]["post"];
    assert_eq!(chat["operationId"], "ChatService_Chat");
    assert_eq!(
        chat["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/llmgateway.v1.ChatRequest"
    );
    assert_eq!(chat["parameters"][0]["name"], "endpoint");
    assert_eq!(chat["parameters"][0]["in"], "path");
    let list = &doc["paths"]["/v1/endpoints"]["get"];
    let params: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["page_token", "page_size"]);
    let stream = &doc["paths"]["/v1/endpoints/{endpoint}:streamChat"]["post"];
    assert!(stream["responses"]["200"]["content"]["text/event-stream; charset=utf-8"].is_object());
    // Schemas carry the proto comments and the proto3 JSON types.
    let request = &doc["components"]["schemas"]["llmgateway.v1.ChatRequest"];
    assert_eq!(request["properties"]["temperature"]["type"], "number");
    assert!(
        request["properties"]["messages"]["items"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("llmgateway.v1.Message")
    );
    assert!(doc["components"]["schemas"]["google.rpc.Status"].is_object());
}

#[tokio::test]
async fn api_keys_refuse_in_the_bridge_shape() {
    const KEY: &str = "team-a-key-0123456789";
    let gw = TestGateway::start(&format!(
        r#"
endpoints:
  - {{name: chat, endpoint_type: llm/v1/chat, model: {{provider: mock, name: m, config: {{response: "from chat"}}}}}}
  - {{name: other, endpoint_type: llm/v1/chat, model: {{provider: mock, name: m}}}}
api_keys:
  - {{name: team-a, key: {KEY}, endpoints: [chat]}}
"#
    ))
    .await;
    let call = |path: &str, key: Option<&str>| {
        let mut req = gw
            .http
            .post(gw.url(path))
            .header("content-type", "application/json")
            .body(HI);
        if let Some(key) = key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        async move { Reply::read(req.send().await.unwrap()).await }
    };
    // No key: refused before the bridge, in the bridge's shape.
    let r = call("/v1/endpoints/chat:chat", None).await;
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let (status, code, _) = google_error(&r);
    assert_eq!((status, code.as_str()), (401, "UNAUTHENTICATED"));
    // A key: its endpoint answers, another is PERMISSION_DENIED, the listing is filtered.
    let r = call("/v1/endpoints/chat:chat", Some(KEY)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("from chat"), "{}", r.body);
    let (status, code, _) = google_error(&call("/v1/endpoints/other:chat", Some(KEY)).await);
    assert_eq!((status, code.as_str()), (403, "PERMISSION_DENIED"));
    let list = Reply::read(
        gw.http
            .get(gw.url("/v1/endpoints"))
            .header("authorization", format!("Bearer {KEY}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let list: pb::ListEndpointsResponse = serde_json::from_str(&list.body).unwrap();
    let names: Vec<&str> = list.endpoints.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["chat"]);
}
