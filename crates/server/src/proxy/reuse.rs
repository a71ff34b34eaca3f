//! Serving a request without a new upstream call: idempotent duplicates (same
//! `Idempotency-Key` within the window get the first request's response, waiting for it while
//! it runs) and the response cache (exact signature of a deterministic non-stream request; the
//! semantic tier by embedding similarity when enabled). Both capture the response as it goes to
//! the client: non-stream bodies are already whole; a stream is teed chunk by chunk and stored
//! when it ends (never buffered before the client sees it).

use super::RawObject;
use crate::cache::{self, Cache, CacheKey};
use crate::idempotency::{Begin, Idempotency, LeaderGuard, StoredResponse};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use omniroute_protocol::ApiFormat;
use serde_json::Value;
use std::sync::Arc;

/// The `X-OmniRoute-Cache` header.
pub(super) const CACHE_HEADER: &str = "x-omniroute-cache";

/// What the idempotency check decided.
pub(super) enum Idem {
    /// Not an idempotent request (no key), or it must run on its own.
    Run,
    /// This request runs; duplicates wait for it.
    Lead(LeaderGuard),
    /// A duplicate: here is the first request's response.
    Replay(StoredResponse),
    /// The key was used with a different request.
    Conflict,
}

/// Check `Idempotency-Key` (or a client-set `X-Request-Id`): scoped to the gateway key, the
/// fingerprint is the path and the body.
pub(super) async fn idempotency(
    idem: &Idempotency,
    headers: &HeaderMap,
    tenant: Option<&str>,
    path: &str,
    body: &[u8],
    max_wait: std::time::Duration,
) -> Idem {
    let explicit = headers.contains_key(crate::idempotency::IDEMPOTENCY_KEY);
    let Some(key) = crate::idempotency::key_from_headers(headers) else {
        return Idem::Run;
    };
    let scoped = format!("{}\u{0}{key}", tenant.unwrap_or(""));
    let fp = crate::idempotency::fingerprint(&[path.as_bytes(), body]);
    // a waiter whose leader failed tries once more (it may lead now), then runs on its own
    for _ in 0..2 {
        match idem.begin(&scoped, fp) {
            Begin::Leader(g) => return Idem::Lead(g),
            Begin::Replay(r) => return Idem::Replay(r),
            // a reused X-Request-Id is not a promise of idempotency: just run
            Begin::Conflict if explicit => return Idem::Conflict,
            Begin::Conflict => return Idem::Run,
            Begin::Wait(w) => match tokio::time::timeout(max_wait, w).await {
                Ok(Some(r)) => return Idem::Replay(r),
                Ok(None) => {}
                // the first request is still running after the whole budget: run on our own
                Err(_) => return Idem::Run,
            },
        }
    }
    Idem::Run
}

/// What the cache decided.
pub(super) enum CacheUse {
    /// Not a cacheable request.
    Off,
    /// `X-OmniRoute-No-Cache: true`.
    Bypass,
    /// A miss under this key (store the response if it succeeds); the semantic tier's scope and
    /// embedding when that tier is on.
    Miss(CacheKey, Option<(CacheKey, Vec<f32>)>),
}

/// Whether a raw request asks for deterministic output (`temperature: 0`, top level or in
/// Gemini's `generationConfig`), without parsing the rest of the body.
pub(super) fn deterministic(req: &RawObject) -> bool {
    let zero = |raw: &str| raw.trim().parse::<f64>().is_ok_and(|t| t == 0.0);
    if req.get("temperature").is_some_and(|t| zero(t.get())) {
        return true;
    }
    ["generationConfig", "generation_config"].iter().any(|k| {
        req.get(*k).is_some_and(|g| {
            serde_json::from_str::<Value>(g.get())
                .ok()
                .and_then(|v| v.get("temperature").and_then(Value::as_f64))
                == Some(0.0)
        })
    })
}

/// What besides the body decides an answer: the gateway key, the client format, the headers
/// forwarded upstream (`anthropic-beta`, `anthropic-version`) and the global controls applied
/// to the request (injected system prompt, thinking policy).
pub(super) fn scope(
    tenant: Option<&str>,
    format: ApiFormat,
    headers: &HeaderMap,
    settings: &omniroute_config::GatewaySettings,
) -> String {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    format!(
        "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
        tenant.unwrap_or(""),
        format.as_str(),
        h("anthropic-beta"),
        h("anthropic-version"),
        settings.system_prompt,
        settings.thinking_policy,
        settings.thinking_budget
    )
}

/// The exact-tier key: the scope, the requested model and the body.
pub(super) fn key(scope: &str, model: &str, body: &Value) -> CacheKey {
    cache::signature(scope, model, body)
}

/// The semantic tier's scope (everything except the last user turn).
pub(super) fn semantic_scope(scope: &str, model: &str, body: &Value) -> CacheKey {
    cache::semantic_scope(scope, model, body)
}

/// A stored response as the client gets it, marked with how it was served.
pub(super) fn replay(stored: StoredResponse, how: &'static str) -> Response {
    let mut r = stored.into_response();
    r.headers_mut()
        .insert(CACHE_HEADER, HeaderValue::from_static(how));
    r
}

/// Finish a response: store it in the cache (a 200 non-stream response on a miss) and hand it
/// to idempotent duplicates. Streams are teed and stored when they end.
pub(super) async fn capture(
    resp: Response,
    cache: &Arc<Cache>,
    use_: CacheUse,
    guard: Option<LeaderGuard>,
    max_bytes: usize,
) -> Response {
    let mut resp = resp;
    let status_header = match &use_ {
        CacheUse::Off => None,
        CacheUse::Bypass => Some("BYPASS"),
        CacheUse::Miss(..) => Some("MISS"),
    };
    if let Some(h) = status_header {
        resp.headers_mut()
            .insert(CACHE_HEADER, HeaderValue::from_static(h));
    }
    let store_in_cache = matches!(use_, CacheUse::Miss(..)) && resp.status().is_success();
    if !store_in_cache && guard.is_none() {
        return resp;
    }
    let is_stream = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"))
        || resp.headers().contains_key("x-accel-buffering");
    let (parts, body) = resp.into_parts();
    if !is_stream {
        // a non-stream body is already whole in memory: collecting it does not wait
        let bytes = match body.collect().await {
            Ok(c) => c.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let stored = StoredResponse::from_parts(parts.status, &parts.headers, bytes.clone());
        if let CacheUse::Miss(key, semantic) = use_ {
            if store_in_cache && cache.put(key, stored.clone()) {
                if let Some((scope, emb)) = semantic {
                    cache.insert_embedding(key, scope, &emb);
                }
            }
        }
        if let Some(g) = guard {
            g.complete(stored);
        }
        return Response::from_parts(parts, Body::from(bytes));
    }
    // stream: forward every chunk at once, keep a copy (up to the cap) for the duplicates
    let Some(guard) = guard else {
        return Response::from_parts(parts, body);
    };
    let status = parts.status;
    let headers = parts.headers.clone();
    struct Tee {
        inner: axum::body::BodyDataStream,
        buf: BytesMut,
        max: usize,
        guard: Option<LeaderGuard>,
        status: axum::http::StatusCode,
        headers: HeaderMap,
    }
    let tee = Tee {
        inner: body.into_data_stream(),
        buf: BytesMut::new(),
        max: max_bytes,
        guard: Some(guard),
        status,
        headers,
    };
    let stream = futures_util::stream::unfold(tee, |mut t| async move {
        match t.inner.next().await {
            Some(Ok(chunk)) => {
                if t.guard.is_some() {
                    if t.buf.len() + chunk.len() > t.max {
                        // too large to replay: duplicates run on their own
                        t.guard = None;
                        t.buf = BytesMut::new();
                    } else {
                        t.buf.extend_from_slice(&chunk);
                    }
                }
                Some((Ok::<Bytes, axum::Error>(chunk), t))
            }
            Some(Err(e)) => Some((Err(e), t)),
            None => {
                if let Some(g) = t.guard.take() {
                    let body = std::mem::take(&mut t.buf).freeze();
                    g.complete(StoredResponse::from_parts(t.status, &t.headers, body));
                }
                None
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(stream))
}
