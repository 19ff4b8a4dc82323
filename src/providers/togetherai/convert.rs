//! Pure conversions for Together AI (spec §3.15). Together speaks OpenAI's wire format, so the
//! bodies, responses and chunks are `openai::wire` types built and read by `openai::convert`;
//! what is Together's own lives here: MLflow's parameter checks (`max_tokens` required for
//! completions, integer `logprobs`/`top_logprobs`, `top_logprobs` renamed `logprobs`), no
//! `stream_options` injection, the configured model reported everywhere, and chat chunks whose
//! text may come in Together's `choices[].text` rather than in `delta.content`.

use pbjson_types::{Struct, Value as PbValue, value::Kind};

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::proto_json::StructRef;
use crate::providers::openai::convert::{self as oai_convert, BodyContext};
use crate::providers::openai::wire as oai;

/// MLflow's text when a completions request has no `max_tokens` (sic, no space after the dot).
pub const MAX_TOKENS_REQUIRED: &str =
    "max_tokens is not present in payload.It is a required parameter for TogetherAI completions.";

/// Completions need `max_tokens` on Together; MLflow refuses the call before sending it.
pub fn require_max_tokens(req: &pb::CompletionRequest) -> Result<(), GatewayError> {
    match req.max_tokens {
        Some(n) if n > 0 => Ok(()),
        _ => Err(GatewayError::Unprocessable(MAX_TOKENS_REQUIRED.into())),
    }
}

fn is_integer(v: &PbValue) -> bool {
    // Struct numbers are doubles, so "integer" means integral. A boolean is refused: the check
    // exists to catch OpenAI's boolean `logprobs` (MLflow's `isinstance(x, int)` lets it through).
    matches!(v.kind, Some(Kind::NumberValue(n)) if n.is_finite() && n.fract() == 0.0)
}

/// Checks `logprobs`/`top_logprobs` among the extra parameters and, when `top_logprobs` is
/// present, returns a copy of them with it renamed `logprobs` (Together's name for OpenAI's
/// `top_logprobs`). `None` means: send the extra parameters as they are.
pub fn extra_params(extra: Option<&Struct>) -> Result<Option<Struct>, GatewayError> {
    let Some(extra) = extra else {
        return Ok(None);
    };
    if extra.fields.get("logprobs").is_some_and(|v| !is_integer(v)) {
        return Err(GatewayError::Unprocessable(
            "Wrong type for logprobs. It should be an 32bit integer.".into(),
        ));
    }
    let Some(top) = extra.fields.get("top_logprobs") else {
        return Ok(None);
    };
    if !is_integer(top) {
        return Err(GatewayError::Unprocessable(
            "Wrong type for top_logprobs. It should a 32bit integer.".into(),
        ));
    }
    let mut renamed = extra.clone();
    if let Some(v) = renamed.fields.remove("top_logprobs") {
        renamed.fields.insert("logprobs".into(), v);
    }
    Ok(Some(renamed))
}

/// The chat body: OpenAI's with the configured model, no `stream_options`, and the extra
/// parameters replaced by `renamed` when [`extra_params`] produced a copy.
pub fn chat_body<'a>(
    req: &'a pb::ChatRequest,
    model: Option<&'a str>,
    renamed: Option<&'a Struct>,
    stream: bool,
) -> oai::ChatBody<'a> {
    let mut body = oai_convert::chat_body(req, BodyContext { model }, stream);
    body.stream_options = None;
    if let Some(st) = renamed {
        body.extra = Some(StructRef(st));
    }
    body
}

/// The completions body, built like [`chat_body`].
pub fn completion_body<'a>(
    req: &'a pb::CompletionRequest,
    model: Option<&'a str>,
    renamed: Option<&'a Struct>,
    stream: bool,
) -> oai::CompletionBody<'a> {
    let mut body = oai_convert::completion_body(req, BodyContext { model }, stream);
    body.stream_options = None;
    if let Some(st) = renamed {
        body.extra = Some(StructRef(st));
    }
    body
}

fn three_counts(u: Option<pb::Usage>) -> Option<pb::Usage> {
    u.map(|u| pb::Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.total_tokens,
        ..Default::default()
    })
}

/// A chat response: id and created from the upstream, the configured model, role `assistant`,
/// usage's three counts. Unlike MLflow, `finish_reason` and tool calls are kept.
pub fn chat_response(c: oai::Completion, model: &str, now: i64) -> pb::ChatResponse {
    let mut r = oai_convert::chat_response(c, model, now);
    model.clone_into(&mut r.model);
    for choice in &mut r.choices {
        if let Some(m) = choice.message.as_mut() {
            "assistant".clone_into(&mut m.role);
        }
    }
    r.usage = three_counts(r.usage);
    r
}

/// A chat stream chunk. Together sends the text in `choices[].text` (and, in newer versions,
/// also in `delta.content`): `delta.content` is used when present, `text` otherwise.
pub fn chat_chunk(mut c: oai::Chunk, model: &str, now: i64) -> pb::ChatChunk {
    for ch in &mut c.choices {
        let text = ch.text.take();
        match ch.delta.as_mut() {
            Some(d) if d.content.is_some() => {}
            Some(d) => d.content = text,
            None => {
                ch.delta = Some(oai::Delta {
                    role: None,
                    content: text,
                    tool_calls: None,
                });
            }
        }
    }
    let mut chunk = oai_convert::chat_chunk(c, model, now);
    model.clone_into(&mut chunk.model);
    chunk
}

/// A completions response: id and created from the upstream, the configured model, usage's
/// three counts; `finish_reason` kept (MLflow drops it).
pub fn completion_response(c: oai::Completion, model: &str, now: i64) -> pb::CompletionResponse {
    let mut r = oai_convert::completion_response(c, model, now);
    model.clone_into(&mut r.model);
    r.usage = three_counts(r.usage);
    r
}

/// A completions stream chunk: text from `choices[].text`, the configured model.
pub fn completion_chunk(c: oai::Chunk, model: &str, now: i64) -> pb::CompletionChunk {
    let mut chunk = oai_convert::completion_chunk(c, model, now);
    model.clone_into(&mut chunk.model);
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto_json::to_pb_struct;
    use serde_json::json;

    const CHAT: &str = include_str!("../../../tests/fixtures/togetherai/chat_response.json");
    const CHAT_TOOLS: &str =
        include_str!("../../../tests/fixtures/togetherai/chat_response_tools.json");
    const CHAT_STREAM: &str = include_str!("../../../tests/fixtures/togetherai/chat_stream.txt");
    const COMPLETION: &str =
        include_str!("../../../tests/fixtures/togetherai/completions_response.json");
    const COMPLETION_STREAM: &str =
        include_str!("../../../tests/fixtures/togetherai/completions_stream.txt");

    fn events(sse: &str) -> Vec<oai::Chunk> {
        sse.split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    fn st(v: serde_json::Value) -> Struct {
        to_pb_struct(v.as_object().cloned().unwrap())
    }

    #[test]
    fn max_tokens_is_required_for_completions() {
        let mut req = pb::CompletionRequest::default();
        let e = require_max_tokens(&req).unwrap_err();
        assert_eq!(e.http_status(), 422);
        assert_eq!(e.to_string(), MAX_TOKENS_REQUIRED);
        req.max_tokens = Some(5);
        assert!(require_max_tokens(&req).is_ok());
    }

    #[test]
    fn logprobs_checks_and_rename() {
        assert!(extra_params(None).unwrap().is_none());
        let plain = st(json!({"logprobs": 2, "seed": 1}));
        assert!(extra_params(Some(&plain)).unwrap().is_none());
        let e = extra_params(Some(&st(json!({"logprobs": true})))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Wrong type for logprobs. It should be an 32bit integer."
        );
        let e = extra_params(Some(&st(json!({"top_logprobs": 1.5})))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Wrong type for top_logprobs. It should a 32bit integer."
        );
        let renamed = extra_params(Some(&st(json!({"top_logprobs": 3}))))
            .unwrap()
            .unwrap();
        let req = pb::ChatRequest {
            messages: vec![pb::Message {
                role: "user".into(),
                content: Some("hi".into()),
                ..Default::default()
            }],
            extra_params: Some(st(json!({"top_logprobs": 3}))),
            ..Default::default()
        };
        let v = serde_json::to_value(chat_body(&req, Some("m"), Some(&renamed), true)).unwrap();
        assert_eq!(
            v,
            json!({"model":"m","n":1,"stream":true,"messages":[{"role":"user","content":"hi"}],"logprobs":3})
        );
    }

    #[test]
    fn chat_response_configured_model_and_finish_reason() {
        let r = chat_response(serde_json::from_str(CHAT).unwrap(), "cfg-model", 0);
        assert_eq!(r.id.as_deref(), Some("8448080b880415ea-SJC"));
        assert_eq!((r.model.as_str(), r.created), ("cfg-model", 1705090115));
        let m = r.choices[0].message.as_ref().unwrap();
        assert_eq!(
            (m.role.as_str(), m.content.as_deref()),
            ("assistant", Some("example"))
        );
        assert!(m.tool_calls.is_empty());
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("eos"));
        let u = r.usage.unwrap();
        assert_eq!(u.total_tokens, Some(486));
        assert!(u.extra.is_none());
    }

    #[test]
    fn chat_response_tool_calls() {
        let r = chat_response(serde_json::from_str(CHAT_TOOLS).unwrap(), "cfg", 0);
        let m = r.choices[0].message.as_ref().unwrap();
        assert_eq!(m.content, None);
        assert_eq!(m.tool_calls[0].id, "call_abc");
        assert_eq!(
            m.tool_calls[0]
                .function
                .as_ref()
                .unwrap()
                .arguments
                .as_deref(),
            Some("{\"city\":\"Paris\"}")
        );
    }

    #[test]
    fn chat_chunks_take_text_or_delta() {
        let chunks: Vec<_> = events(CHAT_STREAM)
            .into_iter()
            .map(|c| chat_chunk(c, "cfg", 0))
            .collect();
        let text: String = chunks
            .iter()
            .filter_map(|c| c.choices[0].delta.as_ref()?.content.clone())
            .collect();
        assert_eq!(text, " The City Paris");
        assert!(
            chunks
                .iter()
                .all(|c| c.model == "cfg" && c.created == 1712249578)
        );
        assert_eq!(
            chunks[2].choices[0].finish_reason.as_deref(),
            Some("length")
        );
        assert_eq!(chunks[2].usage.as_ref().unwrap().total_tokens, Some(193));
        // Only `text`, as older Together streams send it.
        let c: oai::Chunk = serde_json::from_value(
            json!({"id":"x","created":1,"choices":[{"index":0,"text":"hey"}]}),
        )
        .unwrap();
        let d = chat_chunk(c, "cfg", 0).choices[0].delta.clone().unwrap();
        assert_eq!(d.content.as_deref(), Some("hey"));
    }

    #[test]
    fn completions_response_and_chunks() {
        let r = completion_response(serde_json::from_str(COMPLETION).unwrap(), "cfg", 0);
        assert_eq!(r.id.as_deref(), Some("8447f286bbdb67b3-SJC"));
        assert_eq!((r.model.as_str(), r.created), ("cfg", 1705089226));
        assert_eq!(r.choices[0].text, "Example text.");
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("length"));
        assert_eq!(r.usage.unwrap().total_tokens, Some(94));
        let chunks: Vec<_> = events(COMPLETION_STREAM)
            .into_iter()
            .map(|c| completion_chunk(c, "cfg", 0))
            .collect();
        let text: String = chunks.iter().map(|c| c.choices[0].text.clone()).collect();
        assert_eq!(text, "    \"name");
        assert_eq!(
            chunks[2].choices[0].finish_reason.as_deref(),
            Some("length")
        );
    }
}
