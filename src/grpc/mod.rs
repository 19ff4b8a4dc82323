//! The gRPC surface (and, through tonic-web, grpc-web): the four generated tonic services,
//! each a thin adapter from `tonic::Request` to the service layer and from [`GatewayError`] to
//! `tonic::Status`. Streams are committed by the service layer before the response starts, so a
//! failure to open is a plain status; a later failure ends the stream with one error status.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::pb::v1::{
    chat_service_server::{ChatService, ChatServiceServer},
    completions_service_server::{CompletionsService, CompletionsServiceServer},
    embeddings_service_server::{EmbeddingsService, EmbeddingsServiceServer},
    endpoints_service_server::{EndpointsService, EndpointsServiceServer},
};
use crate::service::Gateway;

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
    /// limit REST bodies have).
    pub fn routes(self, max_message: usize) -> tonic::service::Routes {
        tonic::service::Routes::builder()
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
            .clone()
            .routes()
    }
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
        Ok(Response::new(self.gateway.chat(r.into_inner()).await?))
    }

    type StreamChatStream = StatusStream<pb::ChatChunk>;

    async fn stream_chat(
        &self,
        r: Request<pb::ChatRequest>,
    ) -> Result<Response<Self::StreamChatStream>, Status> {
        let stream = self.gateway.stream_chat(r.into_inner()).await?;
        Ok(Response::new(statuses(stream)))
    }
}

#[tonic::async_trait]
impl CompletionsService for GrpcApi {
    async fn complete(
        &self,
        r: Request<pb::CompletionRequest>,
    ) -> Result<Response<pb::CompletionResponse>, Status> {
        Ok(Response::new(self.gateway.complete(r.into_inner()).await?))
    }

    type StreamCompleteStream = StatusStream<pb::CompletionChunk>;

    async fn stream_complete(
        &self,
        r: Request<pb::CompletionRequest>,
    ) -> Result<Response<Self::StreamCompleteStream>, Status> {
        let stream = self.gateway.stream_complete(r.into_inner()).await?;
        Ok(Response::new(statuses(stream)))
    }
}

#[tonic::async_trait]
impl EmbeddingsService for GrpcApi {
    async fn embed(
        &self,
        r: Request<pb::EmbedRequest>,
    ) -> Result<Response<pb::EmbedResponse>, Status> {
        Ok(Response::new(self.gateway.embed(r.into_inner()).await?))
    }
}

#[tonic::async_trait]
impl EndpointsService for GrpcApi {
    async fn list_endpoints(
        &self,
        r: Request<pb::ListEndpointsRequest>,
    ) -> Result<Response<pb::ListEndpointsResponse>, Status> {
        let req = r.into_inner();
        let size = usize::try_from(req.page_size).unwrap_or(usize::MAX);
        Ok(Response::new(
            self.gateway.list_endpoints(&req.page_token, size)?,
        ))
    }

    async fn get_endpoint(
        &self,
        r: Request<pb::GetEndpointRequest>,
    ) -> Result<Response<pb::Endpoint>, Status> {
        Ok(Response::new(
            self.gateway.get_endpoint(&r.into_inner().name)?,
        ))
    }
}
