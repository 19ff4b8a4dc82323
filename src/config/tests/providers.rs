//! Provider normalisation and per-provider config shapes.

use super::*;
use crate::config::{AwsAuth, MockConfig, ProviderConfig, ProviderKind, Timeouts};
use std::time::Duration;

fn model_of(model: &str) -> crate::config::Model {
    ok(&with_model(model)).config.endpoints[0].model.clone()
}

#[test]
fn provider_name_normalisation() {
    let cases = [
        (
            "{provider: OpenAI, config: {openai_api_key: k}}",
            ProviderKind::OpenAi,
            "openai",
        ),
        (
            "{provider: amazon_bedrock, config: {aws_config: {}}}",
            ProviderKind::Bedrock,
            "amazon-bedrock",
        ),
        (
            "{provider: bedrock, config: {aws_config: {}}}",
            ProviderKind::Bedrock,
            "bedrock",
        ),
        (
            "{provider: vertex-ai, name: gemini-2.0, config: {vertex_project: p}}",
            ProviderKind::VertexAi,
            "vertex_ai",
        ),
        (
            "{provider: MLFLOW_MODEL_SERVING, config: {model_server_url: 'http://m'}}",
            ProviderKind::MlflowModelServing,
            "mlflow-model-serving",
        ),
        (
            "{provider: huggingface-text-generation-inference, config: {hf_server_url: 'http://h'}}",
            ProviderKind::HuggingFaceTgi,
            "huggingface-text-generation-inference",
        ),
        (
            "{provider: databricks-model-serving, config: {host: 'https://h', token: t}}",
            ProviderKind::Databricks,
            "databricks-model-serving",
        ),
        (
            "{provider: Groq, config: {api_key: k}}",
            ProviderKind::Groq,
            "groq",
        ),
    ];
    for (model, kind, name) in cases {
        let m = model_of(model);
        assert_eq!((m.provider, m.provider_name), (kind, name), "{model}");
    }
    assert_eq!(ProviderKind::Bedrock.display_name(), "Amazon Bedrock");
    assert_eq!(
        ProviderKind::HuggingFaceTgi.display_name(),
        "Hugging Face Text Generation Inference"
    );
}

#[test]
fn provider_specific_keys_are_strict() {
    let e = err(&with_model(
        "{provider: anthropic, config: {anthropic_api_key: k, openai_api_key: k}}",
    ));
    assert_eq!(e.key_path, "endpoints[0].model.config.openai_api_key");
    assert!(e.message.starts_with("unknown key 'openai_api_key'"), "{e}");
    let e = err(&with_model(
        "{provider: mistral, config: {mistral_api_key: k, mistral_api_bas: x}}",
    ));
    assert_eq!(
        e.message,
        "unknown key 'mistral_api_bas', did you mean 'mistral_api_base'?"
    );
}

#[test]
fn defaults_and_extensions() {
    let m = model_of("{provider: anthropic, config: {anthropic_api_key: k}}");
    let ProviderConfig::Anthropic(a) = m.config else {
        panic!()
    };
    assert_eq!(
        (a.version.as_str(), a.api_base.as_str()),
        ("2023-06-01", "https://api.anthropic.com/v1")
    );
    let m = model_of(
        "{provider: cohere, config: {cohere_api_key: k, cohere_api_base: 'http://local'}}",
    );
    let ProviderConfig::Cohere(c) = m.config else {
        panic!()
    };
    assert_eq!(c.api_base.as_deref(), Some("http://local"));
    let m = model_of("{provider: togetherai, config: {togetherai_api_key: k}}");
    let ProviderConfig::TogetherAi(c) = m.config else {
        panic!()
    };
    assert!(c.api_base.is_none());
    let m = model_of("{provider: deepseek, config: {api_key: k}}");
    let ProviderConfig::OpenAiCompatible(c) = m.config else {
        panic!()
    };
    assert_eq!(c.api_base, "https://api.deepseek.com/v1");
    let m = model_of("{provider: xai, config: {api_key: k, api_base: 'http://x/v1'}}");
    let ProviderConfig::OpenAiCompatible(c) = m.config else {
        panic!()
    };
    assert_eq!(c.api_base, "http://x/v1");
}

#[test]
fn deprecated_providers_warn() {
    for p in ["cohere", "palm"] {
        let l = ok(&with_model(&format!(
            "{{provider: {p}, config: {{{p}_api_key: k}}}}"
        )));
        assert_eq!(l.warnings.len(), 1);
        assert_eq!(l.warnings[0].key_path, "endpoints[0].model.provider");
        assert!(l.warnings[0].message.contains("deprecated"));
    }
}

#[test]
fn bedrock_union_selection() {
    let aws = |cfg: &str| {
        let l = ok(&with_model(&format!(
            "{{provider: bedrock, config: {{aws_config: {cfg}}}}}"
        )));
        let ProviderConfig::Bedrock(b) = &l.config.endpoints[0].model.config else {
            panic!()
        };
        (b.aws.clone(), l.warnings.len())
    };
    let (a, _) = aws(
        "{aws_bearer_token: tok, aws_region: us-east-1, aws_access_key_id: i, aws_secret_access_key: s}",
    );
    assert!(
        matches!(a, AwsAuth::BearerToken { ref token, ref region } if token.expose() == "tok" && region.as_deref() == Some("us-east-1"))
    );
    let (a, warnings) =
        aws("{aws_role_arn: arn, aws_access_key_id: $AWS_ACCESS_KEY_ID, aws_secret_access_key: s}");
    // AWS fields are not `$`-resolved: passed literally, as MLflow does.
    assert!(
        matches!(a, AwsAuth::IdAndKey { ref access_key_id, ref secret_access_key, .. } if access_key_id == "$AWS_ACCESS_KEY_ID" && secret_access_key.expose() == "s")
    );
    assert_eq!(warnings, 1);
    let (a, _) = aws("{aws_role_arn: arn, session_length_seconds: 1200}");
    assert!(
        matches!(a, AwsAuth::Role { ref role_arn, session_length_seconds: 1200, .. } if role_arn == "arn")
    );
    let (a, _) = aws("{aws_role_arn: arn}");
    assert!(matches!(
        a,
        AwsAuth::Role {
            session_length_seconds: 900,
            ..
        }
    ));
    let (a, warnings) = aws("{aws_access_key_id: only, aws_region: eu-west-1}");
    assert!(matches!(a, AwsAuth::Default { ref region } if region.as_deref() == Some("eu-west-1")));
    assert_eq!(warnings, 1);
    let (a, warnings) = aws("{}");
    assert!(matches!(a, AwsAuth::Default { region: None }));
    assert_eq!(warnings, 0);
    let e = err(&with_model(
        "{provider: bedrock, config: {bedrock_api_base: 'http://b'}}",
    ));
    assert_eq!(
        (e.key_path.as_str(), e.message.as_str()),
        ("endpoints[0].model.config.aws_config", "Field required")
    );
    let m = model_of("{provider: bedrock, config: {aws_config: {}, bedrock_api_base: 'http://b'}}");
    let ProviderConfig::Bedrock(b) = m.config else {
        panic!()
    };
    assert_eq!(b.api_base.as_deref(), Some("http://b"));
}

#[test]
fn ollama_default_key_means_no_auth() {
    let m = model_of("{provider: ollama, config: {}}");
    let ProviderConfig::OpenAiCompatible(c) = m.config else {
        panic!()
    };
    assert!(c.api_key.is_none());
    assert_eq!(c.api_base, "http://localhost:11434/v1");
    let m = model_of("{provider: ollama, config: {api_key: ollama}}");
    let ProviderConfig::OpenAiCompatible(c) = m.config else {
        panic!()
    };
    assert!(c.api_key.is_none());
    let m = model_of("{provider: ollama, config: {api_key: real}}");
    let ProviderConfig::OpenAiCompatible(c) = m.config else {
        panic!()
    };
    assert_eq!(c.api_key.unwrap().expose(), "real");
}

#[test]
fn portkey_fields() {
    let m = model_of(
        "{provider: portkey, config: {api_key: pk, portkey_provider: '@openai-prod', portkey_config: pc-1, provider_api_key: $OPENAI_API_KEY}}",
    );
    let ProviderConfig::OpenAiCompatible(c) = m.config else {
        panic!()
    };
    assert_eq!(c.api_base, "https://api.portkey.ai/v1");
    assert_eq!(c.portkey_provider.as_deref(), Some("@openai-prod"));
    assert_eq!(c.portkey_config.as_deref(), Some("pc-1"));
    assert_eq!(c.provider_api_key.unwrap().expose(), "sk-openai-test");
}

#[test]
fn databricks_host_and_token() {
    let m = model_of(
        "{provider: databricks, name: my-endpoint, config: {host: 'https://ws.cloud.databricks.com/', token: $NOT_RESOLVED}}",
    );
    let ProviderConfig::OpenAiCompatible(c) = m.config else {
        panic!()
    };
    assert_eq!(
        c.api_base,
        "https://ws.cloud.databricks.com/serving-endpoints"
    );
    assert_eq!(c.api_key.unwrap().expose(), "$NOT_RESOLVED");
    let m = model_of(
        "{provider: databricks, name: system.ai.claude, config: {host: 'https://ws', client_id: id, client_secret: sec}}",
    );
    let ProviderConfig::OpenAiCompatible(c) = m.config else {
        panic!()
    };
    assert_eq!(c.api_base, "https://ws/ai-gateway/mlflow/v1");
    assert!(c.api_key.is_none());
    let (id, secret) = c.databricks_oauth.unwrap();
    assert_eq!((id.as_str(), secret.expose()), ("id", "sec"));
    let env = |name: &str| match name {
        "DATABRICKS_HOST" => Some("https://env-host".to_owned()),
        "DATABRICKS_TOKEN" => Some("dapi-env".to_owned()),
        _ => None,
    };
    let l = load_env(
        &with_model("{provider: databricks, name: e, config: {}}"),
        &env,
    )
    .unwrap();
    let ProviderConfig::OpenAiCompatible(c) = &l.config.endpoints[0].model.config else {
        panic!()
    };
    assert_eq!(c.api_base, "https://env-host/serving-endpoints");
    assert_eq!(c.api_key.as_ref().unwrap().expose(), "dapi-env");
    let e = err(&with_model("{provider: databricks, config: {token: t}}"));
    assert_eq!(e.key_path, "endpoints[0].model.config.host");
    assert_eq!(e.line, Some(4));
}

#[test]
fn vertex_location_and_betas() {
    let vertex = |model: &str| {
        let ProviderConfig::VertexAi(v) = model_of(model).config else {
            panic!()
        };
        v
    };
    let v = vertex("{provider: vertex_ai, name: gemini-2.5-pro, config: {vertex_project: p}}");
    assert_eq!((v.project.as_str(), v.location.as_str()), ("p", "global"));
    assert!(v.anthropic_betas.is_none() && v.credentials.is_none());
    assert_eq!(
        vertex("{provider: vertex_ai, name: meta/llama-3, config: {vertex_project: p}}").location,
        "us-central1"
    );
    assert_eq!(vertex("{provider: vertex_ai, name: claude-sonnet, config: {vertex_project: p, vertex_location: europe-west1}}").location, "europe-west1");
    let v = vertex(
        "{provider: vertex_ai, name: claude, config: {vertex_project: p, vertex_anthropic_betas: 'a, b,,'}}",
    );
    assert_eq!(v.anthropic_betas.unwrap(), ["a", "b"]);
    let v = vertex(
        "{provider: vertex_ai, name: claude, config: {vertex_project: p, vertex_anthropic_betas: []}}",
    );
    assert_eq!(v.anthropic_betas.unwrap(), Vec::<String>::new());
    let e = err(&with_model(
        "{provider: vertex_ai, config: {vertex_project: p, vertex_location: US_East}}",
    ));
    assert_eq!(
        e.message,
        "vertex_location must contain only lowercase letters, digits, and hyphens; got 'US_East'"
    );
}

#[test]
fn mock_provider() {
    let m = model_of("{provider: mock}");
    let ProviderConfig::Mock(c) = m.config else {
        panic!()
    };
    assert_eq!(c, MockConfig::default());
    assert_eq!(
        (c.embedding_dimensions, c.chunk_words, c.delay_ms),
        (8, 1, 0)
    );
    let m = model_of(
        "{provider: mock, config: {response: hi, delay_ms: 5, embedding_dimensions: 3, chunk_words: 2}}",
    );
    let ProviderConfig::Mock(c) = m.config else {
        panic!()
    };
    assert_eq!(
        c,
        MockConfig {
            response: Some("hi".to_owned()),
            delay_ms: 5,
            embedding_dimensions: 3,
            chunk_words: 2
        }
    );
    let e = err(&with_model(
        "{provider: mock, config: {embedding_dimensions: 9000}}",
    ));
    assert_eq!(e.message, "must be between 1 and 8192, got 9000");
    let e = err(&with_model("{provider: mock, config: {chunk_words: 0}}"));
    assert_eq!(e.key_path, "endpoints[0].model.config.chunk_words");
}

#[test]
fn timeouts_extension() {
    let cfg = |t: &str| {
        format!(
            "endpoints:\n  - name: e\n    endpoint_type: llm/v1/chat\n    model: {{provider: mock}}\n    timeouts: {t}\n"
        )
    };
    let l = ok(&cfg("{total_seconds: 30, connect_seconds: 1.5}"));
    assert_eq!(
        l.config.endpoints[0].timeouts,
        Timeouts {
            total: Some(Duration::from_secs(30)),
            connect: Some(Duration::from_millis(1500)),
            stream_idle: None,
        }
    );
    assert_eq!(
        ok(&cfg("null")).config.endpoints[0].timeouts,
        Timeouts::default()
    );
    let e = err(&cfg("{total_seconds: 0}"));
    assert_eq!(
        (e.key_path.as_str(), e.line),
        ("endpoints[0].timeouts.total_seconds", Some(5))
    );
    let e = err(&cfg("{total_second: 3}"));
    assert_eq!(
        e.message,
        "unknown key 'total_second', did you mean 'total_seconds'?"
    );
}
