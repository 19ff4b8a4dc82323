//! The Gemini provider (Google AI Studio, spec §3.5): chat and completions through
//! `{base}/{model}:generateContent` (streamed: `:streamGenerateContent?alt=sse`), embeddings
//! through `:embedContent` (one input) or `:batchEmbedContents` (several), authenticated with
//! the `x-goog-api-key` header as MLflow does (never `?key=`, so the key cannot end up in a URL,
//! a log line or an error). URLs and headers are fixed when the endpoint is built; this file is
//! the thin I/O, the rules live in `convert.rs` and `response.rs`.

pub mod call_id;
pub mod convert;
pub mod response;
pub mod wire;

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use http::HeaderMap;

use crate::config::{GeminiConfig, ProviderKind};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::http::{
    Redactor, SseItem, decode_event, encode_json as encode, insert_secret, json_headers, json_post,
    open_stream, read_json, send, transport_error,
};
use super::{Call, ChunkStream, Upstream, unix_now};
use response::StreamState;

/// An endpoint served by Gemini.
#[derive(Debug)]
pub struct Gemini {
    client: reqwest::Client,
    generate_url: reqwest::Url,
    stream_url: reqwest::Url,
    embed_url: reqwest::Url,
    batch_embed_url: reqwest::Url,
    headers: HeaderMap,
    /// The configured model name, reported as the answering model (as MLflow does).
    model: String,
    /// `models/{name}`, which every request of a batch embedding names.
    batch_model: String,
    redactor: Redactor,
}

impl Gemini {
    /// Builds the endpoint; `cfg.api_base` is already normalised to a models base.
    pub fn new(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &GeminiConfig,
    ) -> Result<Self, String> {
        let model = model
            .filter(|m| !m.is_empty())
            .ok_or("a gemini endpoint needs `model.name` (it is part of every Gemini URL)")?;
        let base = cfg.api_base.trim_end_matches('/');
        let url = |method: &str| {
            let text = format!("{base}/{model}:{method}");
            reqwest::Url::parse(&text)
                .map_err(|e| format!("the Gemini URL '{text}' is not a valid URL: {e}"))
        };
        let mut headers = json_headers();
        insert_secret(&mut headers, "x-goog-api-key", "", &cfg.api_key)?;
        Ok(Gemini {
            client,
            generate_url: url("generateContent")?,
            stream_url: url("streamGenerateContent?alt=sse")?,
            embed_url: url("embedContent")?,
            batch_embed_url: url("batchEmbedContents")?,
            headers,
            model: model.to_owned(),
            batch_model: format!("models/{model}"),
            redactor: Redactor::new([cfg.api_key.clone()]),
        })
    }

    async fn generate(
        &self,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<wire::GenerateResponse, GatewayError> {
        let request = json_post(&self.generate_url, &self.headers, body, timeout);
        let resp = send(&self.client, request, timeout).await?;
        response::usable(read_json(resp, timeout, &self.redactor).await?)
    }

    async fn open(
        &self,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<reqwest::Response, GatewayError> {
        let request = json_post(&self.stream_url, &self.headers, body, timeout);
        open_stream(&self.client, request, timeout, &self.redactor).await
    }
}

impl Upstream for Gemini {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gemini
    }

    fn supports(&self, _call: Call) -> bool {
        true
    }

    async fn chat(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<pb::ChatResponse, GatewayError> {
        let body = encode(&convert::chat_body(req)?)?;
        let wire = self.generate(body, timeout).await?;
        Ok(response::chat_response(wire, &self.model, unix_now()))
    }

    async fn chat_stream(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::ChatChunk>, GatewayError> {
        let body = encode(&convert::chat_body(req)?)?;
        let resp = self.open(body, timeout).await?;
        let state = response::ChatStream::new(&self.model);
        Ok(Box::pin(sse_chunks(
            resp,
            timeout,
            self.redactor.clone(),
            state,
        )))
    }

    async fn complete(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        let body = encode(&convert::completion_body(req)?)?;
        let wire = self.generate(body, timeout).await?;
        Ok(response::completion_response(wire, &self.model, unix_now()))
    }

    async fn complete_stream(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::CompletionChunk>, GatewayError> {
        let body = encode(&convert::completion_body(req)?)?;
        let resp = self.open(body, timeout).await?;
        let state = response::CompletionStream::new(&self.model);
        Ok(Box::pin(sse_chunks(
            resp,
            timeout,
            self.redactor.clone(),
            state,
        )))
    }

    async fn embed(
        &self,
        req: &pb::EmbedRequest,
        timeout: Duration,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        let (url, body) = match convert::embed_call(req, &self.batch_model)? {
            convert::EmbedCall::Single(b) => (&self.embed_url, encode(&b)?),
            convert::EmbedCall::Batch(b) => (&self.batch_embed_url, encode(&b)?),
        };
        let request = json_post(url, &self.headers, body, timeout);
        let resp = send(&self.client, request, timeout).await?;
        let wire: wire::EmbedResponse = read_json(resp, timeout, &self.redactor).await?;
        let base64 = req.encoding_format.as_deref() == Some("base64");
        response::embed_response(wire, &self.model, base64).ok_or_else(|| {
            GatewayError::UpstreamBadResponse(
                "The Gemini response holds no embedding (neither `embeddings` nor `embedding`)."
                    .into(),
            )
        })
    }
}

/// Reads Gemini's SSE stream (`data: {GenerateContentResponse}` events) as proto chunks. Gemini
/// sends no end marker: the stream is complete when every candidate has reported a finish
/// reason (a `[DONE]` is honoured too). A body that ends earlier, an undecodable stream or an
/// in-band `{"error": ...}` event ends the stream with one error item.
pub(crate) fn sse_chunks<S>(
    response: reqwest::Response,
    timeout: Duration,
    redactor: Redactor,
    state: S,
) -> impl Stream<Item = Result<S::Chunk, GatewayError>> + Send + 'static
where
    S: StreamState + Send + 'static,
    S::Chunk: Send + 'static,
{
    let events = Box::pin(response.bytes_stream().eventsource());
    futures::stream::unfold(
        (events, state, redactor, false),
        move |(mut events, mut state, redactor, finished)| async move {
            if finished {
                return None;
            }
            loop {
                let err = match events.next().await {
                    None if state.complete() => return None,
                    None => GatewayError::UpstreamBadResponse(
                        "The upstream stream ended before Gemini reported a finish reason (the response was cut off).".into(),
                    ),
                    Some(Err(eventsource_stream::EventStreamError::Transport(t))) => {
                        transport_error(&t, timeout)
                    }
                    Some(Err(other)) => GatewayError::UpstreamBadResponse(format!(
                        "The upstream stream could not be decoded: {other}."
                    )),
                    Some(Ok(event)) => match decode_event::<wire::GenerateResponse>(
                        &event.data,
                        &redactor,
                    ) {
                        None => continue,
                        Some(Ok(SseItem::Done)) => return None,
                        Some(Ok(SseItem::Data(r))) => {
                            let chunk = state.chunk(r, unix_now());
                            return Some((Ok(chunk), (events, state, redactor, false)));
                        }
                        Some(Err(e)) => e,
                    },
                };
                return Some((Err(err), (events, state, redactor, true)));
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn client() -> reqwest::Client {
        super::super::http::build_client(Duration::from_secs(1)).unwrap()
    }

    fn cfg(key: &str) -> GeminiConfig {
        GeminiConfig {
            api_key: Secret::new(key),
            api_base: "https://generativelanguage.googleapis.com/v1beta/models".into(),
        }
    }

    #[test]
    fn urls_and_header_auth() {
        let g = Gemini::new(client(), Some("gemini-2.0-flash"), &cfg("g-key")).unwrap();
        assert_eq!(
            g.generate_url.as_str(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
        );
        assert_eq!(
            g.stream_url.as_str(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
        );
        assert!(
            g.embed_url
                .as_str()
                .ends_with("/gemini-2.0-flash:embedContent")
        );
        assert!(
            g.batch_embed_url
                .as_str()
                .ends_with("/gemini-2.0-flash:batchEmbedContents")
        );
        assert_eq!(g.batch_model, "models/gemini-2.0-flash");
        assert_eq!(g.headers.get("x-goog-api-key").unwrap(), "g-key");
        assert!(g.headers.get("x-goog-api-key").unwrap().is_sensitive());
        assert!(!format!("{g:?}").contains("g-key"));
        assert!(!g.generate_url.as_str().contains("key="));
    }

    #[test]
    fn bad_configs_are_build_errors_without_the_key() {
        let err = Gemini::new(client(), None, &cfg("g-key")).unwrap_err();
        assert!(err.contains("model.name"));
        let err = Gemini::new(client(), Some("m"), &cfg("g-with\nnewline")).unwrap_err();
        assert!(!err.contains("g-with"));
        let ok = Gemini::new(client(), Some("m"), &cfg("g-from-file\n")).unwrap();
        assert_eq!(ok.headers.get("x-goog-api-key").unwrap(), "g-from-file");
    }
}
