//! The range and consistency rules every request must meet, whatever surface it came from.
//!
//! These are MLflow's pydantic constraints (spec §2.3) restated on the proto model, so a gRPC or
//! Connect client gets the same verdict as a REST client. Every problem is collected, in the
//! order pydantic reports them (model field order), with pydantic's error types, messages and
//! `ctx`, and with locations relative to the REST body (`["temperature"]`,
//! `["messages", 0, "role"]`). The REST codec re-reports from the original JSON when a rule fails,
//! so its 422 echoes exactly what the client sent; the helpers here are shared with it.
//!
//! A proto repeated field cannot tell "absent" from "empty", so an empty `stop` is read as absent;
//! the REST codec rejects a literal `"stop": []` itself.

use std::cmp::Ordering;

use serde_json::{Value, json};

use crate::error::{FieldError, GatewayError, LocPart};
use crate::pb::v1 as pb;

/// Checks a chat request.
pub fn chat(req: &pb::ChatRequest) -> Result<(), GatewayError> {
    let mut errs = Vec::new();
    sampling(&mut errs, &Sampling::of_chat(req));
    if req.messages.is_empty() {
        errs.push(too_short(
            vec!["messages".into()],
            Value::Array(Vec::new()),
            0,
        ));
    }
    for (i, m) in req.messages.iter().enumerate() {
        message(&mut errs, i, m);
    }
    for (i, t) in req.tools.iter().enumerate() {
        if !matches!(t.r#type.as_str(), "" | "function" | "uc_function") {
            errs.push(literal_error(
                vec!["tools".into(), i.into(), "type".into()],
                Value::from(t.r#type.as_str()),
                &["function", "uc_function"],
            ));
        }
    }
    if let Some(tc) = &req.tool_choice {
        tool_choice(&mut errs, tc);
    }
    extra_collisions(&mut errs, req.extra_params.as_ref(), CHAT_KEYS);
    done(errs)
}

/// Checks a completions request.
pub fn completion(req: &pb::CompletionRequest) -> Result<(), GatewayError> {
    let mut errs = Vec::new();
    sampling(&mut errs, &Sampling::of_completion(req));
    extra_collisions(&mut errs, req.extra_params.as_ref(), COMPLETION_KEYS);
    done(errs)
}

/// Checks an embeddings request: exactly one of `texts` and `token_ids` carries the input.
pub fn embed(req: &pb::EmbedRequest) -> Result<(), GatewayError> {
    let mut errs = Vec::new();
    match (req.texts.is_empty(), req.token_ids.is_empty()) {
        (true, true) => errs.push(missing(vec!["input".into()], json!({}))),
        (false, false) => errs.push(FieldError {
            kind: "value_error",
            loc: vec!["input".into()],
            msg: "Value error, give either texts or token_ids, not both".into(),
            input: Value::Null,
            ctx: Some(json!({"error": "give either texts or token_ids, not both"})),
        }),
        _ => {}
    }
    // Not an MLflow rule (it forwards `dimensions` untouched), but no provider accepts 0.
    if let Some(d) = req.dimensions {
        errs.extend(int_ge(vec!["dimensions".into()], i128::from(d), 1, || {
            Value::from(d)
        }));
    }
    extra_collisions(&mut errs, req.extra_params.as_ref(), EMBED_KEYS);
    done(errs)
}

fn done(errs: Vec<FieldError>) -> Result<(), GatewayError> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(GatewayError::Validation(errs))
    }
}

/// The shared sampling parameters (MLflow's `BaseRequestPayload`), borrowed from either request.
struct Sampling<'a> {
    n: Option<u32>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    response_format: Option<&'a pb::ResponseFormat>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    presence_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    top_k: Option<u32>,
}

impl<'a> Sampling<'a> {
    fn of_chat(r: &'a pb::ChatRequest) -> Self {
        Sampling {
            n: r.n,
            max_tokens: r.max_tokens,
            max_completion_tokens: r.max_completion_tokens,
            response_format: r.response_format.as_ref(),
            temperature: r.temperature,
            top_p: r.top_p,
            presence_penalty: r.presence_penalty,
            frequency_penalty: r.frequency_penalty,
            top_k: r.top_k,
        }
    }

    fn of_completion(r: &'a pb::CompletionRequest) -> Self {
        Sampling {
            n: r.n,
            max_tokens: r.max_tokens,
            max_completion_tokens: r.max_completion_tokens,
            response_format: r.response_format.as_ref(),
            temperature: r.temperature,
            top_p: r.top_p,
            presence_penalty: r.presence_penalty,
            frequency_penalty: r.frequency_penalty,
            top_k: r.top_k,
        }
    }
}

/// pydantic's field order: n, stop, max_tokens, max_completion_tokens, stream, stream_options,
/// model, response_format, temperature, top_p, presence_penalty, frequency_penalty, top_k.
fn sampling(errs: &mut Vec<FieldError>, s: &Sampling<'_>) {
    let ints = [
        ("n", s.n),
        ("max_tokens", s.max_tokens),
        ("max_completion_tokens", s.max_completion_tokens),
    ];
    // (`stop`, between n and max_tokens in pydantic's order, has no rule left to check here.)
    for (name, v) in ints {
        if let Some(v) = v {
            errs.extend(int_ge(vec![name.into()], i128::from(v), 1, || {
                Value::from(v)
            }));
        }
    }
    if let Some(rf) = s.response_format
        && !matches!(rf.r#type.as_str(), "text" | "json_object" | "json_schema")
    {
        errs.push(literal_error(
            vec!["response_format".into(), "type".into()],
            Value::from(rf.r#type.as_str()),
            &["text", "json_object", "json_schema"],
        ));
    }
    let floats = [
        ("temperature", s.temperature, 0, 2),
        ("top_p", s.top_p, 0, 1),
        ("presence_penalty", s.presence_penalty, -2, 2),
        ("frequency_penalty", s.frequency_penalty, -2, 2),
    ];
    for (name, v, ge, le) in floats {
        if let Some(v) = v {
            errs.extend(float_range(vec![name.into()], v, ge, le, || float_value(v)));
        }
    }
    if let Some(k) = s.top_k {
        errs.extend(int_ge(vec!["top_k".into()], i128::from(k), 1, || {
            Value::from(k)
        }));
    }
}

fn message(errs: &mut Vec<FieldError>, i: usize, m: &pb::Message) {
    if m.role.is_empty() {
        errs.push(missing(
            vec!["messages".into(), i.into(), "role".into()],
            message_input(m),
        ));
    }
    if m.content.is_some() && !m.content_parts.is_empty() {
        errs.push(FieldError {
            kind: "value_error",
            loc: vec!["messages".into(), i.into(), "content".into()],
            msg: "Value error, content and content_parts are mutually exclusive".into(),
            input: message_input(m),
            ctx: Some(json!({"error": "content and content_parts are mutually exclusive"})),
        });
    }
    for (j, p) in m.content_parts.iter().enumerate() {
        use pb::content_part::Part;
        let at = |tail: &[&str]| -> Vec<LocPart> {
            let mut loc: Vec<LocPart> =
                vec!["messages".into(), i.into(), "content".into(), j.into()];
            loc.extend(tail.iter().map(|k| LocPart::from(*k)));
            loc
        };
        match &p.part {
            None => errs.push(missing(at(&["type"]), json!({}))),
            Some(Part::ImageUrl(img)) => {
                if let Some(d) = &img.detail
                    && !matches!(d.as_str(), "auto" | "low" | "high")
                {
                    errs.push(literal_error(
                        at(&["image_url", "detail"]),
                        Value::from(d.as_str()),
                        &["auto", "low", "high"],
                    ));
                }
            }
            Some(Part::InputAudio(a)) => {
                if !matches!(a.format.as_str(), "wav" | "mp3") {
                    errs.push(literal_error(
                        at(&["input_audio", "format"]),
                        Value::from(a.format.as_str()),
                        &["wav", "mp3"],
                    ));
                }
            }
            Some(Part::Text(_) | Part::Reasoning(_)) => {}
        }
    }
}

/// What a REST client would have sent for this message, for the `input` of an error.
fn message_input(m: &pb::Message) -> Value {
    let mut o = serde_json::Map::new();
    if !m.role.is_empty() {
        o.insert("role".into(), Value::from(m.role.as_str()));
    }
    if let Some(c) = &m.content {
        o.insert("content".into(), Value::from(c.as_str()));
    }
    Value::Object(o)
}

fn tool_choice(errs: &mut Vec<FieldError>, tc: &pb::ToolChoice) {
    use pb::tool_choice::Choice;
    match &tc.choice {
        Some(Choice::Mode(m)) if !matches!(m.as_str(), "none" | "auto" | "required") => {
            errs.push(literal_error(
                vec!["tool_choice".into()],
                Value::from(m.as_str()),
                &["none", "auto", "required"],
            ));
        }
        Some(Choice::FunctionName(n)) if n.is_empty() => errs.push(missing(
            vec!["tool_choice".into(), "function".into(), "name".into()],
            json!({}),
        )),
        None => errs.push(missing(vec!["tool_choice".into()], json!({}))),
        Some(_) => {}
    }
}

const CHAT_KEYS: &[&str] = &[
    "endpoint",
    "messages",
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "tools",
    "tool_choice",
    "response_format",
    "stream_options",
    "stream",
    "model",
];

const COMPLETION_KEYS: &[&str] = &[
    "endpoint",
    "prompt",
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "stream_options",
    "stream",
    "model",
];

// `stream` is deliberately absent: MLflow forwards it upstream as an ordinary extra field of an
// embeddings request.
const EMBED_KEYS: &[&str] = &[
    "endpoint",
    "input",
    "encoding_format",
    "dimensions",
    "model",
];

/// Extra parameters must not smuggle in a typed field (or the routing fields `stream`/`model`):
/// the provider would send both, or the extra would silently win.
fn extra_collisions(
    errs: &mut Vec<FieldError>,
    extra: Option<&pbjson_types::Struct>,
    reserved: &[&str],
) {
    let Some(extra) = extra else { return };
    // Sorted so the report does not depend on HashMap order.
    let mut keys: Vec<&String> = extra
        .fields
        .keys()
        .filter(|k| reserved.contains(&k.as_str()))
        .collect();
    keys.sort_unstable();
    for k in keys {
        let input = extra
            .fields
            .get(k)
            .map(crate::proto_json::to_json_value)
            .unwrap_or(Value::Null);
        errs.push(FieldError {
            kind: "extra_forbidden",
            loc: vec!["extra_params".into(), LocPart::Key(k.clone())],
            msg: "Extra inputs are not permitted".into(),
            input,
            ctx: None,
        });
    }
}

/// A float as pydantic echoes it (`3.0`); non-finite values have no JSON form.
fn float_value(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// pydantic's `missing` ("Field required"); `input` is the enclosing object.
pub(crate) fn missing(loc: Vec<LocPart>, input: Value) -> FieldError {
    FieldError {
        kind: "missing",
        loc,
        msg: "Field required".into(),
        input,
        ctx: None,
    }
}

/// pydantic's `too_short` for a list with `min_length=1`.
pub(crate) fn too_short(loc: Vec<LocPart>, input: Value, actual: usize) -> FieldError {
    FieldError {
        kind: "too_short",
        loc,
        msg: format!("List should have at least 1 item after validation, not {actual}"),
        input,
        ctx: Some(json!({"field_type": "List", "min_length": 1, "actual_length": actual})),
    }
}

/// pydantic's `literal_error` ("Input should be 'a', 'b' or 'c'").
pub(crate) fn literal_error(loc: Vec<LocPart>, input: Value, allowed: &[&str]) -> FieldError {
    let expected = literal_expected(allowed);
    FieldError {
        kind: "literal_error",
        loc,
        msg: format!("Input should be {expected}"),
        input,
        ctx: Some(json!({ "expected": expected })),
    }
}

/// `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`: pydantic's enumeration of literal choices.
pub(crate) fn literal_expected(allowed: &[&str]) -> String {
    let quoted: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// pydantic's check of `Field(ge=…)` on an int (ctx carries the bound as an int).
pub(crate) fn int_ge(
    loc: Vec<LocPart>,
    v: i128,
    ge: i64,
    input: impl FnOnce() -> Value,
) -> Option<FieldError> {
    (v < i128::from(ge)).then(|| FieldError {
        kind: "greater_than_equal",
        loc,
        msg: format!("Input should be greater than or equal to {ge}"),
        input: input(),
        ctx: Some(json!({ "ge": ge })),
    })
}

/// pydantic's check of `Field(ge=…, le=…)` on a float: `le` is checked first (so NaN reports
/// `less_than_equal`, as pydantic-core does), and ctx carries the bound as a float.
pub(crate) fn float_range(
    loc: Vec<LocPart>,
    v: f64,
    ge: i32,
    le: i32,
    input: impl FnOnce() -> Value,
) -> Option<FieldError> {
    // Written with partial_cmp so NaN (incomparable) fails the first check, as in pydantic-core.
    let within = |ord: Option<Ordering>, bad: Ordering| ord.is_some_and(|o| o != bad);
    let (kind, word, bound, key) = if !within(v.partial_cmp(&f64::from(le)), Ordering::Greater) {
        ("less_than_equal", "less", le, "le")
    } else if !within(v.partial_cmp(&f64::from(ge)), Ordering::Less) {
        ("greater_than_equal", "greater", ge, "ge")
    } else {
        return None;
    };
    let mut ctx = serde_json::Map::new();
    ctx.insert(key.into(), float_value(f64::from(bound)));
    Some(FieldError {
        kind,
        loc,
        msg: format!("Input should be {word} than or equal to {bound}"),
        input: input(),
        ctx: Some(Value::Object(ctx)),
    })
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
