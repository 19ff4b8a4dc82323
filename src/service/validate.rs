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
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::proto_json::to_pb_struct;

    fn user(text: &str) -> pb::Message {
        pb::Message {
            role: "user".into(),
            content: Some(text.into()),
            ..Default::default()
        }
    }

    fn ok_chat() -> pb::ChatRequest {
        pb::ChatRequest {
            messages: vec![user("hi")],
            ..Default::default()
        }
    }

    fn body(r: Result<(), GatewayError>) -> String {
        r.unwrap_err().rest_body().to_string()
    }

    #[test]
    fn valid_requests_pass_at_the_bounds() {
        let mut r = ok_chat();
        r.temperature = Some(2.0);
        r.top_p = Some(0.0);
        r.presence_penalty = Some(-2.0);
        r.frequency_penalty = Some(2.0);
        r.n = Some(1);
        r.max_tokens = Some(1);
        r.max_completion_tokens = Some(1);
        r.top_k = Some(1);
        r.tools = vec![pb::Tool {
            r#type: "function".into(),
            function: None,
        }];
        r.tool_choice = Some(pb::ToolChoice {
            choice: Some(pb::tool_choice::Choice::Mode("auto".into())),
        });
        r.extra_params = Some(to_pb_struct(
            json!({"seed": 1}).as_object().cloned().unwrap(),
        ));
        assert!(chat(&r).is_ok());
        let c = pb::CompletionRequest {
            prompt: "p".into(),
            ..Default::default()
        };
        assert!(completion(&c).is_ok());
        let e = pb::EmbedRequest {
            texts: vec!["a".into()],
            ..Default::default()
        };
        assert!(embed(&e).is_ok());
    }

    #[test]
    fn each_range_rule_reports_pydantics_error() {
        type Mutation = fn(&mut pb::ChatRequest);
        let cases: Vec<(Mutation, &str)> = vec![
            (
                |r| r.temperature = Some(2.5),
                r#"{"type":"less_than_equal","loc":["body","temperature"],"msg":"Input should be less than or equal to 2","input":2.5,"ctx":{"le":2.0}}"#,
            ),
            (
                |r| r.temperature = Some(-0.1),
                r#"{"type":"greater_than_equal","loc":["body","temperature"],"msg":"Input should be greater than or equal to 0","input":-0.1,"ctx":{"ge":0.0}}"#,
            ),
            (
                |r| r.top_p = Some(1.5),
                r#"{"type":"less_than_equal","loc":["body","top_p"],"msg":"Input should be less than or equal to 1","input":1.5,"ctx":{"le":1.0}}"#,
            ),
            (
                |r| r.presence_penalty = Some(-3.0),
                r#"{"type":"greater_than_equal","loc":["body","presence_penalty"],"msg":"Input should be greater than or equal to -2","input":-3.0,"ctx":{"ge":-2.0}}"#,
            ),
            (
                |r| r.frequency_penalty = Some(2.5),
                r#"{"type":"less_than_equal","loc":["body","frequency_penalty"],"msg":"Input should be less than or equal to 2","input":2.5,"ctx":{"le":2.0}}"#,
            ),
            (
                |r| r.temperature = Some(f64::NAN),
                r#"{"type":"less_than_equal","loc":["body","temperature"],"msg":"Input should be less than or equal to 2","input":null,"ctx":{"le":2.0}}"#,
            ),
            (
                |r| r.n = Some(0),
                r#"{"type":"greater_than_equal","loc":["body","n"],"msg":"Input should be greater than or equal to 1","input":0,"ctx":{"ge":1}}"#,
            ),
            (
                |r| r.max_tokens = Some(0),
                r#"{"type":"greater_than_equal","loc":["body","max_tokens"],"msg":"Input should be greater than or equal to 1","input":0,"ctx":{"ge":1}}"#,
            ),
            (
                |r| r.max_completion_tokens = Some(0),
                r#"{"type":"greater_than_equal","loc":["body","max_completion_tokens"],"msg":"Input should be greater than or equal to 1","input":0,"ctx":{"ge":1}}"#,
            ),
            (
                |r| r.top_k = Some(0),
                r#"{"type":"greater_than_equal","loc":["body","top_k"],"msg":"Input should be greater than or equal to 1","input":0,"ctx":{"ge":1}}"#,
            ),
            (
                |r| r.messages.clear(),
                r#"{"type":"too_short","loc":["body","messages"],"msg":"List should have at least 1 item after validation, not 0","input":[],"ctx":{"field_type":"List","min_length":1,"actual_length":0}}"#,
            ),
            (
                |r| r.messages[0].role.clear(),
                r#"{"type":"missing","loc":["body","messages",0,"role"],"msg":"Field required","input":{"content":"hi"}}"#,
            ),
            (
                |r| {
                    r.messages[0].content_parts = vec![pb::ContentPart {
                        part: Some(pb::content_part::Part::Text("x".into())),
                    }];
                },
                r#"{"type":"value_error","loc":["body","messages",0,"content"],"msg":"Value error, content and content_parts are mutually exclusive","input":{"role":"user","content":"hi"},"ctx":{"error":"content and content_parts are mutually exclusive"}}"#,
            ),
            (
                |r| {
                    r.messages[0].content = None;
                    r.messages[0].content_parts = vec![pb::ContentPart { part: None }];
                },
                r#"{"type":"missing","loc":["body","messages",0,"content",0,"type"],"msg":"Field required","input":{}}"#,
            ),
            (
                |r| {
                    r.response_format = Some(pb::ResponseFormat {
                        r#type: "yaml".into(),
                        json_schema: None,
                    });
                },
                r#"{"type":"literal_error","loc":["body","response_format","type"],"msg":"Input should be 'text', 'json_object' or 'json_schema'","input":"yaml","ctx":{"expected":"'text', 'json_object' or 'json_schema'"}}"#,
            ),
            (
                |r| {
                    r.tools = vec![pb::Tool {
                        r#type: "f".into(),
                        function: None,
                    }];
                },
                r#"{"type":"literal_error","loc":["body","tools",0,"type"],"msg":"Input should be 'function' or 'uc_function'","input":"f","ctx":{"expected":"'function' or 'uc_function'"}}"#,
            ),
            (
                |r| {
                    r.tool_choice = Some(pb::ToolChoice {
                        choice: Some(pb::tool_choice::Choice::Mode("any".into())),
                    });
                },
                r#"{"type":"literal_error","loc":["body","tool_choice"],"msg":"Input should be 'none', 'auto' or 'required'","input":"any","ctx":{"expected":"'none', 'auto' or 'required'"}}"#,
            ),
            (
                |r| {
                    r.tool_choice = Some(pb::ToolChoice {
                        choice: Some(pb::tool_choice::Choice::FunctionName(String::new())),
                    });
                },
                r#"{"type":"missing","loc":["body","tool_choice","function","name"],"msg":"Field required","input":{}}"#,
            ),
            (
                |r| {
                    r.messages[0].content = None;
                    r.messages[0].content_parts = vec![
                        pb::ContentPart {
                            part: Some(pb::content_part::Part::ImageUrl(pb::ImageUrl {
                                url: "u".into(),
                                detail: Some("ultra".into()),
                            })),
                        },
                        pb::ContentPart {
                            part: Some(pb::content_part::Part::InputAudio(pb::InputAudio {
                                data: "d".into(),
                                format: "ogg".into(),
                            })),
                        },
                    ];
                },
                concat!(
                    r#"{"type":"literal_error","loc":["body","messages",0,"content",0,"image_url","detail"],"msg":"Input should be 'auto', 'low' or 'high'","input":"ultra","ctx":{"expected":"'auto', 'low' or 'high'"}},"#,
                    r#"{"type":"literal_error","loc":["body","messages",0,"content",1,"input_audio","format"],"msg":"Input should be 'wav' or 'mp3'","input":"ogg","ctx":{"expected":"'wav' or 'mp3'"}}"#
                ),
            ),
            (
                |r| r.tool_choice = Some(pb::ToolChoice { choice: None }),
                r#"{"type":"missing","loc":["body","tool_choice"],"msg":"Field required","input":{}}"#,
            ),
            (
                |r| {
                    r.extra_params = Some(to_pb_struct(
                        json!({"temperature": 5, "seed": 1})
                            .as_object()
                            .cloned()
                            .unwrap(),
                    ));
                },
                r#"{"type":"extra_forbidden","loc":["body","extra_params","temperature"],"msg":"Extra inputs are not permitted","input":5}"#,
            ),
        ];
        for (mutate, want) in cases {
            let mut r = ok_chat();
            mutate(&mut r);
            assert_eq!(body(chat(&r)), format!(r#"{{"detail":[{want}]}}"#));
        }
    }

    #[test]
    fn empty_stop_reads_as_absent() {
        let mut r = ok_chat();
        r.stop = Vec::new();
        assert!(chat(&r).is_ok());
    }

    #[test]
    fn all_problems_are_collected_in_pydantic_field_order() {
        let mut r = ok_chat();
        r.top_k = Some(0);
        r.temperature = Some(9.0);
        r.n = Some(0);
        r.messages = vec![];
        r.extra_params = Some(to_pb_struct(
            json!({"stream": true, "messages": []})
                .as_object()
                .cloned()
                .unwrap(),
        ));
        let GatewayError::Validation(errs) = chat(&r).unwrap_err() else {
            panic!("not a validation error")
        };
        let locs: Vec<String> = errs.iter().map(FieldError::path).collect();
        assert_eq!(
            locs,
            vec![
                "n",
                "temperature",
                "top_k",
                "messages",
                "extra_params.messages",
                "extra_params.stream"
            ]
        );
    }

    #[test]
    fn completion_rules() {
        let c = pb::CompletionRequest {
            prompt: "p".into(),
            max_tokens: Some(0),
            top_p: Some(2.0),
            extra_params: Some(to_pb_struct(
                json!({"prompt": "again"}).as_object().cloned().unwrap(),
            )),
            ..Default::default()
        };
        let GatewayError::Validation(errs) = completion(&c).unwrap_err() else {
            panic!("not a validation error")
        };
        let kinds: Vec<(&str, String)> = errs.iter().map(|e| (e.kind, e.path())).collect();
        assert_eq!(
            kinds,
            vec![
                ("greater_than_equal", "max_tokens".to_owned()),
                ("less_than_equal", "top_p".to_owned()),
                ("extra_forbidden", "extra_params.prompt".to_owned()),
            ]
        );
    }

    #[test]
    fn embed_rules() {
        let none = pb::EmbedRequest::default();
        assert_eq!(
            body(embed(&none)),
            r#"{"detail":[{"type":"missing","loc":["body","input"],"msg":"Field required","input":{}}]}"#
        );
        let both = pb::EmbedRequest {
            texts: vec!["a".into()],
            token_ids: vec![pb::TokenIds { ids: vec![1] }],
            dimensions: Some(0),
            extra_params: Some(to_pb_struct(
                json!({"input": "x", "stream": true})
                    .as_object()
                    .cloned()
                    .unwrap(),
            )),
            ..Default::default()
        };
        let GatewayError::Validation(errs) = embed(&both).unwrap_err() else {
            panic!("not a validation error")
        };
        let kinds: Vec<(&str, String)> = errs.iter().map(|e| (e.kind, e.path())).collect();
        assert_eq!(
            kinds,
            vec![
                ("value_error", "input".to_owned()),
                ("greater_than_equal", "dimensions".to_owned()),
                ("extra_forbidden", "extra_params.input".to_owned()),
            ],
            "`stream` is an ordinary extra for embeddings"
        );
        let tokens = pb::EmbedRequest {
            token_ids: vec![pb::TokenIds { ids: vec![1, 2] }],
            ..Default::default()
        };
        assert!(embed(&tokens).is_ok());
    }

    #[test]
    fn literal_enumeration_matches_pydantic() {
        assert_eq!(literal_expected(&["a"]), "'a'");
        assert_eq!(literal_expected(&["a", "b"]), "'a' or 'b'");
        assert_eq!(literal_expected(&["a", "b", "c"]), "'a', 'b' or 'c'");
    }
}
