//! `/metrics` after known traffic: requests by surface, endpoint, provider, stream flag and
//! outcome on every surface; latencies, time to first token and token usage; rate-limit
//! rejections, retries, fallbacks and circuit states; requests in flight; label values that
//! clients cannot choose; and the two exposition formats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod scripted_upstream;

use std::time::{Duration, Instant};

use common::{CONFIG, TestGateway, chat_request, envelope, grpc_web_frame};
use futures::StreamExt;
use llm_gateway::pb::v1 as pb;
use pb::chat_service_client::ChatServiceClient;
use scripted_upstream::{Answer, Upstream};

const CHAT: &str = r#"{"messages":[{"role":"user","content":"hi"}]}"#;

fn openai_chat(model: &str, stream: bool) -> String {
    format!(
        r#"{{"model":"{model}","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
    )
}

/// One sample line of the text exposition.
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}').unwrap()),
                None => (series, ""),
            };
            let mut pairs = Vec::new();
            let mut rest = labels;
            while !rest.is_empty() {
                let (key, after) = rest.split_once("=\"").unwrap();
                let end = after.find('"').unwrap();
                pairs.push((key.to_owned(), after[..end].to_owned()));
                rest = after[end + 1..].trim_start_matches(',');
            }
            Sample {
                name: name.to_owned(),
                labels: pairs,
                value: value.parse().unwrap(),
            }
        })
        .collect()
}

/// The sum of the samples called `name` that carry every label in `labels`.
fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    parse(text)
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .map(|s| s.value)
        .sum()
}

async fn scrape(gw: &TestGateway) -> String {
    let reply = gw.get("/metrics").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// Scrapes until `name{labels}` sums to `want` (a finished request is counted when its body
/// ends, which the client may see a moment before the server does), then returns the text.
async fn expect(gw: &TestGateway, name: &str, labels: &[(&str, &str)], want: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = scrape(gw).await;
        let got = sum(&text, name, labels);
        if got == want {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{labels:?} = {got}, want {want}\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn rest_requests_are_counted_with_latencies_and_tokens() {
    let gw = TestGateway::start(CONFIG).await;
    for _ in 0..2 {
        assert_eq!(
            gw.post("/v1/chat/completions", &openai_chat("chat", false))
                .await
                .status,
            200
        );
    }
    assert_eq!(gw.post("/gateway/chat/invocations", CHAT).await.status, 200);
    assert_eq!(
        gw.post("/v1/chat/completions", &openai_chat("nope", false))
            .await
            .status,
        404
    );
    assert_eq!(
        gw.post("/v1/embeddings", r#"{"model":"embeddings","input":"x"}"#)
            .await
            .status,
        200
    );

    let ok = [
        ("endpoint", "chat"),
        ("provider", "openai"),
        ("stream", "false"),
        ("status_class", "2xx"),
        ("code", "200"),
    ];
    let text = expect(
        &gw,
        "llm_gateway_requests_total",
        &[&ok[..], &[("surface", "openai-rest")]].concat(),
        2.0,
    )
    .await;
    assert_eq!(
        sum(
            &text,
            "llm_gateway_requests_total",
            &[&ok[..], &[("surface", "mlflow-rest")]].concat()
        ),
        1.0
    );
    let unknown = [
        ("surface", "openai-rest"),
        ("endpoint", ""),
        ("provider", ""),
        ("status_class", "4xx"),
        ("code", "404"),
    ];
    assert_eq!(sum(&text, "llm_gateway_requests_total", &unknown), 1.0);
    // The mock reports 9 prompt and 3 completion tokens per chat call.
    let tokens = |endpoint, ty| {
        sum(
            &text,
            "llm_gateway_tokens_total",
            &[("endpoint", endpoint), ("provider", "openai"), ("type", ty)],
        )
    };
    assert_eq!(tokens("chat", "prompt"), 27.0);
    assert_eq!(tokens("chat", "completion"), 9.0);
    assert_eq!(tokens("embeddings", "prompt"), 8.0);
    // An embeddings endpoint cannot stream: it exports no stream series and no completions.
    assert!(
        !text.contains("llm_gateway_time_to_first_token_seconds_count{endpoint=\"embeddings\"")
    );
    assert!(!text.contains("endpoint=\"embeddings\",provider=\"openai\",type=\"completion\""));
    let chat_upstream = [("endpoint", "chat"), ("stream", "false")];
    assert_eq!(
        sum(
            &text,
            "llm_gateway_upstream_duration_seconds_count",
            &chat_upstream
        ),
        3.0
    );
    assert!(
        sum(
            &text,
            "llm_gateway_upstream_duration_seconds_sum",
            &chat_upstream
        ) > 0.0
    );
    let rest = [("surface", "openai-rest")];
    assert_eq!(
        sum(
            &text,
            "llm_gateway_request_duration_seconds_count",
            &[rest[0], ("stream", "false")]
        ),
        4.0
    );
    assert_eq!(sum(&text, "llm_gateway_overhead_seconds_count", &rest), 4.0);
    // Every bucket bound of the overhead histogram counts at most what the total counts.
    assert!(
        sum(
            &text,
            "llm_gateway_overhead_seconds_bucket",
            &[rest[0], ("le", "+Inf")]
        ) == 4.0
    );
    assert_eq!(sum(&text, "llm_gateway_requests_in_flight", &rest), 0.0);
    // The scrape that rendered this text was itself in flight.
    assert_eq!(
        sum(
            &text,
            "llm_gateway_requests_in_flight",
            &[("surface", "mlflow-rest")]
        ),
        1.0
    );
    assert!(text.contains(&format!(
        "llm_gateway_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
}

#[tokio::test]
async fn grpc_and_grpc_web_outcomes_are_grpc_codes() {
    let gw = TestGateway::start(CONFIG).await;
    let mut client = ChatServiceClient::new(gw.channel().await);
    let reply = client.chat(chat_request("chat")).await.unwrap();
    assert!(reply.metadata().get("x-request-id").is_some());
    let err = client.chat(chat_request("nope")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(
        err.metadata().get("x-request-id").is_some(),
        "errors carry the id too"
    );
    let mut stream = client
        .stream_chat(chat_request("chat"))
        .await
        .unwrap()
        .into_inner();
    while let Some(item) = stream.next().await {
        item.unwrap();
    }
    let web = reqwest::Client::builder().http1_only().build().unwrap();
    let resp = web
        .post(gw.url("/llmgateway.v1.ChatService/Chat"))
        .header("content-type", "application/grpc-web+proto")
        .body(grpc_web_frame(&chat_request("chat")))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("x-request-id").is_some());
    resp.bytes().await.unwrap();

    let grpc = |stream, code, class| {
        vec![
            ("surface", "grpc"),
            ("stream", stream),
            ("code", code),
            ("status_class", class),
        ]
    };
    let text = expect(
        &gw,
        "llm_gateway_requests_total",
        &grpc("true", "OK", "2xx"),
        1.0,
    )
    .await;
    let text_ok = |labels: &[(&str, &str)]| sum(&text, "llm_gateway_requests_total", labels);
    assert_eq!(
        text_ok(
            &[
                &grpc("false", "OK", "2xx")[..],
                &[("endpoint", "chat"), ("provider", "openai")]
            ]
            .concat()
        ),
        1.0
    );
    assert_eq!(
        text_ok(&[&grpc("false", "NOT_FOUND", "4xx")[..], &[("endpoint", "")]].concat()),
        1.0
    );
    let text = expect(
        &gw,
        "llm_gateway_requests_total",
        &[
            ("surface", "grpc-web"),
            ("endpoint", "chat"),
            ("code", "OK"),
        ],
        1.0,
    )
    .await;
    // The stream committed once: one time to first token, and its usage chunk was counted.
    assert_eq!(
        sum(
            &text,
            "llm_gateway_time_to_first_token_seconds_count",
            &[("endpoint", "chat")]
        ),
        1.0
    );
    assert_eq!(
        sum(
            &text,
            "llm_gateway_upstream_duration_seconds_count",
            &[("endpoint", "chat"), ("stream", "true")]
        ),
        1.0
    );
    assert_eq!(
        sum(
            &text,
            "llm_gateway_tokens_total",
            &[("endpoint", "chat"), ("type", "prompt")]
        ),
        27.0
    );
}

#[tokio::test]
async fn sse_streams_report_ttft_usage_and_failures_after_the_start() {
    let gw = TestGateway::start(CONFIG).await;
    let ok = gw
        .post("/v1/chat/completions", &openai_chat("chat", true))
        .await;
    assert_eq!(ok.status, 200);
    assert!(ok.body.ends_with("data: [DONE]\n\n"));
    let failed = gw
        .post("/v1/chat/completions", &openai_chat("stream-error", true))
        .await;
    assert_eq!(
        failed.status, 200,
        "the failure came after the response started"
    );
    assert!(failed.body.contains("upstream exploded"));

    let stream_ok = [("endpoint", "chat"), ("stream", "true"), ("code", "200")];
    let text = expect(&gw, "llm_gateway_requests_total", &stream_ok, 1.0).await;
    assert_eq!(
        sum(
            &text,
            "llm_gateway_time_to_first_token_seconds_count",
            &[("endpoint", "chat")]
        ),
        1.0
    );
    assert_eq!(
        sum(
            &text,
            "llm_gateway_tokens_total",
            &[("endpoint", "chat"), ("type", "completion")]
        ),
        3.0
    );
    // Counted by the error it ended with, not by the 200 that began it.
    let text = expect(
        &gw,
        "llm_gateway_requests_total",
        &[
            ("endpoint", "stream-error"),
            ("stream", "true"),
            ("status_class", "5xx"),
        ],
        1.0,
    )
    .await;
    assert_eq!(
        sum(
            &text,
            "llm_gateway_requests_total",
            &[("endpoint", "stream-error"), ("code", "200")]
        ),
        0.0
    );
}

#[tokio::test]
async fn client_chosen_names_never_become_label_values() {
    let gw = TestGateway::start(CONFIG).await;
    let name = "attacker-chosen-name-1234";
    gw.post(&format!("/gateway/{name}/invocations"), CHAT).await;
    gw.post(&format!("/endpoints/{name}/invocations"), CHAT)
        .await;
    gw.post("/v1/chat/completions", &openai_chat(name, false))
        .await;
    gw.post(&format!("/{name}"), "").await;
    let mut client = ChatServiceClient::new(gw.channel().await);
    client.chat(chat_request(name)).await.unwrap_err();
    let text = expect(
        &gw,
        "llm_gateway_requests_total",
        &[("endpoint", ""), ("status_class", "4xx")],
        5.0,
    )
    .await;
    assert!(!text.contains(name), "{text}");
}

#[tokio::test]
async fn openmetrics_when_the_scraper_asks_for_it() {
    let gw = TestGateway::start(CONFIG).await;
    gw.get("/health").await;
    let plain = gw.get("/metrics").await;
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(
        plain
            .body
            .contains("# TYPE llm_gateway_requests_total counter")
    );
    assert!(!plain.body.contains("# EOF"));
    let resp = gw
        .http
        .get(gw.url("/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("# TYPE llm_gateway_requests counter"),
        "{body}"
    );
    assert!(body.ends_with("# EOF\n"));
}

const ROUTING: &str = r#"
endpoints:
  - name: retrying
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m-a, config: {openai_api_key: k, openai_api_base: "{UP}/a/v1"}}
    retries: {max_attempts: 3, initial_backoff_seconds: 0.001, max_backoff_seconds: 0.01}
  - name: primary
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m-b, config: {openai_api_key: k, openai_api_base: "{UP}/b/v1"}}
  - name: secondary
    endpoint_type: llm/v1/chat
    model: {provider: groq, name: m-c, config: {api_key: k, api_base: "{UP}/c/v1"}}
  - name: fragile
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m-d, config: {openai_api_key: k, openai_api_base: "{UP}/d/v1"}}
    circuit_breaker: {failure_threshold: 2, cooldown_seconds: 60}
  - name: limited
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: m-f, config: {openai_api_key: k, openai_api_base: "{UP}/f/v1"}}
    limit: {calls: 1, renewal_period: minute}
routes:
  - name: fallback
    task_type: llm/v1/chat
    routing_strategy: FALLBACK
    destinations: [{name: primary}, {name: secondary}]
    fallback: {on: [server_error]}
"#;

fn openai_ok() -> Answer {
    Answer::json(serde_json::json!({
        "id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    }))
}

fn e500() -> Answer {
    Answer::raw(500, "application/json", r#"{"error":{"message":"boom"}}"#)
}

#[tokio::test]
async fn retries_fallbacks_circuits_and_rate_limits_are_counted() {
    let up = Upstream::start().await;
    let gw = TestGateway::start(&ROUTING.replace("{UP}", &up.base)).await;
    up.on_seq("/a/v1/chat/completions", vec![e500(), openai_ok()]);
    up.on("/b/v1/chat/completions", e500());
    up.on("/c/v1/chat/completions", openai_ok());
    up.on("/d/v1/chat/completions", e500());
    up.on("/f/v1/chat/completions", openai_ok());

    assert_eq!(
        gw.post("/gateway/retrying/invocations", CHAT).await.status,
        200
    );
    assert_eq!(
        gw.post("/gateway/fallback/invocations", CHAT).await.status,
        200
    );
    for _ in 0..2 {
        assert_eq!(
            gw.post("/gateway/fragile/invocations", CHAT).await.status,
            500
        );
    }
    assert_eq!(
        gw.post("/gateway/fragile/invocations", CHAT).await.status,
        503
    );
    assert_eq!(
        gw.post("/gateway/limited/invocations", CHAT).await.status,
        200
    );
    assert_eq!(
        gw.post("/gateway/limited/invocations", CHAT).await.status,
        429
    );

    let text = expect(
        &gw,
        "llm_gateway_rate_limited_total",
        &[("endpoint", "limited")],
        1.0,
    )
    .await;
    let text = {
        let labels = [
            ("endpoint", "limited"),
            ("code", "429"),
            ("status_class", "4xx"),
        ];
        assert_eq!(
            sum(&text, "llm_gateway_requests_total", &labels),
            1.0,
            "{text}"
        );
        text
    };
    assert_eq!(
        sum(
            &text,
            "llm_gateway_upstream_retries_total",
            &[("endpoint", "retrying")]
        ),
        1.0
    );
    assert_eq!(
        sum(
            &text,
            "llm_gateway_upstream_duration_seconds_count",
            &[("endpoint", "retrying")]
        ),
        2.0
    );
    assert_eq!(
        sum(
            &text,
            "llm_gateway_fallbacks_total",
            &[("route", "fallback")]
        ),
        1.0
    );
    // The route's answer is counted under the destination that served it, with its provider.
    let served = [
        ("endpoint", "secondary"),
        ("provider", "groq"),
        ("code", "200"),
    ];
    assert_eq!(sum(&text, "llm_gateway_requests_total", &served), 1.0);
    assert_eq!(
        sum(
            &text,
            "llm_gateway_tokens_total",
            &[("endpoint", "secondary"), ("type", "prompt")]
        ),
        4.0
    );
    assert_eq!(
        sum(
            &text,
            "llm_gateway_circuit_state",
            &[("endpoint", "fragile")]
        ),
        1.0
    );
    assert_eq!(
        sum(
            &text,
            "llm_gateway_requests_total",
            &[("endpoint", "fragile"), ("code", "503")]
        ),
        1.0
    );
}

#[test]
fn a_reload_keeps_counters_and_drops_the_state_of_removed_breakers() {
    use llm_gateway::service::{Gateway, Settings};
    use llm_gateway::telemetry::metrics::Exposition;
    let load = |yaml: &str| {
        let yaml = yaml.replace("{UP}", "http://127.0.0.1:9");
        llm_gateway::config::load_str(std::path::Path::new("t.yaml"), &yaml, &|_| None)
            .unwrap()
            .config
    };
    let gw = Gateway::new(&load(ROUTING), &Settings::default()).unwrap();
    let metrics = gw.metrics().clone();
    let render = || metrics.render(Exposition::Prometheus).unwrap();
    let text = render();
    assert_eq!(
        sum(
            &text,
            "llm_gateway_circuit_state",
            &[("endpoint", "fragile")]
        ),
        0.0
    );
    assert!(text.contains("llm_gateway_circuit_state{endpoint=\"fragile\"} 0"));
    assert!(text.contains("llm_gateway_rate_limited_total{endpoint=\"limited\"} 0"));
    // Series exist from the start for what each endpoint's config can produce, and only that.
    assert!(text.contains(
        "llm_gateway_upstream_retries_total{endpoint=\"retrying\",provider=\"openai\"} 0"
    ));
    assert!(!text.contains("llm_gateway_upstream_retries_total{endpoint=\"primary\""));
    assert!(!text.contains("llm_gateway_rate_limited_total{endpoint=\"primary\""));
    assert!(!text.contains("llm_gateway_circuit_state{endpoint=\"primary\""));
    let without_breaker = ROUTING.replace(
        "    circuit_breaker: {failure_threshold: 2, cooldown_seconds: 60}\n",
        "",
    );
    gw.reload(&load(&without_breaker)).unwrap();
    let text = render();
    assert!(!text.contains("llm_gateway_circuit_state{"), "{text}");
    assert!(text.contains("llm_gateway_rate_limited_total{endpoint=\"limited\"} 0"));
}

#[tokio::test]
async fn a_connect_stream_refused_before_dispatch_counts_as_its_error() {
    let gw = TestGateway::start(
        r#"
endpoints:
  - {name: chat, endpoint_type: llm/v1/chat, model: {provider: mock, name: m}}
api_keys:
  - {name: team, key: team-key-0123456789}
"#,
    )
    .await;
    // No key: the answer is an HTTP 200 whose end-of-stream message is `unauthenticated`.
    let body = serde_json::to_vec(&chat_request("chat")).unwrap();
    let resp = gw
        .http
        .post(gw.url("/llmgateway.v1.ChatService/StreamChat"))
        .header("content-type", "application/connect+json")
        .body(envelope(0, &body))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer = resp.bytes().await.unwrap();
    assert!(
        String::from_utf8_lossy(&answer).contains("unauthenticated"),
        "{answer:?}"
    );
    let labels = [("surface", "connect"), ("code", "401")];
    let text = expect(&gw, "llm_gateway_requests_total", &labels, 1.0).await;
    assert_eq!(
        sum(
            &text,
            "llm_gateway_requests_total",
            &[("surface", "connect"), ("code", "200")]
        ),
        0.0,
        "{text}"
    );
}
