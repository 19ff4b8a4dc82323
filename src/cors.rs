//! CORS for browser callers (`--cors-allowed-origins`): which web origins other than the
//! gateway's own may call it from a page (grpc-web, Connect, REST), and which request and
//! response headers such calls may use and read.
//!
//! The default is same-origin only: no CORS layer at all, so no response carries a CORS header
//! and a cross-origin page can neither send a non-simple request nor read an answer. Origins
//! are listed exactly (`https://app.example.com`), or `*` allows any. Credentials (cookies) are
//! never allowed: callers authenticate with an `Authorization` header, which is listed.
//!
//! Preflights are answered by this layer, which sits outside authentication: a browser sends
//! them without credentials, and what they reveal (methods, headers) is the same for everyone.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Request headers a cross-origin caller may send: what grpc-web, Connect and REST clients
/// set, plus authentication, request ids and trace context.
const ALLOWED_HEADERS: [&str; 11] = [
    "content-type",
    "authorization",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "connect-protocol-version",
    "connect-timeout-ms",
    "connect-content-encoding",
    "connect-accept-encoding",
    "x-request-id",
    "traceparent",
];

/// Response headers a cross-origin page may read: the gRPC status of a trailers-only grpc-web
/// answer (errors arrive in headers), Connect's body encodings (`content-encoding` for unary)
/// and the request id to quote in a report.
const EXPOSED_HEADERS: [&str; 6] = [
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "x-request-id",
    "connect-content-encoding",
    "content-encoding",
];

/// How long a browser may cache a preflight answer: one preflight per hour per request shape,
/// not one before every call.
const MAX_AGE: Duration = Duration::from_secs(3600);

/// The web origins allowed to call cross-origin. The default allows none (same-origin only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    origins: Origins,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Origins {
    /// Same-origin only: no CORS headers.
    #[default]
    None,
    /// `*`: any origin.
    Any,
    /// These origins exactly (lowercased `scheme://host[:port]`).
    List(Vec<HeaderValue>),
}

/// Why an allowed-origins list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{origin}' {problem}")]
pub struct CorsError {
    /// The entry at fault.
    pub origin: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl Cors {
    /// Same-origin only (the default).
    pub fn same_origin() -> Cors {
        Cors::default()
    }

    /// Parses a comma-separated list of origins (`https://a.example,http://localhost:3000`),
    /// or `*` for any. An empty list is the same-origin default.
    pub fn parse(list: &str) -> Result<Cors, CorsError> {
        let entries: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.contains(&"*") {
            return match entries.as_slice() {
                ["*"] => Ok(Cors {
                    origins: Origins::Any,
                }),
                _ => Err(CorsError {
                    origin: "*".into(),
                    problem: "allows every origin, so it must be the only entry",
                }),
            };
        }
        if entries.is_empty() {
            return Ok(Cors::same_origin());
        }
        let origins = entries
            .into_iter()
            .map(origin)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Cors {
            origins: Origins::List(origins),
        })
    }

    /// Whether any cross-origin caller is allowed.
    pub fn is_enabled(&self) -> bool {
        self.origins != Origins::None
    }

    /// The layer answering preflights and adding CORS headers, or `None` for same-origin only.
    pub fn layer(&self) -> Option<CorsLayer> {
        let allow = match &self.origins {
            Origins::None => return None,
            Origins::Any => AllowOrigin::any(),
            Origins::List(list) => AllowOrigin::list(list.iter().cloned()),
        };
        Some(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
                .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
                .max_age(MAX_AGE),
        )
    }
}

/// One origin as browsers send it in `Origin`: `scheme://host[:port]`, nothing after. Scheme and
/// host are case-insensitive, and browsers send them lowercase, so the entry is lowercased to
/// match byte for byte.
fn origin(entry: &str) -> Result<HeaderValue, CorsError> {
    let refuse = |problem| CorsError {
        origin: entry.to_owned(),
        problem,
    };
    let (scheme, rest) = entry
        .split_once("://")
        .ok_or_else(|| refuse("is not an origin: expected scheme://host[:port]"))?;
    if scheme.is_empty() || rest.is_empty() {
        return Err(refuse("is not an origin: expected scheme://host[:port]"));
    }
    if rest.contains(['/', '?', '#']) {
        return Err(refuse(
            "has a path: an origin is scheme://host[:port] only (no trailing '/')",
        ));
    }
    let uri: http::Uri = entry
        .parse()
        .map_err(|_| refuse("is not an origin: expected scheme://host[:port]"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(refuse("has no host"));
    }
    HeaderValue::from_str(&entry.to_ascii_lowercase())
        .map_err(|_| refuse("is not a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_to_exact_lowercase_origins() {
        let cors = Cors::parse(" https://App.example.com , http://localhost:3000").unwrap();
        assert_eq!(
            cors.origins,
            Origins::List(vec![
                HeaderValue::from_static("https://app.example.com"),
                HeaderValue::from_static("http://localhost:3000"),
            ])
        );
        assert!(cors.is_enabled());
    }

    #[test]
    fn a_star_alone_allows_any_and_nothing_allows_none() {
        assert_eq!(Cors::parse("*").unwrap().origins, Origins::Any);
        assert_eq!(Cors::parse("").unwrap(), Cors::same_origin());
        assert_eq!(Cors::parse(" , ").unwrap(), Cors::same_origin());
        assert!(!Cors::same_origin().is_enabled());
        assert!(Cors::same_origin().layer().is_none());
    }

    #[test]
    fn malformed_entries_are_refused_by_name() {
        let e = Cors::parse("*,https://a.example").unwrap_err();
        assert_eq!(e.origin, "*");
        for bad in [
            "https://a.example/",
            "https://a.example/app",
            "a.example",
            "https://",
            "://a.example",
            "null",
        ] {
            let e = Cors::parse(&format!("http://ok.example,{bad}")).unwrap_err();
            assert_eq!(e.origin, bad, "{bad}");
        }
        let e = Cors::parse("https://a.example/").unwrap_err();
        assert_eq!(
            e.to_string(),
            "'https://a.example/' has a path: an origin is scheme://host[:port] only (no trailing '/')"
        );
    }
}
