//! ConverseStream: the AWS event-stream binary framing decoded incrementally (frames may split
//! anywhere across network reads) with `MessageFrameDecoder`, and MLflow's event mapping
//! (`_parse_stream_event`): a tool block start becomes a tool-call delta with empty arguments,
//! text and tool-input deltas become content and argument fragments, `messageStop` a chunk with
//! the finish reason, `metadata` a usage chunk. Exception frames end the stream with one error
//! (MLflow's status table); a body that ends before `messageStop`, or inside a frame, ends it
//! with a 502-class error rather than passing for a complete answer.

use std::collections::HashMap;
use std::time::Duration;

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::{Buf, BytesMut};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::providers::http::{Redactor, decode_body, transport_error, upstream_error};
use crate::providers::{ChunkStream, unix_now};

use super::{convert, wire};

/// Checks a ConverseStream answer before the first event: an error status, or a 2xx that is
/// not an event stream, becomes an ordinary error (the client has not been answered yet).
pub async fn open(
    response: reqwest::Response,
    timeout: Duration,
    redactor: &Redactor,
) -> Result<reqwest::Response, GatewayError> {
    let status = response.status().as_u16();
    let ct = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if (200..300).contains(&status) && ct.starts_with("application/vnd.amazon.eventstream") {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(&e, timeout))?;
    match decode_body::<Value>(status, &headers, &body, redactor) {
        Err(e) => Err(e),
        Ok(_) if (200..300).contains(&status) => Err(GatewayError::UpstreamBadResponse(format!(
            "Amazon Bedrock did not answer with an event stream (content type: {}).",
            if ct.is_empty() { "none" } else { &ct }
        ))),
        Ok(_) => Err(upstream_error(status, &headers, &body, true, redactor)),
    }
}

/// What one frame produced.
pub enum Step {
    Skip,
    Chunk(pb::ChatChunk),
    Fail(GatewayError),
}

/// The event mapping, one decoded frame at a time.
pub struct ChatStream {
    model: String,
    /// contentBlockIndex → the tool call's own index, so text blocks do not shift it.
    tool_indices: HashMap<u32, u32>,
    /// Whether `messageStop` arrived (the stream may end cleanly after it).
    pub stopped: bool,
}

impl ChatStream {
    /// A machine for a stream of the configured `model`.
    pub fn new(model: &str) -> Self {
        ChatStream {
            model: model.to_owned(),
            tool_indices: HashMap::new(),
            stopped: false,
        }
    }

    fn chunk(
        &self,
        now: i64,
        delta: pb::ChatDelta,
        finish_reason: Option<String>,
        usage: Option<pb::Usage>,
    ) -> Step {
        Step::Chunk(pb::ChatChunk {
            id: None,
            created: now,
            model: self.model.clone(),
            choices: vec![pb::ChatChunkChoice {
                index: 0,
                finish_reason,
                delta: Some(delta),
            }],
            usage,
            provider: String::new(),
        })
    }

    /// Maps one frame.
    pub fn on_frame(&mut self, frame: &Message, redactor: &Redactor, now: i64) -> Step {
        match header(frame, ":message-type") {
            Some("event") | None => {}
            Some("exception") => return Step::Fail(exception(frame, redactor)),
            Some(_) => {
                let code = header(frame, ":error-code").unwrap_or("error");
                let message = header(frame, ":error-message").unwrap_or_default();
                return Step::Fail(stream_error(code, message, redactor));
            }
        }
        let event = header(frame, ":event-type").unwrap_or_default();
        match event {
            "contentBlockStart" => match payload::<wire::BlockStart>(frame, event, redactor) {
                Err(e) => Step::Fail(e),
                Ok(start) => {
                    let Some(tu) = start.start.and_then(|s| s.tool_use) else {
                        return Step::Skip;
                    };
                    let index = u32::try_from(self.tool_indices.len()).unwrap_or(u32::MAX);
                    self.tool_indices.insert(start.index, index);
                    let delta = tool_delta(index, tu.tool_use_id, Some("function"), tu.name, "");
                    self.chunk(now, delta, None, None)
                }
            },
            "contentBlockDelta" => match payload::<wire::BlockDelta>(frame, event, redactor) {
                Err(e) => Step::Fail(e),
                Ok(d) => {
                    let Some(kind) = d.delta else {
                        return Step::Skip;
                    };
                    if let Some(text) = kind.text.filter(|t| !t.is_empty()) {
                        let delta = pb::ChatDelta {
                            role: None,
                            content: Some(text),
                            tool_calls: Vec::new(),
                        };
                        return self.chunk(now, delta, None, None);
                    }
                    let Some(tu) = kind.tool_use else {
                        return Step::Skip;
                    };
                    let arguments = match tu.input {
                        Some(Value::String(s)) => s,
                        Some(other) => crate::pyjson::dumps(&other),
                        None => String::new(),
                    };
                    let index = self.tool_indices.get(&d.index).copied().unwrap_or(0);
                    let delta = tool_delta(index, None, None, None, &arguments);
                    self.chunk(now, delta, None, None)
                }
            },
            "messageStop" => match payload::<wire::MessageStop>(frame, event, redactor) {
                Err(e) => Step::Fail(e),
                Ok(stop) => {
                    self.stopped = true;
                    let finish = convert::finish_reason(stop.stop_reason.as_deref());
                    self.chunk(now, pb::ChatDelta::default(), Some(finish), None)
                }
            },
            "metadata" => match payload::<wire::Metadata>(frame, event, redactor) {
                Err(e) => Step::Fail(e),
                Ok(meta) => match meta.usage.filter(has_counts) {
                    None => Step::Skip,
                    Some(u) => {
                        let usage = convert::usage(&u);
                        self.chunk(now, pb::ChatDelta::default(), None, Some(usage))
                    }
                },
            },
            // messageStart, contentBlockStop and event types added later carry nothing to emit.
            _ => Step::Skip,
        }
    }
}

fn has_counts(u: &wire::Usage) -> bool {
    u.input_tokens.is_some() || u.output_tokens.is_some() || u.total_tokens.is_some()
}

fn tool_delta(
    index: u32,
    id: Option<String>,
    kind: Option<&str>,
    name: Option<String>,
    arguments: &str,
) -> pb::ChatDelta {
    pb::ChatDelta {
        role: None,
        content: None,
        tool_calls: vec![pb::ToolCallDelta {
            index,
            id,
            r#type: kind.map(str::to_owned),
            function: Some(pb::FunctionCall {
                name,
                arguments: Some(arguments.to_owned()),
            }),
            thought_signature: None,
        }],
    }
}

fn header<'a>(frame: &'a Message, name: &str) -> Option<&'a str> {
    frame
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| match h.value() {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
}

/// A frame's JSON payload. serde's messages quote the offending value (`invalid type: string
/// "..."`), which may be a secret the upstream echoed: redacted (found by fuzzing).
fn payload<T: DeserializeOwned>(
    frame: &Message,
    event: &str,
    redactor: &Redactor,
) -> Result<T, GatewayError> {
    serde_json::from_slice(frame.payload()).map_err(|e| {
        GatewayError::UpstreamBadResponse(redactor.text(&format!(
            "Amazon Bedrock sent a {event} event that could not be decoded: {e}."
        )))
    })
}

/// An exception frame as MLflow reports it (`Amazon Bedrock returned {type} while streaming:
/// {message}`), with the retryable kinds keeping their meaning.
fn exception(frame: &Message, redactor: &Redactor) -> GatewayError {
    let kind = header(frame, ":exception-type").unwrap_or("exception");
    let body: wire::ExceptionPayload = serde_json::from_slice(frame.payload()).unwrap_or_default();
    let message = body
        .message
        .or(body.message_upper)
        .unwrap_or_else(|| String::from_utf8_lossy(frame.payload()).into_owned());
    stream_error(kind, &message, redactor)
}

fn stream_error(kind: &str, message: &str, redactor: &Redactor) -> GatewayError {
    let status = match kind {
        "throttlingException" => 429,
        "serviceUnavailableException" => 503,
        "modelTimeoutException" => 408,
        _ => 502,
    };
    GatewayError::Upstream {
        status,
        detail: Value::String(redactor.text(&format!(
            "Amazon Bedrock returned {kind} while streaming: {message}"
        ))),
        retry_after_secs: None,
    }
}

fn truncated() -> GatewayError {
    GatewayError::UpstreamBadResponse(
        "The Amazon Bedrock stream ended before its messageStop event.".into(),
    )
}

struct State {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: BytesMut,
    decoder: MessageFrameDecoder,
    /// Bytes received that belong to a frame not yet complete (a cut inside a frame is truncation).
    partial: usize,
    machine: ChatStream,
    redactor: Redactor,
    finished: bool,
}

/// The chunks of an opened ConverseStream answer.
pub fn chat_chunks(
    response: reqwest::Response,
    model: String,
    timeout: Duration,
    redactor: Redactor,
) -> ChunkStream<pb::ChatChunk> {
    let state = State {
        body: Box::pin(response.bytes_stream()),
        buf: BytesMut::new(),
        decoder: MessageFrameDecoder::new(),
        partial: 0,
        machine: ChatStream::new(&model),
        redactor,
        finished: false,
    };
    Box::pin(futures::stream::unfold(state, move |mut st| async move {
        if st.finished {
            return None;
        }
        loop {
            let item = match st.decoder.decode_frame(&mut st.buf) {
                Ok(DecodedFrame::Complete(frame)) => {
                    st.partial = st.buf.remaining();
                    match st.machine.on_frame(&frame, &st.redactor, unix_now()) {
                        Step::Skip => continue,
                        Step::Chunk(c) => Ok(c),
                        Step::Fail(e) => Err(e),
                    }
                }
                Ok(DecodedFrame::Incomplete) => match st.body.next().await {
                    Some(Ok(bytes)) => {
                        st.partial += bytes.len();
                        st.buf.extend_from_slice(&bytes);
                        continue;
                    }
                    Some(Err(e)) => Err(transport_error(&e, timeout)),
                    None if st.partial == 0 && st.machine.stopped => return None,
                    None => Err(truncated()),
                },
                Err(e) => Err(GatewayError::UpstreamBadResponse(format!(
                    "The Amazon Bedrock event stream could not be decoded: {e}."
                ))),
            };
            st.finished = item.is_err();
            return Some((item, st));
        }
    }))
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
