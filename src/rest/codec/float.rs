//! Doubles printed exactly as Python's `repr(float)` (and so `json.dumps`) prints them.
//!
//! Both Rust and Python print the shortest digit string that round-trips; they differ only in
//! layout. Python switches to scientific notation when the decimal exponent is below -4 or at
//! least 16, and writes the exponent with a sign and at least two digits (`1e-05`, `1e+16`), while
//! serde_json (ryu) writes `1e-5` and switches at other thresholds. Embedding vectors are full of
//! values like `1.2e-05`, so the difference is visible in almost every embeddings response.

use std::io::Write as _;

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
