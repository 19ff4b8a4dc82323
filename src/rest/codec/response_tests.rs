//! Golden tests for [`super`]: each proto value rendered and compared byte for byte with the
//! bodies of spec §2.4/§2.5 and Appendix B (MLflow 3.18 transcripts).

#![allow(clippy::unwrap_used)]
use super::*;
use crate::proto_json::to_pb_struct;
use serde_json::json;

fn text(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap()
}

fn assistant(content: Option<&str>, tool_calls: Vec<pb::ToolCall>) -> pb::Message {
    pb::Message {
        role: "assistant".into(),
        content: content.map(str::to_owned),
        tool_calls,
        ..Default::default()
    }
}

#[test]
fn chat_response_matches_spec_2_4() {
    let r = pb::ChatResponse {
        id: Some("chatcmpl-1".into()),
        created: 1_700_000_000,
        model: "gpt-up".into(),
        choices: vec![pb::ChatChoice {
            index: 0,
            message: Some(assistant(Some("Hello from upstream"), vec![])),
            finish_reason: Some("stop".into()),
        }],
        usage: Some(pb::Usage {
            prompt_tokens: Some(9),
            completion_tokens: Some(3),
            total_tokens: Some(12),
            prompt_tokens_details: Some(pb::PromptTokensDetails {
                cached_tokens: Some(0),
                audio_tokens: Some(0),
            }),
            completion_tokens_details: Some(pb::CompletionTokensDetails {
                reasoning_tokens: Some(0),
                ..Default::default()
            }),
            extra: None,
        }),
        provider: "openai".into(),
    };
    assert_eq!(
        text(chat_response(&r)),
        r#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-up","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from upstream","tool_calls":null,"refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"provider":"openai"}"#
    );
}

fn weather_call(id: &str, sig: Option<&str>) -> pb::ToolCall {
    pb::ToolCall {
        id: id.into(),
        r#type: "function".into(),
        function: Some(pb::FunctionCall {
            name: Some("get_weather".into()),
            arguments: Some(r#"{"city": "Paris"}"#.into()),
        }),
        thought_signature: sig.map(str::to_owned),
    }
}

#[test]
fn anthropic_tool_call_response_matches_appendix_b() {
    let extra = to_pb_struct(
        json!({"cache_creation_input_tokens": 0})
            .as_object()
            .cloned()
            .unwrap(),
    );
    let r = pb::ChatResponse {
        id: Some("msg_1".into()),
        created: 1_700_000_123,
        model: "claude-up".into(),
        choices: vec![pb::ChatChoice {
            index: 0,
            message: Some(assistant(
                Some("Let me check."),
                vec![weather_call("toolu_1", None)],
            )),
            finish_reason: Some("tool_calls".into()),
        }],
        usage: Some(pb::Usage {
            prompt_tokens: Some(12),
            completion_tokens: Some(25),
            total_tokens: Some(37),
            prompt_tokens_details: Some(pb::PromptTokensDetails {
                cached_tokens: Some(2),
                audio_tokens: None,
            }),
            completion_tokens_details: None,
            extra: Some(extra),
        }),
        provider: "anthropic".into(),
    };
    assert_eq!(
        text(chat_response(&r)),
        r#"{"id":"msg_1","object":"chat.completion","created":1700000123,"model":"claude-up","choices":[{"index":0,"message":{"role":"assistant","content":"Let me check.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}}],"refusal":null},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":12,"completion_tokens":25,"total_tokens":37,"prompt_tokens_details":{"cached_tokens":2},"cache_creation_input_tokens":0},"provider":"anthropic"}"#
    );
}

#[test]
fn null_id_null_content_missing_usage_and_thought_signature() {
    let r = pb::ChatResponse {
        id: None,
        created: 5,
        model: "m".into(),
        choices: vec![pb::ChatChoice {
            index: 0,
            message: Some(assistant(None, vec![weather_call("c1", Some("sig"))])),
            finish_reason: None,
        }],
        usage: None,
        provider: "gemini".into(),
    };
    assert_eq!(
        text(chat_response(&r)),
        r#"{"id":null,"object":"chat.completion","created":5,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"},"thought_signature":"sig"}],"refusal":null},"finish_reason":null}],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null},"provider":"gemini"}"#
    );
}

#[test]
fn content_parts_render_as_a_list() {
    use pb::content_part::Part;
    let msg = pb::Message {
        role: "assistant".into(),
        content_parts: vec![
            pb::ContentPart {
                part: Some(Part::Text("hi".into())),
            },
            pb::ContentPart {
                part: Some(Part::ImageUrl(pb::ImageUrl {
                    url: "http://x/i.png".into(),
                    detail: None,
                })),
            },
            pb::ContentPart {
                part: Some(Part::InputAudio(pb::InputAudio {
                    data: "AAAA".into(),
                    format: "wav".into(),
                })),
            },
            pb::ContentPart {
                part: Some(Part::Reasoning(pb::Reasoning {
                    summary_text: vec!["thought".into()],
                })),
            },
        ],
        ..Default::default()
    };
    let r = pb::ChatResponse {
        id: Some("x".into()),
        created: 1,
        model: "m".into(),
        choices: vec![pb::ChatChoice {
            index: 0,
            message: Some(msg),
            finish_reason: Some("stop".into()),
        }],
        usage: Some(pb::Usage::default()),
        provider: "databricks".into(),
    };
    let out = text(chat_response(&r));
    assert!(
        out.contains(r#""content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"http://x/i.png","detail":null}},{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}},{"type":"reasoning","summary":[{"type":"summary_text","text":"thought"}]}],"tool_calls":null"#),
        "{out}"
    );
}

#[test]
fn chat_chunks_match_spec_2_5() {
    let first = pb::ChatChunk {
        id: Some("chatcmpl-s1".into()),
        created: 1_700_000_000,
        model: "gpt-up".into(),
        choices: vec![pb::ChatChunkChoice {
            index: 0,
            finish_reason: None,
            delta: Some(pb::ChatDelta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                tool_calls: vec![],
            }),
        }],
        usage: None,
        provider: "openai".into(),
    };
    assert_eq!(
        text(chat_chunk(&first)),
        r#"{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-up","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":"","tool_calls":null}}],"usage":null,"provider":"openai"}"#
    );
    let last = pb::ChatChunk {
        id: Some("chatcmpl-s1".into()),
        created: 1_700_000_000,
        model: "gpt-up".into(),
        choices: vec![],
        usage: Some(pb::Usage {
            prompt_tokens: Some(5),
            completion_tokens: Some(2),
            total_tokens: Some(7),
            prompt_tokens_details: Some(pb::PromptTokensDetails {
                cached_tokens: Some(1),
                audio_tokens: None,
            }),
            completion_tokens_details: Some(pb::CompletionTokensDetails {
                reasoning_tokens: Some(0),
                ..Default::default()
            }),
            extra: None,
        }),
        provider: "openai".into(),
    };
    assert_eq!(
        text(chat_chunk(&last)),
        r#"{"id":"chatcmpl-s1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-up","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":1},"completion_tokens_details":{"reasoning_tokens":0}},"provider":"openai"}"#
    );
}

#[test]
fn tool_call_deltas() {
    let c = pb::ChatChunk {
        id: None,
        created: 2,
        model: "m".into(),
        choices: vec![pb::ChatChunkChoice {
            index: 0,
            finish_reason: Some("tool_calls".into()),
            delta: Some(pb::ChatDelta {
                role: None,
                content: None,
                tool_calls: vec![
                    pb::ToolCallDelta {
                        index: 0,
                        id: Some("call_1".into()),
                        r#type: Some("function".into()),
                        function: Some(pb::FunctionCall {
                            name: Some("f".into()),
                            arguments: Some(String::new()),
                        }),
                        thought_signature: None,
                    },
                    pb::ToolCallDelta {
                        index: 1,
                        id: None,
                        r#type: None,
                        function: Some(pb::FunctionCall {
                            name: None,
                            arguments: Some("{\"a\"".into()),
                        }),
                        thought_signature: Some("s".into()),
                    },
                ],
            }),
        }],
        usage: None,
        provider: "openai".into(),
    };
    assert_eq!(
        text(chat_chunk(&c)),
        r#"{"id":null,"object":"chat.completion.chunk","created":2,"model":"m","choices":[{"index":0,"finish_reason":"tool_calls","delta":{"role":null,"content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}},{"index":1,"id":null,"type":null,"function":{"name":null,"arguments":"{\"a\""},"thought_signature":"s"}]}}],"usage":null,"provider":"openai"}"#
    );
}

#[test]
fn completions_match_spec() {
    let r = pb::CompletionResponse {
        id: Some("cmpl-1".into()),
        created: 1_700_000_001,
        model: "gpt-inst".into(),
        choices: vec![pb::CompletionChoice {
            index: 0,
            text: "This is a test".into(),
            finish_reason: Some("length".into()),
        }],
        usage: Some(pb::Usage {
            prompt_tokens: Some(5),
            completion_tokens: Some(7),
            total_tokens: Some(12),
            // Completions usage has no details or extras in MLflow's model.
            prompt_tokens_details: Some(pb::PromptTokensDetails::default()),
            ..Default::default()
        }),
        provider: "openai".into(),
    };
    assert_eq!(
        text(completion_response(&r)),
        r#"{"id":"cmpl-1","object":"text_completion","created":1700000001,"model":"gpt-inst","choices":[{"index":0,"text":"This is a test","finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#
    );
    let chunk = pb::CompletionChunk {
        id: None,
        created: 3,
        model: "gpt-inst".into(),
        choices: vec![pb::CompletionChunkChoice {
            index: 0,
            finish_reason: None,
            text: "Hel".into(),
        }],
        usage: None,
        provider: "openai".into(),
    };
    assert_eq!(
        text(completion_chunk(&chunk)),
        r#"{"id":null,"object":"text_completion_chunk","created":3,"model":"gpt-inst","choices":[{"index":0,"finish_reason":null,"text":"Hel"}],"usage":null}"#
    );
    let usage_chunk = pb::CompletionChunk {
        choices: vec![],
        usage: Some(pb::Usage {
            prompt_tokens: Some(1),
            completion_tokens: None,
            total_tokens: Some(1),
            ..Default::default()
        }),
        ..chunk
    };
    assert_eq!(
        text(completion_chunk(&usage_chunk)),
        r#"{"id":null,"object":"text_completion_chunk","created":3,"model":"gpt-inst","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":null,"total_tokens":1}}"#
    );
}

#[test]
fn embeddings_match_spec() {
    let r = pb::EmbedResponse {
        model: "text-embedding-up".into(),
        data: vec![pb::Embedding {
            index: 0,
            values: vec![0.1, 0.2, 0.3],
            base64: None,
        }],
        usage: Some(pb::Usage {
            prompt_tokens: Some(8),
            total_tokens: Some(8),
            completion_tokens: Some(99),
            ..Default::default()
        }),
        provider: "openai".into(),
    };
    assert_eq!(
        text(embed_response(&r)),
        r#"{"object":"list","data":[{"object":"embedding","embedding":[0.1,0.2,0.3],"index":0}],"model":"text-embedding-up","usage":{"prompt_tokens":8,"total_tokens":8}}"#
    );
    let r = pb::EmbedResponse {
        model: "m\"q".into(),
        data: vec![
            pb::Embedding {
                index: 0,
                values: vec![],
                base64: Some("AACAPw==".into()),
            },
            pb::Embedding {
                index: 1,
                values: vec![1.2e-05, -1.0, 1e16],
                base64: None,
            },
        ],
        usage: None,
        provider: "openai".into(),
    };
    assert_eq!(
        text(embed_response(&r)),
        r#"{"object":"list","data":[{"object":"embedding","embedding":"AACAPw==","index":0},{"object":"embedding","embedding":[1.2e-05,-1.0,1e+16],"index":1}],"model":"m\"q","usage":{"prompt_tokens":null,"total_tokens":null}}"#
    );
}

#[test]
fn usage_extras_are_sorted_and_never_duplicate_typed_keys() {
    let extra = to_pb_struct(
        json!({"z": 1, "a": {"b": 0.5}, "total_tokens": 99})
            .as_object()
            .cloned()
            .unwrap(),
    );
    let c = pb::ChatChunk {
        id: Some("i".into()),
        created: 0,
        model: "m".into(),
        choices: vec![],
        usage: Some(pb::Usage {
            total_tokens: Some(3),
            extra: Some(extra),
            ..Default::default()
        }),
        provider: "p".into(),
    };
    assert_eq!(
        text(chat_chunk(&c)),
        r#"{"id":"i","object":"chat.completion.chunk","created":0,"model":"m","choices":[],"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":3,"a":{"b":0.5},"z":1},"provider":"p"}"#
    );
}
