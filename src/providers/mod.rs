//! Providers: the upstream APIs an endpoint can call.
//!
//! A provider is built once per endpoint from its validated config (URLs, auth headers and the
//! shared pooled client are fixed then, not per request) and exposes the same five calls: chat,
//! streamed chat, completion, streamed completion and embeddings, all on the proto model.
//! [`Provider`] is a closed enum with static dispatch. Providers know nothing of HTTP statuses
//! towards the client, gRPC or the surface a request came from: they return proto messages or a
//! [`GatewayError`] and leave the rest to the service layer.

pub mod http;
pub mod mock;
pub mod openai;

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;

use crate::config::{Model, ProviderConfig, ProviderKind};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

/// A stream of proto chunks from an upstream; it ends after the last chunk or with one error.
pub type ChunkStream<T> = Pin<Box<dyn Stream<Item = Result<T, GatewayError>> + Send>>;

/// A built provider for one endpoint.
#[derive(Debug)]
pub enum Provider {
    /// OpenAI, Azure OpenAI and the OpenAI-compatible family.
    OpenAi(Box<openai::OpenAi>),
    /// The offline mock provider.
    Mock(mock::Mock),
}

/// The five calls, for capability checks and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Chat completion.
    Chat,
    /// Streamed chat completion.
    ChatStream,
    /// Text completion.
    Completions,
    /// Streamed text completion.
    CompletionsStream,
    /// Embeddings.
    Embeddings,
}

impl Call {
    /// MLflow's 501 message for a provider that lacks this call.
    pub fn not_implemented(self, kind: ProviderKind) -> GatewayError {
        let what = match self {
            Call::Chat => "chat",
            Call::ChatStream => "chat streaming",
            Call::Completions => "completions",
            Call::CompletionsStream => "completions streaming",
            Call::Embeddings => "embeddings",
        };
        GatewayError::NotImplemented(format!(
            "The {what} route is not implemented for {} models.",
            kind.display_name()
        ))
    }
}

/// Seconds since the Unix epoch (for `created` when an upstream omits it).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Provider {
    /// Builds the provider of an endpoint. Fails for providers this build does not serve yet,
    /// so a config that cannot be served is refused at start rather than per request.
    pub fn build(model: &Model, client: &reqwest::Client) -> Result<Provider, String> {
        let name = model.name.as_deref();
        let provider = match &model.config {
            ProviderConfig::OpenAi(cfg) => Provider::OpenAi(Box::new(openai::OpenAi::from_openai(
                client.clone(),
                model.provider,
                name,
                cfg,
            )?)),
            ProviderConfig::OpenAiCompatible(cfg) => Provider::OpenAi(Box::new(
                openai::OpenAi::from_compatible(client.clone(), model.provider, name, cfg)?,
            )),
            ProviderConfig::Mock(cfg) => Provider::Mock(mock::Mock::new(name, cfg)),
            ProviderConfig::Anthropic(_)
            | ProviderConfig::Gemini(_)
            | ProviderConfig::Bedrock(_)
            | ProviderConfig::MlflowModelServing(_)
            | ProviderConfig::HuggingFaceTgi(_)
            | ProviderConfig::Cohere(_)
            | ProviderConfig::Palm(_)
            | ProviderConfig::MosaicMl(_)
            | ProviderConfig::Ai21Labs(_)
            | ProviderConfig::Mistral(_)
            | ProviderConfig::TogetherAi(_)
            | ProviderConfig::VertexAi(_) => {
                return Err(format!(
                    "provider '{}' is valid MLflow config but is not served by this version of llm-gateway yet (see README, 'Providers')",
                    model.provider_name
                ));
            }
        };
        Ok(provider)
    }

    /// The provider kind.
    pub fn kind(&self) -> ProviderKind {
        match self {
            Provider::OpenAi(p) => p.kind(),
            Provider::Mock(_) => ProviderKind::Mock,
        }
    }

    /// Whether this provider serves `call` at all (otherwise: MLflow's 501).
    pub fn supports(&self, call: Call) -> bool {
        match self {
            Provider::OpenAi(p) => match call {
                Call::Chat | Call::ChatStream | Call::Embeddings => true,
                Call::Completions | Call::CompletionsStream => p.supports_completions(),
            },
            Provider::Mock(_) => true,
        }
    }

    /// One chat completion.
    pub async fn chat(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<pb::ChatResponse, GatewayError> {
        match self {
            Provider::OpenAi(p) => p.chat(req, timeout).await,
            Provider::Mock(p) => p.chat(req).await,
        }
    }

    /// A streamed chat completion.
    pub async fn chat_stream(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::ChatChunk>, GatewayError> {
        match self {
            Provider::OpenAi(p) => p.chat_stream(req, timeout).await,
            Provider::Mock(p) => Ok(p.chat_stream(req)),
        }
    }

    /// One text completion.
    pub async fn complete(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        match self {
            Provider::OpenAi(p) => p.complete(req, timeout).await,
            Provider::Mock(p) => p.complete(req).await,
        }
    }

    /// A streamed text completion.
    pub async fn complete_stream(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::CompletionChunk>, GatewayError> {
        match self {
            Provider::OpenAi(p) => p.complete_stream(req, timeout).await,
            Provider::Mock(p) => Ok(p.complete_stream(req)),
        }
    }

    /// Embeddings.
    pub async fn embed(
        &self,
        req: &pb::EmbedRequest,
        timeout: Duration,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        match self {
            Provider::OpenAi(p) => p.embed(req, timeout).await,
            Provider::Mock(p) => p.embed(req).await,
        }
    }
}
