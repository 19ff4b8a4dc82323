//! One client per surface, each reducing what it saw to an [`Outcome`] and checking on the way
//! that the answer is protocol-correct for that surface (JSON errors, never `text/plain`; a
//! started stream ends with exactly one terminal error and no `[DONE]`; gRPC statuses in
//! trailers).

use std::time::Duration;

use futures::StreamExt;
use llm_gateway::pb::v1 as pb;
use pb::chat_service_client::ChatServiceClient;
use prost::Message as _;
use serde_json::Value;
use tonic::Code;

use crate::common::{TestGateway, chat_request, envelopes, grpc_web_frame};

/// No call may take longer than this (a hang is a failure, not a slow pass).
pub const CALL_BOUND: Duration = Duration::from_secs(20);

/// The surfaces, in the order the tables are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// `POST /gateway/{name}/invocations`.
    MlflowGateway,
    /// `POST /endpoints/{name}/invocations`.
    MlflowEndpoints,
    /// `POST /v1/chat/completions`.
    OpenAi,
    /// tonic client over h2c.
    Grpc,
    /// grpc-web over HTTP/1.1, hand-built frames.
    GrpcWeb,
    /// Connect: unary JSON, streaming `application/connect+json` envelopes.
    Connect,
    /// The REST bridge: `POST /v1/endpoints/{name}:chat` / `:streamChat`.
    Bridge,
}

pub const ALL: [Surface; 7] = [
    Surface::MlflowGateway,
    Surface::MlflowEndpoints,
    Surface::OpenAi,
    Surface::Grpc,
    Surface::GrpcWeb,
    Surface::Connect,
    Surface::Bridge,
];

impl Surface {
    /// Whether the surface reports gRPC codes (else HTTP statuses of MLflow's REST API).
    pub fn has_codes(self) -> bool {
        !matches!(
            self,
            Surface::MlflowGateway | Surface::MlflowEndpoints | Surface::OpenAi
        )
    }
}

/// What a client saw, normalised across surfaces.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The HTTP status of the answer (200 for a started stream and for gRPC).
    pub http: u16,
    /// The error's status as the surface states it: the HTTP status for the REST APIs (in the
    /// SSE error event's `code` for a started stream).
    pub status: Option<u16>,
    /// The gRPC code, on the surfaces that have one.
    pub code: Option<Code>,
    /// The error text; empty for a success.
    pub text: String,
    /// `Retry-After` (header, or gRPC metadata).
    pub retry_after: Option<String>,
    /// Data messages or events received before the end (or the error).
    pub before: usize,
    /// Whether the call succeeded.
    pub ok: bool,
    /// Everything the client saw (headers, body, trailers), for leak checks.
    pub raw: String,
}

const HI: &str = r#"[{"role":"user","content":"hi"}]"#;

fn headers_text(h: &reqwest::header::HeaderMap) -> String {
    h.iter()
        .map(|(k, v)| format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())))
        .collect()
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The Connect / grpc-gateway HTTP status of a code.
pub fn code_http(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::Cancelled => 499,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::DeadlineExceeded => 504,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::PermissionDenied => 403,
        Code::ResourceExhausted => 429,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::Unauthenticated => 401,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}

fn code_from_snake(name: &str) -> Code {
    // Connect's spelling: `invalid_argument`; Google's: `INVALID_ARGUMENT`.
    let name = name.to_ascii_lowercase();
    (0..=16)
        .map(Code::from)
        .find(|c| {
            format!("{c:?}")
                .chars()
                .flat_map(|ch| {
                    if ch.is_ascii_uppercase() {
                        vec!['_', ch.to_ascii_lowercase()]
                    } else {
                        vec![ch]
                    }
                })
                .collect::<String>()
                .trim_start_matches('_')
                == name
        })
        .unwrap_or_else(|| panic!("unknown code name {name}"))
}

/// Calls `surface` on endpoint `name`, streaming or not.
pub async fn call(gw: &TestGateway, surface: Surface, name: &str, stream: bool) -> Outcome {
    call_with(gw, surface, name, stream, None).await
}

/// As [`call`], with the gateway API key `key` on the request.
pub async fn call_with(
    gw: &TestGateway,
    surface: Surface,
    name: &str,
    stream: bool,
    key: Option<&str>,
) -> Outcome {
    let k = Key(key.map(|k| format!("Bearer {k}")));
    let fut = async {
        match surface {
            Surface::MlflowGateway => {
                rest(
                    gw,
                    &k,
                    &format!("/gateway/{name}/invocations"),
                    None,
                    stream,
                )
                .await
            }
            Surface::MlflowEndpoints => {
                rest(
                    gw,
                    &k,
                    &format!("/endpoints/{name}/invocations"),
                    None,
                    stream,
                )
                .await
            }
            Surface::OpenAi => rest(gw, &k, "/v1/chat/completions", Some(name), stream).await,
            Surface::Grpc => grpc(gw, &k, name, stream).await,
            Surface::GrpcWeb => grpc_web(gw, &k, name, stream).await,
            Surface::Connect => connect(gw, &k, name, stream).await,
            Surface::Bridge => bridge(gw, &k, name, stream).await,
        }
    };
    tokio::time::timeout(CALL_BOUND, fut)
        .await
        .unwrap_or_else(|_| panic!("{surface:?} {name} stream={stream}: no answer (a hang)"))
}

/// The `Authorization` value to send, if any.
struct Key(Option<String>);

impl Key {
    fn on(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.0 {
            Some(v) => req.header("authorization", v),
            None => req,
        }
    }

    fn on_grpc<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        if let Some(v) = &self.0 {
            req.metadata_mut()
                .insert("authorization", v.parse().unwrap());
        }
        req
    }
}

/// The body a REST surface is sent.
pub fn rest_body(model: Option<&str>, stream: bool) -> String {
    match model {
        Some(m) => format!(r#"{{"model":"{m}","messages":{HI},"stream":{stream}}}"#),
        None => format!(r#"{{"messages":{HI},"stream":{stream}}}"#),
    }
}

async fn rest(
    gw: &TestGateway,
    key: &Key,
    path: &str,
    model: Option<&str>,
    stream: bool,
) -> Outcome {
    let resp = key
        .on(gw.http.post(gw.url(path)))
        .header("content-type", "application/json")
        .body(rest_body(model, stream))
        .send()
        .await
        .unwrap();
    let http = resp.status().as_u16();
    let headers = resp.headers().clone();
    let ct = header(&headers, "content-type").unwrap_or_default();
    let retry_after = header(&headers, "retry-after");
    let body = resp.text().await.unwrap();
    let raw = format!("{}\n{body}", headers_text(&headers));
    if ct.starts_with("text/event-stream") {
        assert_eq!(http, 200, "{path}: {raw}");
        let events: Vec<&str> = body.split("\n\n").filter(|e| !e.is_empty()).collect();
        let data: Vec<&str> = events
            .iter()
            .map(|e| {
                e.strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("{path}: not a data event {e:?}"))
            })
            .collect();
        let last = data.last().copied().unwrap_or_default();
        if last == "[DONE]" {
            return Outcome {
                http,
                ok: true,
                before: data.len() - 1,
                raw,
                ..Outcome::default()
            };
        }
        let err: Value = serde_json::from_str(last).unwrap_or_else(|e| {
            panic!("{path}: a cut stream without an error event ({e}): {body}")
        });
        assert!(
            !data.contains(&"[DONE]"),
            "{path}: [DONE] before the error: {body}"
        );
        let e = &err["error"];
        assert!(e["type"].is_string(), "{path}: {err}");
        return Outcome {
            http,
            status: e["code"].as_u64().map(|c| u16::try_from(c).unwrap()),
            text: e["message"].as_str().unwrap_or_default().to_owned(),
            before: data.len() - 1,
            raw,
            ..Outcome::default()
        };
    }
    assert!(
        ct.starts_with("application/json"),
        "{path}: content type {ct:?}, status {http}: {body}"
    );
    let json: Value = serde_json::from_str(&body).unwrap();
    if http == 200 {
        return Outcome {
            http,
            ok: true,
            raw,
            ..Outcome::default()
        };
    }
    let detail = &json["detail"];
    let text = detail
        .as_str()
        .map_or_else(|| detail.to_string(), str::to_owned);
    assert!(!detail.is_null(), "{path}: no detail: {body}");
    Outcome {
        http,
        status: Some(http),
        text,
        retry_after,
        raw,
        ..Outcome::default()
    }
}

async fn grpc(gw: &TestGateway, key: &Key, name: &str, stream: bool) -> Outcome {
    let mut client = ChatServiceClient::new(gw.channel().await);
    let status = if stream {
        match client.stream_chat(key.on_grpc(chat_request(name))).await {
            Err(status) => status,
            Ok(resp) => {
                let mut items = resp.into_inner();
                let mut before = 0;
                loop {
                    match items.next().await {
                        Some(Ok(_)) => before += 1,
                        None => {
                            return Outcome {
                                http: 200,
                                ok: true,
                                before,
                                ..Outcome::default()
                            };
                        }
                        Some(Err(status)) => {
                            let mut o = status_outcome(&status);
                            o.before = before;
                            return o;
                        }
                    }
                }
            }
        }
    } else {
        match client.chat(key.on_grpc(chat_request(name))).await {
            Ok(_) => {
                return Outcome {
                    http: 200,
                    ok: true,
                    ..Outcome::default()
                };
            }
            Err(status) => status,
        }
    };
    status_outcome(&status)
}

fn status_outcome(status: &tonic::Status) -> Outcome {
    let retry_after = status
        .metadata()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Outcome {
        http: 200,
        code: Some(status.code()),
        text: status.message().to_owned(),
        retry_after,
        raw: format!(
            "{:?} {} {:?}",
            status.code(),
            status.message(),
            status.metadata()
        ),
        ..Outcome::default()
    }
}

async fn grpc_web(gw: &TestGateway, key: &Key, name: &str, stream: bool) -> Outcome {
    let path = if stream {
        "/llmgateway.v1.ChatService/StreamChat"
    } else {
        "/llmgateway.v1.ChatService/Chat"
    };
    let client = reqwest::Client::builder().http1_only().build().unwrap();
    let resp = key
        .on(client.post(gw.url(path)))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(grpc_web_frame(&chat_request(name)))
        .send()
        .await
        .unwrap();
    let http = resp.status().as_u16();
    let headers = resp.headers().clone();
    assert_eq!(
        http, 200,
        "grpc-web answers errors in grpc-status: {headers:?}"
    );
    let body = resp.bytes().await.unwrap();
    let mut raw = format!(
        "{}\n{}",
        headers_text(&headers),
        String::from_utf8_lossy(&body)
    );
    // Trailers-only answers carry the status in the headers; others in a trailer frame.
    let mut trailers: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("grpc-") || k.as_str() == "retry-after")
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let mut before = 0;
    let frames = envelopes(&body);
    for (i, (flags, payload)) in frames.iter().enumerate() {
        if flags & 0x80 != 0 {
            assert_eq!(i, frames.len() - 1, "the trailer frame comes last");
            let text = String::from_utf8(payload.clone()).unwrap();
            for line in text.split("\r\n").filter(|l| !l.is_empty()) {
                let (k, v) = line.split_once(':').unwrap();
                trailers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        } else {
            if stream {
                pb::ChatChunk::decode(payload.as_slice()).unwrap();
            } else {
                pb::ChatResponse::decode(payload.as_slice()).unwrap();
            }
            before += 1;
        }
    }
    raw.push_str(&format!("{trailers:?}"));
    let get = |k: &str| {
        trailers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let code = Code::from(
        get("grpc-status")
            .unwrap_or_else(|| panic!("grpc-web: no grpc-status: {raw}"))
            .parse::<i32>()
            .unwrap(),
    );
    let text = get("grpc-message")
        .map(|m| percent_decode(&m))
        .unwrap_or_default();
    Outcome {
        http,
        ok: code == Code::Ok,
        code: (code != Code::Ok).then_some(code),
        text,
        retry_after: get("retry-after"),
        before,
        raw,
        ..Outcome::default()
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn connect(gw: &TestGateway, key: &Key, name: &str, stream: bool) -> Outcome {
    let msg = serde_json::to_vec(&chat_request(name)).unwrap();
    let (path, ct, body) = if stream {
        let mut env = vec![0u8];
        env.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
        env.extend_from_slice(&msg);
        (
            "/llmgateway.v1.ChatService/StreamChat",
            "application/connect+json",
            env,
        )
    } else {
        ("/llmgateway.v1.ChatService/Chat", "application/json", msg)
    };
    let resp = key
        .on(gw.http.post(gw.url(path)))
        .header("content-type", ct)
        .header("connect-protocol-version", "1")
        .body(body)
        .send()
        .await
        .unwrap();
    let http = resp.status().as_u16();
    let headers = resp.headers().clone();
    let rct = header(&headers, "content-type").unwrap_or_default();
    let body = resp.bytes().await.unwrap();
    let raw = format!(
        "{}\n{}",
        headers_text(&headers),
        String::from_utf8_lossy(&body)
    );
    if !stream {
        assert_eq!(rct, "application/json", "connect unary: {raw}");
        let json: Value = serde_json::from_slice(&body).unwrap();
        if http == 200 {
            return Outcome {
                http,
                ok: true,
                raw,
                ..Outcome::default()
            };
        }
        let code = code_from_snake(json["code"].as_str().unwrap());
        assert_eq!(
            http,
            code_http(code),
            "connect unary status of {code:?}: {raw}"
        );
        return Outcome {
            http,
            status: Some(http),
            code: Some(code),
            text: json["message"].as_str().unwrap_or_default().to_owned(),
            retry_after: header(&headers, "retry-after"),
            raw,
            ..Outcome::default()
        };
    }
    assert_eq!(http, 200, "connect streams answer 200: {raw}");
    assert_eq!(rct, "application/connect+json", "{raw}");
    let mut frames = envelopes(&body);
    let (flags, end) = frames
        .pop()
        .unwrap_or_else(|| panic!("no end-of-stream message: {raw}"));
    assert_eq!(flags, 0x02, "the last envelope ends the stream: {raw}");
    assert!(frames.iter().all(|(f, _)| *f == 0), "{raw}");
    let end: Value = serde_json::from_slice(&end).unwrap();
    let before = frames.len();
    if end.get("error").is_none() {
        return Outcome {
            http,
            ok: true,
            before,
            raw,
            ..Outcome::default()
        };
    }
    let code = code_from_snake(end["error"]["code"].as_str().unwrap());
    let retry_after = end["metadata"]["retry-after"][0]
        .as_str()
        .map(str::to_owned);
    Outcome {
        http,
        code: Some(code),
        text: end["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        retry_after,
        before,
        raw,
        ..Outcome::default()
    }
}

async fn bridge(gw: &TestGateway, key: &Key, name: &str, stream: bool) -> Outcome {
    let verb = if stream { "streamChat" } else { "chat" };
    let resp = key
        .on(gw
            .http
            .post(gw.url(&format!("/v1/endpoints/{name}:{verb}"))))
        .header("content-type", "application/json")
        .body(format!(r#"{{"messages":{HI}}}"#))
        .send()
        .await
        .unwrap();
    let http = resp.status().as_u16();
    let headers = resp.headers().clone();
    let ct = header(&headers, "content-type").unwrap_or_default();
    let retry_after = header(&headers, "retry-after");
    let body = resp.text().await.unwrap();
    let raw = format!("{}\n{body}", headers_text(&headers));
    let google = |json: &Value| {
        let e = &json["error"];
        let code = code_from_snake(e["status"].as_str().unwrap());
        (code, e["message"].as_str().unwrap_or_default().to_owned())
    };
    if ct.starts_with("text/event-stream") {
        assert_eq!(http, 200);
        let mut before = 0;
        let events: Vec<&str> = body.split("\n\n").filter(|e| !e.is_empty()).collect();
        for (i, event) in events.iter().enumerate() {
            if let Some(rest) = event.strip_prefix("event: error\n") {
                assert_eq!(i, events.len() - 1, "the error event is the last: {body}");
                let json: Value =
                    serde_json::from_str(rest.strip_prefix("data: ").unwrap()).unwrap();
                let (code, text) = google(&json);
                assert_eq!(json["error"]["code"], code_http(code), "{json}");
                return Outcome {
                    http,
                    code: Some(code),
                    text,
                    before,
                    raw,
                    ..Outcome::default()
                };
            }
            let data = event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("bridge: unexpected event {event:?}"));
            serde_json::from_str::<pb::ChatChunk>(data).unwrap();
            before += 1;
        }
        return Outcome {
            http,
            ok: true,
            before,
            raw,
            ..Outcome::default()
        };
    }
    assert!(
        ct.starts_with("application/json"),
        "bridge: {ct:?} {http}: {body}"
    );
    let json: Value = serde_json::from_str(&body).unwrap();
    if http == 200 {
        return Outcome {
            http,
            ok: true,
            raw,
            ..Outcome::default()
        };
    }
    let (code, text) = google(&json);
    assert_eq!(http, code_http(code), "bridge status of {code:?}: {raw}");
    assert_eq!(json["error"]["code"], http, "{raw}");
    Outcome {
        http,
        status: Some(http),
        code: Some(code),
        text,
        retry_after,
        raw,
        ..Outcome::default()
    }
}
