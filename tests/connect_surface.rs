//! The Connect surface end to end, on the same port and paths as gRPC: every RPC of the four
//! services in JSON and binary Protobuf, unary and server streaming (over HTTP/1.1 and h2),
//! GET for the side-effect-free methods, Connect's error JSON and end-of-stream errors,
//! `Connect-Timeout-Ms`, gzip both ways, API-key refusals, rate limits and the size limit,
//! with hand-built requests as a Connect client sends them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use common::{CONFIG, TestGateway, chat_request, envelope, envelopes};
use llm_gateway::pb::v1 as pb;
use prost::Message as _;
use serde_json::Value;

const CHAT: &str = "/llmgateway.v1.ChatService/Chat";
const STREAM_CHAT: &str = "/llmgateway.v1.ChatService/StreamChat";
const COMPLETE: &str = "/llmgateway.v1.CompletionsService/Complete";
const STREAM_COMPLETE: &str = "/llmgateway.v1.CompletionsService/StreamComplete";
const EMBED: &str = "/llmgateway.v1.EmbeddingsService/Embed";
const LIST: &str = "/llmgateway.v1.EndpointsService/ListEndpoints";
const GET: &str = "/llmgateway.v1.EndpointsService/GetEndpoint";

/// A reply read whole, as bytes.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    async fn read(resp: reqwest::Response) -> Answer {
        Answer {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.unwrap().to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// A Connect unary error: (status, code, message).
    fn error(&self) -> (u16, String, String) {
        assert_eq!(self.header("content-type"), Some("application/json"));
        let j = self.json();
        (
            self.status,
            j["code"].as_str().unwrap().to_owned(),
            j["message"].as_str().unwrap().to_owned(),
        )
    }

    /// The (flags, payload) envelopes of a streaming body.
    fn frames(&self) -> Vec<(u8, Vec<u8>)> {
        envelopes(&self.body)
    }

    /// The data payloads of a stream, checking that it ends with one end-of-stream message,
    /// which is returned as JSON.
    fn stream(&self) -> (Vec<Vec<u8>>, Value) {
        assert_eq!(self.status, 200);
        let mut frames = self.frames();
        let (flags, end) = frames.pop().expect("an end-of-stream message");
        assert_eq!(flags, 0x02, "the last envelope ends the stream");
        assert!(frames.iter().all(|(f, _)| *f & 0x02 == 0));
        let data = frames.into_iter().map(|(_, p)| p).collect();
        (data, serde_json::from_slice(&end).unwrap())
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

async fn post(
    client: &reqwest::Client,
    gw: &TestGateway,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = client
        .post(gw.url(path))
        .header("content-type", content_type)
        .body(body);
    if !headers
        .iter()
        .any(|(k, _)| *k == "connect-protocol-version")
    {
        req = req.header("connect-protocol-version", "1");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Answer::read(req.send().await.unwrap()).await
}

async fn json(gw: &TestGateway, path: &str, body: &str) -> Answer {
    post(&gw.http, gw, path, "application/json", body.to_owned(), &[]).await
}

async fn proto(gw: &TestGateway, path: &str, msg: &impl prost::Message) -> Answer {
    post(
        &gw.http,
        gw,
        path,
        "application/proto",
        msg.encode_to_vec(),
        &[],
    )
    .await
}

const CHAT_JSON: &str = r#"{"endpoint":"chat","messages":[{"role":"user","content":"hi"}]}"#;

/// The text of a stream of chat chunks.
fn chat_text(chunks: &[pb::ChatChunk]) -> String {
    chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.as_ref().and_then(|d| d.content.as_deref()))
        .collect()
}

#[tokio::test]
async fn unary_json_for_every_method() {
    let gw = TestGateway::start(CONFIG).await;

    let r = json(&gw, CHAT, CHAT_JSON).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let chat: pb::ChatResponse = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(chat.provider, "openai");
    assert_eq!(
        chat.choices[0].message.as_ref().unwrap().content.as_deref(),
        Some("Hello from mock")
    );
    // Proto3 JSON, written with the proto field names.
    assert_eq!(r.json()["usage"]["total_tokens"], 12);
    assert_eq!(gw.upstream()[0].path_and_query, "/v1/chat/completions");

    let r = json(&gw, COMPLETE, r#"{"endpoint":"completions","prompt":"p"}"#).await;
    let done: pb::CompletionResponse = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(done.choices[0].text, "This is a test");

    let r = json(&gw, EMBED, r#"{"endpoint":"embeddings","texts":["a","b"]}"#).await;
    let embed: pb::EmbedResponse = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(embed.data.len(), 2);
    assert_eq!(embed.model, "text-embedding-3-small");

    // camelCase names are accepted too, as proto3 JSON allows.
    let r = json(&gw, LIST, r#"{"pageSize":2}"#).await;
    let list: pb::ListEndpointsResponse = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(list.endpoints.len(), 2);
    assert_eq!(list.endpoints[0].name, "chat");
    assert!(!list.next_page_token.is_empty());
    // An empty body is the empty message.
    let r = json(&gw, LIST, "").await;
    let all: pb::ListEndpointsResponse = serde_json::from_slice(&r.body).unwrap();
    assert!(all.endpoints.len() > 2 && all.next_page_token.is_empty());

    let r = json(&gw, GET, r#"{"name":"chat-limited"}"#).await;
    let ep: pb::Endpoint = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(ep.endpoint_url, "/gateway/chat-limited/invocations");
    assert_eq!(ep.limit.unwrap().calls, 2);

    // Metrics label these calls with the Connect surface.
    let metrics = gw.get("/metrics").await;
    assert!(
        metrics.body.contains(r#"surface="connect""#),
        "{}",
        metrics.body
    );
}

#[tokio::test]
async fn unary_proto_for_every_method() {
    let gw = TestGateway::start(CONFIG).await;

    let r = proto(&gw, CHAT, &chat_request("chat")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/proto"));
    let chat = pb::ChatResponse::decode(&r.body[..]).unwrap();
    assert_eq!(chat.model, "gpt-4o-mini");
    assert_eq!(chat.usage.unwrap().total_tokens, Some(12));

    let r = proto(
        &gw,
        COMPLETE,
        &pb::CompletionRequest {
            endpoint: "completions".into(),
            prompt: "p".into(),
            ..Default::default()
        },
    )
    .await;
    let done = pb::CompletionResponse::decode(&r.body[..]).unwrap();
    assert_eq!(done.choices[0].text, "This is a test");

    let r = proto(
        &gw,
        EMBED,
        &pb::EmbedRequest {
            endpoint: "embeddings".into(),
            texts: vec!["a".into()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        pb::EmbedResponse::decode(&r.body[..]).unwrap().data.len(),
        1
    );

    let r = proto(
        &gw,
        LIST,
        &pb::ListEndpointsRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await;
    let list = pb::ListEndpointsResponse::decode(&r.body[..]).unwrap();
    assert_eq!(list.endpoints.len(), 1);

    let r = proto(
        &gw,
        GET,
        &pb::GetEndpointRequest {
            name: "embeddings".into(),
        },
    )
    .await;
    let ep = pb::Endpoint::decode(&r.body[..]).unwrap();
    assert_eq!(ep.endpoint_type, "llm/v1/embeddings");
}

#[tokio::test]
async fn streams_in_json_and_proto_over_http1_and_h2() {
    let gw = TestGateway::start(CONFIG).await;
    let h1 = reqwest::Client::builder().http1_only().build().unwrap();
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for (client, version) in [
        (&h1, reqwest::Version::HTTP_11),
        (&h2, reqwest::Version::HTTP_2),
    ] {
        let resp = client
            .post(gw.url(STREAM_CHAT))
            .header("content-type", "application/connect+json")
            .header("connect-protocol-version", "1")
            .body(envelope(0, CHAT_JSON.as_bytes()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.version(), version);
        let r = Answer::read(resp).await;
        assert_eq!(r.header("content-type"), Some("application/connect+json"));
        let (data, end) = r.stream();
        assert_eq!(end, serde_json::json!({}));
        let chunks: Vec<pb::ChatChunk> = data
            .iter()
            .map(|d| serde_json::from_slice(d).unwrap())
            .collect();
        assert_eq!(chat_text(&chunks), "Hello from mock");
        assert!(chunks.iter().any(|c| c.usage.is_some()));
        assert!(chunks.iter().all(|c| c.provider == "openai"));

        let r = post(
            client,
            &gw,
            STREAM_CHAT,
            "application/connect+proto",
            envelope(0, &chat_request("chat").encode_to_vec()),
            &[],
        )
        .await;
        assert_eq!(r.header("content-type"), Some("application/connect+proto"));
        let (data, end) = r.stream();
        assert_eq!(end, serde_json::json!({}));
        let chunks: Vec<pb::ChatChunk> = data
            .iter()
            .map(|d| pb::ChatChunk::decode(&d[..]).unwrap())
            .collect();
        assert_eq!(chat_text(&chunks), "Hello from mock");

        let completion = pb::CompletionRequest {
            endpoint: "completions".into(),
            prompt: "p".into(),
            ..Default::default()
        };
        let r = post(
            client,
            &gw,
            STREAM_COMPLETE,
            "application/connect+proto",
            envelope(0, &completion.encode_to_vec()),
            &[],
        )
        .await;
        let (data, end) = r.stream();
        assert_eq!(end, serde_json::json!({}));
        let text: String = data
            .iter()
            .map(|d| pb::CompletionChunk::decode(&d[..]).unwrap())
            .flat_map(|c| c.choices)
            .map(|c| c.text)
            .collect();
        assert!(!text.is_empty());
        let r = post(
            client,
            &gw,
            STREAM_COMPLETE,
            "application/connect+json",
            envelope(0, br#"{"endpoint":"completions","prompt":"p"}"#),
            &[],
        )
        .await;
        let (data, _) = r.stream();
        assert!(!data.is_empty());
    }
}

#[tokio::test]
async fn get_for_the_side_effect_free_methods() {
    let gw = TestGateway::start(CONFIG).await;
    // JSON in the query, percent-encoded.
    let r = gw
        .get(&format!(
            "{LIST}?connect=v1&encoding=json&message=%7B%22page_size%22%3A2%7D"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("vary"), Some("accept-encoding"));
    let list: pb::ListEndpointsResponse = serde_json::from_str(&r.body).unwrap();
    assert_eq!(list.endpoints.len(), 2);

    // Binary Protobuf, URL-safe base64 without padding.
    let msg = pb::GetEndpointRequest {
        name: "chat".into(),
    }
    .encode_to_vec();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&msg);
    let resp = gw
        .http
        .get(gw.url(&format!("{GET}?encoding=proto&base64=1&message={b64}")))
        .send()
        .await
        .unwrap();
    let r = Answer::read(resp).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/proto"));
    assert_eq!(pb::Endpoint::decode(&r.body[..]).unwrap().name, "chat");

    // Compressed GET message.
    let gz = base64::engine::general_purpose::URL_SAFE.encode(gzip(br#"{"name":"embeddings"}"#));
    let r = gw
        .get(&format!(
            "{GET}?encoding=json&base64=1&compression=gzip&message={gz}"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "embeddings");

    // Errors on GET are unary errors.
    let r = gw
        .get(&format!(
            "{GET}?encoding=json&message=%7B%22name%22%3A%22nope%22%7D"
        ))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "not_found");
    // Methods with side effects take POST only; a GET needs an encoding.
    let r = gw
        .get(&format!("{CHAT}?encoding=json&message=%7B%7D"))
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = gw.get(LIST).await;
    assert_eq!(r.status, 415);
    assert_eq!(r.json()["code"], "unimplemented");
    let r = gw.get(&format!("{LIST}?encoding=json&connect=v2")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "invalid_argument");
}

#[tokio::test]
async fn errors_carry_codes_and_clear_messages() {
    let gw = TestGateway::start(CONFIG).await;
    let cases = [
        ("nope", 404, "not_found"),
        ("embeddings", 400, "invalid_argument"),
        ("err400", 400, "invalid_argument"),
        ("err429", 429, "resource_exhausted"),
        ("errnoerr", 503, "unavailable"),
        ("unreachable", 503, "unavailable"),
    ];
    for (endpoint, status, code) in cases {
        let body =
            format!(r#"{{"endpoint":"{endpoint}","messages":[{{"role":"user","content":"hi"}}]}}"#);
        let (s, c, m) = json(&gw, CHAT, &body).await.error();
        assert_eq!((s, c.as_str()), (status, code), "{endpoint}: {m}");
    }
    let (_, _, message) = json(
        &gw,
        CHAT,
        r#"{"endpoint":"nope","messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await
    .error();
    assert!(message.contains("nope"), "{message}");

    // A request the service rejects: the message says what is wrong.
    let (status, code, message) = json(&gw, CHAT, r#"{"endpoint":"chat"}"#).await.error();
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    assert!(message.contains("messages"), "{message}");
    // Bodies that are not messages at all.
    let (status, code, message) = json(&gw, CHAT, r#"{"endpoint": 5"#).await.error();
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    assert!(
        message.starts_with("The request is not a valid JSON message"),
        "{message}"
    );
    let r = post(
        &gw.http,
        &gw,
        CHAT,
        "application/proto",
        vec![0x0a, 0x09, b'x'],
        &[],
    )
    .await;
    let (status, code, message) = r.error();
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    assert!(message.contains("Protobuf"), "{message}");
    // A provider that cannot serve the call.
    let (status, code, _) = json(
        &gw,
        COMPLETE,
        r#"{"endpoint":"groq-completions","prompt":"p"}"#,
    )
    .await
    .error();
    assert_eq!((status, code.as_str()), (501, "unimplemented"));

    // Protocol errors: content type, method, version, unknown method.
    let r = post(&gw.http, &gw, CHAT, "text/plain", CHAT_JSON, &[]).await;
    assert_eq!(r.status, 415);
    let r = post(
        &gw.http,
        &gw,
        STREAM_CHAT,
        "application/json",
        CHAT_JSON,
        &[],
    )
    .await;
    assert_eq!(r.status, 415, "a stream takes enveloped messages");
    let r = post(
        &gw.http,
        &gw,
        CHAT,
        "application/connect+json",
        CHAT_JSON,
        &[],
    )
    .await;
    assert_eq!(r.status, 415, "a unary call takes a bare message");
    let r = Answer::read(gw.http.put(gw.url(CHAT)).send().await.unwrap()).await;
    assert_eq!(r.status, 405);
    let r = post(
        &gw.http,
        &gw,
        CHAT,
        "application/json",
        CHAT_JSON,
        &[("connect-protocol-version", "2")],
    )
    .await;
    assert_eq!(r.status, 400);
    let r = json(&gw, "/llmgateway.v1.ChatService/Nope", "{}").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "unimplemented");
}

#[tokio::test]
async fn stream_failures_end_with_an_error_message() {
    let gw = TestGateway::start(CONFIG).await;
    // Before the stream starts: still 200, only the end-of-stream message.
    for (endpoint, code) in [("nope", "not_found"), ("err400", "invalid_argument")] {
        let r = post(
            &gw.http,
            &gw,
            STREAM_CHAT,
            "application/connect+proto",
            envelope(0, &chat_request(endpoint).encode_to_vec()),
            &[],
        )
        .await;
        let (data, end) = r.stream();
        assert!(data.is_empty());
        assert_eq!(end["error"]["code"], code, "{endpoint}: {end}");
        assert!(end["error"]["message"].as_str().unwrap().len() > 3);
    }
    // After it started: the messages so far, then the error.
    let r = post(
        &gw.http,
        &gw,
        STREAM_CHAT,
        "application/connect+json",
        envelope(
            0,
            &serde_json::to_vec(&chat_request("stream-error")).unwrap(),
        ),
        &[],
    )
    .await;
    let (data, end) = r.stream();
    assert!(!data.is_empty());
    assert!(end["error"]["code"].is_string(), "{end}");
    assert!(end["error"]["message"].is_string(), "{end}");
    // A body that is not one envelope.
    let r = post(
        &gw.http,
        &gw,
        STREAM_CHAT,
        "application/connect+json",
        CHAT_JSON,
        &[],
    )
    .await;
    let (_, end) = r.stream();
    assert_eq!(end["error"]["code"], "invalid_argument");
}

#[tokio::test]
async fn connect_timeout_ms_is_the_deadline() {
    // `slow` answers after 2 s, well within the endpoint's own (default) timeout.
    let gw = TestGateway::start(
        r#"
endpoints:
  - name: slow
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: slow, config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}}
"#,
    )
    .await;
    let body = r#"{"endpoint":"slow","messages":[{"role":"user","content":"hi"}]}"#;
    let timeout = [("connect-timeout-ms", "200")];
    let r = post(&gw.http, &gw, CHAT, "application/json", body, &timeout).await;
    let (status, code, _) = r.error();
    assert_eq!((status, code.as_str()), (504, "deadline_exceeded"));

    let r = post(
        &gw.http,
        &gw,
        STREAM_CHAT,
        "application/connect+json",
        envelope(0, body.as_bytes()),
        &timeout,
    )
    .await;
    let (data, end) = r.stream();
    assert!(data.is_empty());
    assert_eq!(end["error"]["code"], "deadline_exceeded");

    let r = post(
        &gw.http,
        &gw,
        CHAT,
        "application/json",
        body,
        &[("connect-timeout-ms", "soon")],
    )
    .await;
    assert_eq!(r.error().1, "invalid_argument");
}

#[tokio::test]
async fn gzip_both_ways() {
    let gw = TestGateway::start(CONFIG).await;
    // Unary: a gzip request, and a gzip answer (the listing is large enough to be worth it).
    let r = post(
        &gw.http,
        &gw,
        LIST,
        "application/json",
        gzip(b"{}"),
        &[("content-encoding", "gzip"), ("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let list: pb::ListEndpointsResponse = serde_json::from_slice(&gunzip(&r.body)).unwrap();
    assert!(list.endpoints.len() > 5);
    // Without Accept-Encoding the answer is plain.
    let r = json(&gw, LIST, "{}").await;
    assert_eq!(r.header("content-encoding"), None);
    serde_json::from_slice::<pb::ListEndpointsResponse>(&r.body).unwrap();
    // Unsupported encodings are `unimplemented`, naming what is supported.
    let r = post(
        &gw.http,
        &gw,
        CHAT,
        "application/json",
        CHAT_JSON,
        &[("content-encoding", "br")],
    )
    .await;
    assert_eq!(r.header("accept-encoding"), Some("gzip"));
    let (status, code, message) = r.error();
    assert_eq!((status, code.as_str()), (501, "unimplemented"));
    assert!(message.contains("gzip"), "{message}");

    // Streams: a compressed request envelope, gzip negotiated for the answer.
    let r = post(
        &gw.http,
        &gw,
        STREAM_CHAT,
        "application/connect+json",
        envelope(0x01, &gzip(CHAT_JSON.as_bytes())),
        &[
            ("connect-content-encoding", "gzip"),
            ("connect-accept-encoding", "gzip"),
        ],
    )
    .await;
    assert_eq!(r.header("connect-content-encoding"), Some("gzip"));
    let mut frames = r.frames();
    let (flags, end) = frames.pop().unwrap();
    assert_eq!((flags, &end[..]), (0x02, &b"{}"[..]));
    let chunks: Vec<pb::ChatChunk> = frames
        .iter()
        .map(|(flags, p)| {
            let payload = if flags & 0x01 != 0 {
                gunzip(p)
            } else {
                p.clone()
            };
            serde_json::from_slice(&payload).unwrap()
        })
        .collect();
    assert_eq!(chat_text(&chunks), "Hello from mock");
    // A compressed envelope without a named encoding is refused.
    let r = post(
        &gw.http,
        &gw,
        STREAM_CHAT,
        "application/connect+json",
        envelope(0x01, &gzip(CHAT_JSON.as_bytes())),
        &[],
    )
    .await;
    assert_eq!(r.stream().1["error"]["code"], "invalid_argument");
}

#[tokio::test]
async fn limits_are_resource_exhausted() {
    let gw = TestGateway::start_with_limit(CONFIG, 300).await;
    // The endpoint's rate limit: two calls a minute.
    let body = r#"{"endpoint":"chat-limited","messages":[{"role":"user","content":"hi"}]}"#;
    for _ in 0..2 {
        assert_eq!(json(&gw, CHAT, body).await.status, 200);
    }
    let r = json(&gw, CHAT, body).await;
    assert!(r.header("retry-after").is_some());
    let (status, code, message) = r.error();
    assert_eq!((status, code.as_str()), (429, "resource_exhausted"));
    assert_eq!(message, "Rate limit exceeded: 2 per 1 minute");

    // The message size limit, on the body and after decompression.
    let big = format!(
        r#"{{"endpoint":"chat","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(400)
    );
    let (status, code, _) = json(&gw, CHAT, &big).await.error();
    assert_eq!((status, code.as_str()), (429, "resource_exhausted"));
    let r = post(
        &gw.http,
        &gw,
        CHAT,
        "application/json",
        gzip(big.as_bytes()),
        &[("content-encoding", "gzip")],
    )
    .await;
    assert_eq!(r.error().1, "resource_exhausted");
    let r = post(
        &gw.http,
        &gw,
        STREAM_CHAT,
        "application/connect+json",
        envelope(0, big.as_bytes()),
        &[],
    )
    .await;
    assert_eq!(r.stream().1["error"]["code"], "resource_exhausted");
}

const TEAM_KEY: &str = "team-a-key-0123456789";

#[tokio::test]
async fn api_keys_refuse_in_connect_shapes() {
    let gw = TestGateway::start(&format!(
        r#"
endpoints:
  - {{name: chat, endpoint_type: llm/v1/chat, model: {{provider: mock, name: m, config: {{response: "from chat"}}}}}}
  - {{name: other, endpoint_type: llm/v1/chat, model: {{provider: mock, name: m}}}}
api_keys:
  - {{name: team-a, key: {TEAM_KEY}, endpoints: [chat]}}
"#
    ))
    .await;
    let body = |endpoint: &str| {
        format!(r#"{{"endpoint":"{endpoint}","messages":[{{"role":"user","content":"hi"}}]}}"#)
    };
    let bearer = format!("Bearer {TEAM_KEY}");
    let key = [("authorization", bearer.as_str())];

    // No key: 401 with Connect's error JSON (unary), an end-of-stream error (streams).
    let r = json(&gw, CHAT, &body("chat")).await;
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let (status, code, _) = r.error();
    assert_eq!((status, code.as_str()), (401, "unauthenticated"));
    let r = post(
        &gw.http,
        &gw,
        STREAM_CHAT,
        "application/connect+json",
        envelope(0, body("chat").as_bytes()),
        &[],
    )
    .await;
    assert_eq!(r.header("content-type"), Some("application/connect+json"));
    assert_eq!(r.stream().1["error"]["code"], "unauthenticated");
    let r = gw.get(&format!("{LIST}?encoding=json")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "unauthenticated");

    // A valid key: its endpoints work, the others are permission_denied, listings filtered.
    let r = post(&gw.http, &gw, CHAT, "application/json", body("chat"), &key).await;
    assert_eq!(r.status, 200);
    let chat: pb::ChatResponse = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        chat.choices[0].message.as_ref().unwrap().content.as_deref(),
        Some("from chat")
    );
    let r = post(&gw.http, &gw, CHAT, "application/json", body("other"), &key).await;
    let (status, code, _) = r.error();
    assert_eq!((status, code.as_str()), (403, "permission_denied"));
    let r = post(
        &gw.http,
        &gw,
        STREAM_CHAT,
        "application/connect+json",
        envelope(0, body("other").as_bytes()),
        &key,
    )
    .await;
    assert_eq!(r.stream().1["error"]["code"], "permission_denied");
    let resp = gw
        .http
        .get(gw.url(&format!("{LIST}?encoding=json")))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    let list: pb::ListEndpointsResponse =
        serde_json::from_slice(&Answer::read(resp).await.body).unwrap();
    let names: Vec<_> = list.endpoints.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["chat"]);
}
