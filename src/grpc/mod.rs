//! The gRPC surface (and, through tonic-web, grpc-web): the four generated tonic services,
//! each a thin adapter from `tonic::Request` to the service layer and from [`GatewayError`] to
//! `tonic::Status`. Streams are committed by the service layer before the response starts, so a
//! failure to open is a plain status; a later failure ends the stream with one error status.
//! Beside them on the same routes: the standard health service ([`health`]) and server
//! reflection ([`reflection`]).

pub mod health;
pub mod reflection;

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::auth::Access;
use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::pb::v1::{
    chat_service_server::{ChatService, ChatServiceServer},
    completions_service_server::{CompletionsService, CompletionsServiceServer},
    embeddings_service_server::{EmbeddingsService, EmbeddingsServiceServer},
    endpoints_service_server::{EndpointsService, EndpointsServiceServer},
};
use crate::service::{CallOptions, Gateway};

/// A boxed stream of messages or a status, as tonic's streaming RPCs return.
pub type StatusStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The tonic services over one [`Gateway`].
#[derive(Clone)]
pub struct GrpcApi {
    gateway: Gateway,
}

impl GrpcApi {
    /// Adapters for `gateway`.
    pub fn new(gateway: Gateway) -> Self {
        GrpcApi { gateway }
    }

    /// The four services, ready to mount, with `max_message` as the decode limit (the same
    /// limit REST bodies have), and beside them the health service reporting `health` and
    /// server reflection.
    pub fn routes(self, max_message: usize, health: &health::Health) -> tonic::service::Routes {
        let routes = tonic::service::Routes::builder()
            .add_service(
                ChatServiceServer::new(self.clone()).max_decoding_message_size(max_message),
            )
            .add_service(
                CompletionsServiceServer::new(self.clone()).max_decoding_message_size(max_message),
            )
            .add_service(
                EmbeddingsServiceServer::new(self.clone()).max_decoding_message_size(max_message),
            )
            .add_service(EndpointsServiceServer::new(self).max_decoding_message_size(max_message))
            .add_service(health.service())
            .clone()
            .routes();
        reflection::add_to(routes)
    }
}

/// The call options a gRPC request carries: its deadline (`grpc-timeout`, which tonic leaves
/// to the server to enforce), the peer address for the endpoint's rate limit, and what its API
/// key allows (found by the auth layer before dispatch).
fn options<T>(r: &Request<T>) -> CallOptions {
    let deadline = r
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .map(|d| tokio::time::Instant::now() + d);
    CallOptions::rpc(r.extensions(), deadline)
}

fn access<T>(r: &Request<T>) -> Access {
    Access::of(r.extensions())
}

/// The gRPC `grpc-timeout` header: at most 8 digits and a unit (H, M, S, m, u, n). A malformed
/// value is ignored, as the gRPC spec lets servers do.
pub fn parse_grpc_timeout(v: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    if !v.is_ascii() {
        return None;
    }
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

fn statuses<T: Send + 'static>(
    s: Pin<Box<dyn Stream<Item = Result<T, GatewayError>> + Send>>,
) -> StatusStream<T> {
    Box::pin(s.map(|r| r.map_err(|e| e.to_status())))
}

#[tonic::async_trait]
impl ChatService for GrpcApi {
    async fn chat(
        &self,
        r: Request<pb::ChatRequest>,
    ) -> Result<Response<pb::ChatResponse>, Status> {
        Ok(Response::new(
            {
                let opts = options(&r);
                self.gateway.chat(r.into_inner(), opts)
            }
            .await?,
        ))
    }

    type StreamChatStream = StatusStream<pb::ChatChunk>;

    async fn stream_chat(
        &self,
        r: Request<pb::ChatRequest>,
    ) -> Result<Response<Self::StreamChatStream>, Status> {
        let stream = {
            let opts = options(&r);
            self.gateway.stream_chat(r.into_inner(), opts)
        }
        .await?;
        Ok(Response::new(statuses(stream)))
    }
}

#[tonic::async_trait]
impl CompletionsService for GrpcApi {
    async fn complete(
        &self,
        r: Request<pb::CompletionRequest>,
    ) -> Result<Response<pb::CompletionResponse>, Status> {
        Ok(Response::new(
            {
                let opts = options(&r);
                self.gateway.complete(r.into_inner(), opts)
            }
            .await?,
        ))
    }

    type StreamCompleteStream = StatusStream<pb::CompletionChunk>;

    async fn stream_complete(
        &self,
        r: Request<pb::CompletionRequest>,
    ) -> Result<Response<Self::StreamCompleteStream>, Status> {
        let stream = {
            let opts = options(&r);
            self.gateway.stream_complete(r.into_inner(), opts)
        }
        .await?;
        Ok(Response::new(statuses(stream)))
    }
}

#[tonic::async_trait]
impl EmbeddingsService for GrpcApi {
    async fn embed(
        &self,
        r: Request<pb::EmbedRequest>,
    ) -> Result<Response<pb::EmbedResponse>, Status> {
        Ok(Response::new(
            {
                let opts = options(&r);
                self.gateway.embed(r.into_inner(), opts)
            }
            .await?,
        ))
    }
}

#[tonic::async_trait]
impl EndpointsService for GrpcApi {
    async fn list_endpoints(
        &self,
        r: Request<pb::ListEndpointsRequest>,
    ) -> Result<Response<pb::ListEndpointsResponse>, Status> {
        let access = access(&r);
        let req = r.into_inner();
        let size = usize::try_from(req.page_size).unwrap_or(usize::MAX);
        Ok(Response::new(self.gateway.list_endpoints(
            &req.page_token,
            size,
            &access,
        )?))
    }

    async fn get_endpoint(
        &self,
        r: Request<pb::GetEndpointRequest>,
    ) -> Result<Response<pb::Endpoint>, Status> {
        let access = access(&r);
        Ok(Response::new(
            self.gateway.get_endpoint(&r.into_inner().name, &access)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn grpc_timeout_units() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout("9n"), Some(Duration::from_nanos(9)));
        for bad in ["", "S", "5", "5s", "123456789S", "-1S", "1.5S", "5é"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }
}
