//! The standard gRPC side services on the gateway's port: server reflection (v1 and v1alpha,
//! through tonic-reflection's own clients) lists and describes every service, and the health
//! service (`grpc.health.v1.Health`) reports each service, flips to NOT_SERVING when the drain
//! begins, and is exempt from API keys where reflection is not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{CONFIG, TestGateway, envelope, envelopes};
use llm_gateway::server::AppOptions;
use llm_gateway::service::Settings;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

const SERVICES: [&str; 4] = [
    "llmgateway.v1.ChatService",
    "llmgateway.v1.CompletionsService",
    "llmgateway.v1.EmbeddingsService",
    "llmgateway.v1.EndpointsService",
];

/// One reflection client per protocol version: the two generated APIs have the same shape.
macro_rules! reflection_client {
    ($module:ident, $($pb:ident)::+) => {
        mod $module {
            use $($pb)::+ as r;
            use r::server_reflection_request::MessageRequest;
            use r::server_reflection_response::MessageResponse;
            use prost::Message as _;

            async fn ask(
                channel: tonic::transport::Channel,
                request: MessageRequest,
            ) -> Result<MessageResponse, tonic::Status> {
                let mut client = r::server_reflection_client::ServerReflectionClient::new(channel);
                let request = r::ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(request),
                };
                let mut answers = client
                    .server_reflection_info(futures::stream::iter([request]))
                    .await?
                    .into_inner();
                Ok(answers.message().await?.unwrap().message_response.unwrap())
            }

            /// The service names `list` shows.
            pub async fn list(
                channel: tonic::transport::Channel,
            ) -> Result<Vec<String>, tonic::Status> {
                match ask(channel, MessageRequest::ListServices(String::new())).await? {
                    MessageResponse::ListServicesResponse(l) => {
                        Ok(l.service.into_iter().map(|s| s.name).collect())
                    }
                    other => panic!("not a service list: {other:?}"),
                }
            }

            async fn files(
                channel: tonic::transport::Channel,
                request: MessageRequest,
            ) -> Vec<pbjson_types::FileDescriptorProto> {
                match ask(channel, request).await.unwrap() {
                    MessageResponse::FileDescriptorResponse(f) => f
                        .file_descriptor_proto
                        .iter()
                        .map(|b| pbjson_types::FileDescriptorProto::decode(&b[..]).unwrap())
                        .collect(),
                    other => panic!("not a file descriptor answer: {other:?}"),
                }
            }

            /// The file defining `symbol` and, as grpcurl and buf fetch them, every file it
            /// imports (asked for by name, transitively).
            pub async fn file_containing(
                channel: tonic::transport::Channel,
                symbol: &str,
            ) -> Vec<pbjson_types::FileDescriptorProto> {
                let request = MessageRequest::FileContainingSymbol(symbol.into());
                let mut found = files(channel.clone(), request).await;
                let mut i = 0;
                while let Some(file) = found.get(i).cloned() {
                    for dependency in &file.dependency {
                        if !found.iter().any(|f| f.name() == dependency) {
                            let request = MessageRequest::FileByFilename(dependency.clone());
                            found.extend(files(channel.clone(), request).await);
                        }
                    }
                    i += 1;
                }
                found
            }
        }
    };
}

reflection_client!(v1, tonic_reflection::pb::v1);
reflection_client!(v1alpha, tonic_reflection::pb::v1alpha);

/// The list has the four gateway services, health and the version's own reflection service.
fn assert_lists_everything(mut names: Vec<String>, reflection: &str) {
    names.sort();
    for expected in SERVICES
        .iter()
        .copied()
        .chain(["grpc.health.v1.Health", reflection])
    {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

/// ChatService resolves to chat.proto, and every file it imports resolves too, down to the
/// well-known types, so a client can build the whole message graph.
fn assert_chat_file_with_dependencies(files: &[pbjson_types::FileDescriptorProto]) {
    let names: Vec<&str> = files.iter().map(|f| f.name()).collect();
    let chat = files
        .iter()
        .find(|f| f.name() == "llmgateway/v1/chat.proto")
        .unwrap_or_else(|| panic!("chat.proto missing from {names:?}"));
    assert!(chat.service.iter().any(|s| s.name() == "ChatService"));
    for dependency in files.iter().flat_map(|f| f.dependency.iter()) {
        assert!(
            names.contains(&dependency.as_str()),
            "{dependency} is imported but not resolved: {names:?}"
        );
    }
    assert!(names.contains(&"google/protobuf/struct.proto"), "{names:?}");
}

#[tokio::test]
async fn reflection_v1_lists_and_describes_the_services() {
    let gw = TestGateway::start(CONFIG).await;
    let names = v1::list(gw.channel().await).await.unwrap();
    assert_lists_everything(names, "grpc.reflection.v1.ServerReflection");
    let files = v1::file_containing(gw.channel().await, "llmgateway.v1.ChatService").await;
    assert_chat_file_with_dependencies(&files);
}

#[tokio::test]
async fn reflection_v1alpha_lists_and_describes_the_services() {
    let gw = TestGateway::start(CONFIG).await;
    let names = v1alpha::list(gw.channel().await).await.unwrap();
    assert_lists_everything(names, "grpc.reflection.v1alpha.ServerReflection");
    let files = v1alpha::file_containing(gw.channel().await, "llmgateway.v1.ChatService").await;
    assert_chat_file_with_dependencies(&files);
}

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.into(),
    }
}

fn status(r: &HealthCheckResponse) -> ServingStatus {
    ServingStatus::try_from(r.status).unwrap()
}

#[tokio::test]
async fn health_reports_the_server_and_each_service_serving() {
    let gw = TestGateway::start(CONFIG).await;
    let mut health = HealthClient::new(gw.channel().await);
    for service in std::iter::once("").chain(SERVICES) {
        let answer = health.check(check(service)).await.unwrap().into_inner();
        assert_eq!(status(&answer), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(check("llmgateway.v1.NoSuchService"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn health_watch_turns_not_serving_when_the_drain_begins_and_ends() {
    let mut gw =
        TestGateway::start_with_options(CONFIG, Settings::default(), AppOptions::default()).await;
    let mut health = HealthClient::new(gw.channel().await);
    let mut chat = health
        .watch(check("llmgateway.v1.ChatService"))
        .await
        .unwrap()
        .into_inner();
    let mut unknown = health
        .watch(check("llmgateway.v1.NoSuchService"))
        .await
        .unwrap()
        .into_inner();
    let first = chat.message().await.unwrap().unwrap();
    assert_eq!(status(&first), ServingStatus::Serving);
    // The protocol's rule for Watch: an unknown service is a status, not an error.
    let first = unknown.message().await.unwrap().unwrap();
    assert_eq!(status(&first), ServingStatus::ServiceUnknown);

    gw.shutdown();
    let next = chat.message().await.unwrap().unwrap();
    assert_eq!(status(&next), ServingStatus::NotServing);
    // Both calls then end, so watchers do not hold the drain open.
    assert!(chat.message().await.unwrap().is_none());
    assert!(unknown.message().await.unwrap().is_none());
}

/// A config with gateway API keys.
const KEYED: &str = r#"
endpoints:
  - name: mock-chat
    endpoint_type: llm/v1/chat
    model: {provider: mock, name: mock-model, config: {}}
api_keys:
  - name: team
    key: team-key-0123456789abcdef
"#;

#[tokio::test]
async fn with_api_keys_health_is_exempt_and_reflection_is_not() {
    let gw = TestGateway::start(KEYED).await;
    let mut health = HealthClient::new(gw.channel().await);
    let answer = health.check(check("")).await.unwrap().into_inner();
    assert_eq!(status(&answer), ServingStatus::Serving);
    let refused = v1::list(gw.channel().await).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let refused = v1alpha::list(gw.channel().await).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn health_and_reflection_answer_connect_callers() {
    use prost::Message as _;
    use tonic_reflection::pb::v1 as r;

    let gw = TestGateway::start(CONFIG).await;
    // Unary health check, Connect with Protobuf.
    let check_over_connect = |service: &str| {
        let url = gw.url("/grpc.health.v1.Health/Check");
        let body = check(service).encode_to_vec();
        let http = gw.http.clone();
        async move {
            http.post(url)
                .header("content-type", "application/proto")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let resp = check_over_connect("llmgateway.v1.ChatService").await;
    assert_eq!(resp.status(), 200, "{:?}", resp.headers());
    assert_eq!(resp.headers()["content-type"], "application/proto");
    let answer = HealthCheckResponse::decode(resp.bytes().await.unwrap()).unwrap();
    assert_eq!(status(&answer), ServingStatus::Serving);
    // An unknown service: Connect's error JSON with gRPC's NOT_FOUND.
    let resp = check_over_connect("no.such.Service").await;
    assert_eq!(resp.status(), 404);
    let error: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(error["code"], "not_found");

    // Reflection's bidirectional stream over Connect (HTTP/2, as buf curl reflects): two
    // requests in one stream, each answered, then the end-of-stream message.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let ask = |request| r::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut body = envelope(
        0,
        &ask(r::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        ))
        .encode_to_vec(),
    );
    body.extend(envelope(
        0,
        &ask(
            r::server_reflection_request::MessageRequest::FileContainingSymbol(
                "llmgateway.v1.ChatService".into(),
            ),
        )
        .encode_to_vec(),
    ));
    let resp = h2
        .post(gw.url("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"))
        .header("content-type", "application/connect+proto")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/connect+proto");
    let frames = envelopes(&resp.bytes().await.unwrap());
    assert_eq!(frames.len(), 3, "two answers and the end: {frames:?}");
    let (flags, end) = &frames[2];
    assert_eq!(*flags, 2);
    assert_eq!(end, b"{}");
    let listed = r::ServerReflectionResponse::decode(&frames[0].1[..]).unwrap();
    let Some(r::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        listed.message_response
    else {
        panic!("not a service list: {listed:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert_lists_everything(names, "grpc.reflection.v1.ServerReflection");
    let file = r::ServerReflectionResponse::decode(&frames[1].1[..]).unwrap();
    assert!(
        matches!(
            file.message_response,
            Some(r::server_reflection_response::MessageResponse::FileDescriptorResponse(_))
        ),
        "{file:?}"
    );

    // JSON is refused with a pointer to Protobuf.
    let resp = gw
        .http
        .post(gw.url("/grpc.health.v1.Health/Check"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let error: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(error["code"], "unimplemented");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("application/proto"),
        "{error}"
    );
}
