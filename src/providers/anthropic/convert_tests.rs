//! Unit tests of the request conversions, on the recorded payloads of `tests/fixtures/anthropic/`.

use super::*;
use crate::proto_json::to_pb_struct;
use serde_json::json;

const TOOLS_REQUEST: &str =
    include_str!("../../../tests/fixtures/anthropic/chat_tools_request.json");

fn msg(role: &str, text: &str) -> pb::Message {
    pb::Message {
        role: role.into(),
        content: Some(text.into()),
        ..Default::default()
    }
}

fn st(v: Value) -> pbjson_types::Struct {
    to_pb_struct(v.as_object().cloned().unwrap())
}

fn body(req: &pb::ChatRequest) -> Value {
    serde_json::to_value(chat_body(req, "claude-3-5-sonnet-latest", false).unwrap()).unwrap()
}

fn err(req: &pb::ChatRequest) -> String {
    match chat_body(req, "m", false) {
        Err(GatewayError::Unprocessable(m)) => m,
        Err(e) => panic!("unexpected error {e:?}"),
        Ok(_) => panic!("expected a 422"),
    }
}

fn weather_tool() -> pb::Tool {
    pb::Tool {
        r#type: "function".into(),
        function: Some(pb::FunctionDefinition {
            name: "get_weather".into(),
            description: Some("d".into()),
            parameters: Some(st(
                json!({"type":"object","properties":{"city":{"type":"string"}}}),
            )),
            strict: None,
        }),
    }
}

#[test]
fn system_join_temperature_and_stop_match_mlflow() {
    let req = pb::ChatRequest {
        messages: vec![
            msg("system", "sys1"),
            msg("system", "sys2"),
            msg("user", "hi"),
        ],
        temperature: Some(1.0),
        stop: vec!["END".into()],
        n: Some(1),
        ..Default::default()
    };
    assert_eq!(
        body(&req),
        json!({"stop_sequences":["END"],"temperature":0.5,"messages":[{"role":"user","content":"hi"}],
               "model":"claude-3-5-sonnet-latest","max_tokens":8192,"system":"sys1\nsys2"})
    );
}

#[test]
fn tool_round_trip_matches_the_mlflow_transcript() {
    let mut assistant = msg("assistant", "");
    assistant.content = None;
    assistant.tool_calls = vec![pb::ToolCall {
        id: "toolu_0".into(),
        r#type: "function".into(),
        function: Some(pb::FunctionCall {
            name: Some("get_weather".into()),
            arguments: Some(r#"{"city": "Rome"}"#.into()),
        }),
        thought_signature: None,
    }];
    let mut tool = msg("tool", "sunny");
    tool.tool_call_id = Some("toolu_0".into());
    let req = pb::ChatRequest {
        messages: vec![msg("user", "weather?"), assistant, tool],
        tools: vec![weather_tool()],
        tool_choice: Some(pb::ToolChoice {
            choice: Some(pb::tool_choice::Choice::Mode("required".into())),
        }),
        ..Default::default()
    };
    let want: Value = serde_json::from_str(TOOLS_REQUEST).unwrap();
    assert_eq!(body(&req), want);
}

#[test]
fn assistant_text_is_kept_before_tool_use_and_bad_arguments_are_422() {
    let mut assistant = msg("assistant", "Checking.");
    assistant.tool_calls = vec![pb::ToolCall {
        id: "t1".into(),
        function: Some(pb::FunctionCall {
            name: Some("f".into()),
            arguments: None,
        }),
        ..Default::default()
    }];
    let req = pb::ChatRequest {
        messages: vec![msg("user", "x"), assistant.clone()],
        ..Default::default()
    };
    assert_eq!(
        body(&req)["messages"][1]["content"],
        json!([{"type":"text","text":"Checking."},{"type":"tool_use","id":"t1","name":"f","input":{}}])
    );
    assistant.tool_calls[0].function.as_mut().unwrap().arguments = Some("{oops".into());
    let req = pb::ChatRequest {
        messages: vec![assistant],
        ..Default::default()
    };
    assert!(err(&req).starts_with("The arguments of tool call 't1' are not valid JSON"));
}

#[test]
fn mlflow_422_rules() {
    let base = pb::ChatRequest {
        messages: vec![msg("user", "hi")],
        ..Default::default()
    };
    let mut r = base.clone();
    r.temperature = Some(0.5);
    r.top_p = Some(0.5);
    r.n = Some(2);
    assert_eq!(
        err(&r),
        "Cannot set both 'temperature' and 'top_p' parameters."
    );
    let mut r = base.clone();
    r.n = Some(2);
    assert_eq!(
        err(&r),
        "'n' must be '1' for the Anthropic provider. Received value: '2'."
    );
    let mut r = base.clone();
    r.max_completion_tokens = Some(1_000_001);
    assert_eq!(
        err(&r),
        "Invalid value for max_tokens: cannot exceed 1000000."
    );
    r.max_completion_tokens = Some(77);
    assert_eq!(body(&r)["max_tokens"], json!(77));
    assert!(body(&r).get("max_completion_tokens").is_none());
    let mut r = base.clone();
    r.tools = vec![pb::Tool {
        r#type: "uc_function".into(),
        function: None,
    }];
    assert_eq!(
        err(&r),
        "Only function calling tool is supported, but received tool type uc_function"
    );
}

#[test]
fn images_extras_and_parallel_tool_calls() {
    let img = |url: &str| pb::ContentPart {
        part: Some(pb::content_part::Part::ImageUrl(pb::ImageUrl {
            url: url.into(),
            detail: None,
        })),
    };
    let req = pb::ChatRequest {
        messages: vec![
            msg("developer", "be brief"),
            msg("weird-role", "dropped"),
            pb::Message {
                role: "user".into(),
                content_parts: vec![
                    pb::ContentPart {
                        part: Some(pb::content_part::Part::Text("look".into())),
                    },
                    img("data:image/png;base64,iVBORw0KGgo="),
                    img("https://example.com/cat.jpg"),
                    img("ftp://example.com/cat.jpg"),
                ],
                ..Default::default()
            },
        ],
        tools: vec![weather_tool()],
        top_k: Some(5),
        extra_params: Some(st(
            json!({"parallel_tool_calls": false, "metadata": {"user_id": "u1"}}),
        )),
        ..Default::default()
    };
    let v = body(&req);
    assert_eq!(v["system"], json!("be brief"));
    assert_eq!(
        v["messages"],
        json!([{"role":"user","content":[
            {"type":"text","text":"look"},
            {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
            {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}},
            {"type":"text","text":"[unsupported image reference: ftp://example.com/cat.jpg]"}]}])
    );
    assert_eq!(
        v["tool_choice"],
        json!({"type":"auto","disable_parallel_tool_use":true})
    );
    assert_eq!(v["metadata"], json!({"user_id": "u1"}));
    assert_eq!(v["top_k"], json!(5));
    assert!(v.get("parallel_tool_calls").is_none());

    let audio = pb::ChatRequest {
        messages: vec![pb::Message {
            role: "user".into(),
            content_parts: vec![pb::ContentPart {
                part: Some(pb::content_part::Part::InputAudio(pb::InputAudio {
                    data: "AA".into(),
                    format: "wav".into(),
                })),
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        err(&audio),
        "Audio input is not supported by the Anthropic provider."
    );
}

#[test]
fn tool_choice_forms() {
    let mut req = pb::ChatRequest {
        messages: vec![msg("user", "hi")],
        tools: vec![weather_tool()],
        ..Default::default()
    };
    for (choice, want) in [
        (
            pb::tool_choice::Choice::Mode("none".into()),
            json!({"type":"none"}),
        ),
        (
            pb::tool_choice::Choice::Mode("auto".into()),
            json!({"type":"auto"}),
        ),
        (
            pb::tool_choice::Choice::FunctionName("get_weather".into()),
            json!({"type":"tool","name":"get_weather"}),
        ),
    ] {
        req.tool_choice = Some(pb::ToolChoice {
            choice: Some(choice),
        });
        assert_eq!(body(&req)["tool_choice"], want);
    }
    // A tool without description or parameters still gets the schema Anthropic requires.
    req.tools[0].function.as_mut().unwrap().parameters = None;
    req.tools[0].function.as_mut().unwrap().description = None;
    assert_eq!(
        body(&req)["tools"],
        json!([{"name":"get_weather","input_schema":{"type":"object","properties":{}}}])
    );
}

#[test]
fn response_formats() {
    let mut req = pb::ChatRequest {
        messages: vec![msg("system", "sys"), msg("user", "hi")],
        response_format: Some(pb::ResponseFormat {
            r#type: "json_object".into(),
            json_schema: None,
        }),
        ..Default::default()
    };
    assert_eq!(
        body(&req)["system"],
        json!(format!("sys\n{JSON_OBJECT_INSTRUCTION}"))
    );
    let schema = json!({"type":"object","properties":{
        "name":{"type":"string"},
        "tags":{"type":"array","items":{"type":"object","properties":{"k":{"type":"string"}}}}},
        "required":["name"]});
    req.response_format = Some(pb::ResponseFormat {
        r#type: "json_schema".into(),
        json_schema: Some(pb::JsonSchemaFormat {
            name: "n".into(),
            schema: Some(st(schema)),
            ..Default::default()
        }),
    });
    let v = body(&req);
    assert_eq!(v["system"], json!("sys"));
    assert_eq!(v["output_config"]["format"]["type"], json!("json_schema"));
    let s = &v["output_config"]["format"]["schema"];
    assert_eq!(s["additionalProperties"], json!(false));
    assert_eq!(
        s["properties"]["tags"]["items"]["additionalProperties"],
        json!(false)
    );
    assert!(
        s["properties"]["name"]
            .get("additionalProperties")
            .is_none()
    );
    // An open object cannot be closed: the constraint is skipped, as in MLflow.
    req.response_format
        .as_mut()
        .unwrap()
        .json_schema
        .as_mut()
        .unwrap()
        .schema = Some(st(
        json!({"type":"object","properties":{"meta":{"type":"object"}}}),
    ));
    assert!(body(&req).get("output_config").is_none());
}

#[test]
fn completion_body_matches_mlflow() {
    let req = pb::CompletionRequest {
        prompt: "hello".into(),
        temperature: Some(0.4),
        max_tokens: Some(50),
        stop: vec!["\n".into()],
        n: Some(1),
        ..Default::default()
    };
    let v = serde_json::to_value(complete_body(&req, "claude-instant-1").unwrap()).unwrap();
    assert_eq!(
        v,
        json!({"stop_sequences":["\n"],"max_tokens_to_sample":50,"temperature":0.2,
               "prompt":"\n\nHuman: hello\n\nAssistant:","model":"claude-instant-1"})
    );
    let mut r = req.clone();
    r.top_p = Some(0.3);
    r.temperature = None;
    assert!(
        matches!(complete_body(&r, "m"), Err(GatewayError::Unprocessable(m))
        if m == "Cannot set both 'temperature' and 'top_p' parameters. Please use only the temperature parameter for your query.")
    );
    let mut r = req.clone();
    r.n = Some(3);
    assert!(complete_body(&r, "m").is_err());
    let r = pb::CompletionRequest {
        prompt: "x".into(),
        ..Default::default()
    };
    let v = serde_json::to_value(complete_body(&r, "m").unwrap()).unwrap();
    assert_eq!(v["max_tokens_to_sample"], json!(8192));
    assert!(v.get("temperature").is_none());
}

#[test]
fn prompt_wrapping() {
    assert_eq!(wrap_prompt("hi"), "\n\nHuman: hi\n\nAssistant:");
    assert_eq!(wrap_prompt("Human: hi"), "\n\nHuman: hi\n\nAssistant:");
    assert_eq!(
        wrap_prompt("\n\nHuman: hi\n\nAssistant:"),
        "\n\nHuman: hi\n\nAssistant:"
    );
}
