//! Gemini's wire types (Google AI Studio, `generativelanguage.googleapis.com`): request bodies
//! that borrow from the proto request and are serialised straight into the upstream body, and
//! the response types decoded from `generateContent`, `streamGenerateContent` (one
//! `GenerateResponse` per SSE event) and the embeddings calls. Nothing here leaves the `gemini`
//! module.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::proto_json::StructRef;

// ---------------------------------------------------------------------------------------------
// Requests

/// Body of `{model}:generateContent` and `{model}:streamGenerateContent`, keys in MLflow's order.
#[derive(Serialize)]
pub struct GenerateBody<'a> {
    pub contents: Vec<Content<'a>>,
    /// Snake case on the wire, as MLflow sends it (the API accepts both spellings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<SystemInstruction<'a>>,
    #[serde(rename = "generationConfig", skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolGroup<'a>>,
    #[serde(rename = "toolConfig", skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig<'a>>,
}

/// One conversation turn.
#[derive(Serialize)]
pub struct Content<'a> {
    /// `user` or `model`.
    pub role: &'static str,
    pub parts: Vec<Part<'a>>,
}

#[derive(Serialize)]
pub struct SystemInstruction<'a> {
    pub parts: Vec<TextPart<'a>>,
}

#[derive(Serialize)]
pub struct TextPart<'a> {
    pub text: Cow<'a, str>,
}

/// A part of a turn; the variant is told apart by its single key, as Gemini's `Part` oneof is.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Part<'a> {
    Text {
        text: Cow<'a, str>,
    },
    InlineData {
        #[serde(rename = "inlineData")]
        inline_data: InlineData<'a>,
    },
    FunctionCall {
        #[serde(rename = "functionCall")]
        function_call: FunctionCallOut<'a>,
        #[serde(rename = "thoughtSignature", skip_serializing_if = "Option::is_none")]
        thought_signature: Option<&'a str>,
    },
    FunctionResponse {
        #[serde(rename = "functionResponse")]
        function_response: FunctionResponse<'a>,
    },
}

#[derive(Serialize)]
pub struct InlineData<'a> {
    #[serde(rename = "mimeType")]
    pub mime_type: Cow<'a, str>,
    pub data: &'a str,
}

#[derive(Serialize)]
pub struct FunctionCallOut<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The client's `arguments` text, validated as JSON and written through unchanged.
    pub args: &'a RawValue,
}

#[derive(Serialize)]
pub struct FunctionResponse<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub response: ToolResult<'a>,
}

/// A tool result: the client's JSON object as it wrote it, else its text wrapped as `{"result": ...}`.
#[derive(Serialize)]
#[serde(untagged)]
pub enum ToolResult<'a> {
    Object(&'a RawValue),
    Wrapped { result: Cow<'a, str> },
}

/// `generationConfig`, keys in the order MLflow builds it from the request fields.
#[derive(Serialize, Default)]
pub struct GenerationConfig<'a> {
    #[serde(rename = "candidateCount", skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    #[serde(rename = "stopSequences", skip_serializing_if = "<[String]>::is_empty")]
    pub stop_sequences: &'a [String],
    #[serde(rename = "maxOutputTokens", skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(rename = "topP", skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(rename = "topK", skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(rename = "presencePenalty", skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(rename = "frequencyPenalty", skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(rename = "responseJsonSchema", skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<StructRef<'a>>,
    #[serde(rename = "responseMimeType", skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<&'static str>,
}

#[derive(Serialize)]
pub struct ToolGroup<'a> {
    #[serde(rename = "functionDeclarations")]
    pub function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Serialize)]
pub struct FunctionDeclaration<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(
        rename = "parametersJsonSchema",
        skip_serializing_if = "Option::is_none"
    )]
    pub parameters_json_schema: Option<StructRef<'a>>,
}

#[derive(Serialize)]
pub struct ToolConfig<'a> {
    #[serde(rename = "functionCallingConfig")]
    pub function_calling_config: FunctionCallingConfig<'a>,
}

#[derive(Serialize)]
pub struct FunctionCallingConfig<'a> {
    /// `NONE` or `ANY` (`auto` is Gemini's default and sends nothing).
    pub mode: &'static str,
    #[serde(
        rename = "allowedFunctionNames",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_function_names: Option<[&'a str; 1]>,
}

/// Body of `{model}:embedContent` (one input).
#[derive(Serialize)]
pub struct EmbedBody<'a> {
    pub content: EmbedContent<'a>,
    #[serde(
        rename = "outputDimensionality",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_dimensionality: Option<u32>,
}

/// Body of `{model}:batchEmbedContents` (several inputs).
#[derive(Serialize)]
pub struct BatchEmbedBody<'a> {
    pub requests: Vec<BatchEmbedRequest<'a>>,
}

#[derive(Serialize)]
pub struct BatchEmbedRequest<'a> {
    /// `models/{name}`: the batch API names the model in every request.
    pub model: &'a str,
    pub content: EmbedContent<'a>,
    #[serde(
        rename = "outputDimensionality",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_dimensionality: Option<u32>,
}

#[derive(Serialize)]
pub struct EmbedContent<'a> {
    pub parts: [TextPart<'a>; 1],
}

// ---------------------------------------------------------------------------------------------
// Responses

/// A `generateContent` response, or one event of a `streamGenerateContent` stream.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GenerateResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    #[serde(default)]
    pub content: Option<CandidateContent>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub index: Option<u32>,
}

#[derive(Deserialize, Default)]
pub struct CandidateContent {
    #[serde(default)]
    pub parts: Vec<ResponsePart>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResponsePart {
    #[serde(default)]
    pub text: Option<String>,
    /// A thought summary (only sent when thoughts are requested); not part of the answer.
    #[serde(default)]
    pub thought: Option<bool>,
    #[serde(default)]
    pub function_call: Option<FunctionCallIn>,
    #[serde(default)]
    pub thought_signature: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct FunctionCallIn {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    /// Decoded as a value (key order kept) because MLflow re-serialises it with `json.dumps`.
    #[serde(default)]
    pub args: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    #[serde(default)]
    pub block_reason: Option<String>,
}

/// `usageMetadata`; keys other than the counted ones are kept (MLflow keeps them as extras).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(default)]
    pub prompt_token_count: Option<u32>,
    #[serde(default)]
    pub candidates_token_count: Option<u32>,
    #[serde(default)]
    pub total_token_count: Option<u32>,
    #[serde(default)]
    pub cached_content_token_count: Option<u32>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// An `embedContent` (`embedding`) or `batchEmbedContents` (`embeddings`) response.
#[derive(Deserialize, Default)]
pub struct EmbedResponse {
    #[serde(default)]
    pub embeddings: Option<Vec<EmbeddingValues>>,
    #[serde(default)]
    pub embedding: Option<EmbeddingValues>,
}

#[derive(Deserialize, Default)]
pub struct EmbeddingValues {
    #[serde(default)]
    pub values: Vec<f64>,
}
