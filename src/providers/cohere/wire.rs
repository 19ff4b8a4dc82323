//! Cohere's legacy v1 wire types (spec §3.10): `POST /chat`, `/generate` and `/embed` bodies
//! borrowed from the proto request, their answers, and the newline-delimited JSON events of the
//! streamed calls. Field order follows MLflow's (its pydantic field order, then the extras, then
//! the fields it adds), so upstream bodies match MLflow's byte for byte where they can.

use serde::{Deserialize, Serialize};

pub use crate::proto_json::StructWithout as ExtraWithout;
use crate::providers::openai::wire as oai;

/// Body of `POST {base}/chat`.
#[derive(Serialize)]
pub struct ChatBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<oai::ResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<oai::Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<oai::ToolChoice<'a>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<ExtraWithout<'a>>,
    pub message: std::borrow::Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preamble_override: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chat_history: Vec<HistoryEntry<'a>>,
}

/// One earlier turn of a chat.
#[derive(Serialize)]
pub struct HistoryEntry<'a> {
    pub role: &'static str,
    pub message: std::borrow::Cow<'a, str>,
}

/// Body of `POST {base}/generate`.
#[derive(Serialize)]
pub struct GenerateBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    pub num_generations: u32,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<oai::ResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    pub prompt: &'a str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<crate::proto_json::StructRef<'a>>,
}

/// Body of `POST {base}/embed`.
#[derive(Serialize)]
pub struct EmbedBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    pub texts: oai::EmbeddingInput<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<crate::proto_json::StructRef<'a>>,
}

// ---------------------------------------------------------------------------------------------
// Answers

/// A `/chat` answer (also the `response` of a chat stream's `stream-end` event).
#[derive(Deserialize)]
pub struct Chat {
    #[serde(default)]
    pub response_id: Option<String>,
    // Required (null allowed): a 2xx body without `text` is not an answer. `deserialize_with`
    // turns off serde's implicit `None` for a missing `Option`.
    #[serde(deserialize_with = "Option::deserialize")]
    pub text: Option<String>,
    #[serde(default)]
    pub token_count: Option<TokenCount>,
}

#[derive(Deserialize)]
pub struct TokenCount {
    #[serde(default)]
    pub prompt_tokens: Option<u32>,
    #[serde(default)]
    pub response_tokens: Option<u32>,
    #[serde(default)]
    pub total_tokens: Option<u32>,
}

/// A `/generate` answer (also the `response` of a generate stream's final event).
#[derive(Deserialize)]
pub struct Generate {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub generations: Vec<Generation>,
}

#[derive(Deserialize)]
pub struct Generation {
    #[serde(default)]
    pub text: String,
}

/// An `/embed` answer (float vectors: the legacy API's default form).
#[derive(Deserialize)]
pub struct Embed {
    #[serde(default)]
    pub embeddings: Vec<Vec<f64>>,
}

/// One line of a streamed `/chat` (`R` = [`Chat`]) or `/generate` (`R` = [`Generate`]) answer.
#[derive(Deserialize)]
pub struct StreamEvent<R> {
    #[serde(default)]
    pub event_type: Option<String>,
    #[serde(default)]
    pub is_finished: bool,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// The whole answer, on the final event.
    #[serde(default = "Option::default")]
    pub response: Option<R>,
    /// Set on an error object sent in place of an event.
    #[serde(default)]
    pub message: Option<serde_json::Value>,
}
