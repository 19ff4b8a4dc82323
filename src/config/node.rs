//! A located YAML tree: every mapping key and every value remembers its line and column.
//!
//! serde-saphyr parses the file (YAML syntax errors, duplicate keys, alias bombs are its
//! business) into this tree through `Spanned`; everything after that (the MLflow pipeline
//! order, per-provider key sets, "did you mean" suggestions) walks the tree by hand, so every
//! later error can name the key path *and* the line of the offending key or value.
//! This replaces `#[serde(deny_unknown_fields)]` derive structs, which can neither say which
//! key path failed nor reproduce MLflow's check order on the raw dictionaries.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// 1-based line and column of a YAML node; `None` when the parser could not tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl Pos {
    fn from_location(loc: &serde_saphyr::Location) -> Self {
        let line = usize::try_from(loc.line()).ok().filter(|l| *l > 0);
        let column = usize::try_from(loc.column()).ok().filter(|c| *c > 0);
        Pos { line, column }
    }
}

/// A YAML node with its position.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

/// A mapping key as written (non-string keys are rendered to text), with its position.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub name: String,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

impl Kind {
    /// Short description used in type errors ("found a list").
    pub(crate) fn describe(&self) -> String {
        match self {
            Kind::Null => "null".to_owned(),
            Kind::Bool(b) => format!("boolean `{b}`"),
            Kind::Int(i) => format!("integer `{i}`"),
            Kind::Float(f) => format!("number `{f}`"),
            Kind::Str(_) => "a string".to_owned(),
            Kind::Seq(_) => "a list".to_owned(),
            Kind::Map(_) => "a mapping".to_owned(),
        }
    }
}

impl Node {
    /// Looks up `key` in a mapping node; `None` for other kinds or a missing key.
    #[cfg(test)]
    pub(crate) fn get(&self, key: &str) -> Option<(&Key, &Node)> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.name == key)
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Kind>::deserialize(deserializer)?;
        Ok(Node {
            kind: spanned.value,
            pos: Pos::from_location(&spanned.referenced),
        })
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Kind>::deserialize(deserializer)?;
        let name = match spanned.value {
            Kind::Null => "null".to_owned(),
            Kind::Bool(b) => b.to_string(),
            Kind::Int(i) => i.to_string(),
            Kind::Float(f) => f.to_string(),
            Kind::Str(s) => s,
            Kind::Seq(_) | Kind::Map(_) => {
                return Err(de::Error::custom("mapping keys must be scalars"));
            }
        };
        Ok(Key {
            name,
            pos: Pos::from_location(&spanned.referenced),
        })
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        Kind::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int(i128::from(v)))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Kind, E> {
        Ok(Kind::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kind, E> {
        Ok(Kind::Int(i128::from(v)))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Kind, E> {
        i128::try_from(v)
            .map(Kind::Int)
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Kind, E> {
        String::from_utf8(v.to_vec())
            .map(Kind::Str)
            .map_err(|_| E::custom("binary values are not supported"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Kind::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Kind::Map(entries))
    }
}

/// Parses a whole YAML document into a located tree. `Ok(None)` for an empty document.
///
/// Booleans are YAML 1.2 strict (`true`/`false` only) so that `name: y` or `name: on` stay
/// strings; duplicate keys are an error (MLflow's PyYAML silently keeps the last one, which
/// hides typos); alias expansion is bounded by serde-saphyr's default budget.
pub(crate) fn parse(text: &str) -> Result<Option<Node>, serde_saphyr::Error> {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    serde_saphyr::from_str_with_options::<Option<Node>>(text, options)
}

/// The parser's message without its trailing " at line L, column C" (we print the location
/// ourselves, in the `file:line:column:` prefix).
pub(crate) fn parse_error_message(err: &serde_saphyr::Error) -> String {
    let mut options = serde_saphyr::RenderOptions::default();
    options.snippets = serde_saphyr::SnippetMode::Off;
    let text = err.render_with_options(options);
    match (text.rfind(" at line "), err.location()) {
        (Some(idx), Some(_)) => text[..idx].to_owned(),
        _ => text,
    }
}

/// 1-based position of a parse error, when the parser knows it.
pub(crate) fn parse_error_pos(err: &serde_saphyr::Error) -> Pos {
    err.location()
        .map(|loc| Pos::from_location(&loc))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn positions() {
        let text = "a: 1\nb:\n  c: hello\n  d: [x, 2]\n  e:\n";
        let n = parse(text).unwrap().unwrap();
        let (k, v) = n.get("b").unwrap();
        assert_eq!(k.pos.line, Some(2));
        let (ck, cv) = v.get("c").unwrap();
        assert_eq!((ck.pos.line, ck.pos.column), (Some(3), Some(3)));
        assert_eq!((cv.pos.line, cv.pos.column), (Some(3), Some(6)));
        let (_, e) = v.get("e").unwrap();
        assert!(e.is_null());
    }

    #[test]
    fn strict_booleans_keep_y_and_on_as_strings() {
        let n = parse("a: y\nb: on\nc: true\n").unwrap().unwrap();
        assert_eq!(n.get("a").unwrap().1.as_str(), Some("y"));
        assert_eq!(n.get("b").unwrap().1.as_str(), Some("on"));
        assert!(matches!(n.get("c").unwrap().1.kind, Kind::Bool(true)));
    }

    #[test]
    fn parse_error_has_location_and_clean_message() {
        let err = parse("a: [1,\n b: 2\n").unwrap_err();
        assert_eq!(parse_error_pos(&err).line, Some(1));
        assert!(!parse_error_message(&err).contains(" at line "));
    }
}
