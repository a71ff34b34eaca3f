//! Request-scoped middleware: `X-Request-Id` (accepted or generated, echoed, attached to every log
//! line through a tracing span), gateway-key authentication for `/v1`, and the session-or-admin-key
//! guard for `/api` (with CSRF checks and the audit of every state-changing call).

use crate::error::render;
use crate::state::{AppState, KeyInfo};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use omniroute_protocol::{ApiError, ApiFormat, ErrorKind};
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";

/// The id of the current request, and the peer's address (the TCP peer; proxy headers are not
/// trusted here).
#[derive(Clone, Debug)]
pub struct RequestId(pub Arc<str>, pub Option<std::net::IpAddr>);

fn valid_request_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())
}

/// A unique id without a syscall: a random per-process prefix and a counter (32 hex digits).
pub fn new_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(rand::random::<u64>);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix:016x}{n:016x}")
}

/// Accept or generate the request id, run the request inside a span carrying it, echo it.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id: Arc<str> = match req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()) {
        Some(v) if valid_request_id(v) => v.into(),
        _ => new_request_id().into(),
    };
    // the client's address as the IP filter decided it (a trusted proxy's forwarded one)
    let peer = req
        .extensions()
        .get::<crate::ipfilter::ClientIp>()
        .map(|c| c.0)
        .or_else(|| {
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        });
    req.extensions_mut().insert(RequestId(id.clone(), peer));
    // debug level: creating an info span formats its fields on every request; events that
    // matter (failures) carry `request_id` themselves.
    let span = tracing::debug_span!("request", request_id = %id);
    let mut resp = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

/// The client format implied by a `/v1` path, for rendering auth errors.
pub fn format_for_path(path: &str) -> ApiFormat {
    if path.starts_with("/v1/messages") {
        ApiFormat::Anthropic
    } else if path.starts_with("/v1beta") || (path.starts_with("/v1/models/") && path.contains(':'))
    {
        ApiFormat::Gemini
    } else {
        ApiFormat::Openai
    }
}

/// The gateway key presented by the client, in any of the ways clients send it.
pub fn presented_key<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some(k) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(k.trim());
        }
    }
    for h in ["x-api-key", "x-goog-api-key"] {
        if let Some(v) = headers.get(h).and_then(|v| v.to_str().ok()) {
            return Some(v.trim());
        }
    }
    query?.split('&').find_map(|kv| kv.strip_prefix("key="))
}

/// Gateway-key check for `/v1/*` (and `/v1beta/*`).
pub async fn gateway_auth(
    State(st): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let snap = st.snapshot.load();
    let presented = presented_key(req.headers(), req.uri().query());
    let key: Option<KeyInfo> = presented.and_then(|k| snap.key(k)).cloned();
    // nested routers see the path without their prefix: use the original URI (borrowed: no
    // allocation on the way through)
    let original = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .cloned();
    let path = original.as_ref().map_or(req.uri().path(), |u| u.0.path());
    let format = format_for_path(path);
    let rid = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    if let Some(k) = &key {
        if k.expires_at.is_some_and(|t| t <= omniroute_store::now_ms()) {
            tracing::warn!(request_id = rid.as_deref().unwrap_or(""), key = %k.id, status = 401, "rejected: expired gateway key");
            return render(
                &ApiError::new(
                    ErrorKind::Authentication,
                    "this gateway API key has expired",
                )
                .with_code("key_expired"),
                format,
            );
        }
        if let Some(rpm) = k.rpm {
            if let Err(wait) = st.key_rates.admit(&k.id, rpm) {
                let secs = wait.as_secs().max(1);
                return render(
                    &ApiError::new(
                        ErrorKind::RateLimited,
                        format!("this gateway key is limited to {rpm} requests per minute; retry in {secs} s"),
                    )
                    .with_code("key_rate_limited")
                    .with_retry_after(Some(secs.to_string())),
                    format,
                );
            }
        }
    }
    let model_list = req.method() == axum::http::Method::GET
        && (path == "/v1/models" || path == "/v1beta/models");
    let required =
        snap.settings.require_api_key && (!model_list || snap.settings.models_require_key);
    if required && key.is_none() {
        let msg = if presented.is_some() {
            "invalid or revoked gateway API key"
        } else {
            "a gateway API key is required: send it as `Authorization: Bearer KEY`, `x-api-key` or `x-goog-api-key`"
        };
        tracing::warn!(
            request_id = rid.as_deref().unwrap_or(""),
            status = 401,
            "rejected: {msg}"
        );
        return render(
            &ApiError::new(ErrorKind::Authentication, msg).with_code("invalid_api_key"),
            format,
        );
    }
    drop(snap);
    if let Some(k) = key {
        req.extensions_mut().insert(k);
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `/api` routes that answer without a session: the login flow itself.
pub const PUBLIC_API: &[&str] = &[
    "/api/auth/status",
    "/api/auth/login",
    "/api/auth/setup",
    "/api/auth/logout",
];

/// Who is calling the management API (a request extension set by [`api_guard`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A dashboard session (the hash of its id).
    Session(String),
    /// `OMNIROUTE_ADMIN_TOKEN`.
    AdminToken,
    /// An admin key made in the API (its id).
    AdminKey(String),
    /// This machine, with `require_login` off.
    Loopback,
    /// Nobody yet: only the public login routes see it.
    Anonymous,
}

impl Principal {
    /// The audit log's name for it.
    pub fn actor(&self) -> String {
        match self {
            Principal::Session(h) => format!("session:{}", &h[..h.len().min(12)]),
            Principal::AdminToken => "admin-token".into(),
            Principal::AdminKey(id) => format!("admin-key:{id}"),
            Principal::Loopback => "loopback".into(),
            Principal::Anonymous => "anonymous".into(),
        }
    }
}

/// Whether the caller is on this machine: a loopback TCP peer, no proxy headers, and a `Host`
/// naming this machine (a reverse proxy that adds no headers still forwards the public host
/// name, and a DNS-rebinding page uses its own).
pub fn is_local(peer: SocketAddr, headers: &HeaderMap) -> bool {
    let proxied = ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|h| headers.contains_key(*h));
    peer.ip().is_loopback() && !proxied && loopback_host(headers)
}

/// Whether the `Host` header is `localhost` or a loopback address (any port).
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(h) = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let host = match h.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => h.rsplit_once(':').map_or(h, |(a, _)| a),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A page of another site calling in through the user's browser: `Sec-Fetch-Site:
/// cross-site`, or an `Origin` that is not this `Host`.
fn cross_site(headers: &HeaderMap) -> bool {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if get("sec-fetch-site").is_some_and(|v| v.eq_ignore_ascii_case("cross-site")) {
        return true;
    }
    match (get("origin"), get("host")) {
        (Some(origin), Some(host)) => !origin
            .split_once("://")
            .is_some_and(|(_, o)| o.eq_ignore_ascii_case(host)),
        (Some(_), None) => true,
        _ => false,
    }
}

/// The admin credential presented: `Authorization: Bearer …` or `X-Admin-Key`.
fn presented_admin(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-admin-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
        })
        .map(str::trim)
}

fn deny(kind: ErrorKind, code: &str, msg: &str) -> Response {
    render(&ApiError::new(kind, msg).with_code(code), ApiFormat::Openai)
}

/// Every `/api` route (and `/metrics`) needs a dashboard session or the admin key, except the
/// login routes in [`PUBLIC_API`]. With a session cookie, state-changing calls also need the
/// session's CSRF token in `X-CSRF-Token`, and a password that must be changed blocks
/// everything but `/api/auth/*`. With `require_login` off, calls from this machine get in
/// without either.
pub async fn api_guard(
    State(st): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.0.path().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let public = PUBLIC_API.contains(&path.as_str());
    let headers = req.headers();
    let unsafe_method = !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    // no state change from another site's page, whatever it would authenticate as (this
    // machine, a first-run setup): scripts with an admin key send no Origin
    if unsafe_method && presented_admin(headers).is_none() && cross_site(headers) {
        return deny(
            ErrorKind::PermissionDenied,
            "cross_site_request",
            "state-changing calls from another site's page are refused",
        );
    }

    if let Some(p) = presented_admin(headers) {
        if let Some(token) = &st.admin_token {
            if constant_time_eq(p.as_bytes(), token.expose().as_bytes()) {
                req.extensions_mut().insert(Principal::AdminToken);
                return audited(&st, peer, Principal::AdminToken, req, next).await;
            }
        }
        let admin_key = st
            .snapshot
            .load()
            .admin_keys
            .get(&omniroute_store::hash_api_key(p))
            .filter(|(_, exp)| exp.is_none_or(|t| t > omniroute_store::now_ms()))
            .map(|(id, _)| id.to_string());
        if let Some(id) = admin_key {
            let who = Principal::AdminKey(id);
            req.extensions_mut().insert(who.clone());
            return audited(&st, peer, who, req, next).await;
        }
        // a wrong key is an error even where a session would do: never fall through silently
        if !public || headers.contains_key("x-admin-key") {
            return deny(
                ErrorKind::Authentication,
                "invalid_admin_key",
                "invalid admin key",
            );
        }
    }

    if let Some(sess) =
        crate::auth::cookie(headers, crate::auth::SESSION_COOKIE).and_then(|t| st.auth.session(t))
    {
        if unsafe_method {
            let ok = headers
                .get(crate::auth::CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| st.auth.csrf_ok(&sess.id_hash, t));
            if !ok {
                return deny(
                    ErrorKind::PermissionDenied,
                    "csrf_token_invalid",
                    "missing or wrong X-CSRF-Token header (the value of the omniroute_csrf cookie)",
                );
            }
        }
        if !path.starts_with("/api/auth/") && st.auth.password().is_some_and(|p| p.must_change) {
            return deny(
                ErrorKind::PermissionDenied,
                "password_change_required",
                "the password must be changed first: POST /api/auth/password",
            );
        }
        let who = Principal::Session(sess.id_hash);
        req.extensions_mut().insert(who.clone());
        return audited(&st, peer, who, req, next).await;
    }

    if public {
        // the login routes audit themselves
        req.extensions_mut().insert(Principal::Anonymous);
        return next.run(req).await;
    }
    if !st.snapshot.load().settings.require_login && is_local(peer, headers) {
        req.extensions_mut().insert(Principal::Loopback);
        return audited(&st, peer, Principal::Loopback, req, next).await;
    }
    deny(
        ErrorKind::Authentication,
        "authentication_required",
        "log in to the dashboard, or send an admin key (OMNIROUTE_ADMIN_TOKEN) as `Authorization: Bearer …` or `X-Admin-Key`",
    )
}

/// Run a management request; a state-changing one (anything but GET/HEAD/OPTIONS) goes into
/// the audit log with who, from where, what and the outcome.
async fn audited(
    st: &Arc<AppState>,
    peer: SocketAddr,
    who: Principal,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    if matches!(
        method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    ) {
        return next.run(req).await;
    }
    let target = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.0.path().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let client = req
        .extensions()
        .get::<crate::ipfilter::ClientIp>()
        .map_or(peer.ip(), |c| c.0);
    let resp = next.run(req).await;
    let entry = omniroute_store::AuditEntry {
        id: 0,
        ts: omniroute_store::now_ms(),
        actor: who.actor(),
        ip: Some(client.to_string()),
        action: method.to_string(),
        target,
        status: resp.status().as_u16(),
        detail: None,
    };
    // written before the answer goes out: entries keep their order and a client that saw the
    // change can already read it (the management API is not the request path)
    if let Err(e) = st.store.add_audit(&entry).await {
        tracing::warn!(error = %e, "cannot write the audit log");
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_every_header_style() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer sk-1"));
        assert_eq!(presented_key(&h, None), Some("sk-1"));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("sk-2"));
        assert_eq!(presented_key(&h, None), Some("sk-2"));
        let mut h = HeaderMap::new();
        h.insert("x-goog-api-key", HeaderValue::from_static("sk-3"));
        assert_eq!(presented_key(&h, None), Some("sk-3"));
        assert_eq!(
            presented_key(&HeaderMap::new(), Some("alt=sse&key=sk-4")),
            Some("sk-4")
        );
        assert_eq!(presented_key(&HeaderMap::new(), Some("alt=sse")), None);
    }

    #[test]
    fn request_id_validation() {
        assert!(valid_request_id("abc-123"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("has space"));
        assert!(!valid_request_id(&"x".repeat(129)));
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
        let (a, b) = (new_request_id(), new_request_id());
        assert_ne!(a, b);
        assert!(valid_request_id(&a) && a.len() == 32);
    }
}
