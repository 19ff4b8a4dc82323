//! Request-body tests for the Gemini conversions, against MLflow's recorded payloads
//! (spec §3.5 and §6) and `tests/fixtures/gemini/`.

use super::*;
use crate::proto_json::to_pb_struct;
use serde_json::{Value, json};

fn msg(role: &str, text: &str) -> pb::Message {
    pb::Message {
        role: role.into(),
        content: Some(text.into()),
        ..Default::default()
    }
}

fn obj(v: Value) -> pbjson_types::Struct {
    to_pb_struct(v.as_object().cloned().unwrap())
}

fn to_json<T: serde::Serialize>(body: &T) -> Value {
    serde_json::to_value(body).unwrap()
}

fn weather_tool() -> pb::Tool {
    pb::Tool {
        r#type: "function".into(),
        function: Some(pb::FunctionDefinition {
            name: "get_weather".into(),
            description: Some("Get current temperature for a given location.".into()),
            parameters: Some(obj(json!({
                "type": "object",
                "properties": {"location": {"type": "string", "description": "The name of a city"}},
                "required": ["location"]
            }))),
            strict: None,
        }),
    }
}

fn unprocessable(e: GatewayError) -> String {
    match e {
        GatewayError::Unprocessable(m) => m,
        other => panic!("expected a 422, got {other:?}"),
    }
}

#[test]
fn observed_chat_body_byte_for_byte() {
    let req = pb::ChatRequest {
        messages: vec![
            msg("user", "hi"),
            msg("assistant", "hey"),
            msg("system", "sys"),
            msg("user", "again"),
        ],
        temperature: Some(0.3),
        top_p: Some(0.9),
        max_tokens: Some(20),
        stop: vec!["x".into()],
        // Dropped: MLflow forwards no extra parameter to Gemini.
        extra_params: Some(obj(json!({"seed": 7, "user": "u"}))),
        ..Default::default()
    };
    let body = serde_json::to_string(&chat_body(&req).unwrap()).unwrap();
    let want = include_str!("../../../tests/fixtures/gemini/chat_request_expected.json");
    assert_eq!(body, want.trim());
}

#[test]
fn mlflow_chat_fixture_parameters() {
    let req = pb::ChatRequest {
        messages: vec![
            msg("system", "You are a helpful assistant"),
            msg("user", "Tell me a joke"),
        ],
        temperature: Some(0.1),
        top_p: Some(1.0),
        stop: vec!["\n".into()],
        n: Some(1),
        max_tokens: Some(100),
        top_k: Some(40),
        ..Default::default()
    };
    assert_eq!(
        to_json(&chat_body(&req).unwrap()),
        json!({
            "contents": [{"role": "user", "parts": [{"text": "Tell me a joke"}]}],
            "system_instruction": {"parts": [{"text": "You are a helpful assistant"}]},
            "generationConfig": {"temperature": 0.1, "topP": 1.0, "stopSequences": ["\n"],
                                 "candidateCount": 1, "maxOutputTokens": 100, "topK": 40}
        })
    );
}

#[test]
fn all_parameters_and_response_formats() {
    let mut req = pb::ChatRequest {
        messages: vec![msg("user", "q")],
        n: Some(2),
        max_completion_tokens: Some(64),
        presence_penalty: Some(0.5),
        frequency_penalty: Some(-0.5),
        response_format: Some(pb::ResponseFormat {
            r#type: "json_schema".into(),
            json_schema: Some(pb::JsonSchemaFormat {
                name: "answer".into(),
                description: None,
                schema: Some(obj(json!({"type": "object"}))),
                strict: None,
            }),
        }),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_string(&chat_body(&req).unwrap().generation_config).unwrap(),
        r#"{"candidateCount":2,"maxOutputTokens":64,"presencePenalty":0.5,"frequencyPenalty":-0.5,"responseJsonSchema":{"type":"object"},"responseMimeType":"application/json"}"#
    );
    // max_tokens wins over max_completion_tokens.
    req.max_tokens = Some(10);
    req.response_format = Some(pb::ResponseFormat {
        r#type: "json_object".into(),
        json_schema: None,
    });
    let gc = to_json(&chat_body(&req).unwrap())["generationConfig"].clone();
    assert_eq!(gc["maxOutputTokens"], 10);
    assert_eq!(gc["responseMimeType"], "application/json");
    assert!(gc.get("responseJsonSchema").is_none());
    req.response_format = Some(pb::ResponseFormat {
        r#type: "text".into(),
        json_schema: None,
    });
    let gc = to_json(&chat_body(&req).unwrap())["generationConfig"].clone();
    assert!(gc.get("responseMimeType").is_none());
}

#[test]
fn gemini_parameter_names_are_refused_in_mlflow_order() {
    for (extra, want) in [
        (
            json!({"stopSequences": ["x"]}),
            "Invalid parameter stopSequences. Use stop instead.",
        ),
        (
            json!({"topK": 4, "candidateCount": 1}),
            "Invalid parameter candidateCount. Use n instead.",
        ),
        (
            json!({"maxOutputTokens": 5}),
            "Invalid parameter maxOutputTokens. Use max_tokens instead.",
        ),
        (
            json!({"presencePenalty": 1}),
            "Invalid parameter presencePenalty. Use presence_penalty instead.",
        ),
    ] {
        let req = pb::ChatRequest {
            messages: vec![msg("user", "q")],
            extra_params: Some(obj(extra.clone())),
            ..Default::default()
        };
        assert_eq!(unprocessable(chat_body(&req).err().unwrap()), want);
        let creq = pb::CompletionRequest {
            prompt: "p".into(),
            extra_params: Some(obj(extra)),
            ..Default::default()
        };
        assert_eq!(unprocessable(completion_body(&creq).err().unwrap()), want);
    }
}

/// MLflow's `test_gemini_chat_function_calling_second_turn`, plus a second consecutive result.
#[test]
fn tool_round_trip_pairs_results_with_call_names() {
    let call = |id: &str, name: &str, args: &str| pb::ToolCall {
        id: id.into(),
        r#type: "function".into(),
        function: Some(pb::FunctionCall {
            name: Some(name.into()),
            arguments: Some(args.into()),
        }),
        thought_signature: None,
    };
    let tool = |id: &str, content: &str| pb::Message {
        role: "tool".into(),
        content: Some(content.into()),
        tool_call_id: Some(id.into()),
        ..Default::default()
    };
    let mut with_sig = call("call_002", "get_time", "");
    with_sig.thought_signature = Some("c2ln".into());
    let req = pb::ChatRequest {
        messages: vec![
            msg("user", "What's the weather like in Singapore today?"),
            pb::Message {
                role: "assistant".into(),
                tool_calls: vec![
                    call("call_001", "get_weather", r#"{"location": "Singapore"}"#),
                    with_sig,
                ],
                ..Default::default()
            },
            tool("call_001", r#"{"temperature": 31.2, "condition": "sunny"}"#),
            tool("call_002", "noon"),
        ],
        temperature: Some(0.5),
        tools: vec![weather_tool()],
        ..Default::default()
    };
    let body = serde_json::to_string(&chat_body(&req).unwrap()).unwrap();
    assert_eq!(
        body,
        concat!(
            r#"{"contents":[{"role":"user","parts":[{"text":"What's the weather like in Singapore today?"}]},"#,
            r#"{"role":"model","parts":[{"functionCall":{"id":"call_001","name":"get_weather","args":{"location": "Singapore"}}},"#,
            r#"{"functionCall":{"id":"call_002","name":"get_time","args":{}},"thoughtSignature":"c2ln"}]},"#,
            r#"{"role":"user","parts":[{"functionResponse":{"id":"call_001","name":"get_weather","response":{"temperature": 31.2, "condition": "sunny"}}},"#,
            r#"{"functionResponse":{"id":"call_002","name":"get_time","response":{"result":"noon"}}}]}],"#,
            r#""generationConfig":{"candidateCount":1,"temperature":0.5},"#,
            r#""tools":[{"functionDeclarations":[{"name":"get_weather","description":"Get current temperature for a given location.","#,
            r#""parametersJsonSchema":{"properties":{"location":{"description":"The name of a city","type":"string"}},"required":["location"],"type":"object"}}]}]}"#
        )
    );
}

#[test]
fn tool_errors_are_422() {
    let req = pb::ChatRequest {
        messages: vec![
            msg("user", "q"),
            pb::Message {
                role: "tool".into(),
                content: Some("x".into()),
                tool_call_id: Some("call_9".into()),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    assert_eq!(
        unprocessable(chat_body(&req).err().unwrap()),
        "Invalid tool message: tool_call_id=call_9 does not match any tool call in a preceding assistant message."
    );
    let bad_args = pb::ChatRequest {
        messages: vec![pb::Message {
            role: "assistant".into(),
            tool_calls: vec![pb::ToolCall {
                id: "c1".into(),
                r#type: "function".into(),
                function: Some(pb::FunctionCall {
                    name: Some("f".into()),
                    arguments: Some("{not json".into()),
                }),
                thought_signature: None,
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        unprocessable(chat_body(&bad_args).err().unwrap()),
        "Invalid assistant tool call arguments: not valid JSON for tool_call_id=c1, tool_name=f."
    );
    let mut web = weather_tool();
    web.r#type = "web_search".into();
    let req = pb::ChatRequest {
        messages: vec![msg("user", "q")],
        tools: vec![web],
        ..Default::default()
    };
    assert_eq!(
        unprocessable(chat_body(&req).err().unwrap()),
        "Only function calling tool is supported, but received tool type web_search"
    );
}

#[test]
fn tool_choice_modes() {
    use pb::tool_choice::Choice;
    let body = |choice: Choice, tools: bool| {
        let req = pb::ChatRequest {
            messages: vec![msg("user", "q")],
            tools: if tools { vec![weather_tool()] } else { vec![] },
            tool_choice: Some(pb::ToolChoice {
                choice: Some(choice),
            }),
            ..Default::default()
        };
        to_json(&chat_body(&req).unwrap())
            .get("toolConfig")
            .cloned()
    };
    assert_eq!(
        body(Choice::Mode("none".into()), true),
        Some(json!({"functionCallingConfig": {"mode": "NONE"}}))
    );
    assert_eq!(
        body(Choice::Mode("required".into()), true),
        Some(json!({"functionCallingConfig": {"mode": "ANY"}}))
    );
    assert_eq!(
        body(Choice::FunctionName("get_weather".into()), true),
        Some(
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
        )
    );
    assert_eq!(body(Choice::Mode("auto".into()), true), None);
    assert_eq!(body(Choice::Mode("required".into()), false), None);
}

#[test]
fn roles_and_multimodal_parts() {
    use pb::content_part::Part;
    let part = |p: Part| pb::ContentPart { part: Some(p) };
    let req = pb::ChatRequest {
        messages: vec![
            msg("developer", "dev rules"),
            pb::Message {
                role: "user".into(),
                content_parts: vec![
                    part(Part::Text("look".into())),
                    part(Part::ImageUrl(pb::ImageUrl {
                        url: "data:image/png;base64,iVBOR".into(),
                        detail: None,
                    })),
                    part(Part::ImageUrl(pb::ImageUrl {
                        url: "https://x/cat.png".into(),
                        detail: Some("low".into()),
                    })),
                    part(Part::InputAudio(pb::InputAudio {
                        data: "UklG".into(),
                        format: "wav".into(),
                    })),
                ],
                ..Default::default()
            },
            msg("critic", "dropped"),
            pb::Message {
                role: "assistant".into(),
                content_parts: vec![
                    part(Part::Reasoning(pb::Reasoning {
                        summary_text: vec!["hidden".into()],
                    })),
                    part(Part::Text("seen".into())),
                ],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let v = to_json(&chat_body(&req).unwrap());
    assert_eq!(
        v["system_instruction"],
        json!({"parts": [{"text": "dev rules"}]})
    );
    assert_eq!(
        v["contents"],
        json!([
            {"role": "user", "parts": [
                {"text": "look"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
                {"text": "[unsupported image reference: https://x/cat.png]"},
                {"inlineData": {"mimeType": "audio/wav", "data": "UklG"}}
            ]},
            {"role": "model", "parts": [{"text": "seen"}]}
        ])
    );
}

#[test]
fn completion_is_one_user_turn_with_optional_system_prompt() {
    let req = pb::CompletionRequest {
        prompt: "Tell me a joke".into(),
        temperature: Some(0.1),
        top_p: Some(1.0),
        stop: vec!["\n".into()],
        n: Some(1),
        max_tokens: Some(50),
        top_k: Some(40),
        extra_params: Some(obj(json!({"system_prompt": "be brief"}))),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_string(&completion_body(&req).unwrap()).unwrap(),
        r#"{"contents":[{"role":"user","parts":[{"text":"Tell me a joke"}]}],"system_instruction":{"parts":[{"text":"be brief"}]},"generationConfig":{"candidateCount":1,"stopSequences":["\n"],"maxOutputTokens":50,"temperature":0.1,"topP":1.0,"topK":40}}"#
    );
}

#[test]
fn embeddings_single_batch_and_refusals() {
    let single = pb::EmbedRequest {
        texts: vec!["This is a test embedding.".into()],
        ..Default::default()
    };
    match embed_call(&single, "models/text-embedding-004").unwrap() {
        EmbedCall::Single(b) => assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"content":{"parts":[{"text":"This is a test embedding."}]}}"#
        ),
        EmbedCall::Batch(_) => panic!("one input is embedContent"),
    }
    let batch = pb::EmbedRequest {
        texts: vec!["Test embedding 1.".into(), "Test embedding 2.".into()],
        dimensions: Some(64),
        ..Default::default()
    };
    match embed_call(&batch, "models/text-embedding-004").unwrap() {
        EmbedCall::Batch(b) => assert_eq!(
            to_json(&b),
            json!({"requests": [
                {"model": "models/text-embedding-004", "content": {"parts": [{"text": "Test embedding 1."}]}, "outputDimensionality": 64},
                {"model": "models/text-embedding-004", "content": {"parts": [{"text": "Test embedding 2."}]}, "outputDimensionality": 64}
            ]})
        ),
        EmbedCall::Single(_) => panic!("two inputs are batchEmbedContents"),
    }
    let tokens = pb::EmbedRequest {
        token_ids: vec![pb::TokenIds { ids: vec![1, 2] }],
        ..Default::default()
    };
    assert!(unprocessable(embed_call(&tokens, "m").err().unwrap()).contains("token ids"));
    let empty = pb::EmbedRequest::default();
    assert!(embed_call(&empty, "m").is_err());
}
