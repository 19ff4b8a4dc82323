//! Nested request objects (messages, content parts, tool calls, tools, response formats) as
//! serde DTOs that mirror MLflow's pydantic models field for field.
//!
//! Each DTO declares exactly the fields the pydantic model declares, so unknown nested keys are
//! dropped as MLflow drops them, and a value pydantic would reject fails here too (which sends the
//! body to the error path for an exact report). Literal-typed fields are small enums, so an
//! invalid literal fails during parsing rather than in a separate pass. Objects are wrapped in
//! [`Obj`], because serde-derived structs would otherwise also accept a JSON array of the field
//! values, which pydantic does not.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::pb::v1 as pb;

use super::direct::Object;
use super::lax::LaxBool;

/// A JSON object (never an array) deserialised as `T`.
pub struct Obj<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Obj)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// For fields with a default that are not nullable: absent → `None` (via `#[serde(default)]`),
/// null → an error, as pydantic has it.
fn non_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The `messages` list, converted to proto messages as it is read.
pub struct Messages(pub Vec<pb::Message>);

impl<'de> Deserialize<'de> for Messages {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Messages;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of messages")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Messages, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                while let Some(m) = seq.next_element::<MessageDto>()? {
                    out.push(m.into_pb());
                }
                Ok(Messages(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// `ChatMessage`: `role`, `content`, `tool_calls`, `refusal`, `tool_call_id`; anything else
/// (e.g. `name`) is dropped.
pub type MessageDto = Obj<MessageFields>;

#[derive(Deserialize)]
pub struct MessageFields {
    role: String,
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    tool_calls: Option<Vec<Obj<ToolCallFields>>>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

impl MessageDto {
    /// The proto message (moves every string).
    pub fn into_pb(self) -> pb::Message {
        let m = self.0;
        let (content, content_parts) = match m.content {
            None => (None, Vec::new()),
            Some(Content::Text(t)) => (Some(t), Vec::new()),
            Some(Content::Parts(p)) => (None, p),
        };
        pb::Message {
            role: m.role,
            content,
            content_parts,
            tool_calls: m
                .tool_calls
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.0.into_pb())
                .collect(),
            tool_call_id: m.tool_call_id,
            refusal: m.refusal,
        }
    }
}

/// `str | list[part]` (left to right, as MLflow's `ContentType`).
enum Content {
    Text(String),
    Parts(Vec<pb::ContentPart>),
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Content;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of content parts")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
                Ok(Content::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(Obj(p)) = seq.next_element::<Obj<PartDto>>()? {
                    parts.push(p.into_pb());
                }
                Ok(Content::Parts(parts))
            }
        }
        d.deserialize_any(V)
    }
}

/// The content parts, discriminated by `type`.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum PartDto {
    #[serde(rename = "text")]
    Text { text: String },
    #[serde(rename = "image_url")]
    ImageUrl { image_url: Obj<ImageUrlFields> },
    #[serde(rename = "input_audio")]
    InputAudio { input_audio: Obj<InputAudioFields> },
    #[serde(rename = "reasoning")]
    Reasoning { summary: Vec<Obj<SummaryFields>> },
}

#[derive(Deserialize)]
struct ImageUrlFields {
    url: String,
    #[serde(default)]
    detail: Option<Detail>,
}

#[derive(Deserialize, Clone, Copy)]
enum Detail {
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "low")]
    Low,
    #[serde(rename = "high")]
    High,
}

#[derive(Deserialize)]
struct InputAudioFields {
    data: String,
    format: AudioFormat,
}

#[derive(Deserialize, Clone, Copy)]
enum AudioFormat {
    #[serde(rename = "wav")]
    Wav,
    #[serde(rename = "mp3")]
    Mp3,
}

#[derive(Deserialize)]
struct SummaryFields {
    #[serde(rename = "type")]
    _kind: SummaryType,
    text: String,
}

#[derive(Deserialize)]
enum SummaryType {
    #[serde(rename = "summary_text")]
    SummaryText,
}

impl PartDto {
    fn into_pb(self) -> pb::ContentPart {
        use pb::content_part::Part;
        let part = match self {
            PartDto::Text { text } => Part::Text(text),
            PartDto::ImageUrl { image_url: Obj(i) } => Part::ImageUrl(pb::ImageUrl {
                url: i.url,
                detail: i.detail.map(|d| {
                    match d {
                        Detail::Auto => "auto",
                        Detail::Low => "low",
                        Detail::High => "high",
                    }
                    .to_owned()
                }),
            }),
            PartDto::InputAudio {
                input_audio: Obj(a),
            } => Part::InputAudio(pb::InputAudio {
                data: a.data,
                format: match a.format {
                    AudioFormat::Wav => "wav",
                    AudioFormat::Mp3 => "mp3",
                }
                .to_owned(),
            }),
            PartDto::Reasoning { summary } => Part::Reasoning(pb::Reasoning {
                summary_text: summary.into_iter().map(|s| s.0.text).collect(),
            }),
        };
        pb::ContentPart { part: Some(part) }
    }
}

/// `ToolCall`: `{id, type="function", function: {name?, arguments?}, thought_signature?}`.
#[derive(Deserialize)]
pub struct ToolCallFields {
    id: String,
    // `type: str = "function"`: may be absent, but not null.
    #[serde(rename = "type", default, deserialize_with = "non_null")]
    kind: Option<String>,
    function: Obj<FunctionCallFields>,
    #[serde(default)]
    thought_signature: Option<String>,
}

#[derive(Deserialize)]
struct FunctionCallFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

impl ToolCallFields {
    fn into_pb(self) -> pb::ToolCall {
        pb::ToolCall {
            id: self.id,
            r#type: self.kind.unwrap_or_else(|| "function".to_owned()),
            function: Some(pb::FunctionCall {
                name: self.function.0.name,
                arguments: self.function.0.arguments,
            }),
            thought_signature: self.thought_signature,
        }
    }
}

/// `ChatToolWithUC`: `{type: "function"|"uc_function", function?, uc_function?: {name}}`.
pub type ToolDto = Obj<ToolFields>;

#[derive(Deserialize)]
pub struct ToolFields {
    #[serde(rename = "type")]
    kind: ToolType,
    #[serde(default)]
    function: Option<Obj<FunctionDefFields>>,
    #[serde(default)]
    uc_function: Option<Obj<UcFunctionFields>>,
}

#[derive(Deserialize, Clone, Copy)]
enum ToolType {
    #[serde(rename = "function")]
    Function,
    #[serde(rename = "uc_function")]
    UcFunction,
}

#[derive(Deserialize)]
struct FunctionDefFields {
    name: String,
    #[serde(default)]
    description: Option<String>,
    // Forwarded unchanged as a JSON-Schema object: unlike MLflow we do not strip keywords its
    // `FunctionParams` model does not know (`anyOf`, `minimum`, ...).
    #[serde(default)]
    parameters: Option<Object>,
    #[serde(default)]
    strict: Option<LaxBool>,
}

#[derive(Deserialize)]
struct UcFunctionFields {
    name: String,
}

impl ToolDto {
    /// The proto tool. A `uc_function` tool keeps its type and carries the Unity Catalog
    /// function name as the function name, the one thing the proto can say about it.
    pub fn into_pb(self) -> pb::Tool {
        let t = self.0;
        let kind = match t.kind {
            ToolType::Function => "function",
            ToolType::UcFunction => "uc_function",
        };
        let function = match (t.function, t.uc_function) {
            (Some(Obj(f)), _) => Some(pb::FunctionDefinition {
                name: f.name,
                description: f.description,
                parameters: f.parameters.map(|o| o.0),
                strict: f.strict.map(|b| b.0),
            }),
            (None, Some(Obj(uc))) => Some(pb::FunctionDefinition {
                name: uc.name,
                ..Default::default()
            }),
            (None, None) => None,
        };
        pb::Tool {
            r#type: kind.to_owned(),
            function,
        }
    }
}

/// `"none"|"auto"|"required"` or `{type: "function", function: {name}}`.
pub fn parse_tool_choice<E: de::Error>(v: Value) -> Result<pb::ToolChoice, E> {
    use pb::tool_choice::Choice;
    let choice = match v {
        Value::String(s) if matches!(s.as_str(), "none" | "auto" | "required") => Choice::Mode(s),
        Value::Object(mut o) => {
            let is_function = o.get("type").and_then(Value::as_str) == Some("function");
            let name = match o.remove("function") {
                Some(Value::Object(mut f)) => match f.remove("name") {
                    Some(Value::String(n)) => Some(n),
                    _ => None,
                },
                _ => None,
            };
            match (is_function, name) {
                (true, Some(n)) => Choice::FunctionName(n),
                _ => return Err(E::custom("tool_choice")),
            }
        }
        _ => return Err(E::custom("tool_choice")),
    };
    Ok(pb::ToolChoice {
        choice: Some(choice),
    })
}

/// `ResponseFormat`: `{type: "text"|"json_object"|"json_schema", json_schema?}`.
pub type ResponseFormatDto = Obj<ResponseFormatFields>;

#[derive(Deserialize)]
pub struct ResponseFormatFields {
    #[serde(rename = "type")]
    kind: FormatType,
    #[serde(default)]
    json_schema: Option<Obj<JsonSchemaFields>>,
}

#[derive(Deserialize, Clone, Copy)]
enum FormatType {
    #[serde(rename = "text")]
    Text,
    #[serde(rename = "json_object")]
    JsonObject,
    #[serde(rename = "json_schema")]
    JsonSchema,
}

/// `JsonSchemaSpec` (extra="allow"): `name`, `schema` required, `strict` defaults to true;
/// `description` is one of the allowed extras the proto keeps.
#[derive(Deserialize)]
struct JsonSchemaFields {
    name: String,
    schema: Object,
    // `strict: bool = True`: may be absent, but not null.
    #[serde(default, deserialize_with = "non_null")]
    strict: Option<LaxBool>,
    #[serde(default)]
    description: Option<Value>,
}

impl ResponseFormatDto {
    /// The proto response format.
    pub fn into_pb(self) -> pb::ResponseFormat {
        let f = self.0;
        pb::ResponseFormat {
            r#type: match f.kind {
                FormatType::Text => "text",
                FormatType::JsonObject => "json_object",
                FormatType::JsonSchema => "json_schema",
            }
            .to_owned(),
            json_schema: f.json_schema.map(|Obj(s)| pb::JsonSchemaFormat {
                name: s.name,
                description: match s.description {
                    Some(Value::String(d)) => Some(d),
                    _ => None,
                },
                schema: Some(s.schema.0),
                strict: s.strict.map(|b| b.0),
            }),
        }
    }
}
