//! Unit tests of the Converse conversions, on the payloads of `tests/fixtures/bedrock/`.

use super::*;
use crate::proto_json::to_pb_struct;
use serde_json::{Value, json};

const OBSERVED_REQUEST: &str =
    include_str!("../../../tests/fixtures/bedrock/converse_request_observed.json");
const TOOLS_REQUEST: &str =
    include_str!("../../../tests/fixtures/bedrock/converse_tools_request.json");
const TEXT_RESPONSE: &str =
    include_str!("../../../tests/fixtures/bedrock/converse_text_response.json");
const TOOLS_RESPONSE: &str =
    include_str!("../../../tests/fixtures/bedrock/converse_tools_response.json");

fn msg(role: &str, text: &str) -> pb::Message {
    pb::Message {
        role: role.into(),
        content: Some(text.into()),
        ..Default::default()
    }
}

fn call(id: &str, name: &str, args: Option<&str>) -> pb::ToolCall {
    pb::ToolCall {
        id: id.into(),
        r#type: "function".into(),
        function: Some(pb::FunctionCall {
            name: Some(name.into()),
            arguments: args.map(str::to_owned),
        }),
        thought_signature: None,
    }
}

fn tool_msg(id: &str, text: &str) -> pb::Message {
    pb::Message {
        tool_call_id: Some(id.into()),
        ..msg("tool", text)
    }
}

fn err(req: &pb::ChatRequest) -> String {
    match chat_body(req) {
        Err(GatewayError::Unprocessable(m)) => m,
        Err(e) => panic!("unexpected error {e:?}"),
        Ok(_) => panic!("expected a 422"),
    }
}

fn function(name: &str, description: Option<&str>, params: Option<Value>) -> pb::Tool {
    pb::Tool {
        r#type: "function".into(),
        function: Some(pb::FunctionDefinition {
            name: name.into(),
            description: description.map(str::to_owned),
            parameters: params.map(|p| to_pb_struct(p.as_object().cloned().unwrap())),
            strict: None,
        }),
    }
}

#[test]
fn plain_request_matches_the_observed_mlflow_body() {
    let req = pb::ChatRequest {
        messages: vec![msg("system", "sys"), msg("user", "hi")],
        temperature: Some(0.7),
        max_tokens: Some(30),
        stop: vec!["z".into()],
        n: Some(1),
        top_k: Some(5),
        presence_penalty: Some(0.5),
        ..Default::default()
    };
    let body = serde_json::to_string(&chat_body(&req).unwrap()).unwrap();
    assert_eq!(body, OBSERVED_REQUEST.trim());
}

#[test]
fn tools_calls_and_results_map_to_converse_blocks() {
    let req = pb::ChatRequest {
        messages: vec![
            msg("user", "weather?"),
            pb::Message {
                tool_calls: vec![
                    call("tooluse_0", "get_weather", Some(r#"{"city":"Rome"}"#)),
                    call("tooluse_1", "get_time", None),
                ],
                ..msg("assistant", "Let me check.")
            },
            tool_msg("tooluse_0", "sunny"),
            tool_msg("tooluse_1", "noon"),
        ],
        tools: vec![
            function(
                "get_weather",
                Some("d"),
                Some(json!({"type":"object","properties":{"city":{"type":"string"}}})),
            ),
            function("get_time", None, None),
            pb::Tool {
                r#type: "uc_function".into(),
                function: None,
            },
        ],
        tool_choice: Some(pb::ToolChoice {
            choice: Some(pb::tool_choice::Choice::Mode("required".into())),
        }),
        ..Default::default()
    };
    let body = serde_json::to_string(&chat_body(&req).unwrap()).unwrap();
    assert_eq!(body, TOOLS_REQUEST.trim());
}

#[test]
fn tool_choice_modes() {
    let choice = |c: pb::tool_choice::Choice| {
        let req = pb::ChatRequest {
            messages: vec![msg("user", "x")],
            tools: vec![function("f", None, None)],
            tool_choice: Some(pb::ToolChoice { choice: Some(c) }),
            ..Default::default()
        };
        serde_json::to_value(chat_body(&req).unwrap()).unwrap()["toolConfig"]["toolChoice"].clone()
    };
    use pb::tool_choice::Choice;
    assert_eq!(choice(Choice::Mode("auto".into())), json!({"auto": {}}));
    assert_eq!(choice(Choice::Mode("none".into())), Value::Null);
    assert_eq!(
        choice(Choice::FunctionName("f".into())),
        json!({"tool": {"name": "f"}})
    );
    // Without tools there is no toolConfig at all.
    let req = pb::ChatRequest {
        messages: vec![msg("user", "x")],
        tool_choice: Some(pb::ToolChoice {
            choice: Some(Choice::Mode("auto".into())),
        }),
        max_completion_tokens: Some(7),
        ..Default::default()
    };
    let body = serde_json::to_value(chat_body(&req).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"messages":[{"role":"user","content":[{"text":"x"}]}],"inferenceConfig":{"maxTokens":7}})
    );
}

#[test]
fn bad_tool_calls_get_mlflow_422_texts() {
    let with_call = |c: pb::ToolCall| pb::ChatRequest {
        messages: vec![pb::Message {
            tool_calls: vec![c],
            ..msg("assistant", "")
        }],
        ..Default::default()
    };
    assert_eq!(
        err(&with_call(call("t1", "f", Some("{not json")))),
        "Invalid assistant tool call arguments: not valid JSON for tool_call_id=t1, tool_name=f."
    );
    assert_eq!(
        err(&with_call(call("t2", "f", Some("  ")))),
        "Invalid assistant tool call arguments: not valid JSON for tool_call_id=t2, tool_name=f."
    );
    assert_eq!(
        err(&with_call(call("t3", " ", Some("{}")))),
        "Invalid assistant tool call: missing function name for tool_call_id=t3."
    );
}

#[test]
fn list_content_images_and_roles() {
    use pb::content_part::Part;
    let parts = |ps: Vec<Part>| pb::Message {
        role: "user".into(),
        content_parts: ps
            .into_iter()
            .map(|p| pb::ContentPart { part: Some(p) })
            .collect(),
        ..Default::default()
    };
    let image = |url: &str| {
        Part::ImageUrl(pb::ImageUrl {
            url: url.into(),
            detail: None,
        })
    };
    let req = pb::ChatRequest {
        messages: vec![
            msg("developer", "dev"),
            parts(vec![Part::Text("a".into()), Part::Text("b".into())]),
            parts(vec![
                Part::Text("look".into()),
                image("data:image/JPEG;base64,QUJD"),
            ]),
            msg("critic", "other roles are user turns"),
        ],
        ..Default::default()
    };
    let body = serde_json::to_value(chat_body(&req).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({
            "messages": [
                {"role":"user","content":[{"text":"a\nb"}]},
                {"role":"user","content":[{"text":"look"},{"image":{"format":"jpeg","source":{"bytes":"QUJD"}}}]},
                {"role":"user","content":[{"text":"other roles are user turns"}]}
            ],
            "system": [{"text":"dev"}]
        })
    );
    let linked = pb::ChatRequest {
        messages: vec![parts(vec![image("https://example.com/cat.png")])],
        ..Default::default()
    };
    assert!(err(&linked).contains("only as base64 data URLs"));
    let tiff = pb::ChatRequest {
        messages: vec![parts(vec![image("data:image/tiff;base64,AAAA")])],
        ..Default::default()
    };
    assert!(err(&tiff).contains("'image/tiff'"));
}

#[test]
fn text_response_matches_the_mlflow_fixture() {
    let wire: wire::ConverseResponse = serde_json::from_str(TEXT_RESPONSE).unwrap();
    let r = chat_response(wire, "anthropic.claude-3-haiku", 1_700_000_000);
    assert_eq!(r.id, None);
    assert_eq!(
        (r.created, r.model.as_str()),
        (1_700_000_000, "anthropic.claude-3-haiku")
    );
    let m = r.choices[0].message.as_ref().unwrap();
    assert_eq!(m.content.as_deref(), Some("Hello from Bedrock!"));
    assert!(m.tool_calls.is_empty());
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (Some(10), Some(20), Some(30))
    );
    assert!(u.prompt_tokens_details.is_none() && u.extra.is_none());
}

#[test]
fn tool_response_uses_python_json_and_cache_usage() {
    let wire: wire::ConverseResponse = serde_json::from_str(TOOLS_RESPONSE).unwrap();
    let r = chat_response(wire, "m", 1);
    let m = r.choices[0].message.as_ref().unwrap();
    assert_eq!(m.content.as_deref(), Some("Let me check."));
    assert_eq!(m.tool_calls.len(), 1);
    assert_eq!(m.tool_calls[0].id, "tooluse_1");
    let f = m.tool_calls[0].function.as_ref().unwrap();
    assert_eq!(f.name.as_deref(), Some("get_weather"));
    assert_eq!(
        f.arguments.as_deref(),
        Some(r#"{"city": "Paris", "units": ["c", "\u00e9"]}"#)
    );
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (Some(15), Some(5), Some(20))
    );
    assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, Some(2));
    assert_eq!(
        crate::proto_json::to_json_map(&u.extra.unwrap()),
        json!({"cache_creation_input_tokens": 3})
            .as_object()
            .cloned()
            .unwrap()
    );
}

#[test]
fn finish_reasons_and_partial_usage() {
    for (from, to) in [
        (Some("end_turn"), "stop"),
        (Some("stop_sequence"), "stop"),
        (Some("tool_use"), "tool_calls"),
        (Some("max_tokens"), "length"),
        (Some("model_context_window_exceeded"), "length"),
        (Some("content_filtered"), "content_filter"),
        (Some("guardrail_intervened"), "content_filter"),
        (None, "stop"),
    ] {
        assert_eq!(finish_reason(from), to);
    }
    let u = usage(&wire::Usage {
        output_tokens: Some(4),
        total_tokens: Some(9),
        ..Default::default()
    });
    assert_eq!((u.prompt_tokens, u.total_tokens), (None, Some(9)));
    let empty: wire::ConverseResponse = serde_json::from_str(r#"{"output":{}}"#).unwrap();
    assert!(serde_json::from_str::<wire::ConverseResponse>("{}").is_err());
    let r = chat_response(empty, "m", 1);
    assert_eq!(r.choices[0].message.as_ref().unwrap().content, None);
    assert_eq!(r.usage.unwrap().prompt_tokens, None);
}
