//! Pure conversions for Cohere's legacy v1 API (spec §3.10), as MLflow's `CohereAdapter` does
//! them: chat as `message` + `preamble_override` + `chat_history` (USER/CHATBOT), completions
//! with `n`/`stop` renamed, embeddings with `input` as `texts`, temperature ×2.5 (Cohere's range
//! is 0-5) only when non-zero, and MLflow's 400/422 refusals. Answers become unified responses
//! with the configured model and `created` now; Cohere's finish reasons are passed on raw, as
//! MLflow does. The streamed answers are read in `stream.rs`.

use std::borrow::Cow;

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::providers::openai::convert::{self as oai_convert, BodyContext};
use crate::providers::text::{listed, message_text};

use super::wire;

const NO_MODEL: BodyContext<'static> = BodyContext { model: None };
const DISPLAY_NAME: &str = "Cohere";

/// MLflow's `_scale_temperature`: 0-2 to Cohere's 0-5, leaving a falsy 0 as it is.
pub fn temperature(t: Option<f64>) -> Option<f64> {
    t.map(|t| if t == 0.0 { t } else { 2.5 * t })
}

/// The `/chat` body, after MLflow's checks: `n` must be 1, `stop` is refused, and the last
/// message must be the user's (it becomes `message`). System messages are joined into
/// `preamble_override`; earlier user and assistant turns become `chat_history` (tool turns have
/// no place in the legacy API and are left out, as MLflow leaves them out).
pub fn chat_body<'a>(
    req: &'a pb::ChatRequest,
    model: Option<&'a str>,
    stream: bool,
) -> Result<wire::ChatBody<'a>, GatewayError> {
    let n = req.n.unwrap_or(1);
    if n != 1 {
        return Err(GatewayError::Unprocessable(format!(
            "Parameter n must be 1 for Cohere chat, got {n}."
        )));
    }
    if !req.stop.is_empty() {
        return Err(GatewayError::Unprocessable(
            "Parameter stop is not supported for Cohere chat.".into(),
        ));
    }
    let Some((last, earlier)) = req.messages.split_last() else {
        return Err(GatewayError::Unprocessable(
            "Last message must be from user, got None.".into(),
        ));
    };
    if last.role != "user" {
        return Err(GatewayError::Unprocessable(format!(
            "Last message must be from user, got {}.",
            last.role
        )));
    }
    let message = message_text(last, DISPLAY_NAME)?;
    let mut system: Vec<Cow<'a, str>> = Vec::new();
    let mut chat_history = Vec::new();
    for m in earlier {
        match m.role.as_str() {
            "system" => system.push(message_text(m, DISPLAY_NAME)?),
            "user" | "assistant" => chat_history.push(wire::HistoryEntry {
                role: if m.role == "user" { "USER" } else { "CHATBOT" },
                message: message_text(m, DISPLAY_NAME)?,
            }),
            _ => {}
        }
    }
    let preamble_override = (!system.is_empty()).then(|| system.join("\n"));

    // The fields this body sets itself win over a client's extras of the same name; MLflow
    // keeps a client's `preamble_override`/`chat_history` only when it has none of its own.
    let skip = skip_list(preamble_override.is_some(), !chat_history.is_empty());
    let b = oai_convert::chat_body(req, NO_MODEL, false);
    let p = b.params;
    Ok(wire::ChatBody {
        model,
        stream: stream.then_some(true),
        max_tokens: p.max_tokens,
        max_completion_tokens: p.max_completion_tokens,
        response_format: p.response_format,
        temperature: temperature(p.temperature),
        top_p: p.top_p,
        presence_penalty: p.presence_penalty,
        frequency_penalty: p.frequency_penalty,
        top_k: p.top_k,
        tools: b.tools,
        tool_choice: b.tool_choice,
        extra: req
            .extra_params
            .as_ref()
            .filter(|e| e.fields.keys().any(|k| !skip.contains(&k.as_str())))
            .map(|extra| wire::ExtraWithout {
                fields: extra,
                skip,
            }),
        message,
        preamble_override,
        chat_history,
    })
}

/// The extras a chat body leaves out (static, so the body can borrow it).
fn skip_list(preamble: bool, history: bool) -> &'static [&'static str] {
    match (preamble, history) {
        (false, false) => &["message"],
        (true, false) => &["message", "preamble_override"],
        (false, true) => &["message", "chat_history"],
        (true, true) => &["message", "preamble_override", "chat_history"],
    }
}

/// The `/generate` body. A client that uses Cohere's own names gets MLflow's 400 (its
/// `check_keys_against_mapping`, which answers 400 where the other providers answer 422).
pub fn generate_body<'a>(
    req: &'a pb::CompletionRequest,
    model: Option<&'a str>,
    stream: bool,
) -> Result<wire::GenerateBody<'a>, GatewayError> {
    if let Some(extra) = req.extra_params.as_ref() {
        for (ours, theirs) in [("stop", "stop_sequences"), ("n", "num_generations")] {
            if extra.fields.contains_key(theirs) {
                return Err(GatewayError::BadRequest(format!(
                    "Invalid parameter {theirs}. Use {ours} instead."
                )));
            }
        }
    }
    let b = oai_convert::completion_body(req, NO_MODEL, false);
    let p = b.params;
    Ok(wire::GenerateBody {
        model,
        num_generations: p.n,
        stop_sequences: p.stop,
        max_tokens: p.max_tokens,
        max_completion_tokens: p.max_completion_tokens,
        stream: stream.then_some(true),
        response_format: p.response_format,
        temperature: temperature(p.temperature),
        top_p: p.top_p,
        presence_penalty: p.presence_penalty,
        frequency_penalty: p.frequency_penalty,
        top_k: p.top_k,
        prompt: b.prompt,
        extra: b.extra,
    })
}

/// The `/embed` body: `input` as `texts`, always a list (MLflow sends a single text as a bare
/// string, which Cohere refuses).
pub fn embed_body<'a>(
    req: &'a pb::EmbedRequest,
    model: Option<&'a str>,
) -> Result<wire::EmbedBody<'a>, GatewayError> {
    if req
        .extra_params
        .as_ref()
        .is_some_and(|e| e.fields.contains_key("texts"))
    {
        return Err(GatewayError::Unprocessable(
            "Invalid parameter texts. Use input instead.".into(),
        ));
    }
    let b = oai_convert::embeddings_body(req, NO_MODEL);
    Ok(wire::EmbedBody {
        model,
        texts: listed(req, b.input),
        encoding_format: b.encoding_format,
        dimensions: b.dimensions,
        extra: b.extra,
    })
}

// ---------------------------------------------------------------------------------------------
// Answers

/// Usage from Cohere's `token_count`.
pub fn usage(t: wire::TokenCount) -> pb::Usage {
    pb::Usage {
        prompt_tokens: t.prompt_tokens,
        completion_tokens: t.response_tokens,
        total_tokens: t.total_tokens,
        ..Default::default()
    }
}

/// The chat response: one assistant choice, `id` = `response_id`, no finish reason.
pub fn chat_response(r: wire::Chat, model: &str, now: i64) -> pb::ChatResponse {
    pb::ChatResponse {
        id: r.response_id,
        created: now,
        model: model.to_owned(),
        choices: vec![pb::ChatChoice {
            index: 0,
            message: Some(pb::Message {
                role: "assistant".into(),
                content: r.text,
                ..Default::default()
            }),
            finish_reason: None,
        }],
        usage: r.token_count.map(usage),
        provider: String::new(),
    }
}

/// The completions response: one choice per generation; no id, finish reason or usage.
pub fn completion_response(r: wire::Generate, model: &str, now: i64) -> pb::CompletionResponse {
    let texts = r.generations.into_iter().map(|g| g.text).collect();
    crate::providers::mlflow_serving::convert::completion_response(texts, model, now)
}

/// The embeddings response, indexed by position, no usage.
pub fn embed_response(r: wire::Embed, model: &str) -> pb::EmbedResponse {
    crate::providers::mlflow_serving::convert::embed_response(r.embeddings, model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto_json::to_pb_struct;
    use serde_json::{Value, json};

    const CHAT: &str = include_str!("../../../tests/fixtures/cohere/chat_response.json");
    const GENERATE: &str = include_str!("../../../tests/fixtures/cohere/generate_response.json");
    const EMBED: &str = include_str!("../../../tests/fixtures/cohere/embed_response.json");

    fn msg(role: &str, text: &str) -> pb::Message {
        pb::Message {
            role: role.into(),
            content: Some(text.into()),
            ..Default::default()
        }
    }

    fn extra(v: Value) -> Option<pbjson_types::Struct> {
        Some(to_pb_struct(v.as_object().cloned().unwrap()))
    }

    #[test]
    fn chat_body_matches_mlflow() {
        // MLflow 3.18's CohereAdapter.chat_to_model on the same request, serialised.
        let req = pb::ChatRequest {
            messages: vec![
                msg("system", "s1"),
                msg("user", "u1"),
                msg("assistant", "a1"),
                msg("system", "s2"),
                msg("user", "u2"),
            ],
            temperature: Some(0.4),
            max_tokens: Some(10),
            top_p: Some(0.5),
            top_k: Some(3),
            presence_penalty: Some(0.1),
            frequency_penalty: Some(0.2),
            extra_params: extra(json!({"foo": "bar"})),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&chat_body(&req, Some("command"), false).unwrap()).unwrap(),
            r#"{"model":"command","max_tokens":10,"temperature":1.0,"top_p":0.5,"presence_penalty":0.1,"frequency_penalty":0.2,"top_k":3,"foo":"bar","message":"u2","preamble_override":"s1\ns2","chat_history":[{"role":"USER","message":"u1"},{"role":"CHATBOT","message":"a1"}]}"#
        );
        let req = pb::ChatRequest {
            messages: vec![msg("user", "u1")],
            temperature: Some(0.4),
            extra_params: extra(json!({"foo": "bar", "message": "not me"})),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&chat_body(&req, Some("command"), true).unwrap()).unwrap(),
            r#"{"model":"command","stream":true,"temperature":1.0,"foo":"bar","message":"u1"}"#
        );
    }

    #[test]
    fn chat_refusals_are_mlflows() {
        let base = pb::ChatRequest {
            messages: vec![msg("user", "u")],
            ..Default::default()
        };
        let cases = [
            (
                pb::ChatRequest {
                    n: Some(2),
                    ..base.clone()
                },
                "Parameter n must be 1 for Cohere chat, got 2.",
            ),
            (
                pb::ChatRequest {
                    stop: vec!["x".into()],
                    ..base.clone()
                },
                "Parameter stop is not supported for Cohere chat.",
            ),
            (
                pb::ChatRequest {
                    messages: vec![msg("user", "u"), msg("assistant", "a")],
                    ..base.clone()
                },
                "Last message must be from user, got assistant.",
            ),
        ];
        for (req, text) in cases {
            let e = chat_body(&req, None, false).err().unwrap();
            assert_eq!((e.http_status(), e.to_string()), (422, text.to_owned()));
        }
    }

    #[test]
    fn temperature_scaling_leaves_zero() {
        assert_eq!(temperature(Some(0.0)), Some(0.0));
        assert_eq!(temperature(Some(0.4)), Some(1.0));
        assert_eq!(temperature(Some(2.0)), Some(5.0));
        assert_eq!(temperature(None), None);
    }

    #[test]
    fn generate_body_matches_mlflow() {
        let req = pb::CompletionRequest {
            prompt: "hi".into(),
            temperature: Some(0.4),
            max_tokens: Some(10),
            stop: vec!["x".into()],
            n: Some(2),
            top_p: Some(0.5),
            extra_params: extra(json!({"foo": "bar"})),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&generate_body(&req, Some("command"), false).unwrap()).unwrap(),
            r#"{"model":"command","num_generations":2,"stop_sequences":["x"],"max_tokens":10,"temperature":1.0,"top_p":0.5,"prompt":"hi","foo":"bar"}"#
        );
        let req = pb::CompletionRequest {
            prompt: "hi".into(),
            temperature: Some(0.0),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&generate_body(&req, Some("command"), true).unwrap()).unwrap(),
            r#"{"model":"command","num_generations":1,"stream":true,"temperature":0.0,"prompt":"hi"}"#
        );
        for (theirs, ours) in [("stop_sequences", "stop"), ("num_generations", "n")] {
            let req = pb::CompletionRequest {
                extra_params: extra(json!({ theirs: 1 })),
                ..Default::default()
            };
            let e = generate_body(&req, None, false).err().unwrap();
            assert_eq!(
                (e.http_status(), e.to_string()),
                (
                    400,
                    format!("Invalid parameter {theirs}. Use {ours} instead.")
                )
            );
        }
    }

    #[test]
    fn embed_body_is_a_list_of_texts() {
        let req = pb::EmbedRequest {
            texts: vec!["a".into()],
            single_input: true,
            extra_params: extra(json!({"input_type": "search_query"})),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&embed_body(&req, Some("embed-english-v3.0")).unwrap()).unwrap(),
            r#"{"model":"embed-english-v3.0","texts":["a"],"input_type":"search_query"}"#
        );
        let req = pb::EmbedRequest {
            texts: vec!["a".into()],
            extra_params: extra(json!({"texts": ["b"]})),
            ..Default::default()
        };
        let e = embed_body(&req, None).err().unwrap();
        assert_eq!(
            (e.http_status(), e.to_string()),
            (422, "Invalid parameter texts. Use input instead.".into())
        );
    }

    #[test]
    fn answers_from_fixtures() {
        let r = chat_response(serde_json::from_str(CHAT).unwrap(), "command", 7);
        assert_eq!(
            r.id.as_deref(),
            Some("9d1d1a4c-2ca6-4c5e-9b8b-d5f1a8a3c7e2")
        );
        assert_eq!(
            r.choices[0].message.as_ref().unwrap().content.as_deref(),
            Some("Hello! How can I help you?")
        );
        let u = r.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (Some(5), Some(7), Some(12))
        );
        let r = completion_response(serde_json::from_str(GENERATE).unwrap(), "command", 7);
        assert_eq!(r.id, None);
        assert_eq!(r.choices.len(), 2);
        assert_eq!(r.choices[1].text, " world");
        assert_eq!(r.choices[1].finish_reason, None);
        let e = embed_response(serde_json::from_str(EMBED).unwrap(), "embed-english-v3.0");
        assert_eq!(e.data.len(), 2);
        assert_eq!(e.data[1].values, vec![-0.30126953, -2.3554688, 1.2597656]);
    }
}
