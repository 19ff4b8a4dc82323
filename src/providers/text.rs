//! Helpers for the providers whose APIs take plain text (MosaicML, Cohere, PaLM).

use std::borrow::Cow;

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::providers::openai::wire as oai;

/// The text of a message: its `content`, or its text parts concatenated. The deprecated
/// providers take plain text only, so other parts are refused rather than silently dropped
/// (MLflow forwards them and fails inside the provider with a 500). A message without content
/// (an assistant turn that only called tools) counts as empty text.
pub fn message_text<'a>(
    m: &'a pb::Message,
    display_name: &str,
) -> Result<Cow<'a, str>, GatewayError> {
    use pb::content_part::Part;
    if m.content_parts.is_empty() {
        return Ok(Cow::Borrowed(m.content.as_deref().unwrap_or_default()));
    }
    let mut text = String::new();
    for p in &m.content_parts {
        match &p.part {
            Some(Part::Text(t)) => text.push_str(t),
            None => {}
            Some(_) => {
                return Err(GatewayError::Unprocessable(format!(
                    "{display_name} chat accepts text content only; a '{}' message has a non-text content part.",
                    m.role
                )));
            }
        }
    }
    Ok(Cow::Owned(text))
}

/// A single text as a one-element list (MosaicML, Cohere and PaLM take lists of texts).
pub fn listed<'a>(
    req: &'a pb::EmbedRequest,
    input: oai::EmbeddingInput<'a>,
) -> oai::EmbeddingInput<'a> {
    match input {
        oai::EmbeddingInput::Text(_) => oai::EmbeddingInput::Texts(&req.texts),
        other => other,
    }
}
