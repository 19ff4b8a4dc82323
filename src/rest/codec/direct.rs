//! Free-form JSON (extra parameters, tool parameter schemas, JSON schemas) deserialised straight
//! into `google.protobuf.Value`/`Struct`, without building a `serde_json::Value` first.
//!
//! pbjson-types' own `Deserialize` would do the same but rejects integers beyond ±2^53, and a
//! client's `"seed": 12345678901234567890` must not turn into a 422: MLflow forwards it, and a
//! Struct can only hold it as a double anyway, so it is kept as the nearest double.

use std::collections::HashMap;
use std::fmt;

use pbjson_types::{ListValue, Struct, Value as PbValue, value::Kind};
use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};

/// Any JSON value as a proto Value.
pub struct AnyValue(pub PbValue);

/// A JSON object as a proto Struct (anything else is an error).
pub struct Object(pub Struct);

struct KindVisitor;

fn wrap(kind: Kind) -> AnyValue {
    AnyValue(PbValue { kind: Some(kind) })
}

impl<'de> Visitor<'de> for KindVisitor {
    type Value = AnyValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: Error>(self, v: bool) -> Result<AnyValue, E> {
        Ok(wrap(Kind::BoolValue(v)))
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E: Error>(self, v: i64) -> Result<AnyValue, E> {
        Ok(wrap(Kind::NumberValue(v as f64)))
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E: Error>(self, v: u64) -> Result<AnyValue, E> {
        Ok(wrap(Kind::NumberValue(v as f64)))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<AnyValue, E> {
        Ok(wrap(Kind::NumberValue(v)))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<AnyValue, E> {
        Ok(wrap(Kind::StringValue(v.to_owned())))
    }

    fn visit_string<E: Error>(self, v: String) -> Result<AnyValue, E> {
        Ok(wrap(Kind::StringValue(v)))
    }

    fn visit_unit<E: Error>(self) -> Result<AnyValue, E> {
        Ok(wrap(Kind::NullValue(0)))
    }

    fn visit_none<E: Error>(self) -> Result<AnyValue, E> {
        Ok(wrap(Kind::NullValue(0)))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<AnyValue, D::Error> {
        AnyValue::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyValue, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(AnyValue(v)) = seq.next_element()? {
            values.push(v);
        }
        Ok(wrap(Kind::ListValue(ListValue { values })))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AnyValue, A::Error> {
        Ok(wrap(Kind::StructValue(struct_from_map(map)?)))
    }
}

fn struct_from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Struct, A::Error> {
    let mut fields = HashMap::with_capacity(map.size_hint().unwrap_or(4));
    while let Some(key) = map.next_key::<String>()? {
        let AnyValue(v) = map.next_value()?;
        fields.insert(key, v);
    }
    Ok(Struct { fields })
}

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Object;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object, A::Error> {
                struct_from_map(map).map(Object)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::proto_json::{to_json_map, to_json_value};
    use serde_json::json;

    #[test]
    fn any_json_round_trips_and_big_ints_survive() {
        let text = r#"{"s":"x","n":-3,"f":0.5,"b":true,"z":null,"l":[1,{"k":[]}],"big":12345678901234567890}"#;
        let Object(st) = serde_json::from_str(text).unwrap();
        let back = serde_json::Value::Object(to_json_map(&st));
        assert_eq!(back["s"], json!("x"));
        assert_eq!(back["n"], json!(-3));
        assert_eq!(back["f"], json!(0.5));
        assert_eq!(back["b"], json!(true));
        assert_eq!(back["z"], json!(null));
        assert_eq!(back["l"], json!([1, {"k": []}]));
        assert_eq!(back["big"].as_f64(), Some(12_345_678_901_234_567_890.0));
        let AnyValue(v) = serde_json::from_str("[null]").unwrap();
        assert_eq!(to_json_value(&v), json!([null]));
        assert!(serde_json::from_str::<Object>("[1]").is_err());
    }
}
