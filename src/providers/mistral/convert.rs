//! Pure conversions for Mistral (spec §3.14). Chat is OpenAI's format, so the bodies and chunks
//! come from `openai::convert`; what differs is handled here: no `stream_options` injection,
//! usage reduced to the three counts, list content (reasoning models) flattened to its text
//! parts, completions sent through the chat API (temperature halved, `n` and `stop` dropped),
//! and embeddings that keep the upstream `index` and report the configured model.

use crate::pb::v1 as pb;
use crate::providers::openai::convert::{self as oai_convert, BodyContext};
use crate::providers::openai::wire as oai;

use super::wire;

/// The chat body: OpenAI's, with the configured model. Mistral streams carry usage in their last
/// chunk without being asked, and MLflow injects no `stream_options` for Mistral.
pub fn chat_body<'a>(
    req: &'a pb::ChatRequest,
    model: Option<&'a str>,
    stream: bool,
) -> oai::ChatBody<'a> {
    let mut body = oai_convert::chat_body(req, BodyContext { model }, stream);
    body.stream_options = None;
    body
}

/// The completions body: the prompt as one user message on the chat API. `n` and `stop` are
/// dropped and the temperature halved (Mistral's range is 0..1, ours 0..2), as MLflow does.
pub fn completion_body<'a>(
    req: &'a pb::CompletionRequest,
    model: Option<&'a str>,
) -> wire::CompletionAsChatBody<'a> {
    wire::CompletionAsChatBody {
        model,
        messages: [wire::UserMessage {
            role: "user",
            content: &req.prompt,
        }],
        max_tokens: req.max_tokens,
        max_completion_tokens: req.max_completion_tokens,
        temperature: req.temperature.map(|t| t * 0.5),
        top_p: req.top_p,
        top_k: req.top_k,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        response_format: oai_convert::response_format(req.response_format.as_ref()),
        extra: oai_convert::extra(req.extra_params.as_ref()),
    }
}

/// Usage as MLflow reports it for Mistral: the three counts only.
pub fn three_counts(u: oai::Usage) -> pb::Usage {
    pb::Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.total_tokens,
        ..Default::default()
    }
}

/// A chat response: OpenAI's mapping, then list content joined into one text and usage reduced
/// to the three counts.
pub fn chat_response(c: oai::Completion, fallback_model: &str, now: i64) -> pb::ChatResponse {
    let usage = c.usage.map(three_counts);
    let mut resp =
        oai_convert::chat_response(oai::Completion { usage: None, ..c }, fallback_model, now);
    for choice in &mut resp.choices {
        if let Some(msg) = choice.message.as_mut()
            && !msg.content_parts.is_empty()
        {
            msg.content = Some(join_text(std::mem::take(&mut msg.content_parts)));
        }
    }
    resp.usage = usage;
    resp
}

/// The text parts of a list content, concatenated (thinking parts were already left out).
fn join_text(parts: Vec<pb::ContentPart>) -> String {
    parts
        .into_iter()
        .filter_map(|p| match p.part {
            Some(pb::content_part::Part::Text(t)) => Some(t),
            _ => None,
        })
        .collect()
}

/// A completions response read from a chat completion: text from the message, the configured
/// model, `created` now and no id (MLflow reports neither from the upstream).
pub fn completion_response(c: oai::Completion, model: &str, now: i64) -> pb::CompletionResponse {
    pb::CompletionResponse {
        id: None,
        created: now,
        model: model.to_owned(),
        choices: c
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, ch)| {
                let text = match ch.message.and_then(|m| m.content) {
                    Some(oai::ResponseContent::Text(t)) => t,
                    Some(oai::ResponseContent::Parts(parts)) => parts
                        .into_iter()
                        .filter(|p| p.kind == "text")
                        .filter_map(|p| p.text)
                        .collect(),
                    None => String::new(),
                };
                pb::CompletionChoice {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    text,
                    finish_reason: ch.finish_reason,
                }
            })
            .collect(),
        usage: c.usage.map(three_counts),
        provider: String::new(),
    }
}

/// An embeddings response: upstream indices kept (position when absent), configured model.
pub fn embed_response(e: wire::Embeddings, model: &str) -> pb::EmbedResponse {
    pb::EmbedResponse {
        model: model.to_owned(),
        data: e
            .data
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let index = d
                    .index
                    .unwrap_or_else(|| u32::try_from(i).unwrap_or(u32::MAX));
                match d.embedding {
                    oai::EmbeddingVector::Floats(values) => pb::Embedding {
                        index,
                        values,
                        base64: None,
                    },
                    oai::EmbeddingVector::Base64(b) => pb::Embedding {
                        index,
                        values: Vec::new(),
                        base64: Some(b),
                    },
                }
            })
            .collect(),
        usage: e.usage.map(|u| pb::Usage {
            prompt_tokens: u.prompt_tokens,
            total_tokens: u.total_tokens,
            ..Default::default()
        }),
        provider: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto_json::to_pb_struct;
    use serde_json::{Value, json};

    const CHAT: &str = include_str!("../../../tests/fixtures/mistral/chat_response.json");
    const CHAT_TOOLS: &str =
        include_str!("../../../tests/fixtures/mistral/chat_response_tools.json");
    const CHAT_REASONING: &str =
        include_str!("../../../tests/fixtures/mistral/chat_response_reasoning.json");
    const STREAM: &str = include_str!("../../../tests/fixtures/mistral/chat_stream.txt");
    const EMBEDDINGS: &str =
        include_str!("../../../tests/fixtures/mistral/embeddings_response.json");

    fn user(text: &str) -> pb::Message {
        pb::Message {
            role: "user".into(),
            content: Some(text.into()),
            ..Default::default()
        }
    }

    #[test]
    fn chat_body_is_openai_without_stream_options() {
        let req = pb::ChatRequest {
            messages: vec![user("hi")],
            temperature: Some(0.8),
            stop: vec!["x".into()],
            ..Default::default()
        };
        let v = serde_json::to_value(chat_body(&req, Some("mistral-small-latest"), false)).unwrap();
        // Chat temperature is not rescaled; n is sent.
        assert_eq!(
            v,
            json!({"model":"mistral-small-latest","n":1,"stop":["x"],"temperature":0.8,
                   "messages":[{"role":"user","content":"hi"}]})
        );
        let v = serde_json::to_value(chat_body(&req, Some("m"), true)).unwrap();
        assert_eq!(v["stream"], json!(true));
        assert!(v.get("stream_options").is_none());
    }

    #[test]
    fn completion_body_goes_through_chat() {
        let req = pb::CompletionRequest {
            prompt: "Say hi".into(),
            temperature: Some(0.6),
            max_tokens: Some(5),
            stop: vec!["x".into()],
            n: Some(1),
            top_p: Some(0.9),
            extra_params: Some(to_pb_struct(
                json!({"random_seed": 3}).as_object().cloned().unwrap(),
            )),
            ..Default::default()
        };
        let v = serde_json::to_value(completion_body(&req, Some("mistral-tiny"))).unwrap();
        assert_eq!(
            v,
            json!({"model":"mistral-tiny","messages":[{"role":"user","content":"Say hi"}],
                   "max_tokens":5,"temperature":0.3,"top_p":0.9,"random_seed":3})
        );
    }

    #[test]
    fn chat_response_keeps_three_counts() {
        let c: oai::Completion = serde_json::from_str(CHAT).unwrap();
        let r = chat_response(c, "cfg", 1);
        assert_eq!(
            r.id.as_deref(),
            Some("cmpl-e5cc70bb28c444948073e77776eb30ef")
        );
        assert_eq!(r.model, "mistral-small-latest");
        assert_eq!(r.created, 1702256327);
        let m = r.choices[0].message.as_ref().unwrap();
        assert_eq!(
            m.content.as_deref(),
            Some("Paris is the capital of France.")
        );
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
        let u = r.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (Some(16), Some(34), Some(50))
        );
        assert!(u.prompt_tokens_details.is_none() && u.extra.is_none());
    }

    #[test]
    fn chat_response_tool_calls() {
        let c: oai::Completion = serde_json::from_str(CHAT_TOOLS).unwrap();
        let r = chat_response(c, "cfg", 1);
        let m = r.choices[0].message.as_ref().unwrap();
        assert_eq!(m.tool_calls[0].id, "D681PevKs");
        let f = m.tool_calls[0].function.as_ref().unwrap();
        assert_eq!(f.name.as_deref(), Some("get_weather"));
        assert_eq!(f.arguments.as_deref(), Some("{\"city\": \"Paris\"}"));
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn list_content_is_joined_text() {
        let c: oai::Completion = serde_json::from_str(CHAT_REASONING).unwrap();
        let r = chat_response(c, "cfg", 1);
        let m = r.choices[0].message.as_ref().unwrap();
        assert_eq!(m.content.as_deref(), Some("The answer is 4."));
        assert!(m.content_parts.is_empty());
        let c: oai::Completion = serde_json::from_str(CHAT_REASONING).unwrap();
        assert_eq!(
            completion_response(c, "m", 0).choices[0].text,
            "The answer is 4."
        );
    }

    #[test]
    fn completion_response_uses_configured_model_and_now() {
        let c: oai::Completion = serde_json::from_str(CHAT).unwrap();
        let r = completion_response(c, "mistral-tiny", 42);
        assert_eq!(r.id, None);
        assert_eq!((r.model.as_str(), r.created), ("mistral-tiny", 42));
        assert_eq!(r.choices[0].text, "Paris is the capital of France.");
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(r.usage.unwrap().total_tokens, Some(50));
    }

    #[test]
    fn stream_chunks_map_like_openai() {
        let chunks: Vec<pb::ChatChunk> = STREAM
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| oai_convert::chat_chunk(serde_json::from_str(d).unwrap(), "cfg", 0))
            .collect();
        assert_eq!(chunks.len(), 3);
        let text: String = chunks
            .iter()
            .filter_map(|c| c.choices[0].delta.as_ref()?.content.clone())
            .collect();
        assert_eq!(text, "Hello!");
        assert_eq!(chunks[2].choices[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(chunks[2].usage.as_ref().unwrap().total_tokens, Some(7));
    }

    #[test]
    fn embeddings_keep_upstream_index_and_configured_model() {
        let e: wire::Embeddings = serde_json::from_str(EMBEDDINGS).unwrap();
        let r = embed_response(e, "mistral-embed-cfg");
        assert_eq!(r.model, "mistral-embed-cfg");
        assert_eq!(r.data[1].index, 1);
        assert_eq!(r.data[1].values, vec![0.4, 0.5, -0.6]);
        let u = r.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.total_tokens, u.completion_tokens),
            (Some(6), Some(6), None)
        );
        let v: Value = serde_json::from_str(r#"{"data":[{"embedding":[1.0],"index":7}]}"#).unwrap();
        let e: wire::Embeddings = serde_json::from_value(v).unwrap();
        assert_eq!(embed_response(e, "m").data[0].index, 7);
    }
}
