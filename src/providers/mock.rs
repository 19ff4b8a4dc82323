//! The `mock` provider: answers every call deterministically without any network, for the
//! quickstart, offline client development and benchmarks of the gateway itself.
//!
//! It is not a model and says so: chat answers `You said: <last user text>` (or the configured
//! `response`), completions echo the prompt the same way, embeddings are unit vectors derived
//! from a hash of each input, and usage counts whitespace-separated words. `delay_ms` delays the
//! answer (and each stream chunk), to simulate a slow model.

use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt;

use crate::config::MockConfig;
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::{Call, ChunkStream, Upstream, unix_now};
use crate::config::ProviderKind;

/// The longest vector the mock makes (the bound of `embedding_dimensions`).
const MAX_DIMENSIONS: u32 = 8192;
/// The most values one embeddings answer may hold, so that no request (e.g. a million empty
/// texts) makes the gateway allocate without bound.
const MAX_VALUES: usize = 1 << 24;

/// A mock endpoint.
#[derive(Debug, Clone)]
pub struct Mock {
    model: String,
    response: Option<String>,
    delay: Duration,
    dimensions: u32,
    chunk_words: usize,
}

fn words(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

fn usage(prompt: u32, completion: u32) -> pb::Usage {
    pb::Usage {
        prompt_tokens: Some(prompt),
        completion_tokens: Some(completion),
        total_tokens: Some(prompt.saturating_add(completion)),
        ..Default::default()
    }
}

fn message_text(m: &pb::Message) -> String {
    if let Some(c) = &m.content {
        return c.clone();
    }
    m.content_parts
        .iter()
        .filter_map(|p| match &p.part {
            Some(pb::content_part::Part::Text(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Mock {
    /// A mock endpoint for `model` (default name `mock`).
    pub fn new(model: Option<&str>, cfg: &MockConfig) -> Self {
        Mock {
            model: model.unwrap_or("mock").to_owned(),
            response: cfg.response.clone(),
            delay: Duration::from_millis(cfg.delay_ms),
            dimensions: cfg.embedding_dimensions.max(1),
            chunk_words: usize::try_from(cfg.chunk_words.max(1)).unwrap_or(1),
        }
    }

    fn reply_to(&self, input: &str) -> String {
        match &self.response {
            Some(r) => r.clone(),
            None => format!("You said: {input}"),
        }
    }

    fn chat_reply(&self, req: &pb::ChatRequest) -> (String, u32) {
        let last_user = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(message_text)
            .unwrap_or_default();
        let prompt_words = req.messages.iter().map(|m| words(&message_text(m))).sum();
        (self.reply_to(&last_user), prompt_words)
    }

    async fn pause(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }

    /// Splits a reply into stream pieces of `chunk_words` words, keeping the spaces.
    fn pieces(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut current = String::new();
        let mut count = 0;
        for (i, word) in text.split(' ').enumerate() {
            if i > 0 {
                current.push(' ');
            }
            current.push_str(word);
            count += 1;
            if count == self.chunk_words {
                out.push(std::mem::take(&mut current));
                count = 0;
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    /// One chat completion.
    pub async fn reply_chat(
        &self,
        req: &pb::ChatRequest,
    ) -> Result<pb::ChatResponse, GatewayError> {
        self.pause().await;
        let (reply, prompt) = self.chat_reply(req);
        let completion = words(&reply);
        let n = req.n.unwrap_or(1);
        Ok(pb::ChatResponse {
            id: Some("chatcmpl-mock".into()),
            created: unix_now(),
            model: self.model.clone(),
            choices: (0..n)
                .map(|index| pb::ChatChoice {
                    index,
                    message: Some(pb::Message {
                        role: "assistant".into(),
                        content: Some(reply.clone()),
                        ..Default::default()
                    }),
                    finish_reason: Some("stop".into()),
                })
                .collect(),
            usage: Some(usage(prompt, completion.saturating_mul(n))),
            provider: String::new(),
        })
    }

    /// A streamed chat completion: a role chunk, one chunk per piece, a finish chunk and, when
    /// asked, a usage chunk.
    pub fn stream_chat(&self, req: &pb::ChatRequest) -> ChunkStream<pb::ChatChunk> {
        let (reply, prompt) = self.chat_reply(req);
        let include_usage = req
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        let created = unix_now();
        let chunk = |delta: pb::ChatDelta, finish: Option<&str>| pb::ChatChunk {
            id: Some("chatcmpl-mock".into()),
            created,
            model: self.model.clone(),
            choices: vec![pb::ChatChunkChoice {
                index: 0,
                finish_reason: finish.map(str::to_owned),
                delta: Some(delta),
            }],
            usage: None,
            provider: String::new(),
        };
        let mut chunks = vec![chunk(
            pb::ChatDelta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                tool_calls: Vec::new(),
            },
            None,
        )];
        for piece in self.pieces(&reply) {
            chunks.push(chunk(
                pb::ChatDelta {
                    content: Some(piece),
                    ..Default::default()
                },
                None,
            ));
        }
        chunks.push(chunk(pb::ChatDelta::default(), Some("stop")));
        if include_usage {
            chunks.push(pb::ChatChunk {
                id: Some("chatcmpl-mock".into()),
                created,
                model: self.model.clone(),
                choices: Vec::new(),
                usage: Some(usage(prompt, words(&reply))),
                provider: String::new(),
            });
        }
        self.paced(chunks)
    }

    /// One text completion.
    pub async fn reply_completion(
        &self,
        req: &pb::CompletionRequest,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        self.pause().await;
        let reply = self.reply_to(&req.prompt);
        let n = req.n.unwrap_or(1);
        Ok(pb::CompletionResponse {
            id: Some("cmpl-mock".into()),
            created: unix_now(),
            model: self.model.clone(),
            choices: (0..n)
                .map(|index| pb::CompletionChoice {
                    index,
                    text: reply.clone(),
                    finish_reason: Some("stop".into()),
                })
                .collect(),
            usage: Some(usage(words(&req.prompt), words(&reply).saturating_mul(n))),
            provider: String::new(),
        })
    }

    /// A streamed text completion.
    pub fn stream_completion(
        &self,
        req: &pb::CompletionRequest,
    ) -> ChunkStream<pb::CompletionChunk> {
        let reply = self.reply_to(&req.prompt);
        let include_usage = req
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        let created = unix_now();
        let chunk = |text: String, finish: Option<&str>| pb::CompletionChunk {
            id: Some("cmpl-mock".into()),
            created,
            model: self.model.clone(),
            choices: vec![pb::CompletionChunkChoice {
                index: 0,
                finish_reason: finish.map(str::to_owned),
                text,
            }],
            usage: None,
            provider: String::new(),
        };
        let mut chunks: Vec<_> = self
            .pieces(&reply)
            .into_iter()
            .map(|p| chunk(p, None))
            .collect();
        chunks.push(chunk(String::new(), Some("stop")));
        if include_usage {
            chunks.push(pb::CompletionChunk {
                id: Some("cmpl-mock".into()),
                created,
                model: self.model.clone(),
                choices: Vec::new(),
                usage: Some(usage(words(&req.prompt), words(&reply))),
                provider: String::new(),
            });
        }
        self.paced(chunks)
    }

    fn paced<T: Send + 'static>(&self, chunks: Vec<T>) -> ChunkStream<T> {
        let delay = self.delay;
        Box::pin(futures::stream::iter(chunks).then(move |c| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(c)
        }))
    }

    /// Embeddings: one unit vector per input, derived from a hash of the input.
    pub async fn embeddings(
        &self,
        req: &pb::EmbedRequest,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        let dims = req.dimensions.unwrap_or(self.dimensions).max(1);
        // Found by fuzzing (the `connect` target): `dimensions: 4294967295` asked for a 32 GiB
        // vector, and the failed allocation aborted the whole process.
        if dims > MAX_DIMENSIONS {
            return Err(GatewayError::BadRequest(format!(
                "The mock provider makes vectors of at most {MAX_DIMENSIONS} dimensions; {dims} were requested."
            )));
        }
        let count = req.texts.len().max(req.token_ids.len());
        if count.saturating_mul(dims as usize) > MAX_VALUES {
            return Err(GatewayError::BadRequest(format!(
                "The mock provider makes at most {MAX_VALUES} values per answer; {count} inputs of {dims} dimensions were requested."
            )));
        }
        self.pause().await;
        let base64 = req.encoding_format.as_deref() == Some("base64");
        let inputs: Vec<Vec<u8>> = if req.token_ids.is_empty() {
            req.texts.iter().map(|t| t.as_bytes().to_vec()).collect()
        } else {
            req.token_ids
                .iter()
                .map(|t| t.ids.iter().flat_map(|id| id.to_le_bytes()).collect())
                .collect()
        };
        let prompt: u32 = if req.token_ids.is_empty() {
            req.texts.iter().map(|t| words(t)).sum()
        } else {
            req.token_ids
                .iter()
                .map(|t| u32::try_from(t.ids.len()).unwrap_or(u32::MAX))
                .sum()
        };
        let data = inputs
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let values = vector(bytes, dims);
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                if base64 {
                    let raw: Vec<u8> = values
                        .iter()
                        .flat_map(|v| {
                            // OpenAI's base64 form is little-endian float32.
                            #[allow(clippy::cast_possible_truncation)]
                            let f = *v as f32;
                            f.to_le_bytes()
                        })
                        .collect();
                    pb::Embedding {
                        index,
                        values: Vec::new(),
                        base64: Some(base64::engine::general_purpose::STANDARD.encode(raw)),
                    }
                } else {
                    pb::Embedding {
                        index,
                        values,
                        base64: None,
                    }
                }
            })
            .collect();
        Ok(pb::EmbedResponse {
            model: self.model.clone(),
            data,
            usage: Some(pb::Usage {
                prompt_tokens: Some(prompt),
                total_tokens: Some(prompt),
                ..Default::default()
            }),
            provider: String::new(),
        })
    }
}

impl Upstream for Mock {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Mock
    }

    fn supports(&self, _call: Call) -> bool {
        true
    }

    async fn chat(
        &self,
        req: &pb::ChatRequest,
        _timeout: Duration,
    ) -> Result<pb::ChatResponse, GatewayError> {
        self.reply_chat(req).await
    }

    async fn chat_stream(
        &self,
        req: &pb::ChatRequest,
        _timeout: Duration,
    ) -> Result<ChunkStream<pb::ChatChunk>, GatewayError> {
        Ok(self.stream_chat(req))
    }

    async fn complete(
        &self,
        req: &pb::CompletionRequest,
        _timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        self.reply_completion(req).await
    }

    async fn complete_stream(
        &self,
        req: &pb::CompletionRequest,
        _timeout: Duration,
    ) -> Result<ChunkStream<pb::CompletionChunk>, GatewayError> {
        Ok(self.stream_completion(req))
    }

    async fn embed(
        &self,
        req: &pb::EmbedRequest,
        _timeout: Duration,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        self.embeddings(req).await
    }
}

/// A deterministic unit vector of `dims` components from `bytes` (FNV-1a seeded xorshift).
fn vector(bytes: &[u8], dims: u32) -> Vec<f64> {
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        state ^= u64::from(*b);
        state = state.wrapping_mul(0x0100_0000_01b3);
    }
    if state == 0 {
        state = 1;
    }
    let mut values: Vec<f64> = (0..dims)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Map to [-1, 1) with 24 bits of precision so float32 encodings are exact.
            #[allow(clippy::cast_precision_loss)]
            let unit = (state >> 40) as f64 / f64::from(1u32 << 24);
            unit * 2.0 - 1.0
        })
        .collect();
    let norm = values.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm > 0.0 {
        for v in &mut values {
            *v /= norm;
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mock(response: Option<&str>, chunk_words: u32) -> Mock {
        Mock::new(
            Some("m"),
            &MockConfig {
                response: response.map(str::to_owned),
                delay_ms: 0,
                embedding_dimensions: 4,
                chunk_words,
            },
        )
    }

    fn chat_req(text: &str) -> pb::ChatRequest {
        pb::ChatRequest {
            messages: vec![pb::Message {
                role: "user".into(),
                content: Some(text.into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn chat_echoes_the_last_user_message() {
        let r = mock(None, 1)
            .reply_chat(&chat_req("hello there"))
            .await
            .unwrap();
        let msg = r.choices[0].message.as_ref().unwrap();
        assert_eq!(msg.content.as_deref(), Some("You said: hello there"));
        assert_eq!(r.usage.unwrap().prompt_tokens, Some(2));
        let fixed = mock(Some("fixed"), 1)
            .reply_chat(&chat_req("x"))
            .await
            .unwrap();
        assert_eq!(
            fixed.choices[0]
                .message
                .as_ref()
                .unwrap()
                .content
                .as_deref(),
            Some("fixed")
        );
    }

    #[tokio::test]
    async fn stream_pieces_reassemble_to_the_reply() {
        let mut req = chat_req("a b c");
        req.stream_options = Some(pb::StreamOptions {
            include_usage: Some(true),
        });
        let chunks: Vec<_> = mock(None, 2).stream_chat(&req).collect().await;
        let text: String = chunks
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .flat_map(|c| c.choices.iter())
            .filter_map(|ch| ch.delta.as_ref().and_then(|d| d.content.clone()))
            .collect();
        assert_eq!(text, "You said: a b c");
        let last = chunks.last().unwrap().as_ref().unwrap();
        assert!(last.choices.is_empty());
        assert!(last.usage.is_some());
    }

    #[tokio::test]
    async fn embeddings_are_deterministic_unit_vectors() {
        let req = pb::EmbedRequest {
            texts: vec!["a".into(), "b".into(), "a".into()],
            ..Default::default()
        };
        let r = mock(None, 1).embeddings(&req).await.unwrap();
        assert_eq!(r.data.len(), 3);
        assert_eq!(r.data[0].values, r.data[2].values);
        assert_ne!(r.data[0].values, r.data[1].values);
        let norm: f64 = r.data[0].values.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-9);
        let b64 = mock(None, 1)
            .embeddings(&pb::EmbedRequest {
                texts: vec!["a".into()],
                encoding_format: Some("base64".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.data[0].base64.as_ref().unwrap())
            .unwrap();
        assert_eq!(raw.len(), 16);
    }

    /// Found by fuzzing (`connect`): the requested `dimensions` were allocated as asked, so
    /// `4294967295` aborted the process; past the bounds it is now the client's error.
    #[tokio::test]
    async fn embeddings_are_bounded() {
        let huge = pb::EmbedRequest {
            texts: vec!["a".into()],
            dimensions: Some(u32::MAX),
            ..Default::default()
        };
        let e = mock(None, 1).embeddings(&huge).await.unwrap_err();
        assert_eq!(e.http_status(), 400, "{e:?}");
        let many = pb::EmbedRequest {
            texts: vec![String::new(); 4096],
            dimensions: Some(8192),
            ..Default::default()
        };
        let e = mock(None, 1).embeddings(&many).await.unwrap_err();
        assert_eq!(e.grpc_code(), tonic::Code::InvalidArgument, "{e:?}");
        let largest = pb::EmbedRequest {
            texts: vec!["a".into()],
            dimensions: Some(8192),
            ..Default::default()
        };
        let r = mock(None, 1).embeddings(&largest).await.unwrap();
        assert_eq!(r.data[0].values.len(), 8192);
    }
}
