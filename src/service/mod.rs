//! The unified services every surface calls: chat, streamed chat, completions, streamed
//! completions, embeddings, and endpoint discovery, on the proto model.
//!
//! A [`Gateway`] is built once from a validated config: each endpoint gets its provider (URLs,
//! headers, the shared client), each traffic route its weighted destinations. A request names an
//! endpoint or a route; the service validates it (one set of rules for every surface), resolves
//! the name, checks the endpoint type and the provider's capabilities, calls the provider with
//! the endpoint's timeout, and stamps the serving provider on the answer.
//!
//! Streams follow the commit rule of design.md §3.5: the upstream is opened and its first event
//! read before a stream is returned, so a failure to open is an ordinary error the surface can
//! still answer with a real status; after that, the stream ends with at most one error item.

pub mod validate;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt;

use crate::config::{Endpoint, EndpointType, GatewayConfig, TrafficRoute};
use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::providers::http::build_client;
use crate::providers::{Call, ChunkStream, Provider};
use crate::routing::ratelimit::{Family, FixedWindow};

/// MLflow's page size for endpoint listings.
pub const DEFAULT_PAGE_SIZE: usize = 3000;

/// Process-wide settings that are not part of the MLflow config file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Upstream timeout for endpoints without their own (`MLFLOW_GATEWAY_ROUTE_TIMEOUT_SECONDS`).
    pub default_timeout: Duration,
    /// Upstream connect timeout.
    pub connect_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
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
    pub limiter: Option<FixedWindow>,
}

#[derive(Debug)]
struct RouteRuntime {
    config: TrafficRoute,
    /// Destinations with their cumulative weight bounds, for one draw per request.
    destinations: Vec<(u32, Arc<EndpointRuntime>)>,
    total: u32,
}

#[derive(Debug)]
enum Target {
    Endpoint(Arc<EndpointRuntime>),
    Route(Arc<RouteRuntime>),
}

#[derive(Debug)]
struct Inner {
    endpoints: Vec<Arc<EndpointRuntime>>,
    targets: HashMap<String, Target>,
}

/// The gateway's services over one loaded config. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
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
    /// Builds every endpoint's provider and every route's destinations. Endpoints share one
    /// pooled HTTP client per distinct connect timeout (normally exactly one).
    pub fn new(config: &GatewayConfig, settings: &Settings) -> Result<Gateway, StartError> {
        let mut clients: HashMap<Duration, reqwest::Client> = HashMap::new();
        let mut endpoints = Vec::with_capacity(config.endpoints.len());
        let mut targets = HashMap::new();
        for ep in &config.endpoints {
            let connect = ep.timeouts.connect.unwrap_or(settings.connect_timeout);
            let client = match clients.get(&connect) {
                Some(c) => c.clone(),
                None => {
                    let c = build_client(connect).map_err(|e| StartError {
                        endpoint: ep.name.clone(),
                        message: format!("could not build the HTTP client: {e}"),
                    })?;
                    clients.insert(connect, c.clone());
                    c
                }
            };
            let provider = Provider::build(&ep.model, &client).map_err(|message| StartError {
                endpoint: ep.name.clone(),
                message,
            })?;
            let rt = Arc::new(EndpointRuntime {
                config: ep.clone(),
                provider,
                timeout: ep.timeouts.total.unwrap_or(settings.default_timeout),
                limiter: ep.limit.as_ref().map(FixedWindow::new),
            });
            targets.insert(ep.name.clone(), Target::Endpoint(rt.clone()));
            endpoints.push(rt);
        }
        for route in &config.routes {
            let mut destinations = Vec::with_capacity(route.destinations.len());
            let mut total = 0u32;
            for d in &route.destinations {
                let Some(Target::Endpoint(ep)) = targets.get(&d.name) else {
                    return Err(StartError {
                        endpoint: route.name.clone(),
                        message: format!("route destination '{}' is not an endpoint", d.name),
                    });
                };
                if d.traffic_percentage > 0 {
                    total += d.traffic_percentage;
                    destinations.push((total, ep.clone()));
                }
            }
            targets.insert(
                route.name.clone(),
                Target::Route(Arc::new(RouteRuntime {
                    config: route.clone(),
                    destinations,
                    total,
                })),
            );
        }
        Ok(Gateway {
            inner: Arc::new(Inner { endpoints, targets }),
        })
    }

    /// The type of the endpoint or route called `name`, if there is one.
    pub fn target_type(&self, name: &str) -> Option<EndpointType> {
        match self.inner.targets.get(name)? {
            Target::Endpoint(ep) => Some(ep.config.endpoint_type),
            Target::Route(r) => Some(r.config.task_type),
        }
    }

    /// The endpoint that serves a call to `name`: the endpoint itself, or one destination of a
    /// traffic route drawn at random by weight.
    pub fn resolve(
        &self,
        name: &str,
        expected: EndpointType,
    ) -> Result<Arc<EndpointRuntime>, GatewayError> {
        let (ty, ep) = match self.inner.targets.get(name) {
            None => return Err(not_found(name)),
            Some(Target::Endpoint(ep)) => (ep.config.endpoint_type, ep.clone()),
            Some(Target::Route(r)) => {
                let draw = fastrand::u32(0..r.total.max(1));
                let ep = r
                    .destinations
                    .iter()
                    .find(|(bound, _)| draw < *bound)
                    .or(r.destinations.last())
                    .map(|(_, ep)| ep.clone())
                    .ok_or_else(|| {
                        GatewayError::Internal(format!("route '{name}' has no destinations"))
                    })?;
                (r.config.task_type, ep)
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
        Ok(ep)
    }

    /// Counts an MLflow invocation against the endpoint's rate limit (spec §4: only the two
    /// invocation URL families are limited, per client IP; traffic routes never are).
    pub fn check_limit(
        &self,
        name: &str,
        family: Family,
        client: std::net::IpAddr,
    ) -> Result<(), GatewayError> {
        match self.inner.targets.get(name) {
            Some(Target::Endpoint(ep)) => match &ep.limiter {
                Some(limiter) => limiter.hit(client, family),
                None => Ok(()),
            },
            Some(Target::Route(_)) | None => Ok(()),
        }
    }

    fn serving(
        &self,
        name: &str,
        ty: EndpointType,
        call: Call,
        model: Option<&str>,
    ) -> Result<Arc<EndpointRuntime>, GatewayError> {
        let ep = self.resolve(name, ty)?;
        if !ep.provider.supports(call) {
            return Err(call.not_implemented(ep.provider.kind()));
        }
        if model.is_some() && !ep.provider.accepts_model() {
            return Err(GatewayError::Unprocessable(MODEL_NOT_PERMITTED.into()));
        }
        Ok(ep)
    }

    /// One chat completion.
    pub async fn chat(&self, req: pb::ChatRequest) -> Result<pb::ChatResponse, GatewayError> {
        validate::chat(&req)?;
        let ep = self.serving(
            &req.endpoint,
            EndpointType::Chat,
            Call::Chat,
            req.model.as_deref(),
        )?;
        let mut resp = ep.provider.chat(&req, ep.timeout).await?;
        resp.provider = ep.config.model.provider_name.to_owned();
        Ok(resp)
    }

    /// A streamed chat completion, committed (first event read).
    pub async fn stream_chat(
        &self,
        req: pb::ChatRequest,
    ) -> Result<ChunkStream<pb::ChatChunk>, GatewayError> {
        validate::chat(&req)?;
        let ep = self.serving(
            &req.endpoint,
            EndpointType::Chat,
            Call::ChatStream,
            req.model.as_deref(),
        )?;
        let provider_name = ep.config.model.provider_name;
        let stream = ep.provider.chat_stream(&req, ep.timeout).await?;
        let stream = stream.map(move |r| {
            r.map(|mut c| {
                c.provider = provider_name.to_owned();
                c
            })
        });
        commit(Box::pin(stream)).await
    }

    /// One text completion.
    pub async fn complete(
        &self,
        req: pb::CompletionRequest,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        validate::completion(&req)?;
        let ep = self.serving(
            &req.endpoint,
            EndpointType::Completions,
            Call::Completions,
            req.model.as_deref(),
        )?;
        let mut resp = ep.provider.complete(&req, ep.timeout).await?;
        resp.provider = ep.config.model.provider_name.to_owned();
        Ok(resp)
    }

    /// A streamed text completion, committed (first event read).
    pub async fn stream_complete(
        &self,
        req: pb::CompletionRequest,
    ) -> Result<ChunkStream<pb::CompletionChunk>, GatewayError> {
        validate::completion(&req)?;
        let ep = self.serving(
            &req.endpoint,
            EndpointType::Completions,
            Call::CompletionsStream,
            req.model.as_deref(),
        )?;
        let provider_name = ep.config.model.provider_name;
        let stream = ep.provider.complete_stream(&req, ep.timeout).await?;
        let stream = stream.map(move |r| {
            r.map(|mut c| {
                c.provider = provider_name.to_owned();
                c
            })
        });
        commit(Box::pin(stream)).await
    }

    /// Embeddings.
    pub async fn embed(&self, req: pb::EmbedRequest) -> Result<pb::EmbedResponse, GatewayError> {
        validate::embed(&req)?;
        let ep = self.serving(
            &req.endpoint,
            EndpointType::Embeddings,
            Call::Embeddings,
            req.model.as_deref(),
        )?;
        let mut resp = ep.provider.embed(&req, ep.timeout).await?;
        resp.provider = ep.config.model.provider_name.to_owned();
        Ok(resp)
    }

    /// A page of endpoints in config order (traffic routes are not listed, as in MLflow).
    pub fn list_endpoints(
        &self,
        page_token: &str,
        page_size: usize,
    ) -> Result<pb::ListEndpointsResponse, GatewayError> {
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
        let all = &self.inner.endpoints;
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

    /// One endpoint's metadata.
    pub fn get_endpoint(&self, name: &str) -> Result<pb::Endpoint, GatewayError> {
        match self.inner.targets.get(name) {
            Some(Target::Endpoint(ep)) => Ok(endpoint_info(&ep.config)),
            Some(Target::Route(_)) | None => Err(not_found(name)),
        }
    }

    /// A traffic route's config, by name.
    pub fn route(&self, name: &str) -> Option<&TrafficRoute> {
        match self.inner.targets.get(name)? {
            Target::Route(r) => Some(&r.config),
            Target::Endpoint(_) => None,
        }
    }

    /// The endpoints, in config order.
    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.inner.endpoints.iter().map(|e| &e.config)
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
