//! The PaLM provider (deprecated in MLflow; spec §3.11): chat (`{model}:generateMessage`),
//! completions (`{model}:generateText`) and embeddings (`{model}:batchEmbedText`) on Google's
//! `v1beta3` API, the key in the `x-goog-api-key` header (never in the URL, so it cannot leak
//! through an error that names the URL). MLflow hard-codes the base; `palm_api_base` overrides
//! it. No streaming. This file is the thin I/O; the rules live in `convert.rs`.

pub mod convert;
pub mod wire;

use std::time::Duration;

use http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::config::{ApiKeyConfig, ProviderKind};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::http::{Redactor, encode_json, json_post, read_json, send};
use super::http::{endpoint_url as join, insert_secret, json_headers};
use super::{Call, Upstream, unix_now};

/// PaLM's public API, used when `palm_api_base` is not set (MLflow's fixed base).
pub const DEFAULT_API_BASE: &str = "https://generativelanguage.googleapis.com/v1beta3/models/";

/// An endpoint served by PaLM.
#[derive(Debug)]
pub struct Palm {
    client: reqwest::Client,
    message_url: reqwest::Url,
    text_url: reqwest::Url,
    embed_url: reqwest::Url,
    headers: HeaderMap,
    model: String,
    redactor: Redactor,
}

impl Palm {
    /// Builds the endpoint's provider: the model is part of each URL, fixed here once.
    pub fn new(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &ApiKeyConfig,
    ) -> Result<Self, String> {
        let model = model.unwrap_or_default();
        let base = cfg.api_base.as_deref().unwrap_or(DEFAULT_API_BASE);
        let mut headers = json_headers();
        insert_secret(&mut headers, "x-goog-api-key", "", &cfg.api_key)?;
        Ok(Palm {
            client,
            message_url: join(base, &format!("{model}:generateMessage"))?,
            text_url: join(base, &format!("{model}:generateText"))?,
            embed_url: join(base, &format!("{model}:batchEmbedText"))?,
            headers,
            model: model.to_owned(),
            redactor: Redactor::new([cfg.api_key.clone()]),
        })
    }

    /// POSTs a body and decodes the JSON answer.
    async fn call<T: DeserializeOwned>(
        &self,
        url: &reqwest::Url,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<T, GatewayError> {
        let request = json_post(url, &self.headers, body, timeout);
        let resp = send(&self.client, request, timeout).await?;
        read_json(resp, timeout, &self.redactor).await
    }
}

impl Upstream for Palm {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Palm
    }

    fn supports(&self, call: Call) -> bool {
        matches!(call, Call::Chat | Call::Completions | Call::Embeddings)
    }

    async fn chat(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<pb::ChatResponse, GatewayError> {
        let body = encode_json(&convert::message_body(req)?)?;
        let answer = self.call(&self.message_url, body, timeout).await?;
        Ok(convert::chat_response(answer, &self.model, unix_now()))
    }

    async fn complete(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        let body = encode_json(&convert::text_body(req)?)?;
        let answer = self.call(&self.text_url, body, timeout).await?;
        Ok(convert::completion_response(
            answer,
            &self.model,
            unix_now(),
        ))
    }

    async fn embed(
        &self,
        req: &pb::EmbedRequest,
        timeout: Duration,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        let body = encode_json(&convert::embed_body(req)?)?;
        let answer = self.call(&self.embed_url, body, timeout).await?;
        Ok(convert::embed_response(answer, &self.model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn default_urls_and_key_header() {
        let client = crate::providers::http::build_client(Duration::from_secs(1)).unwrap();
        let cfg = ApiKeyConfig {
            api_key: Secret::new("palm-secret"),
            api_base: None,
        };
        let p = Palm::new(client, Some("chat-bison-001"), &cfg).unwrap();
        assert_eq!(
            p.message_url.as_str(),
            "https://generativelanguage.googleapis.com/v1beta3/models/chat-bison-001:generateMessage"
        );
        assert_eq!(
            p.embed_url.as_str(),
            "https://generativelanguage.googleapis.com/v1beta3/models/chat-bison-001:batchEmbedText"
        );
        assert!(p.message_url.query().is_none());
        let key = p.headers.get("x-goog-api-key").unwrap();
        assert_eq!(key, "palm-secret");
        assert!(key.is_sensitive());
        assert!(!format!("{p:?}").contains("palm-secret"));
    }
}
