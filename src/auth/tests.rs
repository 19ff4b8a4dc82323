//! Unit tests of authentication and authorisation on hand-built key sets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use http::{HeaderMap, HeaderValue, header};

use super::*;
use crate::config::ApiKey;

fn keys() -> KeySet {
    KeySet::new(&AuthConfig {
        keys: vec![
            ApiKey {
                name: "admin".into(),
                digest: KeyDigest::of("admin-secret-key"),
                endpoints: None,
            },
            ApiKey {
                name: "team-a".into(),
                digest: KeyDigest::of("team-a-secret-key"),
                endpoints: Some(vec!["chat".into(), "ab-route".into()]),
            },
        ],
        exempt_paths: vec!["/health".into()],
    })
}

fn with_auth(values: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn message(r: Result<Access, GatewayError>) -> String {
    match r {
        Err(GatewayError::Unauthenticated(m)) => m,
        other => panic!("expected Unauthenticated, got {other:?}"),
    }
}

#[test]
fn bearer_keys_authenticate_to_their_grant() {
    let k = keys();
    let a = k
        .authenticate(&with_auth(&["Bearer team-a-secret-key"]))
        .unwrap();
    assert_eq!(a.grant().unwrap().name(), "team-a");
    // The scheme is case-insensitive; surrounding spaces are not part of the token.
    let a = k
        .authenticate(&with_auth(&["bEaReR   admin-secret-key "]))
        .unwrap();
    assert_eq!(a.grant().unwrap().name(), "admin");
}

#[test]
fn missing_wrong_and_malformed_keys_are_unauthenticated() {
    let k = keys();
    assert!(message(k.authenticate(&HeaderMap::new())).starts_with("Missing API key"));
    assert_eq!(
        message(k.authenticate(&with_auth(&["Bearer nope"]))),
        "Invalid API key."
    );
    for bad in [
        "Basic YWRtaW46eA==",
        "Bearer",
        "Bearer ",
        "admin-secret-key",
        "Bearerx y",
    ] {
        assert!(
            message(k.authenticate(&with_auth(&[bad]))).starts_with("Malformed"),
            "{bad}"
        );
    }
    // Two Authorization headers are ambiguous, even if one is right.
    let two = with_auth(&["Bearer admin-secret-key", "Bearer nope"]);
    assert!(message(k.authenticate(&two)).starts_with("Malformed"));
    // A key that differs in one character, or is a prefix, is just wrong.
    for near in [
        "Bearer admin-secret-kez",
        "Bearer admin-secret-ke",
        "Bearer admin-secret-keyy",
    ] {
        assert_eq!(
            message(k.authenticate(&with_auth(&[near]))),
            "Invalid API key."
        );
    }
}

#[test]
fn messages_never_echo_the_presented_key() {
    let k = keys();
    let m = message(k.authenticate(&with_auth(&["Bearer sk-leaky-guess"])));
    assert!(!m.contains("sk-leaky-guess"), "{m}");
}

#[test]
fn grants_decide_by_endpoint_or_route_name() {
    let k = keys();
    let team = k
        .authenticate(&with_auth(&["Bearer team-a-secret-key"]))
        .unwrap();
    assert!(team.authorize(true, "chat").is_ok());
    assert!(team.authorize(true, "ab-route").is_ok());
    match team.authorize(true, "embeddings") {
        Err(GatewayError::PermissionDenied(m)) => {
            assert_eq!(
                m,
                "The API key 'team-a' is not allowed to use 'embeddings'."
            );
        }
        other => panic!("{other:?}"),
    }
    let admin = k
        .authenticate(&with_auth(&["Bearer admin-secret-key"]))
        .unwrap();
    assert!(admin.authorize(true, "anything").is_ok());
}

#[test]
fn unchecked_access_fails_closed_only_when_keys_exist() {
    let none = Access::default();
    assert!(none.authorize(false, "chat").is_ok());
    assert!(matches!(
        none.authorize(true, "chat"),
        Err(GatewayError::Unauthenticated(_))
    ));
    assert!(Access::exempt().authorize(true, "chat").is_ok());
    assert!(Access::exempt().scope(true).unwrap().is_none());
}

#[test]
fn exempt_paths_match_exactly() {
    let k = keys();
    assert!(k.is_exempt("/health"));
    assert!(!k.is_exempt("/health/"));
    assert!(!k.is_exempt("/healthz"));
    assert!(!k.is_exempt("/metrics"));
}

#[test]
fn debug_output_shows_no_digest() {
    let text = format!("{:?}", keys());
    assert!(text.contains("team-a"));
    assert!(text.contains("[redacted]"));
    let hex = KeyDigest::of("admin-secret-key").hex();
    assert!(!text.contains(&hex[..16]));
    assert!(!text.contains("admin-secret-key"));
}
