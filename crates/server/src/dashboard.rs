//! The dashboard: the single-page app built from `web/` (Vite) and embedded in the binary.
//! Serves its files with the pre-compressed copy the client accepts (brotli, gzip), hashed
//! assets cached for a year, and `index.html` for every page route the app handles itself.
//! Unknown non-page paths keep the client-format 404 of [`crate::models::not_found`].

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use axum::response::IntoResponse;
use rust_embed::RustEmbed;
use std::borrow::Cow;

/// `web/dist` after `npm run build` (`crates/server/build.rs` runs it). Missing when the
/// dashboard was not built: then a page says how to build it.
#[derive(RustEmbed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
#[exclude = "*.map"]
struct Assets;

/// Content Security Policy of the app: only its own scripts and connections; inline style
/// attributes are allowed (React's `style` props), inline scripts are not.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self' data:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>OmniRoute</title></head><body style=\"font-family:system-ui;max-width:40em;margin:4em auto\">\
<h1>OmniRoute is running</h1><p>The dashboard was not built into this binary (Node.js and npm \
were not found when it was compiled, or the build failed). Install Node.js 20+ and build again \
with <code>cargo build --release</code>, or build it by hand: <code>cd web &amp;&amp; npm ci \
&amp;&amp; npm run build</code>.</p><p>The API answers at <code>/v1</code> and <code>/api</code>; \
its description is at <a href=\"/openapi.json\">/openapi.json</a>.</p></body></html>";

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether the client takes `coding` (`br`, `gzip`) per its `Accept-Encoding` (q=0 refuses).
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            name.eq_ignore_ascii_case(coding) && !refused
        })
}

/// A page route of the app (no file extension in the last segment), not an API path.
fn is_page(path: &str) -> bool {
    let api = ["/api", "/v1", "/v1beta", "/metrics", "/health", "/ready"]
        .iter()
        .any(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
    let last = path.rsplit('/').next().unwrap_or("");
    !api && !last.contains('.')
}

/// The embedded file `name` in the best encoding the client accepts.
fn file(name: &str, headers: &HeaderMap) -> Option<(Cow<'static, [u8]>, Option<&'static str>)> {
    for (coding, ext) in [("br", "br"), ("gzip", "gz")] {
        if accepts(headers, coding) {
            if let Some(f) = Assets::get(&format!("{name}.{ext}")) {
                return Some((f.data, Some(coding)));
            }
        }
    }
    Assets::get(name).map(|f| (f.data, None))
}

fn respond(
    name: &str,
    data: Cow<'static, [u8]>,
    coding: Option<&'static str>,
    head: bool,
) -> Response<Body> {
    let immutable = name.starts_with("assets/");
    let html = name.ends_with(".html");
    let len = data.len();
    let body = if head {
        Body::empty()
    } else {
        match data {
            Cow::Borrowed(b) => Body::from(b),
            Cow::Owned(v) => Body::from(v),
        }
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(c) = coding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(c));
    }
    if html {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    resp
}

/// Whether the binary carries a built dashboard.
pub fn built() -> bool {
    Assets::get("index.html").is_some()
}

/// The router's fallback: an embedded file, the app's `index.html` for a page route, else the
/// client-format 404.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        return crate::models::not_found(uri).await.into_response();
    }
    let head = method == Method::HEAD;
    let path = uri.path();
    // browsers ask for `/favicon.ico` whatever the page declares: the app's SVG icon answers
    let name = match path.trim_start_matches('/') {
        "favicon.ico" => "favicon.svg",
        n => n,
    };
    if !name.is_empty() && name != "index.html" {
        if let Some((data, coding)) = file(name, &headers) {
            return respond(name, data, coding, head);
        }
    }
    if !is_page(path) {
        return crate::models::not_found(uri).await.into_response();
    }
    match file("index.html", &headers) {
        Some((data, coding)) => respond("index.html", data, coding, head),
        None => {
            let mut resp = respond(
                "index.html",
                Cow::Borrowed(NOT_BUILT.as_bytes()),
                None,
                head,
            );
            *resp.status_mut() = StatusCode::OK;
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_and_page_routes() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br;q=0"),
        );
        assert!(accepts(&h, "gzip"));
        assert!(!accepts(&h, "br"), "q=0 refuses");
        assert!(!accepts(&HeaderMap::new(), "gzip"));
        assert!(is_page("/"));
        assert!(is_page("/providers"));
        assert!(is_page("/logs/abc"));
        assert!(!is_page("/favicon.svg"));
        assert!(!is_page("/api/keys"));
        assert!(!is_page("/v1/chat/completions"));
        assert!(!is_page("/v1"));
        assert!(!is_page("/v1beta/models"));
        assert!(is_page("/v1x"), "only whole segments are API prefixes");
    }
}
