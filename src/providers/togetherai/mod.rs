//! The Together AI provider (spec §3.15): chat, completions (both also streamed) and embeddings
//! on Together's OpenAI-compatible API. MLflow hard-codes `https://api.together.xyz/v1`;
//! `togetherai_api_base` overrides it. There is no `wire.rs`: every shape is OpenAI's
//! (`openai::wire`), and the Together rules live in `convert.rs`; this file is the thin I/O.

pub mod convert;

use std::time::Duration;

use futures::StreamExt;
use http::HeaderMap;

use crate::config::{ApiKeyConfig, ProviderKind};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::http::{
    Redactor, encode_json, json_post, open_stream, read_json, send, sse_json_stream,
};
use super::http::{bearer_json_headers, endpoint_url as join};
use super::openai::{convert as oai_convert, wire as oai};
use super::{Call, ChunkStream, Upstream, unix_now};

/// Together's public API, used when `togetherai_api_base` is not set.
pub const DEFAULT_API_BASE: &str = "https://api.together.xyz/v1";

/// An endpoint served by Together AI.
#[derive(Debug)]
pub struct TogetherAi {
    client: reqwest::Client,
    chat_url: reqwest::Url,
    completions_url: reqwest::Url,
    embeddings_url: reqwest::Url,
    headers: HeaderMap,
    model: Option<String>,
    redactor: Redactor,
}

impl TogetherAi {
    /// Builds the endpoint's provider; URLs and headers are fixed here, once.
    pub fn new(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &ApiKeyConfig,
    ) -> Result<Self, String> {
        let base = cfg.api_base.as_deref().unwrap_or(DEFAULT_API_BASE);
        Ok(TogetherAi {
            client,
            chat_url: join(base, "chat/completions")?,
            completions_url: join(base, "completions")?,
            embeddings_url: join(base, "embeddings")?,
            headers: bearer_json_headers(&cfg.api_key)?,
            model: model.map(str::to_owned),
            redactor: Redactor::new([cfg.api_key.clone()]),
        })
    }

    /// The model to send: the client's override, else the configured one.
    fn upstream_model<'a>(&'a self, requested: Option<&'a str>) -> Option<&'a str> {
        requested.or(self.model.as_deref())
    }

    fn model_name(&self) -> &str {
        self.model.as_deref().unwrap_or_default()
    }

    fn request(&self, url: &reqwest::Url, body: Vec<u8>, timeout: Duration) -> reqwest::Request {
        json_post(url, &self.headers, body, timeout)
    }

    async fn open(
        &self,
        url: &reqwest::Url,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<reqwest::Response, GatewayError> {
        open_stream(
            &self.client,
            self.request(url, body, timeout),
            timeout,
            &self.redactor,
        )
        .await
    }
}

impl Upstream for TogetherAi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::TogetherAi
    }

    /// MLflow lets a client's `model` replace the configured one for Together AI.
    fn accepts_model(&self) -> bool {
        true
    }

    fn supports(&self, _call: Call) -> bool {
        true
    }

    async fn chat(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<pb::ChatResponse, GatewayError> {
        let renamed = convert::extra_params(req.extra_params.as_ref())?;
        let body = convert::chat_body(
            req,
            self.upstream_model(req.model.as_deref()),
            renamed.as_ref(),
            false,
        );
        let request = self.request(&self.chat_url, encode_json(&body)?, timeout);
        let resp = send(&self.client, request, timeout).await?;
        let wire: oai::Completion = read_json(resp, timeout, &self.redactor).await?;
        Ok(convert::chat_response(wire, self.model_name(), unix_now()))
    }

    async fn chat_stream(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::ChatChunk>, GatewayError> {
        let renamed = convert::extra_params(req.extra_params.as_ref())?;
        let body = convert::chat_body(
            req,
            self.upstream_model(req.model.as_deref()),
            renamed.as_ref(),
            true,
        );
        let resp = self
            .open(&self.chat_url, encode_json(&body)?, timeout)
            .await?;
        let model = self.model_name().to_owned();
        let stream = sse_json_stream::<oai::Chunk>(resp, timeout, self.redactor.clone())
            .map(move |r| r.map(|c| convert::chat_chunk(c, &model, unix_now())));
        Ok(Box::pin(stream))
    }

    async fn complete(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        convert::require_max_tokens(req)?;
        let renamed = convert::extra_params(req.extra_params.as_ref())?;
        let body = convert::completion_body(
            req,
            self.upstream_model(req.model.as_deref()),
            renamed.as_ref(),
            false,
        );
        let request = self.request(&self.completions_url, encode_json(&body)?, timeout);
        let resp = send(&self.client, request, timeout).await?;
        let wire: oai::Completion = read_json(resp, timeout, &self.redactor).await?;
        Ok(convert::completion_response(
            wire,
            self.model_name(),
            unix_now(),
        ))
    }

    async fn complete_stream(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::CompletionChunk>, GatewayError> {
        convert::require_max_tokens(req)?;
        let renamed = convert::extra_params(req.extra_params.as_ref())?;
        let body = convert::completion_body(
            req,
            self.upstream_model(req.model.as_deref()),
            renamed.as_ref(),
            true,
        );
        let resp = self
            .open(&self.completions_url, encode_json(&body)?, timeout)
            .await?;
        let model = self.model_name().to_owned();
        let stream = sse_json_stream::<oai::Chunk>(resp, timeout, self.redactor.clone())
            .map(move |r| r.map(|c| convert::completion_chunk(c, &model, unix_now())));
        Ok(Box::pin(stream))
    }

    async fn embed(
        &self,
        req: &pb::EmbedRequest,
        timeout: Duration,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        // MLflow sends only what the client sent here (no model unless the client named one);
        // the configured model is the better default when the client names none.
        let ctx = oai_convert::BodyContext {
            model: self.upstream_model(req.model.as_deref()),
        };
        let body = encode_json(&oai_convert::embeddings_body(req, ctx))?;
        let request = self.request(&self.embeddings_url, body, timeout);
        let resp = send(&self.client, request, timeout).await?;
        // Same shape as Mistral's: upstream indices kept, the configured model reported.
        let wire: super::mistral::wire::Embeddings =
            read_json(resp, timeout, &self.redactor).await?;
        Ok(super::mistral::convert::embed_response(
            wire,
            self.model_name(),
        ))
    }
}
