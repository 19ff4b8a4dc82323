//! Anthropic's wire types: Messages API and legacy Text Completions request bodies (borrowing
//! from the proto request wherever the text is used unchanged), and the response and stream
//! event types decoded from upstream JSON. These types never leave the `anthropic` module.

use std::borrow::Cow;

use pbjson_types::Struct;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::proto_json::{StructRef, ValueRef};

// ---------------------------------------------------------------------------------------------
// Requests

/// Body of `POST {base}/messages`.
#[derive(Serialize)]
pub struct MessagesBody<'a> {
    pub model: &'a str,
    pub messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    // Anthropic has no penalties; MLflow forwards them anyway and lets the upstream refuse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Extras<'a>>,
}

/// Body of the legacy `POST {base}/complete`.
#[derive(Serialize)]
pub struct CompleteBody<'a> {
    pub model: &'a str,
    pub prompt: String,
    pub max_tokens_to_sample: u32,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Extras<'a>>,
}

/// The client's extra top-level parameters, minus the ones the conversion consumed.
pub struct Extras<'a> {
    pub fields: &'a Struct,
    pub skip: &'static [&'static str],
}

impl Serialize for Extras<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Sorted, as `StructRef` does, so identical requests give identical upstream bodies.
        let mut fields: Vec<_> = self
            .fields
            .fields
            .iter()
            .filter(|(k, _)| !self.skip.contains(&k.as_str()))
            .collect();
        fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut map = s.serialize_map(Some(fields.len()))?;
        for (k, v) in fields {
            map.serialize_entry(k, &ValueRef(v))?;
        }
        map.end()
    }
}

#[derive(Serialize)]
pub struct Message<'a> {
    pub role: &'static str,
    pub content: Content<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum Content<'a> {
    Text(&'a str),
    Blocks(Vec<Block<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block<'a> {
    Text {
        text: Cow<'a, str>,
    },
    Image {
        source: ImageSource<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        /// The call's arguments, forwarded as the client wrote them (validated JSON).
        input: &'a RawValue,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: Content<'a>,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

#[derive(Serialize)]
pub struct Tool<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub input_schema: InputSchema<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum InputSchema<'a> {
    Given(StructRef<'a>),
    /// Anthropic requires a schema; a tool without parameters takes an empty object.
    Empty(serde_json::Value),
}

#[derive(Serialize)]
pub struct ToolChoice<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
}

#[derive(Serialize)]
pub struct OutputConfig {
    pub format: OutputFormat,
}

#[derive(Serialize)]
pub struct OutputFormat {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub schema: serde_json::Value,
}

// ---------------------------------------------------------------------------------------------
// Responses

/// A Messages API response.
#[derive(Deserialize)]
pub struct MessageResponse {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    // Required: a 2xx body without `content` is not an answer (MLflow fails on it too).
    pub content: Vec<ResponseBlock>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    ToolUse {
        #[serde(default)]
        id: String,
        #[serde(default)]
        name: String,
        #[serde(default)]
        input: serde_json::Value,
    },
    /// Images, redacted thinking, server tool results, ...: dropped, as MLflow does.
    #[serde(other)]
    Other,
}

/// Usage as Anthropic reports it; the keys not mapped to the unified counts are kept.
#[derive(Deserialize, Default)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: Option<u32>,
    #[serde(default)]
    pub output_tokens: Option<u32>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u32>,
    /// Everything else, including `cache_creation_input_tokens` (kept under its name).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A legacy Text Completions response.
#[derive(Deserialize)]
pub struct CompleteResponse {
    // Required, as `content` above.
    pub completion: String,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Stream events (the `type` of each SSE data payload; `event:` lines carry the same name)

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        #[serde(default)]
        index: u32,
        content_block: StartBlock,
    },
    ContentBlockDelta {
        #[serde(default)]
        index: u32,
        delta: BlockDelta,
    },
    ContentBlockStop,
    MessageDelta {
        #[serde(default)]
        delta: MessageDelta,
        #[serde(default)]
        usage: Option<Usage>,
    },
    MessageStop,
    Ping,
    Error {
        #[serde(default)]
        error: StreamError,
    },
    /// Event types added after this was written are ignored, as Anthropic's versioning
    /// policy asks of clients.
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
pub struct StartMessage {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StartBlock {
    Text,
    ToolUse {
        #[serde(default)]
        id: String,
        #[serde(default)]
        name: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta {
    TextDelta {
        #[serde(default)]
        text: String,
    },
    InputJsonDelta {
        #[serde(default)]
        partial_json: String,
    },
    /// Thinking, signature and citation deltas: a chunk without content, as MLflow emits.
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
pub struct MessageDelta {
    #[serde(default)]
    pub stop_reason: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct StreamError {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}
