//! Pure conversions from the proto model to Anthropic's request bodies (spec §3.4): the Messages
//! API body (MLflow's `AnthropicAdapter.chat_to_model` rules and 422 texts) and the legacy Text
//! Completions body. Responses are turned back in `response.rs`. No I/O here; every rule is
//! unit-tested (`convert_tests.rs`) against the recorded payloads in `tests/fixtures/anthropic/`.

use std::borrow::Cow;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::proto_json::{StructRef, to_json_map};

use super::wire;

/// `MLFLOW_AI_GATEWAY_ANTHROPIC_DEFAULT_MAX_TOKENS`.
pub const DEFAULT_MAX_TOKENS: u32 = 8192;
/// `MLFLOW_AI_GATEWAY_ANTHROPIC_MAXIMUM_MAX_TOKENS`.
pub const MAXIMUM_MAX_TOKENS: u32 = 1_000_000;

/// What MLflow appends to `system` for `response_format: json_object` (Anthropic has no JSON mode).
pub const JSON_OBJECT_INSTRUCTION: &str = "Respond with only a single valid JSON object. Do not include any explanatory text, markdown, or code fences before or after the JSON object.";

/// Extra parameters consumed by the conversion rather than forwarded.
const CONSUMED_CHAT_EXTRAS: &[&str] = &["parallel_tool_calls"];

fn unprocessable(msg: impl Into<String>) -> GatewayError {
    GatewayError::Unprocessable(msg.into())
}

/// Anthropic's temperature range is 0-1, the unified one 0-2.
fn scale_temperature(t: Option<f64>) -> Option<f64> {
    t.map(|t| t * 0.5)
}

fn max_tokens(max_tokens: Option<u32>) -> Result<u32, GatewayError> {
    let value = max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if value > MAXIMUM_MAX_TOKENS {
        return Err(unprocessable(format!(
            "Invalid value for max_tokens: cannot exceed {MAXIMUM_MAX_TOKENS}."
        )));
    }
    Ok(value)
}

fn check_n(n: Option<u32>) -> Result<(), GatewayError> {
    match n {
        None | Some(1) => Ok(()),
        Some(n) => Err(unprocessable(format!(
            "'n' must be '1' for the Anthropic provider. Received value: '{n}'."
        ))),
    }
}

/// The Messages API body, or MLflow's 422 for a request Anthropic cannot take.
pub fn chat_body<'a>(
    req: &'a pb::ChatRequest,
    model: &'a str,
    stream: bool,
) -> Result<wire::MessagesBody<'a>, GatewayError> {
    // Checks in MLflow's order, so a request breaking several rules gets MLflow's message.
    if req.temperature.is_some() && req.top_p.is_some() {
        return Err(unprocessable(
            "Cannot set both 'temperature' and 'top_p' parameters.",
        ));
    }
    let max_tokens = max_tokens(req.max_tokens.or(req.max_completion_tokens))?;
    check_n(req.n)?;
    let (messages, mut system) = messages(&req.messages)?;
    let tools = req.tools.iter().map(tool).collect::<Result<Vec<_>, _>>()?;
    let parallel = req
        .extra_params
        .as_ref()
        .and_then(|e| e.fields.get("parallel_tool_calls"))
        .map(crate::proto_json::to_json_value);
    let disable_parallel = (parallel == Some(Value::Bool(false))).then_some(true);
    let tool_choice = tool_choice(
        req.tool_choice.as_ref(),
        !tools.is_empty(),
        disable_parallel,
    );
    let mut output_config = None;
    match req.response_format.as_ref().map(|rf| rf.r#type.as_str()) {
        Some("json_object") => {
            system = Some(match system {
                Some(s) => format!("{s}\n{JSON_OBJECT_INSTRUCTION}"),
                None => JSON_OBJECT_INSTRUCTION.to_owned(),
            });
        }
        Some("json_schema") => {
            output_config = req
                .response_format
                .as_ref()
                .and_then(|rf| rf.json_schema.as_ref())
                .and_then(|js| js.schema.as_ref())
                .and_then(|schema| {
                    let mut schema = Value::Object(to_json_map(schema));
                    close_objects(&mut schema).then_some(wire::OutputConfig {
                        format: wire::OutputFormat {
                            kind: "json_schema",
                            schema,
                        },
                    })
                });
        }
        _ => {}
    }
    Ok(wire::MessagesBody {
        model,
        messages,
        system,
        max_tokens,
        stop_sequences: &req.stop,
        temperature: scale_temperature(req.temperature),
        top_p: req.top_p,
        top_k: req.top_k,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        stream: stream.then_some(true),
        tools,
        tool_choice,
        output_config,
        extra: req
            .extra_params
            .as_ref()
            .filter(|e| {
                e.fields
                    .keys()
                    .any(|k| !CONSUMED_CHAT_EXTRAS.contains(&k.as_str()))
            })
            .map(|fields| wire::Extras {
                fields,
                skip: CONSUMED_CHAT_EXTRAS,
            }),
    })
}

/// Anthropic structured output needs every object closed (`additionalProperties: false`); as in
/// MLflow, a schema with an object whose properties are not listed cannot be closed, and then
/// the constraint is left out (false) rather than sent and refused.
fn close_objects(schema: &mut Value) -> bool {
    match schema {
        Value::Object(map) => {
            let is_object = match map.get("type") {
                Some(Value::String(t)) => t == "object",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
                _ => false,
            };
            if map.contains_key("properties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            } else if is_object {
                return false;
            }
            map.iter_mut().all(|(k, v)| match k.as_str() {
                // Maps from names to schemas: recurse into each schema, not the map itself.
                "properties" | "$defs" | "definitions" | "patternProperties" => match v {
                    Value::Object(named) => named.values_mut().all(close_objects),
                    _ => true,
                },
                // Data, not schemas.
                "enum" | "const" | "default" | "examples" => true,
                _ => close_objects(v),
            })
        }
        Value::Array(items) => items.iter_mut().all(close_objects),
        _ => true,
    }
}

/// The conversation as Anthropic messages, and the system prompt (system messages joined by
/// newlines).
fn messages(
    msgs: &[pb::Message],
) -> Result<(Vec<wire::Message<'_>>, Option<String>), GatewayError> {
    let mut out = Vec::with_capacity(msgs.len());
    let mut system: Option<String> = None;
    for m in msgs {
        match m.role.as_str() {
            // `developer` is OpenAI's newer name for `system` (MLflow drops it).
            "system" | "developer" => {
                let text = plain_text(m);
                match &mut system {
                    Some(s) => {
                        s.push('\n');
                        s.push_str(&text);
                    }
                    None => system = Some(text),
                }
            }
            "user" => out.push(wire::Message {
                role: "user",
                content: content(m)?,
            }),
            "assistant" if m.tool_calls.is_empty() => out.push(wire::Message {
                role: "assistant",
                content: content(m)?,
            }),
            "assistant" => out.push(wire::Message {
                role: "assistant",
                content: wire::Content::Blocks(assistant_blocks(m)?),
            }),
            // One user message per tool result, as MLflow sends them (Anthropic merges
            // consecutive user turns itself).
            "tool" => out.push(wire::Message {
                role: "user",
                content: wire::Content::Blocks(vec![wire::Block::ToolResult {
                    tool_use_id: m.tool_call_id.as_deref().unwrap_or_default(),
                    content: content(m)?,
                }]),
            }),
            // Roles Anthropic has no place for are dropped, as MLflow does.
            _ => {}
        }
    }
    Ok((out, system))
}

/// A message's text: its content, or its text parts joined by newlines.
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

fn content(m: &pb::Message) -> Result<wire::Content<'_>, GatewayError> {
    if m.content_parts.is_empty() {
        return Ok(wire::Content::Text(
            m.content.as_deref().unwrap_or_default(),
        ));
    }
    let mut blocks = Vec::with_capacity(m.content_parts.len());
    for p in &m.content_parts {
        if let Some(b) = part(p)? {
            blocks.push(b);
        }
    }
    Ok(wire::Content::Blocks(blocks))
}

fn part(p: &pb::ContentPart) -> Result<Option<wire::Block<'_>>, GatewayError> {
    use pb::content_part::Part;
    Ok(match &p.part {
        Some(Part::Text(t)) => Some(wire::Block::Text {
            text: Cow::Borrowed(t),
        }),
        Some(Part::ImageUrl(i)) => Some(image(&i.url)),
        Some(Part::InputAudio(_)) => {
            return Err(unprocessable(
                "Audio input is not supported by the Anthropic provider.",
            ));
        }
        // Reasoning summaries of earlier turns cannot become Anthropic thinking blocks (those
        // need the upstream's signature); they are dropped rather than refused upstream.
        Some(Part::Reasoning(_)) | None => None,
    })
}

/// An image part: data URLs as base64 sources, http(s) URLs as URL sources; anything else is
/// described in text, as MLflow does.
fn image(url: &str) -> wire::Block<'_> {
    if let Some((media_type, data)) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
    {
        return wire::Block::Image {
            source: wire::ImageSource::Base64 { media_type, data },
        };
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return wire::Block::Image {
            source: wire::ImageSource::Url { url },
        };
    }
    wire::Block::Text {
        text: Cow::Owned(format!("[unsupported image reference: {url}]")),
    }
}

/// An assistant turn that calls tools: its text (MLflow drops it; Anthropic accepts it before
/// the calls), then one `tool_use` block per call.
fn assistant_blocks(m: &pb::Message) -> Result<Vec<wire::Block<'_>>, GatewayError> {
    let mut blocks = match content(m)? {
        wire::Content::Text("") => Vec::new(),
        wire::Content::Text(t) => vec![wire::Block::Text {
            text: Cow::Borrowed(t),
        }],
        wire::Content::Blocks(b) => b,
    };
    for tc in &m.tool_calls {
        let f = tc.function.as_ref();
        let args = f
            .and_then(|f| f.arguments.as_deref())
            .filter(|a| !a.trim().is_empty())
            .unwrap_or("{}");
        let input: &RawValue = serde_json::from_str(args).map_err(|e| {
            unprocessable(format!(
                "The arguments of tool call '{}' are not valid JSON: {e}.",
                tc.id
            ))
        })?;
        blocks.push(wire::Block::ToolUse {
            id: &tc.id,
            name: f.and_then(|f| f.name.as_deref()).unwrap_or_default(),
            input,
        });
    }
    Ok(blocks)
}

fn tool(t: &pb::Tool) -> Result<wire::Tool<'_>, GatewayError> {
    if !matches!(t.r#type.as_str(), "" | "function") {
        return Err(unprocessable(format!(
            "Only function calling tool is supported, but received tool type {}",
            t.r#type
        )));
    }
    let f = t
        .function
        .as_ref()
        .ok_or_else(|| unprocessable("A function tool needs a 'function' definition."))?;
    Ok(wire::Tool {
        name: &f.name,
        description: f.description.as_deref(),
        input_schema: match &f.parameters {
            Some(p) => wire::InputSchema::Given(StructRef(p)),
            None => {
                wire::InputSchema::Empty(serde_json::json!({"type": "object", "properties": {}}))
            }
        },
    })
}

fn tool_choice<'a>(
    tc: Option<&'a pb::ToolChoice>,
    has_tools: bool,
    disable_parallel: Option<bool>,
) -> Option<wire::ToolChoice<'a>> {
    use pb::tool_choice::Choice;
    let (kind, name) = match tc.and_then(|tc| tc.choice.as_ref()) {
        Some(Choice::Mode(m)) => match m.as_str() {
            "none" => ("none", None),
            "required" => ("any", None),
            _ => ("auto", None),
        },
        Some(Choice::FunctionName(name)) => ("tool", Some(name.as_str())),
        // `parallel_tool_calls: false` alone still needs a tool_choice to travel in.
        None if has_tools && disable_parallel.is_some() => ("auto", None),
        None => return None,
    };
    Some(wire::ToolChoice {
        kind,
        name,
        // Anthropic refuses the flag on `none`.
        disable_parallel_tool_use: if kind == "none" {
            None
        } else {
            disable_parallel
        },
    })
}

/// The legacy Text Completions body, or MLflow's 422.
pub fn complete_body<'a>(
    req: &'a pb::CompletionRequest,
    model: &'a str,
) -> Result<wire::CompleteBody<'a>, GatewayError> {
    if req.top_p.is_some() {
        return Err(unprocessable(
            "Cannot set both 'temperature' and 'top_p' parameters. Please use only the temperature parameter for your query.",
        ));
    }
    let max_tokens_to_sample = max_tokens(req.max_tokens.or(req.max_completion_tokens))?;
    check_n(req.n)?;
    if req.response_format.is_some() {
        return Err(unprocessable(
            "response_format is not supported by the Anthropic completions route.",
        ));
    }
    Ok(wire::CompleteBody {
        model,
        prompt: wrap_prompt(&req.prompt),
        max_tokens_to_sample,
        stop_sequences: &req.stop,
        temperature: scale_temperature(req.temperature),
        top_k: req.top_k,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        extra: req
            .extra_params
            .as_ref()
            .filter(|e| !e.fields.is_empty())
            .map(|fields| wire::Extras { fields, skip: &[] }),
    })
}

/// The legacy API wants `\n\nHuman: ...\n\nAssistant:`; MLflow adds what the prompt lacks.
pub fn wrap_prompt(prompt: &str) -> String {
    let mut p = String::with_capacity(prompt.len() + 24);
    if prompt.starts_with("Human: ") {
        p.push_str("\n\n");
    }
    p.push_str(prompt);
    if !p.starts_with("\n\nHuman: ") {
        p.insert_str(0, "\n\nHuman: ");
    }
    if !p.ends_with("\n\nAssistant:") {
        p.push_str("\n\nAssistant:");
    }
    p
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
