//! Pure conversions between the proto chat model and Bedrock's Converse API (spec §3.7, MLflow's
//! `_build_converse_kwargs` and `_converse_to_chat_response`): messages, system prompts,
//! `inferenceConfig` (temperature unscaled), tools and tool choice, tool calls and results,
//! images from data URLs; the answer's text, tool calls, finish reason and usage with cache
//! tokens. No I/O; unit-tested on `tests/fixtures/bedrock/`.

use serde_json::value::RawValue;

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::proto_json::StructRef;

use super::wire;

fn unprocessable(msg: impl Into<String>) -> GatewayError {
    GatewayError::Unprocessable(msg.into())
}

/// The Converse body, or MLflow's 422 for a tool call it cannot forward.
pub fn chat_body(req: &pb::ChatRequest) -> Result<wire::ConverseBody<'_>, GatewayError> {
    let mut system = Vec::new();
    let mut messages: Vec<wire::Message<'_>> = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        match m.role.as_str() {
            // MLflow sends `developer` as a user turn; it is OpenAI's newer name for `system`.
            "system" | "developer" => system.push(wire::SystemBlock {
                text: plain_text(m),
            }),
            "assistant" => messages.push(wire::Message {
                role: "assistant",
                content: assistant_blocks(m)?,
            }),
            "tool" => {
                let result = wire::Block::ToolResult(wire::ToolResult {
                    tool_use_id: m.tool_call_id.clone().unwrap_or_default(),
                    content: vec![wire::ToolResultText {
                        text: plain_text(m),
                    }],
                });
                // Consecutive tool messages answer one assistant turn: one user message.
                match messages.last_mut() {
                    Some(last)
                        if last.role == "user"
                            && last
                                .content
                                .iter()
                                .all(|b| matches!(b, wire::Block::ToolResult(_))) =>
                    {
                        last.content.push(result);
                    }
                    _ => messages.push(wire::Message {
                        role: "user",
                        content: vec![result],
                    }),
                }
            }
            // `user` and any other role, as MLflow does.
            _ => messages.push(wire::Message {
                role: "user",
                content: user_blocks(m)?,
            }),
        }
    }
    let tools: Vec<wire::Tool<'_>> = req.tools.iter().filter_map(tool).collect();
    let tool_config = (!tools.is_empty()).then(|| wire::ToolConfig {
        tool_choice: tool_choice(req.tool_choice.as_ref()),
        tools,
    });
    Ok(wire::ConverseBody {
        messages,
        system,
        inference_config: wire::InferenceConfig {
            temperature: req.temperature,
            top_p: req.top_p,
            max_tokens: req
                .max_tokens
                .filter(|t| *t > 0)
                .or(req.max_completion_tokens.filter(|t| *t > 0)),
            stop_sequences: &req.stop,
        },
        tool_config,
    })
}

/// A message's text: its content, or its text parts joined by newlines (MLflow's
/// `_normalize_content_text`).
fn plain_text(m: &pb::Message) -> String {
    if m.content_parts.is_empty() {
        return m.content.clone().unwrap_or_default();
    }
    let texts: Vec<&str> = m
        .content_parts
        .iter()
        .filter_map(|p| match &p.part {
            Some(pb::content_part::Part::Text(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    texts.join("\n")
}

/// A user turn: one text block, as MLflow sends it; with images, the parts in order (MLflow
/// drops images; Converse takes them as base64 bytes).
fn user_blocks(m: &pb::Message) -> Result<Vec<wire::Block<'_>>, GatewayError> {
    use pb::content_part::Part;
    let has_image = m
        .content_parts
        .iter()
        .any(|p| matches!(p.part, Some(Part::ImageUrl(_))));
    if !has_image {
        return Ok(vec![wire::Block::Text(plain_text(m))]);
    }
    let mut blocks = Vec::with_capacity(m.content_parts.len());
    for p in &m.content_parts {
        match &p.part {
            Some(Part::Text(t)) => blocks.push(wire::Block::Text(t.clone())),
            Some(Part::ImageUrl(i)) => blocks.push(wire::Block::Image(image(&i.url)?)),
            // Audio and reasoning parts have no Converse form here; MLflow drops them too.
            _ => {}
        }
    }
    Ok(blocks)
}

/// An image from a `data:image/...;base64,` URL. Converse cannot fetch URLs, so anything else
/// is refused rather than silently dropped.
fn image(url: &str) -> Result<wire::Image<'_>, GatewayError> {
    let Some((media_type, data)) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
    else {
        return Err(unprocessable(
            "Amazon Bedrock takes images only as base64 data URLs (data:image/png;base64,...), not as links.",
        ));
    };
    let format = match media_type.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(unprocessable(format!(
                "Amazon Bedrock supports png, jpeg, gif and webp images, not '{other}'."
            )));
        }
    };
    Ok(wire::Image {
        format,
        source: wire::ImageSource { bytes: data },
    })
}

/// An assistant turn: its text, then one `toolUse` block per call (MLflow's checks and texts).
fn assistant_blocks(m: &pb::Message) -> Result<Vec<wire::Block<'_>>, GatewayError> {
    let text = plain_text(m);
    if m.tool_calls.is_empty() {
        return Ok(vec![wire::Block::Text(text)]);
    }
    let mut blocks = Vec::with_capacity(m.tool_calls.len() + 1);
    if !text.is_empty() {
        blocks.push(wire::Block::Text(text));
    }
    for tc in &m.tool_calls {
        let f = tc.function.as_ref();
        let name = f
            .and_then(|f| f.name.as_deref())
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| {
                unprocessable(format!(
                    "Invalid assistant tool call: missing function name for tool_call_id={}.",
                    tc.id
                ))
            })?;
        let input = match f.and_then(|f| f.arguments.as_deref()) {
            None => wire::ToolInput::Empty(serde_json::Map::new()),
            Some(args) => {
                let parsed: Option<&RawValue> = (!args.trim().is_empty())
                    .then(|| serde_json::from_str(args).ok())
                    .flatten();
                wire::ToolInput::Given(parsed.ok_or_else(|| {
                    unprocessable(format!(
                        "Invalid assistant tool call arguments: not valid JSON for tool_call_id={}, tool_name={name}.",
                        tc.id
                    ))
                })?)
            }
        };
        blocks.push(wire::Block::ToolUse(wire::ToolUse {
            tool_use_id: &tc.id,
            name,
            input,
        }));
    }
    Ok(blocks)
}

/// A function tool as a `toolSpec`; other tool types are skipped, as MLflow does.
fn tool(t: &pb::Tool) -> Option<wire::Tool<'_>> {
    if !matches!(t.r#type.as_str(), "" | "function") {
        return None;
    }
    let f = t.function.as_ref()?;
    Some(wire::Tool {
        tool_spec: wire::ToolSpec {
            name: &f.name,
            // Converse refuses an empty description, which MLflow sends for tools without one.
            description: f.description.as_deref().filter(|d| !d.is_empty()),
            input_schema: wire::InputSchema {
                json: match &f.parameters {
                    Some(p) => wire::Schema::Given(StructRef(p)),
                    None => {
                        wire::Schema::Empty(serde_json::json!({"type": "object", "properties": {}}))
                    }
                },
            },
        },
    })
}

/// `tool_choice` (MLflow ignores it): `auto`, `required` → `any`, a named function → `tool`.
/// Converse has no `none`; it is left to the default (`auto`).
fn tool_choice(tc: Option<&pb::ToolChoice>) -> Option<wire::ToolChoice<'_>> {
    use pb::tool_choice::Choice;
    match tc?.choice.as_ref()? {
        Choice::Mode(m) if m == "auto" => Some(wire::ToolChoice::Auto(wire::Empty {})),
        Choice::Mode(m) if m == "required" => Some(wire::ToolChoice::Any(wire::Empty {})),
        Choice::Mode(_) => None,
        Choice::FunctionName(name) => Some(wire::ToolChoice::Tool { name }),
    }
}

// ---------------------------------------------------------------------------------------------
// Answers

/// MLflow's `_map_stop_reason`.
pub fn finish_reason(stop_reason: Option<&str>) -> String {
    match stop_reason {
        Some("tool_use") => "tool_calls",
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("content_filtered" | "guardrail_intervened") => "content_filter",
        _ => "stop",
    }
    .to_owned()
}

/// MLflow's `_build_chat_usage`: cache reads and writes folded into the prompt count (Converse
/// reports `inputTokens` without them), the total recomputed when both parts are known, cache
/// reads as `cached_tokens`, cache writes kept as `cache_creation_input_tokens`.
pub fn usage(u: &wire::Usage) -> pb::Usage {
    let prompt = u.input_tokens.map(|i| {
        i.saturating_add(u.cache_read_input_tokens.unwrap_or(0))
            .saturating_add(u.cache_write_input_tokens.unwrap_or(0))
    });
    let total = match (prompt, u.output_tokens) {
        (Some(p), Some(c)) => Some(p.saturating_add(c)),
        _ => u.total_tokens,
    };
    let extra = u.cache_write_input_tokens.map(|w| {
        let mut map = serde_json::Map::new();
        map.insert("cache_creation_input_tokens".into(), w.into());
        crate::proto_json::to_pb_struct(map)
    });
    pb::Usage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: total,
        prompt_tokens_details: u.cache_read_input_tokens.map(|c| pb::PromptTokensDetails {
            cached_tokens: Some(c),
            audio_tokens: None,
        }),
        completion_tokens_details: None,
        extra,
    }
}

/// A tool call's arguments as MLflow writes them (`json.dumps(input)`).
pub fn arguments(input: Option<&serde_json::Value>) -> String {
    match input {
        Some(v) => crate::pyjson::dumps(v),
        None => "{}".to_owned(),
    }
}

/// A Converse answer as a chat completion: text blocks joined by newlines, tool uses as tool
/// calls; no id; the configured model.
pub fn chat_response(r: wire::ConverseResponse, model: &str, now: i64) -> pb::ChatResponse {
    let mut texts: Vec<String> = Vec::new();
    let mut tool_calls = Vec::new();
    let blocks = r
        .output
        .and_then(|o| o.message)
        .map(|m| m.content)
        .unwrap_or_default();
    for block in blocks {
        if let Some(text) = block.text {
            texts.push(text);
        } else if let Some(tu) = block.tool_use {
            tool_calls.push(pb::ToolCall {
                id: tu.tool_use_id,
                r#type: "function".into(),
                function: Some(pb::FunctionCall {
                    name: Some(tu.name),
                    arguments: Some(arguments(tu.input.as_ref())),
                }),
                thought_signature: None,
            });
        }
    }
    pb::ChatResponse {
        id: None,
        created: now,
        model: model.to_owned(),
        choices: vec![pb::ChatChoice {
            index: 0,
            message: Some(pb::Message {
                role: "assistant".into(),
                content: (!texts.is_empty()).then(|| texts.join("\n")),
                content_parts: Vec::new(),
                tool_calls,
                tool_call_id: None,
                refusal: None,
            }),
            finish_reason: Some(finish_reason(r.stop_reason.as_deref())),
        }],
        usage: Some(usage(&r.usage.unwrap_or_default())),
        provider: String::new(),
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
