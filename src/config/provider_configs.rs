//! Each provider's `model.config` keys: MLflow 3.18's `*Config` classes, strict about
//! unknown keys, plus our documented extensions.
//!
//! Extensions (MLflow hard-codes these hosts; we let every provider be pointed elsewhere):
//! `cohere_api_base`, `palm_api_base`, `ai21labs_api_base`, `mistral_api_base`,
//! `togetherai_api_base`, `vertex_api_base`, and `bedrock_api_base` (next to `aws_config`).
//! Provider `mock` is ours: an offline provider with no network access.
//!
//! Secret fields (`*_api_key`, OpenAI-compatible `api_key`, Portkey `provider_api_key`) go
//! through MLflow's `$ENV` / file / literal resolution. Bedrock, Databricks and Vertex AI
//! (credential-chain providers) live in `cloud_configs`.

use crate::config::reader::{Ctx, Obj, Res};
use crate::config::types::{
    AnthropicConfig, ApiKeyConfig, GeminiConfig, HfTgiConfig, MlflowServingConfig, MockConfig,
    MosaicMlConfig, OpenAiApiType, OpenAiCompatibleConfig, OpenAiConfig, ProviderKind,
};

pub(crate) fn openai(ctx: &Ctx<'_>, cfg: &Obj<'_>) -> Res<OpenAiConfig> {
    cfg.check_keys(
        ctx,
        &[
            "openai_api_key",
            "openai_api_type",
            "openai_api_base",
            "openai_api_version",
            "openai_deployment_name",
            "openai_organization",
        ],
    )?;
    // MLflow's `_validate_field_compatibility` runs on the raw dict before anything else.
    let type_raw = cfg
        .str_opt(ctx, "openai_api_type")?
        .filter(|s| !s.is_empty())
        .unwrap_or("openai");
    let api_type_lower = type_raw.to_lowercase();
    let type_path = cfg.path_of("openai_api_type");
    let type_pos = cfg.pos_of("openai_api_type");
    let api_type = match api_type_lower.as_str() {
        "openai" => OpenAiApiType::OpenAi,
        "azure" => OpenAiApiType::Azure,
        "azuread" => OpenAiApiType::AzureAd,
        other => {
            return Err(ctx.err(
                &type_path,
                type_pos,
                format!("Invalid OpenAI API type '{other}'"),
            ));
        }
    };
    if api_type == OpenAiApiType::OpenAi {
        if cfg.opt("openai_deployment_name").is_some() {
            return Err(ctx.err(
                &cfg.path_of("openai_deployment_name"),
                cfg.key_pos("openai_deployment_name"),
                format!(
                    "OpenAI route configuration can only specify a value for 'openai_deployment_name' if 'openai_api_type' is 'OpenAIAPIType.AZURE' or 'OpenAIAPIType.AZUREAD'. Found type: '{api_type_lower}'"
                ),
            ));
        }
    } else {
        if cfg.opt("openai_organization").is_some() {
            return Err(ctx.err(
                &cfg.path_of("openai_organization"),
                cfg.key_pos("openai_organization"),
                "OpenAI route configuration can only specify a value for 'openai_organization' if 'openai_api_type' is 'OpenAIAPIType.OPENAI'",
            ));
        }
        let missing = [
            "openai_api_base",
            "openai_deployment_name",
            "openai_api_version",
        ]
        .into_iter()
        .find(|k| cfg.opt(k).is_none());
        if let Some(missing) = missing {
            return Err(ctx.err(
                &cfg.path_of(missing),
                type_pos,
                "OpenAI route configuration must specify 'openai_api_base', 'openai_deployment_name', and 'openai_api_version' if 'openai_api_type' is 'OpenAIAPIType.AZURE' or 'OpenAIAPIType.AZUREAD'.",
            ));
        }
    }
    let api_key = cfg.secret_req(ctx, "openai_api_key")?;
    let api_base = match cfg.str_nonempty(ctx, "openai_api_base")? {
        Some(b) => b.to_owned(),
        None if api_type == OpenAiApiType::OpenAi => "https://api.openai.com/v1".to_owned(),
        None => {
            return Err(ctx.err(
                &cfg.path_of("openai_api_base"),
                cfg.pos_of("openai_api_base"),
                "must not be empty",
            ));
        }
    };
    Ok(OpenAiConfig {
        api_type,
        api_key,
        api_base,
        api_version: cfg.str_opt(ctx, "openai_api_version")?.map(str::to_owned),
        deployment_name: cfg
            .str_opt(ctx, "openai_deployment_name")?
            .map(str::to_owned),
        organization: cfg.str_opt(ctx, "openai_organization")?.map(str::to_owned),
    })
}

pub(crate) fn anthropic(ctx: &Ctx<'_>, cfg: &Obj<'_>) -> Res<AnthropicConfig> {
    cfg.check_keys(
        ctx,
        &[
            "anthropic_api_key",
            "anthropic_version",
            "anthropic_api_base",
        ],
    )?;
    Ok(AnthropicConfig {
        api_key: cfg.secret_req(ctx, "anthropic_api_key")?,
        version: cfg
            .str_nonempty(ctx, "anthropic_version")?
            .unwrap_or("2023-06-01")
            .to_owned(),
        api_base: cfg
            .str_nonempty(ctx, "anthropic_api_base")?
            .unwrap_or("https://api.anthropic.com/v1")
            .to_owned(),
    })
}

pub(crate) const GEMINI_BASE_ERROR: &str = "gemini_api_base ending in /models must include a supported API version (/v1, /v1beta, or /v1alpha) immediately before /models.";

pub(crate) fn gemini(ctx: &Ctx<'_>, cfg: &Obj<'_>) -> Res<GeminiConfig> {
    cfg.check_keys(ctx, &["gemini_api_key", "gemini_api_base"])?;
    let api_key = cfg.secret_req(ctx, "gemini_api_key")?;
    let raw = cfg
        .str_nonempty(ctx, "gemini_api_base")?
        .unwrap_or("https://generativelanguage.googleapis.com/v1beta/models");
    let api_base = normalise_gemini_base(raw).ok_or_else(|| {
        ctx.err(
            &cfg.path_of("gemini_api_base"),
            cfg.pos_of("gemini_api_base"),
            GEMINI_BASE_ERROR,
        )
    })?;
    Ok(GeminiConfig { api_key, api_base })
}

/// MLflow 3.18: the config validator rejects a `/models` path without a supported version;
/// the provider then accepts an origin (`+ /v1beta/models`), a versioned root (`+ /models`)
/// or a models base. Query and fragment are kept.
pub(crate) fn normalise_gemini_base(url: &str) -> Option<String> {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = url[after_scheme..]
        .find(['/', '?', '#'])
        .map(|i| i + after_scheme)
        .unwrap_or(url.len());
    let path_end = url[path_start..]
        .find(['?', '#'])
        .map(|i| i + path_start)
        .unwrap_or(url.len());
    let (head, path, tail) = (
        &url[..path_start],
        &url[path_start..path_end],
        &url[path_end..],
    );
    let mut path = path.trim_end_matches('/').to_owned();
    let versions = ["/v1", "/v1beta", "/v1alpha"];
    let models_ok = versions
        .iter()
        .any(|v| path.ends_with(&format!("{v}/models")));
    if path.ends_with("/models") && !models_ok {
        return None;
    }
    if !models_ok {
        path.push_str(if versions.iter().any(|v| path.ends_with(v)) {
            "/models"
        } else {
            "/v1beta/models"
        });
    }
    Some(format!("{head}{path}{tail}"))
}

pub(crate) fn mlflow_serving(ctx: &Ctx<'_>, cfg: &Obj<'_>) -> Res<MlflowServingConfig> {
    cfg.check_keys(ctx, &["model_server_url"])?;
    Ok(MlflowServingConfig {
        model_server_url: cfg.str_req(ctx, "model_server_url")?.to_owned(),
    })
}

pub(crate) fn hf_tgi(ctx: &Ctx<'_>, cfg: &Obj<'_>) -> Res<HfTgiConfig> {
    cfg.check_keys(ctx, &["hf_server_url"])?;
    Ok(HfTgiConfig {
        hf_server_url: cfg.str_req(ctx, "hf_server_url")?.to_owned(),
    })
}

/// cohere / palm / ai21labs / mistral / togetherai: `{p}_api_key` plus our `{p}_api_base`.
pub(crate) fn api_key_only(ctx: &Ctx<'_>, cfg: &Obj<'_>, prefix: &str) -> Res<ApiKeyConfig> {
    let key = format!("{prefix}_api_key");
    let base = format!("{prefix}_api_base");
    cfg.check_keys(ctx, &[key.as_str(), base.as_str()])?;
    Ok(ApiKeyConfig {
        api_key: cfg.secret_req(ctx, &key)?,
        api_base: cfg.str_nonempty(ctx, &base)?.map(str::to_owned),
    })
}

pub(crate) fn mosaicml(ctx: &Ctx<'_>, cfg: &Obj<'_>) -> Res<MosaicMlConfig> {
    cfg.check_keys(ctx, &["mosaicml_api_key", "mosaicml_api_base"])?;
    Ok(MosaicMlConfig {
        api_key: cfg.secret_req(ctx, "mosaicml_api_key")?,
        api_base: cfg
            .str_nonempty(ctx, "mosaicml_api_base")?
            .unwrap_or("https://models.hosted-on.mosaicml.hosting")
            .to_owned(),
    })
}

/// Default bases of the OpenAI-compatible family.
fn compatible_default_base(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Groq => "https://api.groq.com/openai/v1",
        ProviderKind::DeepSeek => "https://api.deepseek.com/v1",
        ProviderKind::Xai => "https://api.x.ai/v1",
        ProviderKind::OpenRouter => "https://openrouter.ai/api/v1",
        ProviderKind::Ollama => "http://localhost:11434/v1",
        _ => "https://api.portkey.ai/v1",
    }
}

/// groq / deepseek / xai / openrouter / ollama / portkey.
pub(crate) fn openai_compatible(
    ctx: &Ctx<'_>,
    cfg: &Obj<'_>,
    kind: ProviderKind,
) -> Res<OpenAiCompatibleConfig> {
    let portkey = kind == ProviderKind::Portkey;
    if portkey {
        cfg.check_keys(
            ctx,
            &[
                "api_key",
                "api_base",
                "portkey_provider",
                "portkey_config",
                "provider_api_key",
            ],
        )?;
    } else {
        cfg.check_keys(ctx, &["api_key", "api_base"])?;
    }
    let api_key = if kind == ProviderKind::Ollama {
        // Ollama's default key `ollama` (and an empty key) mean "send no auth header".
        cfg.secret_opt(ctx, "api_key")?
            .filter(|k| !k.expose().is_empty() && k.expose() != "ollama")
    } else {
        Some(cfg.secret_req(ctx, "api_key")?)
    };
    let api_base = cfg
        .str_nonempty(ctx, "api_base")?
        .unwrap_or(compatible_default_base(kind))
        .to_owned();
    let (portkey_provider, portkey_config, provider_api_key) = if portkey {
        (
            cfg.str_opt(ctx, "portkey_provider")?.map(str::to_owned),
            cfg.str_opt(ctx, "portkey_config")?.map(str::to_owned),
            cfg.secret_opt(ctx, "provider_api_key")?,
        )
    } else {
        (None, None, None)
    };
    Ok(OpenAiCompatibleConfig {
        api_key,
        api_base,
        portkey_provider,
        portkey_config,
        provider_api_key,
        databricks_oauth: None,
    })
}

pub(crate) fn mock(ctx: &Ctx<'_>, cfg: &Obj<'_>) -> Res<MockConfig> {
    cfg.check_keys(
        ctx,
        &[
            "response",
            "delay_ms",
            "embedding_dimensions",
            "chunk_words",
        ],
    )?;
    let bounded = |key: &str, min: i128, max: i128| -> Res<Option<i128>> {
        match cfg.int_opt(ctx, key)? {
            None => Ok(None),
            Some((v, _)) if (min..=max).contains(&v) => Ok(Some(v)),
            Some((v, pos)) => Err(ctx.err(
                &cfg.path_of(key),
                pos,
                format!("must be between {min} and {max}, got {v}"),
            )),
        }
    };
    let defaults = MockConfig::default();
    let to_u32 = |v: i128| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(MockConfig {
        response: cfg.str_opt(ctx, "response")?.map(str::to_owned),
        delay_ms: bounded("delay_ms", 0, 3_600_000)?
            .map_or(defaults.delay_ms, |v| u64::try_from(v).unwrap_or(0)),
        embedding_dimensions: bounded("embedding_dimensions", 1, 8192)?
            .map_or(defaults.embedding_dimensions, to_u32),
        chunk_words: bounded("chunk_words", 1, 1_000_000)?.map_or(defaults.chunk_words, to_u32),
    })
}
