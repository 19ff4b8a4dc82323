//! Located diagnostics: [`ConfigError`] (the load fails) and [`ConfigWarning`] (the load
//! succeeds, but something in the file is accepted only for MLflow compatibility).
//!
//! Both print like a compiler diagnostic, `file:line:column: key.path: message`, leaving out
//! the parts that are unknown, so an operator can jump straight to the offending key.

use std::fmt;
use std::path::PathBuf;

use crate::config::node::Pos;

/// Why a configuration file could not be loaded, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(file, key_path, *line, *column, message))]
pub struct ConfigError {
    /// The configuration file, as given to [`crate::config::load`].
    pub file: PathBuf,
    /// Dotted key path with list indices, e.g. `endpoints[1].model.config.openai_api_key`;
    /// empty when the error concerns the whole file.
    pub key_path: String,
    /// 1-based line of the offending key or value.
    pub line: Option<usize>,
    /// 1-based column of the offending key or value.
    pub column: Option<usize>,
    /// The message; MLflow's own text wherever MLflow has one.
    pub message: String,
}

/// Something accepted but worth telling the operator (ignored keys, deprecated providers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The configuration file.
    pub file: PathBuf,
    /// Dotted key path with list indices.
    pub key_path: String,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
    /// The message.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(
            &self.file,
            &self.key_path,
            self.line,
            self.column,
            &self.message,
        ))
    }
}

impl ConfigError {
    pub(crate) fn at(
        file: &std::path::Path,
        key_path: &str,
        pos: Pos,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            key_path: key_path.to_owned(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }
}

impl ConfigWarning {
    pub(crate) fn at(
        file: &std::path::Path,
        key_path: &str,
        pos: Pos,
        message: impl Into<String>,
    ) -> Self {
        ConfigWarning {
            file: file.to_path_buf(),
            key_path: key_path.to_owned(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }
}

fn render(
    file: &std::path::Path,
    key_path: &str,
    line: Option<usize>,
    column: Option<usize>,
    message: &str,
) -> String {
    let mut out = file.display().to_string();
    if let Some(line) = line {
        out.push_str(&format!(":{line}"));
        if let Some(column) = column {
            out.push_str(&format!(":{column}"));
        }
    }
    out.push_str(": ");
    if !key_path.is_empty() {
        out.push_str(key_path);
        out.push_str(": ");
    }
    out.push_str(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn display_omits_unknown_parts() {
        let pos = Pos {
            line: Some(7),
            column: Some(9),
        };
        let e = ConfigError::at(Path::new("config.yaml"), "endpoints[1].model", pos, "boom");
        assert_eq!(e.to_string(), "config.yaml:7:9: endpoints[1].model: boom");
        let e = ConfigError::at(Path::new("c.yaml"), "", Pos::default(), "boom");
        assert_eq!(e.to_string(), "c.yaml: boom");
        let e = ConfigError::at(
            Path::new("c.yaml"),
            "x",
            Pos {
                line: Some(3),
                column: None,
            },
            "m",
        );
        assert_eq!(e.to_string(), "c.yaml:3: x: m");
        let w = ConfigWarning::at(Path::new("c.yaml"), "limit.key", pos, "ignored");
        assert_eq!(w.to_string(), "c.yaml:7:9: limit.key: ignored");
    }
}
