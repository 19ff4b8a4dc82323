//! The standard gRPC health service, `grpc.health.v1.Health` (tonic-health's generated server),
//! answering for the whole gateway (`""`) and for each of its four services.
//!
//! Every status derives from one fact: whether the gateway is still taking calls. It is
//! SERVING from start until the drain begins ([`Health::not_serving_after`] wraps the shutdown
//! future), and NOT_SERVING from then on, so load balancers that check or watch it stop
//! routing new calls here while in-flight ones finish.
//!
//! Why not tonic-health's `HealthReporter`: its setters are async (a lock per update) while the
//! app is built synchronously, and its `Watch` streams never end, so one watching load
//! balancer would hold the drain open for the whole grace period. Here a `Watch` call sends
//! NOT_SERVING when the drain begins and then ends, letting its connection close.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::watch;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health as HealthRpc, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use super::GrpcApi;
use crate::pb::v1::{
    chat_service_server::ChatServiceServer, completions_service_server::CompletionsServiceServer,
    embeddings_service_server::EmbeddingsServiceServer,
    endpoints_service_server::EndpointsServiceServer,
};

/// The names a health check may ask about: the server as a whole (`""`) and each service.
const SERVICES: [&str; 5] = [
    "",
    <ChatServiceServer<GrpcApi> as NamedService>::NAME,
    <CompletionsServiceServer<GrpcApi> as NamedService>::NAME,
    <EmbeddingsServiceServer<GrpcApi> as NamedService>::NAME,
    <EndpointsServiceServer<GrpcApi> as NamedService>::NAME,
];

/// The gateway's serving state, shared by the health service and the shutdown that ends it.
/// Clones share the state.
#[derive(Clone, Debug)]
pub struct Health {
    /// `true` while serving; set to `false` once, when the drain begins.
    serving: Arc<watch::Sender<bool>>,
}

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

impl Health {
    /// A state that is SERVING until [`Health::set_not_serving`].
    pub fn new() -> Health {
        Health {
            serving: Arc::new(watch::Sender::new(true)),
        }
    }

    /// From now on every service reports NOT_SERVING, and `Watch` calls end after saying so.
    pub fn set_not_serving(&self) {
        self.serving.send_replace(false);
    }

    /// Whether the gateway still reports SERVING.
    pub fn is_serving(&self) -> bool {
        *self.serving.borrow()
    }

    /// `shutdown`, then NOT_SERVING: give the result to the server as its shutdown signal, so
    /// the status flips at the moment the drain begins.
    pub fn not_serving_after(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let health = self.clone();
        async move {
            shutdown.await;
            health.set_not_serving();
        }
    }

    /// The tonic service answering `grpc.health.v1.Health` from this state.
    pub fn service(&self) -> HealthServer<HealthService> {
        HealthServer::new(HealthService {
            serving: self.serving.clone(),
        })
    }
}

/// The `grpc.health.v1.Health` implementation behind [`Health::service`].
#[derive(Debug)]
pub struct HealthService {
    serving: Arc<watch::Sender<bool>>,
}

fn known(service: &str) -> bool {
    SERVICES.contains(&service)
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status.into(),
    }
}

fn status_of(serving: bool) -> ServingStatus {
    if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// The stream of a `Watch` call on `service`.
type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl HealthRpc for HealthService {
    async fn check(
        &self,
        r: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = r.get_ref().service.as_str();
        if !known(service) {
            return Err(Status::not_found(format!(
                "unknown service '{service}': this server reports on '' and {}",
                SERVICES[1..].join(", ")
            )));
        }
        Ok(Response::new(response(status_of(*self.serving.borrow()))))
    }

    type WatchStream = WatchStream;

    /// The current status at once, then each change. As the health checking protocol asks,
    /// an unknown service is not an error: it is reported as SERVICE_UNKNOWN and the call stays
    /// open (in case the service appears, which here it never does). Either call ends when the
    /// drain begins, after a known service's NOT_SERVING.
    async fn watch(&self, r: Request<HealthCheckRequest>) -> Result<Response<WatchStream>, Status> {
        let known = known(&r.get_ref().service);
        let rx = self.serving.subscribe();
        let stream = futures::stream::unfold(Some((rx, true)), move |state| async move {
            let (mut rx, first) = state?;
            if !first {
                // The one change there is: the drain began (a closed channel means the same).
                rx.changed().await.ok()?;
                if !known {
                    return None;
                }
            }
            let serving = *rx.borrow_and_update();
            let status = if known {
                status_of(serving)
            } else {
                ServingStatus::ServiceUnknown
            };
            // After NOT_SERVING there is nothing more to say: end, so the drain is not held.
            Some((Ok(response(status)), serving.then_some((rx, false))))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
