//! The REST JSON codec: MLflow/OpenAI request bodies → proto requests, and proto responses →
//! MLflow's exact response bytes.
//!
//! - [`request`]: the fast path. One typed parse straight into the proto model, with pydantic's
//!   lax coercions ([`lax`]) and MLflow's rules for unknown fields (top-level ones are forwarded
//!   as `extra_params`, nested ones dropped), then the shared range rules
//!   ([`crate::service::validate`]).
//! - [`errors`]: the slow path, taken only when the fast path fails: the body is re-read and
//!   checked against a description of MLflow's pydantic request models (`schema`), producing
//!   the complete FastAPI 422 error list, or FastAPI's `json_invalid` error located as Python's
//!   `json` module would locate it (`pyjson`).
//! - `direct`: free-form JSON (extra parameters, schemas) straight into proto Struct/Value.
//! - [`response`]: proto → JSON with MLflow's key order and explicit nulls; embedding floats are
//!   printed as Python prints them (`float`).
//!
//! JSON shapes never leave this module: the rest of the gateway sees only proto messages.

mod direct;
pub mod errors;
pub mod lax;
mod nested;
mod pyjson;
pub mod request;
pub mod response;
mod schema;

pub use request::{ChatBody, CompletionBody, EmbedBody, parse_chat, parse_completion, parse_embed};
pub use response::{
    chat_chunk, chat_response, completion_chunk, completion_response, embed_response,
};

#[cfg(test)]
mod tests;
