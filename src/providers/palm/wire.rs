//! PaLM's `v1beta3` wire types (spec §3.11): `{model}:generateMessage`, `:generateText` and
//! `:batchEmbedText` bodies borrowed from the proto request, in MLflow's field order (its
//! pydantic order with PaLM's names, then the extras, then `prompt`), and their answers.

#![allow(non_snake_case)] // PaLM's camelCase field names, kept verbatim

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::proto_json::StructWithout as ExtraWithout;
use crate::proto_json::{StructRef, ValueRef};
use crate::providers::openai::wire as oai;

/// Body of `{model}:generateMessage`.
#[derive(Serialize)]
pub struct MessageBody<'a> {
    pub candidateCount: u32,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stopSequences: &'a [String],
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
    pub prompt: MessagePrompt<'a>,
}

/// The `prompt` of a chat call: the messages, plus the client's `examples` and `context`
/// (PaLM-specific extras MLflow moves here).
#[derive(Serialize)]
pub struct MessagePrompt<'a> {
    pub messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub examples: Option<ValueRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<ValueRef<'a>>,
}

/// A chat message with `role` under PaLM's name.
#[derive(Serialize)]
pub struct Message<'a> {
    pub author: &'a str,
    pub content: Cow<'a, str>,
}

/// Body of `{model}:generateText`.
#[derive(Serialize)]
pub struct TextBody<'a> {
    pub candidateCount: u32,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stopSequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maxOutputTokens: Option<u32>,
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
    pub prompt: TextPrompt<'a>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<StructRef<'a>>,
}

#[derive(Serialize)]
pub struct TextPrompt<'a> {
    pub text: &'a str,
}

/// Body of `{model}:batchEmbedText`.
#[derive(Serialize)]
pub struct EmbedBody<'a> {
    pub texts: oai::EmbeddingInput<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<StructRef<'a>>,
}

// ---------------------------------------------------------------------------------------------
// Answers

/// A `generateMessage` answer. A filtered answer has no candidates.
#[derive(Deserialize)]
pub struct MessageAnswer {
    #[serde(default)]
    pub candidates: Vec<MessageCandidate>,
}

#[derive(Deserialize)]
pub struct MessageCandidate {
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub content: Option<String>,
}

/// A `generateText` answer.
#[derive(Deserialize)]
pub struct TextAnswer {
    #[serde(default)]
    pub candidates: Vec<TextCandidate>,
}

#[derive(Deserialize)]
pub struct TextCandidate {
    #[serde(default)]
    pub output: String,
}

/// A `batchEmbedText` answer.
#[derive(Deserialize)]
pub struct EmbedAnswer {
    #[serde(default)]
    pub embeddings: Vec<EmbeddingValue>,
}

#[derive(Deserialize)]
pub struct EmbeddingValue {
    #[serde(default)]
    pub value: Vec<f64>,
}
