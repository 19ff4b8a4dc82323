//! Response, stream and embeddings conversion tests on recorded Gemini payloads
//! (`tests/fixtures/gemini/`) and MLflow's expected unified answers.

use super::*;
use crate::proto_json::to_json_map;
use serde_json::json;

fn parse(text: &str) -> wire::GenerateResponse {
    serde_json::from_str(text).unwrap()
}

/// The `data:` payloads of an SSE fixture.
fn events(sse: &str) -> Vec<wire::GenerateResponse> {
    sse.split("\n\n")
        .filter_map(|e| e.trim().strip_prefix("data: "))
        .map(parse)
        .collect()
}

#[test]
fn finish_reasons_are_normalised() {
    assert_eq!(finish_reason("STOP"), "stop");
    assert_eq!(finish_reason("MAX_TOKENS"), "length");
    for filtered in FILTERED {
        assert_eq!(finish_reason(filtered), "content_filter");
    }
    assert_eq!(
        finish_reason("MALFORMED_FUNCTION_CALL"),
        "malformed_function_call"
    );
}

#[test]
fn text_answer_with_thoughts_and_cache_usage() {
    let r = chat_response(
        parse(include_str!(
            "../../../tests/fixtures/gemini/chat_response.json"
        )),
        "gemini-2.0-flash",
        1_234_567_890,
    );
    assert_eq!(r.id.as_deref(), Some("gemini-chat-1234567890"));
    assert_eq!(r.created, 1_234_567_890);
    assert_eq!(r.model, "gemini-2.0-flash");
    let c = &r.choices[0];
    assert_eq!(c.index, 0);
    assert_eq!(c.finish_reason.as_deref(), Some("stop"));
    let m = c.message.as_ref().unwrap();
    assert_eq!(m.role, "assistant");
    assert_eq!(m.content.as_deref(), Some("Hello Gemini"));
    assert!(m.tool_calls.is_empty());
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (Some(9), Some(11), Some(20))
    );
    assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, Some(4));
    assert_eq!(
        serde_json::Value::Object(to_json_map(&u.extra.unwrap())),
        json!({"thoughtsTokenCount": 8, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}]})
    );
}

/// MLflow's `test_gemini_chat_function_calling` (finish reason normalised as 3.18 does).
#[test]
fn function_call_gets_mlflow_id_and_python_arguments() {
    let r = chat_response(
        parse(include_str!(
            "../../../tests/fixtures/gemini/chat_function_call_response.json"
        )),
        "gemini-2.0-flash",
        1,
    );
    let c = &r.choices[0];
    assert_eq!(c.finish_reason.as_deref(), Some("tool_calls"));
    let m = c.message.as_ref().unwrap();
    assert_eq!(m.content, None);
    assert_eq!(
        m.tool_calls,
        vec![pb::ToolCall {
            id: "call_c8800a29b7c6d0e92541b3fa793048ab".into(),
            r#type: "function".into(),
            function: Some(pb::FunctionCall {
                name: Some("get_weather".into()),
                arguments: Some(r#"{"location": "Singapore"}"#.into()),
            }),
            thought_signature: None,
        }]
    );
    assert_eq!(r.usage, None);
}

#[test]
fn several_calls_keep_text_upstream_ids_and_signatures() {
    let r = chat_response(
        parse(include_str!(
            "../../../tests/fixtures/gemini/chat_multi_function_call_response.json"
        )),
        "m",
        1,
    );
    let m = r.choices[0].message.as_ref().unwrap();
    assert_eq!(m.content.as_deref(), Some("Checking both."));
    let ids: Vec<&str> = m.tool_calls.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        ["call_e03eff58ce9e84e7ee3153e687f71dd3", "fc-upstream-2"]
    );
    assert_eq!(
        m.tool_calls[0].thought_signature.as_deref(),
        Some("c2lnLTE=")
    );
    assert_eq!(m.tool_calls[1].thought_signature, None);
}

#[test]
fn empty_candidates_are_omitted_unless_filtered() {
    let r = chat_response(
        parse(include_str!(
            "../../../tests/fixtures/gemini/chat_filtered_response.json"
        )),
        "m",
        1,
    );
    let got: Vec<(u32, Option<&str>, Option<&str>)> = r
        .choices
        .iter()
        .map(|c| {
            (
                c.index,
                c.message.as_ref().unwrap().content.as_deref(),
                c.finish_reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (0, Some("partial"), Some("length")),
            (1, None, Some("content_filter")),
            (3, None, Some("content_filter")),
        ]
    );
    let u = r.usage.unwrap();
    assert_eq!(u.completion_tokens, None);

    let c = completion_response(
        parse(include_str!(
            "../../../tests/fixtures/gemini/chat_filtered_response.json"
        )),
        "m",
        5,
    );
    assert_eq!(c.id, None);
    assert_eq!(c.created, 5);
    let got: Vec<(u32, &str, Option<&str>)> = c
        .choices
        .iter()
        .map(|c| (c.index, c.text.as_str(), c.finish_reason.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (0, "partial", Some("length")),
            (1, "", Some("content_filter")),
            (3, "", Some("content_filter"))
        ]
    );
}

#[test]
fn blocked_prompt_is_one_content_filter_choice() {
    let blocked = include_str!("../../../tests/fixtures/gemini/chat_blocked_response.json");
    let r = chat_response(parse(blocked), "m", 1);
    assert_eq!(r.choices.len(), 1);
    assert_eq!(
        r.choices[0].finish_reason.as_deref(),
        Some("content_filter")
    );
    assert_eq!(r.choices[0].message.as_ref().unwrap().content, None);
    assert_eq!(r.usage.unwrap().prompt_tokens, Some(7));
    let c = completion_response(parse(blocked), "m", 1);
    assert_eq!(
        c.choices[0].finish_reason.as_deref(),
        Some("content_filter")
    );

    let mut s = ChatStream::new("m");
    assert!(!s.complete());
    let chunk = s.chunk(parse(blocked), 1);
    assert_eq!(
        chunk.choices[0].finish_reason.as_deref(),
        Some("content_filter")
    );
    assert!(s.complete());
}

#[test]
fn chat_stream_chunks_and_completion() {
    let mut s = ChatStream::new("gemini-2.0-flash");
    let evs = events(include_str!(
        "../../../tests/fixtures/gemini/chat_stream.sse"
    ));
    let mut texts = Vec::new();
    for (i, ev) in evs.into_iter().enumerate() {
        assert!(!s.complete(), "complete before the finish reason");
        let c = s.chunk(ev, 7);
        assert_eq!(c.id.as_deref(), Some("gemini-chat-stream-7"));
        assert_eq!(c.model, "gemini-2.0-flash");
        let ch = &c.choices[0];
        let d = ch.delta.as_ref().unwrap();
        assert_eq!(d.role.as_deref(), Some("assistant"));
        texts.push(d.content.clone().unwrap());
        // MLflow reports usageMetadata on every chunk that carries it.
        assert_eq!(c.usage.as_ref().unwrap().prompt_tokens, Some(5));
        if i == 2 {
            assert_eq!(ch.finish_reason.as_deref(), Some("stop"));
            assert_eq!(c.usage.as_ref().unwrap().completion_tokens, Some(3));
        } else {
            assert_eq!(ch.finish_reason, None);
        }
    }
    assert_eq!(texts, ["Hello", " there", "!"]);
    assert!(s.complete());
}

#[test]
fn streamed_function_calls_get_running_indices_and_tool_calls_finish() {
    let mut s = ChatStream::new("m");
    let evs = events(include_str!(
        "../../../tests/fixtures/gemini/chat_stream_function_call.sse"
    ));
    let chunks: Vec<pb::ChatChunk> = evs.into_iter().map(|e| s.chunk(e, 1)).collect();
    let d0 = chunks[0].choices[0].delta.as_ref().unwrap();
    assert_eq!(d0.content, None);
    assert_eq!(d0.tool_calls[0].index, 0);
    assert_eq!(
        d0.tool_calls[0].id.as_deref(),
        Some("call_c8800a29b7c6d0e92541b3fa793048ab")
    );
    assert_eq!(d0.tool_calls[0].r#type.as_deref(), Some("function"));
    let f = d0.tool_calls[0].function.as_ref().unwrap();
    assert_eq!(f.name.as_deref(), Some("get_weather"));
    assert_eq!(f.arguments.as_deref(), Some(r#"{"location": "Singapore"}"#));
    let last = &chunks[1].choices[0];
    assert_eq!(last.delta.as_ref().unwrap().tool_calls[0].index, 1);
    assert_eq!(last.finish_reason.as_deref(), Some("tool_calls"));
    assert!(s.complete());
}

#[test]
fn completion_stream_chunks_have_no_usage() {
    let mut s = CompletionStream::new("gemini-2.0-flash");
    let evs = events(include_str!(
        "../../../tests/fixtures/gemini/chat_stream.sse"
    ));
    let chunks: Vec<pb::CompletionChunk> = evs.into_iter().map(|e| s.chunk(e, 3)).collect();
    assert_eq!(chunks[0].id.as_deref(), Some("gemini-completions-stream-3"));
    let texts: Vec<&str> = chunks.iter().map(|c| c.choices[0].text.as_str()).collect();
    assert_eq!(texts, ["Hello", " there", "!"]);
    assert!(chunks.iter().all(|c| c.usage.is_none()));
    assert_eq!(chunks[2].choices[0].finish_reason.as_deref(), Some("stop"));
    assert!(s.complete());
}

#[test]
fn unfinished_candidates_keep_a_stream_incomplete() {
    let mut s = ChatStream::new("m");
    s.chunk(
        parse(r#"{"candidates":[{"content":{"parts":[{"text":"a"}]},"index":0},{"content":{"parts":[{"text":"b"}]},"index":1}]}"#),
        1,
    );
    s.chunk(
        parse(r#"{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP","index":0}]}"#),
        1,
    );
    assert!(!s.complete());
    s.chunk(
        parse(r#"{"candidates":[{"finishReason":"MAX_TOKENS","index":1}]}"#),
        1,
    );
    assert!(s.complete());
    // A usage-only event finishes nothing.
    let mut empty = ChatStream::new("m");
    empty.chunk(parse(r#"{"usageMetadata":{"promptTokenCount":1}}"#), 1);
    assert!(!empty.complete());
}

#[test]
fn embeddings_single_batch_and_base64() {
    let one: wire::EmbedResponse = serde_json::from_str(include_str!(
        "../../../tests/fixtures/gemini/embed_single_response.json"
    ))
    .unwrap();
    let r = embed_response(one, "text-embedding-004", false).unwrap();
    assert_eq!(r.model, "text-embedding-004");
    assert_eq!(r.data[0].values, vec![0.1, 0.2, 0.3]);
    assert_eq!(r.usage, None);
    let many: wire::EmbedResponse = serde_json::from_str(include_str!(
        "../../../tests/fixtures/gemini/embed_batch_response.json"
    ))
    .unwrap();
    let r = embed_response(many, "e", false).unwrap();
    assert_eq!(r.data[1].index, 1);
    assert_eq!(r.data[1].values, vec![0.4, 0.5, 0.6]);
    let b: wire::EmbedResponse =
        serde_json::from_str(r#"{"embedding":{"values":[1.0, -2.0]}}"#).unwrap();
    let r = embed_response(b, "e", true).unwrap();
    // 1.0f32 = 00 00 80 3f, -2.0f32 = 00 00 00 c0.
    assert_eq!(r.data[0].base64.as_deref(), Some("AACAPwAAAMA="));
    assert!(r.data[0].values.is_empty());
    let none: wire::EmbedResponse = serde_json::from_str("{}").unwrap();
    assert!(embed_response(none, "e", false).is_none());
}
