//! Pure conversions between the proto model and OpenAI's wire types (spec §3.2): request bodies
//! built by borrowing from the proto request, and upstream responses and stream chunks turned
//! into proto messages. No I/O here, so every rule is unit-tested on fixtures.

use crate::pb::v1 as pb;
use crate::proto_json::{StructRef, to_pb_struct};

use super::wire;

/// What the endpoint adds to every body: the model name (omitted for Azure deployments).
#[derive(Clone, Copy)]
pub struct BodyContext<'a> {
    pub model: Option<&'a str>,
}

fn stream_options(stream: bool) -> Option<wire::StreamOptions> {
    // MLflow injects include_usage on every OpenAI stream so the final usage chunk is available;
    // whether the client sees it is decided by the client's own stream_options.
    stream.then_some(wire::StreamOptions {
        include_usage: true,
    })
}

/// `response_format` in OpenAI's shape (shared by the providers that speak it).
pub fn response_format(rf: Option<&pb::ResponseFormat>) -> Option<wire::ResponseFormat<'_>> {
    rf.map(|rf| wire::ResponseFormat {
        kind: &rf.r#type,
        json_schema: rf.json_schema.as_ref().map(|js| wire::JsonSchema {
            name: &js.name,
            description: js.description.as_deref(),
            schema: js.schema.as_ref().map(StructRef),
            strict: js.strict.unwrap_or(true),
        }),
    })
}

/// Extra parameters to flatten into a body, when there are any.
pub fn extra(st: Option<&pbjson_types::Struct>) -> Option<StructRef<'_>> {
    st.filter(|s| !s.fields.is_empty()).map(StructRef)
}

/// The shared sampling fields of a chat or completion request (same names in both protos).
macro_rules! params {
    ($req:expr, $stream:expr) => {
        wire::Params {
            n: $req.n.unwrap_or(1),
            stop: &$req.stop,
            max_tokens: $req.max_tokens,
            max_completion_tokens: $req.max_completion_tokens,
            stream: $stream.then_some(true),
            temperature: $req.temperature,
            top_p: $req.top_p,
            top_k: $req.top_k,
            presence_penalty: $req.presence_penalty,
            frequency_penalty: $req.frequency_penalty,
            response_format: response_format($req.response_format.as_ref()),
        }
    };
}

/// The chat request body.
pub fn chat_body<'a>(
    req: &'a pb::ChatRequest,
    ctx: BodyContext<'a>,
    stream: bool,
) -> wire::ChatBody<'a> {
    wire::ChatBody {
        model: ctx.model,
        params: params!(req, stream),
        messages: req.messages.iter().map(message).collect(),
        tools: req.tools.iter().map(tool).collect(),
        tool_choice: req.tool_choice.as_ref().and_then(tool_choice),
        stream_options: stream_options(stream),
        extra: extra(req.extra_params.as_ref()),
    }
}

/// The completions request body.
pub fn completion_body<'a>(
    req: &'a pb::CompletionRequest,
    ctx: BodyContext<'a>,
    stream: bool,
) -> wire::CompletionBody<'a> {
    wire::CompletionBody {
        model: ctx.model,
        params: params!(req, stream),
        prompt: &req.prompt,
        stream_options: stream_options(stream),
        extra: extra(req.extra_params.as_ref()),
    }
}

/// The embeddings request body, with `input` in the form the client used.
pub fn embeddings_body<'a>(
    req: &'a pb::EmbedRequest,
    ctx: BodyContext<'a>,
) -> wire::EmbeddingsBody<'a> {
    let input = if !req.token_ids.is_empty() {
        match req.token_ids.as_slice() {
            [one] if req.single_input => wire::EmbeddingInput::Tokens(&one.ids),
            many => {
                wire::EmbeddingInput::TokenLists(many.iter().map(|t| t.ids.as_slice()).collect())
            }
        }
    } else {
        match req.texts.as_slice() {
            [one] if req.single_input => wire::EmbeddingInput::Text(one),
            many => wire::EmbeddingInput::Texts(many),
        }
    };
    wire::EmbeddingsBody {
        model: ctx.model,
        input,
        encoding_format: req.encoding_format.as_deref(),
        dimensions: req.dimensions,
        extra: extra(req.extra_params.as_ref()),
    }
}

fn message(m: &pb::Message) -> wire::Message<'_> {
    let content = if !m.content_parts.is_empty() {
        Some(wire::Content::Parts(
            m.content_parts.iter().filter_map(part).collect(),
        ))
    } else {
        m.content.as_deref().map(wire::Content::Text)
    };
    wire::Message {
        role: &m.role,
        content,
        tool_calls: m
            .tool_calls
            .iter()
            .map(|tc| wire::ToolCall {
                id: &tc.id,
                kind: if tc.r#type.is_empty() {
                    "function"
                } else {
                    &tc.r#type
                },
                function: wire::FunctionCallOut {
                    name: tc.function.as_ref().and_then(|f| f.name.as_deref()),
                    arguments: tc.function.as_ref().and_then(|f| f.arguments.as_deref()),
                },
            })
            .collect(),
        tool_call_id: m.tool_call_id.as_deref(),
        refusal: m.refusal.as_deref(),
    }
}

fn part(p: &pb::ContentPart) -> Option<wire::Part<'_>> {
    use pb::content_part::Part;
    Some(match p.part.as_ref()? {
        Part::Text(t) => wire::Part::Text { text: t },
        Part::ImageUrl(i) => wire::Part::ImageUrl {
            image_url: wire::ImageUrl {
                url: &i.url,
                detail: i.detail.as_deref(),
            },
        },
        Part::InputAudio(a) => wire::Part::InputAudio {
            input_audio: wire::InputAudio {
                data: &a.data,
                format: &a.format,
            },
        },
        Part::Reasoning(r) => wire::Part::Reasoning {
            summary: r
                .summary_text
                .iter()
                .map(|t| wire::SummaryText {
                    kind: "summary_text",
                    text: t,
                })
                .collect(),
        },
    })
}

fn tool(t: &pb::Tool) -> wire::Tool<'_> {
    wire::Tool {
        kind: if t.r#type.is_empty() {
            "function"
        } else {
            &t.r#type
        },
        function: t.function.as_ref().map(|f| wire::FunctionDef {
            name: &f.name,
            description: f.description.as_deref(),
            parameters: f.parameters.as_ref().map(StructRef),
            strict: f.strict,
        }),
    }
}

fn tool_choice(tc: &pb::ToolChoice) -> Option<wire::ToolChoice<'_>> {
    use pb::tool_choice::Choice;
    Some(match tc.choice.as_ref()? {
        Choice::Mode(m) => wire::ToolChoice::Mode(m),
        Choice::FunctionName(name) => wire::ToolChoice::Function {
            kind: "function",
            function: wire::NamedFunction { name },
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Responses

/// Usage in the proto model; extra upstream keys are kept under their names.
pub fn usage(u: wire::Usage) -> pb::Usage {
    pb::Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.total_tokens,
        prompt_tokens_details: u.prompt_tokens_details,
        completion_tokens_details: u.completion_tokens_details,
        extra: (!u.extra.is_empty()).then(|| to_pb_struct(u.extra)),
    }
}

fn response_content(c: Option<wire::ResponseContent>) -> (Option<String>, Vec<pb::ContentPart>) {
    match c {
        None => (None, Vec::new()),
        Some(wire::ResponseContent::Text(t)) => (Some(t), Vec::new()),
        Some(wire::ResponseContent::Parts(parts)) => (
            None,
            parts
                .into_iter()
                .filter(|p| p.kind == "text")
                .filter_map(|p| p.text)
                .map(|t| pb::ContentPart {
                    part: Some(pb::content_part::Part::Text(t)),
                })
                .collect(),
        ),
    }
}

fn tool_calls(calls: Option<Vec<wire::ResponseToolCall>>) -> Vec<pb::ToolCall> {
    calls
        .unwrap_or_default()
        .into_iter()
        .map(|c| pb::ToolCall {
            id: c.id.unwrap_or_default(),
            r#type: c.kind.unwrap_or_else(|| "function".into()),
            function: c.function.map(|f| pb::FunctionCall {
                name: f.name,
                arguments: f.arguments,
            }),
            thought_signature: c.thought_signature,
        })
        .collect()
}

/// A chat completion. Choices are re-indexed by position, as MLflow does; `now` fills a missing
/// `created`.
pub fn chat_response(c: wire::Completion, fallback_model: &str, now: i64) -> pb::ChatResponse {
    pb::ChatResponse {
        id: c.id,
        created: c.created.unwrap_or(now),
        model: c.model.unwrap_or_else(|| fallback_model.to_owned()),
        choices: c
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, ch)| {
                let msg = ch.message.unwrap_or(wire::ResponseMessage {
                    role: None,
                    content: None,
                    tool_calls: None,
                    refusal: None,
                });
                let (content, content_parts) = response_content(msg.content);
                pb::ChatChoice {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    message: Some(pb::Message {
                        role: msg.role.unwrap_or_else(|| "assistant".into()),
                        content,
                        content_parts,
                        tool_calls: tool_calls(msg.tool_calls),
                        tool_call_id: None,
                        // MLflow does not propagate upstream refusals (it always answers null).
                        refusal: None,
                    }),
                    finish_reason: ch.finish_reason,
                }
            })
            .collect(),
        usage: c.usage.map(usage),
        provider: String::new(),
    }
}

/// A completions response: text from `message.content` or `text` (MLflow reads both).
pub fn completion_response(
    c: wire::Completion,
    fallback_model: &str,
    now: i64,
) -> pb::CompletionResponse {
    pb::CompletionResponse {
        id: c.id,
        created: c.created.unwrap_or(now),
        model: c.model.unwrap_or_else(|| fallback_model.to_owned()),
        choices: c
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, ch)| {
                let from_message = ch.message.and_then(|m| match m.content {
                    Some(wire::ResponseContent::Text(t)) if !t.is_empty() => Some(t),
                    _ => None,
                });
                pb::CompletionChoice {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    text: from_message.or(ch.text).unwrap_or_default(),
                    finish_reason: ch.finish_reason,
                }
            })
            .collect(),
        usage: c.usage.map(usage),
        provider: String::new(),
    }
}

/// A chat stream chunk (upstream indices kept, as MLflow does).
pub fn chat_chunk(c: wire::Chunk, fallback_model: &str, now: i64) -> pb::ChatChunk {
    pb::ChatChunk {
        id: c.id,
        created: c.created.unwrap_or(now),
        model: c.model.unwrap_or_else(|| fallback_model.to_owned()),
        choices: c
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, ch)| {
                let delta = ch.delta.unwrap_or(wire::Delta {
                    role: None,
                    content: None,
                    tool_calls: None,
                });
                pb::ChatChunkChoice {
                    index: ch.index.unwrap_or(u32::try_from(i).unwrap_or(u32::MAX)),
                    finish_reason: ch.finish_reason,
                    delta: Some(pb::ChatDelta {
                        role: delta.role,
                        content: delta.content,
                        tool_calls: delta
                            .tool_calls
                            .unwrap_or_default()
                            .into_iter()
                            .enumerate()
                            .map(|(j, tc)| pb::ToolCallDelta {
                                index: tc.index.unwrap_or(u32::try_from(j).unwrap_or(u32::MAX)),
                                id: tc.id,
                                r#type: tc.kind,
                                function: tc.function.map(|f| pb::FunctionCall {
                                    name: f.name,
                                    arguments: f.arguments,
                                }),
                                thought_signature: tc.thought_signature,
                            })
                            .collect(),
                    }),
                }
            })
            .collect(),
        usage: c.usage.map(usage),
        provider: String::new(),
    }
}

/// A completions stream chunk: text from `choices[].text`, falling back to `delta.content`
/// (MLflow 3.18 reads only `delta.content` and so breaks on real OpenAI completions streams).
pub fn completion_chunk(c: wire::Chunk, fallback_model: &str, now: i64) -> pb::CompletionChunk {
    pb::CompletionChunk {
        id: c.id,
        created: c.created.unwrap_or(now),
        model: c.model.unwrap_or_else(|| fallback_model.to_owned()),
        choices: c
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, ch)| pb::CompletionChunkChoice {
                index: ch.index.unwrap_or(u32::try_from(i).unwrap_or(u32::MAX)),
                finish_reason: ch.finish_reason,
                text: ch
                    .text
                    .or_else(|| ch.delta.and_then(|d| d.content))
                    .unwrap_or_default(),
            })
            .collect(),
        usage: c.usage.map(usage),
        provider: String::new(),
    }
}

/// An embeddings response, re-indexed by position.
pub fn embed_response(e: wire::Embeddings, fallback_model: &str) -> pb::EmbedResponse {
    pb::EmbedResponse {
        model: e.model.unwrap_or_else(|| fallback_model.to_owned()),
        data: e
            .data
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                match d.embedding {
                    wire::EmbeddingVector::Floats(values) => pb::Embedding {
                        index,
                        values,
                        base64: None,
                    },
                    wire::EmbeddingVector::Base64(b) => pb::Embedding {
                        index,
                        values: Vec::new(),
                        base64: Some(b),
                    },
                }
            })
            .collect(),
        usage: e.usage.map(usage),
        provider: String::new(),
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
