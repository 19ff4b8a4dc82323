//! The MLflow model serving provider (spec §3.8): chat, completions and embeddings against a
//! model served by `mlflow models serve` (or any server speaking its `POST /invocations`
//! protocol). No streaming, no auth header. This file is the thin I/O; the bodies and responses
//! are built in `convert.rs`, the upstream's `predictions` read in `predictions.rs`.

pub mod convert;
pub mod predictions;
pub mod wire;

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::config::{MlflowServingConfig, ProviderKind};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::http::endpoint_url as join;
use super::http::{Redactor, encode_json, json_post, read_json, send};
use super::{Call, Upstream, unix_now};

/// An endpoint served by an MLflow model server.
#[derive(Debug)]
pub struct MlflowServing {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    model: String,
    redactor: Redactor,
}

impl MlflowServing {
    /// Builds the endpoint's provider: `{model_server_url}/invocations`, parsed once.
    pub fn new(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &MlflowServingConfig,
    ) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(MlflowServing {
            client,
            url: join(&cfg.model_server_url, "invocations")?,
            headers,
            model: model.unwrap_or_default().to_owned(),
            // No key to hide: the config has none.
            redactor: Redactor::default(),
        })
    }

    /// POSTs a body and returns the response's `predictions`.
    async fn invoke(&self, body: Vec<u8>, timeout: Duration) -> Result<Value, GatewayError> {
        let request = json_post(&self.url, &self.headers, body, timeout);
        let resp = send(&self.client, request, timeout).await?;
        let value: Value = read_json(resp, timeout, &self.redactor).await?;
        predictions::predictions(value)
    }
}

impl Upstream for MlflowServing {
    fn kind(&self) -> ProviderKind {
        ProviderKind::MlflowModelServing
    }

    /// MLflow forwards a client's `model` to the served model inside `params`.
    fn accepts_model(&self) -> bool {
        true
    }

    fn supports(&self, call: Call) -> bool {
        matches!(call, Call::Chat | Call::Completions | Call::Embeddings)
    }

    async fn chat(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<pb::ChatResponse, GatewayError> {
        let p = self
            .invoke(encode_json(&convert::chat_body(req))?, timeout)
            .await?;
        let texts = predictions::text_predictions(p)?;
        Ok(convert::chat_response(texts, &self.model, unix_now()))
    }

    async fn complete(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        let p = self
            .invoke(encode_json(&convert::completion_body(req))?, timeout)
            .await?;
        let texts = predictions::text_predictions(p)?;
        Ok(convert::completion_response(texts, &self.model, unix_now()))
    }

    async fn embed(
        &self,
        req: &pb::EmbedRequest,
        timeout: Duration,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        let p = self
            .invoke(encode_json(&convert::embeddings_body(req))?, timeout)
            .await?;
        let vectors = predictions::embedding_predictions(p)?;
        Ok(convert::embed_response(vectors, &self.model))
    }
}
