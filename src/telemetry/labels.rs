//! The bounded label vocabulary of the metrics: which surface a request came in on, and what it
//! ended with (an HTTP status or a gRPC code, and its class).
//!
//! Every value here is a `&'static str` chosen from a fixed set, so no label ever carries text a
//! client wrote and a series never costs an allocation to name.

use http::Request;

/// The protocol a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    /// gRPC over HTTP/2.
    Grpc,
    /// grpc-web (through tonic-web).
    GrpcWeb,
    /// The Connect protocol.
    Connect,
    /// MLflow's REST API (and every other non-`/v1/` path: health, listings, `/metrics`, 404s).
    MlflowRest,
    /// OpenAI's REST API (`/v1/...`).
    OpenAiRest,
    /// The REST bridge generated from the proto's `google.api.http` annotations
    /// (`/v1/endpoints...`).
    RestBridge,
}

impl Surface {
    /// Every surface, in [`Surface::index`] order.
    pub const ALL: [Surface; 6] = [
        Surface::Grpc,
        Surface::GrpcWeb,
        Surface::Connect,
        Surface::MlflowRest,
        Surface::OpenAiRest,
        Surface::RestBridge,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Grpc => "grpc",
            Surface::GrpcWeb => "grpc-web",
            Surface::Connect => "connect",
            Surface::MlflowRest => "mlflow-rest",
            Surface::OpenAiRest => "openai-rest",
            Surface::RestBridge => "rest-bridge",
        }
    }

    /// Position in [`Surface::ALL`], for per-surface metric arrays.
    pub fn index(self) -> usize {
        match self {
            Surface::Grpc => 0,
            Surface::GrpcWeb => 1,
            Surface::Connect => 2,
            Surface::MlflowRest => 3,
            Surface::OpenAiRest => 4,
            Surface::RestBridge => 5,
        }
    }

    /// Whether answers on this surface carry a gRPC status.
    pub fn is_grpc(self) -> bool {
        matches!(self, Surface::Grpc | Surface::GrpcWeb)
    }

    /// The surface of `req`, from its content type (gRPC, grpc-web and Connect share paths)
    /// and its path (the typed services' paths are Connect when not gRPC).
    pub fn of<B>(req: &Request<B>) -> Surface {
        let ct = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map_or(&b""[..], |v| v.as_bytes());
        if ct.starts_with(b"application/grpc-web") {
            Surface::GrpcWeb
        } else if ct.starts_with(b"application/grpc") {
            Surface::Grpc
        } else if ct.starts_with(b"application/connect+")
            || req.headers().contains_key("connect-protocol-version")
            || crate::connect::is_connect_path(req.uri().path())
        {
            Surface::Connect
        } else if crate::rest::is_bridge_path(req.uri().path()) {
            Surface::RestBridge
        } else if req.uri().path().starts_with("/v1/") {
            Surface::OpenAiRest
        } else {
            Surface::MlflowRest
        }
    }
}

/// What a request ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// An HTTP status (REST surfaces, and gRPC answers that carry no gRPC status).
    Http(u16),
    /// A gRPC status code.
    Grpc(tonic::Code),
}

/// nginx's status for a request whose client went away before the answer was complete.
pub const CLIENT_CLOSED: u16 = 499;

impl Code {
    /// The `code` label value: the HTTP status number or the gRPC code name.
    pub fn label(self) -> CodeLabel {
        CodeLabel(self)
    }

    /// The `status_class` label value. A gRPC code is classed by the HTTP status it maps to
    /// (as grpc-gateway maps them), so one query gives the error rate of every surface.
    pub fn class(self) -> &'static str {
        let status = match self {
            Code::Http(s) => s,
            Code::Grpc(c) => grpc_http_status(c),
        };
        match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => "other",
        }
    }
}

/// A [`Code`] as a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeLabel(Code);

impl prometheus_client::encoding::EncodeLabelValue for CodeLabel {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        match self.0 {
            Code::Http(s) => prometheus_client::encoding::EncodeLabelValue::encode(&s, encoder),
            Code::Grpc(c) => {
                prometheus_client::encoding::EncodeLabelValue::encode(&grpc_name(c), encoder)
            }
        }
    }
}

/// The canonical name of a gRPC code, as the gRPC spec writes it.
pub fn grpc_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::Ok => "OK",
        C::Cancelled => "CANCELLED",
        C::Unknown => "UNKNOWN",
        C::InvalidArgument => "INVALID_ARGUMENT",
        C::DeadlineExceeded => "DEADLINE_EXCEEDED",
        C::NotFound => "NOT_FOUND",
        C::AlreadyExists => "ALREADY_EXISTS",
        C::PermissionDenied => "PERMISSION_DENIED",
        C::ResourceExhausted => "RESOURCE_EXHAUSTED",
        C::FailedPrecondition => "FAILED_PRECONDITION",
        C::Aborted => "ABORTED",
        C::OutOfRange => "OUT_OF_RANGE",
        C::Unimplemented => "UNIMPLEMENTED",
        C::Internal => "INTERNAL",
        C::Unavailable => "UNAVAILABLE",
        C::DataLoss => "DATA_LOSS",
        C::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The HTTP status equivalent of a gRPC code (grpc-gateway's `HTTPStatusFromCode`).
pub(crate) fn grpc_http_status(code: tonic::Code) -> u16 {
    use tonic::Code as C;
    match code {
        C::Ok => 200,
        C::Cancelled => CLIENT_CLOSED,
        C::InvalidArgument | C::FailedPrecondition | C::OutOfRange => 400,
        C::Unauthenticated => 401,
        C::PermissionDenied => 403,
        C::NotFound => 404,
        C::AlreadyExists | C::Aborted => 409,
        C::ResourceExhausted => 429,
        C::Unknown | C::Internal | C::DataLoss => 500,
        C::Unimplemented => 501,
        C::Unavailable => 503,
        C::DeadlineExceeded => 504,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ct: Option<&str>, path: &str) -> Request<()> {
        let mut b = Request::builder().uri(path);
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn surfaces_by_content_type_then_path() {
        let cases = [
            (
                Some("application/grpc"),
                "/llmgateway.v1.ChatService/Chat",
                "grpc",
            ),
            (Some("application/grpc+proto"), "/x", "grpc"),
            (Some("application/grpc-web+proto"), "/x", "grpc-web"),
            (Some("application/grpc-web-text"), "/x", "grpc-web"),
            (Some("application/connect+json"), "/x", "connect"),
            (
                Some("application/json"),
                "/llmgateway.v1.ChatService/Chat",
                "connect",
            ),
            (
                None,
                "/llmgateway.v1.EndpointsService/ListEndpoints?encoding=json",
                "connect",
            ),
            (
                Some("application/json"),
                "/v1/chat/completions",
                "openai-rest",
            ),
            (
                Some("application/json"),
                "/gateway/chat/invocations",
                "mlflow-rest",
            ),
            (None, "/metrics", "mlflow-rest"),
            (
                Some("application/json"),
                "/v1/endpoints/chat:chat",
                "rest-bridge",
            ),
            (None, "/v1/endpoints", "rest-bridge"),
        ];
        for (ct, path, want) in cases {
            assert_eq!(Surface::of(&req(ct, path)).as_str(), want, "{ct:?} {path}");
        }
        let connect_unary = Request::builder()
            .uri("/llmgateway.v1.ChatService/Chat")
            .header("content-type", "application/json")
            .header("connect-protocol-version", "1")
            .body(())
            .unwrap();
        assert_eq!(Surface::of(&connect_unary), Surface::Connect);
        for (i, s) in Surface::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
    }

    #[test]
    fn classes_put_grpc_codes_beside_http_statuses() {
        assert_eq!(Code::Http(200).class(), "2xx");
        assert_eq!(Code::Http(307).class(), "3xx");
        assert_eq!(Code::Http(429).class(), "4xx");
        assert_eq!(Code::Http(502).class(), "5xx");
        assert_eq!(Code::Grpc(tonic::Code::Ok).class(), "2xx");
        assert_eq!(Code::Grpc(tonic::Code::NotFound).class(), "4xx");
        assert_eq!(Code::Grpc(tonic::Code::Cancelled).class(), "4xx");
        assert_eq!(Code::Grpc(tonic::Code::Unavailable).class(), "5xx");
        assert_eq!(Code::Grpc(tonic::Code::DeadlineExceeded).class(), "5xx");
        assert_eq!(
            grpc_name(tonic::Code::ResourceExhausted),
            "RESOURCE_EXHAUSTED"
        );
    }
}
