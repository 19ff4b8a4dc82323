//! Connect's error shapes: the code names and HTTP statuses of the protocol's table, the error
//! JSON (`{"code":"not_found","message":"..."}`) a unary call answers with, and the refusal the
//! auth layer gives a Connect caller, in whichever of the unary or streaming shapes it expects.
//!
//! The code comes from [`GatewayError::grpc_code`], the one exhaustive table, so a Connect client
//! sees the same code a gRPC client does; the HTTP status is Connect's for that code (a
//! validation failure is 400 here, where MLflow's REST answers 422).

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use super::codec::Codec;
use super::envelope;
use crate::error::GatewayError;

/// The Connect name of a code (`not_found`, ...).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        // Never sent as an error; named for completeness of the table.
        C::Ok => "ok",
        C::Cancelled => "canceled",
        C::Unknown => "unknown",
        C::InvalidArgument => "invalid_argument",
        C::DeadlineExceeded => "deadline_exceeded",
        C::NotFound => "not_found",
        C::AlreadyExists => "already_exists",
        C::PermissionDenied => "permission_denied",
        C::ResourceExhausted => "resource_exhausted",
        C::FailedPrecondition => "failed_precondition",
        C::Aborted => "aborted",
        C::OutOfRange => "out_of_range",
        C::Unimplemented => "unimplemented",
        C::Internal => "internal",
        C::Unavailable => "unavailable",
        C::DataLoss => "data_loss",
        C::Unauthenticated => "unauthenticated",
    }
}

/// The HTTP status of a unary error with `code`, from the Connect protocol's table.
pub fn http_status(code: tonic::Code) -> StatusCode {
    use tonic::Code as C;
    match code {
        C::Ok => StatusCode::OK,
        // 499 Client Closed Request: not in `StatusCode`'s constants, but a valid status.
        C::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        C::InvalidArgument | C::FailedPrecondition | C::OutOfRange => StatusCode::BAD_REQUEST,
        C::Unauthenticated => StatusCode::UNAUTHORIZED,
        C::PermissionDenied => StatusCode::FORBIDDEN,
        C::NotFound => StatusCode::NOT_FOUND,
        C::AlreadyExists | C::Aborted => StatusCode::CONFLICT,
        C::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        C::Unknown | C::Internal | C::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        C::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        C::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        C::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
    }
}

/// Connect's error object, as a unary body and inside an end-of-stream message.
#[derive(Serialize)]
pub struct WireError<'a> {
    code: &'static str,
    message: &'a str,
}

impl<'a> WireError<'a> {
    /// The wire form of `e`, borrowing its message.
    pub fn new(e: &GatewayError, message: &'a str) -> WireError<'a> {
        WireError::of(e.grpc_code(), message)
    }

    /// The wire form of a status `code` with `message`.
    pub fn of(code: tonic::Code, message: &'a str) -> WireError<'a> {
        WireError {
            code: code_name(code),
            message,
        }
    }
}

/// A unary call's error answer: Connect's status for the code and the error JSON.
pub fn unary(e: &GatewayError) -> Response {
    with_status(http_status(e.grpc_code()), e)
}

/// A unary error answer with an explicit HTTP status (405, 415: refusals the protocol answers
/// with a plain HTTP status), still carrying the error JSON for clients that read it.
pub fn with_status(status: StatusCode, e: &GatewayError) -> Response {
    let mut resp = with_code(status, e.grpc_code(), &e.to_string());
    let headers = resp.headers_mut();
    if let Some(secs) = e.retry_after_secs() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if matches!(e, GatewayError::Unauthenticated(_)) {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

/// A unary error answer: `status`, and the error JSON of `code` and `message` (also for
/// statuses that come from elsewhere than a [`GatewayError`], such as a tonic service's).
pub fn with_code(status: StatusCode, code: tonic::Code, message: &str) -> Response {
    // Serialising two strings cannot fail; the fallback keeps the code if it ever did.
    let json = serde_json::to_vec(&WireError::of(code, message))
        .unwrap_or_else(|_| format!(r#"{{"code":"{}"}}"#, code_name(code)).into_bytes());
    let mut resp = Response::new(Body::from(json));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A streaming call's error answer before any message: HTTP 200 and only the end-of-stream
/// message, as Connect streams always answer.
pub fn streaming(codec: Codec, e: &GatewayError) -> Response {
    let mut resp = Response::new(Body::from(envelope::end_stream(Some(e))));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, codec.streaming_content_type());
    resp
}

/// The auth layer's refusal of a Connect request, in the shape the caller reads: the
/// end-of-stream message for a streaming content type, the unary error JSON otherwise.
pub fn refusal(req: &Request, e: &GatewayError) -> Response {
    let codec = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Codec::streaming);
    match codec {
        Some(codec) => streaming(codec, e),
        None => unary(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[test]
    fn codes_map_to_connect_names_and_statuses() {
        let cases = [
            (GatewayError::NotFound("x".into()), "not_found", 404),
            (
                GatewayError::BadRequest("x".into()),
                "invalid_argument",
                400,
            ),
            (GatewayError::Validation(vec![]), "invalid_argument", 400),
            (
                GatewayError::Unauthenticated("x".into()),
                "unauthenticated",
                401,
            ),
            (
                GatewayError::PermissionDenied("x".into()),
                "permission_denied",
                403,
            ),
            (
                GatewayError::PayloadTooLarge { limit: 1 },
                "resource_exhausted",
                429,
            ),
            (
                GatewayError::NotImplemented("x".into()),
                "unimplemented",
                501,
            ),
            (
                GatewayError::UpstreamTimeout("x".into()),
                "deadline_exceeded",
                504,
            ),
            (
                GatewayError::UpstreamUnreachable("x".into()),
                "unavailable",
                503,
            ),
            (GatewayError::Internal("x".into()), "internal", 500),
        ];
        for (e, name, status) in cases {
            assert_eq!(code_name(e.grpc_code()), name, "{e:?}");
            assert_eq!(http_status(e.grpc_code()).as_u16(), status, "{e:?}");
        }
        assert_eq!(http_status(tonic::Code::Cancelled).as_u16(), 499);
    }

    #[tokio::test]
    async fn unary_errors_are_json_with_retry_after() {
        let e = GatewayError::RateLimited {
            limit: "2 per 1 minute".into(),
            retry_after_secs: 30,
        };
        let resp = unary(&e);
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "30");
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &body[..],
            br#"{"code":"resource_exhausted","message":"Rate limit exceeded: 2 per 1 minute"}"#
        );
    }
}
