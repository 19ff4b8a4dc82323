//! Pure conversions of Anthropic's non-streaming responses into the proto model (spec §3.4):
//! MLflow's finish-reason map, usage with cache tokens, text and thinking blocks joined into
//! `content`, `tool_use` blocks as tool calls whose arguments are Python-`json.dumps` text.

use serde_json::Value;

use crate::pb::v1 as pb;
use crate::proto_json::to_pb_struct;

use super::wire;

/// MLflow's finish-reason map for the Messages API.
pub fn finish_reason(stop_reason: Option<&str>) -> String {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
    .to_owned()
}

/// Usage in the unified shape: the prompt count includes cache reads and writes (Anthropic
/// counts them apart from `input_tokens`), cache reads are also `cached_tokens`, and the
/// remaining upstream keys (`cache_creation_input_tokens`, ...) are kept under their names.
pub fn usage(u: wire::Usage) -> pb::Usage {
    let creation = u
        .extra
        .get("cache_creation_input_tokens")
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok());
    let prompt = match (u.input_tokens, u.cache_read_input_tokens, creation) {
        (None, None, None) => None,
        (i, r, c) => Some(
            i.unwrap_or(0)
                .saturating_add(r.unwrap_or(0))
                .saturating_add(c.unwrap_or(0)),
        ),
    };
    let total = match (prompt, u.output_tokens) {
        (None, None) => None,
        (p, c) => Some(p.unwrap_or(0).saturating_add(c.unwrap_or(0))),
    };
    pb::Usage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: total,
        prompt_tokens_details: u.cache_read_input_tokens.map(|c| pb::PromptTokensDetails {
            cached_tokens: Some(c),
            audio_tokens: None,
        }),
        completion_tokens_details: None,
        extra: (!u.extra.is_empty()).then(|| to_pb_struct(u.extra)),
    }
}

/// A Messages API response as a chat completion: text and thinking blocks concatenated into
/// `content`, `tool_use` blocks as tool calls with Python-`json.dumps` arguments.
pub fn chat_response(r: wire::MessageResponse, fallback_model: &str, now: i64) -> pb::ChatResponse {
    let mut content: Option<String> = None;
    let mut tool_calls = Vec::new();
    for block in r.content {
        match block {
            wire::ResponseBlock::Text { text: t }
            | wire::ResponseBlock::Thinking { thinking: t } => {
                content.get_or_insert_with(String::new).push_str(&t);
            }
            wire::ResponseBlock::ToolUse { id, name, input } => tool_calls.push(pb::ToolCall {
                id,
                r#type: "function".into(),
                function: Some(pb::FunctionCall {
                    name: Some(name),
                    arguments: Some(crate::pyjson::dumps(&input)),
                }),
                thought_signature: None,
            }),
            wire::ResponseBlock::Other => {}
        }
    }
    pb::ChatResponse {
        id: r.id,
        created: now,
        model: r.model.unwrap_or_else(|| fallback_model.to_owned()),
        choices: vec![pb::ChatChoice {
            index: 0,
            message: Some(pb::Message {
                role: "assistant".into(),
                content,
                content_parts: Vec::new(),
                tool_calls,
                tool_call_id: None,
                refusal: None,
            }),
            finish_reason: Some(finish_reason(r.stop_reason.as_deref())),
        }],
        usage: r.usage.map(usage),
        provider: String::new(),
    }
}

/// A legacy completion: no id, no usage (the API reports none).
pub fn complete_response(
    r: wire::CompleteResponse,
    fallback_model: &str,
    now: i64,
) -> pb::CompletionResponse {
    let finish = if r.stop_reason.as_deref() == Some("stop_sequence") {
        "stop"
    } else {
        "length"
    };
    pb::CompletionResponse {
        id: None,
        created: now,
        model: r.model.unwrap_or_else(|| fallback_model.to_owned()),
        choices: vec![pb::CompletionChoice {
            index: 0,
            text: r.completion,
            finish_reason: Some(finish.into()),
        }],
        usage: None,
        provider: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TOOLS_RESPONSE: &str =
        include_str!("../../../tests/fixtures/anthropic/chat_tools_response.json");
    const TEXT_RESPONSE: &str =
        include_str!("../../../tests/fixtures/anthropic/chat_text_response.json");
    const COMPLETE_RESPONSE: &str =
        include_str!("../../../tests/fixtures/anthropic/complete_response.json");

    #[test]
    fn tool_response_matches_the_mlflow_transcript() {
        let wire: wire::MessageResponse = serde_json::from_str(TOOLS_RESPONSE).unwrap();
        let r = chat_response(wire, "cfg", 1_700_000_000);
        assert_eq!(r.id.as_deref(), Some("msg_1"));
        assert_eq!((r.created, r.model.as_str()), (1_700_000_000, "claude-up"));
        let m = r.choices[0].message.as_ref().unwrap();
        assert_eq!(m.content.as_deref(), Some("Let me check."));
        let f = m.tool_calls[0].function.as_ref().unwrap();
        assert_eq!(m.tool_calls[0].id, "toolu_1");
        assert_eq!(f.arguments.as_deref(), Some(r#"{"city": "Paris"}"#));
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        let u = r.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (Some(12), Some(25), Some(37))
        );
        assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, Some(2));
        let extra = crate::proto_json::to_json_map(&u.extra.unwrap());
        assert_eq!(
            Value::Object(extra),
            json!({"cache_creation_input_tokens": 0})
        );
    }

    #[test]
    fn thinking_and_text_concatenate_without_separator() {
        let wire: wire::MessageResponse = serde_json::from_str(TEXT_RESPONSE).unwrap();
        let r = chat_response(wire, "cfg", 5);
        let m = r.choices[0].message.as_ref().unwrap();
        assert_eq!(
            m.content.as_deref(),
            Some("Greeting.Hello! How can I help?")
        );
        assert!(m.tool_calls.is_empty());
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
        let u = r.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.total_tokens), (Some(12), Some(18)));
        assert!(u.prompt_tokens_details.is_none() && u.extra.is_none());

        let empty: wire::MessageResponse =
            serde_json::from_value(json!({"content":[],"stop_reason":"max_tokens"})).unwrap();
        let r = chat_response(empty, "cfg", 5);
        assert_eq!(r.model, "cfg");
        assert_eq!(r.choices[0].message.as_ref().unwrap().content, None);
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("length"));
        assert!(r.usage.is_none());
    }

    #[test]
    fn finish_reasons() {
        for (from, to) in [
            (Some("end_turn"), "stop"),
            (Some("stop_sequence"), "stop"),
            (Some("pause_turn"), "stop"),
            (None, "stop"),
            (Some("max_tokens"), "length"),
            (Some("model_context_window_exceeded"), "length"),
            (Some("tool_use"), "tool_calls"),
            (Some("refusal"), "content_filter"),
        ] {
            assert_eq!(finish_reason(from), to, "{from:?}");
        }
    }

    #[test]
    fn completion_response_from_fixture() {
        let wire: wire::CompleteResponse = serde_json::from_str(COMPLETE_RESPONSE).unwrap();
        let r = complete_response(wire, "cfg", 9);
        assert_eq!((r.id, r.created, r.model.as_str()), (None, 9, "claude-2.1"));
        assert_eq!(r.choices[0].text, " Hello! My name is Claude.");
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
        assert!(r.usage.is_none());
        let other: wire::CompleteResponse =
            serde_json::from_value(json!({"completion":"x","stop_reason":"max_tokens"})).unwrap();
        assert_eq!(
            complete_response(other, "cfg", 0).choices[0]
                .finish_reason
                .as_deref(),
            Some("length")
        );
    }
}
