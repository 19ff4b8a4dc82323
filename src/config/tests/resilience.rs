//! Our resilience extensions: `retries`, `circuit_breaker`, `timeouts.stream_idle_seconds`,
//! `FALLBACK` routes and `fallback:` blocks; defaults, and located errors for bad values.

use std::time::Duration;

use super::{assert_err, err, ok};
use crate::config::{ErrorClass, ErrorClasses, RoutingStrategy};

fn endpoint(extra: &str) -> String {
    format!(
        "endpoints:\n  - name: e\n    endpoint_type: llm/v1/chat\n    model: {{provider: mock}}\n{extra}"
    )
}

const TWO: &str = "endpoints:\n  - {name: a, endpoint_type: llm/v1/chat, model: {provider: mock}}\n  - {name: b, endpoint_type: llm/v1/chat, model: {provider: mock}}\nroutes:\n  - name: r\n    task_type: llm/v1/chat\n";

#[test]
fn retries_defaults_and_values() {
    let l = ok(&endpoint("    retries: {}\n"));
    let r = l.config.endpoints[0].retries.clone().unwrap();
    assert_eq!(r.max_attempts, 3);
    assert_eq!(r.initial_backoff, Duration::from_millis(500));
    assert_eq!(r.max_backoff, Duration::from_secs(10));
    assert_eq!(r.on, ErrorClasses::ALL);

    let l = ok(&endpoint(
        "    retries: {max_attempts: 5, initial_backoff_seconds: 0.1, max_backoff_seconds: 2, on: [timeout, rate_limited]}\n",
    ));
    let r = l.config.endpoints[0].retries.clone().unwrap();
    assert_eq!(r.max_attempts, 5);
    assert_eq!(r.initial_backoff, Duration::from_millis(100));
    assert_eq!(r.max_backoff, Duration::from_secs(2));
    assert!(r.on.contains(ErrorClass::Timeout) && r.on.contains(ErrorClass::RateLimited));
    assert!(!r.on.contains(ErrorClass::ServerError));
    assert!(ok(&endpoint("")).config.endpoints[0].retries.is_none());
    assert!(
        ok(&endpoint("    retries: null\n")).config.endpoints[0]
            .retries
            .is_none()
    );
}

#[test]
fn retries_errors_are_located() {
    assert_err(
        &err(&endpoint("    retries: {max_attempts: 0}\n")),
        "endpoints[0].retries.max_attempts",
        5,
        "must be an integer from 1 to 10, got 0",
    );
    assert_err(
        &err(&endpoint("    retries: {max_attempts: 11}\n")),
        "endpoints[0].retries.max_attempts",
        5,
        "must be an integer from 1 to 10, got 11",
    );
    assert_err(
        &err(&endpoint(
            "    retries:\n      initial_backoff_seconds: 2\n      max_backoff_seconds: 1\n",
        )),
        "endpoints[0].retries.max_backoff_seconds",
        7,
        "must be at least initial_backoff_seconds (2)",
    );
    assert_err(
        &err(&endpoint("    retries: {initial_backoff_seconds: -1}\n")),
        "endpoints[0].retries.initial_backoff_seconds",
        5,
        "must be a positive number of seconds, got -1",
    );
    assert_err(
        &err(&endpoint(
            "    retries:\n      on: [timeout, server_eror]\n",
        )),
        "endpoints[0].retries.on[1]",
        6,
        "unknown error class 'server_eror' (expected one of connect_error, timeout, rate_limited, server_error), did you mean 'server_error'?",
    );
    assert_err(
        &err(&endpoint("    retries: {on: []}\n")),
        "endpoints[0].retries.on",
        5,
        "must list at least one of connect_error, timeout, rate_limited, server_error",
    );
    let e = err(&endpoint("    retries: {max_attempt: 2}\n"));
    assert_eq!(e.key_path, "endpoints[0].retries.max_attempt");
    assert!(e.message.contains("did you mean 'max_attempts'"), "{e}");
    let e = err(&endpoint("    retries: 3\n"));
    assert_eq!(e.key_path, "endpoints[0].retries");
}

#[test]
fn circuit_breaker_defaults_and_errors() {
    let c = ok(&endpoint("    circuit_breaker: {}\n")).config.endpoints[0]
        .circuit_breaker
        .clone()
        .unwrap();
    assert_eq!(c.failure_threshold, 5);
    assert_eq!(c.cooldown, Duration::from_secs(30));
    assert!(!c.on.contains(ErrorClass::RateLimited));
    assert!(c.on.contains(ErrorClass::ServerError));
    assert_err(
        &err(&endpoint("    circuit_breaker: {failure_threshold: 0}\n")),
        "endpoints[0].circuit_breaker.failure_threshold",
        5,
        "must be a positive integer, got 0",
    );
    assert_err(
        &err(&endpoint("    circuit_breaker: {cooldown_seconds: 0}\n")),
        "endpoints[0].circuit_breaker.cooldown_seconds",
        5,
        "must be a positive number of seconds, got 0",
    );
}

#[test]
fn stream_idle_timeout() {
    let t = ok(&endpoint("    timeouts: {stream_idle_seconds: 2.5}\n"))
        .config
        .endpoints[0]
        .timeouts
        .clone();
    assert_eq!(t.stream_idle, Some(Duration::from_millis(2500)));
    assert_err(
        &err(&endpoint("    timeouts: {stream_idle_seconds: 0}\n")),
        "endpoints[0].timeouts.stream_idle_seconds",
        5,
        "must be a positive number of seconds, got 0",
    );
}

#[test]
fn fallback_routes_take_ordered_destinations() {
    let l = ok(&format!(
        "{TWO}    routing_strategy: FALLBACK\n    destinations: [{{name: b}}, {{name: a}}]\n"
    ));
    let r = &l.config.routes[0];
    assert_eq!(r.routing_strategy, RoutingStrategy::Fallback);
    let names: Vec<_> = r.destinations.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["b", "a"]);
    let f = r.fallback.clone().unwrap();
    assert_eq!((f.max_attempts, f.on), (2, ErrorClasses::ALL));

    let l = ok(&format!(
        "{TWO}    routing_strategy: FALLBACK\n    destinations: [{{name: b}}, {{name: a}}]\n    fallback: {{max_attempts: 1, on: [connect_error]}}\n"
    ));
    let f = l.config.routes[0].fallback.clone().unwrap();
    assert_eq!(f.max_attempts, 1);
    assert_eq!(f.on, ErrorClasses::of(&[ErrorClass::ConnectError]));
}

#[test]
fn fallback_route_errors_are_located() {
    assert_err(
        &err(&format!(
            "{TWO}    routing_strategy: FALLBACK\n    destinations: [{{name: b, traffic_percentage: 50}}, {{name: a}}]\n"
        )),
        "routes[0].destinations[0].traffic_percentage",
        8,
        "traffic_percentage does not apply to a FALLBACK route: its destinations are tried in the order listed",
    );
    assert_err(
        &err(&format!(
            "{TWO}    routing_strategy: FALLBACK\n    destinations: [{{name: b}}, {{name: b}}]\n"
        )),
        "routes[0].destinations[1].name",
        8,
        "destination 'b' is listed twice in the FALLBACK route 'r'",
    );
    assert_err(
        &err(&format!(
            "{TWO}    routing_strategy: FALLBACK\n    destinations: [{{name: b}}, {{name: a}}]\n    fallback: {{max_attempts: 3}}\n"
        )),
        "routes[0].fallback.max_attempts",
        9,
        "must be an integer from 1 to 2, got 3",
    );
    // A split still needs its percentages.
    let e = err(&format!(
        "{TWO}    destinations: [{{name: b}}, {{name: a}}]\n"
    ));
    assert_eq!(e.key_path, "routes[0].destinations[0].traffic_percentage");
}

#[test]
fn a_split_may_fall_back_too() {
    let l = ok(&format!(
        "{TWO}    destinations: [{{name: a, traffic_percentage: 100}}, {{name: b, traffic_percentage: 0}}]\n    fallback: {{on: [server_error]}}\n"
    ));
    let r = &l.config.routes[0];
    assert_eq!(r.routing_strategy, RoutingStrategy::TrafficSplit);
    let f = r.fallback.clone().unwrap();
    assert_eq!(f.max_attempts, 2);
    assert_eq!(f.on, ErrorClasses::of(&[ErrorClass::ServerError]));
    assert!(
        ok(&format!(
            "{TWO}    destinations: [{{name: a, traffic_percentage: 100}}]\n"
        ))
        .config
        .routes[0]
            .fallback
            .is_none()
    );
}
