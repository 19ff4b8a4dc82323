//! Proto responses → MLflow-exact JSON bytes.
//!
//! MLflow's FastAPI app serialises its pydantic response models *including nulls*, in model field
//! order, compactly (`separators=(",", ":")`, `ensure_ascii=False`). Clients compare these bodies
//! byte for byte, so every shape here is written out explicitly: the key order, which keys are
//! always present (and then `null`), and which appear only when set (`thought_signature`,
//! `prompt_tokens_details`, ...). Serialisation borrows the proto message and streams straight into
//! the output buffer; nothing is cloned and no `serde_json::Value` is built.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::pb::v1 as pb;
use crate::proto_json::ValueRef;

use super::float::write_py_float;

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
        out.extend_from_slice(e.index.to_string().as_bytes());
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
        Some(n) => out.extend_from_slice(n.to_string().as_bytes()),
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
        m.serialize_entry("id", &t.id)?;
        m.serialize_entry("type", &t.r#type)?;
        m.serialize_entry("function", &FunctionJson(t.function.as_ref()))?;
        if let Some(sig) = &t.thought_signature {
            m.serialize_entry("thought_signature", sig)?;
        }
        m.end()
    }
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
        m.serialize_entry("id", &t.id)?;
        m.serialize_entry("type", &t.r#type)?;
        m.serialize_entry("function", &FunctionJson(t.function.as_ref()))?;
        if let Some(sig) = &t.thought_signature {
            m.serialize_entry("thought_signature", sig)?;
        }
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::proto_json::to_pb_struct;
    use serde_json::json;

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    fn assistant(content: Option<&str>, tool_calls: Vec<pb::ToolCall>) -> pb::Message {
        pb::Message {
            role: "assistant".into(),
            content: content.map(str::to_owned),
            tool_calls,
            ..Default::default()
        }
    }

    #[test]
    fn chat_response_matches_spec_2_4() {
        let r = pb::ChatResponse {
            id: Some("chatcmpl-1".into()),
            created: 1_700_000_000,
            model: "gpt-up".into(),
            choices: vec![pb::ChatChoice {
                index: 0,
                message: Some(assistant(Some("Hello from upstream"), vec![])),
                finish_reason: Some("stop".into()),
            }],
            usage: Some(pb::Usage {
                prompt_tokens: Some(9),
                completion_tokens: Some(3),
                total_tokens: Some(12),
                prompt_tokens_details: Some(pb::PromptTokensDetails {
                    cached_tokens: Some(0),
                    audio_tokens: Some(0),
                }),
                completion_tokens_details: Some(pb::CompletionTokensDetails {
                    reasoning_tokens: Some(0),
                    ..Default::default()
                }),
                extra: None,
            }),
            provider: "openai".into(),
        };
        assert_eq!(
            text(chat_response(&r)),
            r#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-up","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from upstream","tool_calls":null,"refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"provider":"openai"}"#
        );
    }

    fn weather_call(id: &str, sig: Option<&str>) -> pb::ToolCall {
        pb::ToolCall {
            id: id.into(),
            r#type: "function".into(),
            function: Some(pb::FunctionCall {
                name: Some("get_weather".into()),
                arguments: Some(r#"{"city": "Paris"}"#.into()),
            }),
            thought_signature: sig.map(str::to_owned),
        }
    }

    #[test]
    fn anthropic_tool_call_response_matches_appendix_b() {
        let extra = to_pb_struct(
            json!({"cache_creation_input_tokens": 0})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let r = pb::ChatResponse {
            id: Some("msg_1".into()),
            created: 1_700_000_123,
            model: "claude-up".into(),
            choices: vec![pb::ChatChoice {
                index: 0,
                message: Some(assistant(
                    Some("Let me check."),
                    vec![weather_call("toolu_1", None)],
                )),
                finish_reason: Some("tool_calls".into()),
            }],
            usage: Some(pb::Usage {
                prompt_tokens: Some(12),
                completion_tokens: Some(25),
                total_tokens: Some(37),
                prompt_tokens_details: Some(pb::PromptTokensDetails {
                    cached_tokens: Some(2),
                    audio_tokens: None,
                }),
                completion_tokens_details: None,
                extra: Some(extra),
            }),
            provider: "anthropic".into(),
        };
        assert_eq!(
            text(chat_response(&r)),
            r#"{"id":"msg_1","object":"chat.completion","created":1700000123,"model":"claude-up","choices":[{"index":0,"message":{"role":"assistant","content":"Let me check.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}}],"refusal":null},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":12,"completion_tokens":25,"total_tokens":37,"prompt_tokens_details":{"cached_tokens":2},"cache_creation_input_tokens":0},"provider":"anthropic"}"#
        );
    }

    #[test]
    fn null_id_null_content_missing_usage_and_thought_signature() {
        let r = pb::ChatResponse {
            id: None,
            created: 5,
            model: "m".into(),
            choices: vec![pb::ChatChoice {
                index: 0,
                message: Some(assistant(None, vec![weather_call("c1", Some("sig"))])),
                finish_reason: None,
            }],
            usage: None,
            provider: "gemini".into(),
        };
        assert_eq!(
            text(chat_response(&r)),
            r#"{"id":null,"object":"chat.completion","created":5,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"},"thought_signature":"sig"}],"refusal":null},"finish_reason":null}],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null},"provider":"gemini"}"#
        );
    }

    #[test]
    fn content_parts_render_as_a_list() {
        use pb::content_part::Part;
        let msg = pb::Message {
            role: "assistant".into(),
            content_parts: vec![
                pb::ContentPart {
                    part: Some(Part::Text("hi".into())),
                },
                pb::ContentPart {
                    part: Some(Part::ImageUrl(pb::ImageUrl {
                        url: "http://x/i.png".into(),
                        detail: None,
                    })),
                },
                pb::ContentPart {
                    part: Some(Part::InputAudio(pb::InputAudio {
                        data: "AAAA".into(),
                        format: "wav".into(),
                    })),
                },
                pb::ContentPart {
                    part: Some(Part::Reasoning(pb::Reasoning {
                        summary_text: vec!["thought".into()],
                    })),
                },
            ],
            ..Default::default()
        };
        let r = pb::ChatResponse {
            id: Some("x".into()),
            created: 1,
            model: "m".into(),
            choices: vec![pb::ChatChoice {
                index: 0,
                message: Some(msg),
                finish_reason: Some("stop".into()),
            }],
            usage: Some(pb::Usage::default()),
            provider: "databricks".into(),
        };
        let out = text(chat_response(&r));
        assert!(
            out.contains(r#""content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"http://x/i.png","detail":null}},{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}},{"type":"reasoning","summary":[{"type":"summary_text","text":"thought"}]}],"tool_calls":null"#),
            "{out}"
        );
    }

    #[test]
    fn chat_chunks_match_spec_2_5() {
        let first = pb::ChatChunk {
            id: Some("chatcmpl-s1".into()),
            created: 1_700_000_000,
            model: "gpt-up".into(),
            choices: vec![pb::ChatChunkChoice {
                index: 0,
                finish_reason: None,
                delta: Some(pb::ChatDelta {
                    role: Some("assistant".into()),
                    content: Some(String::new()),
                    tool_calls: vec![],
                }),
            }],
            usage: None,
            provider: "openai".into(),
        };
        assert_eq!(
            text(chat_chunk(&first)),
            r#"{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-up","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":"","tool_calls":null}}],"usage":null,"provider":"openai"}"#
        );
        let last = pb::ChatChunk {
            id: Some("chatcmpl-s1".into()),
            created: 1_700_000_000,
            model: "gpt-up".into(),
            choices: vec![],
            usage: Some(pb::Usage {
                prompt_tokens: Some(5),
                completion_tokens: Some(2),
                total_tokens: Some(7),
                prompt_tokens_details: Some(pb::PromptTokensDetails {
                    cached_tokens: Some(1),
                    audio_tokens: None,
                }),
                completion_tokens_details: Some(pb::CompletionTokensDetails {
                    reasoning_tokens: Some(0),
                    ..Default::default()
                }),
                extra: None,
            }),
            provider: "openai".into(),
        };
        assert_eq!(
            text(chat_chunk(&last)),
            r#"{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-up","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":1},"completion_tokens_details":{"reasoning_tokens":0}},"provider":"openai"}"#
        );
    }

    #[test]
    fn tool_call_deltas() {
        let c = pb::ChatChunk {
            id: None,
            created: 2,
            model: "m".into(),
            choices: vec![pb::ChatChunkChoice {
                index: 0,
                finish_reason: Some("tool_calls".into()),
                delta: Some(pb::ChatDelta {
                    role: None,
                    content: None,
                    tool_calls: vec![
                        pb::ToolCallDelta {
                            index: 0,
                            id: Some("call_1".into()),
                            r#type: Some("function".into()),
                            function: Some(pb::FunctionCall {
                                name: Some("f".into()),
                                arguments: Some(String::new()),
                            }),
                            thought_signature: None,
                        },
                        pb::ToolCallDelta {
                            index: 1,
                            id: None,
                            r#type: None,
                            function: Some(pb::FunctionCall {
                                name: None,
                                arguments: Some("{\"a\"".into()),
                            }),
                            thought_signature: Some("s".into()),
                        },
                    ],
                }),
            }],
            usage: None,
            provider: "openai".into(),
        };
        assert_eq!(
            text(chat_chunk(&c)),
            r#"{"id":null,"object":"chat.completion.chunk","created":2,"model":"m","choices":[{"index":0,"finish_reason":"tool_calls","delta":{"role":null,"content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}},{"index":1,"id":null,"type":null,"function":{"name":null,"arguments":"{\"a\""},"thought_signature":"s"}]}}],"usage":null,"provider":"openai"}"#
        );
    }

    #[test]
    fn completions_match_spec() {
        let r = pb::CompletionResponse {
            id: Some("cmpl-1".into()),
            created: 1_700_000_001,
            model: "gpt-inst".into(),
            choices: vec![pb::CompletionChoice {
                index: 0,
                text: "This is a test".into(),
                finish_reason: Some("length".into()),
            }],
            usage: Some(pb::Usage {
                prompt_tokens: Some(5),
                completion_tokens: Some(7),
                total_tokens: Some(12),
                // Completions usage has no details or extras in MLflow's model.
                prompt_tokens_details: Some(pb::PromptTokensDetails::default()),
                ..Default::default()
            }),
            provider: "openai".into(),
        };
        assert_eq!(
            text(completion_response(&r)),
            r#"{"id":"cmpl-1","object":"text_completion","created":1700000001,"model":"gpt-inst","choices":[{"index":0,"text":"This is a test","finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#
        );
        let chunk = pb::CompletionChunk {
            id: None,
            created: 3,
            model: "gpt-inst".into(),
            choices: vec![pb::CompletionChunkChoice {
                index: 0,
                finish_reason: None,
                text: "Hel".into(),
            }],
            usage: None,
            provider: "openai".into(),
        };
        assert_eq!(
            text(completion_chunk(&chunk)),
            r#"{"id":null,"object":"text_completion_chunk","created":3,"model":"gpt-inst","choices":[{"index":0,"finish_reason":null,"text":"Hel"}],"usage":null}"#
        );
        let usage_chunk = pb::CompletionChunk {
            choices: vec![],
            usage: Some(pb::Usage {
                prompt_tokens: Some(1),
                completion_tokens: None,
                total_tokens: Some(1),
                ..Default::default()
            }),
            ..chunk
        };
        assert_eq!(
            text(completion_chunk(&usage_chunk)),
            r#"{"id":null,"object":"text_completion_chunk","created":3,"model":"gpt-inst","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":null,"total_tokens":1}}"#
        );
    }

    #[test]
    fn embeddings_match_spec() {
        let r = pb::EmbedResponse {
            model: "text-embedding-up".into(),
            data: vec![pb::Embedding {
                index: 0,
                values: vec![0.1, 0.2, 0.3],
                base64: None,
            }],
            usage: Some(pb::Usage {
                prompt_tokens: Some(8),
                total_tokens: Some(8),
                completion_tokens: Some(99),
                ..Default::default()
            }),
            provider: "openai".into(),
        };
        assert_eq!(
            text(embed_response(&r)),
            r#"{"object":"list","data":[{"object":"embedding","embedding":[0.1,0.2,0.3],"index":0}],"model":"text-embedding-up","usage":{"prompt_tokens":8,"total_tokens":8}}"#
        );
        let r = pb::EmbedResponse {
            model: "m\"q".into(),
            data: vec![
                pb::Embedding {
                    index: 0,
                    values: vec![],
                    base64: Some("AACAPw==".into()),
                },
                pb::Embedding {
                    index: 1,
                    values: vec![1.2e-05, -1.0, 1e16],
                    base64: None,
                },
            ],
            usage: None,
            provider: "openai".into(),
        };
        assert_eq!(
            text(embed_response(&r)),
            r#"{"object":"list","data":[{"object":"embedding","embedding":"AACAPw==","index":0},{"object":"embedding","embedding":[1.2e-05,-1.0,1e+16],"index":1}],"model":"m\"q","usage":{"prompt_tokens":null,"total_tokens":null}}"#
        );
    }

    #[test]
    fn usage_extras_are_sorted_and_never_duplicate_typed_keys() {
        let extra = to_pb_struct(
            json!({"z": 1, "a": {"b": 0.5}, "total_tokens": 99})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let c = pb::ChatChunk {
            id: Some("i".into()),
            created: 0,
            model: "m".into(),
            choices: vec![],
            usage: Some(pb::Usage {
                total_tokens: Some(3),
                extra: Some(extra),
                ..Default::default()
            }),
            provider: "p".into(),
        };
        assert_eq!(
            text(chat_chunk(&c)),
            r#"{"id":"i","object":"chat.completion.chunk","created":0,"model":"m","choices":[],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":3,"a":{"b":0.5},"z":1},"provider":"p"}"#
        );
    }
}
