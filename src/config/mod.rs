//! The configuration loader: an MLflow gateway YAML file in, a validated [`GatewayConfig`]
//! out (or one located [`ConfigError`]).
//!
//! Two stages. serde-saphyr parses the file into a located tree (`node`: every key and
//! value keeps its line and column); the MLflow pipeline (`validate`) then walks that tree
//! in MLflow's own order and with MLflow's own error texts (spec §1), building the runtime
//! types of `types`. Because the walk knows where it is, every error names the file, the
//! key path (`endpoints[2].model.config.openai_api_key`) and the line/column of the key or
//! value at fault:
//!
//! ```text
//! config.yaml:7:9: endpoints[1].model.config.openai_api_typo: unknown key 'openai_api_typo', did you mean 'openai_api_type'?
//! ```
//!
//! Where we are deliberately stricter than MLflow (see docs/compatibility.md): unknown keys
//! anywhere are errors with a "did you mean" suggestion (MLflow ignores them, hiding typos);
//! duplicate mapping keys are errors (PyYAML keeps the last); an empty file gets a clear
//! message; a secret file that exists but cannot be read is an error. Keys MLflow accepts
//! and ignores (`limit.key`) and deprecated providers (cohere, palm, mosaicml) load with a
//! [`ConfigWarning`].
//!
//! Our extensions, all optional: `timeouts: {total_seconds, connect_seconds,
//! stream_idle_seconds}` on an endpoint (positive seconds; absent = gateway default);
//! `retries:` and `circuit_breaker:` on an endpoint, `routing_strategy: FALLBACK` and
//! `fallback:` on a route (module `resilience`); base-URL overrides for providers MLflow
//! hard-codes (`cohere_api_base`, `palm_api_base`, `ai21labs_api_base`, `mistral_api_base`,
//! `togetherai_api_base`, `vertex_api_base`, `bedrock_api_base`); provider `mock` (offline;
//! keys `response`, `delay_ms`, `embedding_dimensions`, `chunk_words`; `config` may be omitted);
//! gateway API keys, top-level `api_keys:` and `auth:` (module `api_keys`).
//!
//! Secrets (`*_api_key` and friends) are resolved once, here, by MLflow's rules (`$NAME` →
//! environment, an existing file path → its whole content, else literal; relative paths
//! against the process's current directory) into [`Secret`], which never prints its value.

mod api_keys;
mod cloud_configs;
mod error;
mod limit;
pub(crate) mod node;
mod provider_configs;
mod providers;
mod reader;
mod resilience;
mod secret;
mod suggest;
mod types;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use api_keys::{ApiKey, AuthConfig, DEFAULT_EXEMPT_PATHS};
pub use error::{ConfigError, ConfigWarning};
pub use secret::Secret;
pub use types::{
    AnthropicConfig, ApiKeyConfig, AwsAuth, BedrockConfig, CircuitPolicy, Destination, Endpoint,
    EndpointType, ErrorClass, ErrorClasses, FallbackPolicy, GatewayConfig, GeminiConfig,
    Granularity, HfTgiConfig, Limit, MlflowServingConfig, MockConfig, Model, MosaicMlConfig,
    OpenAiApiType, OpenAiCompatibleConfig, OpenAiConfig, ProviderConfig, ProviderKind,
    RenewalPeriod, RetryPolicy, RoutingStrategy, Timeouts, TrafficRoute, VertexAiConfig,
};

/// A successfully loaded configuration and the warnings to log about it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: GatewayConfig,
    /// Accepted-but-noteworthy things, each located.
    pub warnings: Vec<ConfigWarning>,
}

/// Reads and validates the configuration file at `path`, resolving `$ENV` secrets from the
/// process environment.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::at(
            path,
            "",
            node::Pos::default(),
            format!("cannot read the configuration file: {e}"),
        )
    })?;
    load_str(path, &text, &|name| std::env::var(name).ok())
}

/// Validates configuration `text` as if read from `path` (used in diagnostics only), with
/// environment lookups (`$NAME` secrets, `MLFLOW_GATEWAY_ALLOWED_PROVIDERS`,
/// `DATABRICKS_*`) going through `env`.
pub fn load_str(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let root = match node::parse(text) {
        Ok(Some(root)) if !root.is_null() => root,
        Ok(_) => {
            return Err(ConfigError::at(
                path,
                "",
                node::Pos::default(),
                "the configuration file is empty; it must be a mapping with an 'endpoints' list",
            ));
        }
        Err(e) => {
            return Err(ConfigError::at(
                path,
                "",
                node::parse_error_pos(&e),
                format!(
                    "The file at {} is not a valid yaml file: {}",
                    path.display(),
                    node::parse_error_message(&e)
                ),
            ));
        }
    };
    let mut ctx = reader::Ctx {
        file: path,
        env,
        warnings: Vec::new(),
    };
    let config = validate::build(&mut ctx, &root)?;
    Ok(Loaded {
        config,
        warnings: ctx.warnings,
    })
}
