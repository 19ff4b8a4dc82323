//! Where, and in what words, CPython's `json` module rejects a document.
//!
//! FastAPI reports undecodable bodies as `{"type":"json_invalid","loc":["body",<pos>],...,
//! "ctx":{"error":<msg>}}` with `pos` and `msg` taken from Python's `JSONDecodeError`. Python's
//! positions (code-point offsets, often pointing at a different character than serde_json's
//! line/column) and messages ("Expecting value", "Expecting ',' delimiter", ...) can only be
//! reproduced by scanning as CPython's C scanner (`Modules/_json.c`) does, so this module is a
//! validating re-implementation of it. It runs only on bodies serde_json already refused.
//!
//! Messages are those of CPython 3.8-3.12 (3.13 reworded trailing commas as "Illegal trailing
//! comma before end of object/array").

/// Deepest nesting scanned; beyond it (where serde_json has long given up too) no position is
/// claimed, rather than risking the stack.
const MAX_DEPTH: usize = 512;

/// `(position, message)` of the first error, or `None` if Python would accept `text` (it is more
/// lenient than serde_json about `NaN`, `Infinity` and lone surrogates) or nesting is too deep.
pub fn first_error(text: &str) -> Option<(usize, String)> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Scanner {
        s: &chars,
        depth: 0,
    };
    let start = p.ws(0);
    match p.value(start) {
        Ok(end) => {
            let end = p.ws(end);
            (end != chars.len()).then(|| (end, "Extra data".to_owned()))
        }
        Err(Fail::At(pos, msg)) => Some((pos, msg.to_owned())),
        Err(Fail::TooDeep) => None,
    }
}

enum Fail {
    At(usize, &'static str),
    TooDeep,
}

const EXPECTING_VALUE: &str = "Expecting value";

struct Scanner<'a> {
    s: &'a [char],
    depth: usize,
}

impl Scanner<'_> {
    fn at(&self, i: usize) -> Option<char> {
        self.s.get(i).copied()
    }

    /// Python's `WHITESPACE = [ \t\n\r]*`.
    fn ws(&self, mut i: usize) -> usize {
        while matches!(self.at(i), Some(' ' | '\t' | '\n' | '\r')) {
            i += 1;
        }
        i
    }

    fn starts_with(&self, i: usize, word: &str) -> bool {
        (i..).zip(word.chars()).all(|(j, c)| self.at(j) == Some(c))
    }

    /// `scan_once`: a value starting exactly at `i`; returns the index after it.
    fn value(&mut self, i: usize) -> Result<usize, Fail> {
        match self.at(i) {
            None => Err(Fail::At(i, EXPECTING_VALUE)),
            Some('"') => self.string(i + 1),
            Some('{') => self.nested(i, Self::object),
            Some('[') => self.nested(i, Self::array),
            Some(c) => {
                let words: &[(char, &str)] = &[
                    ('n', "null"),
                    ('t', "true"),
                    ('f', "false"),
                    ('N', "NaN"),
                    ('I', "Infinity"),
                ];
                for (first, word) in words {
                    if c == *first {
                        return if self.starts_with(i, word) {
                            Ok(i + word.chars().count())
                        } else {
                            Err(Fail::At(i, EXPECTING_VALUE))
                        };
                    }
                }
                if c == '-' && self.starts_with(i, "-Infinity") {
                    return Ok(i + 9);
                }
                self.number(i)
            }
        }
    }

    fn nested(
        &mut self,
        i: usize,
        f: fn(&mut Self, usize) -> Result<usize, Fail>,
    ) -> Result<usize, Fail> {
        if self.depth >= MAX_DEPTH {
            return Err(Fail::TooDeep);
        }
        self.depth += 1;
        let r = f(self, i + 1);
        self.depth -= 1;
        r
    }

    /// `_match_number_unicode`: `-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?`.
    fn number(&self, start: usize) -> Result<usize, Fail> {
        let digit = |i: usize| self.at(i).is_some_and(|c| c.is_ascii_digit());
        let mut i = start;
        if self.at(i) == Some('-') {
            i += 1;
        }
        match self.at(i) {
            Some('0') => i += 1,
            Some('1'..='9') => {
                while digit(i) {
                    i += 1;
                }
            }
            _ => return Err(Fail::At(start, EXPECTING_VALUE)),
        }
        if self.at(i) == Some('.') && digit(i + 1) {
            i += 1;
            while digit(i) {
                i += 1;
            }
        }
        if matches!(self.at(i), Some('e' | 'E')) {
            let mut j = i + 1;
            if matches!(self.at(j), Some('+' | '-')) {
                j += 1;
            }
            if digit(j) {
                while digit(j) {
                    j += 1;
                }
                i = j;
            }
        }
        Ok(i)
    }

    /// `scanstring_unicode`, `i` just past the opening quote.
    fn string(&self, i: usize) -> Result<usize, Fail> {
        let begin = i - 1;
        let mut j = i;
        loop {
            match self.at(j) {
                None => return Err(Fail::At(begin, "Unterminated string starting at")),
                Some('"') => return Ok(j + 1),
                Some('\\') => {
                    let Some(esc) = self.at(j + 1) else {
                        return Err(Fail::At(begin, "Unterminated string starting at"));
                    };
                    if esc == 'u' {
                        let u = j + 1;
                        // Four hex digits, and a string that goes on after them.
                        if u + 5 >= self.s.len() {
                            return Err(Fail::At(u, "Invalid \\uXXXX escape"));
                        }
                        if !(1..=4).all(|k| self.at(u + k).is_some_and(|c| c.is_ascii_hexdigit())) {
                            return Err(Fail::At(u, "Invalid \\uXXXX escape"));
                        }
                        j = u + 5;
                    } else if matches!(esc, '"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') {
                        j += 2;
                    } else {
                        return Err(Fail::At(j, "Invalid \\escape"));
                    }
                }
                Some(c) if u32::from(c) <= 0x1f => {
                    return Err(Fail::At(j, "Invalid control character at"));
                }
                Some(_) => j += 1,
            }
        }
    }

    /// `_parse_object_unicode`, `i` just past `{`.
    fn object(&mut self, i: usize) -> Result<usize, Fail> {
        const NAME: &str = "Expecting property name enclosed in double quotes";
        let mut i = self.ws(i);
        if self.at(i) == Some('}') {
            return Ok(i + 1);
        }
        loop {
            if self.at(i) != Some('"') {
                return Err(Fail::At(i, NAME));
            }
            i = self.ws(self.string(i + 1)?);
            if self.at(i) != Some(':') {
                return Err(Fail::At(i, "Expecting ':' delimiter"));
            }
            i = self.ws(i + 1);
            let end = self.value(i)?;
            i = self.ws(end);
            match self.at(i) {
                Some('}') => return Ok(i + 1),
                Some(',') => i = self.ws(i + 1),
                _ => return Err(Fail::At(i, "Expecting ',' delimiter")),
            }
        }
    }

    /// `_parse_array_unicode`, `i` just past `[`.
    fn array(&mut self, i: usize) -> Result<usize, Fail> {
        let mut i = self.ws(i);
        if self.at(i) == Some(']') {
            return Ok(i + 1);
        }
        loop {
            let end = self.value(i)?;
            i = self.ws(end);
            match self.at(i) {
                Some(']') => return Ok(i + 1),
                Some(',') => i = self.ws(i + 1),
                _ => return Err(Fail::At(i, "Expecting ',' delimiter")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_messages_match_cpython() {
        // (input, position, message) as CPython 3.11's json.loads reports them.
        let cases: &[(&str, usize, &str)] = &[
            (
                "{bad",
                1,
                "Expecting property name enclosed in double quotes",
            ),
            ("   ", 3, "Expecting value"),
            (
                r#"{"a":1,}"#,
                7,
                "Expecting property name enclosed in double quotes",
            ),
            ("[1,]", 3, "Expecting value"),
            (r#"{"a" 1}"#, 5, "Expecting ':' delimiter"),
            (r#"{"a":1 "b":2}"#, 7, "Expecting ',' delimiter"),
            ("[1 2]", 3, "Expecting ',' delimiter"),
            (r#""abc"#, 0, "Unterminated string starting at"),
            (r#""a\x""#, 2, "Invalid \\escape"),
            (r#""a\u12""#, 3, "Invalid \\uXXXX escape"),
            (r#""a\u12zz""#, 3, "Invalid \\uXXXX escape"),
            ("\"a\u{1}\"", 2, "Invalid control character at"),
            (r#"{"a":}"#, 5, "Expecting value"),
            ("1 2", 2, "Extra data"),
            ("nul", 0, "Expecting value"),
            ("-", 0, "Expecting value"),
            ("-a", 0, "Expecting value"),
            ("01", 1, "Extra data"),
            ("1.", 1, "Extra data"),
            ("1e", 1, "Extra data"),
            ("[", 1, "Expecting value"),
            ("{", 1, "Expecting property name enclosed in double quotes"),
            (r#"{"a""#, 4, "Expecting ':' delimiter"),
            (r#"{"a":"#, 5, "Expecting value"),
            ("tru", 0, "Expecting value"),
            (
                "{\"é\":1,}",
                7,
                "Expecting property name enclosed in double quotes",
            ),
            (r#""a\"#, 0, "Unterminated string starting at"),
            ("[1,,2]", 3, "Expecting value"),
            (
                "{,}",
                1,
                "Expecting property name enclosed in double quotes",
            ),
            (r#"{"a":1,"b"}"#, 10, "Expecting ':' delimiter"),
            (r#""\u00e9" x"#, 9, "Extra data"),
            (r#""\u0041"#, 2, "Invalid \\uXXXX escape"),
            (r#""\u"#, 2, "Invalid \\uXXXX escape"),
            ("[\"a\",\n \"b\" \"c\"]", 11, "Expecting ',' delimiter"),
        ];
        for (input, pos, msg) in cases {
            assert_eq!(
                first_error(input),
                Some((*pos, (*msg).to_owned())),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn python_accepts_what_serde_rejects() {
        assert_eq!(first_error("NaN"), None);
        assert_eq!(first_error("[-Infinity, Infinity]"), None);
        assert_eq!(first_error(r#""\ud800""#), None);
        assert_eq!(
            first_error(r#"{"a": [1, 2.5e-3, true, null], "b": {}}"#),
            None
        );
        assert_eq!(first_error(&"[".repeat(10_000)), None);
    }
}
