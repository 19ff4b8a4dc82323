//! Cohere's streamed answers (spec §3.10): newline-delimited JSON, not SSE. [`Lines`] cuts the
//! body into lines however the network splits it; [`chat_step`] and [`generate_step`] turn one
//! line into a unified chunk as MLflow does (`stream-start` skipped, text events as content
//! chunks, the final event carrying the raw finish reason, the `response_id` and usage); and
//! [`ndjson_stream`] drives them over a response body. A body that ends before the final
//! event, a line that is not JSON, an error object or a `finish_reason` of `ERROR` ends the
//! stream with one error, never silently.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::providers::ChunkStream;
use crate::providers::http::{Redactor, transport_error};

use super::{convert, wire};

/// Splits a byte stream into lines; a line may arrive in any number of pieces.
#[derive(Default)]
pub struct Lines {
    buf: Vec<u8>,
}

impl Lines {
    /// Appends the next piece of the body.
    pub fn push(&mut self, piece: &[u8]) {
        self.buf.extend_from_slice(piece);
    }

    /// The next complete, non-blank line (without its line break); at the end of the body
    /// (`eof`), also a last line that has no line break.
    pub fn next_line(&mut self, eof: bool) -> Option<Vec<u8>> {
        loop {
            let line = match self.buf.iter().position(|b| *b == b'\n') {
                Some(at) => {
                    let mut line: Vec<u8> = self.buf.drain(..=at).collect();
                    line.pop();
                    line
                }
                None if eof && !self.buf.is_empty() => std::mem::take(&mut self.buf),
                None => return None,
            };
            if !line.trim_ascii().is_empty() {
                return Some(line);
            }
        }
    }
}

/// What one line means.
pub enum Step<T> {
    /// Nothing for the client (e.g. `stream-start`).
    Skip,
    /// A chunk; more follow.
    Chunk(T),
    /// The final chunk.
    Last(T),
    /// The stream failed.
    Fail(GatewayError),
}

/// The error for a body that ended before the final event.
pub fn truncated() -> GatewayError {
    GatewayError::UpstreamBadResponse(
        "The upstream stream ended before its final event (is_finished).".into(),
    )
}

/// Decodes a line, recognising the error forms every stream shares.
fn event<R: DeserializeOwned>(
    line: &[u8],
    redactor: &Redactor,
) -> Result<wire::StreamEvent<R>, GatewayError> {
    // serde's message may quote an upstream value, such as an echoed secret: redacted.
    let e: wire::StreamEvent<R> = serde_json::from_slice(line).map_err(|e| {
        GatewayError::UpstreamBadResponse(redactor.text(&format!(
            "The upstream stream sent a line that is not a JSON event: {e}."
        )))
    })?;
    // An error object in place of an event (Cohere's errors are `{"message": ...}`).
    if e.event_type.is_none()
        && e.text.is_none()
        && !e.is_finished
        && let Some(message) = e.message
    {
        return Err(GatewayError::Upstream {
            status: 502,
            detail: redactor.value(message),
            retry_after_secs: None,
        });
    }
    if e.is_finished && e.finish_reason.as_deref() == Some("ERROR") {
        return Err(GatewayError::Upstream {
            status: 502,
            detail: serde_json::Value::String(
                "The upstream stream ended with finish_reason ERROR.".into(),
            ),
            retry_after_secs: None,
        });
    }
    Ok(e)
}

/// One line of a `/chat` stream.
pub fn chat_step(line: &[u8], model: &str, now: i64, redactor: &Redactor) -> Step<pb::ChatChunk> {
    let e = match event::<wire::Chat>(line, redactor) {
        Ok(e) => e,
        Err(err) => return Step::Fail(err),
    };
    let chunk = |id, finish_reason, content, usage| pb::ChatChunk {
        id,
        created: now,
        model: model.to_owned(),
        choices: vec![pb::ChatChunkChoice {
            index: 0,
            finish_reason,
            delta: Some(pb::ChatDelta {
                role: None,
                content,
                tool_calls: Vec::new(),
            }),
        }],
        usage,
        provider: String::new(),
    };
    if e.is_finished || e.event_type.as_deref() == Some("stream-end") {
        let (id, usage) = match e.response {
            Some(r) => (r.response_id, r.token_count.map(convert::usage)),
            None => (None, None),
        };
        return Step::Last(chunk(id, e.finish_reason, None, usage));
    }
    match (e.event_type.as_deref(), e.text) {
        (Some("text-generation"), Some(text)) => Step::Chunk(chunk(None, None, Some(text), None)),
        // stream-start, and the search/citation/tool events the legacy API may interleave:
        // nothing a unified chunk can carry (MLflow emits an empty chunk for the latter).
        _ => Step::Skip,
    }
}

/// One line of a `/generate` stream.
pub fn generate_step(
    line: &[u8],
    model: &str,
    now: i64,
    redactor: &Redactor,
) -> Step<pb::CompletionChunk> {
    let e = match event::<wire::Generate>(line, redactor) {
        Ok(e) => e,
        Err(err) => return Step::Fail(err),
    };
    let chunk = |id, index, finish_reason, text| pb::CompletionChunk {
        id,
        created: now,
        model: model.to_owned(),
        choices: vec![pb::CompletionChunkChoice {
            index,
            finish_reason,
            text,
        }],
        usage: None,
        provider: String::new(),
    };
    let index = e.index.unwrap_or(0);
    if e.is_finished {
        let id = e.response.and_then(|r| r.id);
        return Step::Last(chunk(
            id,
            index,
            e.finish_reason,
            e.text.unwrap_or_default(),
        ));
    }
    match e.text {
        Some(text) => Step::Chunk(chunk(None, index, e.finish_reason, text)),
        None => Step::Skip,
    }
}

/// Reads a response body as NDJSON, turning each line into chunks with `step`.
pub fn ndjson_stream<T, F>(
    response: reqwest::Response,
    timeout: Duration,
    step: F,
) -> ChunkStream<T>
where
    T: Send + 'static,
    F: FnMut(&[u8]) -> Step<T> + Send + 'static,
{
    Box::pin(drive(response.bytes_stream(), timeout, step))
}

/// The line/step loop of [`ndjson_stream`], over any byte stream (tests feed it pieces).
pub fn drive<T, F, B>(
    body: B,
    timeout: Duration,
    step: F,
) -> impl Stream<Item = Result<T, GatewayError>> + Send + 'static
where
    T: Send + 'static,
    F: FnMut(&[u8]) -> Step<T> + Send + 'static,
    B: Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static,
{
    struct State<B, F> {
        body: std::pin::Pin<Box<B>>,
        lines: Lines,
        step: F,
        eof: bool,
        done: bool,
    }
    let state = State {
        body: Box::pin(body),
        lines: Lines::default(),
        step,
        eof: false,
        done: false,
    };
    futures::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            if let Some(line) = st.lines.next_line(st.eof) {
                match (st.step)(&line) {
                    Step::Skip => continue,
                    Step::Chunk(c) => return Some((Ok(c), st)),
                    Step::Last(c) => {
                        st.done = true;
                        return Some((Ok(c), st));
                    }
                    Step::Fail(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                }
            }
            if st.eof {
                st.done = true;
                return Some((Err(truncated()), st));
            }
            match st.body.next().await {
                Some(Ok(piece)) => st.lines.push(&piece),
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(transport_error(&e, timeout)), st));
                }
                None => st.eof = true,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT_STREAM: &str = include_str!("../../../tests/fixtures/cohere/chat_stream.ndjson");
    const GENERATE_STREAM: &str =
        include_str!("../../../tests/fixtures/cohere/generate_stream.ndjson");

    /// Feeds `text` in pieces of `size` bytes and collects the items.
    async fn run<T: Send + 'static>(
        text: &str,
        size: usize,
        step: impl FnMut(&[u8]) -> Step<T> + Send + 'static,
    ) -> Vec<Result<T, GatewayError>> {
        let pieces: Vec<Result<Bytes, reqwest::Error>> = text
            .as_bytes()
            .chunks(size)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        drive(futures::stream::iter(pieces), Duration::from_secs(1), step)
            .collect()
            .await
    }

    fn chat(line: &[u8]) -> Step<pb::ChatChunk> {
        chat_step(line, "command", 5, &Redactor::default())
    }

    fn generate(line: &[u8]) -> Step<pb::CompletionChunk> {
        generate_step(line, "command", 5, &Redactor::default())
    }

    #[test]
    fn lines_split_anywhere() {
        let mut l = Lines::default();
        l.push(b"{\"a\"");
        assert!(l.next_line(false).is_none());
        l.push(b":1}\r\n\n  \n{\"b\":2}");
        assert_eq!(l.next_line(false).unwrap(), b"{\"a\":1}\r");
        assert!(l.next_line(false).is_none());
        assert_eq!(l.next_line(true).unwrap(), b"{\"b\":2}");
        assert!(l.next_line(true).is_none());
    }

    #[tokio::test]
    async fn chat_stream_in_any_pieces() {
        for size in [1, 7, 64, 4096] {
            let items = run(CHAT_STREAM, size, chat).await;
            let chunks: Vec<pb::ChatChunk> = items.into_iter().map(Result::unwrap).collect();
            assert_eq!(chunks.len(), 4, "piece size {size}");
            let text: String = chunks[..3]
                .iter()
                .map(|c| {
                    c.choices[0]
                        .delta
                        .as_ref()
                        .unwrap()
                        .content
                        .clone()
                        .unwrap()
                })
                .collect();
            assert_eq!(text, "How are you");
            assert!(
                chunks[..3]
                    .iter()
                    .all(|c| c.id.is_none() && c.usage.is_none())
            );
            let last = &chunks[3];
            assert_eq!(
                last.id.as_deref(),
                Some("9d1d1a4c-2ca6-4c5e-9b8b-d5f1a8a3c7e2")
            );
            assert_eq!(last.choices[0].finish_reason.as_deref(), Some("COMPLETE"));
            assert_eq!(last.choices[0].delta.as_ref().unwrap().content, None);
            let u = last.usage.clone().unwrap();
            assert_eq!(
                (u.prompt_tokens, u.completion_tokens, u.total_tokens),
                (Some(83), Some(63), Some(146))
            );
        }
    }

    #[tokio::test]
    async fn generate_stream_keeps_indices_and_raw_finish() {
        let items = run(GENERATE_STREAM, 13, generate).await;
        let chunks: Vec<pb::CompletionChunk> = items.into_iter().map(Result::unwrap).collect();
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            (
                chunks[1].choices[0].index,
                chunks[1].choices[0].text.as_str()
            ),
            (1, " Hi")
        );
        assert_eq!(
            chunks[2].id.as_deref(),
            Some("b32a70c5-8c91-4f96-958f-d942801ed22f")
        );
        assert_eq!(
            chunks[2].choices[0].finish_reason.as_deref(),
            Some("COMPLETE")
        );
        assert_eq!(chunks[2].choices[0].text, "");
    }

    #[tokio::test]
    async fn broken_streams_end_with_one_error() {
        // Cut before the final event.
        let cut: String = CHAT_STREAM.lines().take(3).collect::<Vec<_>>().join("\n");
        let items = run(&cut, 5, chat).await;
        assert_eq!(items.len(), 3);
        assert_eq!(items[2].as_ref().err().unwrap().http_status(), 502);
        // Empty body.
        let items = run("", 5, chat).await;
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
        // A line that is not JSON.
        let items = run(
            "{\"event_type\":\"text-generation\",\"text\":\"a\"}\nnot json\n",
            3,
            chat,
        )
        .await;
        assert_eq!(items.len(), 2);
        assert!(items[1].is_err());
        // An error object in the stream; a key it echoes is redacted.
        let r = Redactor::new([crate::config::Secret::new("co-secret")]);
        let items = run(
            "{\"message\":\"too many requests for co-secret\"}\n",
            4,
            move |l| chat_step(l, "m", 1, &r),
        )
        .await;
        match &items[..] {
            [Err(GatewayError::Upstream { status, detail, .. })] => {
                assert_eq!(*status, 502);
                assert_eq!(detail, "too many requests for [redacted]");
            }
            _ => panic!("expected one upstream error"),
        }
        // finish_reason ERROR.
        let items = run(
            "{\"is_finished\":true,\"event_type\":\"stream-end\",\"finish_reason\":\"ERROR\"}\n",
            64,
            generate,
        )
        .await;
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
    }
}
