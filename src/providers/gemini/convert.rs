//! Pure conversions from the proto requests to Gemini request bodies (spec §3.5,
//! `GeminiAdapter.chat_to_model` in MLflow): roles (`assistant` → `model`, system messages →
//! `system_instruction`), multimodal parts, tool calls and their results (paired by call id with
//! the name Gemini requires), tools and `tool_choice`, and `generationConfig`. Bodies borrow
//! from the request; no I/O here, so every rule is unit-tested.

use std::borrow::Cow;

use pbjson_types::value::Kind;
use serde_json::value::RawValue;

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::proto_json::StructRef;

use super::wire;

/// Gemini's own names for the unified parameters: sending them directly is refused, as MLflow
/// refuses them, because they would silently bypass the unified ones (order = MLflow's checks).
const RENAMED: [(&str, &str); 7] = [
    ("stop", "stopSequences"),
    ("n", "candidateCount"),
    ("max_tokens", "maxOutputTokens"),
    ("top_k", "topK"),
    ("top_p", "topP"),
    ("frequency_penalty", "frequencyPenalty"),
    ("presence_penalty", "presencePenalty"),
];

/// Any other extra parameter is dropped (MLflow forwards none of them to Gemini).
fn check_extras(extra: Option<&pbjson_types::Struct>) -> Result<(), GatewayError> {
    let Some(extra) = extra else { return Ok(()) };
    for (unified, gemini) in RENAMED {
        if extra.fields.contains_key(gemini) {
            return Err(GatewayError::Unprocessable(format!(
                "Invalid parameter {gemini}. Use {unified} instead."
            )));
        }
    }
    Ok(())
}

fn response_format(
    rf: Option<&pb::ResponseFormat>,
) -> (Option<StructRef<'_>>, Option<&'static str>) {
    match rf {
        Some(rf) if rf.r#type == "json_schema" => (
            rf.json_schema
                .as_ref()
                .and_then(|js| js.schema.as_ref())
                .map(StructRef),
            Some("application/json"),
        ),
        Some(rf) if rf.r#type == "json_object" => (None, Some("application/json")),
        _ => (None, None),
    }
}

/// `generationConfig` from the sampling fields chat and completion requests share. MLflow
/// always materialises `n`, so `candidateCount` is always present.
macro_rules! generation_config {
    ($req:expr) => {{
        let (schema, mime) = response_format($req.response_format.as_ref());
        wire::GenerationConfig {
            candidate_count: Some($req.n.unwrap_or(1)),
            stop_sequences: &$req.stop,
            max_output_tokens: $req.max_tokens.or($req.max_completion_tokens),
            temperature: $req.temperature,
            top_p: $req.top_p,
            top_k: $req.top_k,
            presence_penalty: $req.presence_penalty,
            frequency_penalty: $req.frequency_penalty,
            response_json_schema: schema,
            response_mime_type: mime,
        }
    }};
}

/// The `generateContent` body of a chat request.
pub fn chat_body(req: &pb::ChatRequest) -> Result<wire::GenerateBody<'_>, GatewayError> {
    check_extras(req.extra_params.as_ref())?;
    let (contents, system) = contents(&req.messages)?;
    let tools = tools(&req.tools)?;
    // MLflow maps tool_choice only alongside tools; `auto` is Gemini's default.
    let tool_config = if tools.is_empty() {
        None
    } else {
        req.tool_choice.as_ref().and_then(tool_config)
    };
    Ok(wire::GenerateBody {
        contents,
        system_instruction: system,
        generation_config: Some(generation_config!(req)),
        tools,
        tool_config,
    })
}

/// The `generateContent` body of a completion: the prompt as one user turn, and a string
/// `system_prompt` extra parameter as the system instruction (as MLflow reads it).
pub fn completion_body(
    req: &pb::CompletionRequest,
) -> Result<wire::GenerateBody<'_>, GatewayError> {
    check_extras(req.extra_params.as_ref())?;
    let system = req
        .extra_params
        .as_ref()
        .and_then(|e| e.fields.get("system_prompt"))
        .and_then(|v| match &v.kind {
            Some(Kind::StringValue(s)) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        })
        .map(|s| wire::SystemInstruction {
            parts: vec![wire::TextPart {
                text: Cow::Borrowed(s),
            }],
        });
    Ok(wire::GenerateBody {
        contents: vec![wire::Content {
            role: "user",
            parts: vec![wire::Part::Text {
                text: Cow::Borrowed(&req.prompt),
            }],
        }],
        system_instruction: system,
        generation_config: Some(generation_config!(req)),
        tools: Vec::new(),
        tool_config: None,
    })
}

/// The text of a message: its string content, or its text parts joined.
fn message_text(m: &pb::Message) -> Cow<'_, str> {
    if let Some(c) = &m.content {
        return Cow::Borrowed(c);
    }
    let texts: Vec<&str> = m
        .content_parts
        .iter()
        .filter_map(|p| match &p.part {
            Some(pb::content_part::Part::Text(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    match texts.as_slice() {
        [] => Cow::Borrowed(""),
        [one] => Cow::Borrowed(one),
        many => Cow::Owned(many.join("\n")),
    }
}

/// The parts of a user or model turn.
fn content_parts(m: &pb::Message) -> Vec<wire::Part<'_>> {
    if m.content_parts.is_empty() {
        return vec![wire::Part::Text {
            text: Cow::Borrowed(m.content.as_deref().unwrap_or("")),
        }];
    }
    m.content_parts.iter().filter_map(part).collect()
}

fn part(p: &pb::ContentPart) -> Option<wire::Part<'_>> {
    use pb::content_part::Part;
    Some(match p.part.as_ref()? {
        Part::Text(t) => wire::Part::Text {
            text: Cow::Borrowed(t),
        },
        Part::ImageUrl(img) => match parse_data_url(&img.url) {
            Some((mime, data)) => wire::Part::InlineData {
                inline_data: wire::InlineData {
                    mime_type: Cow::Borrowed(mime),
                    data,
                },
            },
            // Gemini cannot fetch arbitrary URLs; MLflow leaves the model a note instead.
            None => wire::Part::Text {
                text: Cow::Owned(format!("[unsupported image reference: {}]", img.url)),
            },
        },
        // MLflow forwards audio parts in OpenAI's shape, which Gemini rejects; inline data is
        // what Gemini understands.
        Part::InputAudio(a) => wire::Part::InlineData {
            inline_data: wire::InlineData {
                mime_type: Cow::Owned(format!("audio/{}", a.format)),
                data: &a.data,
            },
        },
        // Reasoning summaries are the model's own earlier output; Gemini has no input for them.
        Part::Reasoning(_) => return None,
    })
}

/// `data:image/png;base64,AAAA` → (`image/png`, `AAAA`).
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    Some((mime, data))
}

type Contents<'a> = (Vec<wire::Content<'a>>, Option<wire::SystemInstruction<'a>>);

/// The turns and the system instruction of a conversation.
fn contents(messages: &[pb::Message]) -> Result<Contents<'_>, GatewayError> {
    let mut out: Vec<wire::Content<'_>> = Vec::with_capacity(messages.len());
    let mut system: Vec<wire::TextPart<'_>> = Vec::new();
    // Gemini's functionResponse needs the function's name, which only the call carries.
    let mut call_names: Vec<(&str, &str)> = Vec::new();
    let mut last_was_tool = false;
    for m in messages {
        match m.role.as_str() {
            // `developer` is OpenAI's newer name for system instructions (MLflow drops it).
            "system" | "developer" => system.push(wire::TextPart {
                text: message_text(m),
            }),
            "user" => {
                out.push(wire::Content {
                    role: "user",
                    parts: content_parts(m),
                });
                last_was_tool = false;
            }
            "assistant" if m.tool_calls.is_empty() => {
                out.push(wire::Content {
                    role: "model",
                    parts: content_parts(m),
                });
                last_was_tool = false;
            }
            "assistant" => {
                let mut parts = Vec::with_capacity(m.tool_calls.len() + 1);
                // Text said before the calls is kept (MLflow drops it, losing context).
                let text = message_text(m);
                if !text.is_empty() {
                    parts.push(wire::Part::Text { text });
                }
                for tc in &m.tool_calls {
                    let name = tc
                        .function
                        .as_ref()
                        .and_then(|f| f.name.as_deref())
                        .unwrap_or("");
                    call_names.push((&tc.id, name));
                    parts.push(wire::Part::FunctionCall {
                        function_call: wire::FunctionCallOut {
                            id: &tc.id,
                            name,
                            args: call_args(tc, name)?,
                        },
                        thought_signature: tc.thought_signature.as_deref(),
                    });
                }
                out.push(wire::Content {
                    role: "model",
                    parts,
                });
                last_was_tool = false;
            }
            "tool" => {
                let id = m.tool_call_id.as_deref().unwrap_or("");
                let name = call_names
                    .iter()
                    .rev()
                    .find(|(call_id, _)| *call_id == id)
                    .map(|(_, name)| *name)
                    .ok_or_else(|| {
                        GatewayError::Unprocessable(format!(
                            "Invalid tool message: tool_call_id={} does not match any tool call in a preceding assistant message.",
                            m.tool_call_id.as_deref().unwrap_or("None")
                        ))
                    })?;
                let part = wire::Part::FunctionResponse {
                    function_response: wire::FunctionResponse {
                        id,
                        name,
                        response: tool_result(m),
                    },
                };
                // Consecutive results answer one model turn: Gemini wants them in one user turn.
                match out.last_mut() {
                    Some(turn) if last_was_tool => turn.parts.push(part),
                    _ => out.push(wire::Content {
                        role: "user",
                        parts: vec![part],
                    }),
                }
                last_was_tool = true;
            }
            // Other roles have no Gemini counterpart (MLflow drops them too).
            _ => {}
        }
    }
    let system = (!system.is_empty()).then_some(wire::SystemInstruction { parts: system });
    Ok((out, system))
}

/// A call's `arguments` as the JSON object Gemini wants (`{}` when empty).
fn call_args<'a>(tc: &'a pb::ToolCall, name: &str) -> Result<&'a RawValue, GatewayError> {
    let text = tc
        .function
        .as_ref()
        .and_then(|f| f.arguments.as_deref())
        .unwrap_or("");
    let text = if text.trim().is_empty() { "{}" } else { text };
    serde_json::from_str::<&RawValue>(text).map_err(|_| {
        GatewayError::Unprocessable(format!(
            "Invalid assistant tool call arguments: not valid JSON for tool_call_id={}, tool_name={name}.",
            tc.id
        ))
    })
}

/// A tool message's result: its JSON object as written, else `{"result": text}`.
fn tool_result(m: &pb::Message) -> wire::ToolResult<'_> {
    let text = message_text(m);
    if let Cow::Borrowed(t) = text
        && t.trim_start().starts_with('{')
        && let Ok(raw) = serde_json::from_str::<&RawValue>(t)
    {
        return wire::ToolResult::Object(raw);
    }
    wire::ToolResult::Wrapped { result: text }
}

fn tools(tools: &[pb::Tool]) -> Result<Vec<wire::ToolGroup<'_>>, GatewayError> {
    if tools.is_empty() {
        return Ok(Vec::new());
    }
    let mut declarations = Vec::with_capacity(tools.len());
    for t in tools {
        if !t.r#type.is_empty() && t.r#type != "function" {
            return Err(GatewayError::Unprocessable(format!(
                "Only function calling tool is supported, but received tool type {}",
                t.r#type
            )));
        }
        if let Some(f) = &t.function {
            declarations.push(wire::FunctionDeclaration {
                name: &f.name,
                description: f.description.as_deref(),
                parameters_json_schema: f.parameters.as_ref().map(StructRef),
            });
        }
    }
    Ok(vec![wire::ToolGroup {
        function_declarations: declarations,
    }])
}

fn tool_config(tc: &pb::ToolChoice) -> Option<wire::ToolConfig<'_>> {
    use pb::tool_choice::Choice;
    let config = match tc.choice.as_ref()? {
        Choice::Mode(m) if m == "none" => wire::FunctionCallingConfig {
            mode: "NONE",
            allowed_function_names: None,
        },
        Choice::Mode(m) if m == "required" => wire::FunctionCallingConfig {
            mode: "ANY",
            allowed_function_names: None,
        },
        Choice::Mode(_) => return None,
        Choice::FunctionName(name) => wire::FunctionCallingConfig {
            mode: "ANY",
            allowed_function_names: Some([name]),
        },
    };
    Some(wire::ToolConfig {
        function_calling_config: config,
    })
}

/// An embeddings call: `embedContent` for one input, `batchEmbedContents` for several.
pub enum EmbedCall<'a> {
    Single(wire::EmbedBody<'a>),
    Batch(wire::BatchEmbedBody<'a>),
}

/// The embeddings body. `batch_model` is `models/{name}`, which the batch API repeats per input.
pub fn embed_call<'a>(
    req: &'a pb::EmbedRequest,
    batch_model: &'a str,
) -> Result<EmbedCall<'a>, GatewayError> {
    if !req.token_ids.is_empty() {
        return Err(GatewayError::Unprocessable(
            "Gemini embeddings accept only text inputs, not token ids.".into(),
        ));
    }
    let content = |t: &'a String| wire::EmbedContent {
        parts: [wire::TextPart {
            text: Cow::Borrowed(t),
        }],
    };
    // MLflow drops `dimensions`; Gemini's name for it is `outputDimensionality`.
    let dims = req.dimensions;
    match req.texts.as_slice() {
        [] => Err(GatewayError::Unprocessable(
            "The embeddings input must not be empty.".into(),
        )),
        [one] => Ok(EmbedCall::Single(wire::EmbedBody {
            content: content(one),
            output_dimensionality: dims,
        })),
        many => Ok(EmbedCall::Batch(wire::BatchEmbedBody {
            requests: many
                .iter()
                .map(|t| wire::BatchEmbedRequest {
                    model: batch_model,
                    content: content(t),
                    output_dimensionality: dims,
                })
                .collect(),
        })),
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
