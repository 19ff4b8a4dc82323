//! The mock's canned answers: OpenAI-shaped JSON built from static fragments around the
//! request's model (no per-request serialisation), streamed frames in OpenAI's exact chunk
//! format, and deterministic embeddings derived from each input.

use super::*;

// ---- JSON fragments: the static parts of every answer, spliced around the request's model ----

/// The chat usage object, a macro so `concat!` can splice it into the constants below.
macro_rules! chat_usage {
    () => {
        r#"{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}"#
    };
}
const CHAT_USAGE: &str = chat_usage!();
const CHAT_HEAD: &str =
    r#"{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"#;
const CHAT_TEXT_TAIL: &str = concat!(
    r#","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from mock"},"finish_reason":"stop"}],"usage":"#,
    chat_usage!(),
    r#","system_fingerprint":"fp_mock"}"#
);
const CHAT_TOOL_MID: &str = r#","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"#;
const CHAT_TOOL_TAIL: &str = concat!(
    r#","arguments":"{\"city\": \"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":"#,
    chat_usage!(),
    r#","system_fingerprint":"fp_mock"}"#
);
const CHUNK_HEAD: &str =
    r#"{"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1700000000,"model":"#;
const CHUNK_MID: &str = r#","system_fingerprint":"fp_mock","choices":"#;
const CMPL_USAGE: &str = r#"{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}"#;
const CMPL_HEAD: &str =
    r#"{"id":"cmpl-mock","object":"text_completion","created":1700000001,"model":"#;
const CMPL_TAIL: &str = r#","choices":[{"index":0,"text":"This is a test","finish_reason":"length","logprobs":null}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#;

/// A fragment of an answer: raw JSON, or a string that still needs quoting and escaping.
#[derive(Clone, Copy)]
enum Piece<'a> {
    Raw(&'a str),
    Str(&'a str),
}

fn render(pieces: &[Piece<'_>]) -> Vec<u8> {
    let len: usize = pieces
        .iter()
        .map(|p| match p {
            Piece::Raw(s) => s.len(),
            Piece::Str(s) => s.len() + 2,
        })
        .sum();
    let mut out = Vec::with_capacity(len + 8);
    for piece in pieces {
        match piece {
            Piece::Raw(s) => out.extend_from_slice(s.as_bytes()),
            Piece::Str(s) => push_json_str(&mut out, s),
        }
    }
    out
}

fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            // UTF-8 continuation and lead bytes are copied as is: the input is a valid &str.
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn model_or<'a>(probe: &'a Probe<'_>, default: &'a str) -> &'a str {
    probe.model.as_deref().unwrap_or(default)
}

fn first_tool<'a>(probe: &'a Probe<'_>) -> Option<&'a str> {
    let tools = probe.tools.as_ref()?;
    Some(
        tools
            .iter()
            .find_map(|t| t.function.as_ref().map(|f| f.name.as_ref()))
            .unwrap_or("tool"),
    )
}

pub(super) fn answer_body(kind: Kind, probe: &Probe<'_>) -> Bytes {
    let body = match kind {
        Kind::Chat => {
            let model = Piece::Str(model_or(probe, "gpt-mock"));
            match first_tool(probe) {
                None => render(&[Piece::Raw(CHAT_HEAD), model, Piece::Raw(CHAT_TEXT_TAIL)]),
                Some(tool) => render(&[
                    Piece::Raw(CHAT_HEAD),
                    model,
                    Piece::Raw(CHAT_TOOL_MID),
                    Piece::Str(tool),
                    Piece::Raw(CHAT_TOOL_TAIL),
                ]),
            }
        }
        Kind::Completions => render(&[
            Piece::Raw(CMPL_HEAD),
            Piece::Str(model_or(probe, "gpt-mock")),
            Piece::Raw(CMPL_TAIL),
        ]),
        Kind::Embeddings => return Bytes::new(),
    };
    Bytes::from(body)
}

/// One SSE frame `data: {head}{model}{mid}{choices}{tail}\n\n`.
fn frame(head: &str, model: &str, mid: &str, choices: &[Piece<'_>], tail: &str) -> Bytes {
    let mut pieces = Vec::with_capacity(choices.len() + 6);
    pieces.extend([
        Piece::Raw("data: "),
        Piece::Raw(head),
        Piece::Str(model),
        Piece::Raw(mid),
    ]);
    pieces.extend_from_slice(choices);
    pieces.extend([Piece::Raw(tail), Piece::Raw("\n\n")]);
    Bytes::from(render(&pieces))
}

/// The SSE frames of a streamed answer, in OpenAI's exact chunk format, ending with `[DONE]`.
pub(super) fn stream_frames(kind: Kind, probe: &Probe<'_>) -> Vec<Bytes> {
    let usage = probe
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    // OpenAI adds `"usage":null` to every chunk once usage was asked for.
    let tail = if usage { r#","usage":null}"# } else { "}" };
    let mut frames = Vec::with_capacity(8);
    match kind {
        Kind::Chat => {
            let model = model_or(probe, "gpt-mock");
            let chat = |choices: &[Piece<'_>], tail: &str| {
                frame(CHUNK_HEAD, model, CHUNK_MID, choices, tail)
            };
            match first_tool(probe) {
                None => {
                    frames.push(chat(&[Piece::Raw(CHAT_ROLE_DELTA)], tail));
                    for word in ["Hello", " from", " mock"] {
                        frames.push(chat(
                            &[
                                Piece::Raw(r#"[{"index":0,"delta":{"content":"#),
                                Piece::Str(word),
                                Piece::Raw(r#"},"logprobs":null,"finish_reason":null}]"#),
                            ],
                            tail,
                        ));
                    }
                    frames.push(chat(&[Piece::Raw(CHAT_FINISH_STOP)], tail));
                }
                Some(tool) => {
                    frames.push(chat(
                        &[
                            Piece::Raw(CHAT_TOOL_DELTA_HEAD),
                            Piece::Str(tool),
                            Piece::Raw(
                                r#","arguments":""}}]},"logprobs":null,"finish_reason":null}]"#,
                            ),
                        ],
                        tail,
                    ));
                    // The arguments arrive in pieces, as OpenAI sends them.
                    for part in [r#"{\"city\": "#, r#"\"Paris\"}"#] {
                        frames.push(chat(
                            &[
                                Piece::Raw(
                                    r#"[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":""#,
                                ),
                                Piece::Raw(part),
                                Piece::Raw(r#""}}]},"logprobs":null,"finish_reason":null}]"#),
                            ],
                            tail,
                        ));
                    }
                    frames.push(chat(&[Piece::Raw(CHAT_FINISH_TOOLS)], tail));
                }
            }
            if usage {
                frames.push(chat(
                    &[Piece::Raw("[]")],
                    &format!(r#","usage":{CHAT_USAGE}}}"#),
                ));
            }
        }
        Kind::Completions => {
            let model = model_or(probe, "gpt-mock");
            let cmpl = |choices: &[Piece<'_>], tail: &str| {
                frame(CMPL_HEAD, model, r#","choices":"#, choices, tail)
            };
            for word in ["This", " is", " a", " test"] {
                frames.push(cmpl(
                    &[
                        Piece::Raw(r#"[{"index":0,"text":"#),
                        Piece::Str(word),
                        Piece::Raw(r#","finish_reason":null,"logprobs":null}]"#),
                    ],
                    tail,
                ));
            }
            frames.push(cmpl(
                &[Piece::Raw(
                    r#"[{"index":0,"text":"","finish_reason":"length","logprobs":null}]"#,
                )],
                tail,
            ));
            if usage {
                frames.push(cmpl(
                    &[Piece::Raw("[]")],
                    &format!(r#","usage":{CMPL_USAGE}}}"#),
                ));
            }
        }
        Kind::Embeddings => {}
    }
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    frames
}

const CHAT_ROLE_DELTA: &str = r#"[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]"#;
const CHAT_TOOL_DELTA_HEAD: &str = r#"[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"#;

const CHAT_FINISH_STOP: &str = r#"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]"#;
const CHAT_FINISH_TOOLS: &str =
    r#"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]"#;

// ---- embeddings: deterministic vectors derived from the input ----

/// FNV-1a: tiny, stable across runs and platforms, good enough to make distinct inputs differ.
fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64 ^ seed.wrapping_mul(0x0100_0000_01b3);
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Component `j` of the vector for `item`, in thousandths within -1.000..=1.000 so the JSON
/// text is short and exact (e.g. `0.123`).
fn component_milli(item: &[u8], j: usize) -> i64 {
    let h = fnv1a(j as u64 + 1, item);
    (h % 2001) as i64 - 1000
}

pub(super) fn embeddings(probe: &Probe<'_>) -> Response {
    let items: Vec<Vec<u8>> = match &probe.input {
        None => {
            return error_json(
                StatusCode::BAD_REQUEST,
                br#"{"error":{"message":"mock: 'input' is required","type":"invalid_request_error"}}"#,
            );
        }
        Some(EmbeddingInput::One(s)) => vec![s.as_bytes().to_vec()],
        Some(EmbeddingInput::Many(v)) => v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        Some(EmbeddingInput::Tokens(t)) => vec![tokens_bytes(t)],
        Some(EmbeddingInput::TokenLists(v)) => v.iter().map(|t| tokens_bytes(t)).collect(),
    };
    let dims = probe.dimensions.unwrap_or(3);
    if !(1..=8192).contains(&dims) {
        return error_json(
            StatusCode::BAD_REQUEST,
            br#"{"error":{"message":"mock: dimensions must be within 1..=8192","type":"invalid_request_error"}}"#,
        );
    }
    let base64 = probe.encoding_format.as_deref() == Some("base64");
    let data: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let milli: Vec<i64> = (0..dims).map(|j| component_milli(item, j)).collect();
            let embedding = if base64 {
                // OpenAI's base64 form: the little-endian bytes of f32 values.
                let bytes: Vec<u8> = milli
                    .iter()
                    .flat_map(|m| (*m as f32 / 1000.0).to_le_bytes())
                    .collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Value::from(
                    milli
                        .iter()
                        .map(|m| *m as f64 / 1000.0)
                        .collect::<Vec<f64>>(),
                )
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let body = json!({"object": "list", "data": data,
        "model": model_or(probe, "text-embedding-mock"),
        "usage": {"prompt_tokens": 8, "total_tokens": 8}});
    match serde_json::to_vec(&body) {
        Ok(b) => with_type(StatusCode::OK, JSON, b),
        Err(_) => error_json(StatusCode::INTERNAL_SERVER_ERROR, b"{}"),
    }
}

fn tokens_bytes(tokens: &[i64]) -> Vec<u8> {
    tokens.iter().flat_map(|t| t.to_le_bytes()).collect()
}
