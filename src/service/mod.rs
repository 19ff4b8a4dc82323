//! The unified services every surface calls: chat, streamed chat, completions, streamed
//! completions, embeddings, and endpoint discovery, on the proto model.
//!
//! A [`Gateway`] serves one loaded config at a time, held as an immutable [`Snapshot`]: each
//! endpoint with its provider (URLs, headers, a shared pooled client), rate limiter and
//! circuit breaker, each route with its destinations. A request takes the current snapshot once
//! and keeps it to the end, so [`Gateway::reload`] can swap in a new config atomically while
//! calls in flight finish on the one they started with. A reload keeps the HTTP clients (and
//! their connection pools) and carries over the limit counters and circuit state of endpoints
//! whose limit or breaker policy did not change.
//!
//! A request names an endpoint or a route; the service validates it (one set of rules for
//! every surface), plans the destinations (`dispatch`), and runs the plan with the endpoint's
//! timeouts, retries, fallbacks and breakers, then stamps the serving provider on the answer.
//! Along the way it reports to the request's telemetry record ([`crate::telemetry`]): the
//! target named, each destination tried and its upstream time, the usage of the answer, and a
//! stream's commit and end; per-endpoint metric series are resolved when a config is built.
//!
//! Streams follow the commit rule of design.md §3.5: the upstream is opened and its first event
//! read before a stream is returned, so a failure to open is an ordinary error the surface can
//! still answer with a real status (and that retries and fallbacks act on); after that, the
//! stream ends with at most one error item.

mod dispatch;
#[cfg(test)]
mod dispatch_tests;
pub mod validate;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine as _;
use futures::StreamExt;
use tokio::time::Instant;

use crate::auth::{Access, KeySet};
use crate::config::{Endpoint, EndpointType, GatewayConfig, RoutingStrategy, TrafficRoute};
use crate::error::GatewayError;
use crate::otel;
use crate::pb::v1 as pb;
use crate::providers::http::build_client;
use crate::providers::{Call, ChunkStream, Provider};
use crate::routing::circuit::Circuit;
use crate::routing::ratelimit::{Family, LimitStore, Limiter};
use crate::telemetry::metrics::Produces;
use crate::telemetry::{self, BodyLog, EndpointMetrics, Metrics};

use dispatch::{Needs, Plan};

/// MLflow's page size for endpoint listings.
pub const DEFAULT_PAGE_SIZE: usize = 3000;

/// Process-wide settings that are not part of the MLflow config file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Upstream timeout for endpoints without their own (`MLFLOW_GATEWAY_ROUTE_TIMEOUT_SECONDS`).
    pub default_timeout: Duration,
    /// Upstream connect timeout.
    pub connect_timeout: Duration,
    /// Where rate-limit counters live.
    pub limit_store: LimitStore,
    /// `--log-bodies`: log request and response bodies (redacted) at DEBUG.
    pub log_bodies: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            limit_store: LimitStore::default(),
            log_bodies: false,
        }
    }
}

/// Per-call options a surface passes along with the request.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// When the client stops waiting (a gRPC `grpc-timeout`, a Connect timeout): attempts are
    /// shortened to it and no retry or fallback starts after it.
    pub deadline: Option<Instant>,
    /// Count the call against the endpoint's rate limit as this caller, after validation (so
    /// an invalid request costs no quota). The MLflow REST routes count before calling, in
    /// MLflow's order, and leave this `None`.
    pub caller: Option<(Family, IpAddr)>,
    /// What the caller's API key allows, as authentication found it (the default, "not
    /// checked", is refused while API keys are configured).
    pub access: Access,
}

impl CallOptions {
    /// The options of an RPC call (gRPC, grpc-web, Connect): the client's deadline, the peer
    /// address counted in the RPC rate-limit family (one quota whichever RPC protocol is used),
    /// and what authentication allowed.
    pub fn rpc(extensions: &http::Extensions, deadline: Option<Instant>) -> CallOptions {
        CallOptions {
            deadline,
            caller: extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|ci| (Family::Grpc, ci.0.ip())),
            access: Access::of(extensions),
        }
    }
}

/// An endpoint ready to serve.
#[derive(Debug)]
pub struct EndpointRuntime {
    /// Its validated config.
    pub config: Endpoint,
    /// Its provider.
    pub provider: Provider,
    /// Its upstream timeout.
    pub timeout: Duration,
    /// Its rate-limit counters, when it has a `limit`.
    pub limiter: Option<Limiter>,
    /// Its circuit breaker, when it has a `circuit_breaker`.
    pub circuit: Option<Arc<Circuit>>,
    /// Its metric series.
    pub metrics: Arc<EndpointMetrics>,
}

impl EndpointRuntime {
    /// Whether this endpoint's provider can serve `call` with the client's `model`.
    fn can_serve(&self, call: Call, model: Option<&str>) -> Result<(), GatewayError> {
        if !self.provider.supports(call) {
            return Err(call.not_implemented(self.provider.kind()));
        }
        if model.is_some() && !self.provider.accepts_model() {
            return Err(GatewayError::Unprocessable(MODEL_NOT_PERMITTED.into()));
        }
        Ok(())
    }
}

#[derive(Debug)]
struct RouteRuntime {
    config: TrafficRoute,
    /// Its name, as metrics label it.
    name: Arc<str>,
    /// Counts moves to a next destination.
    fallbacks: prometheus_client::metrics::counter::Counter,
    /// Destinations in config order, with their weights.
    destinations: Vec<(u32, Arc<EndpointRuntime>)>,
}

#[derive(Debug)]
enum Target {
    Endpoint(Arc<EndpointRuntime>),
    Route(Arc<RouteRuntime>),
}

/// One loaded config, ready to serve; immutable once built.
#[derive(Debug)]
pub struct Snapshot {
    endpoints: Vec<Arc<EndpointRuntime>>,
    targets: HashMap<String, Target>,
    /// The gateway API keys; `None` = no authentication.
    keys: Option<KeySet>,
    /// Where bodies are logged (`--log-bodies`), redacting this config's secrets.
    bodies: BodyLog,
}

#[derive(Debug)]
struct Shared {
    current: ArcSwap<Snapshot>,
    settings: Settings,
    /// One pooled client per distinct connect timeout, kept across reloads.
    clients: Mutex<HashMap<Duration, reqwest::Client>>,
    /// This gateway's metrics, kept across reloads.
    metrics: Arc<Metrics>,
}

/// The gateway's services over the current config. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

/// Why a config could not be turned into a running gateway.
#[derive(Debug, thiserror::Error)]
#[error("endpoint '{endpoint}': {message}")]
pub struct StartError {
    /// The endpoint that failed.
    pub endpoint: String,
    /// What was wrong.
    pub message: String,
}

impl Gateway {
    /// Builds every endpoint's provider and every route's destinations.
    pub fn new(config: &GatewayConfig, settings: &Settings) -> Result<Gateway, StartError> {
        let shared = Shared {
            current: ArcSwap::from_pointee(Snapshot {
                endpoints: Vec::new(),
                targets: HashMap::new(),
                keys: None,
                bodies: BodyLog::default(),
            }),
            settings: settings.clone(),
            clients: Mutex::new(HashMap::new()),
            metrics: Arc::new(Metrics::new()),
        };
        let snapshot = shared.build(config, None)?;
        shared.current.store(Arc::new(snapshot));
        Ok(Gateway {
            shared: Arc::new(shared),
        })
    }

    /// Swaps in `config`. Calls in flight finish on the config they started with; new calls
    /// see the new one. On error the current config stays.
    pub fn reload(&self, config: &GatewayConfig) -> Result<(), StartError> {
        let previous = self.shared.current.load_full();
        let next = self.shared.build(config, Some(&previous))?;
        for ep in &previous.endpoints {
            if ep.circuit.is_some() && !next.has_circuit(&ep.config.name) {
                self.shared.metrics.forget_circuit(&ep.config.name);
            }
        }
        self.shared.current.store(Arc::new(next));
        Ok(())
    }

    /// This gateway's metrics (`/metrics`, the telemetry layer).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// With `--log-bodies`, logs the current request's body (before validation: the requests
    /// that fail it are the ones worth reading).
    /// What every call does before dispatch: log the body (with `--log-bodies`), validate,
    /// take the current snapshot (kept to the end of the call), authorise, count the rate
    /// limit, and plan the destinations.
    async fn prepare<R: CallRequest>(
        &self,
        req: &R,
        opts: &CallOptions,
    ) -> Result<(Arc<Snapshot>, Plan), GatewayError> {
        self.log_request(req);
        req.validate()?;
        let snap = self.snapshot();
        let plan = snap.admit(req.endpoint(), R::TYPE, opts).await?;
        Ok((snap, plan))
    }

    fn log_request(&self, req: &dyn std::fmt::Debug) {
        if self.shared.settings.log_bodies {
            self.snapshot().bodies.current("request", req);
        }
    }

    /// Reports a unary answer's token usage and, with `--log-bodies`, its body.
    fn answered<T: telemetry::stream::Usage + std::fmt::Debug>(&self, snap: &Snapshot, resp: &T) {
        telemetry::with_call(|r| r.usage(resp.usage()));
        snap.bodies.current("response", resp);
    }

    /// The config being served now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.current.load_full()
    }

    /// The type of the endpoint or route called `name`, if there is one.
    pub fn target_type(&self, name: &str) -> Option<EndpointType> {
        self.snapshot().target_type(name)
    }

    /// Counts an MLflow invocation against the endpoint's rate limit (spec §4: only the two
    /// invocation URL families are limited, per client IP; traffic routes never are).
    pub async fn check_limit(
        &self,
        name: &str,
        family: Family,
        client: IpAddr,
    ) -> Result<(), GatewayError> {
        self.snapshot().check_limit(name, family, client).await
    }

    /// One chat completion.
    pub async fn chat(
        &self,
        req: pb::ChatRequest,
        opts: CallOptions,
    ) -> Result<pb::ChatResponse, GatewayError> {
        let (snap, plan) = self.prepare(&req, &opts).await?;
        let needs = needs(Call::Chat, CallRequest::model(&req), &opts);
        let dispatched = dispatch::run(plan, needs, |ep, t| {
            let req = &req;
            async move { ep.provider.chat(req, t).await }
        });
        let (mut resp, ep) = otel::genai::traced(Call::Chat, &req, dispatched).await?;
        resp.set_provider(ep.config.model.provider_name);
        self.answered(&snap, &resp);
        Ok(resp)
    }

    /// A streamed chat completion, committed (first event read).
    pub async fn stream_chat(
        &self,
        req: pb::ChatRequest,
        opts: CallOptions,
    ) -> Result<ChunkStream<pb::ChatChunk>, GatewayError> {
        telemetry::with_call(telemetry::CallRecord::streaming);
        let (snap, plan) = self.prepare(&req, &opts).await?;
        let needs = needs(Call::ChatStream, CallRequest::model(&req), &opts);
        let dispatched = dispatch::run(plan, needs, |ep, t| {
            let req = &req;
            async move { commit(served(ep.provider.chat_stream(req, t).await?, &ep)).await }
        });
        let (stream, _) = otel::genai::traced(Call::ChatStream, &req, dispatched).await?;
        Ok(telemetry::stream::observe(stream, &snap.bodies))
    }

    /// One text completion.
    pub async fn complete(
        &self,
        req: pb::CompletionRequest,
        opts: CallOptions,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        let (snap, plan) = self.prepare(&req, &opts).await?;
        let needs = needs(Call::Completions, CallRequest::model(&req), &opts);
        let dispatched = dispatch::run(plan, needs, |ep, t| {
            let req = &req;
            async move { ep.provider.complete(req, t).await }
        });
        let (mut resp, ep) = otel::genai::traced(Call::Completions, &req, dispatched).await?;
        resp.set_provider(ep.config.model.provider_name);
        self.answered(&snap, &resp);
        Ok(resp)
    }

    /// A streamed text completion, committed (first event read).
    pub async fn stream_complete(
        &self,
        req: pb::CompletionRequest,
        opts: CallOptions,
    ) -> Result<ChunkStream<pb::CompletionChunk>, GatewayError> {
        telemetry::with_call(telemetry::CallRecord::streaming);
        let (snap, plan) = self.prepare(&req, &opts).await?;
        let needs = needs(Call::CompletionsStream, CallRequest::model(&req), &opts);
        let dispatched = dispatch::run(plan, needs, |ep, t| {
            let req = &req;
            async move { commit(served(ep.provider.complete_stream(req, t).await?, &ep)).await }
        });
        let (stream, _) = otel::genai::traced(Call::CompletionsStream, &req, dispatched).await?;
        Ok(telemetry::stream::observe(stream, &snap.bodies))
    }

    /// Embeddings.
    pub async fn embed(
        &self,
        req: pb::EmbedRequest,
        opts: CallOptions,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        let (snap, plan) = self.prepare(&req, &opts).await?;
        let needs = needs(Call::Embeddings, CallRequest::model(&req), &opts);
        let dispatched = dispatch::run(plan, needs, |ep, t| {
            let req = &req;
            async move { ep.provider.embed(req, t).await }
        });
        let (mut resp, ep) = otel::genai::traced(Call::Embeddings, &req, dispatched).await?;
        resp.set_provider(ep.config.model.provider_name);
        self.answered(&snap, &resp);
        Ok(resp)
    }

    /// A page of the endpoints `access` may call, in config order (traffic routes are not
    /// listed, as in MLflow).
    pub fn list_endpoints(
        &self,
        page_token: &str,
        page_size: usize,
        access: &Access,
    ) -> Result<pb::ListEndpointsResponse, GatewayError> {
        self.snapshot()
            .list_endpoints(page_token, page_size, access)
    }

    /// One endpoint's metadata.
    pub fn get_endpoint(&self, name: &str, access: &Access) -> Result<pb::Endpoint, GatewayError> {
        let snap = self.snapshot();
        snap.authorize(access, name)?;
        match snap.targets.get(name) {
            Some(Target::Endpoint(ep)) => Ok(endpoint_info(&ep.config)),
            Some(Target::Route(_)) | None => Err(not_found(name)),
        }
    }

    /// A traffic route's config, by name; `Ok(None)` if there is no such route.
    pub fn route(&self, name: &str, access: &Access) -> Result<Option<TrafficRoute>, GatewayError> {
        let snap = self.snapshot();
        snap.authorize(access, name)?;
        Ok(match snap.targets.get(name) {
            Some(Target::Route(r)) => Some(r.config.clone()),
            Some(Target::Endpoint(_)) | None => None,
        })
    }

    /// Whether `access` may call the endpoint or route `name` (401 / 403 if not), for a
    /// surface that must know before it calls the service (MLflow's routes count the rate
    /// limit first).
    pub fn authorize(&self, access: &Access, name: &str) -> Result<(), GatewayError> {
        self.snapshot().authorize(access, name)
    }
}

fn needs<'a>(call: Call, model: Option<&'a str>, opts: &CallOptions) -> Needs<'a> {
    Needs {
        call,
        model,
        deadline: opts.deadline,
    }
}

/// A request the service calls a destination with (also what the call span describes).
pub trait CallRequest: std::fmt::Debug {
    /// The endpoint type the named target must have.
    const TYPE: EndpointType;
    /// The shared validation rules for this kind of request.
    fn validate(&self) -> Result<(), GatewayError>;
    /// The endpoint or route the request names.
    fn endpoint(&self) -> &str;
    /// The model the client chose, if it did.
    fn model(&self) -> Option<&str>;
}

impl CallRequest for pb::ChatRequest {
    const TYPE: EndpointType = EndpointType::Chat;
    fn validate(&self) -> Result<(), GatewayError> {
        validate::chat(self)
    }
    fn endpoint(&self) -> &str {
        &self.endpoint
    }
    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }
}

impl CallRequest for pb::CompletionRequest {
    const TYPE: EndpointType = EndpointType::Completions;
    fn validate(&self) -> Result<(), GatewayError> {
        validate::completion(self)
    }
    fn endpoint(&self) -> &str {
        &self.endpoint
    }
    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }
}

impl CallRequest for pb::EmbedRequest {
    const TYPE: EndpointType = EndpointType::Embeddings;
    fn validate(&self) -> Result<(), GatewayError> {
        validate::embed(self)
    }
    fn endpoint(&self) -> &str {
        &self.endpoint
    }
    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }
}

/// An answer or stream chunk that names the provider serving it.
trait Served: Send + 'static {
    fn set_provider(&mut self, provider: &'static str);
}

macro_rules! served {
    ($($t:ty),*) => {$(
        impl Served for $t {
            fn set_provider(&mut self, provider: &'static str) {
                self.provider = provider.to_owned();
            }
        }
    )*};
}

served!(
    pb::ChatResponse,
    pb::ChatChunk,
    pb::CompletionResponse,
    pb::CompletionChunk,
    pb::EmbedResponse
);

/// An upstream stream as `ep` serves it: each chunk stamped with the provider, and the
/// endpoint's idle timeout applied when it has one.
fn served<T: Served>(stream: ChunkStream<T>, ep: &EndpointRuntime) -> ChunkStream<T> {
    let provider = ep.config.model.provider_name;
    let stream: ChunkStream<T> = Box::pin(stream.map(move |r| {
        r.map(|mut c| {
            c.set_provider(provider);
            c
        })
    }));
    match ep.config.timeouts.stream_idle {
        Some(idle) => dispatch::idle_timeout(stream, idle),
        None => stream,
    }
}

impl Shared {
    /// Builds a snapshot of `config`, reusing from `previous` what must survive a reload.
    fn build(
        &self,
        config: &GatewayConfig,
        previous: Option<&Snapshot>,
    ) -> Result<Snapshot, StartError> {
        // Every Redactor also scrubs the credentials of the other endpoints (issue 7).
        crate::providers::http::register_secrets(config.secrets());
        let mut endpoints = Vec::with_capacity(config.endpoints.len());
        let mut targets = HashMap::new();
        for ep in &config.endpoints {
            let client = self.client(ep)?;
            let provider = Provider::build(&ep.model, &client).map_err(|message| StartError {
                endpoint: ep.name.clone(),
                message,
            })?;
            let before = previous.and_then(|p| match p.targets.get(&ep.name) {
                Some(Target::Endpoint(old)) => Some(old),
                _ => None,
            });
            let limiter = ep.limit.as_ref().map(|limit| {
                Limiter::new(
                    &self.settings.limit_store,
                    &ep.name,
                    limit,
                    before.and_then(|b| b.limiter.as_ref()),
                )
            });
            let circuit = ep.circuit_breaker.as_ref().map(|policy| {
                match before.and_then(|b| b.circuit.as_ref()) {
                    Some(c) if c.policy() == policy => c.clone(),
                    _ => Arc::new(
                        Circuit::new(&ep.name, policy)
                            .with_gauge(self.metrics.circuit_state(&ep.name)),
                    ),
                }
            });
            let rt = Arc::new(EndpointRuntime {
                config: ep.clone(),
                provider,
                timeout: ep.timeouts.total.unwrap_or(self.settings.default_timeout),
                limiter,
                circuit,
                metrics: self.metrics.endpoint(
                    &ep.name,
                    ep.model.provider_name,
                    Produces {
                        streams: ep.endpoint_type != EndpointType::Embeddings,
                        retries: ep.retries.is_some(),
                        limit: ep.limit.is_some(),
                    },
                ),
            });
            targets.insert(ep.name.clone(), Target::Endpoint(rt.clone()));
            endpoints.push(rt);
        }
        for route in &config.routes {
            let mut destinations = Vec::with_capacity(route.destinations.len());
            for d in &route.destinations {
                let Some(Target::Endpoint(ep)) = targets.get(&d.name) else {
                    return Err(StartError {
                        endpoint: route.name.clone(),
                        message: format!("route destination '{}' is not an endpoint", d.name),
                    });
                };
                destinations.push((d.traffic_percentage, ep.clone()));
            }
            targets.insert(
                route.name.clone(),
                Target::Route(Arc::new(RouteRuntime {
                    config: route.clone(),
                    name: Arc::from(route.name.as_str()),
                    fallbacks: self.metrics.route_fallbacks(&route.name),
                    destinations,
                })),
            );
        }
        Ok(Snapshot {
            endpoints,
            targets,
            keys: config.auth.as_ref().map(KeySet::new),
            bodies: BodyLog::new(self.settings.log_bodies, config.secrets()),
        })
    }

    fn client(&self, ep: &Endpoint) -> Result<reqwest::Client, StartError> {
        let connect = ep.timeouts.connect.unwrap_or(self.settings.connect_timeout);
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = clients.get(&connect) {
            return Ok(c.clone());
        }
        let c = build_client(connect).map_err(|e| StartError {
            endpoint: ep.name.clone(),
            message: format!("could not build the HTTP client: {e}"),
        })?;
        clients.insert(connect, c.clone());
        Ok(c)
    }
}

impl Snapshot {
    /// The gateway API keys of this config; `None` when authentication is off.
    pub fn keys(&self) -> Option<&KeySet> {
        self.keys.as_ref()
    }

    fn authorize(&self, access: &Access, name: &str) -> Result<(), GatewayError> {
        access.authorize(self.keys.is_some(), name)
    }

    /// Whether `name` is an endpoint with a circuit breaker.
    fn has_circuit(&self, name: &str) -> bool {
        matches!(self.targets.get(name), Some(Target::Endpoint(ep)) if ep.circuit.is_some())
    }

    /// The type of the endpoint or route called `name`, if there is one.
    pub fn target_type(&self, name: &str) -> Option<EndpointType> {
        match self.targets.get(name)? {
            Target::Endpoint(ep) => Some(ep.config.endpoint_type),
            Target::Route(r) => Some(r.config.task_type),
        }
    }

    /// Counts a call against the endpoint's rate limit; routes have none.
    pub async fn check_limit(
        &self,
        name: &str,
        family: Family,
        client: IpAddr,
    ) -> Result<(), GatewayError> {
        match self.targets.get(name) {
            Some(Target::Endpoint(ep)) => match &ep.limiter {
                Some(limiter) => {
                    telemetry::with_call(|c| c.target(ep.metrics.name()));
                    let hit = limiter.hit(client, family).await;
                    if let Err(GatewayError::RateLimited { .. }) = &hit {
                        ep.metrics.rate_limited();
                    }
                    hit
                }
                None => Ok(()),
            },
            Some(Target::Route(_)) | None => Ok(()),
        }
    }

    /// Resolves `name` for a call of type `expected`, counts the caller's rate limit, and
    /// orders the destinations to try.
    async fn admit(
        &self,
        name: &str,
        expected: EndpointType,
        opts: &CallOptions,
    ) -> Result<Plan, GatewayError> {
        // Before anything about `name` is looked at: a restricted key learns nothing of names
        // outside its grant, and spends no rate-limit quota on them.
        opts.access.authorize(self.keys.is_some(), name)?;
        let plan = self.plan(name, expected)?;
        if let Some((family, ip)) = opts.caller {
            self.check_limit(name, family, ip).await?;
        }
        Ok(plan)
    }

    /// The destinations a call to `name` may use, best first.
    fn plan(&self, name: &str, expected: EndpointType) -> Result<Plan, GatewayError> {
        let (ty, candidates, fallback, fallbacks) = match self.targets.get(name) {
            None => return Err(not_found(name)),
            Some(Target::Endpoint(ep)) => {
                telemetry::with_call(|c| c.target(ep.metrics.name()));
                (ep.config.endpoint_type, vec![ep.clone()], None, None)
            }
            Some(Target::Route(r)) => {
                telemetry::with_call(|c| c.target(&r.name));
                let fallbacks = r.config.fallback.as_ref().map(|_| r.fallbacks.clone());
                (
                    r.config.task_type,
                    r.order(),
                    r.config.fallback.clone(),
                    fallbacks,
                )
            }
        };
        if ty != expected {
            return Err(GatewayError::BadRequest(format!(
                "Endpoint '{name}' is not {} endpoint.",
                match expected {
                    EndpointType::Chat => "a chat",
                    EndpointType::Completions => "a completions",
                    EndpointType::Embeddings => "an embeddings",
                }
            )));
        }
        Ok(Plan {
            candidates,
            fallback,
            name: name.to_owned(),
            fallbacks,
        })
    }

    /// A page of the endpoints `access` may call, in config order.
    fn list_endpoints(
        &self,
        page_token: &str,
        page_size: usize,
        access: &Access,
    ) -> Result<pb::ListEndpointsResponse, GatewayError> {
        let grant = access.scope(self.keys.is_some())?;
        let size = if page_size == 0 {
            DEFAULT_PAGE_SIZE
        } else {
            page_size
        };
        let start = if page_token.is_empty() {
            0
        } else {
            decode_page_token(page_token)?
        };
        // Pages (and their tokens) count only what the caller may see, so a restricted key's
        // pages are as full as anyone's.
        let all: Vec<&EndpointRuntime> = self
            .endpoints
            .iter()
            .map(|ep| &**ep)
            .filter(|ep| grant.is_none_or(|g| g.allows(&ep.config.name)))
            .collect();
        let end = start.saturating_add(size).min(all.len());
        let endpoints = all
            .get(start.min(all.len())..end)
            .unwrap_or_default()
            .iter()
            .map(|ep| endpoint_info(&ep.config))
            .collect();
        let next_page_token = if end < all.len() {
            encode_page_token(end)
        } else {
            String::new()
        };
        Ok(pb::ListEndpointsResponse {
            endpoints,
            next_page_token,
        })
    }
}

impl RouteRuntime {
    /// The order to try destinations in. `FALLBACK`: config order. `TRAFFIC_SPLIT`: one drawn
    /// by weight among those whose circuit is closed (among all, if every one is open), then
    /// the rest in config order for a `fallback:` block to use.
    fn order(&self) -> Vec<Arc<EndpointRuntime>> {
        let all = || self.destinations.iter().map(|(_, ep)| ep.clone()).collect();
        if self.config.routing_strategy == RoutingStrategy::Fallback {
            return all();
        }
        let open = |ep: &EndpointRuntime| ep.circuit.as_ref().is_some_and(|c| c.is_open());
        let weight = |skip_open: bool| {
            move |(w, ep): &(u32, Arc<EndpointRuntime>)| {
                if skip_open && open(ep) { 0 } else { *w }
            }
        };
        let mut skip_open = true;
        let mut total: u32 = self.destinations.iter().map(weight(true)).sum();
        if total == 0 {
            skip_open = false;
            total = self.destinations.iter().map(weight(false)).sum();
        }
        let mut draw = fastrand::u32(0..total.max(1));
        let mut chosen = 0;
        for (i, d) in self.destinations.iter().enumerate() {
            let w = weight(skip_open)(d);
            if w > 0 && draw < w {
                chosen = i;
                break;
            }
            draw = draw.saturating_sub(w);
        }
        let mut order: Vec<Arc<EndpointRuntime>> = Vec::with_capacity(self.destinations.len());
        if let Some((_, ep)) = self.destinations.get(chosen) {
            order.push(ep.clone());
        }
        if self.config.fallback.is_some() {
            order.extend(
                self.destinations
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != chosen)
                    .map(|(_, (_, ep))| ep.clone()),
            );
        }
        order
    }
}

/// MLflow's answer to a client `model` for a provider that does not take one.
const MODEL_NOT_PERMITTED: &str = "The parameter 'model' is not permitted to be passed. The route being queried already defines a model instance.";

fn not_found(name: &str) -> GatewayError {
    GatewayError::NotFound(format!(
        "The endpoint '{name}' is not present or active on the server. Please verify the endpoint name."
    ))
}

/// Endpoint metadata as MLflow lists it (no provider config, never a secret).
pub fn endpoint_info(ep: &Endpoint) -> pb::Endpoint {
    pb::Endpoint {
        name: ep.name.clone(),
        endpoint_type: ep.endpoint_type.as_str().to_owned(),
        model: Some(pb::EndpointModel {
            name: ep.model.name.clone(),
            provider: ep.model.provider_name.to_owned(),
        }),
        endpoint_url: format!("/gateway/{}/invocations", ep.name),
        limit: ep.limit.as_ref().map(|l| pb::RateLimit {
            calls: l.calls,
            renewal_period: l.raw_period.clone(),
            key: l.key.clone(),
        }),
    }
}

/// MLflow's page token: base64 of `{"index": N}` (with the space Python's json.dumps writes).
pub fn encode_page_token(index: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{{\"index\": {index}}}"))
}

fn decode_page_token(token: &str) -> Result<usize, GatewayError> {
    let bad = || GatewayError::BadRequest(format!("Invalid page token: '{token}'."));
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(token))
        .map_err(|_| bad())?;
    #[derive(serde::Deserialize)]
    struct Token {
        index: usize,
    }
    serde_json::from_slice::<Token>(&raw)
        .map(|t| t.index)
        .map_err(|_| bad())
}

/// Reads the first item of an upstream stream before the stream is handed to a surface.
async fn commit<T: Send + 'static>(
    mut stream: ChunkStream<T>,
) -> Result<ChunkStream<T>, GatewayError> {
    match stream.next().await {
        Some(Err(e)) => Err(e),
        Some(Ok(first)) => Ok(Box::pin(
            futures::stream::once(futures::future::ready(Ok(first))).chain(stream),
        )),
        None => Ok(Box::pin(futures::stream::empty())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_match_mlflow() {
        assert_eq!(encode_page_token(3000), "eyJpbmRleCI6IDMwMDB9");
        assert_eq!(decode_page_token("eyJpbmRleCI6IDMwMDB9").unwrap(), 3000);
        assert_eq!(decode_page_token("nope!").unwrap_err().http_status(), 400);
    }

    #[tokio::test]
    async fn commit_surfaces_an_opening_error() {
        let s: ChunkStream<u32> = Box::pin(futures::stream::iter(vec![Err(
            GatewayError::UpstreamUnreachable("x".into()),
        )]));
        assert!(commit(s).await.is_err());
        let ok: ChunkStream<u32> = Box::pin(futures::stream::iter(vec![Ok(1), Ok(2)]));
        let items: Vec<_> = commit(ok).await.unwrap().collect().await;
        assert_eq!(items.len(), 2);
    }
}
