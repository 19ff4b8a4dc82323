//! Hostile input, end to end: connection-level limits (request-header size, header-read and
//! idle timeouts, HTTP/2 limits) driven over raw TCP sockets and a rule-breaking HTTP/2 client,
//! and request-level hostile input (oversized bodies, deep JSON nesting, invalid UTF-8, wrong
//! methods, unknown routes, missing content types) on every surface: MLflow REST, OpenAI REST,
//! gRPC, grpc-web and Connect. Each answer must be a clear 4xx in that surface's own format.
//!
//! Timeouts are configured short (hundreds of milliseconds); nothing sleeps to synchronise:
//! a test reads until the server closes, under a generous outer bound.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use common::{CONFIG, TestGateway};
use llm_gateway::guard::ConnectionLimits;
use llm_gateway::pb::v1 as pb;
use llm_gateway::server;
use llm_gateway::service::{Gateway, Settings};
use pb::chat_service_client::ChatServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The outer bound on anything a test waits for.
const BOUND: Duration = Duration::from_secs(10);

/// A gateway serving an endpoint on the built-in mock provider, with `limits`.
async fn serve_limited(limits: ConnectionLimits) -> SocketAddr {
    let yaml = "endpoints:\n  - name: mock-chat\n    endpoint_type: llm/v1/chat\n    model: {provider: mock, name: mock-model, config: {}}\n";
    let loaded = llm_gateway::config::load_str(Path::new("t.yaml"), yaml, &|_| None).unwrap();
    let gateway = Gateway::new(&loaded.config, &Settings::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = server::app(gateway, server::DEFAULT_BODY_LIMIT);
    tokio::spawn(async move {
        let shutdown = std::future::pending::<()>();
        server::serve_with_limits(listener, app, shutdown, Duration::from_secs(1), &limits).await
    });
    addr
}

/// Reads until the server closes the connection (EOF or reset); panics past [`BOUND`].
async fn read_until_closed(tcp: &mut (impl tokio::io::AsyncRead + Unpin)) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 8192];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open");
    got
}

/// Reads one HTTP/1.1 response with a `content-length` body (the connection stays open).
async fn read_response(tcp: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    tokio::time::timeout(BOUND, async {
        loop {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed mid-response: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    return text;
                }
            }
        }
    })
    .await
    .unwrap()
}

// ------------------------------------------------------------------ connection limits

#[tokio::test]
async fn http1_request_heads_past_64_kib_get_431() {
    let addr = serve_limited(ConnectionLimits::default()).await;

    // Just under the limit: served.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let pad = "a".repeat(60 * 1024);
    let head =
        format!("GET /health HTTP/1.1\r\nhost: x\r\nx-pad: {pad}\r\nconnection: close\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut tcp).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200 "),
        "{}",
        String::from_utf8_lossy(&answer[..40.min(answer.len())])
    );

    // A head that reaches 64 KiB without ending: 431, then the connection closes. (Exactly the
    // limit is sent, so the server has read everything and closes cleanly instead of with a
    // reset that could discard its answer.)
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut head = b"GET /health HTTP/1.1\r\nhost: x\r\nx-pad: ".to_vec();
    head.resize(64 * 1024, b'a');
    tcp.write_all(&head).await.unwrap();
    let answer = read_until_closed(&mut tcp).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
}

#[tokio::test]
async fn a_smaller_header_limit_is_honoured() {
    let addr = serve_limited(ConnectionLimits {
        max_header_bytes: 16 * 1024,
        ..ConnectionLimits::default()
    })
    .await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut head = b"GET /health HTTP/1.1\r\nhost: x\r\nx-pad: ".to_vec();
    head.resize(16 * 1024, b'a');
    tcp.write_all(&head).await.unwrap();
    let answer = read_until_closed(&mut tcp).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 431 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

/// An HTTP/2 (h2c, prior knowledge) connection to `addr`.
async fn h2(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    send
}

/// GET /health over `send` with one extra header of `pad` bytes: the status, or the stream
/// error's reason.
async fn h2_health(
    send: &mut h2::client::SendRequest<Bytes>,
    pad: usize,
) -> Result<u16, Option<h2::Reason>> {
    let req = http::Request::get("http://gateway/health")
        .header("x-pad", "a".repeat(pad))
        .body(())
        .unwrap();
    let mut ready = send.clone().ready().await.map_err(|e| e.reason())?;
    let (answer, _) = ready.send_request(req, true).map_err(|e| e.reason())?;
    let resp = tokio::time::timeout(BOUND, answer).await.unwrap();
    *send = ready;
    resp.map(|r| r.status().as_u16()).map_err(|e| e.reason())
}

#[tokio::test]
async fn http2_header_lists_past_the_limit_are_refused_and_the_connection_lives_on() {
    let addr = serve_limited(ConnectionLimits::default()).await;
    let mut send = h2(addr).await;
    // 60 KiB: over hyper's own default (16 KiB), under ours.
    assert_eq!(h2_health(&mut send, 60 * 1024).await, Ok(200));
    // Past 64 KiB: the h2 server answers that stream 431 (and resets it).
    assert_eq!(h2_health(&mut send, 70 * 1024).await, Ok(431));
    // Only that stream: the connection still serves.
    assert_eq!(h2_health(&mut send, 10).await, Ok(200));
}

#[tokio::test]
async fn http2_settings_advertise_the_stream_limit() {
    let addr = serve_limited(ConnectionLimits {
        h2_max_concurrent_streams: 7,
        ..ConnectionLimits::default()
    })
    .await;
    let mut send = h2(addr).await;
    assert_eq!(h2_health(&mut send, 1).await, Ok(200));
    // The server's SETTINGS arrived before its first response.
    assert_eq!(send.current_max_send_streams(), 7);
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_by_the_header_read_timeout() {
    let addr = serve_limited(ConnectionLimits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(600),
        ..ConnectionLimits::default()
    })
    .await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = tcp.into_split();
    // A byte every 20 ms: each read makes progress, the head never completes.
    let trickle = tokio::spawn(async move {
        let head = b"GET /health HTTP/1.1\r\nhost: x\r\nx-slow: ";
        for byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let mut got = Vec::new();
    let closed = tokio::time::timeout(BOUND, read.read_to_end(&mut got)).await;
    assert!(closed.is_ok(), "a slowloris connection stayed open");
    // Closed without an answer (hyper sends none on a header timeout).
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    trickle.abort();

    // A client that sends its head at once is served by the same server.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut tcp)
            .await
            .starts_with(b"HTTP/1.1 200 ")
    );
}

#[tokio::test]
async fn a_connection_that_never_sends_a_request_is_closed() {
    let addr = serve_limited(ConnectionLimits {
        header_read_timeout: Duration::from_secs(600),
        idle_timeout: Duration::from_millis(300),
        ..ConnectionLimits::default()
    })
    .await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    assert!(read_until_closed(&mut tcp).await.is_empty());
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_between_requests() {
    let addr = serve_limited(ConnectionLimits {
        header_read_timeout: Duration::from_secs(600),
        idle_timeout: Duration::from_millis(300),
        ..ConnectionLimits::default()
    })
    .await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    // Two requests on the connection (it is kept alive), then nothing: closed.
    for _ in 0..2 {
        tcp.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = read_response(&mut tcp).await;
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        assert!(!answer.to_ascii_lowercase().contains("connection: close"));
    }
    assert!(read_until_closed(&mut tcp).await.is_empty());
}

#[tokio::test]
async fn an_http2_connection_without_streams_is_closed_with_goaway() {
    let addr = serve_limited(ConnectionLimits {
        idle_timeout: Duration::from_millis(300),
        ..ConnectionLimits::default()
    })
    .await;
    // Never opens a stream.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (_send, conn) = h2::client::handshake(tcp).await.unwrap();
    let ended = tokio::time::timeout(BOUND, conn).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection stayed open");

    // One that served a request, then idles.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    let conn = tokio::spawn(conn);
    let mut send = send;
    assert_eq!(h2_health(&mut send, 1).await, Ok(200));
    let ended = tokio::time::timeout(BOUND, conn).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection stayed open");
}

// ------------------------------------------------------------------ request-level input

const LIMIT: usize = 1024;

/// POSTs raw bytes with a content type (or none); returns status, headers and body.
async fn post_raw(
    gw: &TestGateway,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    let mut req = gw.http.post(gw.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

/// `body` (OpenAI's shape, naming the endpoint in `model`) as `path` takes it: MLflow's
/// invocation routes name the endpoint in the path and refuse a `model` field.
fn for_path(path: &str, body: &[u8]) -> Vec<u8> {
    let model = br#""model":"mock-chat","#;
    if path.starts_with("/gateway/")
        && let Some(at) = body.windows(model.len()).position(|w| w == model)
    {
        let mut out = body[..at].to_vec();
        out.extend_from_slice(&body[at + model.len()..]);
        return out;
    }
    body.to_vec()
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

fn big_chat_json() -> Vec<u8> {
    format!(
        r#"{{"model":"mock-chat","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(LIMIT * 2)
    )
    .into_bytes()
}

#[tokio::test]
async fn bodies_past_the_limit_are_refused_on_every_surface() {
    let gw = TestGateway::start_with_limit(CONFIG, LIMIT).await;
    for path in ["/gateway/mock-chat/invocations", "/v1/chat/completions"] {
        let (status, _, body) = post_raw(
            &gw,
            path,
            Some("application/json"),
            for_path(path, &big_chat_json()),
        )
        .await;
        assert_eq!(status, 413, "{path}");
        assert_eq!(
            json(&body)["detail"],
            format!("request body exceeds the limit of {LIMIT} bytes"),
            "{path}"
        );
    }

    // Connect: resource_exhausted (HTTP 429 in Connect's code table).
    let (status, _, body) = post_raw(
        &gw,
        "/llmgateway.v1.ChatService/Chat",
        Some("application/json"),
        big_chat_json(),
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(json(&body)["code"], "resource_exhausted");

    // gRPC: a message past the limit (tonic says OUT_OF_RANGE; the gateway, as gRPC's own
    // implementations, RESOURCE_EXHAUSTED).
    let mut client = ChatServiceClient::new(gw.channel().await);
    let status = client.chat(big_grpc_chat()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("message length too large"),
        "{status:?}"
    );

    // grpc-web: the same, as a trailers-only answer.
    let (status, headers, _) = post_raw(
        &gw,
        "/llmgateway.v1.ChatService/Chat",
        Some("application/grpc-web+proto"),
        common::grpc_web_frame(&big_grpc_chat()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["grpc-status"], "8", "RESOURCE_EXHAUSTED");
}

fn big_grpc_chat() -> pb::ChatRequest {
    pb::ChatRequest {
        endpoint: "mock-chat".into(),
        messages: vec![pb::Message {
            role: "user".into(),
            content: Some("a".repeat(LIMIT * 2)),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// `{"model":..,"messages":[..],"extra": [[[[...]]]]}` nested `depth` arrays deep.
fn deeply_nested(depth: usize) -> Vec<u8> {
    let mut body =
        br#"{"model":"mock-chat","messages":[{"role":"user","content":"hi"}],"metadata":"#.to_vec();
    body.extend(std::iter::repeat_n(b'[', depth));
    body.extend(std::iter::repeat_n(b']', depth));
    body.push(b'}');
    body
}

#[tokio::test]
async fn deeply_nested_json_is_a_client_error_not_a_stack_overflow() {
    let gw = TestGateway::start(CONFIG).await;
    let body = deeply_nested(100_000);
    for path in ["/gateway/mock-chat/invocations", "/v1/chat/completions"] {
        let (status, _, answer) =
            post_raw(&gw, path, Some("application/json"), for_path(path, &body)).await;
        // serde_json's recursion limit (128), answered as MLflow's FastAPI answers bad JSON.
        assert_eq!(status, 422, "{path}");
        let detail = &json(&answer)["detail"][0];
        assert_eq!(detail["type"], "json_invalid", "{path}");
        let error = detail["ctx"]["error"].as_str().unwrap();
        assert!(
            error.starts_with("recursion limit exceeded"),
            "{path}: {error}"
        );
    }
    // Connect: the nesting inside `extraParams` (a google.protobuf.Struct, decoded
    // recursively); unknown fields are skipped without recursion.
    let mut connect = br#"{"endpoint":"mock-chat","messages":[{"role":"user","content":"hi"}],"extraParams":{"x":"#.to_vec();
    connect.extend(std::iter::repeat_n(b'[', 100_000));
    connect.extend(std::iter::repeat_n(b']', 100_000));
    connect.extend_from_slice(b"}}");
    let (status, _, answer) = post_raw(
        &gw,
        "/llmgateway.v1.ChatService/Chat",
        Some("application/json"),
        connect,
    )
    .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(json(&answer)["code"], "invalid_argument");

    // gRPC: a Struct nested past prost's recursion limit is INVALID_ARGUMENT (tonic says
    // INTERNAL for any undecodable message; the gateway corrects it).
    let mut value = pbjson_types::Value::from("leaf");
    for _ in 0..200 {
        value = pbjson_types::Value {
            kind: Some(pbjson_types::value::Kind::ListValue(
                pbjson_types::ListValue {
                    values: vec![value],
                },
            )),
        };
    }
    let mut request = big_grpc_chat();
    request.messages[0].content = Some("hi".into());
    request.extra_params = Some(pbjson_types::Struct {
        fields: [("x".to_owned(), value)].into_iter().collect(),
    });
    let mut client = ChatServiceClient::new(gw.channel().await);
    let status = client.chat(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");

    // Still serving: nothing overflowed its stack.
    let health = gw.get("/health").await;
    assert_eq!(health.status, 200);
}

#[tokio::test]
async fn invalid_utf8_bodies_are_client_errors() {
    let gw = TestGateway::start(CONFIG).await;
    let body =
        b"{\"model\":\"mock-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}"
            .to_vec();
    for path in ["/gateway/mock-chat/invocations", "/v1/chat/completions"] {
        let (status, _, answer) =
            post_raw(&gw, path, Some("application/json"), for_path(path, &body)).await;
        // FastAPI's answer to a body it cannot decode.
        assert_eq!(status, 400, "{path}");
        assert_eq!(
            json(&answer)["detail"],
            "There was an error parsing the body",
            "{path}"
        );
    }
    let (status, _, answer) = post_raw(
        &gw,
        "/llmgateway.v1.ChatService/Chat",
        Some("application/json"),
        body,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(json(&answer)["code"], "invalid_argument");

    // gRPC: a protobuf string field that is not UTF-8.
    let mut frame = vec![0u8];
    // ChatRequest { endpoint (1) = "mock-chat", messages (2) = [{ role (1) = "user", content (2) = FF FE }] }
    let mut msg = vec![0x0a, 9];
    msg.extend_from_slice(b"mock-chat");
    msg.extend_from_slice(&[0x12, 10, 0x0a, 4]);
    msg.extend_from_slice(b"user");
    msg.extend_from_slice(&[0x12, 2, 0xff, 0xfe]);
    frame.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&msg);
    let (status, headers, _) = post_raw(
        &gw,
        "/llmgateway.v1.ChatService/Chat",
        Some("application/grpc-web+proto"),
        frame,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["grpc-status"], "3", "INVALID_ARGUMENT: {headers:?}");
}

#[tokio::test]
async fn wrong_methods_and_unknown_routes_are_clear_4xx() {
    let gw = TestGateway::start(CONFIG).await;
    // REST: 405 and 404 with a JSON detail.
    for path in ["/gateway/mock-chat/invocations", "/v1/chat/completions"] {
        let r = gw.get(path).await;
        assert_eq!(r.status, 405, "{path}");
        assert_eq!(r.json()["detail"], "Method Not Allowed", "{path}");
    }
    for path in ["/nope", "/v1/nope", "/gateway/mock-chat/nope"] {
        let r = gw.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["detail"], "Not Found", "{path}");
    }
    // Connect: an unknown method is `unimplemented` (404); PUT is not a Connect method (405).
    let (status, _, body) = post_raw(
        &gw,
        "/llmgateway.v1.ChatService/Nope",
        Some("application/json"),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(json(&body)["code"], "unimplemented");
    let resp = gw
        .http
        .put(gw.url("/llmgateway.v1.ChatService/Chat"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    // gRPC and grpc-web: UNIMPLEMENTED.
    let (status, headers, _) = post_raw(
        &gw,
        "/llmgateway.v1.ChatService/Nope",
        Some("application/grpc-web+proto"),
        vec![0, 0, 0, 0, 0],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["grpc-status"], "12");
}

#[tokio::test]
async fn missing_or_wrong_content_types_are_answered_clearly() {
    let gw = TestGateway::start(CONFIG).await;
    let chat = br#"{"model":"mock-chat","messages":[{"role":"user","content":"hi"}]}"#.to_vec();
    // Connect needs a codec: 415 with its error JSON.
    for ct in [None, Some("text/plain")] {
        let (status, _, body) =
            post_raw(&gw, "/llmgateway.v1.ChatService/Chat", ct, chat.clone()).await;
        assert_eq!(status, 415, "{ct:?}");
        assert!(json(&body).get("code").is_some(), "{ct:?}");
    }
    // REST: MLflow's FastAPI reads the body as JSON whatever the content type says, and so do
    // we; a body that is not JSON is a 4xx with the surface's JSON detail.
    for path in ["/gateway/mock-chat/invocations", "/v1/chat/completions"] {
        let (status, _, body) = post_raw(&gw, path, None, for_path(path, &chat)).await;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        let (status, _, body) = post_raw(&gw, path, Some("text/plain"), b"hello".to_vec()).await;
        assert_eq!(status, 422, "{path}");
        assert_eq!(json(&body)["detail"][0]["type"], "json_invalid", "{path}");
    }
}

// ------------------------------------------------------------------ panics

/// A route that panics: added through `AppOptions::routes`, the embedding hook the shipped
/// binary never sets, so no request to `llm-gateway` can reach it.
async fn boom() -> &'static str {
    panic!("boom: a bug on a request path")
}

#[tokio::test]
async fn a_panicking_handler_answers_500_for_that_request_only() {
    let routes = axum::Router::new()
        .route("/boom", axum::routing::any(boom))
        .route("/llmgateway.v1.TestService/Boom", axum::routing::any(boom));
    let options = server::AppOptions {
        routes: Some(routes),
        ..server::AppOptions::default()
    };
    let gw = TestGateway::start_with_options(CONFIG, Settings::default(), options).await;

    // REST: a 500 with the JSON detail (and the request id, as every answer has).
    let (status, headers, body) =
        post_raw(&gw, "/boom", Some("application/json"), b"{}".to_vec()).await;
    assert_eq!(status, 500);
    assert!(headers.contains_key("x-request-id"));
    let detail = json(&body)["detail"].as_str().unwrap().to_owned();
    assert_eq!(
        detail,
        "The gateway failed while handling this request; it has been logged."
    );
    assert!(
        !detail.contains("boom"),
        "the panic message is logged, never sent"
    );

    // Connect: `internal` (HTTP 500) with its error JSON.
    let path = "/llmgateway.v1.TestService/Boom";
    let (status, _, body) = post_raw(&gw, path, Some("application/json"), b"{}".to_vec()).await;
    assert_eq!(status, 500);
    assert_eq!(json(&body)["code"], "internal");

    // grpc-web and gRPC: INTERNAL, trailers-only.
    let (status, headers, _) = post_raw(
        &gw,
        path,
        Some("application/grpc-web+proto"),
        vec![0, 0, 0, 0, 0],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["grpc-status"], "13");
    let mut send = h2(gw.addr).await;
    let req = http::Request::post(format!("http://{}{path}", gw.addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let mut ready = send.clone().ready().await.unwrap();
    let (answer, mut body) = ready.send_request(req, false).unwrap();
    body.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true)
        .unwrap();
    let resp = tokio::time::timeout(BOUND, answer).await.unwrap().unwrap();
    assert_eq!(resp.headers()["grpc-status"], "13");
    send = ready;
    drop(send);

    // The process keeps serving, on the same connection pool and new ones.
    for _ in 0..3 {
        let r = gw
            .post(
                "/gateway/mock-chat/invocations",
                r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let mut client = ChatServiceClient::new(gw.channel().await);
    let mut request = big_grpc_chat();
    request.messages[0].content = Some("hi".into());
    assert!(client.chat(request).await.is_ok());
}

// ------------------------------------------------------------------ the binary's flags

const BIN: &str = env!("CARGO_BIN_EXE_llm-gateway");

#[test]
fn the_binary_refuses_limits_it_cannot_apply() {
    for (flag, value) in [
        ("--idle-timeout-seconds", "0"),
        ("--header-read-timeout-seconds", "0"),
        ("--http2-keepalive-seconds", "nan"),
        ("--max-header-bytes", "10"),
        ("--http2-max-concurrent-streams", "0"),
    ] {
        let out = std::process::Command::new(BIN)
            .args([
                "start",
                "--port",
                "0",
                "--config-path",
                "examples/quickstart.yaml",
            ])
            .args([flag, value])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{flag}: {stderr}");
    }
}

#[tokio::test]
async fn the_binary_applies_its_header_limit_flag() {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(BIN)
        .args(["start", "--host", "127.0.0.1", "--port", "0"])
        .args(["--config-path", "examples/quickstart.yaml"])
        .args(["--max-header-bytes", "8192", "--max-in-flight", "1"])
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("exited before listening").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    let mut head = b"GET /health HTTP/1.1\r\nhost: x\r\nx-pad: ".to_vec();
    head.resize(8192, b'a');
    tcp.write_all(&head).await.unwrap();
    let answer = read_until_closed(&mut tcp).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        answer.starts_with(b"HTTP/1.1 431 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

// ------------------------------------------------------------------ the TLS listener

#[tokio::test]
async fn the_tls_listener_applies_the_same_connection_limits() {
    use std::sync::Arc;
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let certs = llm_gateway::tls::Certificates::load(&cert, &key).unwrap();

    let yaml = "endpoints:\n  - name: mock-chat\n    endpoint_type: llm/v1/chat\n    model: {provider: mock, name: mock-model, config: {}}\n";
    let loaded = llm_gateway::config::load_str(Path::new("t.yaml"), yaml, &|_| None).unwrap();
    let gateway = Gateway::new(&loaded.config, &Settings::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ConnectionLimits {
        max_header_bytes: 16 * 1024,
        idle_timeout: Duration::from_millis(300),
        ..ConnectionLimits::default()
    };
    let app = server::app(gateway, server::DEFAULT_BODY_LIMIT);
    tokio::spawn(async move {
        let shutdown = std::future::pending::<()>();
        let acceptor = certs.acceptor();
        llm_gateway::tls::serve_with_limits(listener, app, acceptor, shutdown, BOUND, &limits).await
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let connect = || async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        connector.connect(name, tcp).await.unwrap()
    };

    // The header limit: 431.
    let mut tls = connect().await;
    let mut head = b"GET /health HTTP/1.1\r\nhost: x\r\nx-pad: ".to_vec();
    head.resize(16 * 1024, b'a');
    tls.write_all(&head).await.unwrap();
    let answer = read_until_closed(&mut tls).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 431 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // The idle timeout: a connection that completes its handshake and sends nothing is closed.
    let mut tls = connect().await;
    assert!(read_until_closed(&mut tls).await.is_empty());
}
