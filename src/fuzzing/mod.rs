//! Fuzzing entry points: one function per parser, each taking the fuzzer's raw bytes and
//! panicking when the parser breaks its contract. The libFuzzer targets in `fuzz/` are one
//! line each over these (`scripts/fuzz.sh` runs them; docs/reliability.md, "Fuzzing"), and a
//! unit test replays the checked-in corpora `fuzz/corpus/<target>/` through the same
//! functions on every test run, so the targets cannot rot.
//!
//! Not a public API: hidden from the docs and free to change with the fuzz targets.
//!
//! The contracts checked, beyond "no panic, no hang":
//! - [`config`]: an error is located inside the text and names the file; a valid config also
//!   builds a running [`Gateway`].
//! - [`rest_request`]: a rejected body is a 400/422 with a JSON `detail`; an accepted one
//!   survives the proto (binary and JSON) round trips the other surfaces rely on.
//! - [`upstream_sse`], [`bedrock_event_stream`]: the same chunks however the network splits
//!   the body; at most one error, and it ends the stream; errors are upstream-class and never
//!   carry a configured secret; a stream that ends cleanly saw its end marker (no silent cut);
//!   every chunk encodes to JSON; event-stream frames re-encode to the bytes they came from.
//! - [`connect`], [`grpc_web`]: the whole app answers every request, within a deadline, in the
//!   protocol's own framing: JSON errors with known codes, well-formed envelopes ending in one
//!   end-of-stream message, grpc-web frames ending in one trailer frame with a valid
//!   `grpc-status`; never an internal error.

// A fuzz harness reports a broken contract by panicking: that is what libFuzzer detects.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod app;
mod streams;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::rest::codec;
use crate::service::{Gateway, Settings};

pub use app::{connect, grpc_web};
pub use streams::{bedrock_event_stream, upstream_sse};

/// The secret configured for the stream targets' redactor; it must never reach an error.
pub const SECRET: &str = "sk-fuzz-secret-4242";

/// The one runtime the async targets run on (libFuzzer calls from one thread).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime")
    })
}

/// Target `config`: YAML text → [`crate::config::load_str`] (→ [`Gateway::new`] when valid).
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // the loader reads a `String`: invalid UTF-8 never gets this far
    };
    let file = Path::new("fuzz.yaml");
    // `$SET_*` variables exist, every other `$NAME` is unset.
    let env = |name: &str| name.starts_with("SET").then(|| format!("value-of-{name}"));
    // YAML breaks lines at "\r\n", "\n" and a lone "\r" alike.
    let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() + 1;
    let located = |what: &str, line: Option<usize>, column: Option<usize>, shown: String| {
        if let Some(line) = line {
            assert!(
                (1..=lines).contains(&line),
                "{what} at line {line} of a {lines}-line text: {shown}"
            );
        }
        assert!(column.is_none_or(|c| c >= 1), "{what} at column 0: {shown}");
        assert!(
            shown.starts_with("fuzz.yaml"),
            "{what} does not name the file: {shown}"
        );
    };
    match crate::config::load_str(file, text, &env) {
        Err(e) => {
            assert!(
                !e.message.trim().is_empty(),
                "an empty error message: {e:?}"
            );
            located("an error", e.line, e.column, e.to_string());
        }
        Ok(loaded) => {
            for w in &loaded.warnings {
                located("a warning", w.line, w.column, w.to_string());
            }
            // What `main` does next; it must fail with a StartError, never panic. It needs a
            // runtime context (clients, timers), as in `main`.
            let _guard = runtime().enter();
            let _ = Gateway::new(&loaded.config, &Settings::default());
        }
    }
}

/// Target `rest_request`: a REST body → [`codec::parse_chat`], [`codec::parse_completion`] or
/// [`codec::parse_embed`] (the first byte picks which; MLflow and OpenAI routes share them).
pub fn rest_request(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => check_rest(body, codec::parse_chat, |b| &b.request),
        1 => check_rest(body, codec::parse_completion, |b| &b.request),
        _ => check_rest(body, codec::parse_embed, |b| &b.request),
    }
}

fn check_rest<B, R>(body: &[u8], parse: fn(&[u8]) -> Result<B, GatewayError>, request: fn(&B) -> &R)
where
    B: std::fmt::Debug + PartialEq,
    R: std::fmt::Debug
        + prost::Message
        + serde::Serialize
        + serde::de::DeserializeOwned
        + Default
        + PartialEq,
{
    match parse(body) {
        Err(e) => check_client_error(&e),
        Ok(parsed) => {
            let req = request(&parsed);
            // gRPC and grpc-web carry the request as protobuf...
            let bin = req.encode_to_vec();
            let back =
                R::decode(bin.as_slice()).expect("a parsed request decodes from its own encoding");
            assert!(
                back == *req,
                "the protobuf round trip changed {req:?} into {back:?}"
            );
            // ...Connect as proto3 JSON.
            let json = serde_json::to_vec(req).expect("a parsed request serialises to JSON");
            let back: R = serde_json::from_slice(&json).unwrap_or_else(|e| {
                panic!(
                    "its proto3 JSON {} does not parse back: {e}",
                    String::from_utf8_lossy(&json)
                )
            });
            // Compared as JSON: pbjson reads a `null` Struct value back as an empty `kind`,
            // which is the same JSON (and the same upstream body).
            let first: Value = serde_json::from_slice(&json).expect("proto3 JSON is JSON");
            let second = serde_json::to_value(&back).expect("a request serialises to JSON");
            assert!(
                first == second,
                "the proto3 JSON round trip changed {first}\ninto {second}"
            );
            // An accepted body is UTF-8 (Python could not decode it otherwise), and the same
            // JSON value, written canonically, parses to the same request. (serde_json's `Value`
            // refuses lone surrogates, `"\ud800"`, which Python, and so MLflow, accepts.)
            let bom_free = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
            assert!(
                std::str::from_utf8(bom_free).is_ok(),
                "an accepted body is not UTF-8"
            );
            let Ok(value) = serde_json::from_slice::<Value>(bom_free) else {
                return;
            };
            let canonical = serde_json::to_vec(&value).expect("a JSON value serialises");
            match parse(&canonical) {
                Ok(again) if again == parsed => {}
                // serde_json's `Value` parses decimals of more than 17 digits to within an ulp
                // (no `float_roundtrip`), so a rewritten number may move by that much.
                Ok(again) => assert!(
                    close(
                        &serde_json::to_value(request(&parsed)).expect("serialises"),
                        &serde_json::to_value(request(&again)).expect("serialises"),
                    ),
                    "re-serialising {parsed:?} changed it to {again:?}"
                ),
                Err(e) => panic!("the body, re-serialised, is rejected: {e:?}"),
            }
        }
    }
}

/// Equal JSON, numbers within a relative 1e-15.
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-15 * x.abs().max(y.abs()),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

/// A client's error: 400 or 422 with a JSON `detail`, INVALID_ARGUMENT on the typed surfaces.
fn check_client_error(e: &GatewayError) {
    let status = e.http_status();
    assert!(status == 400 || status == 422, "status {status} for {e:?}");
    assert_eq!(e.grpc_code(), tonic::Code::InvalidArgument, "{e:?}");
    let body = e.rest_body();
    assert!(body.get("detail").is_some(), "no detail in {body}");
    let text = serde_json::to_string(&body).expect("an error body serialises");
    let _: Value = serde_json::from_str(&text).expect("an error body is JSON");
    assert!(!e.to_string().is_empty(), "an empty error text: {e:?}");
}

/// A chunk as the REST surfaces write it must be JSON.
fn chunk_json(bytes: &[u8]) {
    if let Err(e) = serde_json::from_slice::<Value>(bytes) {
        panic!(
            "a chunk is written as invalid JSON ({e}): {}",
            String::from_utf8_lossy(bytes)
        );
    }
}

fn chat_chunk_json(c: &pb::ChatChunk) {
    chunk_json(&codec::chat_chunk(c));
}

fn completion_chunk_json(c: &pb::CompletionChunk) {
    chunk_json(&codec::completion_chunk(c));
}
