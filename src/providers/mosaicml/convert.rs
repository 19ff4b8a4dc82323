//! Pure conversions for MosaicML (spec §3.12): the Llama-2 prompt MLflow builds from chat
//! messages, the `predict` bodies, MLflow's 422 checks, the `outputs` read back into unified
//! responses (no id, finish reason or usage: MLflow reports none), and MLflow's rewrite of two
//! upstream 500s that are really request errors into 422s.

use serde_json::Value;

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::providers::openai::convert::{self as oai_convert, BodyContext};
use crate::providers::openai::wire as oai;

use super::wire;
use crate::providers::text::{listed, message_text};

const NO_MODEL: BodyContext<'static> = BodyContext { model: None };

/// Upstream 500 messages that MLflow re-raises as 422 (the request was too long, not a server fault).
const TOKEN_ALLOWANCE: [&str; 2] = [
    "Error: max output tokens is limited to",
    "Error: prompt token count",
];

/// MLflow's Llama-2 chat prompt: `<s>` first; a system message becomes `<<SYS>> s <</SYS>>`;
/// consecutive system/user messages share one `[INST] ... [/INST]`; an assistant answer is
/// followed by ` </s><s>`, dropped again at the very end so the model continues the answer.
pub fn llama2_prompt(messages: &[pb::Message]) -> Result<String, GatewayError> {
    const CLOSE: &str = "[/INST]";
    let mut prompt = String::from("<s>");
    for m in messages {
        let text = message_text(m, "MosaicML")?;
        match m.role.as_str() {
            role @ ("system" | "user") => {
                if prompt.ends_with(CLOSE) {
                    // Merge with the previous instruction: reopen it instead of starting anew.
                    prompt.truncate(prompt.len() - CLOSE.len());
                } else {
                    prompt.push_str("[INST] ");
                }
                if role == "system" {
                    prompt.push_str("<<SYS>> ");
                    prompt.push_str(&text);
                    prompt.push_str(" <</SYS>>");
                } else {
                    prompt.push_str(&text);
                }
                prompt.push(' ');
                prompt.push_str(CLOSE);
            }
            "assistant" => {
                prompt.push(' ');
                prompt.push_str(&text);
                prompt.push_str(" </s><s>");
            }
            other => {
                return Err(GatewayError::Unprocessable(format!(
                    "An invalid request structure was submitted. Invalid role {other} inputted. Must be one of 'system', 'user', or 'assistant'."
                )));
            }
        }
    }
    if prompt.ends_with("</s><s>") {
        prompt.truncate(prompt.len() - "</s><s>".len());
    }
    Ok(prompt)
}

/// MLflow's refusal of a target name sent by the client.
fn refuse_target(
    extra: Option<&pbjson_types::Struct>,
    ours: &str,
    theirs: &str,
) -> Result<(), GatewayError> {
    if extra.is_some_and(|e| e.fields.contains_key(theirs)) {
        return Err(GatewayError::Unprocessable(format!(
            "Invalid parameter {theirs}. Use {ours} instead."
        )));
    }
    Ok(())
}

/// The chat body (the prompt is built by the caller with [`llama2_prompt`]).
pub fn chat_body<'a>(
    req: &'a pb::ChatRequest,
    prompt: &'a str,
) -> Result<wire::PredictBody<'a>, GatewayError> {
    refuse_target(req.extra_params.as_ref(), "max_tokens", "max_new_tokens")?;
    let b = oai_convert::chat_body(req, NO_MODEL, false);
    Ok(wire::PredictBody {
        inputs: [prompt],
        parameters: parameters(b.params, b.tools, b.tool_choice, b.extra),
    })
}

/// The completions body.
pub fn completion_body(req: &pb::CompletionRequest) -> Result<wire::PredictBody<'_>, GatewayError> {
    refuse_target(req.extra_params.as_ref(), "max_tokens", "max_new_tokens")?;
    let b = oai_convert::completion_body(req, NO_MODEL, false);
    Ok(wire::PredictBody {
        inputs: [b.prompt],
        parameters: parameters(b.params, Vec::new(), None, b.extra),
    })
}

fn parameters<'a>(
    p: oai::Params<'a>,
    tools: Vec<oai::Tool<'a>>,
    tool_choice: Option<oai::ToolChoice<'a>>,
    extra: Option<crate::proto_json::StructRef<'a>>,
) -> wire::Parameters<'a> {
    wire::Parameters {
        n: p.n,
        stop: p.stop,
        max_new_tokens: p.max_tokens,
        max_completion_tokens: p.max_completion_tokens,
        response_format: p.response_format,
        temperature: p.temperature,
        top_p: p.top_p,
        presence_penalty: p.presence_penalty,
        frequency_penalty: p.frequency_penalty,
        top_k: p.top_k,
        tools,
        tool_choice,
        extra,
    }
}

/// The embeddings body: `input` as `inputs`, always a list.
pub fn embed_body(req: &pb::EmbedRequest) -> Result<wire::EmbedBody<'_>, GatewayError> {
    refuse_target(req.extra_params.as_ref(), "input", "inputs")?;
    let b = oai_convert::embeddings_body(req, NO_MODEL);
    Ok(wire::EmbedBody {
        inputs: listed(req, b.input),
        encoding_format: b.encoding_format,
        dimensions: b.dimensions,
        extra: b.extra,
    })
}

/// The required `outputs` of an answer.
pub fn outputs<T>(o: wire::Outputs<T>) -> Result<Vec<T>, GatewayError> {
    o.outputs.ok_or_else(|| {
        GatewayError::UpstreamBadResponse(
            "The response is missing the required key: outputs.".into(),
        )
    })
}

/// MLflow's `custom_token_allowance_exceeded_handling`: an upstream 500 whose message starts with
/// one of MosaicML's "too many tokens" texts is the client's fault, so 422 with the same detail.
/// (MLflow applies it only to `{"message": ...}` details and crashes on a plain-string detail;
/// both forms are recognised here.)
pub fn token_allowance(e: GatewayError) -> GatewayError {
    match e {
        GatewayError::Upstream {
            status: 500,
            detail,
            retry_after_secs,
        } => {
            let message = match &detail {
                Value::Object(o) => o.get("message").and_then(Value::as_str),
                Value::String(s) => Some(s.as_str()),
                _ => None,
            };
            let status =
                if message.is_some_and(|m| TOKEN_ALLOWANCE.iter().any(|p| m.starts_with(p))) {
                    422
                } else {
                    500
                };
            GatewayError::Upstream {
                status,
                detail,
                retry_after_secs,
            }
        }
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

/// A chat response: one assistant choice per output.
pub fn chat_response(texts: Vec<String>, model: &str, now: i64) -> pb::ChatResponse {
    crate::providers::mlflow_serving::convert::chat_response(texts, model, now)
}

/// A completions response: one choice per output.
pub fn completion_response(texts: Vec<String>, model: &str, now: i64) -> pb::CompletionResponse {
    crate::providers::mlflow_serving::convert::completion_response(texts, model, now)
}

/// An embeddings response, indexed by position.
pub fn embed_response(vectors: Vec<Vec<f64>>, model: &str) -> pb::EmbedResponse {
    crate::providers::mlflow_serving::convert::embed_response(vectors, model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto_json::to_pb_struct;
    use serde_json::json;

    const CHAT_RESPONSE: &str = include_str!("../../../tests/fixtures/mosaicml/chat_response.json");
    const EMBED_RESPONSE: &str =
        include_str!("../../../tests/fixtures/mosaicml/embeddings_response.json");
    const TOKEN_ERROR: &str =
        include_str!("../../../tests/fixtures/mosaicml/error_500_tokens.json");

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
    fn prompt_matches_the_observed_transcript() {
        let messages = [
            msg("system", "s"),
            msg("user", "u1"),
            msg("assistant", "a1"),
            msg("user", "u2"),
        ];
        assert_eq!(
            llama2_prompt(&messages).unwrap(),
            "<s>[INST] <<SYS>> s <</SYS>> u1 [/INST] a1 </s><s>[INST] u2 [/INST]"
        );
    }

    #[test]
    fn prompt_edge_cases_match_mlflow() {
        // Outputs of MLflow 3.18's `_parse_chat_messages_to_prompt` for the same inputs.
        let messages = [
            msg("user", "u1"),
            msg("user", "u2"),
            msg("assistant", "a"),
            msg("system", "s"),
        ];
        assert_eq!(
            llama2_prompt(&messages).unwrap(),
            "<s>[INST] u1 u2 [/INST] a </s><s>[INST] <<SYS>> s <</SYS>> [/INST]"
        );
        let messages = [msg("assistant", "a"), msg("user", "u")];
        assert_eq!(
            llama2_prompt(&messages).unwrap(),
            "<s> a </s><s>[INST] u [/INST]"
        );
        assert_eq!(
            llama2_prompt(&[msg("user", "u"), msg("assistant", "a")]).unwrap(),
            "<s>[INST] u [/INST] a "
        );
        let e = llama2_prompt(&[msg("tool", "x")]).unwrap_err();
        assert_eq!(e.http_status(), 422);
        assert_eq!(
            e.to_string(),
            "An invalid request structure was submitted. Invalid role tool inputted. Must be one of 'system', 'user', or 'assistant'."
        );
    }

    #[test]
    fn text_parts_are_joined_and_other_parts_refused() {
        let mut m = msg("user", "");
        m.content = None;
        m.content_parts = vec![
            pb::ContentPart {
                part: Some(pb::content_part::Part::Text("a".into())),
            },
            pb::ContentPart {
                part: Some(pb::content_part::Part::Text("b".into())),
            },
        ];
        assert_eq!(message_text(&m, "MosaicML").unwrap(), "ab");
        m.content_parts.push(pb::ContentPart {
            part: Some(pb::content_part::Part::ImageUrl(pb::ImageUrl {
                url: "http://x".into(),
                detail: None,
            })),
        });
        assert_eq!(message_text(&m, "MosaicML").unwrap_err().http_status(), 422);
    }

    #[test]
    fn chat_body_matches_the_observed_transcript() {
        let req = pb::ChatRequest {
            messages: vec![msg("user", "u")],
            max_tokens: Some(9),
            ..Default::default()
        };
        let prompt = llama2_prompt(&req.messages).unwrap();
        assert_eq!(
            serde_json::to_string(&chat_body(&req, &prompt).unwrap()).unwrap(),
            r#"{"inputs":["<s>[INST] u [/INST]"],"parameters":{"n":1,"max_new_tokens":9}}"#
        );
    }

    #[test]
    fn all_parameters_in_mlflows_order() {
        // MLflow 3.18: {"inputs": [...], "parameters": {"n": 1, "stop": ["x"], "max_new_tokens": 5,
        // "temperature": 0.4, "top_k": 3, "tools": [...], "foo": "bar"}}
        let req = pb::ChatRequest {
            messages: vec![msg("user", "u")],
            stop: vec!["x".into()],
            max_tokens: Some(5),
            temperature: Some(0.4),
            top_k: Some(3),
            tools: vec![pb::Tool {
                r#type: "function".into(),
                function: Some(pb::FunctionDefinition {
                    name: "f".into(),
                    ..Default::default()
                }),
            }],
            extra_params: extra(json!({"foo": "bar"})),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&chat_body(&req, "p").unwrap()).unwrap(),
            r#"{"inputs":["p"],"parameters":{"n":1,"stop":["x"],"max_new_tokens":5,"temperature":0.4,"top_k":3,"tools":[{"type":"function","function":{"name":"f"}}],"foo":"bar"}}"#
        );
        let req = pb::CompletionRequest {
            prompt: "hi".into(),
            temperature: Some(0.4),
            max_tokens: Some(5),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&completion_body(&req).unwrap()).unwrap(),
            r#"{"inputs":["hi"],"parameters":{"n":1,"max_new_tokens":5,"temperature":0.4}}"#
        );
    }

    #[test]
    fn target_names_are_refused() {
        let req = pb::CompletionRequest {
            prompt: "hi".into(),
            extra_params: extra(json!({"max_new_tokens": 3})),
            ..Default::default()
        };
        let e = completion_body(&req).err().unwrap();
        assert_eq!(
            (e.http_status(), e.to_string()),
            (
                422,
                "Invalid parameter max_new_tokens. Use max_tokens instead.".into()
            )
        );
        let req = pb::EmbedRequest {
            texts: vec!["a".into()],
            single_input: true,
            extra_params: extra(json!({"inputs": ["b"]})),
            ..Default::default()
        };
        let e = embed_body(&req).err().unwrap();
        assert_eq!(
            e.to_string(),
            "Invalid parameter inputs. Use input instead."
        );
    }

    #[test]
    fn embed_body_wraps_a_single_text() {
        let req = pb::EmbedRequest {
            texts: vec!["hi".into()],
            single_input: true,
            extra_params: extra(json!({"foo": 1})),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&embed_body(&req).unwrap()).unwrap(),
            r#"{"inputs":["hi"],"foo":1}"#
        );
    }

    #[test]
    fn responses_from_fixtures() {
        let o: wire::Outputs<String> = serde_json::from_str(CHAT_RESPONSE).unwrap();
        let r = chat_response(outputs(o).unwrap(), "llama2-70b-chat", 7);
        assert_eq!(r.choices.len(), 1);
        let m = r.choices[0].message.as_ref().unwrap();
        assert_eq!(m.role, "assistant");
        assert_eq!(
            m.content.as_deref(),
            Some("Hello! How can I help you today?")
        );
        assert_eq!((r.id.clone(), r.usage.clone()), (None, None));
        let o: wire::Outputs<Vec<f64>> = serde_json::from_str(EMBED_RESPONSE).unwrap();
        let e = embed_response(outputs(o).unwrap(), "instructor-xl");
        assert_eq!(e.data.len(), 2);
        assert_eq!(e.data[1].index, 1);
        assert_eq!(e.data[0].values, vec![3.25, 0.7685547, 2.65625]);
        let missing: wire::Outputs<String> = serde_json::from_str(r#"{"x":1}"#).unwrap();
        let e = outputs(missing).unwrap_err();
        assert_eq!(e.http_status(), 502);
    }

    #[test]
    fn token_allowance_500s_become_422s() {
        let detail: Value = serde_json::from_str(TOKEN_ERROR).unwrap();
        let up = |status, detail| GatewayError::Upstream {
            status,
            detail,
            retry_after_secs: None,
        };
        assert_eq!(token_allowance(up(500, detail.clone())).http_status(), 422);
        assert_eq!(
            token_allowance(up(500, json!("Error: prompt token count (5000) too large")))
                .http_status(),
            422
        );
        assert_eq!(
            token_allowance(up(500, json!({"message": "boom"}))).http_status(),
            500
        );
        assert_eq!(token_allowance(up(400, detail)).http_status(), 400);
    }
}
