//! JSON and floats exactly as Python writes them, where MLflow's output depends on it.
//!
//! - [`write_py_float`]: a double as `repr(float)` (and so `json.dumps`) prints it. Both Rust and
//!   Python print the shortest digits that round-trip; they differ in layout: Python switches to
//!   scientific notation below 1e-4 and from 1e16, with a signed two-digit exponent (`1e-05`,
//!   `1e+16`), where serde_json writes `1e-5`. Embedding vectors are full of such values.
//! - [`dumps`]: `json.dumps(value)` with default arguments (`", "` and `": "` separators, non-ASCII
//!   escaped as `\uXXXX` by UTF-16 unit, floats as above). MLflow builds tool-call `arguments` from
//!   Anthropic's and Gemini's argument objects with it, and Gemini's derived call ids hash that
//!   text, so clients see it byte for byte. Key order is the upstream's (`preserve_order`).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};

/// `json.dumps(value)`.
pub fn dumps(value: &serde_json::Value) -> String {
    let mut out = Vec::with_capacity(64);
    let mut ser = Serializer::with_formatter(&mut out, PyFormatter);
    // Writing into a Vec cannot fail, and a Value has no non-string keys or failing parts.
    if value.serialize(&mut ser).is_err() {
        return value.to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}

struct PyFormatter;

impl Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, s: &str) -> io::Result<()> {
        // Python escapes everything outside printable ASCII (`[^\ -~]`), DEL included.
        if s.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return w.write_all(s.as_bytes());
        }
        let mut buf = [0u16; 2];
        for c in s.chars() {
            if (' '..='~').contains(&c) {
                w.write_all(&[c as u8])?;
            } else if c == '\u{7f}' {
                w.write_all(b"\\u007f")?;
            } else {
                // Python escapes by UTF-16 code unit, so astral characters become surrogate pairs.
                for unit in c.encode_utf16(&mut buf) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }

    fn write_char_escape<W: ?Sized + Write>(&mut self, w: &mut W, e: CharEscape) -> io::Result<()> {
        // Same escapes as serde_json's default except the control-character form, spelled out
        // to be sure of Python's lower-case hex.
        let s: &[u8] = match e {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"\\/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(b) => return write!(w, "\\u{b:04x}"),
        };
        w.write_all(s)
    }

    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, v: f64) -> io::Result<()> {
        let mut buf = Vec::with_capacity(24);
        write_py_float(&mut buf, v);
        w.write_all(&buf)
    }
}

/// Appends `v` as Python's `repr` would print it; non-finite values become `null` (Python's
/// encoder would refuse them, and JSON has no spelling for them).
pub fn write_py_float(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() {
            b"-0.0"
        } else {
            b"0.0"
        });
        return;
    }
    // `{:e}` gives the shortest round-trip digits as `d[.ddd]e<exp>`.
    let mut buf = [0u8; 40];
    let len = {
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        if write!(cursor, "{v:e}").is_err() {
            out.extend_from_slice(b"null");
            return;
        }
        usize::try_from(cursor.position()).unwrap_or(0)
    };
    let sci = &buf[..len];
    let (negative, sci) = match sci.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, sci),
    };
    let Some(e_pos) = sci.iter().position(|&b| b == b'e') else {
        out.extend_from_slice(b"null");
        return;
    };
    let (mantissa, exp_text) = (&sci[..e_pos], &sci[e_pos + 1..]);
    let exp: i32 = std::str::from_utf8(exp_text)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    // Significant digits without the point: "1.25" -> "125".
    let mut digits = [0u8; 24];
    let mut n = 0;
    for &b in mantissa {
        if b != b'.' && n < digits.len() {
            digits[n] = b;
            n += 1;
        }
    }
    let digits = &digits[..n];
    if negative {
        out.push(b'-');
    }
    // Python's float_repr_style 'short': decpt = exp + 1 is where the point goes.
    let decpt = exp + 1;
    if (-3..=16).contains(&decpt) {
        write_fixed(out, digits, decpt);
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        // At least two digits; a double's exponent has at most three.
        let abs = exp.unsigned_abs();
        if abs >= 100 {
            out.push(digit(abs / 100));
        }
        out.push(digit(abs / 10 % 10));
        out.push(digit(abs % 10));
    }
}

fn digit(d: u32) -> u8 {
    // d < 10 by construction.
    b'0' + u8::try_from(d % 10).unwrap_or(0)
}

/// Fixed notation with at least one digit on each side of the point (`100.0`, `0.001`).
fn write_fixed(out: &mut Vec<u8>, digits: &[u8], decpt: i32) {
    if decpt <= 0 {
        out.extend_from_slice(b"0.");
        for _ in 0..decpt.unsigned_abs() {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
        return;
    }
    let int_len = decpt.unsigned_abs() as usize;
    if digits.len() <= int_len {
        out.extend_from_slice(digits);
        for _ in digits.len()..int_len {
            out.push(b'0');
        }
        out.extend_from_slice(b".0");
    } else {
        out.extend_from_slice(&digits[..int_len]);
        out.push(b'.');
        out.extend_from_slice(&digits[int_len..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(v: f64) -> String {
        let mut out = Vec::new();
        write_py_float(&mut out, v);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn matches_python_repr() {
        // Expected strings are Python 3's repr() of the same doubles.
        let cases: &[(f64, &str)] = &[
            (0.1, "0.1"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e-05, "1e-05"),
            (1.2e-05, "1.2e-05"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (123456789012345680000.0, "1.2345678901234568e+20"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (-0.017291732, "-0.017291732"),
            (100.0, "100.0"),
            (0.30000000000000004, "0.30000000000000004"),
            (-3.4028234663852886e38, "-3.4028234663852886e+38"),
        ];
        for (v, want) in cases {
            assert_eq!(py(*v), *want, "{v:e}");
        }
        assert_eq!(py(f64::NAN), "null");
        assert_eq!(py(f64::INFINITY), "null");
    }
}

#[cfg(test)]
mod dumps_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn separators_and_order_match_python() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"city":"Paris","units":["c","f"],"n":3,"a":{"b":null}}"#)
                .unwrap();
        assert_eq!(
            dumps(&v),
            r#"{"city": "Paris", "units": ["c", "f"], "n": 3, "a": {"b": null}}"#
        );
        assert_eq!(dumps(&json!({})), "{}");
        assert_eq!(dumps(&json!([])), "[]");
    }

    #[test]
    fn non_ascii_and_controls_are_escaped_like_python() {
        assert_eq!(
            dumps(&json!("é/😀\"\n\u{1f}")),
            r#""\u00e9/\ud83d\ude00\"\n\u001f""#
        );
    }

    #[test]
    fn floats_follow_python_repr() {
        for (v, want) in [
            (2.0, "2.0"),
            (0.1, "0.1"),
            (-1.5, "-1.5"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (1.5e300, "1.5e+300"),
            (123.456, "123.456"),
            (0.0, "0.0"),
        ] {
            let mut out = Vec::new();
            write_py_float(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{v}");
        }
        assert_eq!(dumps(&json!({"t": 21.5})), r#"{"t": 21.5}"#);
    }
}
