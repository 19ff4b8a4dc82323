//! The gateway's Prometheus metrics: one registry per [`crate::service::Gateway`], its metric
//! families, and their rendering in the Prometheus text format (0.0.4) or OpenMetrics.
//!
//! Label values come only from bounded sets (docs/metrics.md lists them): configured endpoint
//! and route names (held as `Arc<str>`, shared with the running config), provider kinds,
//! [`Surface`], [`Code`] and the stream flag. A request naming an endpoint that is not
//! configured is counted under `endpoint=""`, so clients cannot mint series.
//!
//! The per-endpoint series are resolved once, when a config is loaded, into an
//! [`EndpointMetrics`] the endpoint keeps; the per-surface ones are resolved at start. The
//! request path then touches atomics and histogram buckets only, plus one family lookup for the
//! request counter (whose labels are known only at the end).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use super::labels::{Code, Surface};

type Histograms<S> = Family<S, Histogram, fn() -> Histogram>;

/// Latencies (request, upstream, time to first token): 5 ms to about 164 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 16))
}

/// The gateway's own time per request: 10 µs to about 330 ms.
fn overhead_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 2.0, 16))
}

fn put(enc: &mut LabelSetEncoder, key: &'static str, value: &str) -> fmt::Result {
    EncodeLabel::encode(&(key, value), enc.encode_label())
}

fn flag(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// `llm_gateway_requests_total`'s labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct RequestLabels {
    pub surface: Surface,
    pub endpoint: Option<Arc<str>>,
    pub provider: &'static str,
    pub stream: bool,
    pub code: Code,
}

impl EncodeLabelSet for RequestLabels {
    fn encode(&self, enc: &mut LabelSetEncoder) -> fmt::Result {
        put(enc, "surface", self.surface.as_str())?;
        put(enc, "endpoint", self.endpoint.as_deref().unwrap_or(""))?;
        put(enc, "provider", self.provider)?;
        put(enc, "stream", flag(self.stream))?;
        put(enc, "status_class", self.code.class())?;
        EncodeLabel::encode(&("code", self.code.label()), enc.encode_label())
    }
}

/// An endpoint's series: its name, its provider kind, and at most one more label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EndpointLabels {
    endpoint: Arc<str>,
    provider: &'static str,
    extra: Option<(&'static str, &'static str)>,
}

impl EncodeLabelSet for EndpointLabels {
    fn encode(&self, enc: &mut LabelSetEncoder) -> fmt::Result {
        put(enc, "endpoint", &self.endpoint)?;
        put(enc, "provider", self.provider)?;
        match self.extra {
            Some((key, value)) => put(enc, key, value),
            None => Ok(()),
        }
    }
}

/// A series named by one configured name (`endpoint` or `route`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Named(&'static str, Arc<str>);

impl EncodeLabelSet for Named {
    fn encode(&self, enc: &mut LabelSetEncoder) -> fmt::Result {
        put(enc, self.0, &self.1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SurfaceLabels(Surface, Option<bool>);

impl EncodeLabelSet for SurfaceLabels {
    fn encode(&self, enc: &mut LabelSetEncoder) -> fmt::Result {
        put(enc, "surface", self.0.as_str())?;
        match self.1 {
            Some(stream) => put(enc, "stream", flag(stream)),
            None => Ok(()),
        }
    }
}

/// Which text format `/metrics` answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    /// The Prometheus text format 0.0.4 (the default).
    Prometheus,
    /// OpenMetrics 1.0 text, for scrapers that ask for it in `Accept`.
    OpenMetrics,
}

impl Exposition {
    /// OpenMetrics when `accept` asks for it, else the Prometheus text format.
    pub fn negotiate(accept: Option<&http::HeaderValue>) -> Exposition {
        let wants_openmetrics = accept.is_some_and(|a| {
            a.as_bytes()
                .windows(b"application/openmetrics-text".len())
                .any(|w| w.eq_ignore_ascii_case(b"application/openmetrics-text"))
        });
        if wants_openmetrics {
            Exposition::OpenMetrics
        } else {
            Exposition::Prometheus
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Exposition::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Exposition::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Every metric of one gateway.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    in_flight: [Gauge; Surface::ALL.len()],
    shed: [Counter; Surface::ALL.len()],
    duration: [[Histogram; 2]; Surface::ALL.len()],
    overhead: [Histogram; Surface::ALL.len()],
    upstream: Histograms<EndpointLabels>,
    ttft: Histograms<EndpointLabels>,
    tokens: Family<EndpointLabels, Counter>,
    retries: Family<EndpointLabels, Counter>,
    rate_limited: Family<Named, Counter>,
    fallbacks: Family<Named, Counter>,
    circuit: Family<Named, Gauge>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every family registered and the per-surface series created.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("llm_gateway");
        registry.register(
            "build",
            "The running gateway's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by surface, endpoint, provider, stream flag and outcome",
            requests.clone(),
        );
        let in_flight_family = Family::<SurfaceLabels, Gauge>::default();
        registry.register(
            "requests_in_flight",
            "Requests being served now (a stream counts until its body ends)",
            in_flight_family.clone(),
        );
        let shed_family = Family::<SurfaceLabels, Counter>::default();
        registry.register(
            "requests_shed",
            "Requests refused at once because the gateway was at --max-in-flight (503 / RESOURCE_EXHAUSTED)",
            shed_family.clone(),
        );
        let duration_family: Histograms<SurfaceLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "request_duration",
            "Time from a request's arrival to the end of its response body",
            Unit::Seconds,
            duration_family.clone(),
        );
        let overhead_family: Histograms<SurfaceLabels> =
            Family::new_with_constructor(overhead_histogram);
        registry.register_with_unit(
            "overhead",
            "The gateway's own time per request: until the response head, less upstream attempts and retry backoff",
            Unit::Seconds,
            overhead_family.clone(),
        );
        let upstream: Histograms<EndpointLabels> = Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "upstream_duration",
            "One upstream attempt (for streams: until the first event)",
            Unit::Seconds,
            upstream.clone(),
        );
        let ttft: Histograms<EndpointLabels> = Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "time_to_first_token",
            "Streams: time from the request's arrival to the first upstream event",
            Unit::Seconds,
            ttft.clone(),
        );
        let tokens = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "tokens",
            "Tokens reported by upstream usage, by type (prompt or completion)",
            tokens.clone(),
        );
        let retries = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "upstream_retries",
            "Upstream attempts retried on the same endpoint",
            retries.clone(),
        );
        let rate_limited = Family::<Named, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused by an endpoint's rate limit (429)",
            rate_limited.clone(),
        );
        let fallbacks = Family::<Named, Counter>::default();
        registry.register(
            "fallbacks",
            "Times a route moved on to its next destination",
            fallbacks.clone(),
        );
        let circuit = Family::<Named, Gauge>::default();
        registry.register(
            "circuit_state",
            "An endpoint's circuit breaker: 0 closed, 1 open, 2 half-open",
            circuit.clone(),
        );
        let in_flight =
            Surface::ALL.map(|s| in_flight_family.get_or_create_owned(&SurfaceLabels(s, None)));
        let shed = Surface::ALL.map(|s| shed_family.get_or_create_owned(&SurfaceLabels(s, None)));
        let overhead =
            Surface::ALL.map(|s| overhead_family.get_or_create_owned(&SurfaceLabels(s, None)));
        let duration = Surface::ALL.map(|s| {
            [false, true]
                .map(|stream| duration_family.get_or_create_owned(&SurfaceLabels(s, Some(stream))))
        });
        Metrics {
            registry,
            requests,
            in_flight,
            shed,
            duration,
            overhead,
            upstream,
            ttft,
            tokens,
            retries,
            rate_limited,
            fallbacks,
            circuit,
        }
    }

    /// The series of one configured endpoint, resolved once per config load. Those its config
    /// can never produce (`produces`) are left out of the exposition: their handles count
    /// nowhere.
    pub fn endpoint(
        &self,
        name: &str,
        provider: &'static str,
        produces: Produces,
    ) -> Arc<EndpointMetrics> {
        let name: Arc<str> = Arc::from(name);
        let labels = |extra| EndpointLabels {
            endpoint: name.clone(),
            provider,
            extra,
        };
        let stream = |s| Some(("stream", flag(s)));
        let streaming = |family: &Histograms<EndpointLabels>, extra| {
            if produces.streams {
                family.get_or_create_owned(&labels(extra))
            } else {
                latency_histogram()
            }
        };
        let counter = |on: bool, family: &Family<EndpointLabels, Counter>, extra| {
            if on {
                family.get_or_create_owned(&labels(extra))
            } else {
                Counter::default()
            }
        };
        Arc::new(EndpointMetrics {
            upstream: [
                self.upstream.get_or_create_owned(&labels(stream(false))),
                streaming(&self.upstream, stream(true)),
            ],
            ttft: streaming(&self.ttft, None),
            prompt_tokens: counter(true, &self.tokens, Some(("type", "prompt"))),
            completion_tokens: counter(
                produces.streams,
                &self.tokens,
                Some(("type", "completion")),
            ),
            retries: counter(produces.retries, &self.retries, None),
            rate_limited: if produces.limit {
                self.rate_limited
                    .get_or_create_owned(&Named("endpoint", name.clone()))
            } else {
                Counter::default()
            },
            name,
            provider,
        })
    }

    /// The fallback counter of a configured route.
    pub fn route_fallbacks(&self, route: &str) -> Counter {
        self.fallbacks
            .get_or_create_owned(&Named("route", Arc::from(route)))
    }

    /// The circuit-state gauge of a configured endpoint with a breaker.
    pub fn circuit_state(&self, endpoint: &str) -> Gauge {
        self.circuit
            .get_or_create_owned(&Named("endpoint", Arc::from(endpoint)))
    }

    /// Drops the circuit-state series of an endpoint that no longer has a breaker, so a stale
    /// state is not reported forever.
    pub fn forget_circuit(&self, endpoint: &str) {
        self.circuit.remove(&Named("endpoint", Arc::from(endpoint)));
    }

    /// Everything, in `format`.
    pub fn render(&self, format: Exposition) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(32 * 1024);
        match format {
            Exposition::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
            }
            Exposition::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
            }
        }
        Ok(out)
    }

    /// Counts a request shed by [`crate::guard::LoadShedLayer`].
    pub fn shed(&self, surface: Surface) {
        self.shed[surface.index()].inc();
    }

    pub(super) fn in_flight(&self, surface: Surface) -> &Gauge {
        &self.in_flight[surface.index()]
    }

    /// Counts one finished request, with its total and overhead times.
    pub(super) fn finished(
        &self,
        labels: &RequestLabels,
        total: Duration,
        overhead: Option<Duration>,
    ) {
        let s = labels.surface.index();
        self.requests.get_or_create(labels).inc();
        self.duration[s][usize::from(labels.stream)].observe(total.as_secs_f64());
        if let Some(o) = overhead {
            self.overhead[s].observe(o.as_secs_f64());
        }
    }
}

/// Which per-endpoint series an endpoint's config can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produces {
    /// Streams, time to first token and completion tokens (chat and completions endpoints).
    pub streams: bool,
    /// Retries (a `retries:` policy).
    pub retries: bool,
    /// Rate-limit rejections (a `limit:`).
    pub limit: bool,
}

impl Produces {
    /// Everything (for tests and tools that do not know the config).
    pub const ALL: Produces = Produces {
        streams: true,
        retries: true,
        limit: true,
    };
}

/// One endpoint's series, kept by the endpoint while its config is loaded.
#[derive(Debug)]
pub struct EndpointMetrics {
    name: Arc<str>,
    provider: &'static str,
    upstream: [Histogram; 2],
    ttft: Histogram,
    prompt_tokens: Counter,
    completion_tokens: Counter,
    retries: Counter,
    rate_limited: Counter,
}

impl EndpointMetrics {
    /// The endpoint's name, as the `endpoint` label carries it.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The endpoint's provider kind.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// One upstream attempt took `took`.
    pub fn upstream_attempt(&self, stream: bool, took: Duration) {
        self.upstream[usize::from(stream)].observe(took.as_secs_f64());
    }

    /// An attempt is being retried.
    pub fn retried(&self) {
        self.retries.inc();
    }

    /// The rate limit refused a request.
    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    pub(super) fn first_token(&self, after: Duration) {
        self.ttft.observe(after.as_secs_f64());
    }

    pub(super) fn tokens(&self, prompt: Option<u64>, completion: Option<u64>) {
        if let Some(n) = prompt {
            self.prompt_tokens.inc_by(n);
        }
        if let Some(n) = completion {
            self.completion_tokens.inc_by(n);
        }
    }
}
