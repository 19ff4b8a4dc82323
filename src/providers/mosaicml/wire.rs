//! MosaicML's `POST {base}/{model}/v1/predict` wire types (spec §3.12): one body shape,
//! `{"inputs": [...], "parameters": {...}}`, borrowed from the proto request, and the
//! `{"outputs": [...]}` answer (texts for chat and completions, vectors for embeddings).

use serde::{Deserialize, Serialize};

use crate::proto_json::StructRef;
use crate::providers::openai::wire as oai;

/// Body of a chat or completions call: the prompt as the one input, every other non-null field
/// of the client's request under `parameters`.
#[derive(Serialize)]
pub struct PredictBody<'a> {
    pub inputs: [&'a str; 1],
    pub parameters: Parameters<'a>,
}

/// The client's fields in MLflow's order (its pydantic field order, then the extras), with
/// `max_tokens` under MosaicML's name. Tools are forwarded as MLflow forwards them.
#[derive(Serialize)]
pub struct Parameters<'a> {
    pub n: u32,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_new_tokens: Option<u32>,
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
    pub extra: Option<StructRef<'a>>,
}

/// Body of an embeddings call: the client's payload with `input` renamed `inputs` (a single
/// text wrapped in a list), extras at the top level as MLflow sends them.
#[derive(Serialize)]
pub struct EmbedBody<'a> {
    pub inputs: oai::EmbeddingInput<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<StructRef<'a>>,
}

/// A `predict` answer. `outputs` is required; its absence is reported, not defaulted.
#[derive(Deserialize)]
pub struct Outputs<T> {
    #[serde(default = "Option::default")]
    pub outputs: Option<Vec<T>>,
}
