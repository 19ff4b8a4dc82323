//! AI21 Studio's `POST {base}/{model}/complete` wire types (spec §3.13): the request body with
//! MLflow's three renames, borrowed from the proto request, and the response.

#![allow(non_snake_case)] // AI21's camelCase field names, kept verbatim

use serde::{Deserialize, Serialize};

use crate::proto_json::StructRef;
use crate::providers::openai::wire as oai;

/// Body of a `complete` call: the client's fields with `n`, `stop` and `max_tokens` under
/// AI21's names, everything else (extra fields included) forwarded as it is.
#[derive(Serialize)]
pub struct CompleteBody<'a> {
    pub prompt: &'a str,
    pub numResults: u32,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stopSequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maxTokens: Option<u32>,
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

/// A `complete` response.
#[derive(Deserialize)]
pub struct Complete {
    #[serde(default)]
    pub completions: Vec<Completion>,
}

#[derive(Deserialize)]
pub struct Completion {
    #[serde(default)]
    pub data: Option<Data>,
    #[serde(default)]
    pub finishReason: Option<FinishReason>,
}

#[derive(Deserialize)]
pub struct Data {
    #[serde(default)]
    pub text: String,
}

#[derive(Deserialize)]
pub struct FinishReason {
    #[serde(default)]
    pub reason: Option<String>,
}
