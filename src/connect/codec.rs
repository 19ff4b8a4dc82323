//! Connect codecs and compression: how a message is written on the wire (proto3 JSON through
//! the generated pbjson impls, or binary Protobuf through prost: the one model, two encodings)
//! and how its bytes are compressed (gzip or identity). The gateway's message-size limit holds
//! after decompression too, so a small gzip body cannot expand into a large message.

use std::io::{Read as _, Write as _};

use bytes::Bytes;
use http::HeaderValue;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::GatewayError;

/// Messages smaller than this are sent uncompressed even when the client accepts gzip: the
/// saving is a few bytes and the CPU is not.
pub const COMPRESS_MIN_BYTES: usize = 1024;

/// How messages are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Proto3 JSON (`application/json`, `application/connect+json`, `encoding=json`).
    Json,
    /// Binary Protobuf (`application/proto`, `application/connect+proto`, `encoding=proto`).
    Proto,
}

/// The media type of a `Content-Type` value, without parameters (`; charset=utf-8`).
fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

impl Codec {
    /// The codec of a unary request's content type.
    pub fn unary(content_type: &str) -> Option<Codec> {
        Self::from_name(media_type(content_type).strip_prefix("application/")?)
    }

    /// The codec of a streaming request's content type.
    pub fn streaming(content_type: &str) -> Option<Codec> {
        Self::from_name(media_type(content_type).strip_prefix("application/connect+")?)
    }

    /// The codec named by a GET request's `encoding` parameter (or a content-type suffix).
    pub fn from_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("json") {
            Some(Codec::Json)
        } else if name.eq_ignore_ascii_case("proto") {
            Some(Codec::Proto)
        } else {
            None
        }
    }

    /// The content type of a unary response in this codec.
    pub fn unary_content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Codec::Json => "application/json",
            Codec::Proto => "application/proto",
        })
    }

    /// The content type of a streaming response in this codec.
    pub fn streaming_content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Codec::Json => "application/connect+json",
            Codec::Proto => "application/connect+proto",
        })
    }

    /// Decodes a request message. An empty JSON body is the empty message, as an empty
    /// Protobuf body is (so `curl -d ''` can list endpoints).
    pub fn decode<T: Message + DeserializeOwned + Default>(
        self,
        bytes: &[u8],
    ) -> Result<T, GatewayError> {
        match self {
            Codec::Json if bytes.iter().all(u8::is_ascii_whitespace) => Ok(T::default()),
            Codec::Json => serde_json::from_slice(bytes).map_err(|e| {
                GatewayError::BadRequest(format!("The request is not a valid JSON message: {e}"))
            }),
            Codec::Proto => T::decode(bytes).map_err(|e| {
                GatewayError::BadRequest(format!(
                    "The request is not a valid Protobuf message: {e}"
                ))
            }),
        }
    }

    /// Encodes a response message.
    pub fn encode<T: Message + Serialize>(self, msg: &T) -> Result<Vec<u8>, GatewayError> {
        match self {
            Codec::Json => serde_json::to_vec(msg)
                .map_err(|e| GatewayError::Internal(format!("could not write the response: {e}"))),
            Codec::Proto => Ok(msg.encode_to_vec()),
        }
    }
}

/// How message bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
}

impl Compression {
    /// The compression a request names (`Content-Encoding`, `Connect-Content-Encoding`, or a
    /// GET request's `compression`); absent is identity. Anything else is `unimplemented`, as
    /// the Connect protocol asks.
    pub fn named(name: Option<&str>) -> Result<Compression, GatewayError> {
        match name.map(str::trim) {
            None | Some("") => Ok(Compression::Identity),
            Some(n) if n.eq_ignore_ascii_case("identity") => Ok(Compression::Identity),
            Some(n) if n.eq_ignore_ascii_case("gzip") => Ok(Compression::Gzip),
            Some(n) => Err(GatewayError::NotImplemented(format!(
                "Unsupported compression {n:?}: this server supports gzip and identity."
            ))),
        }
    }

    /// The compression for the response, from the client's `Accept-Encoding` (or
    /// `Connect-Accept-Encoding`) list: gzip when it is listed and not refused with `q=0`.
    pub fn accepted(accept: Option<&HeaderValue>) -> Compression {
        let Some(list) = accept.and_then(|v| v.to_str().ok()) else {
            return Compression::Identity;
        };
        let gzip = list.split(',').any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        });
        if gzip {
            Compression::Gzip
        } else {
            Compression::Identity
        }
    }

    /// The header value naming this compression.
    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Compression::Identity => "identity",
            Compression::Gzip => "gzip",
        })
    }

    /// Decompresses a request message of at most `limit` bytes once decompressed.
    pub fn decompress(self, bytes: Bytes, limit: usize) -> Result<Bytes, GatewayError> {
        match self {
            Compression::Identity => Ok(bytes),
            Compression::Gzip => {
                let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
                let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).min(limit));
                flate2::read::GzDecoder::new(&bytes[..])
                    .take(cap)
                    .read_to_end(&mut out)
                    .map_err(|e| {
                        GatewayError::BadRequest(format!("The request is not valid gzip: {e}"))
                    })?;
                if out.len() > limit {
                    return Err(GatewayError::PayloadTooLarge { limit });
                }
                Ok(Bytes::from(out))
            }
        }
    }

    /// `bytes` compressed for the response when this is gzip and the message is large enough
    /// to gain from it; the flag says whether it was.
    pub fn compress(self, bytes: Vec<u8>) -> (Vec<u8>, bool) {
        if self == Compression::Identity || bytes.len() < COMPRESS_MIN_BYTES {
            return (bytes, false);
        }
        match gzip(&bytes) {
            Some(compressed) => (compressed, true),
            // Writing into memory does not fail; if it ever did, the plain bytes still serve.
            None => (bytes, false),
        }
    }
}

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 2),
        flate2::Compression::fast(),
    );
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::v1 as pb;

    #[test]
    fn content_types_pick_the_codec() {
        assert_eq!(Codec::unary("application/json"), Some(Codec::Json));
        assert_eq!(
            Codec::unary("application/json; charset=utf-8"),
            Some(Codec::Json)
        );
        assert_eq!(Codec::unary("application/proto"), Some(Codec::Proto));
        assert_eq!(Codec::unary("application/connect+json"), None);
        assert_eq!(Codec::unary("text/plain"), None);
        assert_eq!(
            Codec::streaming("application/connect+proto"),
            Some(Codec::Proto)
        );
        assert_eq!(Codec::streaming("application/json"), None);
    }

    #[test]
    fn json_and_proto_decode_the_same_message() {
        let json: pb::GetEndpointRequest = Codec::Json.decode(br#"{"name":"chat"}"#).unwrap();
        let proto: pb::GetEndpointRequest = Codec::Proto
            .decode(&Codec::Proto.encode(&json).unwrap())
            .unwrap();
        assert_eq!(json, proto);
        assert_eq!(json.name, "chat");
        let empty: pb::ListEndpointsRequest = Codec::Json.decode(b" ").unwrap();
        assert_eq!(empty, pb::ListEndpointsRequest::default());
        let err = Codec::Json
            .decode::<pb::GetEndpointRequest>(b"{nope")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("The request is not a valid JSON message")
        );
        assert_eq!(err.grpc_code(), tonic::Code::InvalidArgument);
        let err = Codec::Proto
            .decode::<pb::GetEndpointRequest>(&[0x0a, 0x05, b'a'])
            .unwrap_err();
        assert_eq!(err.grpc_code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn accept_encoding_lists() {
        let v = |s: &'static str| Some(HeaderValue::from_static(s));
        assert_eq!(Compression::accepted(None), Compression::Identity);
        assert_eq!(Compression::accepted(v("gzip").as_ref()), Compression::Gzip);
        assert_eq!(
            Compression::accepted(v("br, GZIP;q=0.5").as_ref()),
            Compression::Gzip
        );
        assert_eq!(
            Compression::accepted(v("gzip;q=0, br").as_ref()),
            Compression::Identity
        );
        assert_eq!(
            Compression::accepted(v("identity").as_ref()),
            Compression::Identity
        );
        assert_eq!(Compression::named(Some("gzip")).unwrap(), Compression::Gzip);
        let err = Compression::named(Some("br")).unwrap_err();
        assert_eq!(err.grpc_code(), tonic::Code::Unimplemented);
    }

    #[test]
    fn gzip_round_trips_and_the_limit_holds_after_inflating() {
        let big = vec![b'x'; 4 * COMPRESS_MIN_BYTES];
        let (small, compressed) = Compression::Gzip.compress(big.clone());
        assert!(compressed && small.len() < big.len());
        let back = Compression::Gzip
            .decompress(Bytes::from(small.clone()), big.len())
            .unwrap();
        assert_eq!(&back[..], &big[..]);
        let err = Compression::Gzip
            .decompress(Bytes::from(small), big.len() - 1)
            .unwrap_err();
        assert_eq!(err.grpc_code(), tonic::Code::ResourceExhausted);
        let err = Compression::Gzip
            .decompress(Bytes::from_static(b"not gzip"), 100)
            .unwrap_err();
        assert_eq!(err.grpc_code(), tonic::Code::InvalidArgument);
        // Small messages and identity are left alone.
        assert_eq!(
            Compression::Gzip.compress(b"tiny".to_vec()),
            (b"tiny".to_vec(), false)
        );
        assert_eq!(Compression::Identity.compress(big.clone()), (big, false));
    }
}
