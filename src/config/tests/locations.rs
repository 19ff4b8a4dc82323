//! Every error names the file, the key path and a line.

use super::*;

#[test]
fn unknown_key_with_suggestion_display() {
    let text = "endpoints:
  - {name: a, endpoint_type: llm/v1/chat, model: {provider: openai, config: {openai_api_key: k}}}
  - name: b
    model:
      provider: openai
      config:
        openai_api_typo: azure
        openai_api_key: k
    endpoint_type: llm/v1/chat
";
    let e = err(text);
    assert_eq!(
        e.to_string(),
        "config.yaml:7:9: endpoints[1].model.config.openai_api_typo: unknown key 'openai_api_typo', did you mean 'openai_api_type'?"
    );
}

#[test]
fn unknown_keys_at_every_level() {
    let e = err("endpoints: []\nroutse: []\n");
    assert_err(
        &e,
        "routse",
        2,
        "unknown key 'routse', did you mean 'routes'?",
    );
    let e = err("endpoints:\n  - name: e\n    endpont_type: llm/v1/chat\n");
    assert_err(
        &e,
        "endpoints[0].endpont_type",
        3,
        "unknown key 'endpont_type', did you mean 'endpoint_type'?",
    );
    let e = err(&with_model(
        "{provider: openai, nmae: x, config: {openai_api_key: k}}",
    ));
    assert_eq!(e.key_path, "endpoints[0].model.nmae");
    assert!(e.message.contains("did you mean 'name'?"), "{e}");
    let e = err(
        &(with_model("{provider: openai, config: {openai_api_key: k}}")
            + "    limit: {calls: 1, renewal_period: minute, kye: x}\n"),
    );
    assert_err(
        &e,
        "endpoints[0].limit.kye",
        5,
        "unknown key 'kye', did you mean 'key'?",
    );
}

#[test]
fn parse_error_location() {
    let e = err("endpoints:\n  - name: [unclosed\n");
    assert_eq!(e.file, Path::new("config.yaml"));
    assert!(e.line.is_some(), "{e}");
    assert!(
        e.message
            .starts_with("The file at config.yaml is not a valid yaml file: "),
        "{e}"
    );
    let e = err("endpoints:\n  - name: a\n    name: b\n");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("duplicate"), "{e}");
}

#[test]
fn type_error_location() {
    let e = err(
        "endpoints:\n  - name: e\n    endpoint_type: llm/v1/chat\n    model:\n      provider: openai\n      name: [1, 2]\n      config: {openai_api_key: k}\n",
    );
    assert_eq!(
        e.to_string(),
        "config.yaml:6:13: endpoints[0].model.name: expected a string, found a list"
    );
    let e = err("endpoints: {a: 1}\n");
    assert_err(&e, "endpoints", 1, "expected a list, found a mapping");
    let e = err("- a\n- b\n");
    assert_eq!(e.line, Some(1));
    assert!(e.message.starts_with("expected a mapping"), "{e}");
}

#[test]
fn deep_route_destination_location() {
    let text = "endpoints:
  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock}}
  - {name: b, endpoint_type: llm/v1/chat, model: {provider: mock}}
routes:
  - name: r
    task_type: llm/v1/chat
    destinations:
      - name: a
        traffic_percentage: 50
      - name: b
        traffic_percentage: 150
";
    let e = err(text);
    assert_eq!(
        e.to_string(),
        "config.yaml:11:29: routes[0].destinations[1].traffic_percentage: The route destination traffic percentage must between 0 and 100."
    );
}

#[test]
fn missing_key_points_at_a_likely_typo() {
    let e = err(
        "endpoints:\n  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock}}\nroutes:\n  - name: r\n    task_type: llm/v1/chat\n    destinations:\n      - name: a\n        traffic_percentag: 100\n",
    );
    assert_err(
        &e,
        "routes[0].destinations[0].traffic_percentage",
        8,
        "Field required (found 'traffic_percentag': did you mean 'traffic_percentage'?)",
    );
}

#[test]
fn every_validation_error_carries_a_line() {
    let bad = [
        "endpoints:\n",
        "endpoints:\n  -\n",
        "endpoints:\n  - name:\n",
        "endpoints:\n  - name: a\n    endpoint_type: llm/v1/chat\n    model:\n",
        "endpoints:\n  - name: a\n    endpoint_type: llm/v1/chat\n    model:\n      provider:\n",
        "endpoints:\n  - name: a\n    endpoint_type: llm/v1/chat\n    model:\n      provider: openai\n      config:\n        openai_api_key:\n",
        "endpoints:\n  - name: a\n    endpoint_type: llm/v1/chat\n    model: {provider: openai, config: []}\n",
        "endpoints:\n  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock}}\nroutes:\n  - name: r\n    task_type: llm/v1/chat\n    destinations:\n",
        "endpoints:\n  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock}}\nroutes:\n  - name: r\n    task_type: llm/v1/chat\n    destinations: []\n",
        "endpoints:\n  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock}, limit: 5}\n",
        "endpoints:\n  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock}, limit: {calls: x, renewal_period: minute}}\n",
    ];
    for text in bad {
        let e = err(text);
        assert!(
            e.line.is_some() && !e.key_path.is_empty(),
            "{text:?} -> {e}"
        );
    }
}

#[test]
fn anchors_aliases_and_merge_keys() {
    let text = "endpoints:
  - name: a
    endpoint_type: llm/v1/chat
    model: &m
      provider: openai
      config: &c {openai_api_key: $OPENAI_API_KEY, openai_organization: org}
  - name: b
    endpoint_type: llm/v1/chat
    model: *m
  - name: c
    endpoint_type: llm/v1/chat
    model:
      provider: openai
      config:
        <<: *c
        openai_api_typo: x
";
    let e = err(text);
    assert_eq!(e.key_path, "endpoints[2].model.config.openai_api_typo");
    assert_eq!(e.line, Some(16));
    let ok_text = text.replace(
        "        openai_api_typo: x\n",
        "        openai_api_base: 'http://c'\n",
    );
    let l = ok(&ok_text);
    assert_eq!(l.config.endpoints.len(), 3);
    let crate::config::ProviderConfig::OpenAi(c) = &l.config.endpoints[2].model.config else {
        panic!()
    };
    assert_eq!(
        (c.api_base.as_str(), c.organization.as_deref()),
        ("http://c", Some("org"))
    );
}

#[test]
fn load_reads_a_file() {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(
        b"endpoints:\n  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock}}\n",
    )
    .unwrap();
    let l = crate::config::load(f.path()).unwrap();
    assert_eq!(l.config.endpoints[0].name, "a");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let e = crate::config::load(&missing).unwrap_err();
    assert_eq!(e.file, missing);
    assert!(
        e.message
            .starts_with("cannot read the configuration file: "),
        "{e}"
    );
}
