//! The Connect protocol (connectrpc.com/docs/protocol) for the four services, on the port and
//! the paths gRPC uses (`/llmgateway.v1.ChatService/Chat`): every request to such a path that
//! is not `application/grpc*` comes here (see [`crate::server`]).
//!
//! - Unary calls: `POST` with `application/json` (proto3 JSON, the generated pbjson impls) or
//!   `application/proto`, the bare message as the body; the answer is 200 with the message, or
//!   Connect's status for the error code with `{"code":...,"message":...}`. `ListEndpoints`
//!   and `GetEndpoint` are side-effect free (`NO_SIDE_EFFECTS` in the proto) and also take
//!   `GET ?encoding=json|proto&message=...[&base64=1][&compression=gzip]`.
//! - Server-streaming calls: `POST` with `application/connect+json` or `+proto`, the request in
//!   one envelope; the answer is always 200, message envelopes then the end-of-stream message,
//!   which carries the error of a call that failed (before or after the stream started).
//! - `Connect-Timeout-Ms` bounds the whole call (the service also shortens upstream attempts
//!   to it); gzip is accepted and sent when negotiated (`Content-Encoding`/`Accept-Encoding` for
//!   unary calls, their `Connect-` forms for streams), anything else is `unimplemented`.
//!   `Connect-Protocol-Version` may be absent (so plain curl works), but if present must be 1.
//!
//! Connect calls to the gRPC-only services (`grpc.health.v1.Health`, server reflection) are
//! carried to their tonic services ([`via_grpc`]), Protobuf only.
//!
//! Like the gRPC adapters, the handlers call the service layer directly, with the same
//! [`CallOptions`]: the deadline, the caller's address for rate limits, and what its API key
//! allows. Errors are the one [`GatewayError`] model, so a Connect client sees the codes a gRPC
//! client sees.

mod codec;
mod envelope;
mod error;
mod via_grpc;

pub use error::refusal;

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use base64::Engine as _;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use prost::Message;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::providers::ChunkStream;
use crate::rest::read_body;
use crate::service::{CallOptions, Gateway};

use codec::{Codec, Compression};

/// The package prefix of every path of the typed services (gRPC, grpc-web and Connect).
const PACKAGE_PREFIX: &str = "/llmgateway.v1.";

const CONNECT_CONTENT_ENCODING: HeaderName = HeaderName::from_static("connect-content-encoding");
const CONNECT_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("connect-accept-encoding");

/// Whether `path` belongs to the typed services; a request to it that is not gRPC is Connect.
pub fn is_connect_path(path: &str) -> bool {
    path.starts_with(PACKAGE_PREFIX) || via_grpc::is_grpc_only_path(path)
}

/// The methods of the four services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    Chat,
    StreamChat,
    Complete,
    StreamComplete,
    Embed,
    ListEndpoints,
    GetEndpoint,
}

impl Rpc {
    fn from_path(path: &str) -> Option<Rpc> {
        Some(match path.strip_prefix(PACKAGE_PREFIX)? {
            "ChatService/Chat" => Rpc::Chat,
            "ChatService/StreamChat" => Rpc::StreamChat,
            "CompletionsService/Complete" => Rpc::Complete,
            "CompletionsService/StreamComplete" => Rpc::StreamComplete,
            "EmbeddingsService/Embed" => Rpc::Embed,
            "EndpointsService/ListEndpoints" => Rpc::ListEndpoints,
            "EndpointsService/GetEndpoint" => Rpc::GetEndpoint,
            _ => return None,
        })
    }

    fn streaming(self) -> bool {
        matches!(self, Rpc::StreamChat | Rpc::StreamComplete)
    }

    /// Declared `NO_SIDE_EFFECTS` in the proto: callable with GET.
    fn side_effect_free(self) -> bool {
        matches!(self, Rpc::ListEndpoints | Rpc::GetEndpoint)
    }
}

/// What a request's headers (or a GET's query) settle before its message is read.
struct Head {
    codec: Codec,
    /// How the request message is compressed.
    compression: Compression,
    /// How the response may be compressed.
    accept: Compression,
    deadline: Option<Instant>,
    /// A GET request's message, from its query.
    query_message: Option<Bytes>,
    /// A GET request: its answer may be cached, so say what it varies by.
    cacheable: bool,
}

/// The Connect handlers over one [`Gateway`]. Cheap to clone.
#[derive(Clone)]
pub struct ConnectApi {
    gateway: Gateway,
    /// Largest accepted message, in bytes (the REST body limit).
    body_limit: usize,
    /// The tonic routes, for the gRPC-only services (health, reflection).
    grpc: Option<axum::Router>,
}

impl ConnectApi {
    /// Handlers for `gateway`, taking messages of at most `body_limit` bytes.
    pub fn new(gateway: Gateway, body_limit: usize) -> Self {
        ConnectApi {
            gateway,
            body_limit,
            grpc: None,
        }
    }

    /// Serves Connect calls to the gRPC-only services (the standard health check and server
    /// reflection) by carrying them to `grpc`, the tonic routes (see [`via_grpc`]).
    pub fn with_grpc(mut self, grpc: axum::Router) -> Self {
        self.grpc = Some(grpc);
        self
    }

    /// Answers one Connect request.
    pub async fn handle(self, req: Request) -> Response {
        if via_grpc::is_grpc_only_path(req.uri().path())
            && let Some(grpc) = self.grpc
        {
            return via_grpc::call(grpc, req, self.body_limit).await;
        }
        let (parts, body) = req.into_parts();
        let Some(rpc) = Rpc::from_path(parts.uri.path()) else {
            let e = GatewayError::NotImplemented(format!("No such method: {}.", parts.uri.path()));
            return error::with_status(StatusCode::NOT_FOUND, &e);
        };
        let head = match parse_head(&parts, rpc) {
            Ok(head) => head,
            Err(refused) => return *refused,
        };
        match rpc {
            Rpc::Chat => {
                self.unary(parts, head, body, |gw, m: pb::ChatRequest, o| async move {
                    gw.chat(m, o).await
                })
                .await
            }
            Rpc::StreamChat => {
                self.stream(parts, head, body, |gw, m: pb::ChatRequest, o| async move {
                    gw.stream_chat(m, o).await
                })
                .await
            }
            Rpc::Complete => {
                self.unary(
                    parts,
                    head,
                    body,
                    |gw, m: pb::CompletionRequest, o| async move { gw.complete(m, o).await },
                )
                .await
            }
            Rpc::StreamComplete => {
                self.stream(
                    parts,
                    head,
                    body,
                    |gw, m: pb::CompletionRequest, o| async move { gw.stream_complete(m, o).await },
                )
                .await
            }
            Rpc::Embed => {
                self.unary(parts, head, body, |gw, m: pb::EmbedRequest, o| async move {
                    gw.embed(m, o).await
                })
                .await
            }
            Rpc::ListEndpoints => {
                self.unary(
                    parts,
                    head,
                    body,
                    |gw, m: pb::ListEndpointsRequest, o| async move {
                        let size = usize::try_from(m.page_size).unwrap_or(usize::MAX);
                        gw.list_endpoints(&m.page_token, size, &o.access)
                    },
                )
                .await
            }
            Rpc::GetEndpoint => {
                self.unary(
                    parts,
                    head,
                    body,
                    |gw, m: pb::GetEndpointRequest, o| async move {
                        gw.get_endpoint(&m.name, &o.access)
                    },
                )
                .await
            }
        }
    }

    async fn unary<Req, Resp, F, Fut>(
        &self,
        parts: Parts,
        mut head: Head,
        body: Body,
        call: F,
    ) -> Response
    where
        Req: Message + DeserializeOwned + Default,
        Resp: Message + Serialize,
        F: FnOnce(Gateway, Req, CallOptions) -> Fut,
        Fut: Future<Output = Result<Resp, GatewayError>>,
    {
        let answer = async {
            let msg: Req = self.read_message(&mut head, body, false).await?;
            let opts = call_options(&parts, head.deadline);
            let reply = within(head.deadline, call(self.gateway.clone(), msg, opts)).await?;
            let (bytes, compressed) = head.accept.compress(head.codec.encode(&reply)?);
            let mut resp = Response::new(Body::from(bytes));
            let headers = resp.headers_mut();
            headers.insert(header::CONTENT_TYPE, head.codec.unary_content_type());
            if compressed {
                headers.insert(header::CONTENT_ENCODING, head.accept.header_value());
            }
            if head.cacheable {
                headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            }
            Ok::<_, GatewayError>(resp)
        };
        answer.await.unwrap_or_else(|e| error::unary(&e))
    }

    async fn stream<Req, Resp, F, Fut>(
        &self,
        parts: Parts,
        mut head: Head,
        body: Body,
        call: F,
    ) -> Response
    where
        Req: Message + DeserializeOwned + Default,
        Resp: Message + Serialize + Send + 'static,
        F: FnOnce(Gateway, Req, CallOptions) -> Fut,
        Fut: Future<Output = Result<ChunkStream<Resp>, GatewayError>>,
    {
        let opened = async {
            let msg: Req = self.read_message(&mut head, body, true).await?;
            let opts = call_options(&parts, head.deadline);
            within(head.deadline, call(self.gateway.clone(), msg, opts)).await
        };
        let body = match opened.await {
            Ok(stream) => Body::from_stream(envelope::Frames::new(
                stream,
                head.codec,
                head.accept,
                head.deadline,
            )),
            Err(e) => {
                // The status is 200 either way: the outcome is the error, for metrics and logs.
                crate::telemetry::with_call(|r| r.failed(&e));
                Body::from(envelope::end_stream(Some(&e)))
            }
        };
        let mut resp = Response::new(body);
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, head.codec.streaming_content_type());
        if head.accept != Compression::Identity {
            headers.insert(CONNECT_CONTENT_ENCODING, head.accept.header_value());
        }
        resp
    }

    /// Reads, decompresses and decodes the request message: a GET's query message, a unary
    /// body, or the one envelope of a streaming body. The size limit holds before and after
    /// decompression.
    async fn read_message<Req: Message + DeserializeOwned + Default>(
        &self,
        head: &mut Head,
        body: Body,
        streaming: bool,
    ) -> Result<Req, GatewayError> {
        let limit = self.body_limit;
        let (payload, compressed) = match head.query_message.take() {
            Some(message) => (message, head.compression != Compression::Identity),
            None if streaming => {
                let framed = read_body(body, limit.saturating_add(envelope::HEADER_LEN))
                    .await
                    .map_err(|e| match e {
                        GatewayError::PayloadTooLarge { .. } => {
                            GatewayError::PayloadTooLarge { limit }
                        }
                        other => other,
                    })?;
                envelope::single(&framed)?
            }
            None => (
                read_body(body, limit).await?,
                head.compression != Compression::Identity,
            ),
        };
        if payload.len() > limit {
            return Err(GatewayError::PayloadTooLarge { limit });
        }
        let payload = match (compressed, head.compression) {
            (false, _) => payload,
            (true, Compression::Identity) => {
                return Err(GatewayError::BadRequest(
                    "The message is flagged compressed, but the request names no \
                     Connect-Content-Encoding."
                        .into(),
                ));
            }
            (true, compression) => compression.decompress(payload, limit)?,
        };
        head.codec.decode(&payload)
    }
}

/// The call options of a Connect request: its deadline, the caller's address for the
/// endpoint's rate limit, and what its API key allows (found by the auth layer). Connect calls
/// count in the gRPC family: the same methods on the same paths, so switching protocol does not
/// buy a second quota.
fn call_options(parts: &Parts, deadline: Option<Instant>) -> CallOptions {
    CallOptions::rpc(&parts.extensions, deadline)
}

/// Runs `call`, cut at the client's deadline.
async fn within<T>(
    deadline: Option<Instant>,
    call: impl Future<Output = Result<T, GatewayError>>,
) -> Result<T, GatewayError> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, call)
            .await
            .unwrap_or_else(|_| Err(GatewayError::client_deadline())),
        None => call.await,
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Connect-Timeout-Ms`: a positive integer of at most 10 digits.
fn parse_deadline(headers: &HeaderMap) -> Result<Option<Instant>, GatewayError> {
    let Some(value) = headers.get("connect-timeout-ms") else {
        return Ok(None);
    };
    let ms = value
        .to_str()
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| {
            GatewayError::BadRequest(
                "Connect-Timeout-Ms must be a positive integer of at most 10 digits.".into(),
            )
        })?;
    Ok(Some(Instant::now() + Duration::from_millis(ms)))
}

/// `Connect-Protocol-Version` (or a GET's `connect`): optional, but only version 1 exists.
fn check_version(value: Option<&str>, want: &str) -> Result<(), GatewayError> {
    match value {
        Some(v) if v != want => Err(GatewayError::BadRequest(format!(
            "Unsupported Connect protocol version {v:?}: this server speaks {want:?}."
        ))),
        _ => Ok(()),
    }
}

/// 415 for a content type (or GET `encoding`) the method does not take.
fn unsupported_media_type(message: String) -> Box<Response> {
    Box::new(error::with_status(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &GatewayError::NotImplemented(message),
    ))
}

/// The request compression, or the `unimplemented` refusal, which lists what is supported.
fn compression(
    name: Option<&str>,
    fail: impl Fn(&GatewayError) -> Box<Response>,
    accept_header: HeaderName,
) -> Result<Compression, Box<Response>> {
    Compression::named(name).map_err(|e| {
        let mut resp = fail(&e);
        resp.headers_mut()
            .insert(accept_header, HeaderValue::from_static("gzip"));
        resp
    })
}

/// Settles codec, compression and deadline from the method, headers and query, or answers
/// the request at once (405, 415, or a Connect error in the shape the caller reads).
fn parse_head(parts: &Parts, rpc: Rpc) -> Result<Head, Box<Response>> {
    if parts.method == Method::GET && rpc.side_effect_free() {
        return parse_get(parts);
    }
    if parts.method != Method::POST {
        let allow = if rpc.side_effect_free() {
            "GET, POST"
        } else {
            "POST"
        };
        let e = GatewayError::NotImplemented(format!(
            "{} is not allowed for this method; use {allow}.",
            parts.method
        ));
        let mut resp = error::with_status(StatusCode::METHOD_NOT_ALLOWED, &e);
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        return Err(Box::new(resp));
    }
    let headers = &parts.headers;
    let content_type = header_str(headers, &header::CONTENT_TYPE).unwrap_or_default();
    let (codec, encoding, accept) = if rpc.streaming() {
        (
            Codec::streaming(content_type),
            CONNECT_CONTENT_ENCODING,
            CONNECT_ACCEPT_ENCODING,
        )
    } else {
        (
            Codec::unary(content_type),
            header::CONTENT_ENCODING,
            header::ACCEPT_ENCODING,
        )
    };
    let Some(codec) = codec else {
        let takes = if rpc.streaming() {
            "application/connect+json or application/connect+proto"
        } else {
            "application/json or application/proto"
        };
        return Err(unsupported_media_type(format!(
            "Unsupported content type {content_type:?}: this method takes {takes}."
        )));
    };
    // Refusals are rare: boxed, so the usual `Ok` stays small.
    let fail = |e: &GatewayError| {
        Box::new(if rpc.streaming() {
            error::streaming(codec, e)
        } else {
            error::unary(e)
        })
    };
    check_version(header_str(headers, &CONNECT_PROTOCOL_VERSION), "1").map_err(|e| fail(&e))?;
    let deadline = parse_deadline(headers).map_err(|e| fail(&e))?;
    let compression = compression(header_str(headers, &encoding), fail, accept.clone())?;
    Ok(Head {
        codec,
        compression,
        accept: Compression::accepted(headers.get(&accept)),
        deadline,
        query_message: None,
        cacheable: false,
    })
}

const CONNECT_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("connect-protocol-version");

/// The query of a unary GET.
#[derive(Deserialize)]
struct GetQuery {
    connect: Option<String>,
    encoding: Option<String>,
    message: Option<String>,
    base64: Option<String>,
    compression: Option<String>,
}

/// URL-safe base64 with or without padding, as Connect's GET `message` may come.
const BASE64_URL: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

fn parse_get(parts: &Parts) -> Result<Head, Box<Response>> {
    let bad = |message: String| Box::new(error::unary(&GatewayError::BadRequest(message)));
    let query = axum::extract::Query::<GetQuery>::try_from_uri(&parts.uri)
        .map_err(|e| bad(format!("Invalid query: {e}")))?
        .0;
    let Some(codec) = query.encoding.as_deref().and_then(Codec::from_name) else {
        return Err(unsupported_media_type(format!(
            "Unsupported encoding {:?}: a GET takes encoding=json or encoding=proto.",
            query.encoding.as_deref().unwrap_or_default()
        )));
    };
    let headers = &parts.headers;
    let fail = |e: &GatewayError| Box::new(error::unary(e));
    check_version(query.connect.as_deref(), "v1").map_err(|e| fail(&e))?;
    check_version(header_str(headers, &CONNECT_PROTOCOL_VERSION), "1").map_err(|e| fail(&e))?;
    let deadline = parse_deadline(headers).map_err(|e| fail(&e))?;
    let compression = compression(query.compression.as_deref(), fail, header::ACCEPT_ENCODING)?;
    let text = query.message.unwrap_or_default();
    let message = if query.base64.as_deref() == Some("1") {
        BASE64_URL
            .decode(text.trim_end_matches('='))
            .map(Bytes::from)
            .map_err(|e| bad(format!("The message parameter is not valid base64: {e}")))?
    } else {
        Bytes::from(text.into_bytes())
    };
    Ok(Head {
        codec,
        compression,
        accept: Compression::accepted(headers.get(header::ACCEPT_ENCODING)),
        deadline,
        query_message: Some(message),
        cacheable: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_methods() {
        assert_eq!(
            Rpc::from_path("/llmgateway.v1.ChatService/StreamChat"),
            Some(Rpc::StreamChat)
        );
        assert_eq!(
            Rpc::from_path("/llmgateway.v1.EndpointsService/GetEndpoint"),
            Some(Rpc::GetEndpoint)
        );
        assert_eq!(Rpc::from_path("/llmgateway.v1.ChatService/Nope"), None);
        assert_eq!(Rpc::from_path("/gateway/chat/invocations"), None);
        assert!(is_connect_path("/llmgateway.v1.ChatService/Chat"));
        assert!(!is_connect_path("/v1/chat/completions"));
    }

    #[test]
    fn timeouts_are_at_most_ten_digits() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("connect-timeout-ms", HeaderValue::from_static(v));
            parse_deadline(&h)
        };
        assert!(parse_deadline(&HeaderMap::new()).unwrap().is_none());
        assert!(with("250").unwrap().is_some());
        assert!(with("9999999999").unwrap().is_some());
        for bad in ["", "12345678901", "-1", "1.5", "abc"] {
            assert_eq!(
                with(bad).unwrap_err().grpc_code(),
                tonic::Code::InvalidArgument,
                "{bad:?}"
            );
        }
    }
}
