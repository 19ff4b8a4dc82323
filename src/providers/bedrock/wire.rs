//! Bedrock's wire types: the Converse request (borrowing from the proto request), the Converse
//! response and ConverseStream event payloads, and the InvokeModel bodies and answers of the
//! model families served for completions and embeddings. They never leave the `bedrock` module.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::proto_json::StructRef;

// ---------------------------------------------------------------------------------------------
// Converse requests

/// Body of `POST /model/{id}/converse` and `/converse-stream`.
#[derive(Serialize)]
pub struct ConverseBody<'a> {
    pub messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemBlock>,
    #[serde(
        rename = "inferenceConfig",
        skip_serializing_if = "InferenceConfig::is_empty"
    )]
    pub inference_config: InferenceConfig<'a>,
    #[serde(rename = "toolConfig", skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig<'a>>,
}

#[derive(Serialize)]
pub struct SystemBlock {
    pub text: String,
}

#[derive(Serialize)]
pub struct Message<'a> {
    pub role: &'static str,
    pub content: Vec<Block<'a>>,
}

/// A content block: exactly one key, as Converse's union types are written.
#[derive(Serialize)]
pub enum Block<'a> {
    #[serde(rename = "text")]
    Text(String),
    #[serde(rename = "image")]
    Image(Image<'a>),
    #[serde(rename = "toolUse")]
    ToolUse(ToolUse<'a>),
    #[serde(rename = "toolResult")]
    ToolResult(ToolResult),
}

#[derive(Serialize)]
pub struct Image<'a> {
    pub format: &'static str,
    pub source: ImageSource<'a>,
}

/// Blobs travel base64-encoded in Converse's JSON protocol, so a data URL's payload is used as is.
#[derive(Serialize)]
pub struct ImageSource<'a> {
    pub bytes: &'a str,
}

#[derive(Serialize)]
pub struct ToolUse<'a> {
    #[serde(rename = "toolUseId")]
    pub tool_use_id: &'a str,
    pub name: &'a str,
    pub input: ToolInput<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum ToolInput<'a> {
    /// The arguments the client sent (validated JSON), forwarded verbatim.
    Given(&'a RawValue),
    /// No arguments: `{}`, as MLflow sends.
    Empty(serde_json::Map<String, serde_json::Value>),
}

#[derive(Serialize)]
pub struct ToolResult {
    #[serde(rename = "toolUseId")]
    pub tool_use_id: String,
    pub content: Vec<ToolResultText>,
}

#[derive(Serialize)]
pub struct ToolResultText {
    pub text: String,
}

#[derive(Serialize, Default)]
pub struct InferenceConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(rename = "topP", skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(rename = "maxTokens", skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(rename = "stopSequences", skip_serializing_if = "<[String]>::is_empty")]
    pub stop_sequences: &'a [String],
}

impl InferenceConfig<'_> {
    fn is_empty(&self) -> bool {
        self.temperature.is_none()
            && self.top_p.is_none()
            && self.max_tokens.is_none()
            && self.stop_sequences.is_empty()
    }
}

#[derive(Serialize)]
pub struct ToolConfig<'a> {
    pub tools: Vec<Tool<'a>>,
    #[serde(rename = "toolChoice", skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice<'a>>,
}

#[derive(Serialize)]
pub struct Tool<'a> {
    #[serde(rename = "toolSpec")]
    pub tool_spec: ToolSpec<'a>,
}

#[derive(Serialize)]
pub struct ToolSpec<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(rename = "inputSchema")]
    pub input_schema: InputSchema<'a>,
}

#[derive(Serialize)]
pub struct InputSchema<'a> {
    pub json: Schema<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum Schema<'a> {
    Given(StructRef<'a>),
    Empty(serde_json::Value),
}

#[derive(Serialize)]
pub enum ToolChoice<'a> {
    #[serde(rename = "auto")]
    Auto(Empty),
    #[serde(rename = "any")]
    Any(Empty),
    #[serde(rename = "tool")]
    Tool { name: &'a str },
}

/// `{}`.
#[derive(Serialize)]
pub struct Empty {}

// ---------------------------------------------------------------------------------------------
// Converse responses and stream events

#[derive(Deserialize)]
pub struct ConverseResponse {
    // Required (null allowed): a 2xx body without `output` is not an answer (MLflow fails on it
    // too). `deserialize_with` turns off serde's implicit `None` for a missing `Option`.
    #[serde(deserialize_with = "Option::deserialize")]
    pub output: Option<Output>,
    #[serde(default, rename = "stopReason")]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Deserialize)]
pub struct Output {
    #[serde(default)]
    pub message: Option<OutputMessage>,
}

#[derive(Deserialize)]
pub struct OutputMessage {
    #[serde(default)]
    pub content: Vec<OutputBlock>,
}

/// A response block; kinds other than text and tool use (reasoning, citations, ...) are
/// dropped, as MLflow does.
#[derive(Deserialize)]
pub struct OutputBlock {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default, rename = "toolUse")]
    pub tool_use: Option<OutputToolUse>,
}

#[derive(Deserialize)]
pub struct OutputToolUse {
    #[serde(default, rename = "toolUseId")]
    pub tool_use_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub input: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
pub struct Usage {
    #[serde(default, rename = "inputTokens")]
    pub input_tokens: Option<u32>,
    #[serde(default, rename = "outputTokens")]
    pub output_tokens: Option<u32>,
    #[serde(default, rename = "totalTokens")]
    pub total_tokens: Option<u32>,
    #[serde(default, rename = "cacheReadInputTokens")]
    pub cache_read_input_tokens: Option<u32>,
    #[serde(default, rename = "cacheWriteInputTokens")]
    pub cache_write_input_tokens: Option<u32>,
}

/// `contentBlockStart` payload.
#[derive(Deserialize)]
pub struct BlockStart {
    #[serde(default, rename = "contentBlockIndex")]
    pub index: u32,
    #[serde(default)]
    pub start: Option<StartKind>,
}

#[derive(Deserialize)]
pub struct StartKind {
    #[serde(default, rename = "toolUse")]
    pub tool_use: Option<StartToolUse>,
}

#[derive(Deserialize)]
pub struct StartToolUse {
    #[serde(default, rename = "toolUseId")]
    pub tool_use_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// `contentBlockDelta` payload.
#[derive(Deserialize)]
pub struct BlockDelta {
    #[serde(default, rename = "contentBlockIndex")]
    pub index: u32,
    #[serde(default)]
    pub delta: Option<DeltaKind>,
}

#[derive(Deserialize)]
pub struct DeltaKind {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default, rename = "toolUse")]
    pub tool_use: Option<DeltaToolUse>,
}

#[derive(Deserialize)]
pub struct DeltaToolUse {
    #[serde(default)]
    pub input: Option<serde_json::Value>,
}

/// `messageStop` payload.
#[derive(Deserialize)]
pub struct MessageStop {
    #[serde(default, rename = "stopReason")]
    pub stop_reason: Option<String>,
}

/// `metadata` payload.
#[derive(Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// The JSON payload of an exception frame.
#[derive(Deserialize, Default)]
pub struct ExceptionPayload {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, rename = "Message")]
    pub message_upper: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// InvokeModel: embeddings (Titan format) and completion answers

/// Body of one Titan-style embeddings call.
#[derive(Serialize)]
pub struct EmbedBody<'a> {
    #[serde(rename = "inputText")]
    pub input_text: &'a str,
    /// Titan v2's vector length (MLflow sends only `inputText`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
}

/// One embeddings answer.
#[derive(Deserialize)]
pub struct EmbedAnswer {
    #[serde(default)]
    pub embedding: Vec<f64>,
    #[serde(default, rename = "inputTextTokenCount")]
    pub input_text_token_count: Option<u32>,
}

/// Titan text answer.
#[derive(Deserialize)]
pub struct TitanAnswer {
    #[serde(default)]
    pub results: Vec<TitanResult>,
}

#[derive(Deserialize)]
pub struct TitanResult {
    #[serde(default, rename = "outputText")]
    pub output_text: Option<String>,
}

/// AI21 Jurassic answer.
#[derive(Deserialize)]
pub struct Ai21Answer {
    #[serde(default)]
    pub completions: Vec<Ai21Completion>,
}

#[derive(Deserialize)]
pub struct Ai21Completion {
    #[serde(default)]
    pub data: Option<Ai21Data>,
}

#[derive(Deserialize)]
pub struct Ai21Data {
    #[serde(default)]
    pub text: Option<String>,
}

/// Cohere Command (generate) answer.
#[derive(Deserialize)]
pub struct CohereAnswer {
    #[serde(default)]
    pub generations: Vec<CohereGeneration>,
}

#[derive(Deserialize)]
pub struct CohereGeneration {
    #[serde(default)]
    pub text: Option<String>,
}

/// Meta Llama answer.
#[derive(Deserialize)]
pub struct MetaAnswer {
    #[serde(default)]
    pub generation: Option<String>,
    #[serde(default)]
    pub prompt_token_count: Option<u32>,
    #[serde(default)]
    pub generation_token_count: Option<u32>,
    #[serde(default)]
    pub stop_reason: Option<String>,
}

/// Mistral (text completion) answer.
#[derive(Deserialize)]
pub struct MistralAnswer {
    #[serde(default)]
    pub outputs: Vec<MistralOutput>,
}

#[derive(Deserialize)]
pub struct MistralOutput {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub stop_reason: Option<String>,
}
