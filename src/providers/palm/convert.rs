//! Pure conversions for PaLM (spec §3.11), as MLflow's `PaLMProvider` does them: `n` →
//! `candidateCount`, `stop` → `stopSequences`, `max_tokens` → `maxOutputTokens` (refused for
//! chat), temperature ×0.5 (PaLM's range is 0-1), chat messages with `role` as `author` under
//! `prompt` together with the client's `examples` and `context`, and MLflow's 422s. Answers keep
//! MLflow's reading: chat choices take PaLM's `author` as their role, no finish reason or usage.

use pbjson_types::Struct;

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::proto_json::StructWithout as ExtraWithout;
use crate::proto_json::ValueRef;
use crate::providers::openai::convert::{self as oai_convert, BodyContext};
use crate::providers::text::{listed, message_text};

use super::wire;

const NO_MODEL: BodyContext<'static> = BodyContext { model: None };

/// Extras the chat body moves into (or overwrites with) its `prompt`.
const PROMPT_KEYS: &[&str] = &["examples", "context", "prompt"];

/// PaLM's temperature range is half of ours.
pub fn temperature(t: Option<f64>) -> Option<f64> {
    t.map(|t| 0.5 * t)
}

/// MLflow's 422 for a client that uses PaLM's own name of a field.
fn refuse_targets(extra: Option<&Struct>, renames: &[(&str, &str)]) -> Result<(), GatewayError> {
    let Some(extra) = extra else { return Ok(()) };
    for (ours, theirs) in renames {
        if extra.fields.contains_key(*theirs) {
            return Err(GatewayError::Unprocessable(format!(
                "Invalid parameter {theirs}. Use {ours} instead."
            )));
        }
    }
    Ok(())
}

/// The `generateMessage` body. PaLM chat has no output limit, so `max_tokens` (or PaLM's
/// `maxOutputTokens`) is refused first, as MLflow does.
pub fn message_body(req: &pb::ChatRequest) -> Result<wire::MessageBody<'_>, GatewayError> {
    let extra = req.extra_params.as_ref();
    if req.max_tokens.is_some() || extra.is_some_and(|e| e.fields.contains_key("maxOutputTokens")) {
        return Err(GatewayError::Unprocessable(
            "Max tokens is not supported for PaLM chat.".into(),
        ));
    }
    refuse_targets(extra, &[("stop", "stopSequences"), ("n", "candidateCount")])?;
    let messages = req
        .messages
        .iter()
        .map(|m| {
            Ok(wire::Message {
                author: &m.role,
                content: message_text(m, "PaLM")?,
            })
        })
        .collect::<Result<Vec<_>, GatewayError>>()?;
    let field = |name: &str| extra.and_then(|e| e.fields.get(name)).map(ValueRef);
    let b = oai_convert::chat_body(req, NO_MODEL, false);
    let p = b.params;
    Ok(wire::MessageBody {
        candidateCount: p.n,
        stopSequences: p.stop,
        max_completion_tokens: p.max_completion_tokens,
        response_format: p.response_format,
        temperature: temperature(p.temperature),
        top_p: p.top_p,
        presence_penalty: p.presence_penalty,
        frequency_penalty: p.frequency_penalty,
        top_k: p.top_k,
        tools: b.tools,
        tool_choice: b.tool_choice,
        extra: extra
            .filter(|e| e.fields.keys().any(|k| !PROMPT_KEYS.contains(&k.as_str())))
            .map(|extra| ExtraWithout {
                fields: extra,
                skip: PROMPT_KEYS,
            }),
        prompt: wire::MessagePrompt {
            messages,
            examples: field("examples"),
            context: field("context"),
        },
    })
}

/// The `generateText` body.
pub fn text_body(req: &pb::CompletionRequest) -> Result<wire::TextBody<'_>, GatewayError> {
    refuse_targets(
        req.extra_params.as_ref(),
        &[
            ("stop", "stopSequences"),
            ("n", "candidateCount"),
            ("max_tokens", "maxOutputTokens"),
        ],
    )?;
    let b = oai_convert::completion_body(req, NO_MODEL, false);
    let p = b.params;
    Ok(wire::TextBody {
        candidateCount: p.n,
        stopSequences: p.stop,
        maxOutputTokens: p.max_tokens,
        max_completion_tokens: p.max_completion_tokens,
        response_format: p.response_format,
        temperature: temperature(p.temperature),
        top_p: p.top_p,
        presence_penalty: p.presence_penalty,
        frequency_penalty: p.frequency_penalty,
        top_k: p.top_k,
        prompt: wire::TextPrompt { text: b.prompt },
        extra: b.extra,
    })
}

/// The `batchEmbedText` body: `input` as `texts`, always a list (MLflow sends a single text as a
/// bare string, which the batch API refuses).
pub fn embed_body(req: &pb::EmbedRequest) -> Result<wire::EmbedBody<'_>, GatewayError> {
    refuse_targets(req.extra_params.as_ref(), &[("input", "texts")])?;
    let b = oai_convert::embeddings_body(req, NO_MODEL);
    Ok(wire::EmbedBody {
        texts: listed(req, b.input),
        encoding_format: b.encoding_format,
        dimensions: b.dimensions,
        extra: b.extra,
    })
}

// ---------------------------------------------------------------------------------------------
// Answers

/// The chat response: one choice per candidate, its role PaLM's `author` (e.g. `"1"`), as MLflow
/// reports it.
pub fn chat_response(r: wire::MessageAnswer, model: &str, now: i64) -> pb::ChatResponse {
    pb::ChatResponse {
        id: None,
        created: now,
        model: model.to_owned(),
        choices: r
            .candidates
            .into_iter()
            .enumerate()
            .map(|(i, c)| pb::ChatChoice {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                message: Some(pb::Message {
                    role: c.author,
                    content: c.content,
                    ..Default::default()
                }),
                finish_reason: None,
            })
            .collect(),
        usage: None,
        provider: String::new(),
    }
}

/// The completions response: one choice per candidate's `output`.
pub fn completion_response(r: wire::TextAnswer, model: &str, now: i64) -> pb::CompletionResponse {
    let texts = r.candidates.into_iter().map(|c| c.output).collect();
    crate::providers::mlflow_serving::convert::completion_response(texts, model, now)
}

/// The embeddings response, indexed by position.
pub fn embed_response(r: wire::EmbedAnswer, model: &str) -> pb::EmbedResponse {
    let vectors = r.embeddings.into_iter().map(|e| e.value).collect();
    crate::providers::mlflow_serving::convert::embed_response(vectors, model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto_json::to_pb_struct;
    use serde_json::{Value, json};

    const MESSAGE: &str =
        include_str!("../../../tests/fixtures/palm/generate_message_response.json");
    const TEXT: &str = include_str!("../../../tests/fixtures/palm/generate_text_response.json");
    const EMBED: &str = include_str!("../../../tests/fixtures/palm/batch_embed_text_response.json");

    fn msg(role: &str, text: &str) -> pb::Message {
        pb::Message {
            role: role.into(),
            content: Some(text.into()),
            ..Default::default()
        }
    }

    fn extra(v: Value) -> Option<Struct> {
        Some(to_pb_struct(v.as_object().cloned().unwrap()))
    }

    #[test]
    fn message_body_matches_mlflow() {
        // MLflow 3.18 sends: {"candidateCount": 1, "stopSequences": ["x"], "temperature": 0.2,
        // "top_p": 0.5, "top_k": 3, "foo": "bar", "prompt": {"messages": [{"content": "s",
        // "author": "system"}, ...], "examples": [...], "context": "ctx"}}
        let req = pb::ChatRequest {
            messages: vec![msg("system", "s"), msg("user", "u")],
            temperature: Some(0.4),
            stop: vec!["x".into()],
            top_p: Some(0.5),
            top_k: Some(3),
            extra_params: extra(json!({
                "examples": [{"input": {"content": "a"}, "output": {"content": "b"}}],
                "context": "ctx",
                "foo": "bar"
            })),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&message_body(&req).unwrap()).unwrap(),
            r#"{"candidateCount":1,"stopSequences":["x"],"temperature":0.2,"top_p":0.5,"top_k":3,"foo":"bar","prompt":{"messages":[{"author":"system","content":"s"},{"author":"user","content":"u"}],"examples":[{"input":{"content":"a"},"output":{"content":"b"}}],"context":"ctx"}}"#
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
                    max_tokens: Some(5),
                    ..base.clone()
                },
                "Max tokens is not supported for PaLM chat.",
            ),
            (
                pb::ChatRequest {
                    extra_params: extra(json!({"maxOutputTokens": 5})),
                    ..base.clone()
                },
                "Max tokens is not supported for PaLM chat.",
            ),
            (
                pb::ChatRequest {
                    extra_params: extra(json!({"stopSequences": ["x"]})),
                    ..base.clone()
                },
                "Invalid parameter stopSequences. Use stop instead.",
            ),
            (
                pb::ChatRequest {
                    extra_params: extra(json!({"candidateCount": 2})),
                    ..base.clone()
                },
                "Invalid parameter candidateCount. Use n instead.",
            ),
        ];
        for (req, text) in cases {
            let e = message_body(&req).err().unwrap();
            assert_eq!((e.http_status(), e.to_string()), (422, text.to_owned()));
        }
    }

    #[test]
    fn text_and_embed_bodies_match_mlflow() {
        let req = pb::CompletionRequest {
            prompt: "hi".into(),
            temperature: Some(0.0),
            max_tokens: Some(5),
            stop: vec!["x".into()],
            n: Some(2),
            extra_params: extra(json!({"foo": "bar"})),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&text_body(&req).unwrap()).unwrap(),
            r#"{"candidateCount":2,"stopSequences":["x"],"maxOutputTokens":5,"temperature":0.0,"prompt":{"text":"hi"},"foo":"bar"}"#
        );
        let req = pb::CompletionRequest {
            extra_params: extra(json!({"maxOutputTokens": 5})),
            ..Default::default()
        };
        assert_eq!(
            text_body(&req).err().unwrap().to_string(),
            "Invalid parameter maxOutputTokens. Use max_tokens instead."
        );
        let req = pb::EmbedRequest {
            texts: vec!["hi".into()],
            single_input: true,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&embed_body(&req).unwrap()).unwrap(),
            r#"{"texts":["hi"]}"#
        );
        let req = pb::EmbedRequest {
            texts: vec!["hi".into()],
            extra_params: extra(json!({"texts": ["x"]})),
            ..Default::default()
        };
        assert_eq!(
            embed_body(&req).err().unwrap().to_string(),
            "Invalid parameter texts. Use input instead."
        );
    }

    #[test]
    fn answers_from_fixtures() {
        let r = chat_response(serde_json::from_str(MESSAGE).unwrap(), "chat-bison-001", 7);
        let m = r.choices[0].message.as_ref().unwrap();
        assert_eq!(
            (m.role.as_str(), m.content.as_deref()),
            ("1", Some("Hi there! How can I help you today?"))
        );
        assert_eq!((r.id.clone(), r.usage.clone()), (None, None));
        let r = completion_response(serde_json::from_str(TEXT).unwrap(), "text-bison-001", 7);
        assert_eq!(r.choices.len(), 2);
        assert_eq!(
            r.choices[1].text,
            "Once upon a time, there was a young boy named Billy..."
        );
        let e = embed_response(serde_json::from_str(EMBED).unwrap(), "embedding-gecko-001");
        assert_eq!(e.data[1].values, vec![-0.30126953, -2.3554688, 1.2597656]);
        // A filtered answer has no candidates: no choices rather than a crash.
        let r = chat_response(
            serde_json::from_str(r#"{"filters":[{"reason":"OTHER"}]}"#).unwrap(),
            "m",
            1,
        );
        assert!(r.choices.is_empty());
    }
}
