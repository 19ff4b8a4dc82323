//! The Mistral provider (spec §3.14): chat (also streamed) and embeddings on Mistral's
//! OpenAI-like API, and completions sent through the chat API. MLflow hard-codes
//! `https://api.mistral.ai/v1`; `mistral_api_base` overrides it. This file is the thin I/O; the
//! rules live in `convert.rs`.

pub mod convert;
pub mod wire;

use std::time::Duration;

use futures::StreamExt;
use http::HeaderMap;

use crate::config::{ApiKeyConfig, ProviderKind};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::http::{
    Redactor, bearer_json_headers, encode_json, endpoint_url, json_post, open_stream, read_json,
    send, sse_json_stream,
};
use super::openai::{convert as oai_convert, wire as oai};
use super::{Call, ChunkStream, Upstream, unix_now};

/// Mistral's public API, used when `mistral_api_base` is not set.
pub const DEFAULT_API_BASE: &str = "https://api.mistral.ai/v1";

/// An endpoint served by Mistral.
#[derive(Debug)]
pub struct Mistral {
    client: reqwest::Client,
    chat_url: reqwest::Url,
    embeddings_url: reqwest::Url,
    headers: HeaderMap,
    /// The configured model, sent in every body and reported where MLflow reports it.
    model: Option<String>,
    redactor: Redactor,
}

impl Mistral {
    /// Builds the endpoint's provider; URLs and headers are fixed here, once.
    pub fn new(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &ApiKeyConfig,
    ) -> Result<Self, String> {
        let base = cfg.api_base.as_deref().unwrap_or(DEFAULT_API_BASE);
        Ok(Mistral {
            client,
            chat_url: endpoint_url(base, "chat/completions")?,
            embeddings_url: endpoint_url(base, "embeddings")?,
            headers: bearer_json_headers(&cfg.api_key)?,
            model: model.map(str::to_owned),
            redactor: Redactor::new([cfg.api_key.clone()]),
        })
    }

    fn model_name(&self) -> &str {
        self.model.as_deref().unwrap_or_default()
    }

    async fn post(
        &self,
        url: &reqwest::Url,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<reqwest::Response, GatewayError> {
        send(
            &self.client,
            json_post(url, &self.headers, body, timeout),
            timeout,
        )
        .await
    }
}

impl Upstream for Mistral {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Mistral
    }

    fn supports(&self, call: Call) -> bool {
        // Completions go through the chat API and are not streamed (as in MLflow).
        !matches!(call, Call::CompletionsStream)
    }

    async fn chat(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<pb::ChatResponse, GatewayError> {
        let body = encode_json(&convert::chat_body(req, self.model.as_deref(), false))?;
        let resp = self.post(&self.chat_url, body, timeout).await?;
        let wire: oai::Completion = read_json(resp, timeout, &self.redactor).await?;
        Ok(convert::chat_response(wire, self.model_name(), unix_now()))
    }

    async fn chat_stream(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::ChatChunk>, GatewayError> {
        let body = encode_json(&convert::chat_body(req, self.model.as_deref(), true))?;
        let resp = open_stream(
            &self.client,
            json_post(&self.chat_url, &self.headers, body, timeout),
            timeout,
            &self.redactor,
        )
        .await?;
        let fallback = self.model_name().to_owned();
        let stream = sse_json_stream::<oai::Chunk>(resp, timeout, self.redactor.clone())
            .map(move |r| r.map(|c| oai_convert::chat_chunk(c, &fallback, unix_now())));
        Ok(Box::pin(stream))
    }

    async fn complete(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        let body = encode_json(&convert::completion_body(req, self.model.as_deref()))?;
        let resp = self.post(&self.chat_url, body, timeout).await?;
        let wire: oai::Completion = read_json(resp, timeout, &self.redactor).await?;
        Ok(convert::completion_response(
            wire,
            self.model_name(),
            unix_now(),
        ))
    }

    async fn embed(
        &self,
        req: &pb::EmbedRequest,
        timeout: Duration,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        let ctx = oai_convert::BodyContext {
            model: self.model.as_deref(),
        };
        let body = encode_json(&oai_convert::embeddings_body(req, ctx))?;
        let resp = self.post(&self.embeddings_url, body, timeout).await?;
        let wire: wire::Embeddings = read_json(resp, timeout, &self.redactor).await?;
        Ok(convert::embed_response(wire, self.model_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn urls_headers_and_debug() {
        let client = crate::providers::http::build_client(Duration::from_secs(1)).unwrap();
        let cfg = ApiKeyConfig {
            api_key: Secret::new("mk-secret\n"),
            api_base: None,
        };
        let p = Mistral::new(client.clone(), Some("mistral-small-latest"), &cfg).unwrap();
        assert_eq!(
            p.chat_url.as_str(),
            "https://api.mistral.ai/v1/chat/completions"
        );
        assert_eq!(
            p.embeddings_url.as_str(),
            "https://api.mistral.ai/v1/embeddings"
        );
        assert_eq!(p.headers.get("authorization").unwrap(), "Bearer mk-secret");
        assert!(!format!("{p:?}").contains("mk-secret"));
        let cfg = ApiKeyConfig {
            api_key: Secret::new("k"),
            api_base: Some("http://127.0.0.1:1/mistral/v1/".into()),
        };
        let p = Mistral::new(client, None, &cfg).unwrap();
        assert_eq!(
            p.chat_url.as_str(),
            "http://127.0.0.1:1/mistral/v1/chat/completions"
        );
        assert!(!p.supports(Call::CompletionsStream) && p.supports(Call::ChatStream));
    }
}
