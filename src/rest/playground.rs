//! `GET /playground` and its two assets: a small web page for trying the gateway from a browser
//! (pick an endpoint, chat with it over grpc-web or Connect, watch the answer stream in, see the
//! usage and the serving provider).
//!
//! This module owns serving the page: three files embedded in the binary, with their content
//! types, caching and security headers. `index.html` and `style.css` are embedded from their
//! sources in `clients/web/playground/`; the script is the bundle `playground/app.js` beside this
//! file, built from `clients/web/playground/app.ts` (TypeScript over the client generated from
//! `proto/`) by `npm run build` there and checked in, so building the gateway never needs Node;
//! the web test step rebuilds it and fails when the checked-in copy is stale.
//!
//! The page calls the typed API on its own origin, so it needs no CORS. Its
//! Content-Security-Policy allows scripts, styles and connections to `'self'` only. With
//! gateway API keys configured, the page's routes need a key like any other path unless they
//! are listed in `auth.exempt_paths`; the page sends the key typed into its API-key field.

use std::sync::LazyLock;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

route_table! {
    /// The page and its assets.
    pub fn routes() {
        GET "/playground" => index,
        GET "/playground/app.js" => app_js,
        GET "/playground/style.css" => style_css,
    }
}

/// Whether `path` is one of this module's routes (for the trailing-slash redirect).
pub fn is_route(path: &str) -> bool {
    ROUTES.iter().any(|(_, route)| *route == path)
}

/// Only this origin may provide scripts, styles, images and connections; nothing may frame
/// the page, and its forms post nowhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The files change only with the binary, but keep their names across versions: caches must
/// revalidate (cheaply, with the ETag) rather than serve an old script to a new page.
const CACHE_CONTROL: &str = "no-cache";

/// One embedded file.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    /// A strong validator: a hash of the bytes, computed once.
    etag: LazyLock<HeaderValue>,
}

macro_rules! asset {
    ($path:literal, $content_type:literal) => {
        Asset {
            body: include_bytes!($path),
            content_type: $content_type,
            etag: LazyLock::new(|| etag(include_bytes!($path))),
        }
    };
}

static INDEX: Asset = asset!(
    "../../clients/web/playground/index.html",
    "text/html; charset=utf-8"
);
static APP_JS: Asset = asset!("playground/app.js", "text/javascript; charset=utf-8");
static STYLE_CSS: Asset = asset!(
    "../../clients/web/playground/style.css",
    "text/css; charset=utf-8"
);

/// `"<16 hex digits>"`: FNV-1a over the bytes (a validator, not a security measure).
fn etag(bytes: &[u8]) -> HeaderValue {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    HeaderValue::from_str(&format!("\"{hash:016x}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// Whether `If-None-Match` names the asset's current ETag (or `*`); weak tags compare by value,
/// as RFC 9110 §13.1.2 asks for this header.
fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(current) = etag.to_str() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == current)
}

fn serve(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let etag = &*asset.etag;
    let mut resp = if not_modified(headers, etag) {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        resp
    } else {
        let mut resp = Response::new(Body::from(asset.body));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        resp
    };
    let h = resp.headers_mut();
    h.insert(header::ETAG, etag.clone());
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

async fn app_js(headers: HeaderMap) -> Response {
    serve(&APP_JS, &headers)
}

async fn style_css(headers: HeaderMap) -> Response {
    serve(&STYLE_CSS, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_exactly_its_embedded_assets() {
        let html = std::str::from_utf8(INDEX.body).unwrap();
        let served: Vec<&str> = ROUTES.iter().map(|(_, path)| *path).collect();
        // Every src/href on the page that points into /playground is a route of this module
        // (a renamed asset would otherwise 404 behind a passing build).
        for attr in ["src=\"", "href=\""] {
            for part in html.split(attr).skip(1) {
                let target = part.split('"').next().unwrap();
                if target.starts_with("/playground") {
                    assert!(served.contains(&target), "{target} is not served");
                }
            }
        }
        assert!(html.contains("/playground/app.js"));
        assert!(html.contains("/playground/style.css"));
        assert!(!html.contains("<script>"), "inline scripts break the CSP");
        assert!(!APP_JS.body.is_empty() && !STYLE_CSS.body.is_empty());
    }

    #[test]
    fn etags_differ_per_file_and_revalidate() {
        assert_ne!(*INDEX.etag, *APP_JS.etag);
        let mut headers = HeaderMap::new();
        assert!(!not_modified(&headers, &INDEX.etag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(!not_modified(&headers, &INDEX.etag));
        let listed = format!("\"x\", W/{}", INDEX.etag.to_str().unwrap());
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&listed).unwrap(),
        );
        assert!(not_modified(&headers, &INDEX.etag));
        let resp = serve(&INDEX, &headers);
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
        assert!(resp.headers().get(header::CONTENT_TYPE).is_none());
        assert_eq!(resp.headers().get(header::ETAG), Some(&*INDEX.etag));
    }
}
