//! SIGTERM under load: when the drain begins (what `main` does on SIGTERM), every request the
//! gateway has accepted finishes, streams included, while clients keep sending; the listener
//! stops taking connections; nothing is cut mid-answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::TestGateway;
use tokio::time::Instant;

/// A fast endpoint and one whose upstream takes 2 s (the mock's `slow` model), no timeouts.
const CONFIG: &str = r#"
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: gpt-4o-mini, config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}}
  - name: slow
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: slow, config: {openai_api_key: sk-test-key, openai_api_base: "{MOCK}/v1"}}
"#;

const DEADLINE: Duration = Duration::from_secs(20);

fn body(endpoint: &str, stream: bool) -> String {
    format!(
        r#"{{"model":"{endpoint}","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
    )
}

/// A whole answer: 200, and for a stream, the `[DONE]` that ends a complete one.
fn complete(status: u16, text: &str, stream: bool) -> bool {
    status == 200
        && if stream {
            text.ends_with("data: [DONE]\n\n")
        } else {
            text.contains("\"choices\"")
        }
}

#[tokio::test]
async fn no_accepted_request_fails_when_the_drain_begins_under_load() {
    const SLOW: usize = 6;
    const CLIENTS: usize = 6;
    let mut gw = TestGateway::start(CONFIG).await;
    let url = gw.url("/v1/chat/completions");

    // Requests waiting on their upstream when the drain begins, half of them streams.
    let mut slow = tokio::task::JoinSet::new();
    for i in 0..SLOW {
        let (http, url, stream) = (gw.http.clone(), url.clone(), i % 2 == 0);
        slow.spawn(async move {
            let resp = http
                .post(&url)
                .header("content-type", "application/json")
                .body(body("slow", stream))
                .send()
                .await?;
            let status = resp.status().as_u16();
            let text = resp.text().await?;
            Ok::<_, reqwest::Error>((status, text, stream))
        });
    }
    // Clients sending fast requests all along, over keep-alive connections.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let (url, stop, done) = (url.clone(), stop.clone(), done.clone());
        clients.spawn(async move {
            let http = reqwest::Client::new();
            let mut failures = Vec::new();
            let mut n = client;
            while !stop.load(Ordering::Relaxed) {
                let stream = n % 2 == 0;
                n += 1;
                let request = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body("chat", stream));
                let resp = match request.send().await {
                    Ok(resp) => resp,
                    // Once the listener is closed, a new connection is refused: the request was
                    // never accepted. That is the end of this client's run.
                    Err(e) if e.is_connect() => break,
                    Err(e) => {
                        failures.push(format!("send: {e:?}"));
                        break;
                    }
                };
                let status = resp.status().as_u16();
                match resp.text().await {
                    Ok(text) if complete(status, &text, stream) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(text) => failures.push(format!("{status}: {text}")),
                    Err(e) => failures.push(format!("body: {e:?}")),
                }
            }
            failures
        });
    }

    // Begin the drain once every slow request is at the upstream and the clients are busy.
    let until = Instant::now() + DEADLINE;
    let at_upstream = |gw: &TestGateway| {
        gw.mock
            .requests()
            .iter()
            .filter(|r| {
                serde_json::from_slice::<serde_json::Value>(&r.body)
                    .is_ok_and(|v| v["model"] == "slow")
            })
            .count()
    };
    while at_upstream(&gw) < SLOW || done.load(Ordering::Relaxed) < CLIENTS * 5 {
        assert!(
            Instant::now() < until,
            "the load never got going: {} slow at the upstream, {} done",
            at_upstream(&gw),
            done.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = done.load(Ordering::Relaxed);
    gw.shutdown();

    // The requests in flight finish, as complete answers.
    while let Some(joined) = slow.join_next().await {
        let (status, text, stream) = joined.unwrap().expect("an accepted request failed");
        assert!(
            complete(status, &text, stream),
            "cut by the drain: {status} {text}"
        );
    }
    // New connections are refused once the drain has begun.
    let addr = gw.addr;
    let refused = async {
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(DEADLINE, refused)
        .await
        .expect("the listener still accepts after the drain began");
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    while let Some(joined) = clients.join_next().await {
        failures.extend(joined.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(before >= CLIENTS * 5);
}
