//! The Hugging Face Text Generation Inference provider (spec §3.9): completions only, as
//! `POST {hf_server_url}/generate`, without streaming or an auth header (MLflow sends none).
//! Chat and embeddings keep the trait's 501. This file is the thin I/O; the rules live in
//! `convert.rs`.

pub mod convert;
pub mod wire;

use std::time::Duration;

use http::{HeaderMap, HeaderValue};

use crate::config::{HfTgiConfig, ProviderKind};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::http::endpoint_url as join;
use super::http::{Redactor, encode_json, json_post, read_json, send};
use super::{Call, Upstream, unix_now};

/// An endpoint served by a TGI server.
#[derive(Debug)]
pub struct HuggingFaceTgi {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    model: String,
}

impl HuggingFaceTgi {
    /// Builds the endpoint's provider: `{hf_server_url}/generate`, parsed once.
    pub fn new(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &HfTgiConfig,
    ) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(HuggingFaceTgi {
            client,
            url: join(&cfg.hf_server_url, "generate")?,
            headers,
            model: model.unwrap_or_default().to_owned(),
        })
    }
}

impl Upstream for HuggingFaceTgi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::HuggingFaceTgi
    }

    fn supports(&self, call: Call) -> bool {
        call == Call::Completions
    }

    async fn complete(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        convert::check(req)?;
        let body = encode_json(&convert::generate_body(req))?;
        let request = json_post(&self.url, &self.headers, body, timeout);
        let resp = send(&self.client, request, timeout).await?;
        // No key is configured, so there is nothing to redact.
        let wire: wire::Response = read_json(resp, timeout, &Redactor::default()).await?;
        Ok(convert::completion_response(wire, &self.model, unix_now()))
    }
}
