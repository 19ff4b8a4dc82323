//! The gateway's one error model.
//!
//! Every failure on a request path is a [`GatewayError`]. Each variant knows where it came from
//! ([`Origin`]), whether trying again could help, and how it looks on every surface: the HTTP
//! status and the MLflow-style JSON body of the REST facades ([`GatewayError::http_status`],
//! [`GatewayError::rest_body`]) and the gRPC status ([`GatewayError::grpc_code`]). The mapping
//! tables below are exhaustive `match`es without a wildcard arm, so a new variant cannot be added
//! without deciding how every surface shows it.

use serde_json::{Value, json};

/// Who caused a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The request was wrong; retrying the same request cannot succeed.
    Client,
    /// The upstream provider failed or refused.
    Upstream,
    /// The gateway itself failed.
    Gateway,
}

/// A class of transient failure that retries, fallbacks and circuit breakers act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The upstream could not be reached (refused, reset, DNS, TLS): `connect_error`.
    ConnectError,
    /// The upstream did not answer in time: `timeout`.
    Timeout,
    /// The upstream answered 429: `rate_limited`.
    RateLimited,
    /// The upstream answered 5xx, or 2xx with an unusable body: `server_error`.
    ServerError,
}

impl ErrorClass {
    /// Every class, in config spelling order.
    pub const ALL: [ErrorClass; 4] = [
        ErrorClass::ConnectError,
        ErrorClass::Timeout,
        ErrorClass::RateLimited,
        ErrorClass::ServerError,
    ];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::ConnectError => "connect_error",
            ErrorClass::Timeout => "timeout",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::ServerError => "server_error",
        }
    }

    fn bit(self) -> u8 {
        match self {
            ErrorClass::ConnectError => 1,
            ErrorClass::Timeout => 2,
            ErrorClass::RateLimited => 4,
            ErrorClass::ServerError => 8,
        }
    }
}

/// A set of [`ErrorClass`]es.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorClasses(u8);

impl ErrorClasses {
    /// Every class.
    pub const ALL: ErrorClasses = ErrorClasses(15);

    /// The set of `classes`.
    pub fn of(classes: &[ErrorClass]) -> Self {
        ErrorClasses(classes.iter().fold(0, |acc, c| acc | c.bit()))
    }

    /// Whether `class` is in the set.
    pub fn contains(self, class: ErrorClass) -> bool {
        self.0 & class.bit() != 0
    }

    /// Whether `err` belongs to a class of the set.
    pub fn matches(self, err: &GatewayError) -> bool {
        err.class().is_some_and(|c| self.contains(c))
    }
}

/// One entry of a FastAPI/pydantic-style validation error list (`{"type","loc","msg","input","ctx"}`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Pydantic error type, e.g. `missing`, `less_than_equal`, `list_type`.
    pub kind: &'static str,
    /// Location inside the request body, e.g. `["messages", 0, "role"]` (the REST facade prefixes `"body"`).
    pub loc: Vec<LocPart>,
    /// Human-readable message, pydantic's wording.
    pub msg: String,
    /// The offending input value.
    pub input: Value,
    /// Extra context (e.g. `{"le": 2.0}`), when pydantic gives one.
    pub ctx: Option<Value>,
}

/// One step of a [`FieldError`] location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocPart {
    /// An object key.
    Key(String),
    /// A list index.
    Index(usize),
}

impl From<&str> for LocPart {
    fn from(key: &str) -> Self {
        LocPart::Key(key.to_owned())
    }
}

impl From<usize> for LocPart {
    fn from(index: usize) -> Self {
        LocPart::Index(index)
    }
}

impl FieldError {
    /// The location as a dotted path (`messages[0].role`), for non-JSON surfaces such as gRPC.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for part in &self.loc {
            match part {
                LocPart::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                LocPart::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        out
    }

    fn to_json(&self, prefix: Option<&str>) -> Value {
        let mut loc: Vec<Value> = Vec::with_capacity(self.loc.len() + 1);
        if let Some(p) = prefix {
            loc.push(Value::from(p));
        }
        loc.extend(self.loc.iter().map(|p| match p {
            LocPart::Key(k) => Value::from(k.as_str()),
            LocPart::Index(i) => Value::from(*i),
        }));
        let mut obj = serde_json::Map::new();
        obj.insert("type".into(), Value::from(self.kind));
        obj.insert("loc".into(), Value::Array(loc));
        obj.insert("msg".into(), Value::from(self.msg.as_str()));
        obj.insert("input".into(), self.input.clone());
        if let Some(ctx) = &self.ctx {
            obj.insert("ctx".into(), ctx.clone());
        }
        Value::Object(obj)
    }
}

/// A failure on a request path.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// The request body failed validation (422, a pydantic-style error list).
    #[error("invalid request: {}", field_summary(.0))]
    Validation(Vec<FieldError>),
    /// The request is semantically unacceptable for the endpoint (MLflow answers 422 with a
    /// string detail, e.g. a `model` field on an invocation route).
    #[error("{0}")]
    Unprocessable(String),
    /// The request is malformed for this route (400), e.g. a chat call to an embeddings endpoint.
    #[error("{0}")]
    BadRequest(String),
    /// No endpoint or route of that name (404).
    #[error("{0}")]
    NotFound(String),
    /// Gateway API keys are configured and the request has none, or not a valid one (401,
    /// `UNAUTHENTICATED`). The message never contains the key.
    #[error("{0}")]
    Unauthenticated(String),
    /// The request's API key does not allow the endpoint or route it names (403,
    /// `PERMISSION_DENIED`).
    #[error("{0}")]
    PermissionDenied(String),
    /// The endpoint's provider cannot serve this kind of call (501).
    #[error("{0}")]
    NotImplemented(String),
    /// The request body is larger than the configured limit (413).
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The endpoint's rate limit is exhausted (429).
    #[error("Rate limit exceeded: {limit}")]
    RateLimited {
        /// The limit as MLflow words it: `2 per 1 minute`.
        limit: String,
        /// Seconds until the window resets.
        retry_after_secs: u64,
    },
    /// The upstream answered with an error status; the status is passed through.
    #[error("upstream returned HTTP {status}: {}", detail_text(.detail))]
    Upstream {
        /// The upstream HTTP status.
        status: u16,
        /// The error detail as MLflow shapes it (`error.message`, the whole JSON, or `{"message": text}`).
        detail: Value,
        /// The upstream's `Retry-After`, in seconds, when it sent one.
        retry_after_secs: Option<u64>,
    },
    /// The upstream answered 2xx with a body the gateway cannot use (502).
    #[error("{0}")]
    UpstreamBadResponse(String),
    /// The upstream could not be reached: connection refused or reset, DNS or TLS failure (502).
    #[error("{0}")]
    UpstreamUnreachable(String),
    /// The upstream did not answer within the endpoint's timeout (504).
    #[error("{0}")]
    UpstreamTimeout(String),
    /// The gateway will not try now: every destination's circuit is open, or it is shedding
    /// load (503, with a `Retry-After` when it knows when to come back).
    #[error("{message}")]
    Unavailable {
        /// What is unavailable and why.
        message: String,
        /// Seconds until trying again can help.
        retry_after_secs: Option<u64>,
    },
    /// The gateway is at its bound on requests in flight (`--max-in-flight`) and sheds this
    /// one at once instead of queueing it: 503 with `Retry-After` for REST, `RESOURCE_EXHAUSTED`
    /// for gRPC, grpc-web and Connect.
    #[error("The gateway is at its limit of {limit} requests in flight; try again shortly.")]
    Overloaded {
        /// The bound on requests in flight.
        limit: usize,
    },
    /// A bug or an unexpected state in the gateway (500).
    #[error("{0}")]
    Internal(String),
}

fn field_summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| {
            let path = e.path();
            if path.is_empty() {
                e.msg.clone()
            } else {
                format!("{path}: {}", e.msg)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn detail_text(detail: &Value) -> String {
    match detail {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl GatewayError {
    /// A single validation error.
    pub fn field(
        kind: &'static str,
        loc: Vec<LocPart>,
        msg: impl Into<String>,
        input: Value,
        ctx: Option<Value>,
    ) -> Self {
        GatewayError::Validation(vec![FieldError {
            kind,
            loc,
            msg: msg.into(),
            input,
            ctx,
        }])
    }

    /// The client's own deadline (gRPC `grpc-timeout`, Connect `Connect-Timeout-Ms`) passed.
    pub fn client_deadline() -> Self {
        GatewayError::UpstreamTimeout(
            "The client's deadline passed before the call completed.".into(),
        )
    }

    /// Who caused the failure.
    pub fn origin(&self) -> Origin {
        match self {
            GatewayError::Validation(_)
            | GatewayError::Unprocessable(_)
            | GatewayError::BadRequest(_)
            | GatewayError::NotFound(_)
            | GatewayError::Unauthenticated(_)
            | GatewayError::PermissionDenied(_)
            | GatewayError::NotImplemented(_)
            | GatewayError::PayloadTooLarge { .. }
            | GatewayError::RateLimited { .. } => Origin::Client,
            GatewayError::Upstream { .. }
            | GatewayError::UpstreamBadResponse(_)
            | GatewayError::UpstreamUnreachable(_)
            | GatewayError::UpstreamTimeout(_) => Origin::Upstream,
            GatewayError::Unavailable { .. }
            | GatewayError::Overloaded { .. }
            | GatewayError::Internal(_) => Origin::Gateway,
        }
    }

    /// Whether the same request may succeed if tried again (on this or another destination).
    pub fn is_retryable(&self) -> bool {
        match self {
            GatewayError::Upstream { status, .. } => *status == 429 || *status >= 500,
            GatewayError::UpstreamUnreachable(_) | GatewayError::UpstreamTimeout(_) => true,
            GatewayError::RateLimited { .. }
            | GatewayError::Unavailable { .. }
            | GatewayError::Overloaded { .. } => true,
            GatewayError::UpstreamBadResponse(_)
            | GatewayError::Validation(_)
            | GatewayError::Unprocessable(_)
            | GatewayError::BadRequest(_)
            | GatewayError::NotFound(_)
            | GatewayError::Unauthenticated(_)
            | GatewayError::PermissionDenied(_)
            | GatewayError::NotImplemented(_)
            | GatewayError::PayloadTooLarge { .. }
            | GatewayError::Internal(_) => false,
        }
    }

    /// The transient-failure class of an upstream error, if it has one (client and gateway
    /// errors have none: trying them again, anywhere, cannot help).
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            GatewayError::Upstream { status: 429, .. } => Some(ErrorClass::RateLimited),
            GatewayError::Upstream { status, .. } if *status >= 500 => {
                Some(ErrorClass::ServerError)
            }
            GatewayError::UpstreamBadResponse(_) => Some(ErrorClass::ServerError),
            GatewayError::UpstreamUnreachable(_) => Some(ErrorClass::ConnectError),
            GatewayError::UpstreamTimeout(_) => Some(ErrorClass::Timeout),
            GatewayError::Upstream { .. }
            | GatewayError::Validation(_)
            | GatewayError::Unprocessable(_)
            | GatewayError::BadRequest(_)
            | GatewayError::NotFound(_)
            | GatewayError::Unauthenticated(_)
            | GatewayError::PermissionDenied(_)
            | GatewayError::NotImplemented(_)
            | GatewayError::PayloadTooLarge { .. }
            | GatewayError::RateLimited { .. }
            | GatewayError::Unavailable { .. }
            | GatewayError::Overloaded { .. }
            | GatewayError::Internal(_) => None,
        }
    }

    /// The HTTP status the REST facades answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            GatewayError::Validation(_) | GatewayError::Unprocessable(_) => 422,
            GatewayError::BadRequest(_) => 400,
            GatewayError::NotFound(_) => 404,
            GatewayError::Unauthenticated(_) => 401,
            GatewayError::PermissionDenied(_) => 403,
            GatewayError::NotImplemented(_) => 501,
            GatewayError::PayloadTooLarge { .. } => 413,
            GatewayError::RateLimited { .. } => 429,
            GatewayError::Upstream { status, .. } => *status,
            GatewayError::UpstreamBadResponse(_) | GatewayError::UpstreamUnreachable(_) => 502,
            GatewayError::UpstreamTimeout(_) => 504,
            GatewayError::Unavailable { .. } | GatewayError::Overloaded { .. } => 503,
            GatewayError::Internal(_) => 500,
        }
    }

    /// The gRPC status code for the gRPC, grpc-web and Connect surfaces.
    pub fn grpc_code(&self) -> tonic::Code {
        use tonic::Code;
        match self {
            GatewayError::Validation(_)
            | GatewayError::Unprocessable(_)
            | GatewayError::BadRequest(_) => Code::InvalidArgument,
            GatewayError::NotFound(_) => Code::NotFound,
            GatewayError::Unauthenticated(_) => Code::Unauthenticated,
            GatewayError::PermissionDenied(_) => Code::PermissionDenied,
            GatewayError::NotImplemented(_) => Code::Unimplemented,
            GatewayError::PayloadTooLarge { .. }
            | GatewayError::RateLimited { .. }
            | GatewayError::Overloaded { .. } => Code::ResourceExhausted,
            GatewayError::Upstream { status, .. } => code_for_upstream_status(*status),
            GatewayError::UpstreamBadResponse(_) | GatewayError::UpstreamUnreachable(_) => {
                Code::Unavailable
            }
            GatewayError::UpstreamTimeout(_) => Code::DeadlineExceeded,
            GatewayError::Unavailable { .. } => Code::Unavailable,
            GatewayError::Internal(_) => Code::Internal,
        }
    }

    /// The JSON body of the REST facades (MLflow's FastAPI shapes: `{"detail": ...}`, and
    /// `{"error": ...}` for rate limiting).
    pub fn rest_body(&self) -> Value {
        match self {
            GatewayError::Validation(errors) => json!({
                "detail": errors.iter().map(|e| e.to_json(Some("body"))).collect::<Vec<_>>()
            }),
            GatewayError::RateLimited { .. } => json!({ "error": self.to_string() }),
            GatewayError::Upstream { detail, .. } => json!({ "detail": detail }),
            GatewayError::Unprocessable(m)
            | GatewayError::BadRequest(m)
            | GatewayError::NotFound(m)
            | GatewayError::Unauthenticated(m)
            | GatewayError::PermissionDenied(m)
            | GatewayError::NotImplemented(m)
            | GatewayError::UpstreamBadResponse(m)
            | GatewayError::UpstreamUnreachable(m)
            | GatewayError::UpstreamTimeout(m)
            | GatewayError::Internal(m) => json!({ "detail": m }),
            GatewayError::PayloadTooLarge { .. }
            | GatewayError::Unavailable { .. }
            | GatewayError::Overloaded { .. } => json!({ "detail": self.to_string() }),
        }
    }

    /// Seconds a client should wait before retrying, when known.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            GatewayError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            // Shedding is momentary: a second later the requests in flight have moved on.
            GatewayError::Overloaded { .. } => Some(1),
            GatewayError::Upstream {
                retry_after_secs, ..
            }
            | GatewayError::Unavailable {
                retry_after_secs, ..
            } => *retry_after_secs,
            GatewayError::Validation(_)
            | GatewayError::Unprocessable(_)
            | GatewayError::BadRequest(_)
            | GatewayError::NotFound(_)
            | GatewayError::Unauthenticated(_)
            | GatewayError::PermissionDenied(_)
            | GatewayError::NotImplemented(_)
            | GatewayError::PayloadTooLarge { .. }
            | GatewayError::UpstreamBadResponse(_)
            | GatewayError::UpstreamUnreachable(_)
            | GatewayError::UpstreamTimeout(_)
            | GatewayError::Internal(_) => None,
        }
    }

    /// The error as a gRPC status (message = the human-readable text).
    pub fn to_status(&self) -> tonic::Status {
        let mut status = tonic::Status::new(self.grpc_code(), self.to_string());
        if let Some(secs) = self.retry_after_secs() {
            // As REST answers carry `Retry-After`: the same hint for RPC clients (and for the
            // REST bridge, which turns it back into the header).
            status
                .metadata_mut()
                .insert("retry-after", tonic::metadata::MetadataValue::from(secs));
        }
        status
    }
}

/// gRPC code for an upstream HTTP error status, by what the status means for the caller.
fn code_for_upstream_status(status: u16) -> tonic::Code {
    use tonic::Code;
    match status {
        400 | 413 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        408 | 504 => Code::DeadlineExceeded,
        409 => Code::Aborted,
        429 => Code::ResourceExhausted,
        501 => Code::Unimplemented,
        // 529 is Anthropic's "overloaded": a retryable capacity failure like 503.
        502 | 503 | 529 => Code::Unavailable,
        500..=599 => Code::Internal,
        _ => Code::Unknown,
    }
}

impl From<GatewayError> for tonic::Status {
    fn from(e: GatewayError) -> Self {
        e.to_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_body_is_fastapi_shaped() {
        let e = GatewayError::field(
            "less_than_equal",
            vec!["temperature".into()],
            "Input should be less than or equal to 2",
            json!(3.0),
            Some(json!({"le": 2.0})),
        );
        assert_eq!(e.http_status(), 422);
        assert_eq!(
            e.rest_body().to_string(),
            r#"{"detail":[{"type":"less_than_equal","loc":["body","temperature"],"msg":"Input should be less than or equal to 2","input":3.0,"ctx":{"le":2.0}}]}"#
        );
        assert_eq!(e.grpc_code(), tonic::Code::InvalidArgument);
        assert_eq!(
            e.to_string(),
            "invalid request: temperature: Input should be less than or equal to 2"
        );
    }

    #[test]
    fn rate_limit_body_uses_error_key() {
        let e = GatewayError::RateLimited {
            limit: "2 per 1 minute".into(),
            retry_after_secs: 30,
        };
        assert_eq!(
            e.rest_body().to_string(),
            r#"{"error":"Rate limit exceeded: 2 per 1 minute"}"#
        );
        assert_eq!(e.http_status(), 429);
        assert_eq!(e.grpc_code(), tonic::Code::ResourceExhausted);
    }

    #[test]
    fn upstream_status_passes_through() {
        let e = GatewayError::Upstream {
            status: 503,
            detail: json!({"detail": "weird"}),
            retry_after_secs: None,
        };
        assert_eq!(e.http_status(), 503);
        assert_eq!(
            e.rest_body().to_string(),
            r#"{"detail":{"detail":"weird"}}"#
        );
        assert_eq!(e.grpc_code(), tonic::Code::Unavailable);
        assert!(e.is_retryable());
        let overloaded = GatewayError::Upstream {
            status: 529,
            detail: json!("Overloaded"),
            retry_after_secs: None,
        };
        assert_eq!(overloaded.grpc_code(), tonic::Code::Unavailable);
        let bad = GatewayError::Upstream {
            status: 400,
            detail: json!("upstream bad request"),
            retry_after_secs: None,
        };
        assert!(!bad.is_retryable());
        assert_eq!(bad.grpc_code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn auth_failures_are_401_and_403() {
        let e = GatewayError::Unauthenticated("Invalid API key.".into());
        assert_eq!(e.http_status(), 401);
        assert_eq!(e.grpc_code(), tonic::Code::Unauthenticated);
        assert_eq!(
            e.rest_body().to_string(),
            r#"{"detail":"Invalid API key."}"#
        );
        assert_eq!(e.origin(), Origin::Client);
        assert!(!e.is_retryable());
        let e = GatewayError::PermissionDenied("no".into());
        assert_eq!(e.http_status(), 403);
        assert_eq!(e.grpc_code(), tonic::Code::PermissionDenied);
        assert_eq!(e.rest_body().to_string(), r#"{"detail":"no"}"#);
        assert_eq!(e.class(), None);
    }

    #[test]
    fn network_failures_are_502_and_504() {
        assert_eq!(
            GatewayError::UpstreamUnreachable("x".into()).http_status(),
            502
        );
        assert_eq!(GatewayError::UpstreamTimeout("x".into()).http_status(), 504);
        assert_eq!(
            GatewayError::UpstreamTimeout("x".into()).grpc_code(),
            tonic::Code::DeadlineExceeded
        );
    }
}
