//! llm-gateway: a fast, MLflow-gateway-compatible LLM gateway.
//!
//! It loads an MLflow gateway YAML config and serves its endpoints over gRPC, grpc-web, MLflow's
//! REST API and OpenAI's REST API, all on one port, calling the configured providers.
//!
//! The modules, in the direction dependencies point (surfaces → service → providers):
//!
//! - [`server`]: the one listener; dispatches each request to the gRPC, Connect or REST
//!   surface by its content type and path; graceful shutdown.
//! - [`tls`]: `--tls-cert`/`--tls-key`: the same app behind a rustls handshake on the one port
//!   (ALPN h2 and http/1.1), with the certificate re-read on SIGHUP.
//! - [`cors`]: `--cors-allowed-origins`: CORS for browser callers (grpc-web, Connect, REST);
//!   same-origin only by default.
//! - [`guard`]: the server's defences: connection limits (header size, header-read and idle
//!   timeouts, HTTP/2 limits), load shedding past `--max-in-flight`, and panics caught per
//!   request.
//! - [`auth`]: optional gateway API keys: a layer authenticates each request once (before
//!   dispatch) and the service authorises each call by endpoint or route name.
//! - [`otel`]: OpenTelemetry traces over OTLP when an endpoint is configured (nothing at all
//!   otherwise): a server span per request under the client's W3C trace context, a call span
//!   with the GenAI attributes, a client span per upstream request whose context goes upstream.
//! - [`telemetry`]: Prometheus metrics (`/metrics`, and `--admin-port`), one access line per
//!   request, `x-request-id`, log format and filter; the outermost layer on the main port and
//!   the hooks the service reports through.
//! - [`reload`]: hot reload; watches the config file (by polling its metadata) and SIGHUP, and
//!   swaps a valid new config into the running [`service::Gateway`].
//! - [`grpc`]: the tonic services (gRPC, and grpc-web through tonic-web) over the service layer,
//!   with the standard health service and server reflection (v1 and v1alpha).
//! - [`connect`]: the Connect protocol for the same services on the same paths (JSON and
//!   Protobuf, unary, server streaming and GET, gzip, `Connect-Timeout-Ms`), over the service
//!   layer.
//! - [`rest`]: the MLflow and OpenAI REST facades; [`rest::codec`] owns their JSON shapes,
//!   [`rest::openapi`] their OpenAPI document (`/openapi.json`) and its `/docs` page.
//! - [`service`]: the unified chat, completions, embeddings and endpoint services every surface
//!   calls; request validation shared by all surfaces; endpoint and route resolution; the stream
//!   commit rule.
//! - [`routing`]: per-endpoint rate limits (MLflow's fixed windows, in memory or Redis), circuit
//!   breakers and retry backoff.
//! - [`providers`]: one module per upstream API (wire types, pure conversions, thin I/O) behind
//!   the closed [`providers::Provider`] enum; shared upstream HTTP mechanics in
//!   [`providers::http`].
//! - [`config`]: the MLflow YAML config, strictly parsed into validated runtime types, with
//!   located errors and secrets resolved once.
//! - [`error`]: the one error model and its exhaustive mapping to HTTP statuses, MLflow JSON
//!   bodies and gRPC codes.
//! - [`pb`]: the generated Protobuf API, the gateway's one internal model.
//! - [`pyjson`]: JSON and floats exactly as Python writes them, where MLflow's bytes depend on it.
//! - [`proto_json`]: `google.protobuf.Struct` ⇄ JSON without intermediate values.
//! - [`mock_upstream`]: a deterministic OpenAI-compatible upstream for tests and benchmarks
//!   (never on a production path).

pub mod auth;
pub mod config;
pub mod connect;
pub mod cors;
pub mod error;
/// Entry points of the fuzz targets (`fuzz/`, `scripts/fuzz.sh`); not a public API.
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod guard;
pub mod mock_upstream;
pub mod otel;
pub mod pb;
pub mod proto_json;
pub mod providers;
pub mod pyjson;
pub mod reload;
pub mod rest;
pub mod routing;
pub mod server;
pub mod service;
pub mod telemetry;
pub mod tls;
