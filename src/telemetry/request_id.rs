//! The `x-request-id` of every request: the client's own when it sent a usable one (1 to 128
//! visible ASCII characters, so it is safe to echo in a header and a log line), else a new one:
//! 128 random bits as 32 lowercase hex digits. Ids correlate log lines; they are not secrets,
//! so a fast non-cryptographic generator is enough.

use http::{HeaderMap, HeaderName, HeaderValue};

/// The header that carries the id, on requests and on responses.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id: the client's, if usable, else a new one written into `headers` (so layers
/// and handlers further in see the id the response will carry).
pub fn ensure(headers: &mut HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(&HEADER)
        && is_usable(v.as_bytes())
    {
        return v.clone();
    }
    let id = generate();
    headers.insert(HEADER, id.clone());
    id
}

fn is_usable(id: &[u8]) -> bool {
    (1..=128).contains(&id.len()) && id.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// A fresh id: 32 lowercase hex digits.
pub fn generate() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = fastrand::u128(..);
    let mut buf = [0u8; 32];
    for b in buf.iter_mut().rev() {
        *b = HEX[(n & 0xf) as usize];
        n >>= 4;
    }
    // Hex digits are always a valid header value.
    HeaderValue::from_bytes(&buf).unwrap_or(HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usable_client_id_is_kept() {
        for id in ["a", "req-123", "0f8c2a1e/trace:span", &"x".repeat(128)] {
            let mut h = HeaderMap::new();
            h.insert(HEADER, HeaderValue::from_str(id).unwrap());
            assert_eq!(ensure(&mut h), id);
            assert_eq!(h[HEADER], id);
        }
    }

    #[test]
    fn a_missing_or_unusable_id_is_replaced() {
        let too_long = "x".repeat(129);
        let cases: [&[u8]; 5] = [
            b"",
            b"has space",
            too_long.as_bytes(),
            b"tab\there",
            b"caf\xc3\xa9",
        ];
        for bad in cases {
            let mut h = HeaderMap::new();
            h.insert(HEADER, HeaderValue::from_bytes(bad).unwrap());
            let id = ensure(&mut h);
            assert_ne!(id.as_bytes(), bad);
            assert_eq!(h[HEADER], id, "the request carries the new id");
        }
        let mut h = HeaderMap::new();
        let id = ensure(&mut h);
        let text = id.to_str().unwrap();
        assert_eq!(text.len(), 32);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(h[HEADER], id);
    }

    #[test]
    fn generated_ids_differ() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| generate()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
