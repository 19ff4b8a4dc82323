//! REST request bodies → proto requests (the fast path).
//!
//! Bodies are parsed once, straight into the proto model: the top level by hand-written map
//! visitors (known keys typed, unknown keys collected into `extra_params`, which MLflow forwards
//! upstream), nested objects through small serde DTOs that keep only the fields MLflow's pydantic
//! models declare (MLflow drops unknown nested keys). Scalars accept pydantic's lax coercions
//! ([`super::lax`]). Strings are deserialised directly into the owned `String`s the proto needs,
//! so nothing is copied twice.
//!
//! When this strict parse fails, or the parsed request breaks a range rule, the body is handed to
//! [`super::errors`], which re-reads it as a `serde_json::Value` and reports every problem the way
//! FastAPI/pydantic would. Errors are rare, so only that path pays for the extra work.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use pbjson_types::{Struct, Value as PbValue};
use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::service::validate;

use super::direct::AnyValue;
use super::errors::{self, Checked, Kind};
use super::lax::{self, LaxBool, LaxF64, LaxU32};
use super::nested::{Messages, ResponseFormatDto, ToolDto, parse_tool_choice};

/// A parsed chat body: the proto request (with `endpoint` left empty for the caller to fill from
/// the URL or from `model`), the `stream` flag and the `model` field, which are not part of the
/// proto request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatBody {
    /// The request; `endpoint` is empty.
    pub request: pb::ChatRequest,
    /// `"stream": true` (null and absent mean false).
    pub stream: bool,
    /// The body's `model` field (the endpoint name on `/v1/*`; a 422 on invocation routes).
    pub model: Option<String>,
}

/// A parsed completions body (see [`ChatBody`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionBody {
    /// The request; `endpoint` is empty.
    pub request: pb::CompletionRequest,
    /// `"stream": true` (null and absent mean false).
    pub stream: bool,
    /// The body's `model` field.
    pub model: Option<String>,
}

/// A parsed embeddings body (see [`ChatBody`]; embeddings ignore `stream`, which MLflow forwards
/// upstream as an ordinary extra field, and so do we).
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedBody {
    /// The request; `endpoint` is empty.
    pub request: pb::EmbedRequest,
    /// The body's `model` field.
    pub model: Option<String>,
}

/// Parses and validates a chat body (`/gateway/{name}/invocations`, `/v1/chat/completions`).
///
/// The result has passed [`validate::chat`]; on failure the error is the full pydantic-style list.
pub fn parse_chat(body: &[u8]) -> Result<ChatBody, GatewayError> {
    parse(body, Kind::Chat, |b: &ChatBody| validate::chat(&b.request))
}

/// Parses and validates a completions body.
pub fn parse_completion(body: &[u8]) -> Result<CompletionBody, GatewayError> {
    parse(body, Kind::Completion, |b: &CompletionBody| {
        validate::completion(&b.request)
    })
}

/// Parses and validates an embeddings body.
pub fn parse_embed(body: &[u8]) -> Result<EmbedBody, GatewayError> {
    parse(body, Kind::Embed, |b: &EmbedBody| {
        validate::embed(&b.request)
    })
}

/// The fast parse, then the shared rules; any failure goes to the error path for the exact report.
fn parse<T: DeserializeOwned>(
    body: &[u8],
    kind: Kind,
    validate: fn(&T) -> Result<(), GatewayError>,
) -> Result<T, GatewayError> {
    let body = strip_bom(body);
    // serde_json does not check the UTF-8 of strings it skips (the values of unknown nested
    // keys), so a typed parse of the bytes could accept a body Python cannot even decode.
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(errors::undecodable());
    };
    match serde_json::from_str::<T>(text) {
        Ok(parsed) => match validate(&parsed) {
            Ok(()) => Ok(parsed),
            // A range rule failed: report from the original JSON so `input` echoes exactly what
            // the client sent; rules pydantic does not have keep the shared rule's error.
            Err(e) => match errors::check(body, kind) {
                Checked::Invalid(report) => Err(report),
                Checked::Valid(_) => Err(e),
            },
        },
        Err(e) => match errors::check(body, kind) {
            Checked::Invalid(report) => Err(report),
            // pydantic accepts what the strict parse refused. The one known cause is a
            // duplicated key inside a nested object (Python keeps the last; serde-derived
            // structs refuse duplicates); the decoded value has them merged, so parse that.
            Checked::Valid(value) => match serde_json::from_value::<T>(value) {
                Ok(parsed) => validate(&parsed).map(|()| parsed),
                Err(_) => Err(errors::fallback(&e)),
            },
        },
    }
}

/// Python's `json.loads(bytes)` detects and skips a UTF-8 BOM; serde_json would reject it.
fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

/// A map key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The parameters chat and completions share (MLflow's `BaseRequestPayload`).
#[derive(Default)]
struct Common {
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u32>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    stop: Vec<String>,
    n: Option<u32>,
    presence_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    response_format: Option<pb::ResponseFormat>,
    stream_options: Option<pb::StreamOptions>,
    stream: bool,
    model: Option<String>,
    extra: HashMap<String, PbValue>,
}

impl Common {
    /// Consumes the value of `key` if it is a common parameter; `Ok(false)` leaves it to the caller.
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "temperature" => self.temperature = float(map)?,
            "top_p" => self.top_p = float(map)?,
            "presence_penalty" => self.presence_penalty = float(map)?,
            "frequency_penalty" => self.frequency_penalty = float(map)?,
            "top_k" => self.top_k = int(map)?,
            "max_tokens" => self.max_tokens = int(map)?,
            "max_completion_tokens" => self.max_completion_tokens = int(map)?,
            // `n: int = Field(1, ge=1)` is not nullable.
            "n" => self.n = Some(map.next_value::<LaxU32>()?.0),
            "stop" => {
                // pydantic's `min_length=1` rejects `[]`, which the proto could not tell from
                // absent: fail here so the error path reports `too_short`.
                let stop = map.next_value::<Option<Vec<String>>>()?;
                if stop.as_ref().is_some_and(Vec::is_empty) {
                    return Err(de::Error::custom("stop: too_short"));
                }
                self.stop = stop.unwrap_or_default();
            }
            "stream" => self.stream = map.next_value::<Option<LaxBool>>()?.is_some_and(|b| b.0),
            "model" => self.model = map.next_value()?,
            "response_format" => {
                self.response_format = map
                    .next_value::<Option<ResponseFormatDto>>()?
                    .map(ResponseFormatDto::into_pb);
            }
            "stream_options" => {
                // `dict[str, Any]`: any keys are fine; only `include_usage` means something to us.
                let opts = map.next_value::<Option<Map<String, Value>>>()?;
                self.stream_options = opts.map(|o| pb::StreamOptions {
                    include_usage: o.get("include_usage").and_then(lax_bool_value),
                });
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn extra<'de, A: MapAccess<'de>>(
        &mut self,
        key: Key<'de>,
        map: &mut A,
    ) -> Result<(), A::Error> {
        let AnyValue(v) = map.next_value()?;
        self.extra.insert(key.0.into_owned(), v);
        Ok(())
    }

    fn extra_params(&mut self) -> Option<Struct> {
        (!self.extra.is_empty()).then(|| Struct {
            fields: std::mem::take(&mut self.extra),
        })
    }
}

fn float<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<f64>, A::Error> {
    Ok(map.next_value::<Option<LaxF64>>()?.map(|v| v.0))
}

fn int<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<u32>, A::Error> {
    Ok(map.next_value::<Option<LaxU32>>()?.map(|v| v.0))
}

fn lax_bool_value(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().and_then(lax::bool_from_f64),
        Value::String(s) => lax::bool_from_str(s),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

impl<'de> Deserialize<'de> for ChatBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ChatBody;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a chat request object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChatBody, A::Error> {
                let mut c = Common::default();
                let mut messages: Option<Vec<pb::Message>> = None;
                let mut tools = Vec::new();
                let mut tool_choice = None;
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match &*key.0 {
                        "messages" => {
                            messages = Some(map.next_value::<Messages>()?.0);
                        }
                        "tools" => {
                            tools = map
                                .next_value::<Option<Vec<ToolDto>>>()?
                                .unwrap_or_default()
                                .into_iter()
                                .map(ToolDto::into_pb)
                                .collect();
                        }
                        "tool_choice" => {
                            tool_choice = map
                                .next_value::<Option<Value>>()?
                                .map(parse_tool_choice::<A::Error>)
                                .transpose()?;
                        }
                        k => {
                            if !c.field(k, &mut map)? {
                                c.extra(key, &mut map)?;
                            }
                        }
                    }
                }
                let messages = messages.ok_or_else(|| de::Error::missing_field("messages"))?;
                let extra_params = c.extra_params();
                Ok(ChatBody {
                    request: pb::ChatRequest {
                        endpoint: String::new(),
                        messages,
                        temperature: c.temperature,
                        top_p: c.top_p,
                        top_k: c.top_k,
                        max_tokens: c.max_tokens,
                        max_completion_tokens: c.max_completion_tokens,
                        stop: c.stop,
                        n: c.n,
                        presence_penalty: c.presence_penalty,
                        frequency_penalty: c.frequency_penalty,
                        tools,
                        tool_choice,
                        response_format: c.response_format,
                        stream_options: c.stream_options,
                        extra_params,
                        // The caller decides what `model` means (endpoint name on /v1/*, an
                        // upstream override on invocation routes).
                        model: None,
                    },
                    stream: c.stream,
                    model: c.model,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for CompletionBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CompletionBody;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a completions request object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CompletionBody, A::Error> {
                let mut c = Common::default();
                let mut prompt: Option<String> = None;
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    if &*key.0 == "prompt" {
                        prompt = Some(map.next_value()?);
                    } else if !c.field(&key.0, &mut map)? {
                        c.extra(key, &mut map)?;
                    }
                }
                let prompt = prompt.ok_or_else(|| de::Error::missing_field("prompt"))?;
                let extra_params = c.extra_params();
                Ok(CompletionBody {
                    request: pb::CompletionRequest {
                        endpoint: String::new(),
                        prompt,
                        temperature: c.temperature,
                        top_p: c.top_p,
                        top_k: c.top_k,
                        max_tokens: c.max_tokens,
                        max_completion_tokens: c.max_completion_tokens,
                        stop: c.stop,
                        n: c.n,
                        presence_penalty: c.presence_penalty,
                        frequency_penalty: c.frequency_penalty,
                        response_format: c.response_format,
                        stream_options: c.stream_options,
                        extra_params,
                        // The caller decides what `model` means (endpoint name on /v1/*, an
                        // upstream override on invocation routes).
                        model: None,
                    },
                    stream: c.stream,
                    model: c.model,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for EmbedBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EmbedBody;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an embeddings request object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EmbedBody, A::Error> {
                let mut req = pb::EmbedRequest::default();
                let mut model = None;
                let mut seen_input = false;
                let mut extra: HashMap<String, PbValue> = HashMap::new();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match &*key.0 {
                        "input" => {
                            let input: Value = map.next_value()?;
                            let input = EmbedInput::from_value(input).map_err(de::Error::custom)?;
                            (req.texts, req.token_ids, req.single_input) = match input {
                                EmbedInput::Texts(t, single) => (t, Vec::new(), single),
                                EmbedInput::Tokens(t, single) => (Vec::new(), t, single),
                            };
                            seen_input = true;
                        }
                        "encoding_format" => req.encoding_format = map.next_value()?,
                        "dimensions" => {
                            req.dimensions = map.next_value::<Option<LaxU32>>()?.map(|v| v.0);
                        }
                        "model" => model = map.next_value()?,
                        _ => {
                            let AnyValue(v) = map.next_value()?;
                            extra.insert(key.0.into_owned(), v);
                        }
                    }
                }
                if !seen_input {
                    return Err(de::Error::missing_field("input"));
                }
                if !extra.is_empty() {
                    req.extra_params = Some(Struct { fields: extra });
                }
                Ok(EmbedBody {
                    request: req,
                    model,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// The accepted forms of embeddings `input`: `str | list[str] | list[int] | list[list[int]]`.
pub(super) enum EmbedInput {
    /// Texts, and whether the client sent a single string.
    Texts(Vec<String>, bool),
    /// Token sequences, and whether the client sent a single flat list.
    Tokens(Vec<pb::TokenIds>, bool),
}

impl EmbedInput {
    /// The input in one of its accepted forms, or why not (details come from the error path).
    pub(super) fn from_value(v: Value) -> Result<Self, &'static str> {
        match v {
            Value::String(s) => Ok(EmbedInput::Texts(vec![s], true)),
            Value::Array(items) => {
                // pydantic's smart union prefers an exact match: all strings → list[str], all
                // ints → one token list, all int lists → many. An empty list is a valid list[str].
                if items.iter().all(Value::is_string) {
                    let texts = items
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::String(s) => Some(s),
                            _ => None,
                        })
                        .collect();
                    return Ok(EmbedInput::Texts(texts, false));
                }
                if let Ok(ids) = token_ids(&items) {
                    return Ok(EmbedInput::Tokens(vec![ids], true));
                }
                if items.iter().all(Value::is_array) {
                    let seqs = items
                        .iter()
                        .map(|v| match v {
                            Value::Array(ids) => token_ids(ids),
                            _ => Err("input"),
                        })
                        .collect::<Result<_, _>>()?;
                    return Ok(EmbedInput::Tokens(seqs, false));
                }
                Err("input")
            }
            _ => Err("input"),
        }
    }
}

/// A token list, with pydantic's lax int coercions (`2.0`, `"2"`, `true`); ids beyond `u32`
/// are rejected, as no tokenizer has them.
fn token_ids(items: &[Value]) -> Result<pb::TokenIds, &'static str> {
    let id = |v: &Value| -> Option<u32> {
        let n = match v {
            Value::Number(n) => match n.as_u64() {
                Some(u) => i128::from(u),
                None => lax::int_from_f64(n.as_f64()?).ok()?,
            },
            Value::String(s) => lax::int_from_str(s)?,
            Value::Bool(b) => i128::from(*b),
            Value::Null | Value::Array(_) | Value::Object(_) => return None,
        };
        u32::try_from(n).ok()
    };
    let ids = items
        .iter()
        .map(|v| id(v).ok_or("input"))
        .collect::<Result<_, _>>()?;
    Ok(pb::TokenIds { ids })
}
