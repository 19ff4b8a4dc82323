//! The `predictions` of an MLflow model server's response, read in every form MLflow accepts
//! (spec §3.8): for text, a list of strings, a dict with one key holding it, or a dict with
//! `choices` holding it; for embeddings, a list of vectors or one flat vector. A response that
//! fits none is a 502 whose text follows pydantic's layout, as MLflow's does
//! (`1 validation error for ServingTextResponse\npredictions\n  Value error, ...`), so callers
//! matching on it keep working. The documentation-URL line pydantic appends is left out.

use serde_json::Value;

use crate::error::GatewayError;

// Responses

/// The `predictions` of a response (MLflow's 502 when the key is missing).
pub fn predictions(body: Value) -> Result<Value, GatewayError> {
    match body {
        Value::Object(mut o) if o.contains_key("predictions") => {
            Ok(o.remove("predictions").unwrap_or(Value::Null))
        }
        _ => Err(GatewayError::UpstreamBadResponse(
            "The response is missing the required key: predictions.".into(),
        )),
    }
}

/// One pydantic line error: location, message, error type, offending input.
struct LineError {
    loc: String,
    msg: String,
    kind: &'static str,
    input: Value,
}

fn validation_error(model: &str, errors: Vec<LineError>) -> GatewayError {
    let n = errors.len();
    let mut out = format!(
        "{n} validation error{} for {model}",
        if n == 1 { "" } else { "s" }
    );
    for e in errors {
        out.push_str(&format!(
            "\n{}\n  {} [type={}, input_value={}, input_type={}]",
            e.loc,
            e.msg,
            e.kind,
            truncate(&py_repr(&e.input)),
            py_type(&e.input)
        ));
    }
    GatewayError::UpstreamBadResponse(out)
}

fn value_error(model: &str, msg: &str, input: Value) -> GatewayError {
    validation_error(
        model,
        vec![LineError {
            loc: "predictions".into(),
            msg: format!("Value error, {msg}"),
            kind: "value_error",
            input,
        }],
    )
}

fn not_a_list(loc: String, input: Value) -> LineError {
    LineError {
        loc,
        msg: "Input should be a valid list".into(),
        kind: "list_type",
        input,
    }
}

/// Python's truthiness of a JSON value (MLflow tests `if not predictions`).
fn falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

const TEXT_MODEL: &str = "ServingTextResponse";
const EMPTY: &str = "The input list is empty";

/// Text predictions: a list of strings, a dict with one key holding that list, or a dict with
/// `choices` holding it.
pub fn text_predictions(p: Value) -> Result<Vec<String>, GatewayError> {
    let list = match p {
        Value::Array(a) if a.is_empty() => {
            return Err(value_error(TEXT_MODEL, EMPTY, Value::Array(a)));
        }
        Value::Object(o) => {
            if !o.contains_key("choices") && o.len() > 1 {
                return Err(value_error(
                    TEXT_MODEL,
                    "The dict format is invalid for this route type. Ensure the served model returns a dict key containing 'choices'",
                    Value::Object(o),
                ));
            }
            let original = Value::Object(o.clone());
            let mut o = o;
            let inner = if o.len() == 1 {
                o.into_iter().next().map(|(_, v)| v).unwrap_or(Value::Null)
            } else {
                o.remove("choices").unwrap_or(Value::Object(o))
            };
            if falsy(&inner) {
                return Err(value_error(TEXT_MODEL, EMPTY, original));
            }
            inner
        }
        other => other,
    };
    let Value::Array(items) = list else {
        return Err(validation_error(
            TEXT_MODEL,
            vec![not_a_list("predictions".into(), list)],
        ));
    };
    let mut texts = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::String(s) => texts.push(s),
            other => errors.push(LineError {
                loc: format!("predictions.{i}"),
                msg: "Input should be a valid string".into(),
                kind: "string_type",
                input: other,
            }),
        }
    }
    if errors.is_empty() {
        Ok(texts)
    } else {
        Err(validation_error(TEXT_MODEL, errors))
    }
}

const EMBEDDINGS_MODEL: &str = "EmbeddingsResponse";

/// Embedding predictions: a list of vectors, or one flat vector.
pub fn embedding_predictions(p: Value) -> Result<Vec<Vec<f64>>, GatewayError> {
    let rows = match p {
        Value::Array(a) if a.is_empty() => {
            return Err(value_error(EMBEDDINGS_MODEL, EMPTY, Value::Array(a)));
        }
        Value::Array(a)
            if a.iter()
                .all(|v| matches!(v, Value::Array(x) if x.is_empty())) =>
        {
            return Err(value_error(
                EMBEDDINGS_MODEL,
                "One or more lists in the returned prediction response are empty",
                Value::Array(a),
            ));
        }
        // A flat vector of numbers is one embedding. (MLflow wraps only a list of floats; a flat
        // list of integers then fails there, which helps nobody.)
        Value::Array(a) if a.iter().all(Value::is_number) => vec![Value::Array(a)],
        Value::Array(a) => a,
        other => {
            return Err(validation_error(
                EMBEDDINGS_MODEL,
                vec![not_a_list("predictions".into(), other)],
            ));
        }
    };
    let mut vectors = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let Value::Array(values) = row else {
            errors.push(not_a_list(format!("predictions.{i}"), row));
            continue;
        };
        let mut vector = Vec::with_capacity(values.len());
        for (j, v) in values.into_iter().enumerate() {
            match v.as_f64() {
                Some(x) => vector.push(x),
                None => errors.push(LineError {
                    loc: format!("predictions.{i}.{j}"),
                    msg: "Input should be a valid number".into(),
                    kind: "float_type",
                    input: v,
                }),
            }
        }
        vectors.push(vector);
    }
    if errors.is_empty() {
        Ok(vectors)
    } else {
        Err(validation_error(EMBEDDINGS_MODEL, errors))
    }
}

// ---------------------------------------------------------------------------------------------
// Python's repr, for pydantic-style messages

fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => {
                let mut out = Vec::with_capacity(24);
                crate::pyjson::write_py_float(&mut out, f);
                String::from_utf8_lossy(&out).into_owned()
            }
            _ => n.to_string(),
        },
        Value::String(s) => py_str(s),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// pydantic shortens long input reprs to their first 25 and last 24 characters.
fn truncate(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 50 {
        return s.to_owned();
    }
    let head: String = chars[..25].iter().collect();
    let tail: String = chars[chars.len() - 24..].iter().collect();
    format!("{head}...{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RESPONSES: &str =
        include_str!("../../../tests/fixtures/mlflow-model-serving/predictions.json");

    fn detail(e: GatewayError) -> String {
        assert_eq!(e.http_status(), 502);
        e.to_string()
    }

    #[test]
    fn every_valid_text_form_parses() {
        let cases: Value = serde_json::from_str(RESPONSES).unwrap();
        for case in cases["text_valid"].as_array().unwrap() {
            let p = predictions(case["response"].clone()).unwrap();
            let texts = text_predictions(p).unwrap();
            assert_eq!(json!(texts), case["texts"], "{case}");
        }
    }

    #[test]
    fn invalid_text_forms_are_502_in_pydantic_words() {
        let cases: Value = serde_json::from_str(RESPONSES).unwrap();
        for case in cases["text_invalid"].as_array().unwrap() {
            let p = predictions(case["response"].clone()).unwrap();
            let d = detail(text_predictions(p).unwrap_err());
            assert!(d.contains("ServingTextResponse\npredictions"), "{d}");
            assert_eq!(d, case["detail"].as_str().unwrap(), "{case}");
        }
        let d = detail(predictions(json!({"invalid_return_key": ["a"]})).unwrap_err());
        assert_eq!(d, "The response is missing the required key: predictions.");
        assert!(predictions(json!(["a"])).is_err());
    }

    #[test]
    fn embedding_forms() {
        let cases: Value = serde_json::from_str(RESPONSES).unwrap();
        for case in cases["embeddings_valid"].as_array().unwrap() {
            let v = embedding_predictions(predictions(case["response"].clone()).unwrap()).unwrap();
            assert_eq!(json!(v), case["vectors"], "{case}");
        }
        for case in cases["embeddings_invalid"].as_array().unwrap() {
            let p = predictions(case["response"].clone()).unwrap();
            let d = detail(embedding_predictions(p).unwrap_err());
            assert!(d.contains("EmbeddingsResponse\npredictions"), "{d}");
            assert_eq!(d, case["detail"].as_str().unwrap(), "{case}");
        }
    }

    #[test]
    fn python_reprs() {
        assert_eq!(
            py_repr(&json!({"a": [1, 2.0, 1e-5, null, true, "it's"]})),
            r#"{'a': [1, 2.0, 1e-05, None, True, "it's"]}"#
        );
        assert_eq!(
            truncate(&"x".repeat(60)),
            format!("{}...{}", "x".repeat(25), "x".repeat(24))
        );
    }
}
