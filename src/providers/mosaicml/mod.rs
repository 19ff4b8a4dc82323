//! The MosaicML provider (deprecated in MLflow; spec §3.12): chat (Llama-2 models only, via
//! MLflow's Llama-2 prompt), completions and embeddings, each one `POST
//! {mosaicml_api_base}/{model}/v1/predict` with `Authorization: KEY` (no `Bearer`, as MLflow
//! sends it). No streaming. This file is the thin I/O; the rules live in `convert.rs`.

pub mod convert;
pub mod wire;

use std::time::Duration;

use http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::config::{MosaicMlConfig, ProviderKind};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::http::{Redactor, encode_json, json_post, read_json, send};
use super::http::{endpoint_url as join, insert_secret, json_headers};
use super::{Call, Upstream, unix_now};

/// An endpoint served by MosaicML.
#[derive(Debug)]
pub struct MosaicMl {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    model: String,
    redactor: Redactor,
}

impl MosaicMl {
    /// Builds the endpoint's provider: the model is part of the URL, fixed here once.
    pub fn new(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &MosaicMlConfig,
    ) -> Result<Self, String> {
        let model = model.unwrap_or_default();
        let mut headers = json_headers();
        // The raw key, without a scheme: MosaicML's API takes it that way.
        insert_secret(&mut headers, "authorization", "", &cfg.api_key)?;
        Ok(MosaicMl {
            client,
            url: join(&cfg.api_base, &format!("{model}/v1/predict"))?,
            headers,
            model: model.to_owned(),
            redactor: Redactor::new([cfg.api_key.clone()]),
        })
    }

    /// POSTs a body and returns the answer's `outputs`.
    async fn predict<T: DeserializeOwned>(
        &self,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<T>, GatewayError> {
        let request = json_post(&self.url, &self.headers, body, timeout);
        let resp = send(&self.client, request, timeout).await?;
        let answer: wire::Outputs<T> = read_json(resp, timeout, &self.redactor)
            .await
            .map_err(convert::token_allowance)?;
        convert::outputs(answer)
    }
}

impl Upstream for MosaicMl {
    fn kind(&self) -> ProviderKind {
        ProviderKind::MosaicMl
    }

    fn supports(&self, call: Call) -> bool {
        matches!(call, Call::Chat | Call::Completions | Call::Embeddings)
    }

    async fn chat(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<pb::ChatResponse, GatewayError> {
        let prompt = convert::llama2_prompt(&req.messages)?;
        let body = encode_json(&convert::chat_body(req, &prompt)?)?;
        let texts = self.predict::<String>(body, timeout).await?;
        Ok(convert::chat_response(texts, &self.model, unix_now()))
    }

    async fn complete(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        let body = encode_json(&convert::completion_body(req)?)?;
        let texts = self.predict::<String>(body, timeout).await?;
        Ok(convert::completion_response(texts, &self.model, unix_now()))
    }

    async fn embed(
        &self,
        req: &pb::EmbedRequest,
        timeout: Duration,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        let body = encode_json(&convert::embed_body(req)?)?;
        let vectors = self.predict::<Vec<f64>>(body, timeout).await?;
        Ok(convert::embed_response(vectors, &self.model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn url_and_raw_key_header() {
        let client = crate::providers::http::build_client(Duration::from_secs(1)).unwrap();
        let cfg = MosaicMlConfig {
            api_key: Secret::new("mos-secret\n"),
            api_base: "https://models.hosted-on.mosaicml.hosting".into(),
        };
        let p = MosaicMl::new(client, Some("llama2-70b-chat"), &cfg).unwrap();
        assert_eq!(
            p.url.as_str(),
            "https://models.hosted-on.mosaicml.hosting/llama2-70b-chat/v1/predict"
        );
        let auth = p.headers.get("authorization").unwrap();
        assert_eq!(auth, "mos-secret");
        assert!(auth.is_sensitive());
        assert!(!format!("{p:?}").contains("mos-secret"));
    }
}
