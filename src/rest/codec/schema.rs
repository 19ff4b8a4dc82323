//! A small interpreter of pydantic v2 validation, enough to describe MLflow's request models and
//! report errors exactly as pydantic-core does (types, messages, `ctx`, union member tags in the
//! location, error order = model field order).
//!
//! It only runs on the error path, over a `serde_json::Value`, so it favours fidelity over speed.
//! Models are validated as FastAPI validates a body (`from_attributes=True`), which is why a
//! non-object where a model is expected is `model_attributes_type`, not `model_type`.

use serde_json::{Map, Value};

use crate::error::{FieldError, LocPart};
use crate::service::validate::{float_range, int_ge, literal_error, missing, too_short};

use super::lax::{self, IntErr};

/// A pydantic type.
pub enum Ty {
    /// `str`.
    Str,
    /// `int`, optionally `Field(ge=…)`.
    Int(Option<i64>),
    /// `float` with `Field(ge=…, le=…)`.
    Float(i32, i32),
    /// `bool`.
    Bool,
    /// `dict[str, Any]`.
    Dict,
    /// `list[T]`, optionally `Field(min_length=1)`.
    List(&'static Ty, bool),
    /// `T | None`.
    Nullable(&'static Ty),
    /// A `BaseModel`.
    Model(&'static Model),
    /// `Literal["a", "b"]`.
    Literal(&'static [&'static str]),
    /// `A | B | …` (smart or left-to-right: the error report is the same); each member with the
    /// tag pydantic puts in the location of its errors.
    Union(&'static [(&'static str, Ty)]),
    /// `Annotated[A | B, Field(discriminator="type")]`: (tag value, model) pairs.
    Tagged(&'static [(&'static str, &'static Model)]),
}

/// A `BaseModel`: its fields in declaration order (the order pydantic reports errors in).
pub struct Model {
    /// The fields.
    pub fields: &'static [Field],
}

/// One model field.
pub struct Field {
    /// Its name (= JSON key).
    pub name: &'static str,
    /// Its type.
    pub ty: Ty,
    /// Whether it has no default.
    pub required: bool,
}

/// Validates `v` against `ty`, appending every error (located under `loc`) to `errs`.
pub fn check(ty: &Ty, v: &Value, loc: &mut Vec<LocPart>, errs: &mut Vec<FieldError>) {
    match ty {
        Ty::Str => {
            if !v.is_string() {
                errs.push(err("string_type", loc, "Input should be a valid string", v));
            }
        }
        Ty::Int(ge) => check_int(*ge, v, loc, errs),
        Ty::Float(ge, le) => check_float(*ge, *le, v, loc, errs),
        Ty::Bool => check_bool(v, loc, errs),
        Ty::Dict => {
            if !v.is_object() {
                errs.push(err(
                    "dict_type",
                    loc,
                    "Input should be a valid dictionary",
                    v,
                ));
            }
        }
        Ty::List(item, min_one) => match v {
            Value::Array(items) => {
                let before = errs.len();
                for (i, it) in items.iter().enumerate() {
                    loc.push(LocPart::Index(i));
                    check(item, it, loc, errs);
                    loc.pop();
                }
                // The length is checked on the validated list, so only when every item passed.
                if *min_one && items.is_empty() && errs.len() == before {
                    errs.push(too_short(loc.clone(), v.clone(), 0));
                }
            }
            _ => errs.push(err("list_type", loc, "Input should be a valid list", v)),
        },
        Ty::Nullable(inner) => {
            if !v.is_null() {
                check(inner, v, loc, errs);
            }
        }
        Ty::Model(m) => match v {
            Value::Object(o) => check_model(m, o, v, loc, errs),
            _ => errs.push(not_an_object(loc, v)),
        },
        Ty::Literal(allowed) => {
            if !v.as_str().is_some_and(|s| allowed.contains(&s)) {
                errs.push(literal_error(loc.clone(), v.clone(), allowed));
            }
        }
        Ty::Union(members) => {
            let mut all = Vec::new();
            for (tag, member) in *members {
                let mut member_errs = Vec::new();
                loc.push(LocPart::Key((*tag).to_owned()));
                check(member, v, loc, &mut member_errs);
                loc.pop();
                if member_errs.is_empty() {
                    return;
                }
                all.append(&mut member_errs);
            }
            errs.append(&mut all);
        }
        Ty::Tagged(variants) => check_tagged(variants, v, loc, errs),
    }
}

fn check_model(
    m: &Model,
    o: &Map<String, Value>,
    whole: &Value,
    loc: &mut Vec<LocPart>,
    errs: &mut Vec<FieldError>,
) {
    for f in m.fields {
        loc.push(LocPart::Key(f.name.to_owned()));
        match o.get(f.name) {
            Some(fv) => check(&f.ty, fv, loc, errs),
            None if f.required => errs.push(missing(loc.clone(), whole.clone())),
            None => {}
        }
        loc.pop();
    }
}

fn check_tagged(
    variants: &[(&'static str, &'static Model)],
    v: &Value,
    loc: &mut Vec<LocPart>,
    errs: &mut Vec<FieldError>,
) {
    let Value::Object(o) = v else {
        errs.push(not_an_object(loc, v));
        return;
    };
    let Some(tag) = o.get("type") else {
        errs.push(FieldError {
            kind: "union_tag_not_found",
            loc: loc.clone(),
            msg: "Unable to extract tag using discriminator 'type'".into(),
            input: v.clone(),
            ctx: Some(serde_json::json!({"discriminator": "'type'"})),
        });
        return;
    };
    let tag_text = py_str(tag);
    match variants.iter().find(|(t, _)| *t == tag_text) {
        Some((t, model)) => {
            loc.push(LocPart::Key((*t).to_owned()));
            check_model(model, o, v, loc, errs);
            loc.pop();
        }
        None => {
            let expected = variants
                .iter()
                .map(|(t, _)| format!("'{t}'"))
                .collect::<Vec<_>>()
                .join(", ");
            errs.push(FieldError {
                kind: "union_tag_invalid",
                loc: loc.clone(),
                msg: format!(
                    "Input tag '{tag_text}' found using 'type' does not match any of the expected tags: {expected}"
                ),
                input: v.clone(),
                ctx: Some(serde_json::json!({
                    "discriminator": "'type'",
                    "tag": tag_text,
                    "expected_tags": expected,
                })),
            });
        }
    }
}

/// `str(value)` as Python prints the JSON-decoded value (used for discriminator tags).
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

fn check_int(ge: Option<i64>, v: &Value, loc: &mut [LocPart], errs: &mut Vec<FieldError>) {
    let n = match v {
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Ok(i128::from(i)),
            (None, Some(u), _) => Ok(i128::from(u)),
            (None, None, Some(f)) => lax::int_from_f64(f),
            (None, None, None) => Err(IntErr::Type),
        },
        Value::String(s) => lax::int_from_str(s).ok_or(IntErr::Parsing),
        Value::Bool(b) => Ok(i128::from(*b)),
        Value::Null | Value::Array(_) | Value::Object(_) => Err(IntErr::Type),
    };
    match n {
        Ok(n) => {
            if let Some(ge) = ge {
                errs.extend(int_ge(loc.to_vec(), n, ge, || v.clone()));
            }
        }
        Err(IntErr::Type) => errs.push(err("int_type", loc, "Input should be a valid integer", v)),
        Err(IntErr::Parsing) => errs.push(err(
            "int_parsing",
            loc,
            "Input should be a valid integer, unable to parse string as an integer",
            v,
        )),
        Err(IntErr::FromFloat) => errs.push(err(
            "int_from_float",
            loc,
            "Input should be a valid integer, got a number with a fractional part",
            v,
        )),
        Err(IntErr::Finite) => {
            errs.push(err(
                "finite_number",
                loc,
                "Input should be a finite number",
                v,
            ));
        }
    }
}

fn check_float(ge: i32, le: i32, v: &Value, loc: &mut [LocPart], errs: &mut Vec<FieldError>) {
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match lax::float_from_str(s) {
            Some(f) => Some(f),
            None => {
                errs.push(err(
                    "float_parsing",
                    loc,
                    "Input should be a valid number, unable to parse string as a number",
                    v,
                ));
                return;
            }
        },
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    };
    match f {
        Some(f) => errs.extend(float_range(loc.to_vec(), f, ge, le, || v.clone())),
        None => errs.push(err("float_type", loc, "Input should be a valid number", v)),
    }
}

fn check_bool(v: &Value, loc: &mut [LocPart], errs: &mut Vec<FieldError>) {
    let parsing = "Input should be a valid boolean, unable to interpret input";
    match v {
        Value::Bool(_) => {}
        Value::Number(n) if n.is_f64() => {
            // A float is accepted only as exactly 0.0 or 1.0; anything else is a type error.
            if n.as_f64().and_then(lax::bool_from_f64).is_none() {
                errs.push(err("bool_type", loc, "Input should be a valid boolean", v));
            }
        }
        Value::Number(n) => {
            if !matches!(n.as_i64(), Some(0 | 1)) {
                errs.push(err("bool_parsing", loc, parsing, v));
            }
        }
        Value::String(s) => {
            if lax::bool_from_str(s).is_none() {
                errs.push(err("bool_parsing", loc, parsing, v));
            }
        }
        Value::Null | Value::Array(_) | Value::Object(_) => {
            errs.push(err("bool_type", loc, "Input should be a valid boolean", v));
        }
    }
}

fn not_an_object(loc: &[LocPart], v: &Value) -> FieldError {
    err(
        "model_attributes_type",
        loc,
        "Input should be a valid dictionary or object to extract fields from",
        v,
    )
}

fn err(kind: &'static str, loc: &[LocPart], msg: &str, v: &Value) -> FieldError {
    FieldError {
        kind,
        loc: loc.to_vec(),
        msg: msg.to_owned(),
        input: v.clone(),
        ctx: None,
    }
}
