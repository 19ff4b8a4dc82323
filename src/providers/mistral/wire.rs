//! Mistral's wire types where they differ from OpenAI's (spec §3.14). Chat requests, chat
//! responses and stream chunks have OpenAI's shapes and use `openai::wire` directly; what is
//! Mistral's own is the completions-over-chat body (no `n`, no `stop`, a single user message) and
//! the embeddings response, whose `index` MLflow takes from the upstream rather than by position.

use serde::{Deserialize, Serialize};

use crate::proto_json::StructRef;
use crate::providers::openai::wire as oai;

/// Body of `POST {base}/chat/completions` for a completions call.
#[derive(Serialize)]
pub struct CompletionAsChatBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    pub messages: [UserMessage<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<oai::ResponseFormat<'a>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<StructRef<'a>>,
}

/// The one message a completions prompt becomes.
#[derive(Serialize)]
pub struct UserMessage<'a> {
    pub role: &'static str,
    pub content: &'a str,
}

/// An embeddings response.
#[derive(Deserialize)]
pub struct Embeddings {
    #[serde(default)]
    pub data: Vec<EmbeddingItem>,
    #[serde(default)]
    pub usage: Option<oai::Usage>,
}

#[derive(Deserialize)]
pub struct EmbeddingItem {
    pub embedding: oai::EmbeddingVector,
    #[serde(default)]
    pub index: Option<u32>,
}
