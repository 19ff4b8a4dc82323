//! MLflow's pipeline order and texts (spec §1.1-1.8), verbatim.

use super::*;
use crate::config::{EndpointType, OpenAiApiType, ProviderConfig, ProviderKind, RoutingStrategy};

const SPEC_EXAMPLE: &str = "endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: gpt-4o-mini, config: {openai_api_key: $OPENAI_API_KEY}}
    limit: {renewal_period: minute, calls: 10}
  - name: azure-chat
    endpoint_type: llm/v1/chat
    model:
      provider: openai            # or azure
      name: gpt-4o
      config:
        openai_api_type: azure    # or azuread
        openai_api_key: $AZURE_KEY
        openai_api_base: https://res.openai.azure.com/
        openai_deployment_name: my-dep
        openai_api_version: \"2024-02-01\"
routes:
  - name: ab
    task_type: llm/v1/chat
    destinations: [{name: chat, traffic_percentage: 80}, {name: azure-chat, traffic_percentage: 20}]
";

#[test]
fn spec_example_loads() {
    let loaded = ok(SPEC_EXAMPLE);
    assert!(loaded.warnings.is_empty());
    let c = &loaded.config;
    assert_eq!(c.endpoints.len(), 2);
    let chat = c.endpoint("chat").unwrap();
    assert_eq!(chat.endpoint_type, EndpointType::Chat);
    assert_eq!(chat.model.provider_name, "openai");
    assert_eq!(chat.model.name.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(chat.limit.as_ref().unwrap().describe(), "10 per 1 minute");
    assert_eq!(chat.limit.as_ref().unwrap().raw_period, "minute");
    let ProviderConfig::OpenAi(oa) = &chat.model.config else {
        panic!()
    };
    assert_eq!(oa.api_type, OpenAiApiType::OpenAi);
    assert_eq!(oa.api_base, "https://api.openai.com/v1");
    assert_eq!(oa.api_key.expose(), "sk-openai-test");
    let ProviderConfig::OpenAi(az) = &c.endpoint("azure-chat").unwrap().model.config else {
        panic!()
    };
    assert_eq!(az.api_type, OpenAiApiType::Azure);
    assert_eq!(az.api_key.expose(), "az-key-test");
    assert_eq!(az.api_version.as_deref(), Some("2024-02-01"));
    assert_eq!(az.deployment_name.as_deref(), Some("my-dep"));
    let ab = c.route("ab").unwrap();
    assert_eq!(ab.task_type, EndpointType::Chat);
    assert_eq!(ab.routing_strategy, RoutingStrategy::TrafficSplit);
    let pcts: Vec<_> = ab
        .destinations
        .iter()
        .map(|d| (d.name.as_str(), d.traffic_percentage))
        .collect();
    assert_eq!(pcts, [("chat", 80), ("azure-chat", 20)]);
    assert!(c.route("chat").is_none() && c.endpoint("ab").is_none());
}

#[test]
fn route_type_is_rejected_first() {
    let e = err("endpoints:\n  - name: 'bad name'\n    route_type: llm/v1/chat\n");
    assert_err(
        &e,
        "endpoints[0].route_type",
        3,
        "The 'route_type' configuration key is not supported in the configuration file. Use 'endpoint_type' instead.",
    );
}

const DUP: &str = "Duplicate names found in endpoint / route configurations. Please remove the duplicate endpoint / route name from the configuration to ensure that endpoints / routes are created properly.";

#[test]
fn duplicate_names_across_endpoints_and_routes() {
    let e = err(
        "endpoints:\n  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock}}\n  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock}}\n",
    );
    assert_err(&e, "endpoints[1].name", 3, DUP);
    let e = err(
        "endpoints:\n  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock}}\nroutes:\n  - name: a\n    task_type: llm/v1/chat\n    destinations: [{name: a, traffic_percentage: 100}]\n",
    );
    assert_err(&e, "routes[0].name", 4, DUP);
}

fn route_cfg(dests: &str) -> String {
    format!(
        "endpoints:\n  - {{name: c, endpoint_type: llm/v1/chat, model: {{provider: mock}}}}\n  - {{name: emb, endpoint_type: llm/v1/embeddings, model: {{provider: mock}}}}\nroutes:\n  - name: r\n    task_type: llm/v1/chat\n    destinations:\n{dests}"
    )
}

#[test]
fn route_destination_checks_in_order() {
    let e = err(&route_cfg(
        "      - {name: nope, traffic_percentage: 500}\n",
    ));
    assert_err(
        &e,
        "routes[0].destinations[0].name",
        8,
        "The route destination name must be a endpoint name, but the route 'r' has an invalid destination name 'nope'.",
    );
    let e = err(&route_cfg("      - {name: emb, traffic_percentage: 500}\n"));
    assert_err(
        &e,
        "routes[0].destinations[0].name",
        8,
        "The route destination endpoint types in the route 'r' must have endpoint type 'llm/v1/chat' but got endpoint type 'llm/v1/embeddings'.",
    );
    let e = err(&route_cfg(
        "      - {name: c, traffic_percentage: -1}\n      - {name: c, traffic_percentage: 101}\n",
    ));
    assert_err(
        &e,
        "routes[0].destinations[0].traffic_percentage",
        8,
        "The route destination traffic percentage must between 0 and 100.",
    );
    let e = err(&route_cfg(
        "      - {name: c, traffic_percentage: 60}\n      - {name: c, traffic_percentage: 30}\n",
    ));
    assert_err(
        &e,
        "routes[0].destinations",
        8,
        "For each route configuration, the traffic percentage sum of destinations must be 100, but got invalid configuration of route 'r'.",
    );
    let l = ok(&route_cfg(
        "      - {name: c, traffic_percentage: 60}\n      - {name: c, traffic_percentage: 40.0}\n",
    ));
    assert_eq!(l.config.routes[0].destinations[1].traffic_percentage, 40);
}

#[test]
fn routing_strategy_literal() {
    let text = route_cfg("      - {name: c, traffic_percentage: 100}\n")
        + "    routing_strategy: ROUND_ROBIN\n";
    assert_err(
        &err(&text),
        "routes[0].routing_strategy",
        9,
        "Input should be 'TRAFFIC_SPLIT' or 'FALLBACK'",
    );
    let text = route_cfg("      - {name: c, traffic_percentage: 100}\n")
        + "    routing_strategy: TRAFFIC_SPLIT\n";
    assert_eq!(
        ok(&text).config.routes[0].routing_strategy,
        RoutingStrategy::TrafficSplit
    );
}

#[test]
fn endpoint_name_regex() {
    let e = err(
        "endpoints:\n  - {name: 'has space', endpoint_type: llm/v1/chat, model: {provider: mock}}\n",
    );
    assert_err(
        &e,
        "endpoints[0].name",
        2,
        "The route name provided contains disallowed characters for a url endpoint. 'has space' is invalid. Names cannot contain spaces or any non alphanumeric characters other than hyphen and underscore.",
    );
    assert!(
        err(
            "endpoints:\n  - {name: 'café', endpoint_type: llm/v1/chat, model: {provider: mock}}\n"
        )
        .message
        .contains("'café' is invalid")
    );
    ok("endpoints:\n  - {name: a.b-c_D9, endpoint_type: llm/v1/chat, model: {provider: mock}}\n");
}

#[test]
fn endpoint_type_values() {
    let e = err("endpoints:\n  - {name: a, endpoint_type: llm/v2/chat, model: {provider: mock}}\n");
    assert_err(
        &e,
        "endpoints[0].endpoint_type",
        2,
        "The route_type 'llm/v2/chat' is not supported.",
    );
    for t in ["llm/v1/chat", "llm/v1/completions", "llm/v1/embeddings"] {
        let l = ok(&format!(
            "endpoints:\n  - {{name: a, endpoint_type: {t}, model: {{provider: mock}}}}\n"
        ));
        assert_eq!(l.config.endpoints[0].endpoint_type.as_str(), t);
        assert_eq!(
            EndpointType::parse(t),
            Some(l.config.endpoints[0].endpoint_type)
        );
    }
}

#[test]
fn provider_not_supported() {
    let e = err(&with_model("{provider: azuread, config: {}}"));
    assert_err(
        &e,
        "endpoints[0].model.provider",
        4,
        "The provider 'azuread' is not supported.",
    );
    let e = err(&with_model("{provider: litellm, config: {}}"));
    assert!(
        e.message
            .starts_with("The provider 'litellm' is not supported. ("),
        "{e}"
    );
}

#[test]
fn config_must_be_supplied() {
    let e = err(&with_model("{provider: openai, name: x}"));
    assert_err(
        &e,
        "endpoints[0].model.config",
        4,
        "A config must be supplied when setting a provider. The provider entry for Provider.OPENAI is incorrect.",
    );
    let e = err(&with_model("{provider: amazon-bedrock, config: null}"));
    assert_eq!(
        e.message,
        "A config must be supplied when setting a provider. The provider entry for Provider.AMAZON_BEDROCK is incorrect."
    );
}

#[test]
fn openai_cross_field_rules() {
    let e = err(&with_model(
        "{provider: openai, config: {openai_api_key: k, openai_deployment_name: d}}",
    ));
    assert_eq!(
        e.key_path,
        "endpoints[0].model.config.openai_deployment_name"
    );
    assert_eq!(
        e.message,
        "OpenAI route configuration can only specify a value for 'openai_deployment_name' if 'openai_api_type' is 'OpenAIAPIType.AZURE' or 'OpenAIAPIType.AZUREAD'. Found type: 'openai'"
    );
    let e = err(&with_model(
        "{provider: azure, config: {openai_api_type: AzureAD, openai_api_key: k, openai_organization: o, openai_api_base: b, openai_deployment_name: d, openai_api_version: v}}",
    ));
    assert_eq!(
        e.message,
        "OpenAI route configuration can only specify a value for 'openai_organization' if 'openai_api_type' is 'OpenAIAPIType.OPENAI'"
    );
    let e = err(&with_model(
        "{provider: openai, config: {openai_api_type: azure, openai_api_key: k, openai_api_base: b}}",
    ));
    assert_eq!(e.line, Some(4));
    assert_eq!(
        e.message,
        "OpenAI route configuration must specify 'openai_api_base', 'openai_deployment_name', and 'openai_api_version' if 'openai_api_type' is 'OpenAIAPIType.AZURE' or 'OpenAIAPIType.AZUREAD'."
    );
    let e = err(&with_model(
        "{provider: openai, config: {openai_api_type: FOO, openai_api_key: k}}",
    ));
    assert_eq!(e.message, "Invalid OpenAI API type 'foo'");
    // The cross-field rules run before secret resolution (MLflow's model_validator(mode="before")).
    let e = err(&with_model(
        "{provider: openai, config: {openai_api_type: bad, openai_api_key: $UNSET}}",
    ));
    assert_eq!(e.message, "Invalid OpenAI API type 'bad'");
}

#[test]
fn azure_provider_without_api_type_is_plain_openai() {
    let l = ok(&with_model(
        "{provider: azure, config: {openai_api_key: k}}",
    ));
    let m = &l.config.endpoints[0].model;
    assert_eq!(
        (m.provider, m.provider_name),
        (ProviderKind::Azure, "azure")
    );
    let ProviderConfig::OpenAi(c) = &m.config else {
        panic!()
    };
    assert_eq!(c.api_type, OpenAiApiType::OpenAi);
    assert_eq!(c.api_base, "https://api.openai.com/v1");
    assert_eq!(m.provider.display_name(), "OpenAI");
}

#[test]
fn mosaicml_chat_needs_llama2() {
    let e = err(&with_model(
        "{provider: mosaicml, name: mpt-7b, config: {mosaicml_api_key: k}}",
    ));
    assert_err(
        &e,
        "endpoints[0].model.name",
        4,
        "An invalid model has been specified for the chat route. 'mpt-7b'. Ensure the model selected starts with one of: ['llama2']",
    );
    let l = ok(&with_model(
        "{provider: mosaicml, name: LLaMa2-70b-chat, config: {mosaicml_api_key: k}}",
    ));
    let ProviderConfig::MosaicMl(c) = &l.config.endpoints[0].model.config else {
        panic!()
    };
    assert_eq!(c.api_base, "https://models.hosted-on.mosaicml.hosting");
    ok(
        "endpoints:\n  - {name: e, endpoint_type: llm/v1/completions, model: {provider: mosaicml, name: mpt-7b, config: {mosaicml_api_key: k}}}\n",
    );
}

#[test]
fn ai21labs_model_names() {
    let e = err(&with_model(
        "{provider: ai21labs, name: j3, config: {ai21labs_api_key: k}}",
    ));
    assert_eq!(
        e.message,
        "An Unsupported AI21Labs model has been specified: 'j3'. Please see documentation for supported models."
    );
    let e = err(&with_model(
        "{provider: ai21labs, config: {ai21labs_api_key: k}}",
    ));
    assert_eq!(
        e.message,
        "An Unsupported AI21Labs model has been specified: 'None'. Please see documentation for supported models."
    );
    for n in ["j2-ultra", "j2-mid", "j2-light"] {
        ok(&with_model(&format!(
            "{{provider: ai21labs, name: {n}, config: {{ai21labs_api_key: k}}}}"
        )));
    }
}

#[test]
fn gemini_api_base_rules() {
    let base = |b: &str| {
        let l = ok(&with_model(&format!(
            "{{provider: gemini, name: g, config: {{gemini_api_key: k, gemini_api_base: '{b}'}}}}"
        )));
        let ProviderConfig::Gemini(c) = &l.config.endpoints[0].model.config else {
            panic!()
        };
        c.api_base.clone()
    };
    assert_eq!(
        base("https://proxy.example"),
        "https://proxy.example/v1beta/models"
    );
    assert_eq!(
        base("https://proxy.example/"),
        "https://proxy.example/v1beta/models"
    );
    assert_eq!(
        base("https://proxy.example/v1alpha"),
        "https://proxy.example/v1alpha/models"
    );
    assert_eq!(
        base("https://proxy.example/v1/models/"),
        "https://proxy.example/v1/models"
    );
    let l = ok(&with_model(
        "{provider: gemini, name: g, config: {gemini_api_key: k}}",
    ));
    let ProviderConfig::Gemini(c) = &l.config.endpoints[0].model.config else {
        panic!()
    };
    assert_eq!(
        c.api_base,
        "https://generativelanguage.googleapis.com/v1beta/models"
    );
    let e = err(&with_model(
        "{provider: gemini, config: {gemini_api_key: k, gemini_api_base: 'https://h/v2/models'}}",
    ));
    assert_err(
        &e,
        "endpoints[0].model.config.gemini_api_base",
        4,
        "gemini_api_base ending in /models must include a supported API version (/v1, /v1beta, or /v1alpha) immediately before /models.",
    );
}

const LIMIT_ERR: &str = "Failed to parse the rate limit configuration.Please make sure limit.calls is a positive number andlimit.renewal_period is a right granularity";

#[test]
fn limit_rules() {
    let cfg = |limit: &str| {
        format!(
            "endpoints:\n  - name: e\n    endpoint_type: llm/v1/chat\n    model: {{provider: mock}}\n    limit: {limit}\n"
        )
    };
    assert_err(
        &err(&cfg("{calls: 2, renewal_period: fortnight}")),
        "endpoints[0].limit.renewal_period",
        5,
        LIMIT_ERR,
    );
    assert_err(
        &err(&cfg("{calls: -2, renewal_period: minute}")),
        "endpoints[0].limit.calls",
        5,
        LIMIT_ERR,
    );
    assert!(
        err(&cfg("{calls: 2, renewal_period: 'minute;5/hour'}"))
            .message
            .starts_with(LIMIT_ERR)
    );
    assert_err(
        &err(&cfg("{renewal_period: minute}")),
        "endpoints[0].limit.calls",
        5,
        "Field required",
    );
    let l = ok(&cfg("{calls: 5, renewal_period: 10 Seconds}"));
    assert_eq!(
        l.config.endpoints[0].limit.as_ref().unwrap().describe(),
        "5 per 10 second"
    );
    assert!(ok(&cfg("null")).config.endpoints[0].limit.is_none());
    assert_eq!(
        ok(&cfg("{calls: '3', renewal_period: hour}"))
            .config
            .endpoints[0]
            .limit
            .as_ref()
            .unwrap()
            .calls,
        3
    );
    assert_eq!(
        err(&cfg("{calls: x, renewal_period: hour}")).message,
        "expected an integer, found a string"
    );
}

#[test]
fn limit_key_loads_with_a_warning() {
    let text = "endpoints:\n  - name: e\n    endpoint_type: llm/v1/chat\n    model: {provider: mock}\n    limit:\n      calls: 1\n      renewal_period: minute\n      key: user\n";
    let l = ok(text);
    assert_eq!(l.warnings.len(), 1);
    let w = &l.warnings[0];
    assert_eq!(
        (w.key_path.as_str(), w.line, w.column),
        ("endpoints[0].limit.key", Some(8), Some(7))
    );
    assert!(
        w.to_string()
            .starts_with("config.yaml:8:7: endpoints[0].limit.key: "),
        "{w}"
    );
}

#[test]
fn routes_absent_or_null_and_endpoints_required() {
    let base = "endpoints:\n  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock}}\n";
    assert!(ok(base).config.routes.is_empty());
    assert!(ok(&format!("{base}routes:\n")).config.routes.is_empty());
    assert!(
        ok(&format!("{base}routes: null\n"))
            .config
            .routes
            .is_empty()
    );
    assert!(ok("endpoints: []\n").config.endpoints.is_empty());
    let e = err("routes: []\n");
    assert_eq!(e.to_string(), "config.yaml:1:1: endpoints: Field required");
}

#[test]
fn empty_file_is_a_clear_error() {
    for text in ["", "\n# only a comment\n", "~\n"] {
        let e = err(text);
        assert_eq!(
            e.to_string(),
            "config.yaml: the configuration file is empty; it must be a mapping with an 'endpoints' list"
        );
    }
}

#[test]
fn allowed_providers_policy() {
    let env = |name: &str| match name {
        "MLFLOW_GATEWAY_ALLOWED_PROVIDERS" => Some(" Bedrock, mock ".to_owned()),
        _ => None,
    };
    let bedrock = with_model("{provider: amazon-bedrock, config: {aws_config: {}}}");
    assert_eq!(
        load_env(&bedrock, &env).unwrap().config.endpoints[0]
            .model
            .provider_name,
        "amazon-bedrock"
    );
    let e = load_env(
        &with_model("{provider: OpenAI, config: {openai_api_key: k}}"),
        &env,
    )
    .unwrap_err();
    assert_err(
        &e,
        "endpoints[0].model.provider",
        4,
        "Provider 'openai' is not allowed by the current gateway provider policy.",
    );
    let empty = |name: &str| (name == "MLFLOW_GATEWAY_ALLOWED_PROVIDERS").then(String::new);
    assert!(
        load_env(
            &with_model("{provider: openai, config: {openai_api_key: k}}"),
            &empty
        )
        .is_ok()
    );
}
