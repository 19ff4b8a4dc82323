//! Proto responses → MLflow-exact JSON bytes.
//!
//! MLflow's FastAPI app serialises its pydantic response models *including nulls*, in model field
//! order, compactly (`separators=(",", ":")`, `ensure_ascii=False`). Clients compare these bodies
//! byte for byte, so every shape here is written out explicitly: the key order, which keys are
//! always present (and then `null`), and which appear only when set (`thought_signature`,
//! `prompt_tokens_details`, ...). Serialisation borrows the proto message and streams straight into
//! the output buffer; nothing is cloned and no `serde_json::Value` is built.

use std::io::Write as _;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::pb::v1 as pb;
use crate::proto_json::ValueRef;

use crate::pyjson::write_py_float;

/// A chat completion as MLflow's `/invocations` and `/v1/chat/completions` return it (spec §2.4).
pub fn chat_response(r: &pb::ChatResponse) -> Vec<u8> {
    to_vec(&ChatResponseJson(r), 256)
}

/// One chat stream chunk (the JSON after `data: `, spec §2.5).
pub fn chat_chunk(c: &pb::ChatChunk) -> Vec<u8> {
    to_vec(&ChatChunkJson(c), 192)
}

/// A text completion (spec §2.4); unlike chat it carries no `provider` key.
pub fn completion_response(r: &pb::CompletionResponse) -> Vec<u8> {
    to_vec(&CompletionResponseJson(r), 192)
}

/// One completions stream chunk (spec §2.5); no `provider` key.
pub fn completion_chunk(c: &pb::CompletionChunk) -> Vec<u8> {
    to_vec(&CompletionChunkJson(c), 160)
}

/// An embeddings response (spec §2.4).
///
/// Written by hand rather than through serde: the vectors dominate the body, and their floats must
/// be printed the way Python's `repr` prints them (`1e-05`, not `1e-5`), which serde_json's
/// formatter does not do.
pub fn embed_response(r: &pb::EmbedResponse) -> Vec<u8> {
    let floats: usize = r.data.iter().map(|e| e.values.len()).sum();
    let mut out = Vec::with_capacity(96 + floats * 22 + r.data.len() * 48);
    out.extend_from_slice(br#"{"object":"list","data":["#);
    for (i, e) in r.data.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"object":"embedding","embedding":"#);
        match &e.base64 {
            Some(b64) => write_json_str(&mut out, b64),
            None => {
                out.push(b'[');
                for (j, v) in e.values.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write_py_float(&mut out, *v);
                }
                out.push(b']');
            }
        }
        out.extend_from_slice(br#","index":"#);
        let _ = write!(out, "{}", e.index);
        out.push(b'}');
    }
    out.extend_from_slice(br#"],"model":"#);
    write_json_str(&mut out, &r.model);
    let usage = r.usage.as_ref();
    out.extend_from_slice(br#","usage":{"prompt_tokens":"#);
    write_opt_u32(&mut out, usage.and_then(|u| u.prompt_tokens));
    out.extend_from_slice(br#","total_tokens":"#);
    write_opt_u32(&mut out, usage.and_then(|u| u.total_tokens));
    out.extend_from_slice(b"}}");
    out
}

fn to_vec<T: Serialize>(value: &T, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    // Writing into a Vec cannot fail and every Serialize impl here is infallible (map keys are
    // strings, numbers finite or written as null), so an error is unreachable; keep the partial
    // output rather than panicking on the hot path.
    let _ = serde_json::to_writer(&mut out, value);
    out
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_opt_u32(out: &mut Vec<u8>, v: Option<u32>) {
    match v {
        Some(n) => {
            let _ = write!(out, "{n}");
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// Serialises a slice element by element through a borrowing wrapper, without collecting.
struct List<'a, T, W>(&'a [T], fn(&'a T) -> W);

impl<'a, T, W: Serialize> Serialize for List<'a, T, W> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&(self.1)(item))?;
        }
        seq.end()
    }
}

/// `list or null`: MLflow's nullable list fields are null when empty (proto cannot tell them apart).
fn list_or_null<'a, T, W>(items: &'a [T], wrap: fn(&'a T) -> W) -> Option<List<'a, T, W>> {
    (!items.is_empty()).then_some(List(items, wrap))
}

struct ChatResponseJson<'a>(&'a pb::ChatResponse);

impl Serialize for ChatResponseJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("id", &r.id)?;
        m.serialize_entry("object", "chat.completion")?;
        m.serialize_entry("created", &r.created)?;
        m.serialize_entry("model", &r.model)?;
        m.serialize_entry("choices", &List(&r.choices, ChatChoiceJson))?;
        m.serialize_entry("usage", &ChatUsageJson(r.usage.as_ref()))?;
        m.serialize_entry("provider", &r.provider)?;
        m.end()
    }
}

struct ChatChoiceJson<'a>(&'a pb::ChatChoice);

impl Serialize for ChatChoiceJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("index", &c.index)?;
        m.serialize_entry("message", &MessageJson(c.message.as_ref()))?;
        m.serialize_entry("finish_reason", &c.finish_reason)?;
        m.end()
    }
}

/// A response message: `role, content, tool_calls, refusal` (MLflow excludes `tool_call_id`).
struct MessageJson<'a>(Option<&'a pb::Message>);

impl Serialize for MessageJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        match self.0 {
            Some(msg) => {
                m.serialize_entry("role", &msg.role)?;
                if msg.content_parts.is_empty() {
                    m.serialize_entry("content", &msg.content)?;
                } else {
                    m.serialize_entry("content", &List(&msg.content_parts, PartJson))?;
                }
                m.serialize_entry("tool_calls", &list_or_null(&msg.tool_calls, ToolCallJson))?;
                m.serialize_entry("refusal", &msg.refusal)?;
            }
            // A provider always sets the message; render MLflow's empty shape if one did not.
            None => {
                m.serialize_entry("role", "assistant")?;
                m.serialize_entry("content", &())?;
                m.serialize_entry("tool_calls", &())?;
                m.serialize_entry("refusal", &())?;
            }
        }
        m.end()
    }
}

/// A content part as MLflow's pydantic part models dump it (declared fields, nulls included).
struct PartJson<'a>(&'a pb::ContentPart);

impl Serialize for PartJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use pb::content_part::Part;
        let mut m = s.serialize_map(Some(2))?;
        match &self.0.part {
            Some(Part::Text(t)) => {
                m.serialize_entry("type", "text")?;
                m.serialize_entry("text", t)?;
            }
            Some(Part::ImageUrl(img)) => {
                m.serialize_entry("type", "image_url")?;
                m.serialize_entry("image_url", &ImageUrlJson(img))?;
            }
            Some(Part::InputAudio(a)) => {
                m.serialize_entry("type", "input_audio")?;
                m.serialize_entry("input_audio", &InputAudioJson(a))?;
            }
            Some(Part::Reasoning(r)) => {
                m.serialize_entry("type", "reasoning")?;
                m.serialize_entry("summary", &List(&r.summary_text, SummaryTextJson))?;
            }
            // An unset oneof has no MLflow shape; an empty text part is the harmless reading.
            None => {
                m.serialize_entry("type", "text")?;
                m.serialize_entry("text", "")?;
            }
        }
        m.end()
    }
}

struct ImageUrlJson<'a>(&'a pb::ImageUrl);

impl Serialize for ImageUrlJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("url", &self.0.url)?;
        m.serialize_entry("detail", &self.0.detail)?;
        m.end()
    }
}

struct InputAudioJson<'a>(&'a pb::InputAudio);

impl Serialize for InputAudioJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("data", &self.0.data)?;
        m.serialize_entry("format", &self.0.format)?;
        m.end()
    }
}

struct SummaryTextJson<'a>(&'a String);

impl Serialize for SummaryTextJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("type", "summary_text")?;
        m.serialize_entry("text", self.0)?;
        m.end()
    }
}

/// `{"id","type","function":{"name","arguments"}}`, plus `thought_signature` only when set
/// (MLflow's ToolCall serializer pops it when null).
struct ToolCallJson<'a>(&'a pb::ToolCall);

impl Serialize for ToolCallJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let mut m = s.serialize_map(None)?;
        call_fields::<S>(
            &mut m,
            &t.id,
            &t.r#type,
            t.function.as_ref(),
            t.thought_signature.as_ref(),
        )?;
        m.end()
    }
}

/// The fields a tool call and a tool-call delta share, in MLflow's order.
fn call_fields<S: Serializer>(
    m: &mut S::SerializeMap,
    id: &impl Serialize,
    kind: &impl Serialize,
    function: Option<&pb::FunctionCall>,
    thought_signature: Option<&String>,
) -> Result<(), S::Error> {
    m.serialize_entry("id", id)?;
    m.serialize_entry("type", kind)?;
    m.serialize_entry("function", &FunctionJson(function))?;
    if let Some(sig) = thought_signature {
        m.serialize_entry("thought_signature", sig)?;
    }
    Ok(())
}

struct FunctionJson<'a>(Option<&'a pb::FunctionCall>);

impl Serialize for FunctionJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", &self.0.and_then(|f| f.name.as_ref()))?;
        m.serialize_entry("arguments", &self.0.and_then(|f| f.arguments.as_ref()))?;
        m.end()
    }
}

/// MLflow's `ChatUsage` (extra="allow"): the three counts always (nullable);
/// `prompt_tokens_details` only when set, and then with its declared `cached_tokens` always
/// present; then the extra keys the upstream reported (`completion_tokens_details`, Anthropic's
/// cache counters, ...). A missing usage renders as all-null counts: the field is required.
struct ChatUsageJson<'a>(Option<&'a pb::Usage>);

impl Serialize for ChatUsageJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        let u = self.0;
        m.serialize_entry("prompt_tokens", &u.and_then(|u| u.prompt_tokens))?;
        m.serialize_entry("completion_tokens", &u.and_then(|u| u.completion_tokens))?;
        m.serialize_entry("total_tokens", &u.and_then(|u| u.total_tokens))?;
        let Some(u) = u else { return m.end() };
        if let Some(d) = &u.prompt_tokens_details {
            m.serialize_entry("prompt_tokens_details", &PromptDetailsJson(d))?;
        }
        if let Some(d) = &u.completion_tokens_details {
            m.serialize_entry("completion_tokens_details", &CompletionDetailsJson(d))?;
        }
        if let Some(extra) = &u.extra {
            // The Struct is a HashMap: sort for a deterministic body (MLflow keeps upstream order,
            // which the proto cannot carry). Keys already written above are skipped so the object
            // never has duplicates.
            let mut keys: Vec<&String> = extra
                .fields
                .keys()
                .filter(|k| !is_typed_usage_key(k))
                .collect();
            keys.sort_unstable();
            for k in keys {
                if let Some(v) = extra.fields.get(k) {
                    m.serialize_entry(k, &ValueRef(v))?;
                }
            }
        }
        m.end()
    }
}

fn is_typed_usage_key(k: &str) -> bool {
    matches!(
        k,
        "prompt_tokens"
            | "completion_tokens"
            | "total_tokens"
            | "prompt_tokens_details"
            | "completion_tokens_details"
    )
}

struct PromptDetailsJson<'a>(&'a pb::PromptTokensDetails);

impl Serialize for PromptDetailsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut m = s.serialize_map(None)?;
        // `cached_tokens` is a declared (nullable) field of MLflow's PromptTokensDetails, so it is
        // always emitted; `audio_tokens` is an extra key and appears only when reported.
        m.serialize_entry("cached_tokens", &d.cached_tokens)?;
        if let Some(a) = d.audio_tokens {
            m.serialize_entry("audio_tokens", &a)?;
        }
        m.end()
    }
}

struct CompletionDetailsJson<'a>(&'a pb::CompletionTokensDetails);

impl Serialize for CompletionDetailsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        // Passed through from the upstream as an untyped extra: only the keys it reported.
        let mut m = s.serialize_map(None)?;
        let keys = [
            ("reasoning_tokens", d.reasoning_tokens),
            ("audio_tokens", d.audio_tokens),
            ("accepted_prediction_tokens", d.accepted_prediction_tokens),
            ("rejected_prediction_tokens", d.rejected_prediction_tokens),
        ];
        for (k, v) in keys {
            if let Some(v) = v {
                m.serialize_entry(k, &v)?;
            }
        }
        m.end()
    }
}

struct ChatChunkJson<'a>(&'a pb::ChatChunk);

impl Serialize for ChatChunkJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("id", &c.id)?;
        m.serialize_entry("object", "chat.completion.chunk")?;
        m.serialize_entry("created", &c.created)?;
        m.serialize_entry("model", &c.model)?;
        m.serialize_entry("choices", &List(&c.choices, ChunkChoiceJson))?;
        m.serialize_entry("usage", &c.usage.as_ref().map(|u| ChatUsageJson(Some(u))))?;
        m.serialize_entry("provider", &c.provider)?;
        m.end()
    }
}

/// `index, finish_reason, delta` — MLflow's ChatChunkChoice field order.
struct ChunkChoiceJson<'a>(&'a pb::ChatChunkChoice);

impl Serialize for ChunkChoiceJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("index", &c.index)?;
        m.serialize_entry("finish_reason", &c.finish_reason)?;
        m.serialize_entry("delta", &DeltaJson(c.delta.as_ref()))?;
        m.end()
    }
}

struct DeltaJson<'a>(Option<&'a pb::ChatDelta>);

impl Serialize for DeltaJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("role", &d.and_then(|d| d.role.as_ref()))?;
        m.serialize_entry("content", &d.and_then(|d| d.content.as_ref()))?;
        m.serialize_entry(
            "tool_calls",
            &d.and_then(|d| list_or_null(&d.tool_calls, ToolCallDeltaJson)),
        )?;
        m.end()
    }
}

/// `{"index","id","type","function":{"name","arguments"}}` (+ `thought_signature` when set).
struct ToolCallDeltaJson<'a>(&'a pb::ToolCallDelta);

impl Serialize for ToolCallDeltaJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("index", &t.index)?;
        call_fields::<S>(
            &mut m,
            &t.id,
            &t.r#type,
            t.function.as_ref(),
            t.thought_signature.as_ref(),
        )?;
        m.end()
    }
}

struct CompletionResponseJson<'a>(&'a pb::CompletionResponse);

impl Serialize for CompletionResponseJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("id", &r.id)?;
        m.serialize_entry("object", "text_completion")?;
        m.serialize_entry("created", &r.created)?;
        m.serialize_entry("model", &r.model)?;
        m.serialize_entry("choices", &List(&r.choices, CompletionChoiceJson))?;
        m.serialize_entry("usage", &CountsJson(r.usage.as_ref()))?;
        m.end()
    }
}

/// `index, text, finish_reason` — MLflow's completions Choice field order.
struct CompletionChoiceJson<'a>(&'a pb::CompletionChoice);

impl Serialize for CompletionChoiceJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("index", &c.index)?;
        m.serialize_entry("text", &c.text)?;
        m.serialize_entry("finish_reason", &c.finish_reason)?;
        m.end()
    }
}

/// MLflow's `CompletionsUsage` (extra="ignore"): exactly the three nullable counts.
struct CountsJson<'a>(Option<&'a pb::Usage>);

impl Serialize for CountsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = self.0;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("prompt_tokens", &u.and_then(|u| u.prompt_tokens))?;
        m.serialize_entry("completion_tokens", &u.and_then(|u| u.completion_tokens))?;
        m.serialize_entry("total_tokens", &u.and_then(|u| u.total_tokens))?;
        m.end()
    }
}

struct CompletionChunkJson<'a>(&'a pb::CompletionChunk);

impl Serialize for CompletionChunkJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("id", &c.id)?;
        m.serialize_entry("object", "text_completion_chunk")?;
        m.serialize_entry("created", &c.created)?;
        m.serialize_entry("model", &c.model)?;
        m.serialize_entry("choices", &List(&c.choices, CompletionChunkChoiceJson))?;
        m.serialize_entry("usage", &c.usage.as_ref().map(|u| CountsJson(Some(u))))?;
        m.end()
    }
}

/// `index, finish_reason, text`, as MLflow 3.x's completions stream choice.
struct CompletionChunkChoiceJson<'a>(&'a pb::CompletionChunkChoice);

impl Serialize for CompletionChunkChoiceJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("index", &c.index)?;
        m.serialize_entry("finish_reason", &c.finish_reason)?;
        m.serialize_entry("text", &c.text)?;
        m.end()
    }
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
