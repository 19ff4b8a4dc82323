//! The slow path: FastAPI's 422 error list for a body the fast parser rejected.
//!
//! MLflow's request models are restated here as `schema` descriptions (3.x `mlflow/types/chat.py`
//! and `mlflow/gateway/schemas/*`), and the body is checked against them as FastAPI would:
//! undecodable JSON → one `json_invalid` error located like Python's `json` module; an empty body
//! → `missing` at `["body"]`; otherwise every field error, in model field order.
//!
//! Deliberate differences from MLflow's models: tool `parameters` is any object (MLflow's
//! `FunctionParams` would require `properties`, and strips JSON-Schema keywords it does not know;
//! we forward the schema unchanged), and `dimensions` (embeddings) must be an int ≥ 1 and
//! `encoding_format` a string, because the proto types them.

use serde_json::Value;

use crate::error::{FieldError, GatewayError, LocPart};

use super::pyjson;
use super::schema::{self, Field, Model, Ty};

/// Which request model a body is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `llm/v1/chat`.
    Chat,
    /// `llm/v1/completions`.
    Completion,
    /// `llm/v1/embeddings`.
    Embed,
}

/// What FastAPI would make of a body.
pub enum Checked {
    /// It would answer with this error (422, or 400 for undecodable bytes).
    Invalid(GatewayError),
    /// It would accept the body, decoded here.
    Valid(Value),
}

/// Every problem FastAPI would report for `body`, or the decoded body if it would accept it.
pub fn check(body: &[u8], kind: Kind) -> Checked {
    if body.is_empty() {
        // FastAPI treats an empty body as no body at all: the required body is missing.
        return Checked::Invalid(GatewayError::Validation(vec![FieldError {
            kind: "missing",
            loc: Vec::new(),
            msg: "Field required".into(),
            input: Value::Null,
            ctx: None,
        }]));
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Checked::Invalid(json_error(body, &e)),
    };
    let model = match kind {
        Kind::Chat => &CHAT,
        Kind::Completion => &COMPLETION,
        Kind::Embed => &EMBED,
    };
    let mut errs = Vec::new();
    schema::check(&Ty::Model(model), &value, &mut Vec::new(), &mut errs);
    if errs.is_empty() {
        Checked::Valid(value)
    } else {
        Checked::Invalid(GatewayError::Validation(errs))
    }
}

/// The error for a body neither path could explain (should not happen): a 422 carrying serde's
/// message, so the client still learns what was wrong.
pub fn fallback(e: &serde_json::Error) -> GatewayError {
    GatewayError::Validation(vec![FieldError {
        kind: "value_error",
        loc: Vec::new(),
        msg: format!("Value error, {e}"),
        input: Value::Object(serde_json::Map::new()),
        ctx: Some(serde_json::json!({ "error": e.to_string() })),
    }])
}

/// A body that is not UTF-8. That is not a JSON error for Python (`json.loads` fails while
/// decoding the bytes), and FastAPI answers it with a plain 400.
pub fn undecodable() -> GatewayError {
    GatewayError::BadRequest("There was an error parsing the body".into())
}

/// Undecodable bytes: not UTF-8 ([`undecodable`]), or not JSON.
fn json_error(body: &[u8], e: &serde_json::Error) -> GatewayError {
    let Ok(text) = std::str::from_utf8(body) else {
        return undecodable();
    };
    let (pos, msg) = pyjson::first_error(text).unwrap_or_else(|| {
        // Inputs Python accepts but serde_json does not (NaN, lone surrogates): report serde's
        // view at the start of the body.
        (0, e.to_string())
    });
    GatewayError::Validation(vec![FieldError {
        kind: "json_invalid",
        loc: vec![LocPart::Index(pos)],
        msg: "JSON decode error".into(),
        input: Value::Object(serde_json::Map::new()),
        ctx: Some(serde_json::json!({ "error": msg })),
    }])
}

const fn req(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        required: true,
    }
}

const fn opt(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        required: false,
    }
}

static STR: Ty = Ty::Str;

// ---- chat (mlflow/types/chat.py) ----

static TEXT_PART: Model = Model {
    fields: &[req("type", Ty::Literal(&["text"])), req("text", Ty::Str)],
};
static IMAGE_URL: Model = Model {
    fields: &[
        req("url", Ty::Str),
        opt(
            "detail",
            Ty::Nullable(&Ty::Literal(&["auto", "low", "high"])),
        ),
    ],
};
static IMAGE_PART: Model = Model {
    fields: &[
        req("type", Ty::Literal(&["image_url"])),
        req("image_url", Ty::Model(&IMAGE_URL)),
    ],
};
static INPUT_AUDIO: Model = Model {
    fields: &[
        req("data", Ty::Str),
        req("format", Ty::Literal(&["wav", "mp3"])),
    ],
};
static AUDIO_PART: Model = Model {
    fields: &[
        req("type", Ty::Literal(&["input_audio"])),
        req("input_audio", Ty::Model(&INPUT_AUDIO)),
    ],
};
static SUMMARY_TEXT: Model = Model {
    fields: &[
        req("type", Ty::Literal(&["summary_text"])),
        req("text", Ty::Str),
    ],
};
static REASONING_PART: Model = Model {
    fields: &[
        req("type", Ty::Literal(&["reasoning"])),
        req("summary", Ty::List(&Ty::Model(&SUMMARY_TEXT), false)),
    ],
};
static PART: Ty = Ty::Tagged(&[
    ("text", &TEXT_PART),
    ("image_url", &IMAGE_PART),
    ("input_audio", &AUDIO_PART),
    ("reasoning", &REASONING_PART),
]);
static CONTENT: Ty = Ty::Union(&[
    ("str", Ty::Str),
    (
        "list[tagged-union[TextContentPart,ImageContentPart,AudioContentPart,ReasoningContentPart]]",
        Ty::List(&PART, false),
    ),
]);
static FUNCTION_CALL: Model = Model {
    fields: &[
        opt("name", Ty::Nullable(&STR)),
        opt("arguments", Ty::Nullable(&STR)),
    ],
};
static TOOL_CALL: Model = Model {
    fields: &[
        req("id", Ty::Str),
        opt("type", Ty::Str),
        req("function", Ty::Model(&FUNCTION_CALL)),
        opt("thought_signature", Ty::Nullable(&STR)),
    ],
};
static MESSAGE: Model = Model {
    fields: &[
        req("role", Ty::Str),
        opt("content", Ty::Nullable(&CONTENT)),
        opt(
            "tool_calls",
            Ty::Nullable(&Ty::List(&Ty::Model(&TOOL_CALL), false)),
        ),
        opt("refusal", Ty::Nullable(&STR)),
        opt("tool_call_id", Ty::Nullable(&STR)),
    ],
};
static FUNCTION_DEF: Model = Model {
    fields: &[
        req("name", Ty::Str),
        opt("description", Ty::Nullable(&STR)),
        opt("parameters", Ty::Nullable(&Ty::Dict)),
        opt("strict", Ty::Nullable(&Ty::Bool)),
    ],
};
static UC_FUNCTION: Model = Model {
    fields: &[req("name", Ty::Str)],
};
static TOOL: Model = Model {
    fields: &[
        req("type", Ty::Literal(&["function", "uc_function"])),
        opt("function", Ty::Nullable(&Ty::Model(&FUNCTION_DEF))),
        opt("uc_function", Ty::Nullable(&Ty::Model(&UC_FUNCTION))),
    ],
};
static TOOL_CHOICE_FUNCTION: Model = Model {
    fields: &[req("name", Ty::Str)],
};
static TOOL_CHOICE: Model = Model {
    fields: &[
        req("type", Ty::Literal(&["function"])),
        req("function", Ty::Model(&TOOL_CHOICE_FUNCTION)),
    ],
};
static JSON_SCHEMA: Model = Model {
    fields: &[
        req("name", Ty::Str),
        req("schema", Ty::Dict),
        opt("strict", Ty::Bool),
    ],
};
static RESPONSE_FORMAT: Model = Model {
    fields: &[
        req("type", Ty::Literal(&["text", "json_object", "json_schema"])),
        opt("json_schema", Ty::Nullable(&Ty::Model(&JSON_SCHEMA))),
    ],
};

/// `BaseRequestPayload`'s fields, in declaration order, followed by the request's own.
macro_rules! base_payload {
    ($($own:expr),* $(,)?) => {
        &[
            opt("n", Ty::Int(Some(1))),
            opt("stop", Ty::Nullable(&Ty::List(&STR, true))),
            opt("max_tokens", Ty::Nullable(&Ty::Int(Some(1)))),
            opt("max_completion_tokens", Ty::Nullable(&Ty::Int(Some(1)))),
            opt("stream", Ty::Nullable(&Ty::Bool)),
            opt("stream_options", Ty::Nullable(&Ty::Dict)),
            opt("model", Ty::Nullable(&STR)),
            opt("response_format", Ty::Nullable(&Ty::Model(&RESPONSE_FORMAT))),
            opt("temperature", Ty::Nullable(&Ty::Float(0, 2))),
            opt("top_p", Ty::Nullable(&Ty::Float(0, 1))),
            opt("presence_penalty", Ty::Nullable(&Ty::Float(-2, 2))),
            opt("frequency_penalty", Ty::Nullable(&Ty::Float(-2, 2))),
            opt("top_k", Ty::Nullable(&Ty::Int(Some(1)))),
            $($own),*
        ]
    };
}

static CHAT: Model = Model {
    fields: base_payload![
        req("messages", Ty::List(&Ty::Model(&MESSAGE), true)),
        opt("tools", Ty::Nullable(&Ty::List(&Ty::Model(&TOOL), false))),
        opt(
            "tool_choice",
            Ty::Nullable(&Ty::Union(&[
                (
                    "literal['none','auto','required']",
                    Ty::Literal(&["none", "auto", "required"]),
                ),
                ("ToolChoice", Ty::Model(&TOOL_CHOICE)),
            ])),
        ),
    ],
};

static COMPLETION: Model = Model {
    fields: base_payload![req("prompt", Ty::Str)],
};

static INT: Ty = Ty::Int(None);

static EMBED: Model = Model {
    fields: &[
        req(
            "input",
            Ty::Union(&[
                ("str", Ty::Str),
                ("list[str]", Ty::List(&STR, false)),
                ("list[int]", Ty::List(&INT, false)),
                ("list[list[int]]", Ty::List(&Ty::List(&INT, false), false)),
            ]),
        ),
        opt("encoding_format", Ty::Nullable(&STR)),
        opt("dimensions", Ty::Nullable(&Ty::Int(Some(1)))),
        opt("model", Ty::Nullable(&STR)),
    ],
};
