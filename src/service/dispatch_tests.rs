//! The dispatch loop on paused time with scripted attempts: backoff waits, `Retry-After`,
//! deadlines, fallback order, circuit skipping; and the traffic-split draw.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::dispatch::{Needs, Plan, run};
use super::{Gateway, Settings, Target};
use crate::error::GatewayError;
use crate::providers::Call;

const CONFIG: &str = r#"
endpoints:
  - name: a
    endpoint_type: llm/v1/chat
    model: {provider: mock}
    retries: {max_attempts: 4, initial_backoff_seconds: 1, max_backoff_seconds: 10}
  - name: b
    endpoint_type: llm/v1/chat
    model: {provider: mock}
    circuit_breaker: {failure_threshold: 1, cooldown_seconds: 60}
  - name: c
    endpoint_type: llm/v1/chat
    model: {provider: mock}
  - name: emb
    endpoint_type: llm/v1/embeddings
    model: {provider: mock}
routes:
  - name: split
    task_type: llm/v1/chat
    destinations:
      - {name: a, traffic_percentage: 80}
      - {name: b, traffic_percentage: 20}
      - {name: c, traffic_percentage: 0}
  - name: split-fb
    task_type: llm/v1/chat
    destinations:
      - {name: a, traffic_percentage: 0}
      - {name: b, traffic_percentage: 100}
      - {name: c, traffic_percentage: 0}
    fallback: {on: [server_error]}
  - name: ordered
    task_type: llm/v1/chat
    routing_strategy: FALLBACK
    destinations: [{name: b}, {name: c}, {name: a}]
    fallback: {max_attempts: 2}
"#;

fn gateway() -> Gateway {
    let loaded = crate::config::load_str(Path::new("t.yaml"), CONFIG, &|_| None).unwrap();
    Gateway::new(&loaded.config, &Settings::default()).unwrap()
}

fn plan(gw: &Gateway, name: &str) -> Plan {
    gw.snapshot()
        .plan(name, crate::config::EndpointType::Chat)
        .unwrap()
}

fn needs(deadline: Option<Instant>) -> Needs<'static> {
    Needs {
        call: Call::Chat,
        model: None,
        deadline,
    }
}

fn e503(retry_after: Option<u64>) -> GatewayError {
    GatewayError::Upstream {
        status: 503,
        detail: serde_json::json!("busy"),
        retry_after_secs: retry_after,
    }
}

type Outcome = Result<&'static str, GatewayError>;

/// A scripted attempt function: each call to an endpoint takes the next outcome of its script
/// (the last repeats) and is logged with the (paused) time it started.
#[derive(Clone, Default)]
struct Script {
    outcomes: Arc<Mutex<HashMap<String, Vec<Outcome>>>>,
    log: Arc<Mutex<Vec<(String, Duration, Duration)>>>,
}

impl Script {
    fn on(&self, ep: &str, outcomes: Vec<Outcome>) {
        self.outcomes.lock().unwrap().insert(ep.into(), outcomes);
    }

    fn calls(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.0.clone())
            .collect()
    }

    async fn go(&self, plan: Plan, needs: Needs<'_>) -> Result<&'static str, GatewayError> {
        let start = Instant::now();
        run(plan, needs, |ep, timeout| {
            let name = ep.config.name.clone();
            let mut outcomes = self.outcomes.lock().unwrap();
            let script = outcomes.get_mut(&name).unwrap();
            let outcome = if script.len() > 1 {
                script.remove(0)
            } else {
                script[0].clone()
            };
            self.log
                .lock()
                .unwrap()
                .push((name, start.elapsed(), timeout));
            async move { outcome }
        })
        .await
        .map(|(v, _)| v)
    }
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_with_jitter_between_attempts() {
    let gw = gateway();
    let s = Script::default();
    s.on(
        "a",
        vec![Err(e503(None)), Err(e503(None)), Err(e503(None)), Ok("ok")],
    );
    assert_eq!(s.go(plan(&gw, "a"), needs(None)).await.unwrap(), "ok");
    let log = s.log.lock().unwrap().clone();
    assert_eq!(log.len(), 4);
    let gaps: Vec<Duration> = log.windows(2).map(|w| w[1].1 - w[0].1).collect();
    let secs = |s: f64| Duration::from_secs_f64(s);
    for (gap, (lo, hi)) in gaps.iter().zip([(0.5, 1.0), (1.0, 2.0), (2.0, 4.0)]) {
        assert!(*gap >= secs(lo) && *gap <= secs(hi), "{gaps:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_sets_the_wait() {
    let gw = gateway();
    let s = Script::default();
    s.on("a", vec![Err(e503(Some(5))), Ok("ok")]);
    s.go(plan(&gw, "a"), needs(None)).await.unwrap();
    let log = s.log.lock().unwrap().clone();
    assert_eq!(log[1].1 - log[0].1, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_shortens_attempts_and_stops_retries() {
    let gw = gateway();
    let s = Script::default();
    s.on("a", vec![Err(e503(Some(2)))]);
    let deadline = Instant::now() + Duration::from_secs(3);
    let err = s
        .go(plan(&gw, "a"), needs(Some(deadline)))
        .await
        .unwrap_err();
    // The first attempt's timeout is the 3 s left, not the endpoint's 300 s; after a 2 s
    // Retry-After the second has 1 s; a third would start past the deadline.
    let log = s.log.lock().unwrap().clone();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].2, Duration::from_secs(3));
    assert_eq!(log[1].2, Duration::from_secs(1));
    assert_eq!(err.http_status(), 503);
}

#[tokio::test(start_paused = true)]
async fn fallback_order_budget_and_circuits() {
    let gw = gateway();
    let s = Script::default();
    s.on("b", vec![Err(e503(None))]);
    s.on("c", vec![Err(GatewayError::UpstreamTimeout("t".into()))]);
    s.on("a", vec![Ok("a")]);
    // max_attempts 2: b then c; a is never reached; the last error is the answer.
    let err = s.go(plan(&gw, "ordered"), needs(None)).await.unwrap_err();
    assert_eq!(err.http_status(), 504);
    assert_eq!(s.calls(), ["b", "c"]);
    // b's circuit (threshold 1) is now open: it is skipped, which does not use the budget.
    s.log.lock().unwrap().clear();
    s.on("c", vec![Ok("c")]);
    assert_eq!(s.go(plan(&gw, "ordered"), needs(None)).await.unwrap(), "c");
    assert_eq!(s.calls(), ["c"]);
    // Called directly, an open circuit is a 503 with the time left.
    let err = s.go(plan(&gw, "b"), needs(None)).await.unwrap_err();
    assert_eq!(err.http_status(), 503);
    assert_eq!(err.retry_after_secs(), Some(60));
    tokio::time::advance(Duration::from_secs(60)).await;
    s.on("b", vec![Ok("b")]);
    assert_eq!(s.go(plan(&gw, "b"), needs(None)).await.unwrap(), "b");
}

#[tokio::test(start_paused = true)]
async fn a_split_with_fallback_tries_the_rest_in_config_order() {
    let gw = gateway();
    let s = Script::default();
    s.on("b", vec![Err(e503(None))]);
    s.on(
        "a",
        vec![Err(GatewayError::Upstream {
            status: 500,
            detail: serde_json::json!("x"),
            retry_after_secs: None,
        })],
    );
    s.on("c", vec![Ok("c")]);
    // b is drawn (100%), fails; then a (its 4 attempts), then c.
    assert_eq!(s.go(plan(&gw, "split-fb"), needs(None)).await.unwrap(), "c");
    assert_eq!(s.calls(), ["b", "a", "a", "a", "a", "c"]);
}

#[tokio::test(start_paused = true)]
async fn unsupported_destinations_are_skipped_not_counted() {
    let gw = gateway();
    let s = Script::default();
    s.on("b", vec![Ok("b")]);
    let err = s
        .go(
            plan(&gw, "b"),
            Needs {
                call: Call::Chat,
                model: Some("gpt-x"),
                deadline: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 422);
    assert!(s.calls().is_empty());
}

#[test]
fn the_split_draw_follows_the_weights() {
    let gw = gateway();
    let snap = gw.snapshot();
    let Some(Target::Route(route)) = snap.targets.get("split") else {
        panic!("split is a route");
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..10_000 {
        let order = route.order();
        assert_eq!(order.len(), 1, "no fallback block: one destination");
        *counts.entry(order[0].config.name.clone()).or_default() += 1;
    }
    let a = counts.get("a").copied().unwrap_or(0);
    let b = counts.get("b").copied().unwrap_or(0);
    assert_eq!(a + b, 10_000, "a zero weight is never drawn: {counts:?}");
    assert!((7_600..=8_400).contains(&a), "{counts:?}");
}

#[test]
fn the_split_draw_avoids_open_circuits() {
    let gw = gateway();
    let snap = gw.snapshot();
    let Some(Target::Endpoint(b)) = snap.targets.get("b") else {
        panic!("b is an endpoint");
    };
    b.circuit.as_ref().unwrap().record(Err(&e503(None)));
    let Some(Target::Route(route)) = snap.targets.get("split") else {
        panic!("split is a route");
    };
    for _ in 0..1_000 {
        assert_eq!(route.order()[0].config.name, "a");
    }
}
