//! placeholder
use crate::error::GatewayError;

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Chat,
    Completion,
    Embed,
}

pub fn report(_body: &[u8], _kind: Kind) -> Option<GatewayError> {
    None
}

pub fn fallback(e: &serde_json::Error) -> GatewayError {
    GatewayError::BadRequest(e.to_string())
}
