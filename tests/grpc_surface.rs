//! The gRPC and grpc-web surfaces end to end, on the same port as REST: a tonic client over
//! h2c for every RPC (unary and streaming) and its error codes, and grpc-web over HTTP/1.1 with
//! hand-built frames, as a browser sends them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{CONFIG, TestGateway, grpc_web_frame};
use futures::StreamExt;
use llm_gateway::pb::v1 as pb;
use pb::chat_service_client::ChatServiceClient;
use pb::completions_service_client::CompletionsServiceClient;
use pb::embeddings_service_client::EmbeddingsServiceClient;
use pb::endpoints_service_client::EndpointsServiceClient;
use prost::Message as _;

/// The shared one-message request, with a temperature to check it is carried.
fn chat_request(endpoint: &str) -> pb::ChatRequest {
    pb::ChatRequest {
        temperature: Some(0.5),
        ..common::chat_request(endpoint)
    }
}

#[tokio::test]
async fn unary_chat_and_its_upstream_call() {
    let gw = TestGateway::start(CONFIG).await;
    let mut client = ChatServiceClient::new(gw.channel().await);
    let resp = client
        .chat(chat_request("chat"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.provider, "openai");
    assert_eq!(resp.model, "gpt-4o-mini");
    assert_eq!(resp.id.as_deref(), Some("chatcmpl-mock"));
    assert_eq!(resp.created, 1_700_000_000);
    let choice = &resp.choices[0];
    assert_eq!(
        choice.message.as_ref().unwrap().content.as_deref(),
        Some("Hello from mock")
    );
    assert_eq!(choice.finish_reason.as_deref(), Some("stop"));
    let usage = resp.usage.unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (Some(9), Some(3), Some(12))
    );
    let up = gw.upstream().remove(0);
    assert_eq!(up.path_and_query, "/v1/chat/completions");
    assert_eq!(up.json()["temperature"], 0.5);
    assert_eq!(up.json()["n"], 1);
}

#[tokio::test]
async fn streaming_chat_and_completions() {
    let gw = TestGateway::start(CONFIG).await;
    let channel = gw.channel().await;
    let mut chat = ChatServiceClient::new(channel.clone());
    let mut stream = chat
        .stream_chat(chat_request("chat"))
        .await
        .unwrap()
        .into_inner();
    let mut text = String::new();
    let mut saw_usage = false;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert_eq!(chunk.provider, "openai");
        for c in &chunk.choices {
            if let Some(t) = c.delta.as_ref().and_then(|d| d.content.as_deref()) {
                text.push_str(t);
            }
        }
        saw_usage |= chunk.usage.is_some();
    }
    assert_eq!(text, "Hello from mock");
    assert!(saw_usage);

    let mut completions = CompletionsServiceClient::new(channel);
    let resp = completions
        .complete(pb::CompletionRequest {
            endpoint: "completions".into(),
            prompt: "p".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.choices[0].text, "This is a test");
    let chunks: Vec<_> = completions
        .stream_complete(pb::CompletionRequest {
            endpoint: "completions".into(),
            prompt: "p".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert!(chunks.iter().all(Result::is_ok));
    assert!(!chunks.is_empty());
}

#[tokio::test]
async fn embeddings_and_endpoint_discovery() {
    let gw = TestGateway::start(CONFIG).await;
    let channel = gw.channel().await;
    let resp = EmbeddingsServiceClient::new(channel.clone())
        .embed(pb::EmbedRequest {
            endpoint: "embeddings".into(),
            texts: vec!["a".into(), "b".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.data.len(), 2);
    assert_eq!(resp.data[1].index, 1);
    assert_eq!(resp.model, "text-embedding-3-small");
    assert_eq!(
        gw.upstream().remove(0).json()["input"],
        serde_json::json!(["a", "b"])
    );

    let mut endpoints = EndpointsServiceClient::new(channel);
    let list = endpoints
        .list_endpoints(pb::ListEndpointsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.endpoints.len(), 2);
    assert_eq!(list.endpoints[0].name, "chat");
    assert!(!list.next_page_token.is_empty());
    let next = endpoints
        .list_endpoints(pb::ListEndpointsRequest {
            page_size: 2,
            page_token: list.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.endpoints[0].name, "embeddings");

    let limited = endpoints
        .get_endpoint(pb::GetEndpointRequest {
            name: "chat-limited".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(limited.endpoint_url, "/gateway/chat-limited/invocations");
    assert_eq!(limited.limit.unwrap().calls, 2);
}

#[tokio::test]
async fn errors_carry_the_right_codes() {
    let gw = TestGateway::start(CONFIG).await;
    let channel = gw.channel().await;
    let mut chat = ChatServiceClient::new(channel.clone());
    let cases = [
        ("nope", tonic::Code::NotFound),
        ("embeddings", tonic::Code::InvalidArgument),
        ("err400", tonic::Code::InvalidArgument),
        ("err429", tonic::Code::ResourceExhausted),
        ("errnoerr", tonic::Code::Unavailable),
        ("unreachable", tonic::Code::Unavailable),
        ("slow", tonic::Code::DeadlineExceeded),
    ];
    for (endpoint, code) in cases {
        let err = chat.chat(chat_request(endpoint)).await.unwrap_err();
        assert_eq!(err.code(), code, "{endpoint}: {}", err.message());
    }
    let err = chat
        .chat(pb::ChatRequest {
            endpoint: "chat".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("messages"), "{}", err.message());

    let err = CompletionsServiceClient::new(channel.clone())
        .complete(pb::CompletionRequest {
            endpoint: "groq-completions".into(),
            prompt: "p".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    assert_eq!(
        err.message(),
        "The completions route is not implemented for Groq models."
    );

    // Opening failures are plain statuses; a failure mid-stream ends the stream with one.
    let err = chat.stream_chat(chat_request("err400")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let items: Vec<_> = chat
        .stream_chat(chat_request("stream-error"))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert!(items.first().unwrap().is_ok());
    assert!(items.last().unwrap().is_err());
}

/// Splits a grpc-web response body into (data messages, trailer text).
fn grpc_web_parse(body: &[u8]) -> (Vec<Vec<u8>>, String) {
    let (mut messages, mut trailers, mut rest) = (Vec::new(), String::new(), body);
    while rest.len() >= 5 {
        let flag = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let payload = &rest[5..5 + len];
        if flag & 0x80 != 0 {
            trailers.push_str(std::str::from_utf8(payload).unwrap());
        } else {
            messages.push(payload.to_vec());
        }
        rest = &rest[5 + len..];
    }
    (messages, trailers)
}

#[tokio::test]
async fn grpc_web_over_http1() {
    let gw = TestGateway::start(CONFIG).await;
    let client = reqwest::Client::builder().http1_only().build().unwrap();
    let resp = client
        .post(gw.url("/llmgateway.v1.ChatService/Chat"))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(grpc_web_frame(&chat_request("chat")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    let body = resp.bytes().await.unwrap();
    let (messages, trailers) = grpc_web_parse(&body);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    let reply = pb::ChatResponse::decode(messages[0].as_slice()).unwrap();
    assert_eq!(
        reply.choices[0]
            .message
            .as_ref()
            .unwrap()
            .content
            .as_deref(),
        Some("Hello from mock")
    );

    // Streaming over grpc-web: several messages, then the trailer.
    let resp = client
        .post(gw.url("/llmgateway.v1.ChatService/StreamChat"))
        .header("content-type", "application/grpc-web+proto")
        .body(grpc_web_frame(&chat_request("chat")))
        .send()
        .await
        .unwrap();
    let (messages, trailers) = grpc_web_parse(&resp.bytes().await.unwrap());
    assert!(messages.len() >= 3);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");

    // Errors arrive as grpc-status in the trailers.
    let resp = client
        .post(gw.url("/llmgateway.v1.ChatService/Chat"))
        .header("content-type", "application/grpc-web+proto")
        .body(grpc_web_frame(&chat_request("nope")))
        .send()
        .await
        .unwrap();
    let status = resp
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.bytes().await.unwrap();
    let (_, trailers) = grpc_web_parse(&body);
    let code = status.unwrap_or_else(|| trailers.clone());
    assert!(
        code.contains('5'),
        "expected NOT_FOUND (5): {code} {trailers}"
    );
}

#[tokio::test]
async fn grpc_web_over_http2() {
    let gw = TestGateway::start(CONFIG).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = client
        .post(gw.url("/llmgateway.v1.EndpointsService/GetEndpoint"))
        .header("content-type", "application/grpc-web+proto")
        .body(grpc_web_frame(&pb::GetEndpointRequest {
            name: "chat".into(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let (messages, trailers) = grpc_web_parse(&resp.bytes().await.unwrap());
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    let endpoint = pb::Endpoint::decode(messages[0].as_slice()).unwrap();
    assert_eq!(endpoint.endpoint_type, "llm/v1/chat");
    assert_eq!(endpoint.model.unwrap().provider, "openai");
}
