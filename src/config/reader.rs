//! Typed, located access to the YAML tree: the "raw" stage.
//!
//! [`Obj`] wraps one mapping with its key path; its accessors return values or a
//! [`ConfigError`] that names the file, the full key path and the line/column of the
//! offending key (unknown keys) or value (type errors), or of the mapping itself (missing
//! keys). Unknown keys are rejected with a "did you mean" suggestion; MLflow silently
//! ignores them, which hides typos.

use std::path::Path;

use crate::config::error::{ConfigError, ConfigWarning};
use crate::config::node::{Key, Kind, Node, Pos};
use crate::config::secret::{self, Secret};
use crate::config::suggest;

/// Load-wide context: the file for diagnostics, the environment, collected warnings.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub warnings: Vec<crate::config::ConfigWarning>,
}

pub(crate) type Res<T> = Result<T, ConfigError>;

impl Ctx<'_> {
    pub fn err(&self, path: &str, pos: Pos, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, path, pos, message)
    }

    pub fn warn(&mut self, path: &str, pos: Pos, message: impl Into<String>) {
        self.warnings
            .push(ConfigWarning::at(self.file, path, pos, message));
    }

    /// Error "expected {what}, found {kind}" at `node`.
    pub fn type_err(&self, path: &str, node: &Node, what: &str) -> ConfigError {
        self.err(
            path,
            node.pos,
            format!("expected {what}, found {}", node.kind.describe()),
        )
    }

    pub fn string<'n>(&self, path: &str, node: &'n Node) -> Res<&'n str> {
        node.as_str()
            .ok_or_else(|| self.type_err(path, node, "a string"))
    }

    pub fn list<'n>(&self, path: &str, node: &'n Node) -> Res<&'n [Node]> {
        match &node.kind {
            Kind::Seq(items) => Ok(items),
            _ => Err(self.type_err(path, node, "a list")),
        }
    }
}

/// Joins a key path: `a` + `b` = `a.b`; a root path is empty.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `a` + 3 = `a[3]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A mapping node with its key path.
#[derive(Clone, Copy)]
pub(crate) struct Obj<'n> {
    pub path: &'n str,
    pub node: &'n Node,
    entries: &'n [(Key, Node)],
}

impl<'n> Obj<'n> {
    /// `node` must be a mapping, else a type error naming `what` ("an endpoint").
    pub fn new(ctx: &Ctx<'_>, path: &'n str, node: &'n Node, what: &str) -> Res<Self> {
        match &node.kind {
            Kind::Map(entries) => Ok(Obj {
                path,
                node,
                entries,
            }),
            _ => Err(ctx.type_err(path, node, what)),
        }
    }

    pub fn path_of(&self, key: &str) -> String {
        join(self.path, key)
    }

    /// Rejects keys not in `allowed`, pointing at the first unknown key.
    pub fn check_keys(&self, ctx: &Ctx<'_>, allowed: &[&str]) -> Res<()> {
        match self
            .entries
            .iter()
            .find(|(k, _)| !allowed.contains(&k.name.as_str()))
        {
            Some((k, _)) => Err(ctx.err(
                &self.path_of(&k.name),
                k.pos,
                suggest::unknown_key_message(&k.name, allowed),
            )),
            None => Ok(()),
        }
    }

    /// The entry for `key`, null values included.
    pub fn entry(&self, key: &str) -> Option<(&'n Key, &'n Node)> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, v)| (k, v))
    }

    pub fn has(&self, key: &str) -> bool {
        self.entry(key).is_some()
    }

    /// The value for `key`, treating an explicit null like an absent key.
    pub fn opt(&self, key: &str) -> Option<&'n Node> {
        self.entry(key).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    /// The value for `key`; absent or null is pydantic's "Field required".
    pub fn req(&self, ctx: &Ctx<'_>, key: &str) -> Res<&'n Node> {
        match self.entry(key) {
            Some((_, v)) if !v.is_null() => Ok(v),
            Some((k, _)) => Err(ctx.err(
                &self.path_of(key),
                k.pos,
                "Field required (the value is null)",
            )),
            None => {
                // A present key that looks like a typo of the missing one is worth naming.
                let typo = self
                    .entries
                    .iter()
                    .find(|(k, _)| k.name != key && suggest::closest(&k.name, &[key]).is_some());
                Err(match typo {
                    Some((k, _)) => ctx.err(
                        &self.path_of(key),
                        k.pos,
                        format!("Field required (found '{}': did you mean '{key}'?)", k.name),
                    ),
                    None => ctx.err(&self.path_of(key), self.node.pos, "Field required"),
                })
            }
        }
    }

    pub fn str_req(&self, ctx: &Ctx<'_>, key: &str) -> Res<&'n str> {
        let node = self.req(ctx, key)?;
        ctx.string(&self.path_of(key), node)
    }

    pub fn str_opt(&self, ctx: &Ctx<'_>, key: &str) -> Res<Option<&'n str>> {
        match self.opt(key) {
            Some(node) => ctx.string(&self.path_of(key), node).map(Some),
            None => Ok(None),
        }
    }

    /// Optional string where an empty string also means "use the default".
    pub fn str_nonempty(&self, ctx: &Ctx<'_>, key: &str) -> Res<Option<&'n str>> {
        Ok(self.str_opt(ctx, key)?.filter(|s| !s.is_empty()))
    }

    /// A secret field resolved by MLflow's `$ENV` / file / literal rules.
    pub fn secret_req(&self, ctx: &Ctx<'_>, key: &str) -> Res<Secret> {
        let node = self.req(ctx, key)?;
        self.resolve_secret(ctx, key, node)
    }

    /// An optional secret field: absent or null is `None`.
    pub fn secret_opt(&self, ctx: &Ctx<'_>, key: &str) -> Res<Option<Secret>> {
        match self.opt(key) {
            Some(node) => self.resolve_secret(ctx, key, node).map(Some),
            None => Ok(None),
        }
    }

    fn resolve_secret(&self, ctx: &Ctx<'_>, key: &str, node: &Node) -> Res<Secret> {
        let path = self.path_of(key);
        let text = node
            .as_str()
            .ok_or_else(|| ctx.err(&path, node.pos, secret::NOT_A_STRING))?;
        secret::resolve(text, ctx.env).map_err(|m| ctx.err(&path, node.pos, m))
    }

    /// A credential MLflow passes through literally (AWS, Databricks, Vertex fields).
    pub fn literal_secret_opt(&self, ctx: &Ctx<'_>, key: &str) -> Res<Option<Secret>> {
        Ok(self.str_opt(ctx, key)?.map(Secret::new))
    }

    /// An integer (pydantic-style: integral floats are accepted).
    pub fn int_opt(&self, ctx: &Ctx<'_>, key: &str) -> Res<Option<(i128, Pos)>> {
        match self.opt(key) {
            Some(node) => integer(ctx, &self.path_of(key), node).map(|i| Some((i, node.pos))),
            None => Ok(None),
        }
    }

    /// A finite number.
    pub fn number_opt(&self, ctx: &Ctx<'_>, key: &str) -> Res<Option<(f64, Pos)>> {
        match self.opt(key) {
            Some(node) => match node.kind {
                // Config numbers are small; the precision loss of huge integers is irrelevant.
                #[allow(clippy::cast_precision_loss)]
                Kind::Int(i) => Ok(Some((i as f64, node.pos))),
                Kind::Float(f) if f.is_finite() => Ok(Some((f, node.pos))),
                _ => Err(ctx.type_err(&self.path_of(key), node, "a number")),
            },
            None => Ok(None),
        }
    }

    /// Position of `key` (its value when present, else the mapping).
    pub fn pos_of(&self, key: &str) -> Pos {
        self.entry(key).map(|(_, v)| v.pos).unwrap_or(self.node.pos)
    }

    /// Position of the key token itself.
    pub fn key_pos(&self, key: &str) -> Pos {
        self.entry(key).map(|(k, _)| k.pos).unwrap_or(self.node.pos)
    }
}

/// An integer value; integral floats (`50.0`) are accepted like pydantic's lax mode.
pub(crate) fn integer(ctx: &Ctx<'_>, path: &str, node: &Node) -> Res<i128> {
    match node.kind {
        Kind::Int(i) => Ok(i),
        #[allow(clippy::cast_possible_truncation)]
        Kind::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e18 => Ok(f as i128),
        _ => Err(ctx.type_err(path, node, "an integer")),
    }
}
