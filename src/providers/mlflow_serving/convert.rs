//! Pure conversions for MLflow model serving (spec §3.8): `{"inputs", "params"}` bodies built
//! from the proto request, and unified responses built from the predictions `predictions.rs`
//! extracted (no id, no finish reason, no usage, the configured model: as MLflow reports them).
//!
//! Chat: MLflow refuses more than one message (422). We accept any number: one message is sent
//! exactly as MLflow sends it (its `content` as the single input); several become one input
//! string, a transcript with one `role: text` line per message (text parts concatenated; tool
//! calls are not rendered), since a served model takes a single query per chat call.

use crate::pb::v1 as pb;
use crate::providers::openai::convert::{self as oai_convert, BodyContext};

use super::wire;

const NO_MODEL: BodyContext<'static> = BodyContext { model: None };

/// The chat body.
pub fn chat_body(
    req: &pb::ChatRequest,
) -> wire::Body<[wire::ChatInput<'_>; 1], wire::ChatParams<'_>> {
    // A client's `model` travels inside `params`, as MLflow forwards it.
    let b = oai_convert::chat_body(req, NO_MODEL, false);
    let input = match <[_; 1]>::try_from(b.messages) {
        Ok([only]) => wire::ChatInput::Content(only.content),
        Err(_) => wire::ChatInput::Transcript(transcript(&req.messages)),
    };
    wire::Body {
        inputs: [input],
        params: Some(wire::ChatParams {
            model: req.model.as_deref(),
            params: b.params,
            tools: b.tools,
            tool_choice: b.tool_choice,
            extra: b.extra,
        }),
    }
}

/// Several messages as one text: `role: text` lines.
pub fn transcript(messages: &[pb::Message]) -> String {
    let mut out = String::new();
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&m.role);
        out.push_str(": ");
        match &m.content {
            Some(text) => out.push_str(text),
            None => {
                for p in &m.content_parts {
                    if let Some(pb::content_part::Part::Text(t)) = &p.part {
                        out.push_str(t);
                    }
                }
            }
        }
    }
    out
}

/// The completions body.
pub fn completion_body(
    req: &pb::CompletionRequest,
) -> wire::Body<[&str; 1], wire::CompletionParams<'_>> {
    let b = oai_convert::completion_body(req, NO_MODEL, false);
    wire::Body {
        inputs: [b.prompt],
        params: Some(wire::CompletionParams {
            model: req.model.as_deref(),
            params: b.params,
            extra: b.extra,
        }),
    }
}

/// The embeddings body: the client's input list as it is (a single text wrapped).
pub fn embeddings_body(
    req: &pb::EmbedRequest,
) -> wire::Body<wire::EmbeddingInputs<'_>, wire::EmbeddingParams<'_>> {
    let inputs = if req.token_ids.is_empty() {
        wire::EmbeddingInputs::Texts(&req.texts)
    } else {
        match req.token_ids.as_slice() {
            [one] if req.single_input => wire::EmbeddingInputs::Tokens(&one.ids),
            many => {
                wire::EmbeddingInputs::TokenLists(many.iter().map(|t| t.ids.as_slice()).collect())
            }
        }
    };
    let extra = req
        .extra_params
        .as_ref()
        .filter(|s| !s.fields.is_empty())
        .map(crate::proto_json::StructRef);
    let params = (req.encoding_format.is_some()
        || req.dimensions.is_some()
        || req.model.is_some()
        || extra.is_some())
    .then_some(wire::EmbeddingParams {
        model: req.model.as_deref(),
        encoding_format: req.encoding_format.as_deref(),
        dimensions: req.dimensions,
        extra,
    });
    wire::Body { inputs, params }
}

// ---------------------------------------------------------------------------------------------
// Responses

/// A completions response: one choice per prediction, MLflow's nulls elsewhere.
pub fn completion_response(texts: Vec<String>, model: &str, now: i64) -> pb::CompletionResponse {
    pb::CompletionResponse {
        id: None,
        created: now,
        model: model.to_owned(),
        choices: texts
            .into_iter()
            .enumerate()
            .map(|(i, text)| pb::CompletionChoice {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                text,
                finish_reason: None,
            })
            .collect(),
        usage: None,
        provider: String::new(),
    }
}

/// A chat response: one assistant choice per prediction.
pub fn chat_response(texts: Vec<String>, model: &str, now: i64) -> pb::ChatResponse {
    pb::ChatResponse {
        id: None,
        created: now,
        model: model.to_owned(),
        choices: texts
            .into_iter()
            .enumerate()
            .map(|(i, text)| pb::ChatChoice {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                message: Some(pb::Message {
                    role: "assistant".into(),
                    content: Some(text),
                    ..Default::default()
                }),
                finish_reason: None,
            })
            .collect(),
        usage: None,
        provider: String::new(),
    }
}

/// An embeddings response, indexed by position.
pub fn embed_response(vectors: Vec<Vec<f64>>, model: &str) -> pb::EmbedResponse {
    pb::EmbedResponse {
        model: model.to_owned(),
        data: vectors
            .into_iter()
            .enumerate()
            .map(|(i, values)| pb::Embedding {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                values,
                base64: None,
            })
            .collect(),
        usage: None,
        provider: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto_json::to_pb_struct;
    use serde_json::json;

    fn msg(role: &str, text: &str) -> pb::Message {
        pb::Message {
            role: role.into(),
            content: Some(text.into()),
            ..Default::default()
        }
    }

    #[test]
    fn chat_body_single_message_matches_mlflow() {
        let req = pb::ChatRequest {
            messages: vec![msg("user", "q?")],
            max_tokens: Some(5),
            temperature: Some(0.1),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(chat_body(&req)).unwrap(),
            json!({"inputs":["q?"],"params":{"n":1,"max_tokens":5,"temperature":0.1}})
        );
    }

    #[test]
    fn chat_body_several_messages_is_a_transcript() {
        let req = pb::ChatRequest {
            messages: vec![
                msg("system", "be nice"),
                msg("user", "hi"),
                msg("assistant", "hello"),
                msg("user", "bye"),
            ],
            extra_params: Some(to_pb_struct(
                json!({"extra_param": 1}).as_object().cloned().unwrap(),
            )),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(chat_body(&req)).unwrap(),
            json!({"inputs":["system: be nice\nuser: hi\nassistant: hello\nuser: bye"],
                   "params":{"n":1,"extra_param":1}})
        );
    }

    #[test]
    fn completion_and_embeddings_bodies() {
        let req = pb::CompletionRequest {
            prompt: "Is this a test?".into(),
            temperature: Some(0.0),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(completion_body(&req)).unwrap(),
            json!({"inputs":["Is this a test?"],"params":{"n":1,"temperature":0.0}})
        );
        let req = pb::EmbedRequest {
            texts: vec!["a".into()],
            single_input: true,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(embeddings_body(&req)).unwrap(),
            json!({"inputs":["a"]})
        );
        let req = pb::EmbedRequest {
            texts: vec!["a".into(), "b".into()],
            extra_params: Some(to_pb_struct(
                json!({"extra_param": 1}).as_object().cloned().unwrap(),
            )),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(embeddings_body(&req)).unwrap(),
            json!({"inputs":["a","b"],"params":{"extra_param":1}})
        );
    }

    #[test]
    fn responses_have_mlflow_nulls() {
        let r = chat_response(vec!["It is a test".into()], "chat-bot-9000", 7);
        assert_eq!(
            (r.id.clone(), r.created, r.model.as_str()),
            (None, 7, "chat-bot-9000")
        );
        let m = r.choices[0].message.as_ref().unwrap();
        assert_eq!(
            (m.role.as_str(), m.content.as_deref()),
            ("assistant", Some("It is a test"))
        );
        assert_eq!(r.choices[0].finish_reason, None);
        let e = embed_response(vec![vec![0.01, -0.1], vec![0.03, -0.03]], "sentence-piece");
        assert_eq!(e.data[1].index, 1);
    }
}
