//! pydantic v2's lax-mode scalar coercions, shared by the fast typed parser and the slow
//! error-reporting validator so both accept exactly the same inputs.
//!
//! MLflow validates bodies with pydantic in lax mode, so clients get away with `"n": 1.0`,
//! `"temperature": "0.5"` or `"stream": "true"`. Each coercion here mirrors pydantic-core's rule
//! for JSON-sourced Python values (verified against pydantic 2.13): ints from integral floats,
//! numeric strings and bools; floats from ints, numeric strings and bools; bools from `0`/`1` and
//! a fixed set of words.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// Why a value is not a pydantic int (the pydantic error type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntErr {
    /// `int_type`: not a number, string or bool.
    Type,
    /// `int_parsing`: a string that does not spell an integer.
    Parsing,
    /// `int_from_float`: a float with a fractional part.
    FromFloat,
    /// `finite_number`: inf or nan.
    Finite,
}

/// Integer from a string: surrounding whitespace, a sign, `_` between digits and a trailing
/// `.0...` are accepted, as pydantic does.
pub fn int_from_str(s: &str) -> Option<i128> {
    let s = s.trim();
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let body = match body.split_once('.') {
        Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
        Some(_) => return None,
        None => body,
    };
    let digits = strip_underscores(body)?;
    if digits.is_empty() || digits.len() > 30 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i128 = digits.parse().ok()?;
    Some(if neg { -n } else { n })
}

/// Integer from a JSON float: only integral finite values.
pub fn int_from_f64(f: f64) -> Result<i128, IntErr> {
    if !f.is_finite() {
        return Err(IntErr::Finite);
    }
    if f.fract() != 0.0 {
        return Err(IntErr::FromFloat);
    }
    // |f| may exceed i128 only for absurd inputs; saturating is fine for range checks.
    #[allow(clippy::cast_possible_truncation)]
    Ok(f as i128)
}

/// Float from a string, as pydantic's `float_parsing` accepts it (`" 0.5 "`, `"1e3"`, `"1_0"`,
/// `"inf"`).
pub fn float_from_str(s: &str) -> Option<f64> {
    let s = s.trim();
    let cleaned = strip_underscores(s)?;
    cleaned.parse::<f64>().ok()
}

/// Bool from a string: pydantic's fixed word list, case-insensitively.
pub fn bool_from_str(s: &str) -> Option<bool> {
    let s = s.trim();
    const TRUE: [&str; 6] = ["1", "on", "t", "true", "y", "yes"];
    const FALSE: [&str; 6] = ["0", "off", "f", "false", "n", "no"];
    if TRUE.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if FALSE.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

/// Bool from a JSON number: exactly 0 or 1.
pub fn bool_from_f64(f: f64) -> Option<bool> {
    if f == 0.0 {
        Some(false)
    } else if f == 1.0 {
        Some(true)
    } else {
        None
    }
}

/// Removes `_` separators that sit between two digits; `None` when one sits anywhere else.
fn strip_underscores(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !s.contains('_') {
        return Some(std::borrow::Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let before = i.checked_sub(1).and_then(|j| b.get(j));
            let after = b.get(i + 1);
            if !(before.is_some_and(u8::is_ascii_digit) && after.is_some_and(u8::is_ascii_digit)) {
                return None;
            }
        } else {
            out.push(char::from(c));
        }
    }
    Some(std::borrow::Cow::Owned(out))
}

/// A non-negative int field (every MLflow int field has `ge=1` or is a count). Negative values
/// are rejected here so the slow path reports them with pydantic's range error and the original
/// input; values beyond `u32` saturate (they mean "unbounded" for token limits).
pub struct LaxU32(pub u32);

impl LaxU32 {
    fn from_i128<E: de::Error>(n: i128) -> Result<Self, E> {
        if n < 0 {
            return Err(E::custom("negative"));
        }
        Ok(LaxU32(u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

impl<'de> Deserialize<'de> for LaxU32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LaxU32;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LaxU32, E> {
                LaxU32::from_i128(i128::from(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LaxU32, E> {
                LaxU32::from_i128(i128::from(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LaxU32, E> {
                let n = int_from_f64(v).map_err(|_| E::custom("int"))?;
                LaxU32::from_i128(n)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LaxU32, E> {
                Ok(LaxU32(u32::from(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LaxU32, E> {
                let n = int_from_str(v).ok_or_else(|| E::custom("int_parsing"))?;
                LaxU32::from_i128(n)
            }
        }
        d.deserialize_any(V)
    }
}

/// A float field.
pub struct LaxF64(pub f64);

impl<'de> Deserialize<'de> for LaxF64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LaxF64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LaxF64, E> {
                Ok(LaxF64(v as f64))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LaxF64, E> {
                Ok(LaxF64(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LaxF64, E> {
                Ok(LaxF64(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LaxF64, E> {
                Ok(LaxF64(if v { 1.0 } else { 0.0 }))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LaxF64, E> {
                float_from_str(v)
                    .map(LaxF64)
                    .ok_or_else(|| E::custom("float_parsing"))
            }
        }
        d.deserialize_any(V)
    }
}

/// A bool field.
pub struct LaxBool(pub bool);

impl<'de> Deserialize<'de> for LaxBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LaxBool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LaxBool, E> {
                Ok(LaxBool(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LaxBool, E> {
                match v {
                    0 => Ok(LaxBool(false)),
                    1 => Ok(LaxBool(true)),
                    _ => Err(E::custom("bool_parsing")),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LaxBool, E> {
                match v {
                    0 => Ok(LaxBool(false)),
                    1 => Ok(LaxBool(true)),
                    _ => Err(E::custom("bool_parsing")),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LaxBool, E> {
                bool_from_f64(v)
                    .map(LaxBool)
                    .ok_or_else(|| E::custom("bool"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LaxBool, E> {
                bool_from_str(v)
                    .map(LaxBool)
                    .ok_or_else(|| E::custom("bool_parsing"))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ints_follow_pydantic() {
        assert_eq!(int_from_str(" 2 "), Some(2));
        assert_eq!(int_from_str("+3"), Some(3));
        assert_eq!(int_from_str("-3"), Some(-3));
        assert_eq!(int_from_str("1_000"), Some(1000));
        assert_eq!(int_from_str("1.0"), Some(1));
        assert_eq!(int_from_str("1.5"), None);
        assert_eq!(int_from_str("1e3"), None);
        assert_eq!(int_from_str("0x10"), None);
        assert_eq!(int_from_str(""), None);
        assert_eq!(int_from_str("_1"), None);
        assert_eq!(int_from_f64(1.0), Ok(1));
        assert_eq!(int_from_f64(1.5), Err(IntErr::FromFloat));
        assert_eq!(int_from_f64(f64::INFINITY), Err(IntErr::Finite));
    }

    #[test]
    fn floats_and_bools_follow_pydantic() {
        assert_eq!(float_from_str(" 0.5 "), Some(0.5));
        assert_eq!(float_from_str("1e3"), Some(1000.0));
        assert_eq!(float_from_str("1_0"), Some(10.0));
        assert_eq!(float_from_str("abc"), None);
        assert_eq!(float_from_str(""), None);
        assert_eq!(float_from_str("0x1"), None);
        assert_eq!(bool_from_str("True"), Some(true));
        assert_eq!(bool_from_str("off"), Some(false));
        assert_eq!(bool_from_str("x"), None);
        assert_eq!(bool_from_f64(1.0), Some(true));
        assert_eq!(bool_from_f64(2.0), None);
    }

    #[test]
    fn lax_deserializers() {
        let v: LaxU32 = serde_json::from_str("1.0").unwrap();
        assert_eq!(v.0, 1);
        let v: LaxU32 = serde_json::from_str("\"7\"").unwrap();
        assert_eq!(v.0, 7);
        let v: LaxU32 = serde_json::from_str("99999999999").unwrap();
        assert_eq!(v.0, u32::MAX);
        assert!(serde_json::from_str::<LaxU32>("-1").is_err());
        assert!(serde_json::from_str::<LaxU32>("1.5").is_err());
        assert!(serde_json::from_str::<LaxU32>("null").is_err());
        let f: LaxF64 = serde_json::from_str("\"0.5\"").unwrap();
        assert_eq!(f.0, 0.5);
        let f: LaxF64 = serde_json::from_str("1").unwrap();
        assert_eq!(f.0, 1.0);
        let b: LaxBool = serde_json::from_str("\"yes\"").unwrap();
        assert!(b.0);
        assert!(serde_json::from_str::<LaxBool>("2").is_err());
    }
}
