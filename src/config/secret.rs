//! [`Secret`]: an API key or token that never shows up in Debug output, logs or responses,
//! and the MLflow rules (`_resolve_api_key_from_input`) for turning a config value into one.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A credential. `Debug` and `Display` print `[redacted]`; there is deliberately no
/// `Serialize` impl, so a secret cannot leak through a JSON or YAML dump of the config.
/// Cloning is cheap (shared `Arc<str>`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a credential value.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Secret(value.into())
    }

    /// The credential itself, for building an upstream request header. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// MLflow's message for a secret field holding a number, list, mapping, boolean or null.
pub(crate) const NOT_A_STRING: &str = "The api key provided is not a string. Please provide either an environment variable key, a path to a file containing the api key, or the api key itself";

/// Resolves a secret field exactly as MLflow's legacy YAML server does (both
/// `MLFLOW_GATEWAY_RESOLVE_API_KEY_FROM_ENV` and `..._FROM_FILE` forced on):
///
/// 1. `$NAME` (the whole value; no `${}` and no interpolation inside longer strings) is the
///    environment variable `NAME`; unset *or empty* is an error.
/// 2. Otherwise, if the value names an existing regular file, the secret is the file's
///    **entire content, not stripped** (a trailing newline is kept, as in MLflow). A relative
///    path is resolved against the gateway's current working directory, as in MLflow (not
///    against the config file's directory).
/// 3. Otherwise the value itself is the secret (a path that does not exist is used literally).
///
/// Divergence: MLflow silently falls back to the literal path when an existing file cannot be
/// read; we report the read error instead.
pub(crate) fn resolve(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Secret, String> {
    if let Some(name) = value.strip_prefix('$') {
        return match env(name) {
            Some(v) if !v.is_empty() => Ok(Secret::new(v)),
            _ => Err(format!("Environment variable '{name}' is not set")),
        };
    }
    let path = Path::new(value);
    // `is_file` follows symlinks and treats any metadata error (e.g. a name too long for the
    // OS) as "not a file", which is exactly MLflow's `OSError` fallback to a literal.
    if !value.is_empty() && path.is_file() {
        return std::fs::read_to_string(path)
            .map(Secret::new)
            .map_err(|e| format!("could not read the secret file '{value}': {e}"));
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::io::Write;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("from-env".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("sk-very-secret");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.expose(), "sk-very-secret");
    }

    #[test]
    fn env_var_resolution() {
        assert_eq!(resolve("$KEY", &env).unwrap().expose(), "from-env");
        assert_eq!(
            resolve("$NOPE", &env).unwrap_err(),
            "Environment variable 'NOPE' is not set"
        );
        assert_eq!(
            resolve("$EMPTY", &env).unwrap_err(),
            "Environment variable 'EMPTY' is not set"
        );
    }

    #[test]
    fn file_content_is_not_stripped() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"  file-key\n").unwrap();
        let path = f.path().to_str().unwrap().to_owned();
        assert_eq!(resolve(&path, &env).unwrap().expose(), "  file-key\n");
    }

    #[test]
    fn literal_and_missing_path_are_literal() {
        assert_eq!(resolve("sk-literal", &env).unwrap().expose(), "sk-literal");
        assert_eq!(
            resolve("/no/such/file", &env).unwrap().expose(),
            "/no/such/file"
        );
        let long = "x".repeat(5000);
        assert_eq!(resolve(&long, &env).unwrap().expose(), long);
    }

    #[test]
    fn a_directory_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_owned();
        assert_eq!(resolve(&path, &env).unwrap().expose(), path);
    }
}
