//! Gemini returns function-call arguments as a JSON object, and usually without a call id. MLflow
//! turns them into OpenAI-style tool calls with `arguments = json.dumps(args)` (Python's default
//! formatting: `", "` and `": "` separators, ASCII-only escapes, floats in `repr` form) and, when
//! the id is missing, `id = "call_" + md5(f"{name}/{arguments}")`. Clients may compare or store
//! these ids across gateways, so both are reproduced exactly here: `crate::pyjson::dumps`
//! writes the arguments as CPython's `json.dumps` does, and [`md5_hex`] takes the MD5 (RustCrypto's `md-5`; an
//! identifier derivation, not a security boundary).

/// The tool-call id MLflow derives for a Gemini function call without an upstream id.
pub fn derived_call_id(name: &str, arguments: &str) -> String {
    let mut input = String::with_capacity(name.len() + 1 + arguments.len());
    input.push_str(name);
    input.push('/');
    input.push_str(arguments);
    format!("call_{}", md5_hex(input.as_bytes()))
}

/// MD5 of `data` as 32 lowercase hex digits.
pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest as _;
    md5::Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pyjson::dumps as py_dumps;
    use serde_json::{Value, json};

    #[test]
    fn md5_known_vectors() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            md5_hex(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        // Crosses a block boundary (64+ bytes).
        assert_eq!(md5_hex(&[b'a'; 100]), "36a92cc94a9e0fa21f625f8bfb007adf");
    }

    #[test]
    fn call_ids_match_mlflow_fixtures() {
        let args = py_dumps(&json!({"location": "Singapore"}));
        assert_eq!(args, r#"{"location": "Singapore"}"#);
        assert_eq!(
            derived_call_id("get_weather", &args),
            "call_c8800a29b7c6d0e92541b3fa793048ab"
        );
        assert_eq!(
            derived_call_id("get_temperature", &args),
            "call_e03eff58ce9e84e7ee3153e687f71dd3"
        );
        assert_eq!(
            derived_call_id("get_humidity", &args),
            "call_de04a6aa496c33afdd792f8424259d12"
        );
        // The spec's observed transcript (Appendix B).
        assert_eq!(
            derived_call_id("get_weather", &py_dumps(&json!({"city": "Paris"}))),
            "call_821e29faf2e71a9d4d7d18a620ba741c"
        );
    }

    #[test]
    fn dumps_like_python() {
        let v: Value = serde_json::from_str(
            r#"{"b":1,"a":[true,null,2.5,-0.0,1.0],"s":"é\n\"\\/\u0001\u007f😀","e":{},"l":[]}"#,
        )
        .unwrap();
        assert_eq!(
            py_dumps(&v),
            r#"{"b": 1, "a": [true, null, 2.5, -0.0, 1.0], "s": "\u00e9\n\"\\/\u0001\u007f\ud83d\ude00", "e": {}, "l": []}"#
        );
    }

    #[test]
    fn floats_like_python_repr() {
        let cases = [
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (123.456, "123.456"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (31.2, "31.2"),
            (100000.0, "100000.0"),
        ];
        for (f, want) in cases {
            let mut s = Vec::new();
            crate::pyjson::write_py_float(&mut s, f);
            assert_eq!(String::from_utf8(s).unwrap(), want, "{f}");
        }
    }
}
