//! Tests of `validate.rs`.

use super::*;
use crate::proto_json::to_pb_struct;

fn user(text: &str) -> pb::Message {
    pb::Message {
        role: "user".into(),
        content: Some(text.into()),
        ..Default::default()
    }
}

fn ok_chat() -> pb::ChatRequest {
    pb::ChatRequest {
        messages: vec![user("hi")],
        ..Default::default()
    }
}

fn body(r: Result<(), GatewayError>) -> String {
    r.unwrap_err().rest_body().to_string()
}

#[test]
fn valid_requests_pass_at_the_bounds() {
    let mut r = ok_chat();
    r.temperature = Some(2.0);
    r.top_p = Some(0.0);
    r.presence_penalty = Some(-2.0);
    r.frequency_penalty = Some(2.0);
    r.n = Some(1);
    r.max_tokens = Some(1);
    r.max_completion_tokens = Some(1);
    r.top_k = Some(1);
    r.tools = vec![pb::Tool {
        r#type: "function".into(),
        function: None,
    }];
    r.tool_choice = Some(pb::ToolChoice {
        choice: Some(pb::tool_choice::Choice::Mode("auto".into())),
    });
    r.extra_params = Some(to_pb_struct(
        json!({"seed": 1}).as_object().cloned().unwrap(),
    ));
    assert!(chat(&r).is_ok());
    let c = pb::CompletionRequest {
        prompt: "p".into(),
        ..Default::default()
    };
    assert!(completion(&c).is_ok());
    let e = pb::EmbedRequest {
        texts: vec!["a".into()],
        ..Default::default()
    };
    assert!(embed(&e).is_ok());
}

#[test]
fn each_range_rule_reports_pydantics_error() {
    type Mutation = fn(&mut pb::ChatRequest);
    let cases: Vec<(Mutation, &str)> = vec![
        (
            |r| r.temperature = Some(2.5),
            r#"{"type":"less_than_equal","loc":["body","temperature"],"msg":"Input should be less than or equal to 2","input":2.5,"ctx":{"le":2.0}}"#,
        ),
        (
            |r| r.temperature = Some(-0.1),
            r#"{"type":"greater_than_equal","loc":["body","temperature"],"msg":"Input should be greater than or equal to 0","input":-0.1,"ctx":{"ge":0.0}}"#,
        ),
        (
            |r| r.top_p = Some(1.5),
            r#"{"type":"less_than_equal","loc":["body","top_p"],"msg":"Input should be less than or equal to 1","input":1.5,"ctx":{"le":1.0}}"#,
        ),
        (
            |r| r.presence_penalty = Some(-3.0),
            r#"{"type":"greater_than_equal","loc":["body","presence_penalty"],"msg":"Input should be greater than or equal to -2","input":-3.0,"ctx":{"ge":-2.0}}"#,
        ),
        (
            |r| r.frequency_penalty = Some(2.5),
            r#"{"type":"less_than_equal","loc":["body","frequency_penalty"],"msg":"Input should be less than or equal to 2","input":2.5,"ctx":{"le":2.0}}"#,
        ),
        (
            |r| r.temperature = Some(f64::NAN),
            r#"{"type":"less_than_equal","loc":["body","temperature"],"msg":"Input should be less than or equal to 2","input":null,"ctx":{"le":2.0}}"#,
        ),
        (
            |r| r.n = Some(0),
            r#"{"type":"greater_than_equal","loc":["body","n"],"msg":"Input should be greater than or equal to 1","input":0,"ctx":{"ge":1}}"#,
        ),
        (
            |r| r.max_tokens = Some(0),
            r#"{"type":"greater_than_equal","loc":["body","max_tokens"],"msg":"Input should be greater than or equal to 1","input":0,"ctx":{"ge":1}}"#,
        ),
        (
            |r| r.max_completion_tokens = Some(0),
            r#"{"type":"greater_than_equal","loc":["body","max_completion_tokens"],"msg":"Input should be greater than or equal to 1","input":0,"ctx":{"ge":1}}"#,
        ),
        (
            |r| r.top_k = Some(0),
            r#"{"type":"greater_than_equal","loc":["body","top_k"],"msg":"Input should be greater than or equal to 1","input":0,"ctx":{"ge":1}}"#,
        ),
        (
            |r| r.messages.clear(),
            r#"{"type":"too_short","loc":["body","messages"],"msg":"List should have at least 1 item after validation, not 0","input":[],"ctx":{"field_type":"List","min_length":1,"actual_length":0}}"#,
        ),
        (
            |r| r.messages[0].role.clear(),
            r#"{"type":"missing","loc":["body","messages",0,"role"],"msg":"Field required","input":{"content":"hi"}}"#,
        ),
        (
            |r| {
                r.messages[0].content_parts = vec![pb::ContentPart {
                    part: Some(pb::content_part::Part::Text("x".into())),
                }];
            },
            r#"{"type":"value_error","loc":["body","messages",0,"content"],"msg":"Value error, content and content_parts are mutually exclusive","input":{"role":"user","content":"hi"},"ctx":{"error":"content and content_parts are mutually exclusive"}}"#,
        ),
        (
            |r| {
                r.messages[0].content = None;
                r.messages[0].content_parts = vec![pb::ContentPart { part: None }];
            },
            r#"{"type":"missing","loc":["body","messages",0,"content",0,"type"],"msg":"Field required","input":{}}"#,
        ),
        (
            |r| {
                r.response_format = Some(pb::ResponseFormat {
                    r#type: "yaml".into(),
                    json_schema: None,
                });
            },
            r#"{"type":"literal_error","loc":["body","response_format","type"],"msg":"Input should be 'text', 'json_object' or 'json_schema'","input":"yaml","ctx":{"expected":"'text', 'json_object' or 'json_schema'"}}"#,
        ),
        (
            |r| {
                r.tools = vec![pb::Tool {
                    r#type: "f".into(),
                    function: None,
                }];
            },
            r#"{"type":"literal_error","loc":["body","tools",0,"type"],"msg":"Input should be 'function' or 'uc_function'","input":"f","ctx":{"expected":"'function' or 'uc_function'"}}"#,
        ),
        (
            |r| {
                r.tool_choice = Some(pb::ToolChoice {
                    choice: Some(pb::tool_choice::Choice::Mode("any".into())),
                });
            },
            r#"{"type":"literal_error","loc":["body","tool_choice"],"msg":"Input should be 'none', 'auto' or 'required'","input":"any","ctx":{"expected":"'none', 'auto' or 'required'"}}"#,
        ),
        (
            |r| {
                r.tool_choice = Some(pb::ToolChoice {
                    choice: Some(pb::tool_choice::Choice::FunctionName(String::new())),
                });
            },
            r#"{"type":"missing","loc":["body","tool_choice","function","name"],"msg":"Field required","input":{}}"#,
        ),
        (
            |r| {
                r.messages[0].content = None;
                r.messages[0].content_parts = vec![
                    pb::ContentPart {
                        part: Some(pb::content_part::Part::ImageUrl(pb::ImageUrl {
                            url: "u".into(),
                            detail: Some("ultra".into()),
                        })),
                    },
                    pb::ContentPart {
                        part: Some(pb::content_part::Part::InputAudio(pb::InputAudio {
                            data: "d".into(),
                            format: "ogg".into(),
                        })),
                    },
                ];
            },
            concat!(
                r#"{"type":"literal_error","loc":["body","messages",0,"content",0,"image_url","detail"],"msg":"Input should be 'auto', 'low' or 'high'","input":"ultra","ctx":{"expected":"'auto', 'low' or 'high'"}},"#,
                r#"{"type":"literal_error","loc":["body","messages",0,"content",1,"input_audio","format"],"msg":"Input should be 'wav' or 'mp3'","input":"ogg","ctx":{"expected":"'wav' or 'mp3'"}}"#
            ),
        ),
        (
            |r| r.tool_choice = Some(pb::ToolChoice { choice: None }),
            r#"{"type":"missing","loc":["body","tool_choice"],"msg":"Field required","input":{}}"#,
        ),
        (
            |r| {
                r.extra_params = Some(to_pb_struct(
                    json!({"temperature": 5, "seed": 1})
                        .as_object()
                        .cloned()
                        .unwrap(),
                ));
            },
            r#"{"type":"extra_forbidden","loc":["body","extra_params","temperature"],"msg":"Extra inputs are not permitted","input":5}"#,
        ),
    ];
    for (mutate, want) in cases {
        let mut r = ok_chat();
        mutate(&mut r);
        assert_eq!(body(chat(&r)), format!(r#"{{"detail":[{want}]}}"#));
    }
}

#[test]
fn empty_stop_reads_as_absent() {
    let mut r = ok_chat();
    r.stop = Vec::new();
    assert!(chat(&r).is_ok());
}

#[test]
fn all_problems_are_collected_in_pydantic_field_order() {
    let mut r = ok_chat();
    r.top_k = Some(0);
    r.temperature = Some(9.0);
    r.n = Some(0);
    r.messages = vec![];
    r.extra_params = Some(to_pb_struct(
        json!({"stream": true, "messages": []})
            .as_object()
            .cloned()
            .unwrap(),
    ));
    let GatewayError::Validation(errs) = chat(&r).unwrap_err() else {
        panic!("not a validation error")
    };
    let locs: Vec<String> = errs.iter().map(FieldError::path).collect();
    assert_eq!(
        locs,
        vec![
            "n",
            "temperature",
            "top_k",
            "messages",
            "extra_params.messages",
            "extra_params.stream"
        ]
    );
}

#[test]
fn completion_rules() {
    let c = pb::CompletionRequest {
        prompt: "p".into(),
        max_tokens: Some(0),
        top_p: Some(2.0),
        extra_params: Some(to_pb_struct(
            json!({"prompt": "again"}).as_object().cloned().unwrap(),
        )),
        ..Default::default()
    };
    let GatewayError::Validation(errs) = completion(&c).unwrap_err() else {
        panic!("not a validation error")
    };
    let kinds: Vec<(&str, String)> = errs.iter().map(|e| (e.kind, e.path())).collect();
    assert_eq!(
        kinds,
        vec![
            ("greater_than_equal", "max_tokens".to_owned()),
            ("less_than_equal", "top_p".to_owned()),
            ("extra_forbidden", "extra_params.prompt".to_owned()),
        ]
    );
}

#[test]
fn embed_rules() {
    let none = pb::EmbedRequest::default();
    assert_eq!(
        body(embed(&none)),
        r#"{"detail":[{"type":"missing","loc":["body","input"],"msg":"Field required","input":{}}]}"#
    );
    let both = pb::EmbedRequest {
        texts: vec!["a".into()],
        token_ids: vec![pb::TokenIds { ids: vec![1] }],
        dimensions: Some(0),
        extra_params: Some(to_pb_struct(
            json!({"input": "x", "stream": true})
                .as_object()
                .cloned()
                .unwrap(),
        )),
        ..Default::default()
    };
    let GatewayError::Validation(errs) = embed(&both).unwrap_err() else {
        panic!("not a validation error")
    };
    let kinds: Vec<(&str, String)> = errs.iter().map(|e| (e.kind, e.path())).collect();
    assert_eq!(
        kinds,
        vec![
            ("value_error", "input".to_owned()),
            ("greater_than_equal", "dimensions".to_owned()),
            ("extra_forbidden", "extra_params.input".to_owned()),
        ],
        "`stream` is an ordinary extra for embeddings"
    );
    let tokens = pb::EmbedRequest {
        token_ids: vec![pb::TokenIds { ids: vec![1, 2] }],
        ..Default::default()
    };
    assert!(embed(&tokens).is_ok());
}

#[test]
fn literal_enumeration_matches_pydantic() {
    assert_eq!(literal_expected(&["a"]), "'a'");
    assert_eq!(literal_expected(&["a", "b"]), "'a' or 'b'");
    assert_eq!(literal_expected(&["a", "b", "c"]), "'a', 'b' or 'c'");
}
