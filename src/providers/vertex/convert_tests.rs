//! Tests of the Vertex rules: model families, hosts and URLs as MLflow's tests pin them, and the
//! request bodies against `tests/fixtures/vertex/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::pb::v1 as pb;
use crate::proto_json::to_pb_struct;
use crate::providers::{anthropic, gemini};
use serde_json::json;

fn msg(role: &str, text: &str) -> pb::Message {
    pb::Message {
        role: role.into(),
        content: Some(text.into()),
        ..Default::default()
    }
}

#[test]
fn families_follow_mlflow() {
    for m in ["claude-sonnet-4-5@20251101", "Claude-3-haiku", "claude"] {
        assert_eq!(family(m), Family::Claude, "{m}");
    }
    for m in [
        "meta/llama-3.1-405b-instruct-maas",
        "mistral-large-2411",
        "codestral-2501",
        "jamba-1.5",
        "deepseek-ai/deepseek-r1-0528-maas",
        "xai/grok-4.1-fast-reasoning",
        "qwen3-coder-maas",
    ] {
        assert_eq!(family(m), Family::Maas, "{m}");
    }
    for m in [
        "gemini-2.0-flash",
        "gemini-3-pro-preview",
        "text-embedding-005",
    ] {
        assert_eq!(family(m), Family::Gemini, "{m}");
    }
}

#[test]
fn hosts_per_location() {
    assert_eq!(host("global"), "https://aiplatform.googleapis.com");
    assert_eq!(host("eu"), "https://aiplatform.eu.rep.googleapis.com");
    assert_eq!(host("us"), "https://aiplatform.us.rep.googleapis.com");
    assert_eq!(
        host("europe-west1"),
        "https://europe-west1-aiplatform.googleapis.com"
    );
    assert_eq!(
        host("us-central1"),
        "https://us-central1-aiplatform.googleapis.com"
    );
}

#[test]
fn gemini_urls() {
    let u = urls(
        Family::Gemini,
        None,
        "my-proj",
        "us-central1",
        "gemini-2.0-flash",
    )
    .unwrap();
    let base = "https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.0-flash";
    assert_eq!(u.call.as_str(), format!("{base}:generateContent"));
    assert_eq!(
        u.stream.as_str(),
        format!("{base}:streamGenerateContent?alt=sse")
    );
    let (single, batch) = u.embed.unwrap();
    assert_eq!(single.as_str(), format!("{base}:embedContent"));
    assert_eq!(batch.as_str(), format!("{base}:batchEmbedContents"));

    let g = urls(Family::Gemini, None, "p", "global", "gemini-3-pro-preview").unwrap();
    assert_eq!(
        g.call.as_str(),
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/google/models/gemini-3-pro-preview:generateContent"
    );
}

#[test]
fn claude_urls() {
    let u = urls(
        Family::Claude,
        None,
        "my-gcp-project",
        "us-east5",
        "claude-sonnet-4-5@20251101",
    )
    .unwrap();
    assert_eq!(
        u.call.as_str(),
        "https://us-east5-aiplatform.googleapis.com/v1/projects/my-gcp-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20251101:rawPredict"
    );
    assert_eq!(
        u.stream.as_str(),
        "https://us-east5-aiplatform.googleapis.com/v1/projects/my-gcp-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20251101:streamRawPredict"
    );
    assert!(u.embed.is_none());
    let eu = urls(Family::Claude, None, "p", "eu", "claude-x").unwrap();
    assert_eq!(
        eu.call.as_str(),
        "https://aiplatform.eu.rep.googleapis.com/v1/projects/p/locations/eu/publishers/anthropic/models/claude-x:rawPredict"
    );
}

#[test]
fn maas_urls_and_api_base_override() {
    let u = urls(
        Family::Maas,
        None,
        "my-gcp-project",
        "us-central1",
        "meta/llama-3.1-405b-instruct-maas",
    )
    .unwrap();
    let chat = "https://us-central1-aiplatform.googleapis.com/v1/projects/my-gcp-project/locations/us-central1/endpoints/openapi/chat/completions";
    assert_eq!(u.call.as_str(), chat);
    assert_eq!(u.stream.as_str(), chat);

    let o = urls(
        Family::Gemini,
        Some("http://127.0.0.1:8080/"),
        "p",
        "global",
        "gemini-2.0-flash",
    )
    .unwrap();
    assert_eq!(
        o.call.as_str(),
        "http://127.0.0.1:8080/v1/projects/p/locations/global/publishers/google/models/gemini-2.0-flash:generateContent"
    );
    assert!(urls(Family::Gemini, Some("not a url"), "p", "global", "m").is_err());
}

#[test]
fn completions_message_is_mlflows() {
    let e = completions_unsupported("claude-sonnet-4-5");
    assert_eq!(e.http_status(), 501);
    assert_eq!(
        e.to_string(),
        "The completions endpoint is not supported for claude-sonnet-4-5 on Vertex AI. Use the chat endpoint instead."
    );
}

/// MLflow's regression test for Vertex (#24127): parallel tool calls and their results go out
/// without `id`, names and arguments intact, thought signatures kept beside the call.
#[test]
fn gemini_body_drops_function_call_ids() {
    let call = |id: &str, args: &str, sig: Option<&str>| pb::ToolCall {
        id: id.into(),
        r#type: "function".into(),
        function: Some(pb::FunctionCall {
            name: Some("get_weather".into()),
            arguments: Some(args.into()),
        }),
        thought_signature: sig.map(str::to_owned),
    };
    let tool = |id: &str, content: &str| pb::Message {
        role: "tool".into(),
        content: Some(content.into()),
        tool_call_id: Some(id.into()),
        ..Default::default()
    };
    let req = pb::ChatRequest {
        messages: vec![
            msg("user", "What's the weather like in Singapore today?"),
            pb::Message {
                role: "assistant".into(),
                tool_calls: vec![
                    call(
                        "call_001",
                        r#"{"location": "Singapore"}"#,
                        Some("opaque_thought_sig_token"),
                    ),
                    call("call_002", r#"{"location": "Tokyo"}"#, None),
                ],
                ..Default::default()
            },
            tool("call_001", r#"{"temperature": 31.2, "condition": "sunny"}"#),
            tool("call_002", "cloudy"),
        ],
        tools: vec![pb::Tool {
            r#type: "function".into(),
            function: Some(pb::FunctionDefinition {
                name: "get_weather".into(),
                description: Some("Get current temperature for a given location.".into()),
                parameters: Some(to_pb_struct(
                    json!({
                        "type": "object",
                        "properties": {"location": {"type": "string", "description": "The name of a city"}},
                        "required": ["location"]
                    })
                    .as_object()
                    .cloned()
                    .unwrap(),
                )),
                strict: None,
            }),
        }],
        ..Default::default()
    };
    let studio_body = gemini::convert::chat_body(&req).unwrap();
    let bytes = gemini_body(&studio_body).unwrap();
    let expected = include_str!("../../../tests/fixtures/vertex/gemini_tool_turn_body.json");
    assert_eq!(String::from_utf8(bytes).unwrap(), expected.trim_end());
    // AI Studio's own body still carries the ids: only the Vertex form drops them.
    let studio = serde_json::to_string(&studio_body).unwrap();
    assert!(studio.contains(r#""id":"call_001""#));
}

#[test]
fn gemini_body_without_tools_is_the_gemini_body() {
    let req = pb::ChatRequest {
        messages: vec![msg("system", "sys"), msg("user", "hi")],
        temperature: Some(0.3),
        max_tokens: Some(20),
        ..Default::default()
    };
    let body = gemini::convert::chat_body(&req).unwrap();
    assert_eq!(
        gemini_body(&body).unwrap(),
        serde_json::to_vec(&body).unwrap()
    );
}

#[test]
fn claude_body_has_no_model_and_the_vertex_version() {
    let req = pb::ChatRequest {
        messages: vec![msg("system", "Be brief."), msg("user", "Hello")],
        temperature: Some(0.5),
        stop: vec!["END".into()],
        ..Default::default()
    };
    let body = anthropic::convert::chat_body(&req, "claude-sonnet-4-5@20250929", false).unwrap();
    let bytes = claude_body(&body).unwrap();
    let expected = include_str!("../../../tests/fixtures/vertex/claude_chat_body.json");
    assert_eq!(String::from_utf8(bytes).unwrap(), expected.trim_end());
}

#[test]
fn claude_body_streams_and_survives_odd_model_names() {
    let req = pb::ChatRequest {
        messages: vec![msg("user", "Hello")],
        ..Default::default()
    };
    // A name JSON must escape still matches the prefix the Anthropic body writes.
    let body = anthropic::convert::chat_body(&req, "claude-\"q\"\\x", true).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&claude_body(&body).unwrap()).unwrap();
    assert_eq!(
        value,
        json!({
            "messages": [{"role": "user", "content": "Hello"}],
            "max_tokens": 8192,
            "stream": true,
            "anthropic_version": "vertex-2023-10-16"
        })
    );
}
