//! The OpenAI provider and the OpenAI-compatible family (spec §3.2-3.3): OpenAI, Azure OpenAI
//! (api-key or AAD bearer), Groq, DeepSeek, xAI, OpenRouter, Ollama, Portkey and Databricks all
//! speak OpenAI's wire format and differ only in URLs and headers, which are computed once when
//! the endpoint is built. This file is the thin I/O; the rules live in `convert.rs`.

pub mod convert;
pub mod wire;

use std::time::Duration;

use futures::StreamExt;
use http::HeaderMap;

use crate::config::{OpenAiApiType, OpenAiCompatibleConfig, OpenAiConfig, ProviderKind, Secret};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::http::{
    Redactor, encode_json as encode, endpoint_url, insert_plain, insert_secret, json_headers,
    json_post, open_stream, read_json, send, sse_json_stream,
};
use super::{Call, ChunkStream, Upstream, unix_now};
use convert::BodyContext;

/// An endpoint served by an OpenAI-style upstream.
#[derive(Debug)]
pub struct OpenAi {
    client: reqwest::Client,
    kind: ProviderKind,
    chat_url: reqwest::Url,
    completions_url: Option<reqwest::Url>,
    embeddings_url: reqwest::Url,
    headers: HeaderMap,
    /// The `model` written into request bodies (Azure addresses the deployment in the URL instead).
    body_model: Option<String>,
    /// The configured model name, reported when the upstream omits `model`.
    model_name: String,
    redactor: Redactor,
}

/// Why an endpoint's provider could not be built.
pub type BuildError = String;

impl OpenAi {
    /// OpenAI or Azure OpenAI (`provider: openai` or `azure`).
    pub fn from_openai(
        client: reqwest::Client,
        kind: ProviderKind,
        model: Option<&str>,
        cfg: &OpenAiConfig,
    ) -> Result<Self, BuildError> {
        let mut headers = json_headers();
        let (base, body_model) = match cfg.api_type {
            OpenAiApiType::OpenAi => {
                insert_secret(&mut headers, "authorization", "Bearer ", &cfg.api_key)?;
                if let Some(org) = &cfg.organization {
                    insert_plain(&mut headers, "openai-organization", org)?;
                }
                let base = match &cfg.api_version {
                    Some(v) => with_query(&cfg.api_base, &format!("api-version={v}")),
                    None => cfg.api_base.clone(),
                };
                (base, model.map(str::to_owned))
            }
            OpenAiApiType::Azure | OpenAiApiType::AzureAd => {
                if cfg.api_type == OpenAiApiType::Azure {
                    insert_secret(&mut headers, "api-key", "", &cfg.api_key)?;
                } else {
                    insert_secret(&mut headers, "authorization", "Bearer ", &cfg.api_key)?;
                }
                let deployment = cfg.deployment_name.as_deref().unwrap_or_default();
                let version = cfg.api_version.as_deref().unwrap_or_default();
                let base = format!(
                    "{}/openai/deployments/{}?api-version={}",
                    cfg.api_base.trim_end_matches('/'),
                    deployment,
                    version
                );
                (base, None)
            }
        };
        Ok(OpenAi {
            client,
            kind,
            chat_url: endpoint_url(&base, "chat/completions")?,
            completions_url: Some(endpoint_url(&base, "completions")?),
            embeddings_url: endpoint_url(&base, "embeddings")?,
            headers,
            body_model,
            model_name: model.unwrap_or_default().to_owned(),
            redactor: Redactor::new([cfg.api_key.clone()]),
        })
    }

    /// A provider of the OpenAI-compatible family (chat and embeddings; no completions).
    pub fn from_compatible(
        client: reqwest::Client,
        kind: ProviderKind,
        model: Option<&str>,
        cfg: &OpenAiCompatibleConfig,
    ) -> Result<Self, BuildError> {
        if kind == ProviderKind::Databricks && cfg.api_key.is_none() {
            return Err(if cfg.databricks_oauth.is_some() {
                "databricks OAuth client credentials (client_id/client_secret) are not supported yet: configure a personal access token with `token` (or DATABRICKS_TOKEN)".into()
            } else {
                "databricks needs a personal access token: set `token` (or DATABRICKS_TOKEN)".into()
            });
        }
        let mut headers = json_headers();
        let mut secrets: Vec<Secret> = Vec::new();
        if kind == ProviderKind::Portkey {
            if let Some(key) = &cfg.api_key {
                insert_secret(&mut headers, "x-portkey-api-key", "", key)?;
                secrets.push(key.clone());
            }
            if let Some(p) = &cfg.portkey_provider {
                insert_plain(&mut headers, "x-portkey-provider", p)?;
            }
            if let Some(c) = &cfg.portkey_config {
                insert_plain(&mut headers, "x-portkey-config", c)?;
            }
            if let Some(key) = &cfg.provider_api_key {
                insert_secret(&mut headers, "authorization", "Bearer ", key)?;
                secrets.push(key.clone());
            }
        } else if let Some(key) = &cfg.api_key {
            insert_secret(&mut headers, "authorization", "Bearer ", key)?;
            secrets.push(key.clone());
        }
        let base = cfg.api_base.clone();
        Ok(OpenAi {
            client,
            kind,
            chat_url: endpoint_url(&base, "chat/completions")?,
            completions_url: None,
            embeddings_url: endpoint_url(&base, "embeddings")?,
            headers,
            body_model: model.map(str::to_owned),
            model_name: model.unwrap_or_default().to_owned(),
            redactor: Redactor::new(secrets),
        })
    }

    fn ctx(&self) -> BodyContext<'_> {
        BodyContext {
            model: self.body_model.as_deref(),
        }
    }

    fn post(&self, url: &reqwest::Url, body: Vec<u8>, timeout: Duration) -> reqwest::Request {
        json_post(url, &self.headers, body, timeout)
    }

    fn completions_url(&self) -> Result<&reqwest::Url, GatewayError> {
        self.completions_url.as_ref().ok_or_else(|| {
            GatewayError::NotImplemented(format!(
                "The completions route is not implemented for {} models.",
                self.kind.display_name()
            ))
        })
    }
}

impl Upstream for OpenAi {
    fn kind(&self) -> ProviderKind {
        self.kind
    }

    fn supports(&self, call: Call) -> bool {
        match call {
            Call::Chat | Call::ChatStream | Call::Embeddings => true,
            Call::Completions | Call::CompletionsStream => self.completions_url.is_some(),
        }
    }

    /// One chat completion.
    async fn chat(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<pb::ChatResponse, GatewayError> {
        let body = encode(&convert::chat_body(req, self.ctx(), false))?;
        let resp = send(
            &self.client,
            self.post(&self.chat_url, body, timeout),
            timeout,
        )
        .await?;
        let wire: wire::Completion = read_json(resp, timeout, &self.redactor).await?;
        Ok(convert::chat_response(wire, &self.model_name, unix_now()))
    }

    /// A streamed chat completion.
    async fn chat_stream(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::ChatChunk>, GatewayError> {
        let body = encode(&convert::chat_body(req, self.ctx(), true))?;
        let resp = open_stream(
            &self.client,
            self.post(&self.chat_url, body, timeout),
            timeout,
            &self.redactor,
        )
        .await?;
        let fallback = self.model_name.clone();
        let stream = sse_json_stream::<wire::Chunk>(resp, timeout, self.redactor.clone())
            .map(move |r| r.map(|c| convert::chat_chunk(c, &fallback, unix_now())));
        Ok(Box::pin(stream))
    }

    /// One text completion.
    async fn complete(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        let url = self.completions_url()?;
        let body = encode(&convert::completion_body(req, self.ctx(), false))?;
        let resp = send(&self.client, self.post(url, body, timeout), timeout).await?;
        let wire: wire::Completion = read_json(resp, timeout, &self.redactor).await?;
        Ok(convert::completion_response(
            wire,
            &self.model_name,
            unix_now(),
        ))
    }

    /// A streamed text completion.
    async fn complete_stream(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::CompletionChunk>, GatewayError> {
        let url = self.completions_url()?;
        let body = encode(&convert::completion_body(req, self.ctx(), true))?;
        let resp = open_stream(
            &self.client,
            self.post(url, body, timeout),
            timeout,
            &self.redactor,
        )
        .await?;
        let fallback = self.model_name.clone();
        let stream = sse_json_stream::<wire::Chunk>(resp, timeout, self.redactor.clone())
            .map(move |r| r.map(|c| convert::completion_chunk(c, &fallback, unix_now())));
        Ok(Box::pin(stream))
    }

    /// Embeddings.
    async fn embed(
        &self,
        req: &pb::EmbedRequest,
        timeout: Duration,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        let body = encode(&convert::embeddings_body(req, self.ctx()))?;
        let resp = send(
            &self.client,
            self.post(&self.embeddings_url, body, timeout),
            timeout,
        )
        .await?;
        let wire: wire::Embeddings = read_json(resp, timeout, &self.redactor).await?;
        Ok(convert::embed_response(wire, &self.model_name))
    }
}

fn with_query(base: &str, query: &str) -> String {
    if base.contains('?') {
        format!("{base}&{query}")
    } else {
        format!("{base}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> reqwest::Client {
        super::super::http::build_client(Duration::from_secs(1)).unwrap()
    }

    fn openai_cfg(api_type: OpenAiApiType) -> OpenAiConfig {
        OpenAiConfig {
            api_type,
            api_key: Secret::new("sk-test"),
            api_base: "https://res.openai.azure.com/".into(),
            api_version: Some("2024-02-01".into()),
            deployment_name: Some("my-dep".into()),
            organization: None,
        }
    }

    #[test]
    fn azure_urls_and_headers() {
        let p = OpenAi::from_openai(
            client(),
            ProviderKind::OpenAi,
            Some("gpt-4o"),
            &openai_cfg(OpenAiApiType::Azure),
        )
        .unwrap();
        assert_eq!(
            p.chat_url.as_str(),
            "https://res.openai.azure.com/openai/deployments/my-dep/chat/completions?api-version=2024-02-01"
        );
        assert_eq!(p.headers.get("api-key").unwrap(), "sk-test");
        assert!(p.headers.get("authorization").is_none());
        assert!(p.body_model.is_none());
        assert!(!format!("{p:?}").contains("sk-test"));

        let ad = OpenAi::from_openai(
            client(),
            ProviderKind::Azure,
            Some("gpt-4o"),
            &openai_cfg(OpenAiApiType::AzureAd),
        )
        .unwrap();
        assert_eq!(ad.headers.get("authorization").unwrap(), "Bearer sk-test");
    }

    #[test]
    fn openai_api_version_becomes_query() {
        let mut cfg = openai_cfg(OpenAiApiType::OpenAi);
        cfg.api_base = "http://127.0.0.1:1/v1".into();
        cfg.deployment_name = None;
        cfg.organization = Some("my-org".into());
        let p = OpenAi::from_openai(client(), ProviderKind::OpenAi, Some("m"), &cfg).unwrap();
        assert_eq!(
            p.chat_url.as_str(),
            "http://127.0.0.1:1/v1/chat/completions?api-version=2024-02-01"
        );
        assert_eq!(p.headers.get("openai-organization").unwrap(), "my-org");
        assert_eq!(p.body_model.as_deref(), Some("m"));
    }

    #[test]
    fn bad_header_value_is_a_build_error_without_the_key() {
        let mut cfg = openai_cfg(OpenAiApiType::OpenAi);
        cfg.api_key = Secret::new("sk-with\nnewline");
        let err = OpenAi::from_openai(client(), ProviderKind::OpenAi, None, &cfg).unwrap_err();
        assert!(!err.contains("sk-with"));
        cfg.api_key = Secret::new("sk-from-file\n");
        let ok = OpenAi::from_openai(client(), ProviderKind::OpenAi, None, &cfg).unwrap();
        assert_eq!(
            ok.headers.get("authorization").unwrap(),
            "Bearer sk-from-file"
        );
    }
}
