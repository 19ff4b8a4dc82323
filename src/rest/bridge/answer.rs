//! How the REST bridge answers: a unary RPC's response message as proto3 JSON, a
//! server-streaming RPC's messages as server-sent events, and every error (binding, routing or
//! the RPC's own status) in Google's JSON error shape with the HTTP status of its gRPC code.

use std::future::Future;

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::Status;

use super::{Call, bind};
use crate::error::GatewayError;
use crate::rest::json_bytes;
use crate::telemetry::labels::{grpc_http_status, grpc_name};

/// Binds `call` into the RPC's request, calls it, and answers with its message as JSON.
pub(crate) async fn unary<Req, Resp, F, Fut>(call: Call, rpc: F) -> Response
where
    Req: DeserializeOwned,
    Resp: Serialize,
    F: FnOnce(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
{
    let request = match bind::request::<Req>(call).await {
        Ok(request) => request,
        Err(e) => return refused(&e),
    };
    match rpc(request).await {
        Ok(response) => match serde_json::to_vec(response.get_ref()) {
            Ok(body) => json_bytes(StatusCode::OK, body),
            Err(e) => error(&Status::internal(format!(
                "The response could not be encoded as JSON: {e}"
            ))),
        },
        Err(status) => error(&status),
    }
}

/// Binds `call`, calls the server-streaming RPC, and relays its messages as server-sent
/// events. The RPC has read its first upstream event before answering (the service commits
/// streams before they start), so a failure to open is an ordinary error response; a later
/// failure is one `event: error` whose data is the error object, and the stream ends.
pub(crate) async fn server_streaming<Req, T, S, F, Fut>(call: Call, rpc: F) -> Response
where
    Req: DeserializeOwned,
    T: Serialize + Send + 'static,
    S: Stream<Item = Result<T, Status>> + Send + 'static,
    F: FnOnce(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<S>, Status>>,
{
    let request = match bind::request::<Req>(call).await {
        Ok(request) => request,
        Err(e) => return refused(&e),
    };
    let stream = match rpc(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => return error(&status),
    };
    let events = futures::stream::unfold(Some(Box::pin(stream)), |state| async move {
        let mut stream = state?;
        match stream.next().await {
            Some(Ok(message)) => {
                let event = match serde_json::to_vec(&message) {
                    Ok(json) => event(None, &json),
                    Err(e) => {
                        let status = Status::internal(format!(
                            "A stream message could not be encoded as JSON: {e}"
                        ));
                        return Some((Ok(error_event(&status)), None));
                    }
                };
                Some((Ok::<_, std::convert::Infallible>(event), Some(stream)))
            }
            Some(Err(status)) => Some((Ok(error_event(&status)), None)),
            None => None,
        }
    });
    let mut resp = Response::new(Body::from_stream(events));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// One server-sent event: an optional `event:` line, then `data: <json>`.
fn event(name: Option<&str>, json: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(json.len() + 24);
    if let Some(name) = name {
        buf.put_slice(b"event: ");
        buf.put_slice(name.as_bytes());
        buf.put_u8(b'\n');
    }
    buf.put_slice(b"data: ");
    buf.put_slice(json);
    buf.put_slice(b"\n\n");
    buf.freeze()
}

fn error_event(status: &Status) -> Bytes {
    let body = error_body(
        grpc_http_status(status.code()),
        status.code(),
        status.message(),
    );
    event(Some("error"), body.to_string().as_bytes())
}

/// Google's error object: `{"error":{"code":<HTTP status>,"message":...,"status":"NOT_FOUND",
/// "details":[]}}`.
fn error_body(http: u16, code: tonic::Code, message: &str) -> serde_json::Value {
    serde_json::json!({
        "error": {
            "code": http,
            "message": message,
            "status": grpc_name(code),
            "details": [],
        }
    })
}

/// An error answer in Google's shape, with `Retry-After` and `WWW-Authenticate` when they
/// apply.
fn error_response(
    http: u16,
    code: tonic::Code,
    message: &str,
    retry_after: Option<HeaderValue>,
) -> Response {
    let status = StatusCode::from_u16(http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = error_body(status.as_u16(), code, message);
    let mut resp = json_bytes(status, body.to_string().into_bytes());
    let headers = resp.headers_mut();
    if let Some(v) = retry_after {
        headers.insert(header::RETRY_AFTER, v);
    }
    if code == tonic::Code::Unauthenticated {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

/// An RPC's error status, with the HTTP status of its code (grpc-gateway's table).
pub(crate) fn error(status: &Status) -> Response {
    let retry_after = status
        .metadata()
        .get("retry-after")
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    error_response(
        grpc_http_status(status.code()),
        status.code(),
        status.message(),
        retry_after,
    )
}

/// A gateway error (a request refused before its RPC ran, or by a layer in front of the
/// bridge), with its own HTTP status: 413 for the size limit, 401/403 for API keys.
pub(crate) fn refused(e: &GatewayError) -> Response {
    error_response(
        e.http_status(),
        e.grpc_code(),
        &e.to_string(),
        e.retry_after_secs().map(HeaderValue::from),
    )
}

/// No binding matches the path.
pub(crate) fn not_found(method: &str, path: &str) -> Response {
    error(&Status::not_found(format!(
        "No REST route matches {method} {path}; /openapi.json lists them."
    )))
}

/// The path matches bindings of other methods only.
pub(crate) fn method_not_allowed(method: &Method, allowed: &[&str]) -> Response {
    let allow = allowed.join(", ");
    let mut resp = error_response(
        405,
        tonic::Code::Unimplemented,
        &format!("{method} is not allowed here; use {allow}."),
        None,
    );
    if let Ok(v) = HeaderValue::from_str(&allow) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}
