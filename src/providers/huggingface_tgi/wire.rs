//! Text Generation Inference's `POST /generate` wire types (spec §3.9): the request body with
//! its `parameters` object, borrowed from the proto request, and the response.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::proto_json::StructRef;
use crate::providers::openai::wire as oai;

/// Body of `POST {hf_server_url}/generate`.
#[derive(Serialize)]
pub struct GenerateBody<'a> {
    pub inputs: &'a str,
    pub parameters: Parameters<'a>,
}

/// The generation parameters, in MLflow's order: the client's fields (`max_tokens` renamed
/// `max_new_tokens`, temperature rescaled), its extra fields, then the two detail flags that
/// make TGI report token counts.
#[derive(Serialize)]
pub struct Parameters<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_new_tokens: Option<u32>,
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
    pub details: bool,
    pub decoder_input_details: bool,
}

/// A `/generate` response. Some TGI front-ends (the hosted Inference API) wrap it in a list.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Response {
    One(Generated),
    Many(Vec<Generated>),
}

#[derive(Deserialize)]
pub struct Generated {
    #[serde(default)]
    pub generated_text: String,
    #[serde(default)]
    pub details: Option<Details>,
}

#[derive(Deserialize)]
pub struct Details {
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub generated_tokens: Option<u32>,
    /// The prompt's tokens (present because `decoder_input_details` was asked for); only
    /// their number is used.
    #[serde(default)]
    pub prefill: Vec<IgnoredAny>,
}
