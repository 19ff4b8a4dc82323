//! Loader tests: MLflow's messages verbatim, locations, secrets, providers, extensions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_keys;
mod locations;
mod mlflow_rules;
mod providers;
mod resilience;
mod secrets;

use std::path::Path;

use crate::config::{ConfigError, Loaded, load_str};

/// The environment every test sees unless it builds its own.
pub(super) fn test_env(name: &str) -> Option<String> {
    match name {
        "OPENAI_API_KEY" => Some("sk-openai-test".to_owned()),
        "AZURE_KEY" => Some("az-key-test".to_owned()),
        _ => None,
    }
}

pub(super) fn load_env(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    load_str(Path::new("config.yaml"), text, env)
}

pub(super) fn ok(text: &str) -> Loaded {
    match load_env(text, &test_env) {
        Ok(l) => l,
        Err(e) => panic!("expected the config to load, got: {e}"),
    }
}

pub(super) fn err(text: &str) -> ConfigError {
    match load_env(text, &test_env) {
        Ok(l) => panic!("expected an error, got {:?}", l.config),
        Err(e) => e,
    }
}

/// One chat endpoint `e` with the given `model:` flow mapping.
pub(super) fn with_model(model: &str) -> String {
    format!("endpoints:\n  - name: e\n    endpoint_type: llm/v1/chat\n    model: {model}\n")
}

pub(super) fn assert_err(e: &ConfigError, key_path: &str, line: usize, message: &str) {
    assert_eq!(
        (e.key_path.as_str(), e.line, e.message.as_str()),
        (key_path, Some(line), message),
        "full error: {e}"
    );
    assert_eq!(e.file, Path::new("config.yaml"));
}
