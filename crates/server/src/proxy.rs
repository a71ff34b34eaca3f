//! The OpenAI-compatible proxy: `POST /v1/chat/completions` (and the provider-pinned variant) and
//! `GET /v1/models`. Parses only what routing needs, rewrites the model id, forwards to the chosen
//! connection over the pooled client, and pipes SSE chunk by chunk without buffering the body.

use crate::error::{render, HttpError};
use crate::middleware::RequestId;
use crate::state::{AppState, KeyInfo, LiveConnection, Snapshot};
use crate::upstream::{self, ChunkError, SendError};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use omniroute_protocol::sse::SseParser;
use omniroute_protocol::usage::Usage;
use omniroute_protocol::{ApiError, ApiFormat, ErrorKind};
use omniroute_providers::upstream::{auth_headers, endpoint_url, Operation};
use omniroute_providers::ProviderSpec;
use omniroute_routing::{Resolution, ResolveError};
use omniroute_store::RequestLog;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest upstream non-stream body accepted.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;
/// Largest upstream error body kept for the message.
const MAX_ERROR_BODY: usize = 256 * 1024;

/// A JSON object parsed only at its top level, key order kept, values left as raw JSON.
type RawObject = indexmap::IndexMap<String, Box<serde_json::value::RawValue>>;

/// What the proxy needs from a non-stream response; the rest is skipped while validating.
#[derive(serde::Deserialize)]
struct ResponsePeek {
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
}

/// Bookkeeping of one proxied request; the log row is written exactly once.
struct Exchange {
    st: Arc<AppState>,
    row: RequestLog,
    start: Instant,
    done: bool,
}

impl Exchange {
    fn new(st: &Arc<AppState>, rid: &RequestId, key: Option<&KeyInfo>, path: &str) -> Self {
        Exchange {
            st: st.clone(),
            row: RequestLog {
                request_id: rid.0.to_string(),
                ts: omniroute_store::now_ms(),
                method: "POST".into(),
                path: path.into(),
                client_format: Some(ApiFormat::Openai.as_str().into()),
                api_key_id: key.map(|k| k.id.to_string()),
                ..Default::default()
            },
            start: Instant::now(),
            done: false,
        }
    }

    fn elapsed_ms(&self) -> i64 {
        self.start.elapsed().as_millis() as i64
    }

    fn finish(&mut self, status: u16, error: Option<String>, usage: Option<Usage>) {
        if self.done {
            return;
        }
        self.done = true;
        self.row.status = status;
        self.row.latency_ms = self.elapsed_ms();
        self.row.error = error;
        if let Some(u) = usage {
            self.row.input_tokens = Some(u.input_tokens as i64);
            self.row.output_tokens = Some(u.output_tokens as i64);
        }
        let r = &self.row;
        if status < 400 {
            tracing::debug!(request_id = %r.request_id, model = r.model.as_deref().unwrap_or(""), provider = r.provider.as_deref().unwrap_or(""), status, latency_ms = r.latency_ms, stream = r.stream, "request completed");
        } else {
            tracing::warn!(request_id = %r.request_id, model = r.model.as_deref().unwrap_or(""), provider = r.provider.as_deref().unwrap_or(""), status, latency_ms = r.latency_ms, error = r.error.as_deref().unwrap_or(""), "request failed");
        }
        self.st.logs.log(std::mem::take(&mut self.row));
    }

    fn fail(&mut self, err: ApiError) -> Response {
        self.finish(err.status, Some(err.message.clone()), None);
        render(&err, ApiFormat::Openai)
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if !self.done {
            // the client went away before we finished (stream dropped mid-way)
            self.finish(499, Some("client closed the connection".into()), None);
        }
    }
}

/// `Err(mime)` when the request declares a content type that is not JSON (absent is accepted).
fn check_json_content_type(headers: &HeaderMap) -> Result<(), String> {
    match headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or(""))
    {
        None => Ok(()),
        Some(ct) => {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if mime == "application/json" || mime.ends_with("+json") {
                Ok(())
            } else {
                Err(mime)
            }
        }
    }
}

/// Read the request body up to the configured limit.
async fn read_body(body: Body, limit: u64) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit as usize)
        .await
        .map_err(|e| {
            let too_big = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if too_big {
                ApiError::new(
                    ErrorKind::PayloadTooLarge,
                    format!("request body exceeds the limit of {limit} bytes"),
                )
                .with_code("request_too_large")
            } else {
                ApiError::invalid(format!("could not read the request body: {e}"))
            }
        })
}

/// `POST /v1/chat/completions`
pub async fn chat_completions(
    State(st): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    key: Option<Extension<KeyInfo>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    proxy_chat(st, rid, key.map(|k| k.0), headers, body, None).await
}

/// `POST /v1/providers/{provider}/chat/completions`
pub async fn pinned_chat_completions(
    State(st): State<Arc<AppState>>,
    Path(provider): Path<String>,
    Extension(rid): Extension<RequestId>,
    key: Option<Extension<KeyInfo>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    proxy_chat(st, rid, key.map(|k| k.0), headers, body, Some(provider)).await
}

fn resolve_error(e: ResolveError) -> ApiError {
    match e {
        ResolveError::Empty => ApiError::invalid(e.to_string()).with_code("invalid_model"),
        ResolveError::Ambiguous(..) => {
            ApiError::invalid(e.to_string()).with_code("ambiguous_model")
        }
        ResolveError::ComboDisabled(_) | ResolveError::ProviderDisabled(_) => {
            ApiError::new(ErrorKind::Unavailable, e.to_string()).with_code("model_disabled")
        }
        ResolveError::UnknownModel(_) | ResolveError::UnknownProvider(..) => {
            ApiError::not_found(e.to_string()).with_code("model_not_found")
        }
    }
}

/// Pick the provider, upstream model and connection for `model`.
fn route(
    snap: &Snapshot,
    model: &str,
    rid: &str,
) -> Result<(Arc<ProviderSpec>, String, Arc<LiveConnection>), ApiError> {
    let usable = |p: &str| snap.usable(p);
    let mut candidates = Vec::new();
    match snap
        .resolver
        .resolve(model, usable)
        .map_err(resolve_error)?
    {
        Resolution::Provider { provider, model } => candidates.push((provider, model)),
        Resolution::Combo { name, steps } => {
            for step in &steps {
                match snap.resolver.resolve(step, usable) {
                    Ok(Resolution::Provider { provider, model }) => {
                        candidates.push((provider, model))
                    }
                    Ok(Resolution::Combo { .. }) => {
                        tracing::warn!(request_id = rid, combo = %name, step = %step, "nested combos are not followed")
                    }
                    Err(e) => {
                        tracing::warn!(combo = %name, step = %step, error = %e, "combo step skipped")
                    }
                }
            }
            if candidates.is_empty() {
                return Err(ApiError::new(
                    ErrorKind::Unavailable,
                    format!("combo `{name}` has no routable step"),
                )
                .with_code("no_available_connection"));
            }
        }
    }
    let first = candidates[0].0.id.clone();
    for (provider, model) in candidates {
        if let Some(conn) = snap.connections.get(&provider.id).and_then(|c| c.first()) {
            return Ok((provider, model, conn.clone()));
        }
    }
    Err(ApiError::new(
        ErrorKind::Unavailable,
        format!("provider `{first}` has no enabled connection: add one with POST /api/connections or in the config file"),
    )
    .with_code("no_available_connection"))
}

async fn proxy_chat(
    st: Arc<AppState>,
    rid: RequestId,
    key: Option<KeyInfo>,
    headers: HeaderMap,
    body: Body,
    pinned: Option<String>,
) -> Response {
    let path = match &pinned {
        Some(p) => format!("/v1/providers/{p}/chat/completions"),
        None => "/v1/chat/completions".to_string(),
    };
    let mut ex = Exchange::new(&st, &rid, key.as_ref(), &path);
    let snap = st.snapshot.load_full();

    if let Err(mime) = check_json_content_type(&headers) {
        return ex.fail(
            ApiError::new(
                ErrorKind::UnsupportedMediaType,
                format!("Content-Type must be application/json, got `{mime}` (with curl, add -H 'Content-Type: application/json')"),
            )
            .with_code("unsupported_media_type"),
        );
    }
    let bytes = match read_body(body, snap.settings.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return ex.fail(e),
    };
    // Only the top level is parsed; every value stays raw JSON and is written back untouched.
    let mut req: RawObject = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) if e.is_data() => {
            return ex.fail(ApiError::invalid("the request body must be a JSON object"))
        }
        Err(e) => {
            return ex.fail(
                ApiError::invalid(format!("malformed JSON in request body: {e}"))
                    .with_code("invalid_json"),
            )
        }
    };
    let model = match req
        .get("model")
        .map(|r| serde_json::from_str::<Option<String>>(r.get()))
    {
        Some(Ok(Some(m))) if !m.trim().is_empty() => m.trim().to_string(),
        None | Some(Ok(_)) => {
            return ex.fail(
                ApiError::invalid("the `model` field is required").with_code("missing_model"),
            )
        }
        Some(Err(_)) => {
            return ex.fail(
                ApiError::invalid("the `model` field must be a string").with_code("invalid_model"),
            )
        }
    };
    let stream = match req
        .get("stream")
        .map(|r| serde_json::from_str::<Option<bool>>(r.get()))
    {
        None | Some(Ok(None)) => false,
        Some(Ok(Some(b))) => b,
        Some(Err(_)) => return ex.fail(ApiError::invalid("the `stream` field must be a boolean")),
    };
    if !req
        .get("messages")
        .is_some_and(|m| m.get().starts_with('['))
    {
        return ex.fail(
            ApiError::invalid("the `messages` field must be an array")
                .with_code("invalid_messages"),
        );
    }
    let model = match &pinned {
        None => model,
        Some(p) => {
            let Some(spec) = snap.resolver.provider(p) else {
                return ex.fail(
                    ApiError::not_found(format!("unknown provider `{p}`"))
                        .with_code("provider_not_found"),
                );
            };
            match model.split_once('/') {
                Some((prefix, _)) if prefix == spec.alias || prefix == spec.id => model,
                Some((prefix, _)) if snap.resolver.provider(prefix).is_some() => {
                    return ex.fail(ApiError::invalid(format!(
                        "model `{model}` does not belong to provider `{p}`"
                    )));
                }
                _ => format!("{}/{model}", spec.alias),
            }
        }
    };
    ex.row.model = Some(model.clone());
    ex.row.stream = stream;

    let (provider, upstream_model, conn) = match route(&snap, &model, &rid.0) {
        Ok(r) => r,
        Err(e) => return ex.fail(e),
    };
    ex.row.provider = Some(provider.id.clone());
    ex.row.connection_id = Some(conn.id.clone());
    ex.row.upstream_model = Some(upstream_model.clone());

    if provider.format != ApiFormat::Openai {
        return ex.fail(
            ApiError::invalid(format!(
                "provider `{}` speaks the {} format; OpenAI-chat requests can only be sent to OpenAI-compatible providers until format translation is enabled",
                provider.id, provider.format
            ))
            .with_status(501)
            .with_code("translation_unavailable"),
        );
    }

    let model_json = serde_json::value::to_raw_value(&upstream_model);
    let out = match model_json
        .map(|m| req.insert("model".into(), m))
        .and_then(|_| serde_json::to_vec(&req))
    {
        Ok(v) => v,
        Err(e) => {
            return ex.fail(ApiError::internal(format!(
                "could not encode the upstream request: {e}"
            )))
        }
    };

    let uri = match &conn.chat_url {
        Some(u) => u.clone(),
        None => {
            let u = endpoint_url(
                provider.format,
                &conn.base_url,
                &upstream_model,
                Operation::Generate { stream },
            );
            match u.parse::<http::Uri>() {
                Ok(u) => u,
                Err(_) => {
                    return ex.fail(ApiError::internal(format!(
                        "invalid upstream URL for provider `{}`",
                        provider.id
                    )))
                }
            }
        }
    };
    let mut builder = http::Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::ACCEPT,
            if stream {
                "text/event-stream"
            } else {
                "application/json"
            },
        );
    if let Some((name, value)) =
        auth_headers(provider.auth, conn.secret.as_ref().map(|s| s.expose()))
    {
        builder = builder.header(name, value);
    }
    for (k, v) in &provider.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let upstream_req = match builder.body(http_body_util::Full::new(Bytes::from(out))) {
        Ok(r) => r,
        Err(_) => {
            return ex.fail(ApiError::internal(format!(
                "provider `{}` has an invalid header or credential",
                provider.id
            )))
        }
    };

    let first_byte = Duration::from_millis(snap.settings.first_byte_timeout_ms);
    let idle = Duration::from_millis(snap.settings.idle_timeout_ms);
    let resp = match upstream::send(&snap.http, upstream_req, first_byte).await {
        Ok(r) => r,
        Err(SendError::Timeout) => {
            return ex.fail(
                ApiError::new(
                    ErrorKind::Timeout,
                    format!(
                        "provider `{}` did not answer within {} ms",
                        provider.id,
                        first_byte.as_millis()
                    ),
                )
                .with_code("upstream_timeout"),
            )
        }
        Err(SendError::Connect) => {
            return ex.fail(
                ApiError::new(
                    ErrorKind::BadGateway,
                    format!("provider `{}` is unreachable", provider.id),
                )
                .with_code("upstream_unreachable"),
            )
        }
        Err(SendError::Other) => {
            return ex.fail(
                ApiError::new(
                    ErrorKind::BadGateway,
                    format!("request to provider `{}` failed", provider.id),
                )
                .with_code("upstream_error"),
            )
        }
    };
    ex.row.ttfb_ms = Some(ex.elapsed_ms());
    let status = resp.status();

    if !status.is_success() {
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = upstream::read_limited(resp.into_body(), MAX_ERROR_BODY, idle)
            .await
            .unwrap_or_default();
        return ex.fail(upstream_status_error(
            &provider.id,
            status.as_u16(),
            &body,
            retry_after,
        ));
    }

    let is_sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    if stream && is_sse {
        return stream_response(ex, resp, idle);
    }

    let body = match upstream::read_limited(resp.into_body(), MAX_UPSTREAM_BODY, idle).await {
        Ok(b) => b,
        Err(e) => return ex.fail(e),
    };
    let peek: ResponsePeek = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return ex.fail(
                ApiError::new(
                    ErrorKind::BadGateway,
                    format!(
                        "provider `{}` returned a response that is not valid JSON",
                        provider.id
                    ),
                )
                .with_code("upstream_invalid_response"),
            )
        }
    };
    if let Some(err) = peek.error.filter(|e| !e.is_null()) {
        let msg = err
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| err.as_str())
            .unwrap_or("unknown error");
        return ex.fail(
            ApiError::new(
                ErrorKind::BadGateway,
                format!("provider `{}` returned an error: {msg}", provider.id),
            )
            .with_code("upstream_error"),
        );
    }
    let usage = peek.usage.as_ref().and_then(Usage::from_usage);
    ex.finish(200, None, usage);
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The client-facing error for an upstream error status.
pub fn upstream_status_error(
    provider: &str,
    status: u16,
    body: &[u8],
    retry_after: Option<String>,
) -> ApiError {
    let detail = ApiError::upstream_message(body).unwrap_or_else(|| {
        String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_string()
    });
    let detail = if detail.is_empty() {
        "no detail".to_string()
    } else {
        detail
    };
    match status {
        // the provider rejected *our* credentials: not the client's auth problem
        401 | 403 => ApiError::new(
            ErrorKind::BadGateway,
            format!(
                "provider `{provider}` rejected the connection's credentials ({status}): {detail}"
            ),
        )
        .with_code("upstream_auth_failed"),
        429 => ApiError::new(
            ErrorKind::RateLimited,
            format!("provider `{provider}` is rate limiting: {detail}"),
        )
        .with_code("rate_limit_exceeded")
        .with_retry_after(retry_after),
        _ => {
            let mut e = ApiError::new(
                ErrorKind::Upstream,
                format!("provider `{provider}` returned {status}: {detail}"),
            )
            .with_status(if (400..600).contains(&status) {
                status
            } else {
                502
            })
            .with_retry_after(retry_after);
            e.upstream = status >= 500;
            e.code = Some(if status >= 500 {
                "upstream_error".into()
            } else {
                "upstream_rejected".into()
            });
            e
        }
    }
}

struct StreamState {
    ex: Exchange,
    upstream: hyper::body::Incoming,
    parser: SseParser,
    usage: Usage,
    saw_usage: bool,
    upstream_error: Option<String>,
    idle: Duration,
    finished: bool,
}

impl StreamState {
    fn observe(&mut self, chunk: &[u8]) {
        let (usage, saw, err) = (
            &mut self.usage,
            &mut self.saw_usage,
            &mut self.upstream_error,
        );
        let _ = self.parser.push(chunk, |ev| {
            if ev.is_done() || !ev.data.contains("\"usage\"") && !ev.data.contains("\"error\"") {
                return;
            }
            if let Ok(v) = serde_json::from_str::<Value>(&ev.data) {
                if let Some(u) = Usage::from_value(&v) {
                    usage.merge(u);
                    *saw = true;
                }
                if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
                    let m = e
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("error event");
                    *err = Some(format!("upstream error event: {m}"));
                }
            }
        });
    }
}

/// An SSE error event in OpenAI chat shape, for failures after the stream started.
fn error_event(message: &str, code: &str) -> Bytes {
    let body = json!({"error": {"message": message, "type": "upstream_error", "code": code}});
    omniroute_protocol::sse::encode(None, &body.to_string())
}

fn stream_response(
    mut ex: Exchange,
    resp: http::Response<hyper::body::Incoming>,
    idle: Duration,
) -> Response {
    ex.row.status = 200;
    let state = StreamState {
        ex,
        upstream: resp.into_body(),
        parser: SseParser::default(),
        usage: Usage::default(),
        saw_usage: false,
        upstream_error: None,
        idle,
        finished: false,
    };
    let body = futures_util::stream::unfold(state, |mut s| async move {
        if s.finished {
            return None;
        }
        match upstream::next_chunk(&mut s.upstream, s.idle).await {
            Ok(Some(chunk)) => {
                s.observe(&chunk);
                Some((Ok::<Bytes, std::io::Error>(chunk), s))
            }
            Ok(None) => {
                s.finished = true;
                let usage = s.saw_usage.then_some(s.usage);
                let err = s.upstream_error.take();
                s.ex.finish(if err.is_some() { 502 } else { 200 }, err, usage);
                None
            }
            Err(ChunkError::Broken) => {
                s.finished = true;
                let msg = "the provider's stream was cut off before it finished";
                s.ex.finish(502, Some(msg.into()), s.saw_usage.then_some(s.usage));
                Some((Ok(error_event(msg, "upstream_stream_cut")), s))
            }
            Err(ChunkError::Idle) => {
                s.finished = true;
                let msg = "the provider's stream stalled (idle timeout)";
                s.ex.finish(504, Some(msg.into()), s.saw_usage.then_some(s.usage));
                Some((Ok(error_event(msg, "upstream_timeout")), s))
            }
        }
    });
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

/// `GET /v1/models`: every routable model (`alias/model`) and combo, OpenAI list format.
pub async fn list_models(State(st): State<Arc<AppState>>) -> Response {
    let snap = st.snapshot.load();
    let mut data = Vec::new();
    for (p, model, kind) in snap.resolver.routable_models() {
        if !snap.usable(&p.id) {
            continue;
        }
        data.push(json!({
            "id": format!("{}/{}", p.alias, model),
            "object": "model",
            "created": snap.created,
            "owned_by": p.id,
            "type": kind.as_str(),
        }));
    }
    for c in snap.resolver.combos().filter(|c| c.enabled) {
        data.push(json!({"id": c.name, "object": "model", "created": snap.created, "owned_by": "combo", "type": "combo"}));
    }
    (
        StatusCode::OK,
        Json(json!({"object": "list", "data": data})),
    )
        .into_response()
}

/// `GET /v1/models/{id}`: one routable model or combo (ids contain `/`; `%2F` is decoded).
pub async fn get_model(State(st): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let snap = st.snapshot.load();
    if let Some(c) = snap.resolver.combos().find(|c| c.enabled && c.name == id) {
        let v = json!({"id": c.name, "object": "model", "created": snap.created, "owned_by": "combo", "type": "combo"});
        return (StatusCode::OK, Json(v)).into_response();
    }
    let found = snap.resolver.routable_models().find(|(p, model, _)| {
        snap.usable(&p.id)
            && id
                .split_once('/')
                .is_some_and(|(prefix, m)| m == *model && (prefix == p.alias || prefix == p.id))
    });
    match found {
        Some((p, model, kind)) => {
            let v = json!({
                "id": format!("{}/{}", p.alias, model), "object": "model",
                "created": snap.created, "owned_by": p.id, "type": kind.as_str(),
            });
            (StatusCode::OK, Json(v)).into_response()
        }
        None => render(
            &ApiError::not_found(format!(
                "model `{id}` is not routable (GET /v1/models lists what is)"
            ))
            .with_code("model_not_found"),
            ApiFormat::Openai,
        ),
    }
}

/// Fallback for unknown paths, in OpenAI error format.
pub async fn not_found(uri: axum::http::Uri) -> HttpError {
    HttpError::openai(
        ApiError::not_found(format!("no route for {}", uri.path())).with_code("unknown_route"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_errors_keep_their_meaning() {
        let e = upstream_status_error(
            "openai",
            429,
            br#"{"error":{"message":"slow down"}}"#,
            Some("7".into()),
        );
        assert_eq!((e.status, e.retry_after.as_deref()), (429, Some("7")));
        assert!(e.message.contains("slow down"));
        let e = upstream_status_error("openai", 401, b"{}", None);
        assert_eq!(
            e.status, 502,
            "provider credential failures are not the client's 401"
        );
        let e = upstream_status_error("openai", 503, b"<html>down</html>", None);
        assert_eq!(e.status, 503);
        assert!(e.is_retryable());
        let e = upstream_status_error("openai", 400, br#"{"error":{"message":"bad param"}}"#, None);
        assert_eq!(e.status, 400);
        assert!(!e.is_retryable());
    }

    #[test]
    fn content_type_check() {
        let mut h = HeaderMap::new();
        assert!(check_json_content_type(&h).is_ok());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(check_json_content_type(&h).is_ok());
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("Text/Plain"));
        assert_eq!(check_json_content_type(&h), Err("text/plain".to_string()));
    }
}
