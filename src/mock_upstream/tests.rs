//! Tests of the mock upstream itself.

use super::*;

fn client(h2: bool) -> reqwest::Client {
    // reqwest is built without a default TLS provider; plain http still builds a TLS config.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder();
    let builder = if h2 {
        builder.http2_prior_knowledge()
    } else {
        builder
    };
    builder.build().unwrap()
}

async fn post(c: &reqwest::Client, url: String, body: Value) -> (u16, String, String) {
    let resp = c.post(url).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

#[tokio::test]
async fn chat_is_recorded_and_served_over_h1_and_h2c() {
    let mock = MockUpstream::start_local(MockOptions::default())
        .await
        .unwrap();
    for h2 in [false, true] {
        let c = client(h2);
        let resp = c
            .post(format!("{}/v1/chat/completions", mock.base_url()))
            .bearer_auth("sk-test")
            .json(&json!({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["model"], "gpt-x");
        assert_eq!(v["choices"][0]["message"]["content"], "Hello from mock");
        assert_eq!(v["usage"]["total_tokens"], 12);
    }
    let reqs = mock.take_requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path(), "/v1/chat/completions");
    assert_eq!(reqs[0].header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(reqs[0].json()["messages"][0]["content"], "hi");
    assert!(mock.requests().is_empty());
    assert_eq!(mock.request_count(), 2);
    mock.shutdown().await;
}

#[tokio::test]
async fn faults_by_model_and_by_azure_deployment() {
    let mock = MockUpstream::start_local(MockOptions::default())
        .await
        .unwrap();
    let c = client(false);
    let base = mock.base_url();
    let (s, _, b) = post(
        &c,
        format!("{base}/v1/chat/completions"),
        json!({"model": "err400"}),
    )
    .await;
    assert_eq!(
        (s, b.as_str()),
        (
            400,
            r#"{"error":{"message":"upstream bad request","type":"invalid_request_error"}}"#
        )
    );
    let url = format!("{base}/openai/deployments/err429/chat/completions?api-version=2024-02-01");
    let resp = c
        .post(url)
        .json(&json!({"messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let (s, ct, b) = post(
        &c,
        format!("{base}/v1/completions"),
        json!({"model": "err500text"}),
    )
    .await;
    assert_eq!(
        (s, ct.as_str(), b.as_str()),
        (500, "text/plain; charset=utf-8", "boom plain")
    );
    let url = format!("{base}/openai/deployments/echo-key/embeddings?api-version=1");
    let resp = c
        .post(url)
        .header("api-key", "az-secret")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.text().await.unwrap().contains("az-secret"));
    let (s, _, _) = post(&c, format!("{base}/v1/models"), json!({})).await;
    assert_eq!(s, 404);
    let reqs = mock.requests();
    assert_eq!(
        reqs[1].path_and_query,
        "/openai/deployments/err429/chat/completions?api-version=2024-02-01"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn streams_use_openai_framing() {
    let mock = MockUpstream::start_local(MockOptions::default())
        .await
        .unwrap();
    let c = client(false);
    let url = format!("{}/groq/openai/v1/chat/completions", mock.base_url());
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}});
    let (s, ct, text) = post(&c, url, body).await;
    assert_eq!((s, ct.as_str()), (200, SSE));
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.last(), Some(&"data: [DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello from mock");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );
    assert_eq!(chunks[chunks.len() - 1]["choices"], json!([]));
    assert_eq!(chunks[chunks.len() - 1]["usage"]["total_tokens"], 12);

    // stream-cut: the client gets the first frames, then a broken body.
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let resp = c
        .post(url)
        .json(&json!({"model": "stream-cut", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.is_err());
    mock.shutdown().await;
}

#[tokio::test]
async fn embeddings_are_deterministic_without_recording() {
    let mock = MockUpstream::start_local(MockOptions {
        record: false,
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let c = client(false);
    let url = format!("{}/v1/embeddings", mock.base_url());
    let (_, _, a) = post(&c, url.clone(), json!({"input": ["a", "b"]})).await;
    let (_, _, b) = post(&c, url.clone(), json!({"input": ["a", "b"]})).await;
    assert_eq!(a, b);
    let v: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 3);
    assert_ne!(v["data"][0]["embedding"], v["data"][1]["embedding"]);
    let body = json!({"input": [[1, 2], [3]], "dimensions": 4, "encoding_format": "base64"});
    let (_, _, text) = post(&c, url, body).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw.len(), 16);
    assert!(mock.requests().is_empty());
    assert_eq!(mock.request_count(), 3);
    mock.shutdown().await;
}
