//! Telemetry for a committed stream: its first event (time to first token), the usage its
//! final chunk reports, an error that ends it after the response started, and, with
//! `--log-bodies`, each chunk. The wrapper only looks at items as they pass; it buffers
//! nothing and changes nothing.

use std::fmt::Debug;

use futures::StreamExt;

use super::logging::BodyLog;
use crate::pb::v1 as pb;
use crate::providers::ChunkStream;

/// A message that may carry token usage.
pub trait Usage {
    /// The usage it reports, if any.
    fn usage(&self) -> Option<&pb::Usage>;
}

macro_rules! usage_field {
    ($($t:ty),*) => {$(
        impl Usage for $t {
            fn usage(&self) -> Option<&pb::Usage> {
                self.usage.as_ref()
            }
        }
    )*};
}

usage_field!(
    pb::ChatChunk,
    pb::CompletionChunk,
    pb::ChatResponse,
    pb::CompletionResponse,
    pb::EmbedResponse
);

/// Watches `stream`, which has just committed, on behalf of the current request's record.
/// Outside a request (no record) the stream is returned as it is.
pub fn observe<T>(stream: ChunkStream<T>, bodies: &BodyLog) -> ChunkStream<T>
where
    T: Usage + Debug + Send + 'static,
{
    let Some(record) = super::current_call() else {
        return stream;
    };
    record.first_token();
    let bodies = bodies.clone();
    Box::pin(stream.inspect(move |item| match item {
        Ok(chunk) => {
            record.usage(chunk.usage());
            bodies.log(record.request_id(), "chunk", chunk);
        }
        Err(e) => record.failed(e),
    }))
}
