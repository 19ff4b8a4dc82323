//! Connect calls to the services that exist only as tonic gRPC services: the standard health
//! check (`grpc.health.v1.Health`) and server reflection (`grpc.reflection.v1` and `v1alpha`),
//! so Connect clients (`buf curl` reflects over Connect unless told otherwise) find and check
//! the gateway without switching protocol.
//!
//! A Connect stream and a gRPC stream frame messages the same way (a flags byte, a big-endian
//! length, the message), so the call is carried over rather than re-implemented: the request
//! goes to the very tonic service gRPC callers reach, as a gRPC request (a unary body gets its
//! frame; a stream's envelopes pass as they are, full duplex, so reflection's bidirectional
//! stream works over HTTP/2), and the answer comes back in Connect's form: a unary message as
//! the body, stream frames as they are, and the gRPC status (from the trailers, or the headers
//! of a trailers-only answer) as Connect's error JSON or end-of-stream message.
//!
//! Only the Protobuf codec: these services have no generated JSON mapping here, so
//! `application/json` is refused as `unimplemented` with a hint, as is request compression.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::envelope::{self, HEADER_LEN};
use super::error::{WireError, http_status, with_code};
use crate::rest::read_body;

/// The gRPC-only services a Connect request may reach through here.
const SERVICES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// Whether `path` is a method of a gRPC-only service.
pub fn is_grpc_only_path(path: &str) -> bool {
    SERVICES.iter().any(|s| path.starts_with(s))
}

/// Carries one Connect request to `grpc` (the tonic routes) and its answer back.
pub async fn call(grpc: Router, req: Request, body_limit: usize) -> Response {
    let (mut parts, body) = req.into_parts();
    if parts.method != Method::POST {
        let mut resp = with_code(
            StatusCode::METHOD_NOT_ALLOWED,
            tonic::Code::Unimplemented,
            &format!("{} is not allowed for this method; use POST.", parts.method),
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let streaming = match content_type {
        "application/proto" => false,
        "application/connect+proto" => true,
        other => {
            return with_code(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                tonic::Code::Unimplemented,
                &format!(
                    "Unsupported content type {other:?}: this service takes application/proto \
                     (unary) or application/connect+proto (streams) over Connect."
                ),
            );
        }
    };
    for name in ["content-encoding", "connect-content-encoding"] {
        if parts
            .headers
            .get(name)
            .is_some_and(|v| v.as_bytes() != b"identity")
        {
            return refuse(
                streaming,
                tonic::Code::Unimplemented,
                "Compressed requests are not supported for this service.",
            );
        }
    }
    let body = if streaming {
        body
    } else {
        match read_body(body, body_limit).await {
            Ok(message) => match envelope::frame(0, &message) {
                Some(framed) => Body::from(framed),
                None => return refuse(false, tonic::Code::ResourceExhausted, "Message too large."),
            },
            Err(e) => return refuse(false, e.grpc_code(), &e.to_string()),
        }
    };
    grpc_headers(&mut parts.headers);
    // gRPC is HTTP/2; the in-process call carries the version a Connect caller on HTTP/1.1 did
    // not use (tonic-web refuses plain gRPC marked HTTP/1.1).
    parts.version = http::Version::HTTP_2;
    let answer = match grpc.oneshot(Request::from_parts(parts, body)).await {
        Ok(answer) => answer,
        Err(never) => match never {},
    };
    if streaming {
        stream_answer(answer)
    } else {
        unary_answer(answer).await
    }
}

/// The request headers as a gRPC server expects them: its content type, `te: trailers`,
/// `Connect-Timeout-Ms` as `grpc-timeout`, no body length (a unary body grew by its frame)
/// and no HTTP compression negotiation (answers come back uncompressed).
fn grpc_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc+proto"),
    );
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::ACCEPT_ENCODING);
    headers.remove("connect-accept-encoding");
    if let Some(ms) = headers
        .remove("connect-timeout-ms")
        .and_then(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok()))
        // grpc-timeout takes at most 8 digits.
        .filter(|ms| *ms < 100_000_000)
        && let Ok(v) = HeaderValue::from_str(&format!("{ms}m"))
    {
        headers.insert("grpc-timeout", v);
    }
}

/// The gRPC status in `headers` (trailers, or a trailers-only answer's headers), if any, as
/// tonic reads it (the code, and `grpc-message` percent-decoded).
fn status_of(headers: &HeaderMap) -> Option<(tonic::Code, String)> {
    let status = tonic::Status::from_header_map(headers)?;
    Some((status.code(), status.message().to_owned()))
}

async fn unary_answer(answer: Response) -> Response {
    let (parts, body) = answer.into_parts();
    let collected = match body.collect().await {
        Ok(collected) => collected,
        Err(e) => {
            return with_code(
                StatusCode::INTERNAL_SERVER_ERROR,
                tonic::Code::Internal,
                &format!("The call failed: {e}"),
            );
        }
    };
    let trailers = collected.trailers().cloned();
    let bytes = collected.to_bytes();
    let status = trailers
        .as_ref()
        .and_then(status_of)
        .or_else(|| status_of(&parts.headers))
        .unwrap_or((
            tonic::Code::Internal,
            "The call ended without a status.".into(),
        ));
    match status {
        (tonic::Code::Ok, _) => match first_message(&bytes) {
            Some(message) => {
                let mut resp = Response::new(Body::from(message));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/proto"),
                );
                resp
            }
            None => with_code(
                StatusCode::INTERNAL_SERVER_ERROR,
                tonic::Code::Internal,
                "The call answered no message.",
            ),
        },
        (code, message) => with_code(http_status(code), code, &message),
    }
}

/// The payload of the first (uncompressed) frame of a gRPC body.
fn first_message(body: &Bytes) -> Option<Bytes> {
    let header = body.get(..HEADER_LEN)?;
    if header[0] != 0 {
        return None;
    }
    let len = usize::try_from(u32::from_be_bytes([
        header[1], header[2], header[3], header[4],
    ]))
    .ok()?;
    (body.len() >= HEADER_LEN + len).then(|| body.slice(HEADER_LEN..HEADER_LEN + len))
}

/// A Connect stream from a gRPC answer: data frames pass as they are (the framing is the
/// same); the status, from the trailers or a trailers-only answer's headers, becomes the
/// end-of-stream message.
fn stream_answer(answer: Response) -> Response {
    let (parts, body) = answer.into_parts();
    let head_status = status_of(&parts.headers);
    let frames = http_body_util::BodyStream::new(body);
    let out = futures::stream::unfold(Some((frames, head_status)), |state| async move {
        let (mut frames, head_status) = state?;
        loop {
            let end = match frames.next().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => {
                        return Some((Ok::<_, Infallible>(data), Some((frames, head_status))));
                    }
                    Err(frame) => match frame.into_trailers() {
                        Ok(trailers) => status_of(&trailers).or(head_status),
                        Err(_) => continue,
                    },
                },
                Some(Err(e)) => Some((tonic::Code::Internal, format!("The stream failed: {e}"))),
                None => head_status,
            };
            return Some((Ok(end_frame(end)), None));
        }
    });
    let mut resp = Response::new(Body::from_stream(out));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/connect+proto"),
    );
    resp
}

/// An end-of-stream frame for `status` (`{}` when OK).
fn end_frame(status: Option<(tonic::Code, String)>) -> Bytes {
    match status {
        Some((tonic::Code::Ok, _)) => envelope::end_stream_with(None),
        Some((code, message)) => envelope::end_stream_with(Some(WireError::of(code, &message))),
        None => envelope::end_stream_with(Some(WireError::of(
            tonic::Code::Internal,
            "The call ended without a status.",
        ))),
    }
}

/// A refusal before the call, in the shape the caller reads.
fn refuse(streaming: bool, code: tonic::Code, message: &str) -> Response {
    if streaming {
        let mut resp = Response::new(Body::from(end_frame(Some((code, message.to_owned())))));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/connect+proto"),
        );
        resp
    } else {
        with_code(http_status(code), code, message)
    }
}
