//! The Vertex AI provider (spec §3.6): one Google Cloud endpoint serving three model families,
//! each in its own wire format, all authenticated with an OAuth2 access token (`auth.rs`):
//!
//! * Gemini models: Google AI Studio's format (`providers::gemini` conversions) at
//!   `.../publishers/google/models/{m}:generateContent` (streamed: `:streamGenerateContent?alt=sse`;
//!   embeddings `:embedContent` / `:batchEmbedContents`) — chat, completions, embeddings;
//! * Claude models: Anthropic's Messages API (`providers::anthropic`) at
//!   `.../publishers/anthropic/models/{m}:rawPredict` (streamed: `:streamRawPredict`) — chat only;
//! * MaaS partner models: OpenAI's format (`providers::openai`) at
//!   `.../endpoints/openapi/chat/completions` — chat only.
//!
//! The family, URLs and static headers are fixed when the endpoint is built; each request only
//! adds the cached bearer token. This file is the thin I/O; the rules live in `convert.rs`.

pub mod auth;
pub mod convert;
pub mod wire;

use std::time::Duration;

use futures::StreamExt;
use http::{HeaderMap, header};

use crate::config::{ProviderKind, VertexAiConfig};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::http::{
    Redactor, encode_json as encode, json_headers, json_post, open_stream, read_json, send,
    sse_json_stream,
};
use super::{Call, ChunkStream, Upstream, anthropic, gemini, openai, unix_now};
use auth::{Credentials, TokenSource};
use convert::{Family, Urls};

/// An endpoint served by Vertex AI.
#[derive(Debug)]
pub struct VertexAi {
    client: reqwest::Client,
    family: Family,
    urls: Urls,
    headers: HeaderMap,
    tokens: TokenSource,
    /// The configured model name: in every URL, and reported as the answering model.
    model: String,
    /// `models/{name}`, which Gemini's batch embedding names per input.
    batch_model: String,
    redactor: Redactor,
}

impl VertexAi {
    /// Builds the endpoint, finding its credential in the process environment if none is
    /// configured (Application Default Credentials; the last source, the GCE metadata server,
    /// is probed here, which can take up to 2 s where there is none).
    pub fn new(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &VertexAiConfig,
    ) -> Result<Self, String> {
        let env = |name: &str| std::env::var(name).ok();
        let credentials = Credentials::load(cfg.credentials.as_ref(), &env)?;
        Self::with_credentials(client, model, cfg, TokenSource::new, credentials)
    }

    /// Builds the endpoint with a loaded credential and a way to make its token source.
    pub fn with_credentials(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &VertexAiConfig,
        token_source: impl FnOnce(reqwest::Client, Credentials) -> TokenSource,
        credentials: Credentials,
    ) -> Result<Self, String> {
        let model = model
            .filter(|m| !m.is_empty())
            .ok_or("a vertex_ai endpoint needs `model.name` (it is part of every Vertex AI URL)")?;
        let family = convert::family(model);
        let urls = convert::urls(
            family,
            cfg.api_base.as_deref(),
            &cfg.project,
            &cfg.location,
            model,
        )?;
        Ok(VertexAi {
            tokens: token_source(client.clone(), credentials),
            client,
            family,
            urls,
            headers: json_headers(),
            model: model.to_owned(),
            batch_model: format!("models/{model}"),
            redactor: Redactor::new(cfg.credentials.iter().cloned()),
        })
    }

    /// A POST of `body` to `url`, carrying the current access token.
    async fn request(
        &self,
        url: &reqwest::Url,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(reqwest::Request, Redactor), GatewayError> {
        let token = self.tokens.authorization(timeout).await?;
        let mut request = json_post(url, &self.headers, body, timeout);
        request.headers_mut().insert(header::AUTHORIZATION, token);
        // The access token is minted at run time: redact it like the configured key.
        let redactor = self.redactor.for_request(&request);
        Ok((request, redactor))
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        url: &reqwest::Url,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<T, GatewayError> {
        let (request, redactor) = self.request(url, body, timeout).await?;
        let resp = send(&self.client, request, timeout).await?;
        read_json(resp, timeout, &redactor).await
    }

    async fn open(
        &self,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(reqwest::Response, Redactor), GatewayError> {
        let (request, redactor) = self.request(&self.urls.stream, body, timeout).await?;
        let resp = open_stream(&self.client, request, timeout, &redactor).await?;
        Ok((resp, redactor))
    }

    fn openai_ctx(&self) -> openai::convert::BodyContext<'_> {
        openai::convert::BodyContext {
            model: Some(&self.model),
        }
    }
}

impl Upstream for VertexAi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::VertexAi
    }

    fn supports(&self, call: Call) -> bool {
        match call {
            // Completions on Claude/MaaS get MLflow's own message from `complete`, not the
            // generic 501.
            Call::Chat | Call::ChatStream | Call::Completions | Call::CompletionsStream => true,
            Call::Embeddings => self.family == Family::Gemini,
        }
    }

    async fn chat(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<pb::ChatResponse, GatewayError> {
        let url = &self.urls.call;
        match self.family {
            Family::Gemini => {
                let body = convert::gemini_body(&gemini::convert::chat_body(req)?)?;
                let wire = gemini::response::usable(self.call(url, body, timeout).await?)?;
                Ok(gemini::response::chat_response(
                    wire,
                    &self.model,
                    unix_now(),
                ))
            }
            Family::Claude => {
                let body =
                    convert::claude_body(&anthropic::convert::chat_body(req, &self.model, false)?)?;
                let wire = self.call(url, body, timeout).await?;
                Ok(anthropic::response::chat_response(
                    wire,
                    &self.model,
                    unix_now(),
                ))
            }
            Family::Maas => {
                let body = encode(&openai::convert::chat_body(req, self.openai_ctx(), false))?;
                let wire = self.call(url, body, timeout).await?;
                Ok(openai::convert::chat_response(
                    wire,
                    &self.model,
                    unix_now(),
                ))
            }
        }
    }

    async fn chat_stream(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::ChatChunk>, GatewayError> {
        match self.family {
            Family::Gemini => {
                let body = convert::gemini_body(&gemini::convert::chat_body(req)?)?;
                let (resp, redactor) = self.open(body, timeout).await?;
                let state = gemini::response::ChatStream::new(&self.model);
                Ok(Box::pin(gemini::sse_chunks(resp, timeout, redactor, state)))
            }
            Family::Claude => {
                let body =
                    convert::claude_body(&anthropic::convert::chat_body(req, &self.model, true)?)?;
                let (resp, redactor) = self.open(body, timeout).await?;
                Ok(anthropic::chat_chunks(resp, timeout, redactor, &self.model))
            }
            Family::Maas => {
                let body = encode(&openai::convert::chat_body(req, self.openai_ctx(), true))?;
                let (resp, redactor) = self.open(body, timeout).await?;
                let fallback = self.model.clone();
                let stream = sse_json_stream::<openai::wire::Chunk>(resp, timeout, redactor)
                    .map(move |r| r.map(|c| openai::convert::chat_chunk(c, &fallback, unix_now())));
                Ok(Box::pin(stream))
            }
        }
    }

    async fn complete(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        if self.family != Family::Gemini {
            return Err(convert::completions_unsupported(&self.model));
        }
        let body = convert::gemini_body(&gemini::convert::completion_body(req)?)?;
        let wire = gemini::response::usable(self.call(&self.urls.call, body, timeout).await?)?;
        Ok(gemini::response::completion_response(
            wire,
            &self.model,
            unix_now(),
        ))
    }

    async fn complete_stream(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::CompletionChunk>, GatewayError> {
        if self.family != Family::Gemini {
            return Err(convert::completions_unsupported(&self.model));
        }
        let body = convert::gemini_body(&gemini::convert::completion_body(req)?)?;
        let (resp, redactor) = self.open(body, timeout).await?;
        let state = gemini::response::CompletionStream::new(&self.model);
        Ok(Box::pin(gemini::sse_chunks(resp, timeout, redactor, state)))
    }

    async fn embed(
        &self,
        req: &pb::EmbedRequest,
        timeout: Duration,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        let Some((single, batch)) = &self.urls.embed else {
            return Err(Call::Embeddings.not_implemented(self.kind()));
        };
        let (url, body) = match gemini::convert::embed_call(req, &self.batch_model)? {
            gemini::convert::EmbedCall::Single(b) => (single, encode(&b)?),
            gemini::convert::EmbedCall::Batch(b) => (batch, encode(&b)?),
        };
        let wire: gemini::wire::EmbedResponse = self.call(url, body, timeout).await?;
        let base64 = req.encoding_format.as_deref() == Some("base64");
        gemini::response::embed_response(wire, &self.model, base64).ok_or_else(|| {
            GatewayError::UpstreamBadResponse(
                "The Vertex AI response holds no embedding (neither `embeddings` nor `embedding`)."
                    .into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::config::Secret;

    fn cfg(location: &str) -> VertexAiConfig {
        let key = serde_json::json!({
            "type": "service_account",
            "client_email": "sa@p.iam.gserviceaccount.com",
            "private_key": include_str!("../../../tests/fixtures/vertex/test-only-private-key.pem"),
        });
        VertexAiConfig {
            project: "p".into(),
            location: location.into(),
            credentials: Some(Secret::new(key.to_string())),
            anthropic_betas: None,
            api_base: None,
        }
    }

    fn build(model: Option<&str>, location: &str) -> Result<VertexAi, String> {
        let client = super::super::http::build_client(Duration::from_secs(1)).unwrap();
        VertexAi::new(client, model, &cfg(location))
    }

    #[test]
    fn family_decides_urls_and_calls() {
        let g = build(Some("gemini-2.0-flash"), "global").unwrap();
        assert_eq!(g.family, Family::Gemini);
        assert!(g.urls.call.as_str().starts_with(
            "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/google/"
        ));
        assert!(g.supports(Call::Embeddings) && g.supports(Call::CompletionsStream));

        let c = build(Some("claude-opus-4-1"), "us-east5").unwrap();
        assert_eq!(c.family, Family::Claude);
        assert!(
            c.urls
                .stream
                .as_str()
                .ends_with("/claude-opus-4-1:streamRawPredict")
        );
        // Completions reach `complete` (for MLflow's own message); embeddings are a plain 501.
        assert!(c.supports(Call::Completions) && !c.supports(Call::Embeddings));

        let m = build(Some("mistral-large-2411"), "us-central1").unwrap();
        assert_eq!(m.family, Family::Maas);
        assert_eq!(m.batch_model, "models/mistral-large-2411");
    }

    #[test]
    fn debug_shows_no_key_and_a_model_is_required() {
        let g = build(Some("gemini-2.0-flash"), "global").unwrap();
        let debug = format!("{g:?}");
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        assert!(debug.contains("sa@p.iam.gserviceaccount.com"));
        let err = build(None, "global").unwrap_err();
        assert!(err.contains("model.name"), "{err}");
    }
}
