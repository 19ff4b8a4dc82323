//! Our `api_keys:` and `auth:` sections: defaults, secret resolution, digests only, and
//! located errors that never show a key.

use std::io::Write;

use super::*;
use crate::auth::KeyDigest;
use crate::config::DEFAULT_EXEMPT_PATHS;

const BASE: &str = "endpoints:\n  - {name: chat, endpoint_type: llm/v1/chat, model: {provider: mock}}\n  - {name: emb, endpoint_type: llm/v1/embeddings, model: {provider: mock}}\nroutes:\n  - name: ab\n    task_type: llm/v1/chat\n    destinations:\n      - {name: chat, traffic_percentage: 100}\n";

/// `BASE` followed by `extra` (which starts on line 9).
fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

fn env(name: &str) -> Option<String> {
    match name {
        "TEAM_A_KEY" => Some("team-a-key-from-env".to_owned()),
        _ => None,
    }
}

#[test]
fn no_section_means_no_authentication() {
    assert!(ok(BASE).config.auth.is_none());
    assert!(ok(&with("api_keys: null\n")).config.auth.is_none());
}

#[test]
fn keys_are_resolved_and_kept_as_digests() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(b"team-b-key-from-a-file\n").unwrap();
    let path = f.path().to_str().unwrap();
    let l = load_env(
        &with(&format!(
            "api_keys:\n  - {{name: team-a, key: $TEAM_A_KEY, endpoints: [chat, ab]}}\n  - {{name: team-b, key: '{path}'}}\n  - {{name: ops, key: literal-key-0123456789}}\n"
        )),
        &env,
    )
    .unwrap();
    let auth = l.config.auth.unwrap();
    let names: Vec<&str> = auth.keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["team-a", "team-b", "ops"]);
    assert_eq!(auth.keys[0].digest, KeyDigest::of("team-a-key-from-env"));
    // A key file's trailing line break is dropped, as no header could carry it.
    assert_eq!(auth.keys[1].digest, KeyDigest::of("team-b-key-from-a-file"));
    assert_eq!(auth.keys[2].digest, KeyDigest::of("literal-key-0123456789"));
    assert_eq!(
        auth.keys[0].endpoints.as_deref(),
        Some(&["chat".to_owned(), "ab".to_owned()][..])
    );
    assert!(auth.keys[1].endpoints.is_none());
    assert_eq!(auth.exempt_paths, DEFAULT_EXEMPT_PATHS);
    // The loaded config holds no key in any form Debug can show.
    let debug = format!("{:?}", auth);
    assert!(!debug.contains("team-a-key-from-env") && !debug.contains("literal-key"));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn exempt_paths_are_configurable() {
    let l = ok(&with(
        "api_keys: [{name: a, key: key-a-0123456789ab}]\nauth: {exempt_paths: [/health, /docs]}\n",
    ));
    assert_eq!(l.config.auth.unwrap().exempt_paths, ["/health", "/docs"]);
    for none in ["[]", "null"] {
        let l = ok(&with(&format!(
            "api_keys: [{{name: a, key: key-a-0123456789ab}}]\nauth: {{exempt_paths: {none}}}\n"
        )));
        assert!(l.config.auth.unwrap().exempt_paths.is_empty(), "{none}");
    }
    let l = ok(&with(
        "api_keys: [{name: a, key: key-a-0123456789ab}]\nauth: {}\n",
    ));
    assert_eq!(l.config.auth.unwrap().exempt_paths, DEFAULT_EXEMPT_PATHS);
}

#[test]
fn short_keys_load_with_a_warning() {
    let l = ok(&with("api_keys: [{name: a, key: zq9x}]\n"));
    assert_eq!(l.warnings.len(), 1);
    assert_eq!(l.warnings[0].key_path, "api_keys[0].key");
    assert!(!l.warnings[0].to_string().contains("zq9x"));
}

#[test]
fn errors_are_located() {
    let cases: &[(&str, &str, usize, &str)] = &[
        (
            "api_keys: []\n",
            "api_keys",
            9,
            "no keys: an empty list would refuse every request; remove 'api_keys' to turn authentication off",
        ),
        (
            "api_keys: {name: a}\n",
            "api_keys",
            9,
            "expected a list, found a mapping",
        ),
        (
            "api_keys:\n  - {name: a, key: k-0123456789abcdef, endpoint: [chat]}\n",
            "api_keys[0].endpoint",
            10,
            "unknown key 'endpoint', did you mean 'endpoints'?",
        ),
        (
            "api_keys:\n  - {key: k-0123456789abcdef}\n",
            "api_keys[0].name",
            10,
            "Field required",
        ),
        (
            "api_keys:\n  - {name: a, key: k-0123456789abcdef}\n  - {name: a, key: k-fedcba9876543210}\n",
            "api_keys[1].name",
            11,
            "the name 'a' is used by another key",
        ),
        (
            "api_keys:\n  - {name: a, key: k-0123456789abcdef, endpoints: [chat, nope]}\n",
            "api_keys[0].endpoints[1]",
            10,
            "'nope' is not an endpoint or route of this configuration",
        ),
        (
            "api_keys:\n  - {name: a, key: k-0123456789abcdef, endpoints: [caht]}\n",
            "api_keys[0].endpoints[0]",
            10,
            "'caht' is not an endpoint or route of this configuration, did you mean 'chat'?",
        ),
        (
            "api_keys:\n  - {name: a, key: k-0123456789abcdef, endpoints: [chat, chat]}\n",
            "api_keys[0].endpoints[1]",
            10,
            "'chat' is listed twice",
        ),
        (
            "api_keys:\n  - {name: a, key: k-0123456789abcdef, endpoints: []}\n",
            "api_keys[0].endpoints",
            10,
            "an empty list allows nothing; omit 'endpoints' to allow every endpoint and route",
        ),
        (
            "api_keys:\n  - {name: a, key: $NOT_SET}\n",
            "api_keys[0].key",
            10,
            "Environment variable 'NOT_SET' is not set",
        ),
        (
            "api_keys:\n  - {name: a, key: ''}\n",
            "api_keys[0].key",
            10,
            "the key is empty",
        ),
        (
            "api_keys:\n  - {name: a, key: 'has a space-0123456789'}\n",
            "api_keys[0].key",
            10,
            "the key may contain only visible ASCII characters (no spaces), as a Bearer token must",
        ),
        (
            "auth: {exempt_paths: [/health]}\n",
            "auth",
            9,
            "'auth' has no effect without 'api_keys': authentication is off until at least one key is configured",
        ),
        (
            "api_keys: [{name: a, key: k-0123456789abcdef}]\nauth: {exempt_path: [/health]}\n",
            "auth.exempt_path",
            10,
            "unknown key 'exempt_path', did you mean 'exempt_paths'?",
        ),
        (
            "api_keys: [{name: a, key: k-0123456789abcdef}]\nauth: {exempt_paths: [health]}\n",
            "auth.exempt_paths[0]",
            10,
            "'health' is not a request path: it must start with '/' and have no query (paths match exactly, e.g. /health)",
        ),
    ];
    for (extra, path, line, message) in cases {
        assert_err(&err(&with(extra)), path, *line, message);
    }
}

#[test]
fn a_key_configured_twice_is_an_error_that_does_not_show_it() {
    let e = load_env(
        &with(
            "api_keys:\n  - {name: a, key: $TEAM_A_KEY}\n  - {name: b, key: team-a-key-from-env}\n",
        ),
        &env,
    )
    .unwrap_err();
    assert_err(
        &e,
        "api_keys[1].key",
        11,
        "the same key as 'a': each key must be different, or a caller could not be told apart",
    );
    assert!(!e.to_string().contains("team-a-key-from-env"));
}
