//! The server's defences against hostile and excessive traffic, on every surface:
//!
//! - [`conn`]: connection-level limits, one configuration of hyper's HTTP/1.1 and HTTP/2
//!   server for the plain and the TLS listener ([`ConnectionLimits`]): request-header size
//!   (431), header-read and idle timeouts (slowloris sockets and connections that never send a
//!   request are closed), HTTP/2 keep-alive pings, concurrent streams, frame and header-list
//!   sizes; and the per-connection driver both listeners run, with the graceful drain.
//! - [`shed`]: a bound on requests in flight (`--max-in-flight`); past it a request is refused
//!   at once, never queued ([`LoadShedLayer`]).
//! - [`panic`]: a panic on a request path (a bug: clippy denies the obvious ones) becomes a 500
//!   for that request only ([`CatchPanicLayer`]).
//!
//! - [`grpc_decode_errors`]: tonic answers a request message it cannot decode (not
//!   Protobuf, a string that is not UTF-8, nesting past prost's recursion limit) with
//!   `INTERNAL`; it is the client's error, so the gateway says `INVALID_ARGUMENT`. A message
//!   past `--max-body-bytes` tonic answers `OUT_OF_RANGE`; the gateway says
//!   `RESOURCE_EXHAUSTED`, as gRPC's own implementations do (and as Connect and the REST 413
//!   say).
//!
//! Every refusal here is written in the caller's protocol by [`refusal`], the function the
//! authentication layer answers with too: a trailers-only gRPC status for gRPC and grpc-web,
//! Connect's error JSON (or end-of-stream message) on the typed services' paths, Google's error
//! JSON on the REST bridge's, and the REST facades' `{"detail": ...}` JSON for everything else.

pub mod conn;
pub mod panic;
pub mod shed;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, header};

use crate::error::GatewayError;

pub use conn::ConnectionLimits;
pub use panic::CatchPanicLayer;
pub use shed::{DEFAULT_MAX_IN_FLIGHT, LoadShedLayer};

/// `e` as the caller of `req` reads an error: see the module docs.
pub fn refusal(req: &Request, e: &GatewayError) -> Response {
    Caller::of(req).refuse(e)
}

/// The start of tonic's message for a request it could not decode, as sent (percent-encoded).
const DECODE_FAILURE: &[u8] = b"failed%20to%20decode%20Protobuf%20message";
/// The starts of tonic's messages for a body that ends inside a message frame, or before the
/// unary request's message (found by fuzzing, `grpc_web`: the client's errors too).
const TRUNCATED: &[u8] = b"Unexpected%20EOF%20decoding%20stream";
const MISSING: &[u8] = b"Missing%20request%20message";
/// The start of tonic's messages for a frame whose compression flag is neither 0 nor 1, or 1
/// without a `grpc-encoding` (found by fuzzing, `grpc_web`).
const BAD_FLAG: &[u8] = b"protocol%20error:%20received%20message%20with";
/// The starts of tonic-web's messages for a grpc-web-text body that is not base64.
const NOT_BASE64: &[u8] = b"tonic-web:%20Invalid";
const BAD_BASE64: &[u8] = b"tonic-web:%20malformed%20base64";
/// The start of tonic's message for a request message past the size limit.
const TOO_LARGE: &[u8] = b"Error,%20decoded%20message%20length%20too%20large";

/// Rewrites tonic's trailers-only status for a request message it could not take: `INTERNAL`
/// for an undecodable one becomes `INVALID_ARGUMENT`, `OUT_OF_RANGE` for one past the size
/// limit `RESOURCE_EXHAUSTED`. The message is kept. Other answers cost one header lookup.
pub fn grpc_decode_errors(mut resp: Response) -> Response {
    let fixed = match resp.headers().get("grpc-status").map(HeaderValue::as_bytes) {
        Some(b"13") => (
            "3",
            &[
                DECODE_FAILURE,
                TRUNCATED,
                MISSING,
                BAD_FLAG,
                NOT_BASE64,
                BAD_BASE64,
            ][..],
        ),
        Some(b"11") => ("8", &[TOO_LARGE][..]),
        _ => return resp,
    };
    let matches = resp
        .headers()
        .get("grpc-message")
        .is_some_and(|m| fixed.1.iter().any(|p| m.as_bytes().starts_with(p)));
    if matches {
        resp.headers_mut()
            .insert("grpc-status", HeaderValue::from_static(fixed.0));
    }
    resp
}

/// Which protocol a request speaks, as far as answering it with an error goes: taken before
/// the request is handed on, for answers made after it is gone (a panic).
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// gRPC (`None`) or grpc-web (its content type, which the answer repeats).
    Grpc(Option<HeaderValue>),
    /// The Connect protocol, with the request's content type (streaming or unary).
    Connect(Option<HeaderValue>),
    /// The REST bridge generated from the proto annotations: Google's JSON error shape.
    RestBridge,
    /// The REST facades and everything else.
    Rest,
}

impl Caller {
    pub(crate) fn of(req: &Request) -> Caller {
        let content_type = req.headers().get(header::CONTENT_TYPE);
        match content_type {
            Some(ct) if ct.as_bytes().starts_with(b"application/grpc-web") => {
                Caller::Grpc(Some(ct.clone()))
            }
            Some(ct) if ct.as_bytes().starts_with(b"application/grpc") => Caller::Grpc(None),
            _ if crate::connect::is_connect_path(req.uri().path()) => {
                Caller::Connect(content_type.cloned())
            }
            _ if crate::rest::is_bridge_path(req.uri().path()) => Caller::RestBridge,
            _ => Caller::Rest,
        }
    }

    pub(crate) fn refuse(&self, e: &GatewayError) -> Response {
        // A Connect stream's refusal is an HTTP 200 carrying the error: the record says what
        // the request really ended with, so metrics and the access line count the refusal.
        crate::telemetry::with_call(|r| r.failed(e));
        match self {
            Caller::Grpc(web) => {
                // Trailers-only: the status in the headers, which gRPC and grpc-web clients read.
                let mut resp = e.to_status().into_http::<Body>();
                let headers = resp.headers_mut();
                if let Some(ct) = web {
                    headers.insert(header::CONTENT_TYPE, ct.clone());
                }
                if let Some(secs) = e.retry_after_secs() {
                    headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                if matches!(e, GatewayError::Unauthenticated(_)) {
                    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                resp
            }
            Caller::Connect(content_type) => {
                // The Connect answer depends on the content type only.
                let mut req = Request::new(Body::empty());
                if let Some(ct) = content_type {
                    req.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
                }
                crate::connect::refusal(&req, e)
            }
            Caller::RestBridge => crate::rest::bridge_error_response(e),
            Caller::Rest => crate::rest::error_response(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grpc_answer(status: &'static str, message: &'static str) -> Response {
        let mut resp = Response::new(Body::empty());
        resp.headers_mut()
            .insert("grpc-status", HeaderValue::from_static(status));
        resp.headers_mut()
            .insert("grpc-message", HeaderValue::from_static(message));
        resp
    }

    #[test]
    fn tonic_decode_failures_become_client_errors_and_nothing_else_changes() {
        let cases = [
            ("13", "failed%20to%20decode%20Protobuf%20message:%20x", "3"),
            (
                "11",
                "Error,%20decoded%20message%20length%20too%20large:%20found",
                "8",
            ),
            // The same codes for other reasons are left alone.
            ("13", "upstream%20failed", "13"),
            ("11", "out%20of%20range", "11"),
            ("3", "failed%20to%20decode%20Protobuf%20message", "3"),
            ("0", "", "0"),
        ];
        for (status, message, expected) in cases {
            let resp = grpc_decode_errors(grpc_answer(status, message));
            assert_eq!(
                resp.headers()["grpc-status"],
                expected,
                "{status} {message}"
            );
            assert_eq!(resp.headers()["grpc-message"], message);
        }
    }

    #[test]
    fn overload_is_503_with_retry_after_for_rest_and_resource_exhausted_for_grpc() {
        let e = GatewayError::Overloaded { limit: 2 };
        let rest = Caller::Rest.refuse(&e);
        assert_eq!(rest.status(), 503);
        assert_eq!(rest.headers()[header::RETRY_AFTER], "1");
        let grpc = Caller::Grpc(None).refuse(&e);
        assert_eq!(grpc.headers()["grpc-status"], "8");
        assert_eq!(grpc.headers()[header::RETRY_AFTER], "1");
        let web = HeaderValue::from_static("application/grpc-web-text");
        let grpc_web = Caller::Grpc(Some(web.clone())).refuse(&e);
        assert_eq!(grpc_web.headers()[header::CONTENT_TYPE], web);
        let connect =
            Caller::Connect(Some(HeaderValue::from_static("application/json"))).refuse(&e);
        assert_eq!(connect.status(), 429);
        assert_eq!(connect.headers()[header::RETRY_AFTER], "1");
    }
}
