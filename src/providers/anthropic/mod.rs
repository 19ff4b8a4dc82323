//! The Anthropic provider (spec §3.4): chat and streamed chat through the Messages API
//! (`POST {base}/messages`), completions through the legacy Text Completions API
//! (`POST {base}/complete`, not streamed, as in MLflow), no embeddings. URLs and headers
//! (`x-api-key`, `anthropic-version`) are fixed when the endpoint is built. This file is the
//! thin I/O; the rules live in `convert.rs` (requests), `response.rs` (answers) and `stream.rs`
//! (the stream event machine).

pub mod convert;
pub mod response;
pub mod stream;
pub mod wire;

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use http::HeaderMap;

use crate::config::{AnthropicConfig, ProviderKind};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::http::{Redactor, json_post, open_stream, read_json, send, transport_error};
use super::http::{encode_json as encode, endpoint_url, insert_plain, insert_secret, json_headers};
use super::{Call, ChunkStream, Upstream, unix_now};
use stream::Step;

/// An endpoint served by Anthropic.
#[derive(Debug)]
pub struct Anthropic {
    client: reqwest::Client,
    messages_url: reqwest::Url,
    complete_url: reqwest::Url,
    headers: HeaderMap,
    /// The configured model, sent in every body and reported when the upstream omits `model`.
    model: String,
    redactor: Redactor,
}

impl Anthropic {
    /// Builds the endpoint's provider from its validated config.
    pub fn new(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &AnthropicConfig,
    ) -> Result<Self, String> {
        let mut headers = json_headers();
        insert_secret(&mut headers, "x-api-key", "", &cfg.api_key)?;
        insert_plain(&mut headers, "anthropic-version", &cfg.version)?;
        Ok(Anthropic {
            client,
            messages_url: endpoint_url(&cfg.api_base, "messages")?,
            complete_url: endpoint_url(&cfg.api_base, "complete")?,
            headers,
            model: model.unwrap_or_default().to_owned(),
            redactor: Redactor::new([cfg.api_key.clone()]),
        })
    }
}

impl Upstream for Anthropic {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Anthropic
    }

    fn supports(&self, call: Call) -> bool {
        match call {
            Call::Chat | Call::ChatStream | Call::Completions => true,
            Call::CompletionsStream | Call::Embeddings => false,
        }
    }

    async fn chat(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<pb::ChatResponse, GatewayError> {
        let body = encode(&convert::chat_body(req, &self.model, false)?)?;
        let request = json_post(&self.messages_url, &self.headers, body, timeout);
        let resp = send(&self.client, request, timeout).await?;
        let wire: wire::MessageResponse = read_json(resp, timeout, &self.redactor).await?;
        Ok(response::chat_response(wire, &self.model, unix_now()))
    }

    async fn chat_stream(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::ChatChunk>, GatewayError> {
        let body = encode(&convert::chat_body(req, &self.model, true)?)?;
        let request = json_post(&self.messages_url, &self.headers, body, timeout);
        let resp = open_stream(&self.client, request, timeout, &self.redactor).await?;
        Ok(chat_chunks(
            resp,
            timeout,
            self.redactor.clone(),
            &self.model,
        ))
    }

    async fn complete(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        let body = encode(&convert::complete_body(req, &self.model)?)?;
        let request = json_post(&self.complete_url, &self.headers, body, timeout);
        let resp = send(&self.client, request, timeout).await?;
        let wire: wire::CompleteResponse = read_json(resp, timeout, &self.redactor).await?;
        Ok(response::complete_response(wire, &self.model, unix_now()))
    }
}

/// Reads an Anthropic Messages stream (also Vertex AI's `:streamRawPredict`) through the event
/// machine: one chunk per content event, the end at `message_stop`, one error item for an
/// in-band error, an undecodable stream or a body cut before `message_stop`.
pub(crate) fn chat_chunks(
    resp: reqwest::Response,
    timeout: Duration,
    redactor: Redactor,
    model: &str,
) -> ChunkStream<pb::ChatChunk> {
    let events = Box::pin(resp.bytes_stream().eventsource());
    let state = (events, stream::ChatStream::new(model), redactor, false);
    Box::pin(futures::stream::unfold(
        state,
        move |(mut events, mut machine, redactor, finished)| async move {
            if finished {
                return None;
            }
            loop {
                let item = match events.next().await {
                    None => Err(stream::truncated()),
                    Some(Err(eventsource_stream::EventStreamError::Transport(e))) => {
                        Err(transport_error(&e, timeout))
                    }
                    Some(Err(e)) => Err(GatewayError::UpstreamBadResponse(format!(
                        "The upstream stream could not be decoded: {e}."
                    ))),
                    Some(Ok(event)) => match stream::decode(&event.data, &redactor) {
                        None => continue,
                        Some(Err(e)) => Err(e),
                        Some(Ok(ev)) => match machine.on_event(ev, &redactor, unix_now()) {
                            Step::Skip => continue,
                            Step::End => return None,
                            Step::Chunk(c) => Ok(c),
                            Step::Fail(e) => Err(e),
                        },
                    },
                };
                let finished = item.is_err();
                return Some((item, (events, machine, redactor, finished)));
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn cfg(key: &str, base: &str) -> AnthropicConfig {
        AnthropicConfig {
            api_key: Secret::new(key),
            version: "2023-06-01".into(),
            api_base: base.into(),
        }
    }

    fn client() -> reqwest::Client {
        super::super::http::build_client(Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn urls_and_headers() {
        let p = Anthropic::new(
            client(),
            Some("claude"),
            &cfg("sk-ant-1234", "https://api.anthropic.com/v1/"),
        )
        .unwrap();
        assert_eq!(
            p.messages_url.as_str(),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            p.complete_url.as_str(),
            "https://api.anthropic.com/v1/complete"
        );
        assert_eq!(p.headers.get("x-api-key").unwrap(), "sk-ant-1234");
        assert!(p.headers.get("x-api-key").unwrap().is_sensitive());
        assert_eq!(p.headers.get("anthropic-version").unwrap(), "2023-06-01");
        assert!(!format!("{p:?}").contains("sk-ant-1234"));
        assert!(p.supports(Call::Completions));
        assert!(!p.supports(Call::CompletionsStream));
        assert!(!p.supports(Call::Embeddings));
    }

    #[test]
    fn bad_key_is_a_build_error_without_the_key() {
        let err = Anthropic::new(client(), None, &cfg("sk-ant\nx", "http://h/v1")).unwrap_err();
        assert!(!err.contains("sk-ant"));
        let ok = Anthropic::new(client(), None, &cfg("sk-ant-file\n", "http://h/v1")).unwrap();
        assert_eq!(ok.headers.get("x-api-key").unwrap(), "sk-ant-file");
    }
}
