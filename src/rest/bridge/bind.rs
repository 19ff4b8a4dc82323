//! Request binding for the REST bridge: the HTTP body, the path variables and the query string
//! of a matched request, merged into one proto3-JSON object and decoded by the generated pbjson
//! impls, then wrapped as the tonic request the RPC takes (headers as metadata, extensions
//! carried over).
//!
//! Precedence follows `google.api.http`: path variables override the body; the query string
//! sets only fields the body does not carry (so it is refused when the body is the whole
//! message). Query values are typed by the request field they name: booleans, 32-bit integers
//! and floats are parsed (and refused with the parameter's name when malformed); strings,
//! enums, bytes and 64-bit integers stay text, as proto3 JSON has them.

use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

use super::{Binding, BodyRule, Call, Field, Scalar};
use crate::error::GatewayError;
use crate::rest::read_body;

/// The tonic request for `call`'s RPC, or a client error saying what was wrong and where.
pub(super) async fn request<Req: DeserializeOwned>(
    call: Call,
) -> Result<tonic::Request<Req>, GatewayError> {
    let Call {
        parts,
        body,
        binding,
        vars,
        body_limit,
    } = call;
    let bytes = read_body(body, body_limit).await?;
    let mut object = match binding.body {
        BodyRule::Whole => match parse_body(&bytes)? {
            None => Map::new(),
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(bad(
                    "The request body must be a JSON object: the request message.".into(),
                ));
            }
        },
        BodyRule::Field(field) => {
            let mut map = Map::new();
            if let Some(value) = parse_body(&bytes)? {
                map.insert(field.to_owned(), value);
            }
            map
        }
        BodyRule::None => {
            if !bytes.trim_ascii().is_empty() {
                return Err(bad(
                    "This method takes no request body: send its fields as query parameters."
                        .into(),
                ));
            }
            Map::new()
        }
    };
    if let Some(query) = parts.uri.query().filter(|q| !q.is_empty()) {
        if matches!(binding.body, BodyRule::Whole) {
            return Err(bad(
                "Query parameters are not accepted here: the JSON body carries the whole request."
                    .into(),
            ));
        }
        bind_query(&mut object, binding, query)?;
    }
    for (path, value) in vars {
        let kind = field(binding, path).map_or(Scalar::String, |f| f.kind);
        let value = scalar(kind, &value).map_err(|why| {
            bad(format!(
                "The path segment for {path:?} is not valid: {why}."
            ))
        })?;
        set(&mut object, path, value, false)?;
    }
    let message: Req = serde_json::from_value(Value::Object(object))
        .map_err(|e| bad(format!("The request does not fit the message: {e}.")))?;
    let metadata = tonic::metadata::MetadataMap::from_headers(parts.headers);
    Ok(tonic::Request::from_parts(
        metadata,
        parts.extensions,
        message,
    ))
}

fn bad(message: String) -> GatewayError {
    GatewayError::BadRequest(message)
}

/// The body as JSON; `None` when it is empty (or only whitespace).
fn parse_body(bytes: &[u8]) -> Result<Option<Value>, GatewayError> {
    if bytes.trim_ascii().is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| bad(format!("The request body is not valid JSON: {e}.")))
}

/// The field a query key names: its proto path (`page_size`) or its lowerCamelCase JSON form
/// (`pageSize`), component by component.
fn field(binding: &Binding, key: &str) -> Option<&'static Field> {
    binding
        .fields
        .iter()
        .find(|f| f.path == key || camel_matches(f.path, key))
}

fn camel_matches(proto: &str, key: &str) -> bool {
    let mut expected = String::with_capacity(proto.len());
    let mut upper = false;
    for c in proto.chars() {
        match c {
            '_' => upper = true,
            '.' => {
                upper = false;
                expected.push('.');
            }
            c if upper => {
                expected.push(c.to_ascii_uppercase());
                upper = false;
            }
            c => expected.push(c),
        }
    }
    expected == key
}

fn bind_query(
    object: &mut Map<String, Value>,
    binding: &Binding,
    query: &str,
) -> Result<(), GatewayError> {
    let body_field = match binding.body {
        BodyRule::Field(f) => Some(f),
        _ => None,
    };
    let mut seen: Vec<&'static str> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let Some(field) = field(binding, &key) else {
            return Err(bad(unknown_parameter(binding, &key)));
        };
        let top = field.path.split('.').next().unwrap_or_default();
        if Some(top) == body_field {
            return Err(bad(format!(
                "Query parameter {key:?} is carried by the request body here."
            )));
        }
        if !field.repeated {
            if seen.contains(&field.path) {
                return Err(bad(format!(
                    "Query parameter {key:?} is given more than once."
                )));
            }
            seen.push(field.path);
        }
        let value = scalar(field.kind, &value)
            .map_err(|why| bad(format!("Query parameter {key:?} is not valid: {why}.")))?;
        set(object, field.path, value, field.repeated)?;
    }
    Ok(())
}

fn unknown_parameter(binding: &Binding, key: &str) -> String {
    let mut accepted: Vec<&str> = binding
        .fields
        .iter()
        .map(|f| f.path)
        .filter(|p| {
            // Path-bound fields are not query parameters.
            !binding
                .segments
                .iter()
                .any(|s| matches!(s, super::Segment::Field(f) if f == p))
        })
        .collect();
    accepted.truncate(20);
    if accepted.is_empty() {
        format!("Unknown query parameter {key:?}: this method takes none.")
    } else {
        format!(
            "Unknown query parameter {key:?}: this method takes {}.",
            accepted.join(", ")
        )
    }
}

/// A path or query value as the JSON the field's proto3 JSON form takes.
fn scalar(kind: Scalar, text: &str) -> Result<Value, String> {
    Ok(match kind {
        Scalar::String | Scalar::Enum | Scalar::Bytes | Scalar::Int64 => {
            Value::String(text.to_owned())
        }
        Scalar::Bool => match text {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(format!("{text:?} is not a boolean (true or false)")),
        },
        Scalar::Int32 => {
            let n: i32 = text
                .parse()
                .map_err(|_| format!("{text:?} is not a 32-bit integer"))?;
            Value::Number(n.into())
        }
        Scalar::Uint32 => {
            let n: u32 = text
                .parse()
                .map_err(|_| format!("{text:?} is not an unsigned 32-bit integer"))?;
            Value::Number(n.into())
        }
        Scalar::Float => match text {
            "NaN" | "Infinity" | "-Infinity" => Value::String(text.to_owned()),
            _ => text
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("{text:?} is not a number"))?,
        },
    })
}

/// Sets the field at dotted `path` (creating the messages on the way); a repeated field
/// collects its values into a list.
fn set(
    object: &mut Map<String, Value>,
    path: &str,
    value: Value,
    repeated: bool,
) -> Result<(), GatewayError> {
    let mut current = object;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            if repeated {
                match current
                    .entry(part)
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    Value::Array(list) => list.push(value),
                    _ => {
                        return Err(bad(format!(
                            "{path:?} is set in the body and is not a list there."
                        )));
                    }
                }
            } else {
                current.insert(part.to_owned(), value);
            }
            return Ok(());
        }
        let next = current
            .entry(part)
            .or_insert_with(|| Value::Object(Map::new()));
        current = match next {
            Value::Object(map) => map,
            _ => {
                return Err(bad(format!(
                    "{path:?}: {part:?} is set in the body and is not a message there."
                )));
            }
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_take_their_fields_types() {
        assert_eq!(scalar(Scalar::Uint32, "25"), Ok(Value::from(25u32)));
        assert!(
            scalar(Scalar::Uint32, "-1")
                .unwrap_err()
                .contains("unsigned")
        );
        assert!(scalar(Scalar::Int32, "99999999999").is_err());
        assert_eq!(scalar(Scalar::Bool, "true"), Ok(Value::Bool(true)));
        assert!(scalar(Scalar::Bool, "yes").is_err());
        assert_eq!(scalar(Scalar::Float, "0.5"), Ok(Value::from(0.5)));
        assert_eq!(scalar(Scalar::Float, "NaN"), Ok(Value::from("NaN")));
        assert!(scalar(Scalar::Float, "fast").is_err());
        // proto3 JSON keeps 64-bit integers as strings.
        assert_eq!(scalar(Scalar::Int64, "12"), Ok(Value::from("12")));
    }

    #[test]
    fn nested_and_repeated_paths_build_objects() {
        let mut object = Map::new();
        set(&mut object, "a.b", Value::from(1), false).unwrap();
        set(&mut object, "a.c", Value::from("x"), true).unwrap();
        set(&mut object, "a.c", Value::from("y"), true).unwrap();
        assert_eq!(
            Value::Object(object.clone()),
            serde_json::json!({"a": {"b": 1, "c": ["x", "y"]}})
        );
        // A path through a scalar is an error, not an overwrite.
        let err = set(&mut object, "a.b.d", Value::from(1), false).unwrap_err();
        assert!(err.to_string().contains("not a message"), "{err}");
    }

    #[test]
    fn camel_case_names_match_proto_names() {
        assert!(camel_matches("page_size", "pageSize"));
        assert!(camel_matches("options.max_tokens", "options.maxTokens"));
        assert!(!camel_matches("page_size", "page_Size"));
    }
}
