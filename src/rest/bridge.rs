//! The REST bridge: HTTP + JSON routes generated from the `google.api.http` annotations in
//! `proto/` (`POST /v1/endpoints/{endpoint}:chat`, `GET /v1/endpoints/{name}`, ...), in the
//! style of grpc-gateway and Google's APIs.
//!
//! `build.rs` (`build/rest_bridge.rs`) reads the annotations and generates the binding table,
//! the axum routes and one dispatch arm per RPC; this module is the runtime those use:
//!
//! - matching: a binding's template is literal segments, single-segment variables and an
//!   optional trailing `:verb` (matched here, since axum's router has no in-segment suffixes);
//!   a path that matches but with another method is a 405 with `Allow`;
//! - binding ([`bind`]): the body (proto3 JSON: the whole message for `body: "*"`, one field
//!   for `body: "field"`), the path variables and, for fields neither binds, the query string
//!   (`?page_size=10`, dotted paths for nested fields, repeated keys for lists), merged into one
//!   JSON object and decoded by the generated pbjson impls (so snake_case and lowerCamelCase
//!   names both work, as for Connect);
//! - calling: the RPC's tonic service method on [`GrpcApi`], the very adapter gRPC, grpc-web
//!   use, with the request's headers as metadata (so `grpc-timeout` sets a deadline) and its
//!   extensions (the caller's address and API-key grant);
//! - answering ([`answer`]): the response message as proto3 JSON; server-streaming RPCs as
//!   server-sent events, one `data:` event per message, a failure after the start ending the
//!   stream with one `event: error`; errors in Google's JSON shape
//!   `{"error":{"code":404,"message":...,"status":"NOT_FOUND"}}` with the HTTP status of the
//!   gRPC code (grpc-gateway's table) and `Retry-After` when the status carries one.

mod answer;
mod bind;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::request::Parts;

use crate::grpc::GrpcApi;
use crate::rest::RestState;

use answer::not_found;

/// A path template segment.
#[derive(Debug)]
pub(crate) enum Segment {
    /// Matches exactly this text.
    Literal(&'static str),
    /// Binds one segment (percent-decoded) to the request field at this dotted path.
    Field(&'static str),
}

/// Which part of the request message the HTTP body carries.
#[allow(dead_code, reason = "generated tables use the rules the protos need")]
#[derive(Debug, Clone, Copy)]
pub(crate) enum BodyRule {
    /// The whole message (`body: "*"`); no query parameters.
    Whole,
    /// No body; every field not in the path comes from the query string.
    None,
    /// This top-level field; the other fields come from the path and the query string.
    Field(&'static str),
}

/// How a path or query value is read into JSON for the pbjson decoder. The runtime serves
/// any annotation, so kinds today's protos do not bind are still here.
#[allow(dead_code, reason = "generated tables use the kinds the protos need")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    String,
    Bool,
    Int32,
    Uint32,
    /// 64-bit integers: proto3 JSON strings.
    Int64,
    Float,
    /// base64 text.
    Bytes,
    /// The value name (or number).
    Enum,
}

/// A scalar request field a query string (or a path variable) may set.
#[derive(Debug)]
pub(crate) struct Field {
    /// Dotted proto field path (`page_size`, `options.temperature`).
    pub path: &'static str,
    pub kind: Scalar,
    pub repeated: bool,
}

/// One HTTP binding of one RPC.
#[allow(
    dead_code,
    reason = "`rpc` and `server_streaming` describe the binding for tests and Debug"
)]
#[derive(Debug)]
pub(crate) struct Binding {
    /// The RPC's gRPC path (`/llmgateway.v1.ChatService/Chat`).
    pub rpc: &'static str,
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The template as annotated (the OpenAPI path).
    pub template: &'static str,
    pub segments: &'static [Segment],
    pub verb: Option<&'static str>,
    pub body: BodyRule,
    pub server_streaming: bool,
    /// The scalar fields of the request message, for query and path binding.
    pub fields: &'static [Field],
}

/// A matched request on its way to its RPC.
pub(crate) struct Call {
    parts: Parts,
    body: Body,
    binding: &'static Binding,
    /// Path variables, percent-decoded: (field path, value).
    vars: Vec<(&'static str, String)>,
    body_limit: usize,
}

#[allow(clippy::all, clippy::pedantic)]
mod generated {
    use super::answer::{not_found, server_streaming, unary};
    use super::{Binding, BodyRule, Call, Field, Scalar, Segment, serve};
    include!(concat!(env!("OUT_DIR"), "/rest_bridge.rs"));
}

/// The generated routes, to merge into the REST router.
pub fn routes() -> axum::Router<RestState> {
    generated::routes()
}

/// Every (method, template) the bridge serves, for the route table `/openapi.json` is held to.
pub fn served_routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    generated::BINDINGS.iter().map(|b| (b.method, b.template))
}

/// Whether `path` is under one of the bridge's literal prefixes (the metrics surface label).
pub fn owns(path: &str) -> bool {
    generated::PREFIXES.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', ':']))
    })
}

/// A gateway error in the bridge's shape (for refusals made before the bridge is reached).
pub fn refusal(e: &crate::error::GatewayError) -> Response {
    answer::refused(e)
}

/// The generated OpenAPI part: `{"paths": {...}, "components": {"schemas": {...}}}`.
pub fn openapi_part() -> &'static str {
    include_str!(concat!(env!("OUT_DIR"), "/rest_bridge_openapi.json"))
}

impl Binding {
    /// The path variables if `path` matches this template (method aside).
    fn matches(&self, path: &str) -> Option<Vec<(&'static str, String)>> {
        let mut rest = path.strip_prefix('/')?;
        if let Some(verb) = self.verb {
            rest = rest.strip_suffix(verb)?.strip_suffix(':')?;
        }
        let mut vars = Vec::new();
        let mut parts = rest.split('/');
        let count = self.segments.len();
        for (i, segment) in self.segments.iter().enumerate() {
            let part = parts.next()?;
            match segment {
                Segment::Literal(lit) => {
                    if part != *lit {
                        return None;
                    }
                }
                Segment::Field(field) => {
                    // In the last segment, a ':' starts a verb this template does not have.
                    if part.is_empty()
                        || (i + 1 == count && self.verb.is_none() && part.contains(':'))
                    {
                        return None;
                    }
                    let value = percent_encoding::percent_decode_str(part)
                        .decode_utf8()
                        .ok()?
                        .into_owned();
                    vars.push((*field, value));
                }
            }
        }
        parts.next().is_none().then_some(vars)
    }
}

/// Serves a request whose path has the shape of the bindings `candidates`: finds the one that
/// matches its path and method and calls its RPC; otherwise 405 (the path matches with another
/// method) or 404, both in Google's error shape.
async fn serve(state: RestState, candidates: &'static [usize], req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let mut allowed: Vec<&'static str> = Vec::new();
    for &index in candidates {
        let Some(binding) = generated::BINDINGS.get(index) else {
            continue;
        };
        let Some(vars) = binding.matches(parts.uri.path()) else {
            continue;
        };
        if parts.method.as_str() != binding.method {
            allowed.push(binding.method);
            continue;
        }
        let call = Call {
            parts,
            body,
            binding,
            vars,
            body_limit: state.body_limit,
        };
        return generated::call(GrpcApi::new(state.gateway), index, call).await;
    }
    if allowed.is_empty() {
        not_found(parts.method.as_str(), parts.uri.path())
    } else {
        answer::method_not_allowed(&parts.method, &allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(template: &str) -> &'static Binding {
        generated::BINDINGS
            .iter()
            .find(|b| b.template == template)
            .unwrap_or_else(|| panic!("no binding {template}"))
    }

    #[test]
    fn every_annotated_rpc_is_bound() {
        let rpcs: Vec<&str> = generated::BINDINGS.iter().map(|b| b.rpc).collect();
        for rpc in [
            "/llmgateway.v1.ChatService/Chat",
            "/llmgateway.v1.ChatService/StreamChat",
            "/llmgateway.v1.CompletionsService/Complete",
            "/llmgateway.v1.CompletionsService/StreamComplete",
            "/llmgateway.v1.EmbeddingsService/Embed",
            "/llmgateway.v1.EndpointsService/ListEndpoints",
            "/llmgateway.v1.EndpointsService/GetEndpoint",
        ] {
            assert!(rpcs.contains(&rpc), "{rpc} not bound: {rpcs:?}");
        }
        let chat = binding("/v1/endpoints/{endpoint}:chat");
        assert_eq!(chat.method, "POST");
        assert!(matches!(chat.body, BodyRule::Whole));
        assert!(binding("/v1/endpoints/{endpoint}:streamChat").server_streaming);
    }

    #[test]
    fn templates_match_literals_variables_and_verbs() {
        let chat = binding("/v1/endpoints/{endpoint}:chat");
        assert_eq!(
            chat.matches("/v1/endpoints/my-chat:chat"),
            Some(vec![("endpoint", "my-chat".to_owned())])
        );
        // Percent-decoded, so names with reserved characters can be addressed.
        assert_eq!(
            chat.matches("/v1/endpoints/a%3Ab%20c:chat"),
            Some(vec![("endpoint", "a:b c".to_owned())])
        );
        for miss in [
            "/v1/endpoints/x:complete",
            "/v1/endpoints/:chat",
            "/v1/endpoints/x/y:chat",
            "/v1/endpoint/x:chat",
            "/v1/endpoints/x",
        ] {
            assert_eq!(chat.matches(miss), None, "{miss}");
        }
        let get = binding("/v1/endpoints/{name}");
        assert_eq!(
            get.matches("/v1/endpoints/chat"),
            Some(vec![("name", "chat".to_owned())])
        );
        // A ':' in the last segment is a verb, which this template has none of.
        assert_eq!(get.matches("/v1/endpoints/chat:chat"), None);
        assert_eq!(get.matches("/v1/endpoints/chat/"), None);
        let list = binding("/v1/endpoints");
        assert_eq!(list.matches("/v1/endpoints"), Some(vec![]));
        assert_eq!(list.matches("/v1/endpoints/"), None);
    }

    #[test]
    fn the_bridge_owns_its_prefixes_only() {
        assert!(owns("/v1/endpoints"));
        assert!(owns("/v1/endpoints/chat:chat"));
        assert!(!owns("/v1/endpointsx"));
        assert!(!owns("/v1/chat/completions"));
    }
}
