//! Pure conversions of Gemini responses into proto messages (spec §3.5, MLflow's
//! `GeminiAdapter.model_to_*`): finish reasons normalised to OpenAI's words, function calls
//! turned into tool calls with MLflow's ids and `json.dumps` arguments, usage from
//! `usageMetadata`, and the per-stream state that numbers tool calls, turns `stop` into
//! `tool_calls` and tells a finished stream from a cut one (Gemini sends no `[DONE]`).

use base64::Engine as _;

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::proto_json::to_pb_struct;

use super::call_id::derived_call_id;
use super::wire;
use crate::pyjson::dumps as py_dumps;

/// Gemini finish reasons that mean the output was withheld by a filter.
const FILTERED: [&str; 9] = [
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    "ESCALATION",
];

/// A Gemini finish reason in OpenAI's words: `MAX_TOKENS` → `length`, filters →
/// `content_filter`, anything else lower-cased (`STOP` → `stop`).
pub fn finish_reason(raw: &str) -> String {
    if raw == "MAX_TOKENS" {
        "length".into()
    } else if FILTERED.contains(&raw) {
        "content_filter".into()
    } else {
        raw.to_lowercase()
    }
}

/// Usage from `usageMetadata`: thinking tokens count as completion tokens (they are billed as
/// output), cached prompt tokens become `prompt_tokens_details`, every other key is kept.
pub fn usage(u: wire::UsageMetadata) -> pb::Usage {
    let thoughts = u
        .extra
        .get("thoughtsTokenCount")
        .and_then(|v| v.as_u64())
        .and_then(|v| u32::try_from(v).ok());
    let completion = match (u.candidates_token_count, thoughts) {
        (None, None) => None,
        (c, t) => Some(c.unwrap_or(0).saturating_add(t.unwrap_or(0))),
    };
    pb::Usage {
        prompt_tokens: u.prompt_token_count,
        completion_tokens: completion,
        total_tokens: u.total_token_count,
        prompt_tokens_details: u
            .cached_content_token_count
            .map(|cached| pb::PromptTokensDetails {
                cached_tokens: Some(cached),
                audio_tokens: None,
            }),
        completion_tokens_details: None,
        extra: (!u.extra.is_empty()).then(|| to_pb_struct(u.extra)),
    }
}

/// A candidate's answer: its text (thought summaries excluded) and its function calls.
struct Answer {
    text: String,
    calls: Vec<pb::ToolCall>,
}

fn answer(candidate: &mut wire::Candidate) -> Answer {
    let parts = candidate
        .content
        .take()
        .map(|c| c.parts)
        .unwrap_or_default();
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in parts {
        if let Some(call) = part.function_call {
            let args = py_dumps(
                &call
                    .args
                    .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
            );
            let id = call
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| derived_call_id(&call.name, &args));
            calls.push(pb::ToolCall {
                id,
                r#type: "function".into(),
                function: Some(pb::FunctionCall {
                    name: Some(call.name),
                    arguments: Some(args),
                }),
                thought_signature: part.thought_signature,
            });
        } else if let Some(t) = part.text
            && part.thought != Some(true)
        {
            text.push_str(&t);
        }
    }
    Answer { text, calls }
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// `r` if it is an answer: candidates, or the feedback of a blocked prompt. A 2xx body with
/// neither (another API's JSON, `{}`) is the upstream's failure, not an empty success.
pub fn usable(r: wire::GenerateResponse) -> Result<wire::GenerateResponse, GatewayError> {
    if r.candidates.is_empty() && r.prompt_feedback.is_none() {
        return Err(GatewayError::UpstreamBadResponse(
            "The upstream provider's response could not be parsed: it has neither `candidates` nor `promptFeedback`.".into(),
        ));
    }
    Ok(r)
}

fn blocked(r: &wire::GenerateResponse) -> bool {
    r.candidates.is_empty()
        && r.prompt_feedback
            .as_ref()
            .is_some_and(|f| f.block_reason.is_some())
}

/// A chat completion. Candidates without text are left out unless they were filtered, as
/// MLflow does; a blocked prompt is one `content_filter` choice without content.
pub fn chat_response(mut r: wire::GenerateResponse, model: &str, now: i64) -> pb::ChatResponse {
    let mut choices = Vec::with_capacity(r.candidates.len().max(1));
    if blocked(&r) {
        choices.push(chat_choice(0, None, Vec::new(), "content_filter".into()));
    }
    for (pos, cand) in r.candidates.iter_mut().enumerate() {
        let mut finish = finish_reason(cand.finish_reason.as_deref().unwrap_or("STOP"));
        let Answer { text, calls } = answer(cand);
        let content = (!text.is_empty()).then_some(text);
        if !calls.is_empty() {
            if finish == "stop" {
                finish = "tool_calls".into();
            }
        } else if content.is_none() && finish != "content_filter" {
            continue;
        }
        choices.push(chat_choice(index(pos), content, calls, finish));
    }
    pb::ChatResponse {
        id: Some(format!("gemini-chat-{now}")),
        created: now,
        model: model.to_owned(),
        choices,
        usage: r.usage_metadata.map(usage),
        provider: String::new(),
    }
}

fn chat_choice(
    index: u32,
    content: Option<String>,
    tool_calls: Vec<pb::ToolCall>,
    finish: String,
) -> pb::ChatChoice {
    pb::ChatChoice {
        index,
        message: Some(pb::Message {
            role: "assistant".into(),
            content,
            tool_calls,
            ..Default::default()
        }),
        finish_reason: Some(finish),
    }
}

/// A text completion: the chat rules without tool calls, and no id (as MLflow answers).
pub fn completion_response(
    mut r: wire::GenerateResponse,
    model: &str,
    now: i64,
) -> pb::CompletionResponse {
    let mut choices = Vec::with_capacity(r.candidates.len().max(1));
    if blocked(&r) {
        choices.push(pb::CompletionChoice {
            index: 0,
            text: String::new(),
            finish_reason: Some("content_filter".into()),
        });
    }
    for (pos, cand) in r.candidates.iter_mut().enumerate() {
        let finish = finish_reason(cand.finish_reason.as_deref().unwrap_or("STOP"));
        let text = answer(cand).text;
        if text.is_empty() && finish != "content_filter" {
            continue;
        }
        choices.push(pb::CompletionChoice {
            index: index(pos),
            text,
            finish_reason: Some(finish),
        });
    }
    pb::CompletionResponse {
        id: None,
        created: now,
        model: model.to_owned(),
        choices,
        usage: r.usage_metadata.map(usage),
        provider: String::new(),
    }
}

/// What a stream has shown so far, per candidate.
#[derive(Default)]
struct Candidates {
    /// (candidate index, tool calls so far, finished).
    seen: Vec<(u32, u32, bool)>,
    blocked: bool,
}

impl Candidates {
    fn entry(&mut self, idx: u32) -> &mut (u32, u32, bool) {
        let pos = match self.seen.iter().position(|e| e.0 == idx) {
            Some(p) => p,
            None => {
                self.seen.push((idx, 0, false));
                self.seen.len() - 1
            }
        };
        &mut self.seen[pos]
    }

    /// Gemini ends a stream by closing it after the chunk carrying each candidate's finish
    /// reason; a body that ends before that was cut.
    fn complete(&self) -> bool {
        self.blocked || (!self.seen.is_empty() && self.seen.iter().all(|e| e.2))
    }
}

/// The per-stream translation the SSE reader drives: one chunk per upstream event, and whether
/// the events so far make a complete answer.
pub trait StreamState {
    /// The proto chunk type.
    type Chunk;
    /// One upstream event as a chunk.
    fn chunk(&mut self, r: wire::GenerateResponse, now: i64) -> Self::Chunk;
    /// Whether the upstream has finished every candidate (or blocked the prompt).
    fn complete(&self) -> bool;
}

/// The state of one streamed chat.
pub struct ChatStream {
    model: String,
    candidates: Candidates,
}

impl ChatStream {
    /// A new stream for the configured model name.
    pub fn new(model: &str) -> Self {
        ChatStream {
            model: model.to_owned(),
            candidates: Candidates::default(),
        }
    }
}

impl StreamState for ChatStream {
    type Chunk = pb::ChatChunk;

    fn complete(&self) -> bool {
        self.candidates.complete()
    }

    /// One SSE event as a chunk. Gemini sends function calls whole, so each becomes one tool
    /// call delta with its own running index.
    fn chunk(&mut self, mut r: wire::GenerateResponse, now: i64) -> pb::ChatChunk {
        let mut choices = Vec::with_capacity(r.candidates.len().max(1));
        if blocked(&r) {
            self.candidates.blocked = true;
            choices.push(pb::ChatChunkChoice {
                index: 0,
                finish_reason: Some("content_filter".into()),
                delta: Some(pb::ChatDelta {
                    role: Some("assistant".into()),
                    content: None,
                    tool_calls: Vec::new(),
                }),
            });
        }
        for (pos, cand) in r.candidates.iter_mut().enumerate() {
            let idx = cand.index.unwrap_or(index(pos));
            let Answer { text, calls } = answer(cand);
            let entry = self.candidates.entry(idx);
            let has_calls = !calls.is_empty();
            let tool_calls = calls
                .into_iter()
                .map(|c| {
                    let d = pb::ToolCallDelta {
                        index: entry.1,
                        id: Some(c.id),
                        r#type: Some(c.r#type),
                        function: c.function,
                        thought_signature: c.thought_signature,
                    };
                    entry.1 += 1;
                    d
                })
                .collect();
            let mut finish = cand.finish_reason.as_deref().map(finish_reason);
            if finish.is_some() {
                entry.2 = true;
            }
            if finish.as_deref() == Some("stop") && entry.1 > 0 {
                finish = Some("tool_calls".into());
            }
            let content = if has_calls && text.is_empty() {
                None
            } else {
                Some(text)
            };
            choices.push(pb::ChatChunkChoice {
                index: idx,
                finish_reason: finish,
                delta: Some(pb::ChatDelta {
                    role: Some("assistant".into()),
                    content,
                    tool_calls,
                }),
            });
        }
        pb::ChatChunk {
            id: Some(format!("gemini-chat-stream-{now}")),
            created: now,
            model: self.model.clone(),
            choices,
            usage: r.usage_metadata.map(usage),
            provider: String::new(),
        }
    }
}

/// The state of one streamed completion.
pub struct CompletionStream {
    model: String,
    candidates: Candidates,
}

impl CompletionStream {
    /// A new stream for the configured model name.
    pub fn new(model: &str) -> Self {
        CompletionStream {
            model: model.to_owned(),
            candidates: Candidates::default(),
        }
    }
}

impl StreamState for CompletionStream {
    type Chunk = pb::CompletionChunk;

    fn complete(&self) -> bool {
        self.candidates.complete()
    }

    /// One SSE event as a chunk; MLflow reports no usage on completion streams.
    fn chunk(&mut self, mut r: wire::GenerateResponse, now: i64) -> pb::CompletionChunk {
        let mut choices = Vec::with_capacity(r.candidates.len().max(1));
        if blocked(&r) {
            self.candidates.blocked = true;
            choices.push(pb::CompletionChunkChoice {
                index: 0,
                finish_reason: Some("content_filter".into()),
                text: String::new(),
            });
        }
        for (pos, cand) in r.candidates.iter_mut().enumerate() {
            let idx = cand.index.unwrap_or(index(pos));
            let finish = cand.finish_reason.as_deref().map(finish_reason);
            if finish.is_some() {
                self.candidates.entry(idx).2 = true;
            } else {
                self.candidates.entry(idx);
            }
            choices.push(pb::CompletionChunkChoice {
                index: idx,
                finish_reason: finish,
                text: answer(cand).text,
            });
        }
        pb::CompletionChunk {
            id: Some(format!("gemini-completions-stream-{now}")),
            created: now,
            model: self.model.clone(),
            choices,
            usage: None,
            provider: String::new(),
        }
    }
}

/// An embeddings response: `embeddings[]` (batch) or `embedding` (single), in input order;
/// Gemini reports no token usage. `None` when the response holds no vector at all.
pub fn embed_response(
    r: wire::EmbedResponse,
    model: &str,
    base64: bool,
) -> Option<pb::EmbedResponse> {
    let vectors = match (r.embeddings, r.embedding) {
        (Some(many), _) if !many.is_empty() => many,
        (_, Some(one)) => vec![one],
        _ => return None,
    };
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            if base64 {
                // OpenAI's base64 form, little-endian float32, as the client asked (MLflow
                // ignores `encoding_format` for Gemini and always answers floats).
                let bytes: Vec<u8> = v
                    .values
                    .iter()
                    .flat_map(|x| {
                        #[allow(clippy::cast_possible_truncation)]
                        (*x as f32).to_le_bytes()
                    })
                    .collect();
                pb::Embedding {
                    index: index(i),
                    values: Vec::new(),
                    base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                }
            } else {
                pb::Embedding {
                    index: index(i),
                    values: v.values,
                    base64: None,
                }
            }
        })
        .collect();
    Some(pb::EmbedResponse {
        model: model.to_owned(),
        data,
        usage: None,
        provider: String::new(),
    })
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
