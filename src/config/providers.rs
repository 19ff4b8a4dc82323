//! `model:` sections: provider-name normalisation (MLflow's `Provider` enum), the
//! `MLFLOW_GATEWAY_ALLOWED_PROVIDERS` policy, deprecation warnings and the config dispatch.
//!
//! The per-provider key sets live in `provider_configs`.

use crate::config::node::Node;
use crate::config::reader::{Ctx, Obj, Res};
use crate::config::types::{MockConfig, Model, ProviderConfig, ProviderKind};

/// MLflow's `Provider` enum: (member name, canonical value, our implementation), plus `MOCK`.
const PROVIDERS: &[(&str, &str, ProviderKind)] = &[
    ("OPENAI", "openai", ProviderKind::OpenAi),
    ("AZURE", "azure", ProviderKind::Azure),
    ("ANTHROPIC", "anthropic", ProviderKind::Anthropic),
    ("GEMINI", "gemini", ProviderKind::Gemini),
    ("BEDROCK", "bedrock", ProviderKind::Bedrock),
    ("AMAZON_BEDROCK", "amazon-bedrock", ProviderKind::Bedrock),
    (
        "MLFLOW_MODEL_SERVING",
        "mlflow-model-serving",
        ProviderKind::MlflowModelServing,
    ),
    (
        "HUGGINGFACE_TEXT_GENERATION_INFERENCE",
        "huggingface-text-generation-inference",
        ProviderKind::HuggingFaceTgi,
    ),
    ("COHERE", "cohere", ProviderKind::Cohere),
    ("PALM", "palm", ProviderKind::Palm),
    ("MOSAICML", "mosaicml", ProviderKind::MosaicMl),
    ("AI21LABS", "ai21labs", ProviderKind::Ai21Labs),
    ("MISTRAL", "mistral", ProviderKind::Mistral),
    ("TOGETHERAI", "togetherai", ProviderKind::TogetherAi),
    ("GROQ", "groq", ProviderKind::Groq),
    ("DEEPSEEK", "deepseek", ProviderKind::DeepSeek),
    ("XAI", "xai", ProviderKind::Xai),
    ("OPENROUTER", "openrouter", ProviderKind::OpenRouter),
    ("OLLAMA", "ollama", ProviderKind::Ollama),
    ("PORTKEY", "portkey", ProviderKind::Portkey),
    ("DATABRICKS", "databricks", ProviderKind::Databricks),
    (
        "DATABRICKS_MODEL_SERVING",
        "databricks-model-serving",
        ProviderKind::Databricks,
    ),
    ("VERTEX_AI", "vertex_ai", ProviderKind::VertexAi),
    ("MOCK", "mock", ProviderKind::Mock),
];

/// MLflow providers we cannot offer, with the reason appended to MLflow's message.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "LITELLM",
        "MLflow's litellm provider wraps a Python library and has no llm-gateway equivalent",
    ),
    (
        "SAP_AI_CORE",
        "MLflow's sap-ai-core provider is judge-only and not usable from the YAML gateway",
    ),
    (
        "TYPESAFE",
        "MLflow's typesafe provider is passthrough-only (every legacy route answers 501)",
    ),
];

/// MLflow's normalisation: `value.replace("-", "_").upper()` must be a `Provider` member name.
/// Returns (kind, canonical value, member name).
pub(crate) fn normalise(value: &str) -> Option<(ProviderKind, &'static str, &'static str)> {
    let member = value.replace('-', "_").to_uppercase();
    PROVIDERS
        .iter()
        .find(|(m, _, _)| *m == member)
        .map(|(m, v, k)| (*k, *v, *m))
}

/// `MLFLOW_GATEWAY_ALLOWED_PROVIDERS` (comma list; `amazon-bedrock` counts as `bedrock`,
/// `databricks-model-serving` as `databricks`). Unset or empty allows every provider.
fn is_allowed(ctx: &Ctx<'_>, canonical: &str) -> bool {
    fn alias(name: &str) -> &str {
        match name {
            "amazon-bedrock" => "bedrock",
            "databricks-model-serving" => "databricks",
            other => other,
        }
    }
    let Some(raw) = (ctx.env)("MLFLOW_GATEWAY_ALLOWED_PROVIDERS") else {
        return true;
    };
    let allowed: Vec<String> = raw
        .split(',')
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .map(|p| alias(&p).to_owned())
        .collect();
    allowed.is_empty() || allowed.iter().any(|a| a == alias(canonical))
}

const MODEL_KEYS: &[&str] = &["provider", "name", "config"];

/// Parses an endpoint's `model` mapping.
pub(crate) fn parse_model(ctx: &mut Ctx<'_>, path: &str, node: &Node) -> Res<Model> {
    let obj = Obj::new(
        ctx,
        path,
        node,
        "a mapping with 'provider', 'name' and 'config'",
    )?;
    obj.check_keys(ctx, MODEL_KEYS)?;
    let provider_path = obj.path_of("provider");
    let raw_provider = obj.str_req(ctx, "provider")?;
    let provider_pos = obj.pos_of("provider");
    let Some((kind, canonical, member)) = normalise(raw_provider) else {
        let member = raw_provider.replace('-', "_").to_uppercase();
        let mut message = format!("The provider '{raw_provider}' is not supported.");
        if let Some((_, why)) = UNSUPPORTED.iter().find(|(m, _)| *m == member) {
            message.push_str(&format!(" ({why}.)"));
        }
        return Err(ctx.err(&provider_path, provider_pos, message));
    };
    if !is_allowed(ctx, canonical) {
        return Err(ctx.err(
            &provider_path,
            provider_pos,
            format!(
                "Provider '{canonical}' is not allowed by the current gateway provider policy."
            ),
        ));
    }
    if matches!(
        kind,
        ProviderKind::Cohere | ProviderKind::Palm | ProviderKind::MosaicMl
    ) {
        ctx.warn(
            &provider_path,
            provider_pos,
            format!("the '{canonical}' provider is deprecated in MLflow and may be removed"),
        );
    }
    let name = obj.str_opt(ctx, "name")?.map(str::to_owned);
    let config_path = obj.path_of("config");
    let config = match obj.opt("config") {
        None if kind == ProviderKind::Mock => ProviderConfig::Mock(MockConfig::default()),
        None => {
            let pos = obj
                .entry("config")
                .map(|(k, _)| k.pos)
                .unwrap_or(obj.node.pos);
            return Err(ctx.err(
                &config_path,
                pos,
                format!(
                    "A config must be supplied when setting a provider. The provider entry for Provider.{member} is incorrect."
                ),
            ));
        }
        Some(config_node) => {
            let cfg = Obj::new(ctx, &config_path, config_node, "a mapping")?;
            parse_config(ctx, kind, name.as_deref(), &cfg)?
        }
    };
    Ok(Model {
        provider: kind,
        provider_name: canonical,
        name,
        config,
    })
}

/// Builds the provider-specific config from its `config` mapping.
fn parse_config(
    ctx: &mut Ctx<'_>,
    kind: ProviderKind,
    model_name: Option<&str>,
    cfg: &Obj<'_>,
) -> Res<ProviderConfig> {
    use crate::config::cloud_configs as cc;
    use crate::config::provider_configs as pc;
    Ok(match kind {
        ProviderKind::OpenAi | ProviderKind::Azure => ProviderConfig::OpenAi(pc::openai(ctx, cfg)?),
        ProviderKind::Anthropic => ProviderConfig::Anthropic(pc::anthropic(ctx, cfg)?),
        ProviderKind::Gemini => ProviderConfig::Gemini(pc::gemini(ctx, cfg)?),
        ProviderKind::Bedrock => ProviderConfig::Bedrock(cc::bedrock(ctx, cfg)?),
        ProviderKind::MlflowModelServing => {
            ProviderConfig::MlflowModelServing(pc::mlflow_serving(ctx, cfg)?)
        }
        ProviderKind::HuggingFaceTgi => ProviderConfig::HuggingFaceTgi(pc::hf_tgi(ctx, cfg)?),
        ProviderKind::Cohere => ProviderConfig::Cohere(pc::api_key_only(ctx, cfg, "cohere")?),
        ProviderKind::Palm => ProviderConfig::Palm(pc::api_key_only(ctx, cfg, "palm")?),
        ProviderKind::MosaicMl => ProviderConfig::MosaicMl(pc::mosaicml(ctx, cfg)?),
        ProviderKind::Ai21Labs => ProviderConfig::Ai21Labs(pc::api_key_only(ctx, cfg, "ai21labs")?),
        ProviderKind::Mistral => ProviderConfig::Mistral(pc::api_key_only(ctx, cfg, "mistral")?),
        ProviderKind::TogetherAi => {
            ProviderConfig::TogetherAi(pc::api_key_only(ctx, cfg, "togetherai")?)
        }
        ProviderKind::Groq
        | ProviderKind::DeepSeek
        | ProviderKind::Xai
        | ProviderKind::OpenRouter
        | ProviderKind::Ollama
        | ProviderKind::Portkey => {
            ProviderConfig::OpenAiCompatible(pc::openai_compatible(ctx, cfg, kind)?)
        }
        ProviderKind::Databricks => {
            ProviderConfig::OpenAiCompatible(cc::databricks(ctx, cfg, model_name)?)
        }
        ProviderKind::VertexAi => ProviderConfig::VertexAi(cc::vertex(ctx, cfg, model_name)?),
        ProviderKind::Mock => ProviderConfig::Mock(pc::mock(ctx, cfg)?),
    })
}
