//! The Cohere provider (deprecated in MLflow; spec §3.10): the legacy v1 API's `/chat`,
//! `/generate` (both also streamed, as newline-delimited JSON) and `/embed`, with a bearer key
//! and the configured model in every body. MLflow hard-codes `https://api.cohere.ai/v1`;
//! `cohere_api_base` overrides it. This file is the thin I/O: bodies and answers are built in
//! `convert.rs`, streams read in `stream.rs`.

pub mod convert;
pub mod stream;
pub mod wire;

use std::time::Duration;

use http::HeaderMap;

use crate::config::{ApiKeyConfig, ProviderKind};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::http::{Redactor, encode_json, json_post, read_json, send};
use super::http::{bearer_json_headers, decode_body, endpoint_url as join};
use super::http::{transport_error, upstream_error};
use super::{Call, ChunkStream, Upstream, unix_now};

/// Cohere's public v1 API, used when `cohere_api_base` is not set (MLflow's fixed base).
pub const DEFAULT_API_BASE: &str = "https://api.cohere.ai/v1";

/// An endpoint served by Cohere.
#[derive(Debug)]
pub struct Cohere {
    client: reqwest::Client,
    chat_url: reqwest::Url,
    generate_url: reqwest::Url,
    embed_url: reqwest::Url,
    headers: HeaderMap,
    model: Option<String>,
    redactor: Redactor,
}

impl Cohere {
    /// Builds the endpoint's provider; URLs and headers are fixed here, once.
    pub fn new(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &ApiKeyConfig,
    ) -> Result<Self, String> {
        let base = cfg.api_base.as_deref().unwrap_or(DEFAULT_API_BASE);
        Ok(Cohere {
            client,
            chat_url: join(base, "chat")?,
            generate_url: join(base, "generate")?,
            embed_url: join(base, "embed")?,
            headers: bearer_json_headers(&cfg.api_key)?,
            model: model.map(str::to_owned),
            redactor: Redactor::new([cfg.api_key.clone()]),
        })
    }

    fn model_name(&self) -> &str {
        self.model.as_deref().unwrap_or_default()
    }

    /// POSTs a body and decodes the JSON answer.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        url: &reqwest::Url,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<T, GatewayError> {
        let request = json_post(url, &self.headers, body, timeout);
        let resp = send(&self.client, request, timeout).await?;
        read_json(resp, timeout, &self.redactor).await
    }

    /// Opens a streamed call. Cohere streams are NDJSON (`application/stream+json`), so any
    /// 2xx is taken as the stream; an error status is read like a non-streamed one, before the
    /// client has been answered.
    async fn open(
        &self,
        url: &reqwest::Url,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<reqwest::Response, GatewayError> {
        let request = json_post(url, &self.headers, body, timeout);
        let response = send(&self.client, request, timeout).await?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(&e, timeout))?;
        Err(
            match decode_body::<serde_json::Value>(status, &headers, &body, &self.redactor) {
                Err(e) => e,
                Ok(_) => upstream_error(status, &headers, &body, true, &self.redactor),
            },
        )
    }
}

impl Upstream for Cohere {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Cohere
    }

    fn supports(&self, _call: Call) -> bool {
        true
    }

    async fn chat(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<pb::ChatResponse, GatewayError> {
        let body = encode_json(&convert::chat_body(req, self.model.as_deref(), false)?)?;
        let answer: wire::Chat = self.call(&self.chat_url, body, timeout).await?;
        Ok(convert::chat_response(
            answer,
            self.model_name(),
            unix_now(),
        ))
    }

    async fn chat_stream(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::ChatChunk>, GatewayError> {
        let body = encode_json(&convert::chat_body(req, self.model.as_deref(), true)?)?;
        let resp = self.open(&self.chat_url, body, timeout).await?;
        let (model, redactor) = (self.model_name().to_owned(), self.redactor.clone());
        Ok(stream::ndjson_stream(resp, timeout, move |line| {
            stream::chat_step(line, &model, unix_now(), &redactor)
        }))
    }

    async fn complete(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        let body = encode_json(&convert::generate_body(req, self.model.as_deref(), false)?)?;
        let answer: wire::Generate = self.call(&self.generate_url, body, timeout).await?;
        Ok(convert::completion_response(
            answer,
            self.model_name(),
            unix_now(),
        ))
    }

    async fn complete_stream(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::CompletionChunk>, GatewayError> {
        let body = encode_json(&convert::generate_body(req, self.model.as_deref(), true)?)?;
        let resp = self.open(&self.generate_url, body, timeout).await?;
        let (model, redactor) = (self.model_name().to_owned(), self.redactor.clone());
        Ok(stream::ndjson_stream(resp, timeout, move |line| {
            stream::generate_step(line, &model, unix_now(), &redactor)
        }))
    }

    async fn embed(
        &self,
        req: &pb::EmbedRequest,
        timeout: Duration,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        let body = encode_json(&convert::embed_body(req, self.model.as_deref())?)?;
        let answer: wire::Embed = self.call(&self.embed_url, body, timeout).await?;
        Ok(convert::embed_response(answer, self.model_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn default_base_and_bearer_key() {
        let client = crate::providers::http::build_client(Duration::from_secs(1)).unwrap();
        let cfg = ApiKeyConfig {
            api_key: Secret::new("co-secret"),
            api_base: None,
        };
        let p = Cohere::new(client, Some("command"), &cfg).unwrap();
        assert_eq!(p.chat_url.as_str(), "https://api.cohere.ai/v1/chat");
        assert_eq!(p.generate_url.as_str(), "https://api.cohere.ai/v1/generate");
        assert_eq!(p.embed_url.as_str(), "https://api.cohere.ai/v1/embed");
        let auth = p.headers.get("authorization").unwrap();
        assert_eq!(auth, "Bearer co-secret");
        assert!(auth.is_sensitive());
        assert!(!format!("{p:?}").contains("co-secret"));
    }
}
