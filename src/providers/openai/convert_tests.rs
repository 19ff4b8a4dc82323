//! Tests of `convert.rs`.

use super::*;
use serde_json::json;

fn user(text: &str) -> pb::Message {
    pb::Message {
        role: "user".into(),
        content: Some(text.into()),
        ..Default::default()
    }
}

#[test]
fn chat_body_matches_mlflow_payload() {
    let req = pb::ChatRequest {
        endpoint: "chat".into(),
        messages: vec![user("hi")],
        temperature: Some(0.5),
        max_tokens: Some(10),
        stop: vec!["x".into()],
        extra_params: Some(to_pb_struct(
            json!({"foo": "bar", "seed": 7})
                .as_object()
                .cloned()
                .unwrap(),
        )),
        ..Default::default()
    };
    let body = chat_body(
        &req,
        BodyContext {
            model: Some("gpt-4o-mini"),
        },
        false,
    );
    let v: serde_json::Value = serde_json::to_value(&body).unwrap();
    assert_eq!(
        v,
        json!({"model":"gpt-4o-mini","n":1,"stop":["x"],"max_tokens":10,"temperature":0.5,
               "messages":[{"role":"user","content":"hi"}],"foo":"bar","seed":7})
    );
}

#[test]
fn stream_injects_include_usage_and_azure_omits_model() {
    let req = pb::ChatRequest {
        messages: vec![user("hi")],
        ..Default::default()
    };
    let v = serde_json::to_value(chat_body(&req, BodyContext { model: None }, true)).unwrap();
    assert_eq!(v["stream"], json!(true));
    assert_eq!(v["stream_options"], json!({"include_usage": true}));
    assert!(v.get("model").is_none());
}

#[test]
fn tools_tool_choice_and_parts_serialise() {
    let req = pb::ChatRequest {
        messages: vec![pb::Message {
            role: "user".into(),
            content_parts: vec![
                pb::ContentPart {
                    part: Some(pb::content_part::Part::Text("look".into())),
                },
                pb::ContentPart {
                    part: Some(pb::content_part::Part::ImageUrl(pb::ImageUrl {
                        url: "data:image/png;base64,AA".into(),
                        detail: Some("low".into()),
                    })),
                },
            ],
            ..Default::default()
        }],
        tools: vec![pb::Tool {
            r#type: "function".into(),
            function: Some(pb::FunctionDefinition {
                name: "get_weather".into(),
                description: Some("d".into()),
                parameters: Some(to_pb_struct(
                    json!({"type":"object","properties":{"city":{"type":"string","minLength":1}}})
                        .as_object()
                        .cloned()
                        .unwrap(),
                )),
                strict: None,
            }),
        }],
        tool_choice: Some(pb::ToolChoice {
            choice: Some(pb::tool_choice::Choice::FunctionName("get_weather".into())),
        }),
        ..Default::default()
    };
    let v = serde_json::to_value(chat_body(&req, BodyContext { model: Some("m") }, false)).unwrap();
    assert_eq!(
        v["messages"][0]["content"],
        json!([{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA","detail":"low"}}])
    );
    assert_eq!(
        v["tools"][0]["function"]["parameters"]["properties"]["city"]["minLength"],
        json!(1)
    );
    assert_eq!(
        v["tool_choice"],
        json!({"type":"function","function":{"name":"get_weather"}})
    );
}

#[test]
fn embeddings_input_keeps_client_form() {
    let single = pb::EmbedRequest {
        texts: vec!["a".into()],
        single_input: true,
        ..Default::default()
    };
    let v =
        serde_json::to_value(embeddings_body(&single, BodyContext { model: Some("e") })).unwrap();
    assert_eq!(v, json!({"model":"e","input":"a"}));
    let tokens = pb::EmbedRequest {
        token_ids: vec![
            pb::TokenIds { ids: vec![1, 2] },
            pb::TokenIds { ids: vec![3] },
        ],
        encoding_format: Some("base64".into()),
        ..Default::default()
    };
    let v = serde_json::to_value(embeddings_body(&tokens, BodyContext { model: None })).unwrap();
    assert_eq!(v, json!({"input":[[1,2],[3]],"encoding_format":"base64"}));
}

#[test]
fn chat_response_reindexes_and_keeps_usage_extras() {
    let c: wire::Completion = serde_json::from_value(json!({
        "id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-up",
        "choices":[{"index":5,"message":{"role":"assistant","content":"Hello","refusal":"no"},"finish_reason":"stop","logprobs":null}],
        "usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,
                 "prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},
                 "completion_tokens_details":{"reasoning_tokens":0},"cost":0.5},
        "system_fingerprint":"fp"
    }))
    .unwrap();
    let r = chat_response(c, "cfg", 1);
    assert_eq!(r.id.as_deref(), Some("chatcmpl-1"));
    assert_eq!(r.choices[0].index, 0);
    let msg = r.choices[0].message.as_ref().unwrap();
    assert_eq!(msg.content.as_deref(), Some("Hello"));
    assert_eq!(msg.refusal, None);
    let u = r.usage.unwrap();
    assert_eq!(u.total_tokens, Some(12));
    assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, Some(0));
    assert!(u.extra.unwrap().fields.contains_key("cost"));
}

#[test]
fn missing_created_and_model_are_filled() {
    let c: wire::Completion =
        serde_json::from_value(json!({"choices":[{"message":{"content":"x"}}]})).unwrap();
    let r = chat_response(c, "configured", 42);
    assert_eq!(r.created, 42);
    assert_eq!(r.model, "configured");
    assert_eq!(r.id, None);
}

#[test]
fn completion_text_from_text_or_message() {
    let c: wire::Completion = serde_json::from_value(json!({
        "choices":[{"text":"from text","finish_reason":"length"},{"message":{"content":"from msg"}}]
    }))
    .unwrap();
    let r = completion_response(c, "m", 0);
    assert_eq!(r.choices[0].text, "from text");
    assert_eq!(r.choices[1].text, "from msg");
    assert_eq!(r.choices[1].index, 1);
}

#[test]
fn completion_chunks_read_text_then_delta() {
    let real: wire::Chunk = serde_json::from_value(json!({
        "id":"cmpl-1","object":"text_completion","created":1,"model":"m",
        "choices":[{"index":0,"text":"Hel","finish_reason":null,"logprobs":null}]
    }))
    .unwrap();
    assert_eq!(completion_chunk(real, "x", 0).choices[0].text, "Hel");
    let chat_like: wire::Chunk = serde_json::from_value(json!({
        "choices":[{"index":0,"delta":{"content":"lo"}}]
    }))
    .unwrap();
    assert_eq!(completion_chunk(chat_like, "x", 0).choices[0].text, "lo");
}

#[test]
fn chat_chunk_tool_call_deltas() {
    let c: wire::Chunk = serde_json::from_value(json!({
        "id":"c","created":1,"model":"m",
        "choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]
    }))
    .unwrap();
    let ch = chat_chunk(c, "x", 0);
    let d = ch.choices[0].delta.as_ref().unwrap();
    assert_eq!(d.tool_calls[0].id.as_deref(), Some("call_1"));
    assert_eq!(
        d.tool_calls[0].function.as_ref().unwrap().name.as_deref(),
        Some("f")
    );
}

#[test]
fn embeddings_floats_and_base64() {
    let e: wire::Embeddings = serde_json::from_value(json!({
        "object":"list","model":"emb","data":[
            {"object":"embedding","index":3,"embedding":[0.0023064255,-0.009327292]},
            {"object":"embedding","index":0,"embedding":"AAAA"}],
        "usage":{"prompt_tokens":8,"total_tokens":8}
    }))
    .unwrap();
    let r = embed_response(e, "x");
    assert_eq!(r.data[0].index, 0);
    assert_eq!(r.data[0].values, vec![0.0023064255, -0.009327292]);
    assert_eq!(r.data[1].base64.as_deref(), Some("AAAA"));
}
