//! MLflow's secret rules through the whole loader, and redaction.

use super::*;
use crate::config::ProviderConfig;
use std::io::Write;

fn openai_key(value: &str) -> Result<String, crate::config::ConfigError> {
    let l = load_env(
        &with_model(&format!(
            "{{provider: openai, config: {{openai_api_key: {value}}}}}"
        )),
        &test_env,
    )?;
    let ProviderConfig::OpenAi(c) = &l.config.endpoints[0].model.config else {
        panic!()
    };
    Ok(c.api_key.expose().to_owned())
}

#[test]
fn env_file_literal() {
    assert_eq!(openai_key("$OPENAI_API_KEY").unwrap(), "sk-openai-test");
    assert_eq!(openai_key("sk-literal").unwrap(), "sk-literal");
    assert_eq!(
        openai_key("'/no/such/key/file'").unwrap(),
        "/no/such/key/file"
    );
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(b"sk-from-file\n").unwrap();
    let path = f.path().to_str().unwrap();
    assert_eq!(openai_key(&format!("'{path}'")).unwrap(), "sk-from-file\n");
}

#[test]
fn unset_env_and_non_string() {
    let e = openai_key("$MISSING_VAR").unwrap_err();
    assert_err(
        &e,
        "endpoints[0].model.config.openai_api_key",
        4,
        "Environment variable 'MISSING_VAR' is not set",
    );
    let e = openai_key("12345").unwrap_err();
    assert_eq!(
        e.message,
        "The api key provided is not a string. Please provide either an environment variable key, a path to a file containing the api key, or the api key itself"
    );
    assert_eq!(e.key_path, "endpoints[0].model.config.openai_api_key");
    let e = openai_key("[a]").unwrap_err();
    assert!(
        e.message
            .starts_with("The api key provided is not a string.")
    );
}

#[test]
fn secrets_only_on_secret_fields() {
    // `$` in a non-secret field is kept as written.
    let l = ok(&with_model(
        "{provider: anthropic, config: {anthropic_api_key: $OPENAI_API_KEY, anthropic_version: $V}}",
    ));
    let ProviderConfig::Anthropic(a) = &l.config.endpoints[0].model.config else {
        panic!()
    };
    assert_eq!(
        (a.api_key.expose(), a.version.as_str()),
        ("sk-openai-test", "$V")
    );
}

#[test]
fn debug_never_shows_key_values() {
    let text = "endpoints:
  - {name: a, endpoint_type: llm/v1/chat, model: {provider: openai, config: {openai_api_key: SECRET-OPENAI}}}
  - {name: b, endpoint_type: llm/v1/chat, model: {provider: bedrock, config: {aws_config: {aws_access_key_id: AKIA, aws_secret_access_key: SECRET-AWS, aws_session_token: SECRET-SESSION}}}}
  - {name: c, endpoint_type: llm/v1/chat, model: {provider: portkey, config: {api_key: SECRET-PK, provider_api_key: SECRET-UP}}}
  - {name: d, endpoint_type: llm/v1/chat, model: {provider: databricks, config: {host: h, token: SECRET-DBX, client_id: i, client_secret: SECRET-OAUTH}}}
  - {name: e, endpoint_type: llm/v1/chat, model: {provider: vertex_ai, config: {vertex_project: p, vertex_credentials: SECRET-GCP}}}
  - {name: f, endpoint_type: llm/v1/chat, model: {provider: bedrock, config: {aws_config: {aws_bearer_token: SECRET-BEARER}}}}
";
    let l = ok(text);
    let debug = format!("{:?} {:#?}", l.config, l);
    assert!(!debug.contains("SECRET"), "{debug}");
    assert!(debug.contains("[redacted]"));
    let mut all: Vec<String> = l
        .config
        .secrets()
        .iter()
        .map(|s| s.expose().to_owned())
        .collect();
    all.sort();
    assert_eq!(
        all,
        [
            "SECRET-AWS",
            "SECRET-BEARER",
            "SECRET-DBX",
            "SECRET-GCP",
            "SECRET-OAUTH",
            "SECRET-OPENAI",
            "SECRET-PK",
            "SECRET-SESSION",
            "SECRET-UP"
        ]
    );
}
