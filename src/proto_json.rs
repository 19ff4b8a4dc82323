//! Conversions between `google.protobuf.Struct`/`Value` (the proto model's free-form JSON: extra
//! provider parameters, tool schemas, usage extras) and JSON text.
//!
//! Serialisation borrows the Struct and writes it straight into the output; no intermediate
//! `serde_json::Value` is built. Struct numbers are doubles, so a client's `{"seed": 42}` arrives
//! as `42.0`; integral values within the exactly-representable range are written back as
//! integers (`42`), which is what every upstream API expects for integer parameters.

use pbjson_types::{ListValue, Struct, Value as PbValue, value::Kind};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// Largest integer a double represents exactly (2^53).
const MAX_SAFE_INT: f64 = 9_007_199_254_740_992.0;

/// Serialises a borrowed Struct as a JSON object.
pub struct StructRef<'a>(pub &'a Struct);

/// Serialises a borrowed Value as JSON.
pub struct ValueRef<'a>(pub &'a PbValue);

impl Serialize for StructRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        StructWithout {
            fields: self.0,
            skip: &[],
        }
        .serialize(s)
    }
}

/// A borrowed Struct minus some keys: extra parameters flattened into a body that sets those
/// keys itself (a duplicate key in one JSON object is read differently by different parsers).
pub struct StructWithout<'a> {
    /// The Struct.
    pub fields: &'a Struct,
    /// Keys to leave out.
    pub skip: &'a [&'a str],
}

impl Serialize for StructWithout<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The Struct's map has no order; sorting makes every upstream body deterministic, which
        // keeps provider-side prompt caches (keyed on the exact request prefix) effective.
        let mut fields: Vec<(&String, &PbValue)> = self
            .fields
            .fields
            .iter()
            .filter(|(k, _)| !self.skip.contains(&k.as_str()))
            .collect();
        fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut map = s.serialize_map(Some(fields.len()))?;
        for (k, v) in fields {
            map.serialize_entry(k, &ValueRef(v))?;
        }
        map.end()
    }
}

impl Serialize for ValueRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0.kind {
            None | Some(Kind::NullValue(_)) => s.serialize_unit(),
            Some(Kind::BoolValue(b)) => s.serialize_bool(*b),
            Some(Kind::NumberValue(n)) => serialize_number(*n, s),
            Some(Kind::StringValue(v)) => s.serialize_str(v),
            Some(Kind::StructValue(st)) => StructRef(st).serialize(s),
            Some(Kind::ListValue(list)) => {
                let mut seq = s.serialize_seq(Some(list.values.len()))?;
                for v in &list.values {
                    seq.serialize_element(&ValueRef(v))?;
                }
                seq.end()
            }
        }
    }
}

fn serialize_number<S: Serializer>(n: f64, s: S) -> Result<S::Ok, S::Error> {
    if n.is_finite() && n.fract() == 0.0 && n.abs() <= MAX_SAFE_INT {
        // Exact: |n| <= 2^53 and integral, so the cast loses nothing.
        #[allow(clippy::cast_possible_truncation)]
        s.serialize_i64(n as i64)
    } else {
        s.serialize_f64(n)
    }
}

/// A JSON value as a proto Value.
pub fn to_pb_value(v: serde_json::Value) -> PbValue {
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(a) => Kind::ListValue(ListValue {
            values: a.into_iter().map(to_pb_value).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(to_pb_struct(o)),
    };
    PbValue { kind: Some(kind) }
}

/// A JSON object as a proto Struct.
pub fn to_pb_struct(map: serde_json::Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: map.into_iter().map(|(k, v)| (k, to_pb_value(v))).collect(),
    }
}

/// A proto Value as a JSON value (integral numbers become integers, as in [`ValueRef`]).
pub fn to_json_value(v: &PbValue) -> serde_json::Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::NumberValue(n)) => {
            if n.is_finite() && n.fract() == 0.0 && n.abs() <= MAX_SAFE_INT {
                #[allow(clippy::cast_possible_truncation)]
                serde_json::Value::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::StructValue(st)) => serde_json::Value::Object(to_json_map(st)),
        Some(Kind::ListValue(l)) => {
            serde_json::Value::Array(l.values.iter().map(to_json_value).collect())
        }
    }
}

/// A proto Struct as a JSON object, keys sorted (see [`StructRef`]).
pub fn to_json_map(st: &Struct) -> serde_json::Map<String, serde_json::Value> {
    let mut fields: Vec<(&String, &PbValue)> = st.fields.iter().collect();
    fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
    fields
        .into_iter()
        .map(|(k, v)| (k.clone(), to_json_value(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_integers_integral() {
        let v = json!({"seed": 42, "p": 0.5, "l": [1, "a", null, true], "o": {"x": -3}});
        let serde_json::Value::Object(map) = v.clone() else {
            unreachable!()
        };
        let st = to_pb_struct(map);
        let text = serde_json::to_string(&StructRef(&st)).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        assert!(text.contains("\"seed\":42"), "{text}");
        assert_eq!(serde_json::Value::Object(to_json_map(&st)), v);
    }

    #[test]
    fn keys_are_written_in_a_stable_order() {
        let st = to_pb_struct(
            json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let text = serde_json::to_string(&StructRef(&st)).unwrap();
        assert_eq!(
            text,
            r#"{"additionalProperties":false,"properties":{},"required":[],"type":"object"}"#
        );
    }

    #[test]
    fn huge_and_fractional_numbers_stay_floats() {
        let st = to_pb_struct(
            json!({"big": 1e300, "f": 1.25})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let text = serde_json::to_string(&StructRef(&st)).unwrap();
        assert!(text.contains("1.25"));
        assert!(text.contains("1e+300"), "{text}");
    }
}
