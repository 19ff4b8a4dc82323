//! Connect's enveloped messages, the framing of streaming calls: `[flags u8][length u32 BE]
//! [payload]`, where flag `0x01` marks a compressed payload and `0x02` the end-of-stream message
//! (always JSON: `{}`, or `{"error":{"code":...,"message":...}}`).
//!
//! [`Frames`] turns a committed service stream into response frames: one per message, then the
//! end-of-stream message, which carries the error when the stream failed after it started (the
//! HTTP status, 200, is long gone by then). It also enforces the client's deadline
//! (`Connect-Timeout-Ms`) over the whole stream: past it, the upstream stream is dropped (so
//! the upstream request is cancelled) and the stream ends with `deadline_exceeded`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut as _, Bytes, BytesMut};
use futures::{Stream, StreamExt as _};
use prost::Message;
use serde::Serialize;

use super::codec::{Codec, Compression};
use super::error::WireError;
use crate::error::GatewayError;
use crate::providers::ChunkStream;
use crate::telemetry::CallRecord;

/// Flag: the payload is compressed with the stream's `Connect-Content-Encoding`.
pub const COMPRESSED: u8 = 0x01;
/// Flag: the end-of-stream message.
pub const END_STREAM: u8 = 0x02;
/// Bytes before each payload.
pub const HEADER_LEN: usize = 5;

/// One frame; `None` when the payload is too large for the 32-bit length.
pub fn frame(flags: u8, payload: &[u8]) -> Option<Bytes> {
    let len = u32::try_from(payload.len()).ok()?;
    let mut out = BytesMut::with_capacity(HEADER_LEN + payload.len());
    out.put_u8(flags);
    out.put_u32(len);
    out.put_slice(payload);
    Some(out.freeze())
}

#[derive(Serialize)]
struct EndStream<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<WireError<'a>>,
    /// Trailing metadata: `retry-after` when the error carries one (as the HTTP header of a
    /// unary error).
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<serde_json::Value>,
}

/// The end-of-stream frame: `{}` for success, else the error (and its `retry-after`).
pub fn end_stream(error: Option<&GatewayError>) -> Bytes {
    let message = error.map(ToString::to_string);
    let metadata = error
        .and_then(GatewayError::retry_after_secs)
        .map(|secs| serde_json::json!({ "retry-after": [secs.to_string()] }));
    end_stream_frame(&EndStream {
        error: error
            .zip(message.as_deref())
            .map(|(e, m)| WireError::new(e, m)),
        metadata,
    })
}

/// The end-of-stream frame carrying `error` (or `{}`).
pub fn end_stream_with(error: Option<WireError<'_>>) -> Bytes {
    end_stream_frame(&EndStream {
        error,
        metadata: None,
    })
}

fn end_stream_frame(end: &EndStream<'_>) -> Bytes {
    // Strings cannot fail to serialise or overflow the frame length; the fallback is a
    // well-formed frame all the same.
    serde_json::to_vec(end)
        .ok()
        .and_then(|json| frame(END_STREAM, &json))
        .unwrap_or_else(|| Bytes::from_static(b"\x02\x00\x00\x00\x02{}"))
}

/// The one message of a server-streaming request: the whole body must be a single data frame.
/// Returns the payload and whether it is compressed.
pub fn single(body: &Bytes) -> Result<(Bytes, bool), GatewayError> {
    let bad = |why: &str| GatewayError::BadRequest(format!("Invalid request stream: {why}."));
    if body.len() < HEADER_LEN {
        return Err(bad("the body must be one enveloped message"));
    }
    let flags = body[0];
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]);
    let len = usize::try_from(len).map_err(|_| bad("message too long"))?;
    if body.len() - HEADER_LEN != len {
        return Err(bad(
            "the body must be exactly one enveloped message (length mismatch)",
        ));
    }
    if flags & !COMPRESSED != 0 {
        return Err(bad("unexpected envelope flags"));
    }
    Ok((body.slice(HEADER_LEN..), flags & COMPRESSED != 0))
}

/// The response frames of a committed stream (see the module docs).
pub struct Frames<T> {
    /// The service stream; `None` once the end-of-stream message is sent.
    inner: Option<ChunkStream<T>>,
    codec: Codec,
    compression: Compression,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The request's telemetry record, told of a failure this adds (the service reports its own).
    record: Option<Arc<CallRecord>>,
}

impl<T> Frames<T> {
    /// Frames for `inner`, cut at `deadline`. Made inside the request's telemetry scope.
    pub fn new(
        inner: ChunkStream<T>,
        codec: Codec,
        compression: Compression,
        deadline: Option<tokio::time::Instant>,
    ) -> Frames<T> {
        Frames {
            inner: Some(inner),
            codec,
            compression,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            record: crate::telemetry::current_call(),
        }
    }

    /// Ends the stream with `e`, reporting it when the service did not.
    fn fail(&mut self, e: &GatewayError, report: bool) -> Bytes {
        self.inner = None;
        if report && let Some(record) = &self.record {
            record.failed(e);
        }
        end_stream(Some(e))
    }
}

impl<T: Message + Serialize> Frames<T> {
    fn message(&self, msg: &T) -> Result<Bytes, GatewayError> {
        let bytes = self.codec.encode(msg)?;
        let (payload, compressed) = self.compression.compress(bytes);
        let flags = if compressed { COMPRESSED } else { 0 };
        frame(flags, &payload).ok_or_else(|| {
            GatewayError::Internal("a response message exceeds the 4 GiB frame limit".into())
        })
    }
}

impl<T: Message + Serialize> Stream for Frames<T> {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        // Messages already produced go out first; the deadline is checked when none is ready.
        let next = inner.poll_next_unpin(cx);
        let item = match next {
            Poll::Ready(Some(Ok(msg))) => match this.message(&msg) {
                Ok(frame) => frame,
                Err(e) => this.fail(&e, true),
            },
            Poll::Ready(Some(Err(e))) => this.fail(&e, false),
            Poll::Ready(None) => {
                this.inner = None;
                end_stream(None)
            }
            Poll::Pending => match this.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => this.fail(&GatewayError::client_deadline(), true),
                Some(Poll::Pending) | None => return Poll::Pending,
            },
        };
        Poll::Ready(Some(Ok(item)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::v1 as pb;
    use std::time::Duration;

    /// Splits a response body into (flags, payload) frames.
    fn frames(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        while !body.is_empty() {
            let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
            out.push((body[0], body[HEADER_LEN..HEADER_LEN + len].to_vec()));
            body = &body[HEADER_LEN + len..];
        }
        out
    }

    async fn collect<T: Message + Serialize>(f: Frames<T>) -> Vec<(u8, Vec<u8>)> {
        let chunks: Vec<_> = f.collect().await;
        let body: Vec<u8> = chunks
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect();
        frames(&body)
    }

    fn chunk(text: &str) -> pb::ChatChunk {
        pb::ChatChunk {
            model: text.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn messages_then_the_end_of_stream() {
        let items: Vec<Result<pb::ChatChunk, GatewayError>> = vec![Ok(chunk("a")), Ok(chunk("b"))];
        let f = Frames::new(
            Box::pin(futures::stream::iter(items)),
            Codec::Json,
            Compression::Identity,
            None,
        );
        let out = collect(f).await;
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], (0, br#"{"model":"a"}"#.to_vec()));
        assert_eq!(out[2], (END_STREAM, b"{}".to_vec()));
    }

    #[tokio::test]
    async fn a_failure_after_the_start_ends_with_the_error() {
        let items: Vec<Result<pb::ChatChunk, GatewayError>> = vec![
            Ok(chunk("a")),
            Err(GatewayError::UpstreamBadResponse("cut".into())),
            Ok(chunk("never")),
        ];
        let f = Frames::new(
            Box::pin(futures::stream::iter(items)),
            Codec::Proto,
            Compression::Identity,
            None,
        );
        let out = collect(f).await;
        assert_eq!(out.len(), 2);
        assert_eq!(pb::ChatChunk::decode(&out[0].1[..]).unwrap().model, "a");
        assert_eq!(
            out[1],
            (
                END_STREAM,
                br#"{"error":{"code":"unavailable","message":"cut"}}"#.to_vec()
            )
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_cuts_a_stalled_stream() {
        let stalled = futures::stream::iter(vec![Ok(chunk("a"))]).chain(futures::stream::pending());
        let f = Frames::new(
            Box::pin(stalled),
            Codec::Json,
            Compression::Identity,
            Some(tokio::time::Instant::now() + Duration::from_secs(5)),
        );
        let out = collect(f).await;
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].0, END_STREAM);
        let end: serde_json::Value = serde_json::from_slice(&out[1].1).unwrap();
        assert_eq!(end["error"]["code"], "deadline_exceeded");
    }

    #[tokio::test]
    async fn large_messages_are_compressed_when_negotiated() {
        let big = chunk(&"x".repeat(4 * super::super::codec::COMPRESS_MIN_BYTES));
        let items: Vec<Result<pb::ChatChunk, GatewayError>> = vec![Ok(big.clone()), Ok(chunk("a"))];
        let f = Frames::new(
            Box::pin(futures::stream::iter(items)),
            Codec::Proto,
            Compression::Gzip,
            None,
        );
        let out = collect(f).await;
        assert_eq!(out[0].0, COMPRESSED);
        let inflated = Compression::Gzip
            .decompress(Bytes::from(out[0].1.clone()), usize::MAX)
            .unwrap();
        assert_eq!(pb::ChatChunk::decode(inflated).unwrap(), big);
        assert_eq!(out[1].0, 0, "small messages stay plain");
    }

    #[test]
    fn a_request_body_is_one_frame() {
        let body = frame(0, b"abc").unwrap();
        assert_eq!(single(&body).unwrap(), (Bytes::from_static(b"abc"), false));
        let gz = frame(COMPRESSED, b"abc").unwrap();
        assert!(single(&gz).unwrap().1);
        for bad in [
            Bytes::from_static(b"\x00\x00"),
            Bytes::from_static(b"\x00\x00\x00\x00\x05abc"),
            Bytes::from_static(b"\x02\x00\x00\x00\x02{}"),
        ] {
            assert_eq!(
                single(&bad).unwrap_err().grpc_code(),
                tonic::Code::InvalidArgument
            );
        }
    }
}
