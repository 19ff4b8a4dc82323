//! The validated runtime configuration: what the rest of the gateway codes against.
//!
//! Everything here is already checked and resolved (secrets read, defaults filled in, base
//! URLs normalised); nothing downstream needs to re-validate or touch the environment.

use std::time::Duration;

use crate::config::secret::Secret;

/// The whole gateway configuration, in file order.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `endpoints:` in file order (the order `GET /api/2.0/endpoints/` lists them).
    pub endpoints: Vec<Endpoint>,
    /// `routes:` (MLflow 3.x traffic-split routes); empty when absent or null.
    pub routes: Vec<TrafficRoute>,
    /// Our extension `api_keys:` (with `auth:`); `None` = no authentication, as in MLflow.
    pub auth: Option<crate::config::AuthConfig>,
}

impl GatewayConfig {
    /// The endpoint called `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// The traffic route called `name`.
    pub fn route(&self, name: &str) -> Option<&TrafficRoute> {
        self.routes.iter().find(|r| r.name == name)
    }

    /// Every configured secret (API keys, tokens, AWS and Vertex credentials), so that logs
    /// and error bodies can be scrubbed of them.
    pub fn secrets(&self) -> Vec<Secret> {
        let mut out = Vec::new();
        for e in &self.endpoints {
            e.model.config.collect_secrets(&mut out);
        }
        out
    }
}

/// One `endpoints[]` entry.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Unique name, `[a-zA-Z0-9_\-\.]+`.
    pub name: String,
    /// `endpoint_type`.
    pub endpoint_type: EndpointType,
    /// `model`.
    pub model: Model,
    /// `limit`, if any.
    pub limit: Option<Limit>,
    /// Our extension `timeouts: {total_seconds, connect_seconds, stream_idle_seconds}`;
    /// `None`s mean the gateway defaults.
    pub timeouts: Timeouts,
    /// Our extension `retries:`; `None` = one attempt (as MLflow).
    pub retries: Option<RetryPolicy>,
    /// Our extension `circuit_breaker:`; `None` = never skipped.
    pub circuit_breaker: Option<CircuitPolicy>,
}

/// MLflow's `EndpointType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointType {
    /// `llm/v1/chat`
    Chat,
    /// `llm/v1/completions`
    Completions,
    /// `llm/v1/embeddings`
    Embeddings,
}

impl EndpointType {
    /// The wire value, e.g. `llm/v1/chat`.
    pub fn as_str(&self) -> &'static str {
        match self {
            EndpointType::Chat => "llm/v1/chat",
            EndpointType::Completions => "llm/v1/completions",
            EndpointType::Embeddings => "llm/v1/embeddings",
        }
    }

    /// Parses the exact wire value (case-sensitive, as MLflow).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "llm/v1/chat" => Some(EndpointType::Chat),
            "llm/v1/completions" => Some(EndpointType::Completions),
            "llm/v1/embeddings" => Some(EndpointType::Embeddings),
            _ => None,
        }
    }
}

/// An endpoint's `model` section.
#[derive(Debug, Clone)]
pub struct Model {
    /// Which provider implementation serves the endpoint.
    pub provider: ProviderKind,
    /// MLflow's canonical `Provider` enum value for what the file said (`openai`, `azure`,
    /// `amazon-bedrock`, `bedrock`, `vertex_ai`, `mlflow-model-serving`,
    /// `databricks-model-serving`, ...): what listings and responses show as `provider`.
    pub provider_name: &'static str,
    /// Upstream model id; may be absent/null.
    pub name: Option<String>,
    /// Provider settings, validated and resolved.
    pub config: ProviderConfig,
}

/// The provider implementations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ProviderKind {
    OpenAi,
    Azure,
    Anthropic,
    Gemini,
    Bedrock,
    MlflowModelServing,
    HuggingFaceTgi,
    Cohere,
    Palm,
    MosaicMl,
    Ai21Labs,
    Mistral,
    TogetherAi,
    Groq,
    DeepSeek,
    Xai,
    OpenRouter,
    Ollama,
    Portkey,
    Databricks,
    VertexAi,
    /// Our offline provider (no network), for tests, demos and benchmarks.
    Mock,
}

impl ProviderKind {
    /// MLflow's provider `DISPLAY_NAME` (used in its "not implemented for X models" texts).
    pub fn display_name(&self) -> &'static str {
        match self {
            ProviderKind::OpenAi | ProviderKind::Azure => "OpenAI",
            ProviderKind::Anthropic => "Anthropic",
            ProviderKind::Gemini => "Gemini",
            ProviderKind::Bedrock => "Amazon Bedrock",
            ProviderKind::MlflowModelServing => "MLflow Model Serving",
            ProviderKind::HuggingFaceTgi => "Hugging Face Text Generation Inference",
            ProviderKind::Cohere => "Cohere",
            ProviderKind::Palm => "PaLM",
            ProviderKind::MosaicMl => "MosaicML",
            ProviderKind::Ai21Labs => "AI21Labs",
            ProviderKind::Mistral => "Mistral",
            ProviderKind::TogetherAi => "TogetherAI",
            ProviderKind::Groq => "Groq",
            ProviderKind::DeepSeek => "DeepSeek",
            ProviderKind::Xai => "xAI",
            ProviderKind::OpenRouter => "OpenRouter",
            ProviderKind::Ollama => "Ollama",
            ProviderKind::Portkey => "Portkey",
            ProviderKind::Databricks => "Databricks",
            ProviderKind::VertexAi => "Vertex AI",
            ProviderKind::Mock => "Mock",
        }
    }
}

/// Validated provider settings, one variant per config shape.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub enum ProviderConfig {
    OpenAi(OpenAiConfig),
    /// groq, deepseek, xai, openrouter, ollama, portkey, databricks.
    OpenAiCompatible(OpenAiCompatibleConfig),
    Anthropic(AnthropicConfig),
    Gemini(GeminiConfig),
    Bedrock(BedrockConfig),
    MlflowModelServing(MlflowServingConfig),
    HuggingFaceTgi(HfTgiConfig),
    Cohere(ApiKeyConfig),
    Palm(ApiKeyConfig),
    MosaicMl(MosaicMlConfig),
    Ai21Labs(ApiKeyConfig),
    Mistral(ApiKeyConfig),
    TogetherAi(ApiKeyConfig),
    VertexAi(VertexAiConfig),
    Mock(MockConfig),
}

impl ProviderConfig {
    fn collect_secrets(&self, out: &mut Vec<Secret>) {
        match self {
            ProviderConfig::OpenAi(c) => out.push(c.api_key.clone()),
            ProviderConfig::OpenAiCompatible(c) => {
                out.extend(c.api_key.iter().cloned());
                out.extend(c.provider_api_key.iter().cloned());
                out.extend(c.databricks_oauth.iter().map(|(_, s)| s.clone()));
            }
            ProviderConfig::Anthropic(c) => out.push(c.api_key.clone()),
            ProviderConfig::Gemini(c) => out.push(c.api_key.clone()),
            ProviderConfig::Bedrock(c) => match &c.aws {
                AwsAuth::BearerToken { token, .. } => out.push(token.clone()),
                AwsAuth::IdAndKey {
                    secret_access_key,
                    session_token,
                    ..
                } => {
                    out.push(secret_access_key.clone());
                    out.extend(session_token.iter().cloned());
                }
                AwsAuth::Role { .. } | AwsAuth::Default { .. } => {}
            },
            ProviderConfig::Cohere(c)
            | ProviderConfig::Palm(c)
            | ProviderConfig::Ai21Labs(c)
            | ProviderConfig::Mistral(c)
            | ProviderConfig::TogetherAi(c) => out.push(c.api_key.clone()),
            ProviderConfig::MosaicMl(c) => out.push(c.api_key.clone()),
            ProviderConfig::VertexAi(c) => out.extend(c.credentials.iter().cloned()),
            ProviderConfig::MlflowModelServing(_)
            | ProviderConfig::HuggingFaceTgi(_)
            | ProviderConfig::Mock(_) => {}
        }
    }
}

/// `openai` / `azure` settings.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// `openai_api_type`, case-insensitive in the file.
    pub api_type: OpenAiApiType,
    /// `openai_api_key` (for `azuread`, an Azure AD token).
    pub api_key: Secret,
    /// `openai_api_base`; defaults to `https://api.openai.com/v1` for type `openai`
    /// (required for the Azure types).
    pub api_base: String,
    /// `openai_api_version` (required for the Azure types).
    pub api_version: Option<String>,
    /// `openai_deployment_name` (Azure types only, required there).
    pub deployment_name: Option<String>,
    /// `openai_organization` (type `openai` only).
    pub organization: Option<String>,
}

/// `openai_api_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenAiApiType {
    /// `openai`
    OpenAi,
    /// `azure` (api-key header)
    Azure,
    /// `azuread` (bearer token)
    AzureAd,
}

/// Settings of the OpenAI-compatible family (groq, deepseek, xai, openrouter, ollama,
/// portkey, databricks).
#[derive(Debug, Clone)]
pub struct OpenAiCompatibleConfig {
    /// Bearer key (`api_key`; Portkey: sent as `x-portkey-api-key`; Databricks: `token`).
    /// `None` = send no auth header (Ollama's default `ollama`, Databricks without a token).
    pub api_key: Option<Secret>,
    /// `api_base`, or the provider's default (Databricks: derived from `host`).
    pub api_base: String,
    /// Portkey `portkey_provider` (`x-portkey-provider`).
    pub portkey_provider: Option<String>,
    /// Portkey `portkey_config` (`x-portkey-config`).
    pub portkey_config: Option<String>,
    /// Portkey `provider_api_key` (sent as `Authorization: Bearer`).
    pub provider_api_key: Option<Secret>,
    /// Databricks OAuth M2M `(client_id, client_secret)`.
    pub databricks_oauth: Option<(String, Secret)>,
}

/// Providers configured by a single API key (cohere, palm, ai21labs, mistral, togetherai).
#[derive(Debug, Clone)]
pub struct ApiKeyConfig {
    /// `<provider>_api_key`.
    pub api_key: Secret,
    /// Our extension `<provider>_api_base` (MLflow hard-codes these hosts); `None` = the
    /// provider's public API.
    pub api_base: Option<String>,
}

/// `anthropic` settings.
#[derive(Debug, Clone)]
pub struct AnthropicConfig {
    /// `anthropic_api_key`.
    pub api_key: Secret,
    /// `anthropic_version` (default `2023-06-01`).
    pub version: String,
    /// `anthropic_api_base` (default `https://api.anthropic.com/v1`).
    pub api_base: String,
}

/// `gemini` settings.
#[derive(Debug, Clone)]
pub struct GeminiConfig {
    /// `gemini_api_key`.
    pub api_key: Secret,
    /// `gemini_api_base`, normalised to a models base (`.../v1beta/models`).
    pub api_base: String,
}

/// `bedrock` / `amazon-bedrock` settings.
#[derive(Debug, Clone)]
pub struct BedrockConfig {
    /// `aws_config`, after MLflow's union selection.
    pub aws: AwsAuth,
    /// Our extension `bedrock_api_base` (runtime endpoint override).
    pub api_base: Option<String>,
}

/// Bedrock credentials. AWS fields are taken literally (MLflow does not `$`-resolve them),
/// but held as [`Secret`] where they are credentials.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub enum AwsAuth {
    BearerToken {
        token: Secret,
        region: Option<String>,
    },
    Role {
        role_arn: String,
        session_length_seconds: u64,
        region: Option<String>,
    },
    IdAndKey {
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
        region: Option<String>,
    },
    /// The AWS default credential chain.
    Default { region: Option<String> },
}

/// `mlflow-model-serving` settings.
#[derive(Debug, Clone)]
pub struct MlflowServingConfig {
    /// `model_server_url`.
    pub model_server_url: String,
}

/// `huggingface-text-generation-inference` settings.
#[derive(Debug, Clone)]
pub struct HfTgiConfig {
    /// `hf_server_url`.
    pub hf_server_url: String,
}

/// `mosaicml` settings.
#[derive(Debug, Clone)]
pub struct MosaicMlConfig {
    /// `mosaicml_api_key`.
    pub api_key: Secret,
    /// `mosaicml_api_base` (default `https://models.hosted-on.mosaicml.hosting`).
    pub api_base: String,
}

/// `vertex_ai` settings.
#[derive(Debug, Clone)]
pub struct VertexAiConfig {
    /// `vertex_project`.
    pub project: String,
    /// `vertex_location`, resolved: if unset or empty, `us-central1` for MaaS models
    /// (names containing `/`, starting with mistral/codestral/jamba, or ending `-maas`),
    /// else `global` (MLflow picks the same per model family).
    pub location: String,
    /// `vertex_credentials` (service-account JSON text or a path to it, taken literally);
    /// `None` = application default credentials.
    pub credentials: Option<Secret>,
    /// `vertex_anthropic_betas` (list, or comma-separated string). `None` forwards a client's
    /// `anthropic-beta` header unchanged, an empty list drops it, a list keeps only those.
    pub anthropic_betas: Option<Vec<String>>,
    /// Our extension `vertex_api_base` (overrides the `*-aiplatform.googleapis.com` host).
    pub api_base: Option<String>,
}

/// `mock` settings: our offline provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockConfig {
    /// `response`: fixed reply text; `None` echoes the prompt.
    pub response: Option<String>,
    /// `delay_ms` before answering (default 0).
    pub delay_ms: u64,
    /// `embedding_dimensions` (default 8), 1..=8192.
    pub embedding_dimensions: u32,
    /// `chunk_words`: words per stream chunk (default 1), at least 1.
    pub chunk_words: u32,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            response: None,
            delay_ms: 0,
            embedding_dimensions: 8,
            chunk_words: 1,
        }
    }
}

/// An endpoint's `limit`.
#[derive(Debug, Clone)]
pub struct Limit {
    /// `calls` per period (0 is valid and rejects everything, as in MLflow).
    pub calls: u64,
    /// Parsed `renewal_period`.
    pub renewal_period: RenewalPeriod,
    /// `renewal_period` as written (MLflow echoes it in `GET /api/2.0/endpoints/`).
    pub raw_period: String,
    /// `key` as written: accepted and unused, as in MLflow, but echoed in endpoint listings.
    pub key: Option<String>,
}

impl Limit {
    /// The text MLflow's 429 body uses, e.g. `2 per 1 minute`.
    pub fn describe(&self) -> String {
        self.renewal_period.describe(self.calls)
    }
}

/// A fixed window: `multiples` x `granularity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewalPeriod {
    /// How many granularity units (at least 1).
    pub multiples: u64,
    /// The unit.
    pub granularity: Granularity,
}

impl RenewalPeriod {
    /// `limits`' item string: `"{calls} per {multiples} {granularity}"`, e.g. `2 per 1 minute`.
    pub fn describe(&self, calls: u64) -> String {
        format!(
            "{calls} per {} {}",
            self.multiples,
            self.granularity.as_str()
        )
    }

    /// The window length (`limits`' month is 30 days, its year 12 such months).
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.granularity.seconds().saturating_mul(self.multiples))
    }
}

/// The `limits` library's granularities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Granularity {
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

impl Granularity {
    /// Singular lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Granularity::Second => "second",
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
            Granularity::Month => "month",
            Granularity::Year => "year",
        }
    }

    /// Length in seconds, as `limits` defines it.
    pub fn seconds(&self) -> u64 {
        match self {
            Granularity::Second => 1,
            Granularity::Minute => 60,
            Granularity::Hour => 3600,
            Granularity::Day => 86_400,
            Granularity::Month => 30 * 86_400,
            Granularity::Year => 12 * 30 * 86_400,
        }
    }
}

/// Our extension `timeouts:` on an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// `total_seconds`: whole upstream call.
    pub total: Option<Duration>,
    /// `connect_seconds`: TCP/TLS connect.
    pub connect: Option<Duration>,
    /// `stream_idle_seconds`: longest wait for the next event of a stream.
    pub stream_idle: Option<Duration>,
}

/// Our extension `retries:` on an endpoint: retry the same destination on transient errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `max_attempts`: attempts in all, the first included (>= 1).
    pub max_attempts: u32,
    /// `initial_backoff_seconds`: the wait before the first retry; doubled each retry.
    pub initial_backoff: Duration,
    /// `max_backoff_seconds`: the cap on one wait, and on an upstream `Retry-After` we honour.
    pub max_backoff: Duration,
    /// `on`: the error classes that are retried.
    pub on: ErrorClasses,
}

/// Our extension `circuit_breaker:` on an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitPolicy {
    /// `failure_threshold`: consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// `cooldown_seconds`: how long an open circuit skips the endpoint before one probe.
    pub cooldown: Duration,
    /// `on`: the error classes that count as failures.
    pub on: ErrorClasses,
}

/// Our extension `fallback:` on a route: what triggers trying the next destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackPolicy {
    /// `max_attempts`: destinations tried in all, the first included (>= 1).
    pub max_attempts: u32,
    /// `on`: the error classes that move on to the next destination.
    pub on: ErrorClasses,
}

pub use crate::error::{ErrorClass, ErrorClasses};

/// One `routes[]` entry: a traffic split over endpoints.
#[derive(Debug, Clone)]
pub struct TrafficRoute {
    /// Route name (not checked against the endpoint-name regex, as in MLflow).
    pub name: String,
    /// `task_type`; every destination has this endpoint type.
    pub task_type: EndpointType,
    /// `destinations`, percentages summing to 100.
    pub destinations: Vec<Destination>,
    /// `routing_strategy`.
    pub routing_strategy: RoutingStrategy,
    /// Our extension `fallback:`; always present for `FALLBACK` routes, optional for splits.
    pub fallback: Option<FallbackPolicy>,
}

/// A route destination.
#[derive(Debug, Clone)]
pub struct Destination {
    /// An endpoint name.
    pub name: String,
    /// 0..=100 (absent on `FALLBACK` routes, where it reads as 0).
    pub traffic_percentage: u32,
}

/// `routing_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingStrategy {
    /// `TRAFFIC_SPLIT` (MLflow's only strategy): one destination drawn by weight.
    TrafficSplit,
    /// `FALLBACK` (our extension): destinations tried in order.
    Fallback,
}
