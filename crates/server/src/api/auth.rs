//! `/api/auth/*`: first-run setup, login and logout, password change, and the session list.
//! Login attempts, lockouts and setup are written to the audit log here (the guard's generic
//! audit does not see calls made without a session).

use super::{parse_body, ApiResult, St};
use crate::auth::{self, CSRF_COOKIE, SESSION_COOKIE};
use crate::error::HttpError;
use crate::ipfilter::ClientIp;
use crate::middleware::{is_local, Principal};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use omniroute_protocol::{ApiError, ErrorKind};
use serde::Deserialize;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

fn err(kind: ErrorKind, code: &str, msg: impl Into<String>) -> HttpError {
    HttpError::openai(ApiError::new(kind, msg).with_code(code))
}

fn conflict(code: &str, msg: impl Into<String>) -> HttpError {
    HttpError::openai(
        ApiError::new(ErrorKind::InvalidRequest, msg)
            .with_code(code)
            .with_status(409),
    )
}

async fn audit(
    st: &crate::AppState,
    actor: &str,
    ip: IpAddr,
    action: &str,
    status: u16,
    detail: Option<String>,
) {
    let entry = omniroute_store::AuditEntry {
        id: 0,
        ts: omniroute_store::now_ms(),
        actor: actor.into(),
        ip: Some(ip.to_string()),
        action: action.into(),
        target: "/api/auth".into(),
        status,
        detail,
    };
    if let Err(e) = st.store.add_audit(&entry).await {
        tracing::warn!(error = %e, "cannot write the audit log");
    }
}

/// Whether cookies must be `Secure`: `AUTH_COOKIE_SECURE=true`, or the request came over HTTPS
/// through a reverse proxy on this machine (`X-Forwarded-Proto: https`).
fn secure(st: &crate::AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    st.auth.cookie_secure
        || (peer.ip().is_loopback()
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https")))
}

/// The answer to a successful login or setup: the session and CSRF cookies and the token.
async fn logged_in(
    st: &crate::AppState,
    peer: SocketAddr,
    client: IpAddr,
    headers: &HeaderMap,
) -> Result<Response, HttpError> {
    let ttl = Duration::from_secs(st.snapshot.load().settings.session_ttl_hours * 3600);
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let (token, csrf, rec) = st
        .auth
        .open_session(&st.store, ttl, Some(client), ua)
        .await
        .map_err(|e| HttpError::openai(ApiError::internal(e.to_string())))?;
    let secure = secure(st, peer, headers);
    let mut resp = Json(crate::views::LoginAnswer {
        logged_in: true,
        csrf_token: csrf.clone(),
        expires_at: rec.expires_at,
        must_change_password: st.auth.password().is_some_and(|p| p.must_change),
    })
    .into_response();
    for c in [
        auth::set_cookie(SESSION_COOKIE, &token, ttl, true, secure),
        auth::set_cookie(CSRF_COOKIE, &csrf, ttl, false, secure),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET /api/auth/status`: whether a password is set, whether this caller is logged in.
pub(super) async fn status(
    State(st): St,
    Extension(who): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult {
    let pw = st.auth.password();
    Ok(Json(json!(crate::views::AuthStatus {
        password_set: pw.is_some(),
        must_change_password: pw.as_ref().is_some_and(|p| p.must_change),
        logged_in: matches!(who, Principal::Session(_)),
        principal: who.actor(),
        require_login: st.snapshot.load().settings.require_login,
        // first run: who may set the password from here
        setup_allowed: pw.is_none()
            && (is_local(peer, &headers)
                || matches!(who, Principal::AdminToken | Principal::AdminKey(_))),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordBody {
    password: String,
}

/// `POST /api/auth/login {"password"}`: a session cookie and the CSRF token. Five failures from
/// an address within 15 minutes lock it out for 15 minutes (429 with `Retry-After`).
pub(super) async fn login(
    State(st): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    client: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, HttpError> {
    let ip = client.map_or(peer.ip(), |c| c.0 .0);
    if let Err(left) = st.auth.begin_attempt(ip) {
        audit(&st, "anonymous", ip, "login_locked", 429, None).await;
        return Ok(locked(left));
    }
    let b: PasswordBody = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => {
            st.auth.abandoned(ip);
            return Err(e);
        }
    };
    if st.auth.password().is_none() {
        st.auth.abandoned(ip);
        return Err(conflict(
            "setup_required",
            "no password is set yet: set one with POST /api/auth/setup (from this machine) or start with INITIAL_PASSWORD",
        ));
    }
    if !st.auth.check_password(&b.password).await {
        let lock = st.auth.failed(ip);
        audit(
            &st,
            "anonymous",
            ip,
            "login_failed",
            401,
            lock.map(|_| "address locked out".to_string()),
        )
        .await;
        if let Some(left) = lock {
            return Ok(locked(left));
        }
        return Err(err(
            ErrorKind::Authentication,
            "invalid_password",
            "wrong password",
        ));
    }
    st.auth.succeeded(ip);
    let resp = logged_in(&st, peer, ip, &headers).await?;
    audit(&st, "anonymous", ip, "login", 200, None).await;
    Ok(resp)
}

fn locked(left: Duration) -> Response {
    let secs = left.as_secs().max(1);
    let mut r = HttpError::openai(
        ApiError::new(
            ErrorKind::RateLimited,
            format!("too many failed logins from this address: try again in {secs} s"),
        )
        .with_code("login_locked"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// `POST /api/auth/setup {"password"}`: the first password, from this machine (or with the admin
/// key) only, while none is set; logs the caller in.
pub(super) async fn setup(
    State(st): St,
    Extension(who): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    client: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, HttpError> {
    let ip = client.map_or(peer.ip(), |c| c.0 .0);
    if st.auth.password().is_some() {
        return Err(conflict(
            "already_set_up",
            "a password is already set: log in, or change it with POST /api/auth/password",
        ));
    }
    if !(is_local(peer, &headers) || matches!(who, Principal::AdminToken | Principal::AdminKey(_)))
    {
        audit(&st, &who.actor(), ip, "setup_refused", 403, None).await;
        return Err(err(
            ErrorKind::PermissionDenied,
            "setup_not_local",
            "the first password can only be set from the machine OmniRoute runs on (or with the admin key)",
        ));
    }
    let b: PasswordBody = parse_body(&body)?;
    if let Some(p) = auth::password_problem(&b.password) {
        return Err(err(ErrorKind::InvalidRequest, "weak_password", p));
    }
    st.auth
        .set_password(&st.store, &b.password, false)
        .await
        .map_err(|e| HttpError::openai(ApiError::internal(e)))?;
    audit(&st, &who.actor(), ip, "setup", 200, None).await;
    logged_in(&st, peer, ip, &headers).await
}

/// `POST /api/auth/logout`: end this session and clear its cookies.
pub(super) async fn logout(
    State(st): St,
    Extension(who): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    if let Principal::Session(h) = &who {
        st.auth
            .end_sessions(&st.store, Some(h), None)
            .await
            .map_err(|e| HttpError::openai(ApiError::internal(e.to_string())))?;
    }
    let secure = secure(&st, peer, &headers);
    let mut resp =
        Json(json!({"logged_out": matches!(who, Principal::Session(_))})).into_response();
    for (name, http_only) in [(SESSION_COOKIE, true), (CSRF_COOKIE, false)] {
        let c = auth::set_cookie(name, "", Duration::ZERO, http_only, secure);
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangeBody {
    #[serde(default)]
    current_password: Option<String>,
    new_password: String,
}

/// `POST /api/auth/password {"current_password", "new_password"}`: change the password (the
/// admin key may reset it without the current one). Every other session ends.
pub(super) async fn change_password(
    State(st): St,
    Extension(who): Extension<Principal>,
    body: axum::body::Bytes,
) -> ApiResult {
    let b: ChangeBody = parse_body(&body)?;
    let keep = match &who {
        Principal::Session(h) => {
            let current = b.current_password.as_deref().unwrap_or("");
            if !st.auth.check_password(current).await {
                return Err(err(
                    ErrorKind::Authentication,
                    "invalid_password",
                    "the current password is wrong",
                ));
            }
            Some(h.clone())
        }
        Principal::AdminToken | Principal::AdminKey(_) | Principal::Loopback => None,
        Principal::Anonymous => {
            return Err(err(
                ErrorKind::Authentication,
                "authentication_required",
                "log in first",
            ))
        }
    };
    if let Some(p) = auth::password_problem(&b.new_password) {
        return Err(err(ErrorKind::InvalidRequest, "weak_password", p));
    }
    if b.current_password.as_deref() == Some(b.new_password.as_str()) {
        return Err(err(
            ErrorKind::InvalidRequest,
            "same_password",
            "the new password must differ from the current one",
        ));
    }
    st.auth
        .set_password(&st.store, &b.new_password, false)
        .await
        .map_err(|e| HttpError::openai(ApiError::internal(e)))?;
    let ended = st
        .auth
        .end_sessions(&st.store, None, Some(keep.as_deref().unwrap_or("")))
        .await
        .map_err(|e| HttpError::openai(ApiError::internal(e.to_string())))?;
    Ok(Json(
        json!({"changed": true, "other_sessions_ended": ended}),
    ))
}

/// `GET /api/auth/sessions`: live sessions (id prefix, times, address, user agent).
pub(super) async fn sessions(State(st): St, Extension(who): Extension<Principal>) -> ApiResult {
    let current = match &who {
        Principal::Session(h) => Some(h.as_str()),
        _ => None,
    };
    let list: Vec<_> = st
        .auth
        .sessions()
        .into_iter()
        .map(|s| crate::views::SessionInfo {
            id: s.id_hash[..12].to_string(),
            created_at: s.created_at,
            expires_at: s.expires_at,
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            current: Some(s.id_hash.as_str()) == current,
        })
        .collect();
    Ok(Json(json!({ "sessions": list })))
}

/// `DELETE /api/auth/sessions/{id}`: end a session by its id prefix.
pub(super) async fn end_session(State(st): St, Path(id): Path<String>) -> ApiResult {
    let target = st
        .auth
        .sessions()
        .into_iter()
        .find(|s| id.len() >= 8 && s.id_hash.starts_with(&id));
    let Some(s) = target else {
        return Err(err(
            ErrorKind::NotFound,
            "not_found",
            format!("no live session `{id}`"),
        ));
    };
    st.auth
        .end_sessions(&st.store, Some(&s.id_hash), None)
        .await
        .map_err(|e| HttpError::openai(ApiError::internal(e.to_string())))?;
    Ok(Json(json!({"ended": &s.id_hash[..12]})))
}

/// `GET /api/auth/lockouts`: addresses locked out of the login after repeated failures.
pub(super) async fn lockouts(State(st): St) -> ApiResult {
    let lockouts = st
        .auth
        .lockouts()
        .into_iter()
        .map(|(ip, secs)| crate::views::LockoutView {
            ip: ip.to_string(),
            seconds_left: secs,
        })
        .collect();
    Ok(Json(json!(crate::views::LockoutsView { lockouts })))
}

/// `DELETE /api/auth/lockouts/{ip}`: let an address try again now.
pub(super) async fn unlock(
    State(st): St,
    Path(ip): Path<String>,
) -> Result<axum::http::StatusCode, HttpError> {
    let addr: IpAddr = ip.parse().map_err(|_| {
        HttpError::openai(ApiError::invalid(format!("`{ip}` is not an IP address")))
    })?;
    if st.auth.unlock(addr) {
        Ok(axum::http::StatusCode::NO_CONTENT)
    } else {
        Err(HttpError::openai(ApiError::not_found(format!(
            "`{ip}` is not locked out"
        ))))
    }
}
