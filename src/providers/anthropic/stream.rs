//! Anthropic's streaming event machine (spec §3.4, "Chat stream"), as a pure state machine fed
//! one decoded SSE event at a time, so every transition is unit-tested on recorded streams.
//!
//! `message_start` only records the id, model and prompt usage; each `content_block_start`,
//! `content_block_delta` and `message_delta` becomes one chunk (as MLflow emits them);
//! `ping`, `content_block_stop` and unknown events are skipped; `message_stop` ends the stream;
//! an in-band `error` event ends it with one error. A body that ends before `message_stop` is
//! reported by the I/O side as a truncated stream.

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::providers::http::Redactor;

use super::response::{finish_reason, usage};
use super::wire;

/// What one event produced.
pub enum Step {
    /// A chunk for the client.
    Chunk(pb::ChatChunk),
    /// Nothing to send.
    Skip,
    /// The message is complete.
    End,
    /// An in-band error: the stream ends with it.
    Fail(GatewayError),
}

/// The state of one streamed message.
pub struct ChatStream {
    id: Option<String>,
    model: String,
    /// Prompt-side usage from `message_start`, completed by `message_delta`.
    start_usage: Option<wire::Usage>,
    /// `(content block index, tool-call ordinal)` of each tool_use block seen.
    tool_blocks: Vec<(u32, u32)>,
    role_sent: bool,
}

/// Decodes one SSE data payload: `None` for blank or non-JSON data (skipped, as MLflow does).
/// serde's message may quote an upstream value, such as an echoed secret: redacted.
pub fn decode(data: &str, redactor: &Redactor) -> Option<Result<wire::StreamEvent, GatewayError>> {
    let data = data.trim();
    if data.is_empty() || !data.starts_with('{') {
        return None;
    }
    Some(serde_json::from_str(data).map_err(|e| {
        GatewayError::UpstreamBadResponse(redactor.text(&format!(
            "The upstream stream sent an event that could not be decoded: {e}."
        )))
    }))
}

impl ChatStream {
    /// A new stream; `fallback_model` names the model until `message_start` reports one.
    pub fn new(fallback_model: &str) -> Self {
        ChatStream {
            id: None,
            model: fallback_model.to_owned(),
            start_usage: None,
            tool_blocks: Vec::new(),
            role_sent: false,
        }
    }

    /// Advances the machine by one event.
    pub fn on_event(&mut self, event: wire::StreamEvent, redactor: &Redactor, now: i64) -> Step {
        use wire::StreamEvent as E;
        match event {
            E::MessageStart { message } => {
                self.id = message.id.or(self.id.take());
                if let Some(m) = message.model {
                    self.model = m;
                }
                self.start_usage = message.usage;
                Step::Skip
            }
            E::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                wire::StartBlock::Text => {
                    self.chunk(Some(String::new()), Vec::new(), None, None, now)
                }
                wire::StartBlock::ToolUse { id, name } => {
                    let ordinal = self.tool_ordinal(index);
                    let call = pb::ToolCallDelta {
                        index: ordinal,
                        id: Some(id),
                        r#type: Some("function".into()),
                        function: Some(pb::FunctionCall {
                            name: Some(name),
                            arguments: None,
                        }),
                        thought_signature: None,
                    };
                    self.chunk(None, vec![call], None, None, now)
                }
                wire::StartBlock::Other => self.chunk(None, Vec::new(), None, None, now),
            },
            E::ContentBlockDelta { index, delta } => match delta {
                wire::BlockDelta::TextDelta { text } => {
                    self.chunk(Some(text), Vec::new(), None, None, now)
                }
                wire::BlockDelta::InputJsonDelta { partial_json } => {
                    let call = pb::ToolCallDelta {
                        index: self.tool_ordinal(index),
                        id: None,
                        r#type: None,
                        function: Some(pb::FunctionCall {
                            name: None,
                            arguments: Some(partial_json),
                        }),
                        thought_signature: None,
                    };
                    self.chunk(None, vec![call], None, None, now)
                }
                wire::BlockDelta::Other => self.chunk(None, Vec::new(), None, None, now),
            },
            E::MessageDelta {
                delta,
                usage: delta_usage,
            } => {
                let finish = delta.stop_reason.as_deref().map(|r| finish_reason(Some(r)));
                let merged = merge_usage(self.start_usage.take(), delta_usage);
                self.chunk(None, Vec::new(), finish, merged.map(usage), now)
            }
            E::MessageStop => Step::End,
            E::ContentBlockStop | E::Ping | E::Unknown => Step::Skip,
            E::Error { error } => Step::Fail(stream_error(error, redactor)),
        }
    }

    /// The ordinal among tool_use blocks of the block at `index` (allocated on first sight).
    fn tool_ordinal(&mut self, index: u32) -> u32 {
        if let Some((_, ordinal)) = self.tool_blocks.iter().find(|(i, _)| *i == index) {
            return *ordinal;
        }
        let ordinal = u32::try_from(self.tool_blocks.len()).unwrap_or(u32::MAX);
        self.tool_blocks.push((index, ordinal));
        ordinal
    }

    fn chunk(
        &mut self,
        content: Option<String>,
        tool_calls: Vec<pb::ToolCallDelta>,
        finish_reason: Option<String>,
        usage: Option<pb::Usage>,
        now: i64,
    ) -> Step {
        // OpenAI-style consumers expect the role on the first delta.
        let role = (!self.role_sent).then(|| "assistant".to_owned());
        self.role_sent = true;
        Step::Chunk(pb::ChatChunk {
            id: self.id.clone(),
            created: now,
            model: self.model.clone(),
            choices: vec![pb::ChatChunkChoice {
                index: 0,
                finish_reason,
                delta: Some(pb::ChatDelta {
                    role,
                    content,
                    tool_calls,
                }),
            }],
            usage,
            provider: String::new(),
        })
    }
}

/// `message_start` carries the prompt side, `message_delta` the output (and, in newer API
/// versions, cumulative input counts, which win).
fn merge_usage(start: Option<wire::Usage>, delta: Option<wire::Usage>) -> Option<wire::Usage> {
    match (start, delta) {
        (None, None) => None,
        (Some(s), None) => Some(s),
        (None, Some(d)) => Some(d),
        (Some(mut s), Some(d)) => {
            s.input_tokens = d.input_tokens.or(s.input_tokens);
            s.output_tokens = d.output_tokens.or(s.output_tokens);
            s.cache_read_input_tokens = d.cache_read_input_tokens.or(s.cache_read_input_tokens);
            for (k, v) in d.extra {
                if !v.is_null() {
                    s.extra.insert(k, v);
                }
            }
            Some(s)
        }
    }
}

/// An in-band error event as a gateway error, with the HTTP status Anthropic gives the same
/// error type outside a stream, so retries and fallbacks judge it as they would the status.
fn stream_error(error: wire::StreamError, redactor: &Redactor) -> GatewayError {
    let status = match error.kind.as_deref() {
        Some("invalid_request_error") => 400,
        Some("authentication_error") => 401,
        Some("billing_error") => 402,
        Some("permission_error") => 403,
        Some("not_found_error") => 404,
        Some("request_too_large") => 413,
        Some("rate_limit_error") => 429,
        Some("api_error") => 500,
        Some("timeout_error") => 504,
        Some("overloaded_error") => 529,
        _ => 502,
    };
    let message = error
        .message
        .unwrap_or_else(|| "The upstream stream reported an error.".into());
    GatewayError::Upstream {
        status,
        detail: serde_json::Value::String(redactor.text(&message)),
        retry_after_secs: None,
    }
}

/// The error for a body that ended before `message_stop`.
pub fn truncated() -> GatewayError {
    GatewayError::UpstreamBadResponse(
        "The upstream stream ended before its end event (message_stop).".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = include_str!("../../../tests/fixtures/anthropic/stream_text.sse");
    const TOOLS: &str = include_str!("../../../tests/fixtures/anthropic/stream_tools.sse");
    const ERROR: &str = include_str!("../../../tests/fixtures/anthropic/stream_error.sse");

    /// Runs a recorded SSE body through the machine: the chunks, and how it ended.
    fn run(sse: &str) -> (Vec<pb::ChatChunk>, Option<Result<(), GatewayError>>) {
        let mut machine = ChatStream::new("cfg");
        let redactor = Redactor::new([crate::config::Secret::new("sk-ant-secret")]);
        let mut chunks = Vec::new();
        for line in sse.lines() {
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let Some(ev) = decode(data, &redactor) else {
                continue;
            };
            match machine.on_event(ev.unwrap(), &redactor, 7) {
                Step::Chunk(c) => chunks.push(c),
                Step::Skip => {}
                Step::End => return (chunks, Some(Ok(()))),
                Step::Fail(e) => return (chunks, Some(Err(e))),
            }
        }
        (chunks, None)
    }

    fn content(c: &pb::ChatChunk) -> Option<&str> {
        c.choices[0].delta.as_ref().unwrap().content.as_deref()
    }

    #[test]
    fn text_stream_gives_mlflows_four_chunks() {
        let (chunks, end) = run(TEXT);
        assert!(matches!(end, Some(Ok(()))));
        let texts: Vec<_> = chunks.iter().map(content).collect();
        assert_eq!(texts, vec![Some(""), Some("Hello"), Some("!"), None]);
        for c in &chunks {
            assert_eq!(
                (c.id.as_deref(), c.model.as_str(), c.created),
                (Some("msg_s1"), "claude-up", 7)
            );
        }
        assert_eq!(
            chunks[0].choices[0].delta.as_ref().unwrap().role.as_deref(),
            Some("assistant")
        );
        assert_eq!(chunks[1].choices[0].delta.as_ref().unwrap().role, None);
        let last = chunks.last().unwrap();
        assert_eq!(last.choices[0].finish_reason.as_deref(), Some("stop"));
        let u = last.usage.as_ref().unwrap();
        // 20 input + 2 cache reads + 3 cache writes.
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (Some(25), Some(15), Some(40))
        );
        assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, Some(2));
        assert!(chunks[..3].iter().all(|c| c.usage.is_none()));
    }

    #[test]
    fn tool_stream_numbers_tool_calls_by_ordinal() {
        let (chunks, end) = run(TOOLS);
        assert!(matches!(end, Some(Ok(()))));
        // thinking start, thinking delta, signature delta: chunks without content.
        assert!(chunks[..3].iter().all(|c| content(c).is_none()));
        type Call<'a> = (u32, Option<&'a str>, Option<&'a str>, Option<&'a str>);
        let calls: Vec<Call<'_>> = chunks
            .iter()
            .flat_map(|c| &c.choices[0].delta.as_ref().unwrap().tool_calls)
            .map(|t| {
                let f = t.function.as_ref().unwrap();
                (
                    t.index,
                    t.id.as_deref(),
                    f.name.as_deref(),
                    f.arguments.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            calls,
            vec![
                (0, Some("toolu_a"), Some("get_weather"), None),
                (0, None, None, Some("")),
                (0, None, None, Some("{\"city\": \"Pa")),
                (0, None, None, Some("ris\"}")),
                (1, Some("toolu_b"), Some("get_time"), None),
                (1, None, None, Some("{}")),
            ]
        );
        let last = chunks.last().unwrap();
        assert_eq!(last.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(last.usage.as_ref().unwrap().total_tokens, Some(70));
    }

    #[test]
    fn in_band_error_ends_with_the_upstream_status() {
        let (chunks, end) = run(ERROR);
        assert_eq!(chunks.len(), 2);
        match end {
            Some(Err(e)) => {
                assert_eq!(e.http_status(), 529);
                assert_eq!(e.rest_body(), serde_json::json!({"detail": "Overloaded"}));
                assert!(e.is_retryable());
            }
            _ => panic!("expected an error"),
        }
        let (_, end) =
            run(r#"data: {"type":"error","error":{"type":"weird","message":"bad sk-ant-secret"}}"#);
        match end {
            Some(Err(e)) => {
                assert_eq!(e.http_status(), 502);
                assert_eq!(
                    e.rest_body(),
                    serde_json::json!({"detail": "bad [redacted]"})
                );
            }
            _ => panic!("expected an error"),
        }
    }

    #[test]
    fn truncated_and_odd_input() {
        let cut = TEXT.split("event: message_delta").next().unwrap();
        let (chunks, end) = run(cut);
        assert_eq!(chunks.len(), 3);
        assert!(
            end.is_none(),
            "no end event: the I/O side reports truncation"
        );
        assert_eq!(truncated().http_status(), 502);
        let r = Redactor::default();
        assert!(decode("", &r).is_none());
        assert!(decode("[DONE]", &r).is_none());
        assert!(matches!(
            decode(r#"{"type":"content_block_delta"}"#, &r),
            Some(Err(_))
        ));
        assert!(matches!(
            decode(r#"{"type":"brand_new_event","x":1}"#, &r),
            Some(Ok(wire::StreamEvent::Unknown))
        ));
    }

    /// Found by fuzzing (`bedrock_event_stream`, the same flaw here): serde's message quotes
    /// the offending value, which may be a secret the upstream echoed.
    #[test]
    fn decode_errors_do_not_quote_secrets() {
        let r = Redactor::new([crate::config::Secret::new("sk-ant-secret")]);
        let data = r#"{"type":"content_block_delta","index":"sk-ant-secret"}"#;
        let Some(Err(e)) = decode(data, &r) else {
            panic!("a wrongly typed index is an error");
        };
        let text = e.to_string();
        assert!(
            text.contains("[redacted]") && !text.contains("sk-ant-secret"),
            "{text}"
        );
    }
}
