//! The upstream stream targets: SSE (OpenAI-style, Anthropic, Gemini) and Cohere's NDJSON
//! through the providers' own stream readers, and Bedrock's AWS event-stream decoder.

use std::fmt::Debug;
use std::time::Duration;

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder, write_message_to};
use bytes::{Buf as _, BytesMut};
use futures::StreamExt as _;
use serde_json::Value;

use super::{SECRET, chat_chunk_json, completion_chunk_json, runtime};
use crate::config::Secret;
use crate::error::{GatewayError, Origin};
use crate::pb::v1 as pb;
use crate::providers::http::{Redactor, sse_json_stream};
use crate::providers::{ChunkStream, anthropic, bedrock, cohere, gemini, openai};

const TIMEOUT: Duration = Duration::from_secs(30);
const MODEL: &str = "fuzz-model";

/// `body` as an upstream response delivered in pieces of `stride` bytes (0: in one piece).
fn response(body: &[u8], stride: usize) -> reqwest::Response {
    let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = if stride == 0 {
        vec![Ok(bytes::Bytes::copy_from_slice(body))]
    } else {
        body.chunks(stride)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect()
    };
    let body = reqwest::Body::wrap_stream(futures::stream::iter(pieces));
    reqwest::Response::from(http::Response::new(body))
}

fn redactor() -> Redactor {
    Redactor::new([Secret::new(SECRET)])
}

/// Every item of a stream; a stream that does not end is a hang, which libFuzzer reports.
fn collect<T>(stream: ChunkStream<T>) -> Vec<Result<T, GatewayError>> {
    runtime().block_on(stream.collect())
}

/// The items in comparable form: as JSON, whose objects compare regardless of key order (a
/// chunk's `Struct`s are hash maps, whose iteration order differs between two decodings).
fn shown<T: serde::Serialize>(items: &[Result<T, GatewayError>]) -> Vec<Result<Value, String>> {
    items
        .iter()
        .map(|i| match i {
            Ok(c) => Ok(serde_json::to_value(c).expect("a chunk serialises")),
            Err(e) => Err(e.to_string()),
        })
        .collect()
}

/// The stream contract; returns whether the stream ended cleanly (without an error).
fn check_items<T: Debug>(items: &[Result<T, GatewayError>]) -> bool {
    for (i, item) in items.iter().enumerate() {
        let Err(e) = item else { continue };
        assert_eq!(
            i + 1,
            items.len(),
            "an error does not end the stream: {items:?}"
        );
        assert_eq!(e.origin(), Origin::Upstream, "not an upstream error: {e:?}");
        assert!((400..=599).contains(&e.http_status()), "status of {e:?}");
        let (text, body) = (e.to_string(), e.rest_body().to_string());
        assert!(
            !text.contains(SECRET) && !body.contains(SECRET),
            "a configured secret reaches the client: {e:?}"
        );
    }
    !matches!(items.last(), Some(Err(_)))
}

/// Runs `read` over the body whole and in pieces, which must give the same items.
fn both_ways<T: Debug + serde::Serialize>(
    body: &[u8],
    stride: usize,
    read: impl Fn(reqwest::Response) -> ChunkStream<T>,
    normal: impl Fn(&mut T),
) -> Vec<Result<T, GatewayError>> {
    let mut whole = collect(read(response(body, 0)));
    let mut split = collect(read(response(body, stride)));
    for item in whole.iter_mut().chain(split.iter_mut()).flatten() {
        normal(item);
    }
    assert_eq!(
        shown(&whole),
        shown(&split),
        "the items depend on how the body is split (pieces of {stride} bytes)"
    );
    whole
}

fn no_created_chat(c: &mut pb::ChatChunk) {
    // Gemini's chunk ids carry the clock too (`gemini-chat-stream-{now}`, as in MLflow).
    let stamp = format!("-{}", c.created);
    if let Some(id) = c.id.as_mut().filter(|id| id.ends_with(&stamp)) {
        id.truncate(id.len() - stamp.len());
    }
    c.created = 0;
}

fn no_created_completion(c: &mut pb::CompletionChunk) {
    c.created = 0;
}

fn chat_finished(items: &[Result<pb::ChatChunk, GatewayError>]) -> bool {
    items
        .iter()
        .flatten()
        .any(|c| c.choices.iter().any(|ch| ch.finish_reason.is_some()))
}

fn contains(body: &[u8], needle: &[u8]) -> bool {
    body.windows(needle.len()).any(|w| w == needle)
}

/// Target `upstream_sse`: an upstream streaming body → the provider's stream reader. The first
/// byte picks the reader (OpenAI-style chat or completions through
/// [`sse_json_stream`], Anthropic's event machine, Gemini's, Cohere's NDJSON lines) and the
/// size of the pieces the body arrives in.
pub fn upstream_sse(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let stride = 1 + usize::from(sel / 5) % 16;
    match sel % 5 {
        0 => {
            let items = both_ways(
                body,
                stride,
                |r| {
                    Box::pin(
                        sse_json_stream::<openai::wire::Chunk>(r, TIMEOUT, redactor())
                            .map(|r| r.map(|c| openai::convert::chat_chunk(c, MODEL, 0))),
                    )
                },
                no_created_chat,
            );
            items.iter().flatten().for_each(chat_chunk_json);
            if check_items(&items) {
                assert!(contains(body, b"[DONE]"), "a clean end without [DONE]");
            }
        }
        1 => {
            let items = both_ways(
                body,
                stride,
                |r| {
                    Box::pin(
                        sse_json_stream::<openai::wire::Chunk>(r, TIMEOUT, redactor())
                            .map(|r| r.map(|c| openai::convert::completion_chunk(c, MODEL, 0))),
                    )
                },
                no_created_completion,
            );
            items.iter().flatten().for_each(completion_chunk_json);
            if check_items(&items) {
                assert!(contains(body, b"[DONE]"), "a clean end without [DONE]");
            }
        }
        2 => {
            let items = both_ways(
                body,
                stride,
                |r| anthropic::chat_chunks(r, TIMEOUT, redactor(), MODEL),
                no_created_chat,
            );
            items.iter().flatten().for_each(chat_chunk_json);
            if check_items(&items) {
                assert!(
                    contains(body, b"message_stop"),
                    "a clean end without message_stop"
                );
            }
        }
        3 => {
            let items = both_ways(
                body,
                stride,
                |r| {
                    Box::pin(gemini::sse_chunks(
                        r,
                        TIMEOUT,
                        redactor(),
                        gemini::response::ChatStream::new(MODEL),
                    ))
                },
                no_created_chat,
            );
            items.iter().flatten().for_each(chat_chunk_json);
            if check_items(&items) {
                assert!(
                    contains(body, b"[DONE]") || chat_finished(&items),
                    "a clean end without a finish reason or [DONE]"
                );
            }
        }
        _ => {
            let items = both_ways(
                body,
                stride,
                |r| {
                    let redactor = redactor();
                    cohere::stream::ndjson_stream(r, TIMEOUT, move |line| {
                        cohere::stream::chat_step(line, MODEL, 0, &redactor)
                    })
                },
                no_created_chat,
            );
            items.iter().flatten().for_each(chat_chunk_json);
            if check_items(&items) {
                assert!(
                    contains(body, b"stream-end") || contains(body, b"is_finished"),
                    "a clean end without a final event"
                );
            }
        }
    }
}

/// Target `bedrock_event_stream`: a ConverseStream body (AWS event-stream frames) →
/// [`bedrock::stream::chat_chunks`]; the first byte sets the size of the pieces and, with its
/// top bit, has the frames' checksums fixed first (so that mutations reach the headers and
/// payloads, not only the CRC checks). Frames the decoder accepts must re-encode to exactly
/// the bytes they were decoded from.
pub fn bedrock_event_stream(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let stride = 1 + usize::from(sel & 0x7f) % 32;
    let mut fixed;
    let body = if sel & 0x80 != 0 {
        fixed = body.to_vec();
        fix_checksums(&mut fixed);
        &fixed[..]
    } else {
        body
    };
    let items = both_ways(
        body,
        stride,
        |r| bedrock::stream::chat_chunks(r, MODEL.into(), TIMEOUT, redactor()),
        no_created_chat,
    );
    items.iter().flatten().for_each(chat_chunk_json);
    if check_items(&items) {
        assert!(chat_finished(&items), "a clean end without messageStop");
    }

    let mut buf = BytesMut::from(body);
    let mut decoder = MessageFrameDecoder::new();
    let mut offset = 0;
    while let Ok(DecodedFrame::Complete(message)) = decoder.decode_frame(&mut buf) {
        let end = body.len() - buf.remaining();
        let mut encoded = Vec::new();
        write_message_to(&message, &mut encoded).expect("a decoded frame re-encodes");
        assert_eq!(
            encoded,
            &body[offset..end],
            "a frame does not re-encode to its own bytes"
        );
        offset = end;
    }
}

/// Rewrites the prelude and message CRCs of every frame whose declared length fits.
fn fix_checksums(body: &mut [u8]) {
    let mut at = 0;
    while let Some(prelude) = body.get(at..at + 12) {
        let total = u32::from_be_bytes([prelude[0], prelude[1], prelude[2], prelude[3]]) as usize;
        if total < 16 || at + total > body.len() {
            return;
        }
        let crc = crc32(&body[at..at + 8]).to_be_bytes();
        body[at + 8..at + 12].copy_from_slice(&crc);
        let crc = crc32(&body[at..at + total - 4]).to_be_bytes();
        body[at + total - 4..at + total].copy_from_slice(&crc);
        at += total;
    }
}

/// CRC-32 (IEEE), the event-stream checksum.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
