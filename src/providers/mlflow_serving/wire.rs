//! The wire types of an MLflow model server's `POST /invocations` (spec §3.8): a body
//! `{"inputs": [...], "params": {...}}` borrowed from the proto request. Responses are read as
//! `serde_json::Value`, because the `predictions` they carry come in several forms that
//! `convert.rs` tells apart (and reports in pydantic's words when none fits).

use serde::Serialize;

use crate::proto_json::StructRef;
use crate::providers::openai::wire as oai;

/// The request body. `params` is left out when there is nothing to send (embeddings only:
/// chat and completions always carry `n`).
#[derive(Serialize)]
pub struct Body<I: Serialize, P: Serialize> {
    pub inputs: I,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<P>,
}

/// The one chat input: the text of a single message, its parts as the client sent them, or
/// (our extension) a transcript of several messages.
#[derive(Serialize)]
#[serde(untagged)]
pub enum ChatInput<'a> {
    /// A single message's `content`: text, parts, or null.
    Content(Option<oai::Content<'a>>),
    /// Several messages, one `role: text` line each.
    Transcript(String),
}

/// Chat `params`: every non-null request field but the messages, in MLflow's order.
#[derive(Serialize)]
pub struct ChatParams<'a> {
    /// A client's `model`, forwarded as MLflow forwards it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    #[serde(flatten)]
    pub params: oai::Params<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<oai::Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<oai::ToolChoice<'a>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<StructRef<'a>>,
}

/// Completions `params`: every non-null request field but the prompt.
#[derive(Serialize)]
pub struct CompletionParams<'a> {
    /// A client's `model`, forwarded as MLflow forwards it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    #[serde(flatten)]
    pub params: oai::Params<'a>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<StructRef<'a>>,
}

/// Embeddings `inputs`: the client's list as it is, a single text wrapped in a list.
#[derive(Serialize)]
#[serde(untagged)]
pub enum EmbeddingInputs<'a> {
    Texts(&'a [String]),
    Tokens(&'a [u32]),
    TokenLists(Vec<&'a [u32]>),
}

/// Embeddings `params`: every non-null request field but the input.
#[derive(Serialize)]
pub struct EmbeddingParams<'a> {
    /// A client's `model`, forwarded as MLflow forwards it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<StructRef<'a>>,
}
