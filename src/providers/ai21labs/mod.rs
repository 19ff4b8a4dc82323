//! The AI21 Labs provider (spec §3.13): completions only (the J2 `complete` API), as
//! `POST {base}/{model}/complete` with a bearer key. MLflow hard-codes
//! `https://api.ai21.com/studio/v1`; `ai21labs_api_base` overrides it. No streaming; chat and
//! embeddings keep the trait's 501. This file is the thin I/O; the rules live in `convert.rs`.

pub mod convert;
pub mod wire;

use std::time::Duration;

use http::HeaderMap;

use crate::config::{ApiKeyConfig, ProviderKind};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::http::{Redactor, encode_json, json_post, read_json, send};
use super::http::{bearer_json_headers, endpoint_url as join};
use super::{Call, Upstream, unix_now};

/// AI21 Studio's public API, used when `ai21labs_api_base` is not set.
pub const DEFAULT_API_BASE: &str = "https://api.ai21.com/studio/v1";

/// An endpoint served by AI21 Labs.
#[derive(Debug)]
pub struct Ai21Labs {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    model: String,
    redactor: Redactor,
}

impl Ai21Labs {
    /// Builds the endpoint's provider: the model is part of the URL, fixed here once.
    pub fn new(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &ApiKeyConfig,
    ) -> Result<Self, String> {
        let model = model.unwrap_or_default();
        let base = cfg.api_base.as_deref().unwrap_or(DEFAULT_API_BASE);
        Ok(Ai21Labs {
            client,
            url: join(base, &format!("{model}/complete"))?,
            headers: bearer_json_headers(&cfg.api_key)?,
            model: model.to_owned(),
            redactor: Redactor::new([cfg.api_key.clone()]),
        })
    }
}

impl Upstream for Ai21Labs {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Ai21Labs
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
        let body = encode_json(&convert::complete_body(req))?;
        let request = json_post(&self.url, &self.headers, body, timeout);
        let resp = send(&self.client, request, timeout).await?;
        let wire: wire::Complete = read_json(resp, timeout, &self.redactor).await?;
        Ok(convert::completion_response(wire, &self.model, unix_now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn url_has_the_model() {
        let client = crate::providers::http::build_client(Duration::from_secs(1)).unwrap();
        let cfg = ApiKeyConfig {
            api_key: Secret::new("ai21-secret"),
            api_base: None,
        };
        let p = Ai21Labs::new(client, Some("j2-ultra"), &cfg).unwrap();
        assert_eq!(
            p.url.as_str(),
            "https://api.ai21.com/studio/v1/j2-ultra/complete"
        );
        assert!(!format!("{p:?}").contains("ai21-secret"));
    }
}
