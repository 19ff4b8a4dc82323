//! InvokeModel (`POST {base}/model/{id}/invoke`): completions in the body format of the model's
//! family (spec §3.7), and Titan-style embeddings, one call per input.
//!
//! The family is found as MLflow finds it: the first of `amazon`, `cohere`, `ai21`, `anthropic`
//! contained in the lower-cased id (so region prefixes such as `us.anthropic...` work), and the
//! id must contain a `.`. MLflow knows no other family; Meta Llama and Mistral are served here
//! too (MLflow answers them with its 422). The request carries only what the client set
//! (MLflow serialises with `exclude_none` and `exclude_defaults`, so `n: 1` is not sent).

use serde_json::{Map, Value, json};

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::proto_json::to_json_value;
use crate::providers::anthropic;
use crate::providers::http::encode_json;

use super::wire;

/// Bedrock caps legacy Claude completions at this many tokens (MLflow's constant).
const ANTHROPIC_MAXIMUM_MAX_TOKENS: u64 = 8191;

fn unprocessable(msg: impl Into<String>) -> GatewayError {
    GatewayError::Unprocessable(msg.into())
}

/// The model families InvokeModel bodies are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Amazon,
    Cohere,
    Ai21,
    Anthropic,
    Meta,
    Mistral,
}

impl Family {
    /// The family of a model id, or MLflow's 422.
    pub fn of(model: &str) -> Result<Family, GatewayError> {
        let lower = model.to_ascii_lowercase();
        let found = model.contains('.').then(|| {
            [
                ("amazon", Family::Amazon),
                ("cohere", Family::Cohere),
                ("ai21", Family::Ai21),
                ("anthropic", Family::Anthropic),
                ("meta", Family::Meta),
                ("mistral", Family::Mistral),
            ]
            .into_iter()
            .find(|(name, _)| lower.contains(name))
            .map(|(_, f)| f)
        });
        found
            .flatten()
            .ok_or_else(|| unprocessable("Unknown Amazon Bedrock model type None"))
    }
}

fn py_float(v: f64) -> String {
    let mut out = Vec::new();
    crate::pyjson::write_py_float(&mut out, v);
    String::from_utf8_lossy(&out).into_owned()
}

/// The client's parameters as MLflow's payload holds them (set fields only, `n` only when
/// not 1), keyed by MLflow's names, in its field order; extras last.
fn params(req: &pb::CompletionRequest) -> Result<Map<String, Value>, GatewayError> {
    if req.response_format.is_some() {
        return Err(unprocessable(
            "response_format is not supported by Amazon Bedrock completions.",
        ));
    }
    let mut p = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            p.insert(k.to_owned(), v);
        }
    };
    put("temperature", req.temperature.map(Value::from));
    put("n", req.n.filter(|n| *n != 1).map(Value::from));
    put("stop", (!req.stop.is_empty()).then(|| json!(req.stop)));
    put("max_tokens", req.max_tokens.map(Value::from));
    put(
        "max_completion_tokens",
        req.max_completion_tokens.map(Value::from),
    );
    put("top_p", req.top_p.map(Value::from));
    put("presence_penalty", req.presence_penalty.map(Value::from));
    put("frequency_penalty", req.frequency_penalty.map(Value::from));
    put("top_k", req.top_k.map(Value::from));
    if let Some(extra) = &req.extra_params {
        let mut keys: Vec<&String> = extra.fields.keys().collect();
        keys.sort_unstable();
        for k in keys {
            p.insert(k.clone(), to_json_value(&extra.fields[k]));
        }
    }
    Ok(p)
}

fn rename(mut p: Map<String, Value>, renames: &[(&str, &str)]) -> Map<String, Value> {
    // Renamed keys keep their position, as Python's `rename_payload_keys` builds a new dict.
    if renames.iter().all(|(from, _)| !p.contains_key(*from)) {
        return p;
    }
    let mut out = Map::with_capacity(p.len());
    for (k, v) in std::mem::take(&mut p) {
        let k = renames
            .iter()
            .find(|(from, _)| *from == k)
            .map_or(k, |(_, to)| (*to).to_owned());
        out.insert(k, v);
    }
    out
}

fn with_prompt(prompt: &str, rest: Map<String, Value>) -> Value {
    let mut body = Map::with_capacity(rest.len() + 1);
    body.insert("prompt".into(), Value::from(prompt));
    body.extend(rest);
    Value::Object(body)
}

fn refuse(p: &Map<String, Value>, keys: &[&str], family: &str) -> Result<(), GatewayError> {
    match keys.iter().find(|k| p.contains_key(**k)) {
        Some(k) => Err(unprocessable(format!(
            "'{k}' is not supported by {family} models on Amazon Bedrock."
        ))),
        None => Ok(()),
    }
}

/// The InvokeModel body of a completion request, or MLflow's 422.
pub fn complete_body(family: Family, req: &pb::CompletionRequest) -> Result<Vec<u8>, GatewayError> {
    let body = match family {
        Family::Anthropic => anthropic_body(req)?,
        Family::Amazon => {
            let mut p = params(req)?;
            if let Some(n) = p.remove("n") {
                return Err(unprocessable(format!(
                    "'n' must be '1' for AWS Titan models. Received value: '{n}'."
                )));
            }
            if let Some(t) = req.top_p.filter(|t| *t == 0.0) {
                return Err(unprocessable(format!(
                    "'top_p' must be greater than 0 for AWS Titan models. Received value: '{}'.",
                    py_float(t)
                )));
            }
            // Titan's temperature range is 0-1, the unified one 0-2.
            if let Some(t) = req.temperature {
                p.insert("temperature".into(), Value::from(t * 0.5));
            }
            let config = rename(
                p,
                &[
                    ("max_tokens", "maxTokenCount"),
                    ("stop", "stopSequences"),
                    ("top_p", "topP"),
                ],
            );
            json!({"inputText": req.prompt, "textGenerationConfig": config})
        }
        Family::Ai21 => {
            let p = rename(
                params(req)?,
                &[
                    ("stop", "stopSequences"),
                    ("n", "numResults"),
                    ("max_tokens", "maxTokens"),
                    ("top_p", "topP"),
                ],
            );
            with_prompt(&req.prompt, p)
        }
        Family::Cohere => {
            let mut p = params(req)?;
            for (ours, theirs) in [("stop", "stop_sequences"), ("n", "num_generations")] {
                if p.contains_key(theirs) {
                    return Err(GatewayError::BadRequest(format!(
                        "Invalid parameter {theirs}. Use {ours} instead."
                    )));
                }
            }
            // Cohere's range is 0-5; MLflow scales only a non-zero temperature.
            if let Some(t) = req.temperature.filter(|t| *t != 0.0) {
                p.insert("temperature".into(), Value::from(t * 2.5));
            }
            let p = rename(p, &[("stop", "stop_sequences"), ("n", "num_generations")]);
            with_prompt(&req.prompt, p)
        }
        Family::Meta => {
            let p = params(req)?;
            refuse(
                &p,
                &[
                    "n",
                    "stop",
                    "top_k",
                    "presence_penalty",
                    "frequency_penalty",
                ],
                "Meta Llama",
            )?;
            let mut p = p;
            if let Some(max) = p
                .remove("max_tokens")
                .or_else(|| p.remove("max_completion_tokens"))
            {
                p.insert("max_gen_len".into(), max);
            }
            p.remove("max_completion_tokens");
            with_prompt(&req.prompt, p)
        }
        Family::Mistral => {
            let mut p = params(req)?;
            refuse(
                &p,
                &["n", "presence_penalty", "frequency_penalty"],
                "Mistral",
            )?;
            if let Some(max) = p.remove("max_completion_tokens")
                && !p.contains_key("max_tokens")
            {
                p.insert("max_tokens".into(), max);
            }
            with_prompt(&req.prompt, p)
        }
    };
    encode_json(&body)
}

/// MLflow's Anthropic completions body (§3.4, shared with the Anthropic provider) minus
/// `model`, with Bedrock's additions: `\n\nHuman:` as a stop sequence, at most 8191 tokens,
/// `anthropic_version`.
fn anthropic_body(req: &pb::CompletionRequest) -> Result<Value, GatewayError> {
    let body = anthropic::convert::complete_body(req, "")?;
    let mut body = match serde_json::to_value(&body) {
        Ok(Value::Object(map)) => map,
        _ => return Err(GatewayError::Internal("could not build the request".into())),
    };
    body.remove("model");
    let max = body
        .get("max_tokens_to_sample")
        .and_then(Value::as_u64)
        .unwrap_or(ANTHROPIC_MAXIMUM_MAX_TOKENS);
    body.insert(
        "max_tokens_to_sample".into(),
        Value::from(max.min(ANTHROPIC_MAXIMUM_MAX_TOKENS)),
    );
    let stops = body
        .entry("stop_sequences")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(stops) = stops
        && !stops.iter().any(|s| s == "\n\nHuman:")
    {
        stops.push(Value::from("\n\nHuman:"));
    }
    body.insert(
        "anthropic_version".into(),
        Value::from("bedrock-2023-05-31"),
    );
    Ok(Value::Object(body))
}

fn decode<T: serde::de::DeserializeOwned>(answer: Value) -> Result<T, GatewayError> {
    serde_json::from_value(answer).map_err(|e| {
        GatewayError::UpstreamBadResponse(format!(
            "The Amazon Bedrock response could not be parsed: {e}."
        ))
    })
}

fn choices(
    texts: impl IntoIterator<Item = (Option<String>, Option<String>)>,
) -> Vec<pb::CompletionChoice> {
    texts
        .into_iter()
        .enumerate()
        .map(|(i, (text, finish_reason))| pb::CompletionChoice {
            index: u32::try_from(i).unwrap_or(u32::MAX),
            text: text.unwrap_or_default(),
            finish_reason,
        })
        .collect()
}

/// An InvokeModel answer as a completion: no id, the configured model, no finish reason or
/// usage where MLflow reports none.
pub fn complete_response(
    family: Family,
    answer: Value,
    model: &str,
    now: i64,
) -> Result<pb::CompletionResponse, GatewayError> {
    let mut usage = None;
    let choices = match family {
        Family::Anthropic => {
            let mut wire: anthropic::wire::CompleteResponse = decode(answer)?;
            wire.model = Some(model.to_owned());
            return Ok(anthropic::response::complete_response(wire, model, now));
        }
        Family::Amazon => choices(
            decode::<wire::TitanAnswer>(answer)?
                .results
                .into_iter()
                .map(|r| (r.output_text, None)),
        ),
        Family::Ai21 => choices(
            decode::<wire::Ai21Answer>(answer)?
                .completions
                .into_iter()
                .map(|c| (c.data.and_then(|d| d.text), None)),
        ),
        Family::Cohere => choices(
            decode::<wire::CohereAnswer>(answer)?
                .generations
                .into_iter()
                .map(|g| (g.text, None)),
        ),
        Family::Meta => {
            let a: wire::MetaAnswer = decode(answer)?;
            usage = Some(pb::Usage {
                prompt_tokens: a.prompt_token_count,
                completion_tokens: a.generation_token_count,
                total_tokens: a
                    .prompt_token_count
                    .zip(a.generation_token_count)
                    .map(|(p, c)| p.saturating_add(c)),
                ..Default::default()
            });
            choices([(a.generation, a.stop_reason)])
        }
        Family::Mistral => choices(
            decode::<wire::MistralAnswer>(answer)?
                .outputs
                .into_iter()
                .map(|o| (o.text, o.stop_reason)),
        ),
    };
    Ok(pb::CompletionResponse {
        id: None,
        created: now,
        model: model.to_owned(),
        choices,
        usage,
        provider: String::new(),
    })
}

/// One Titan-style body per input text.
pub fn embed_bodies(req: &pb::EmbedRequest) -> Result<Vec<Vec<u8>>, GatewayError> {
    if !req.token_ids.is_empty() {
        return Err(unprocessable(
            "Amazon Bedrock embeddings take text inputs, not token ids.",
        ));
    }
    req.texts
        .iter()
        .map(|t| {
            encode_json(&wire::EmbedBody {
                input_text: t,
                dimensions: req.dimensions,
            })
        })
        .collect()
}

/// The answers of one embeddings request, in input order; usage is the sum of
/// `inputTextTokenCount` (prompt = total), as MLflow reports it.
pub fn embed_response(
    answers: Vec<wire::EmbedAnswer>,
    model: &str,
    base64: bool,
) -> pb::EmbedResponse {
    use base64::Engine as _;
    let tokens: u32 = answers
        .iter()
        .map(|a| a.input_text_token_count.unwrap_or(0))
        .fold(0, u32::saturating_add);
    let data = answers
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            if base64 {
                // OpenAI's base64 form (little-endian float32), as the client asked.
                #[allow(clippy::cast_possible_truncation)]
                let bytes: Vec<u8> = a
                    .embedding
                    .iter()
                    .flat_map(|x| (*x as f32).to_le_bytes())
                    .collect();
                pb::Embedding {
                    index,
                    values: Vec::new(),
                    base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                }
            } else {
                pb::Embedding {
                    index,
                    values: a.embedding,
                    base64: None,
                }
            }
        })
        .collect();
    pb::EmbedResponse {
        model: model.to_owned(),
        data,
        usage: Some(pb::Usage {
            prompt_tokens: Some(tokens),
            total_tokens: Some(tokens),
            ..Default::default()
        }),
        provider: String::new(),
    }
}

#[cfg(test)]
#[path = "invoke_tests.rs"]
mod tests;
