//! The client API proxy for every format: OpenAI chat (`/v1/chat/completions`, also
//! provider-pinned), Anthropic (`/v1/messages`, `count_tokens`), OpenAI Responses
//! (`/v1/responses`) and Gemini (`/v1beta/models/{model}:generateContent` /
//! `:streamGenerateContent` / `:countTokens`). One path serves them all: parse only what routing
//! needs, resolve the model, then either pass the body and the stream through untouched (same
//! format on both sides; only the model name changes) or translate through the IR. Streams are
//! piped event by event; the response is held until the first content event, so an upstream that
//! fails before producing anything yields an HTTP error in the client's format.

use crate::error::render;
use crate::middleware::RequestId;
use crate::state::{AppState, KeyInfo, LiveConnection, Snapshot};
use crate::upstream;

mod failure;
mod reuse;
mod route;
mod stream;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use axum::Extension;
use bytes::Bytes;
pub use failure::upstream_status_error;
use failure::{invalid_json, send_failure, FailKind, Failure};
use omniroute_protocol::usage::Usage;
use omniroute_protocol::{ApiError, ApiFormat, ErrorKind};
use omniroute_providers::upstream::{auth_headers, endpoint_url, Operation};
use omniroute_providers::ProviderSpec;
use omniroute_routing::ResolveError;
use omniroute_store::RequestLog;
use omniroute_translate::ir::EncoderOptions;
use omniroute_translate::StreamTranslator;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest upstream non-stream body accepted.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;
/// Largest upstream error body kept for the message.
const MAX_ERROR_BODY: usize = 256 * 1024;

/// A JSON object parsed only at its top level, key order kept, values left as raw JSON.
use crate::controls::RawObject;

/// What the proxy needs from a pass-through non-stream response; the rest is skipped.
#[derive(serde::Deserialize)]
struct ResponsePeek {
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default, rename = "usageMetadata")]
    usage_metadata: Option<Value>,
}

/// How a client reached the gateway.
#[derive(Debug, Clone)]
pub struct ClientCall {
    pub format: ApiFormat,
    /// For logs.
    pub path: String,
    /// Gemini: the model from the URL.
    pub url_model: Option<String>,
    /// Gemini: `streamGenerateContent` vs `generateContent`.
    pub url_stream: Option<bool>,
    /// Gemini: `?alt=sse` (else the stream is a JSON array).
    pub alt_sse: bool,
    /// `/v1/providers/{provider}/...`
    pub pinned: Option<String>,
    /// The dashboard's chat tester: records what went upstream and what came back.
    pub tap: Option<Arc<Tap>>,
}

/// What the chat tester shows of a round trip: every upstream attempt's URL (without its query),
/// the translated request body and the raw upstream answer (non-stream only). Set only by
/// `/api/translator/chat`; a client request never carries one.
#[derive(Debug, Default)]
pub struct Tap {
    attempts: std::sync::Mutex<Vec<TapAttempt>>,
}

/// One upstream attempt seen by a [`Tap`].
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
#[ts(export)]
pub struct TapAttempt {
    pub provider: String,
    pub format: String,
    pub model: String,
    pub url: String,
    /// The request body as sent upstream (after translation).
    pub request: String,
    /// The upstream's HTTP status, once its answer arrived.
    pub status: Option<u16>,
    /// The upstream's body as received (capped at 1 MiB).
    pub response: Option<String>,
}

impl Tap {
    fn sent(&self, provider: &ProviderSpec, model: &str, url: &http::Uri, body: &[u8]) {
        let url = format!(
            "{}://{}{}",
            url.scheme_str().unwrap_or("http"),
            url.authority().map(|a| a.as_str()).unwrap_or(""),
            url.path()
        );
        if let Ok(mut a) = self.attempts.lock() {
            a.push(TapAttempt {
                provider: provider.id.clone(),
                format: provider.format.as_str().to_string(),
                model: model.to_string(),
                url,
                request: String::from_utf8_lossy(body).into_owned(),
                status: None,
                response: None,
            });
        }
    }

    fn answered(&self, status: u16, body: &[u8]) {
        if let Ok(mut a) = self.attempts.lock() {
            if let Some(last) = a.last_mut() {
                last.status = Some(status);
                let cut = body.len().min(1 << 20);
                last.response = Some(String::from_utf8_lossy(&body[..cut]).into_owned());
            }
        }
    }

    /// The attempts recorded so far.
    pub fn attempts(&self) -> Vec<TapAttempt> {
        self.attempts.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl ClientCall {
    fn new(format: ApiFormat, path: &str) -> Self {
        Self {
            format,
            path: path.to_string(),
            url_model: None,
            url_stream: None,
            alt_sse: false,
            pinned: None,
            tap: None,
        }
    }
}

/// Bookkeeping of one proxied request; the log row is written exactly once.
struct Exchange {
    st: Arc<AppState>,
    row: RequestLog,
    format: ApiFormat,
    start: Instant,
    done: bool,
    /// The connection's rate-limit slot, held until the response (or stream) is over.
    permit: Option<omniroute_routing::Permit>,
    /// The request's cost in USD once known (set by `finish`).
    cost: Option<f64>,
    /// Body logging: the cap, and the response bytes seen so far (at most the cap).
    bodies: Option<usize>,
    response: Vec<u8>,
    /// With body logging: the current attempt's upstream answer as received (at most the cap).
    upstream: Vec<u8>,
    /// Trace export: the request's trace (set only when export is on) and each attempt's
    /// timing.
    trace: Option<crate::otel::TraceContext>,
    attempt_times: Vec<crate::otel::AttemptTiming>,
}

impl Exchange {
    fn new(st: &Arc<AppState>, rid: &RequestId, key: Option<&KeyInfo>, call: &ClientCall) -> Self {
        Exchange {
            st: st.clone(),
            row: RequestLog {
                request_id: rid.0.to_string(),
                ts: omniroute_store::now_ms(),
                method: "POST".into(),
                path: call.path.clone(),
                client_format: Some(call.format.as_str().into()),
                api_key_id: key.map(|k| k.id.to_string()),
                client_ip: rid.1.map(|ip| ip.to_string()),
                ..Default::default()
            },
            format: call.format,
            start: Instant::now(),
            done: false,
            permit: None,
            cost: None,
            bodies: None,
            response: Vec::new(),
            upstream: Vec::new(),
            trace: None,
            attempt_times: Vec::new(),
        }
    }

    /// Keep response bytes for the log (only when body logging is on, up to its cap).
    fn capture(&mut self, bytes: &[u8]) {
        if let Some(max) = self.bodies {
            let room = (max + 1).saturating_sub(self.response.len());
            self.response
                .extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    /// Keep upstream bytes for the log (body logging only, up to its cap).
    fn capture_upstream(&mut self, bytes: &[u8]) {
        if let Some(max) = self.bodies {
            let room = (max + 1).saturating_sub(self.upstream.len());
            self.upstream
                .extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    /// Body logging: the request as this attempt sends it upstream (the answer starts over).
    fn sending_upstream(&mut self, body: &[u8]) {
        if let Some(max) = self.bodies {
            self.row.upstream_request_body = Some(crate::redact::for_log(body, max));
            self.upstream.clear();
        }
    }

    fn elapsed_ms(&self) -> i64 {
        self.start.elapsed().as_millis() as i64
    }

    /// The cost of `u` at the price of the model that served (cached input priced as cached,
    /// reasoning as reasoning), or `None` when that model has no price.
    fn price(&self, u: &Usage) -> Option<f64> {
        let snap = self.st.snapshot.load();
        if snap.pricing.is_empty() {
            return None;
        }
        let provider = snap.resolver.provider(self.row.provider.as_deref()?)?;
        let p = snap.price(provider, self.row.upstream_model.as_deref()?)?;
        let cached = u.cached_tokens.min(u.input_tokens) as f64;
        let fresh = u.input_tokens as f64 - cached;
        let reasoning = u.reasoning_tokens.min(u.output_tokens) as f64;
        let visible = u.output_tokens as f64 - reasoning;
        let cost = fresh * p.input_per_m
            + cached * p.cached_input_per_m.unwrap_or(p.input_per_m)
            + visible * p.output_per_m
            + reasoning * p.reasoning_per_m.unwrap_or(p.output_per_m);
        Some(cost / 1_000_000.0)
    }

    /// Feed the in-memory telemetry (latency, TTFT, outcome, tokens) for requests that reached a
    /// provider.
    fn observe(&self, u: Usage) {
        let r = &self.row;
        let Some(provider) = r.provider.as_deref() else {
            return;
        };
        let obs = crate::telemetry::Observation {
            provider,
            model: r.upstream_model.as_deref().unwrap_or(""),
            connection: r.connection_id.as_deref().unwrap_or(""),
            status: r.status,
            ok: r.status < 400,
            latency_us: self.start.elapsed().as_micros() as u64,
            ttft_us: r.ttfb_ms.map(|ms| ms.max(0) as u64 * 1000),
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cost_usd: self.cost.unwrap_or(0.0),
            outcome: (r.status >= 400).then_some("error"),
        };
        self.st
            .telemetry
            .record(&obs, omniroute_store::now_ms().max(0) as u64);
    }

    /// The live request feed's event for this exchange (built only when someone watches).
    fn live_event(&self, phase: &'static str) -> crate::live::RequestEvent {
        let r = &self.row;
        let done = phase == "finish";
        crate::live::RequestEvent {
            phase,
            request_id: r.request_id.clone(),
            ts: if done {
                omniroute_store::now_ms()
            } else {
                r.ts
            },
            client_format: r.client_format.clone(),
            model: r.model.clone(),
            provider: r.provider.clone(),
            connection_id: r.connection_id.clone(),
            stream: r.stream,
            status: done.then_some(r.status),
            latency_ms: done.then_some(r.latency_ms),
            ttft_ms: r.ttfb_ms,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cost_usd: self.cost,
            attempts: done.then_some(r.attempts),
            error: r.error.clone(),
        }
    }

    /// Tell live listeners that the request started (once the model is known).
    fn announce(&self) {
        if crate::live::watching_requests() {
            crate::live::publish_request(self.live_event("start"));
        }
    }

    fn finish(&mut self, status: u16, error: Option<String>, usage: Option<Usage>) {
        if self.done {
            return;
        }
        self.done = true;
        self.row.status = status;
        if let Some(max) = self.bodies {
            self.row.response_body = Some(crate::redact::for_log(&self.response, max));
            if !self.upstream.is_empty() {
                self.row.upstream_response_body = Some(crate::redact::for_log(&self.upstream, max));
            }
        }
        self.row.latency_ms = self.elapsed_ms();
        self.row.error = error;
        if let Some(u) = usage {
            self.row.input_tokens = Some(u.input_tokens as i64);
            self.row.output_tokens = Some(u.output_tokens as i64);
            self.row.cached_tokens = Some(u.cached_tokens as i64);
            self.row.reasoning_tokens = Some(u.reasoning_tokens as i64);
            self.cost = self.price(&u);
            self.row.cost_usd = self.cost;
            if let (Some(cost), Some(p), Some(m)) = (
                self.cost,
                self.row.provider.as_deref(),
                self.row.upstream_model.as_deref(),
            ) {
                if !self.st.budgets.is_empty() {
                    self.st.budgets.charge(
                        self.row.api_key_id.as_deref(),
                        self.row.combo.as_deref(),
                        &format!("{p}/{m}"),
                        cost,
                    );
                }
            }
        }
        self.observe(usage.unwrap_or_default());
        let r = &self.row;
        if status < 400 {
            tracing::debug!(request_id = %r.request_id, model = r.model.as_deref().unwrap_or(""), provider = r.provider.as_deref().unwrap_or(""), status, latency_ms = r.latency_ms, stream = r.stream, "request completed");
        } else {
            tracing::warn!(request_id = %r.request_id, model = r.model.as_deref().unwrap_or(""), provider = r.provider.as_deref().unwrap_or(""), status, latency_ms = r.latency_ms, error = r.error.as_deref().unwrap_or(""), "request failed");
        }
        if crate::live::watching_requests() {
            crate::live::publish_request(self.live_event("finish"));
        }
        let snap = self.st.snapshot.load();
        if let (Some(ctx), Some(otel)) = (self.trace, snap.otel.as_ref()) {
            let start_ns = u64::try_from(self.row.ts).unwrap_or(0) * 1_000_000;
            otel.export(crate::otel::TraceRecord {
                ctx,
                row: self.row.clone(),
                attempts: std::mem::take(&mut self.attempt_times),
                start_ns,
                end_ns: start_ns + self.start.elapsed().as_nanos() as u64,
            });
        }
        if snap.settings.request_log {
            self.st.logs.log(std::mem::take(&mut self.row));
        }
    }

    fn fail(&mut self, err: ApiError) -> Response {
        if self.bodies.is_some() {
            let body = err.body(self.format).to_string();
            self.capture(body.as_bytes());
        }
        self.finish(err.status, Some(err.message.clone()), None);
        render(&err, self.format)
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

/// IR usage → the log's usage (only when the upstream reported something).
fn log_usage(u: &omniroute_translate::ir::Usage) -> Option<Usage> {
    (u.input_tokens.is_some() || u.output_tokens.is_some()).then(|| Usage {
        input_tokens: u.input_tokens.unwrap_or(0),
        output_tokens: u.output_tokens.unwrap_or(0),
        cached_tokens: u.cached_tokens.unwrap_or(0),
        cache_creation_tokens: u.cache_creation_tokens.unwrap_or(0),
        reasoning_tokens: u.reasoning_tokens.unwrap_or(0),
    })
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

// ------------------------------------------------------------------------------- handlers

/// The dashboard's chat tester: one non-stream request in `format` through the whole pipeline
/// (routing, translation, fallback, logging), answered like any client request, plus what each
/// upstream attempt sent and received. No gateway key applies (the caller is the admin).
pub async fn tester(
    st: Arc<AppState>,
    rid: RequestId,
    format: ApiFormat,
    model: &str,
    body: Bytes,
) -> (Response, Vec<TapAttempt>) {
    let tap = Arc::new(Tap::default());
    let mut call = match format {
        ApiFormat::Openai => ClientCall::new(format, "/v1/chat/completions"),
        ApiFormat::Anthropic => ClientCall::new(format, "/v1/messages"),
        ApiFormat::Responses => ClientCall::new(format, "/v1/responses"),
        ApiFormat::Gemini => {
            let mut c = ClientCall::new(format, &format!("/v1beta/models/{model}:generateContent"));
            c.url_model = Some(model.to_string());
            c.url_stream = Some(false);
            c
        }
    };
    call.tap = Some(tap.clone());
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::USER_AGENT,
        HeaderValue::from_static("omniroute-dashboard-tester"),
    );
    let resp = handle(st, rid, None, headers, Body::from(body), call).await;
    (resp, tap.attempts())
}

/// `POST /v1/chat/completions`
pub async fn chat_completions(
    State(st): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    key: Option<Extension<KeyInfo>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(
        st,
        rid,
        key.map(|k| k.0),
        headers,
        body,
        ClientCall::new(ApiFormat::Openai, "/v1/chat/completions"),
    )
    .await
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
    let mut call = ClientCall::new(
        ApiFormat::Openai,
        &format!("/v1/providers/{provider}/chat/completions"),
    );
    call.pinned = Some(provider);
    handle(st, rid, key.map(|k| k.0), headers, body, call).await
}

/// `POST /v1/messages`
pub async fn messages(
    State(st): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    key: Option<Extension<KeyInfo>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(
        st,
        rid,
        key.map(|k| k.0),
        headers,
        body,
        ClientCall::new(ApiFormat::Anthropic, "/v1/messages"),
    )
    .await
}

/// `POST /v1/responses`
pub async fn responses(
    State(st): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    key: Option<Extension<KeyInfo>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(
        st,
        rid,
        key.map(|k| k.0),
        headers,
        body,
        ClientCall::new(ApiFormat::Responses, "/v1/responses"),
    )
    .await
}

/// `POST /v1beta/models/{model}:{method}` (the model may contain `/`).
pub async fn gemini(
    State(st): State<Arc<AppState>>,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    Extension(rid): Extension<RequestId>,
    key: Option<Extension<KeyInfo>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some((model, method)) = rest.rsplit_once(':') else {
        let e = ApiError::not_found(format!(
            "no route for /v1beta/models/{rest}: expected `{{model}}:generateContent`"
        ))
        .with_code("unknown_route");
        return render(&e, ApiFormat::Gemini);
    };
    let model = model.strip_prefix("models/").unwrap_or(model).to_string();
    let mut call = ClientCall::new(
        ApiFormat::Gemini,
        &format!("/v1beta/models/{model}:{method}"),
    );
    call.alt_sse = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
    call.url_model = Some(model);
    match method {
        "generateContent" => call.url_stream = Some(false),
        "streamGenerateContent" => call.url_stream = Some(true),
        "countTokens" => {
            return count_tokens_common(st, rid, key.map(|k| k.0), headers, body, call).await
        }
        other => {
            let e = ApiError::not_found(format!("unsupported Gemini method `{other}`"))
                .with_code("unknown_route");
            return render(&e, ApiFormat::Gemini);
        }
    }
    handle(st, rid, key.map(|k| k.0), headers, body, call).await
}

/// `POST /v1/messages/count_tokens`: the upstream counts when it speaks Anthropic, else a local
/// estimate.
pub async fn count_tokens(
    State(st): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    key: Option<Extension<KeyInfo>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    count_tokens_common(
        st,
        rid,
        key.map(|k| k.0),
        headers,
        body,
        ClientCall::new(ApiFormat::Anthropic, "/v1/messages/count_tokens"),
    )
    .await
}

async fn count_tokens_common(
    st: Arc<AppState>,
    rid: RequestId,
    key: Option<KeyInfo>,
    headers: HeaderMap,
    body: Body,
    call: ClientCall,
) -> Response {
    let fmt = call.format;
    let snap = st.snapshot.load_full();
    if let Err(mime) = check_json_content_type(&headers) {
        return render(
            &ApiError::new(
                ErrorKind::UnsupportedMediaType,
                format!("Content-Type must be application/json, got `{mime}`"),
            ),
            fmt,
        );
    }
    let bytes = match read_body(body, snap.settings.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return render(&e, fmt),
    };
    let ir = match omniroute_translate::decode_request(fmt, &bytes, call.url_model.as_deref()) {
        Ok(r) => r,
        Err(e) => return render(&ApiError::invalid(e.0).with_code("invalid_request"), fmt),
    };
    // an Anthropic upstream counts exactly
    if fmt == ApiFormat::Anthropic {
        if let Ok((provider, upstream_model, conn)) =
            route::first_candidate(&snap, &ir.model, &rid.0, key.as_ref())
        {
            if provider.format == ApiFormat::Anthropic {
                if let Some(n) =
                    upstream_count(&snap, &provider, &conn, &upstream_model, &bytes, &headers).await
                {
                    return json_response(json!({"input_tokens": n}));
                }
            }
        }
    }
    let n = omniroute_translate::estimate_tokens(&ir);
    match fmt {
        ApiFormat::Gemini => json_response(json!({"totalTokens": n})),
        _ => json_response(json!({"input_tokens": n})),
    }
}

async fn upstream_count(
    snap: &Snapshot,
    provider: &ProviderSpec,
    conn: &LiveConnection,
    upstream_model: &str,
    body: &[u8],
    client_headers: &HeaderMap,
) -> Option<u64> {
    let mut obj: RawObject = serde_json::from_slice(body).ok()?;
    obj.insert(
        "model".into(),
        serde_json::value::to_raw_value(upstream_model).ok()?,
    );
    let out = serde_json::to_vec(&obj).ok()?;
    let url = format!(
        "{}/messages/count_tokens",
        conn.base_url.trim_end_matches('/')
    );
    let builder = upstream_headers(
        http::Request::post(url),
        provider,
        conn,
        false,
        ApiFormat::Anthropic,
        client_headers,
    );
    let req = builder
        .body(http_body_util::Full::new(Bytes::from(out)))
        .ok()?;
    let resp = upstream::send(&snap.http, req, Duration::from_secs(20))
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let b = upstream::read_limited(resp.into_body(), 1024 * 1024, Duration::from_secs(20))
        .await
        .ok()?;
    serde_json::from_slice::<Value>(&b)
        .ok()?
        .get("input_tokens")?
        .as_u64()
}

fn json_response(v: Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
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

/// Headers of an upstream request: content type, accept, the provider's auth style and static
/// headers, and for Anthropic upstreams a default `anthropic-version` plus the client's
/// `anthropic-beta` / `anthropic-version` when the client speaks Anthropic too.
fn upstream_headers(
    mut b: http::request::Builder,
    provider: &ProviderSpec,
    conn: &LiveConnection,
    stream: bool,
    client: ApiFormat,
    client_headers: &HeaderMap,
) -> http::request::Builder {
    b = b.header(header::CONTENT_TYPE, "application/json").header(
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
        b = b.header(name, value);
    }
    for (k, v) in &provider.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    if provider.format == ApiFormat::Anthropic {
        let has_version = provider
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("anthropic-version"));
        if client == ApiFormat::Anthropic {
            for h in ["anthropic-beta", "anthropic-version"] {
                if h == "anthropic-version" && has_version {
                    continue;
                }
                if let Some(v) = client_headers.get(h) {
                    b = b.header(h, v.clone());
                }
            }
        }
        let client_sent_version =
            client == ApiFormat::Anthropic && client_headers.contains_key("anthropic-version");
        if !(has_version || client_sent_version) {
            b = b.header("anthropic-version", "2023-06-01");
        }
    }
    b
}

/// The field holding the conversation, per client format.
fn main_field(format: ApiFormat) -> (&'static str, &'static str) {
    match format {
        ApiFormat::Openai | ApiFormat::Anthropic => ("messages", "an array"),
        ApiFormat::Responses => ("input", "a string or an array"),
        ApiFormat::Gemini => ("contents", "an array"),
    }
}

async fn handle(
    st: Arc<AppState>,
    rid: RequestId,
    key: Option<KeyInfo>,
    headers: HeaderMap,
    body: Body,
    call: ClientCall,
) -> Response {
    let mut ex = Exchange::new(&st, &rid, key.as_ref(), &call);
    let snap = st.snapshot.load_full();
    if snap.otel.is_some() {
        ex.trace = Some(crate::otel::TraceContext::from_traceparent(
            headers.get("traceparent").and_then(|v| v.to_str().ok()),
        ));
    }

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
    let (model, stream) = if call.format == ApiFormat::Gemini {
        (
            call.url_model.clone().unwrap_or_default(),
            call.url_stream.unwrap_or(false),
        )
    } else {
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
                    ApiError::invalid("the `model` field must be a string")
                        .with_code("invalid_model"),
                )
            }
        };
        let stream = match req
            .get("stream")
            .map(|r| serde_json::from_str::<Option<bool>>(r.get()))
        {
            None | Some(Ok(None)) => false,
            Some(Ok(Some(b))) => b,
            Some(Err(_)) => {
                return ex.fail(ApiError::invalid("the `stream` field must be a boolean"))
            }
        };
        (model, stream)
    };
    let (field, shape) = main_field(call.format);
    let main_ok = req.get(field).is_some_and(|m| {
        let s = m.get();
        s.starts_with('[') || (call.format == ApiFormat::Responses && s.starts_with('"'))
    });
    if !main_ok {
        return ex.fail(
            ApiError::invalid(format!("the `{field}` field must be {shape}"))
                .with_code(format!("invalid_{field}")),
        );
    }
    let model = match &call.pinned {
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
    if snap.settings.request_bodies {
        let max = snap.settings.request_body_max_bytes as usize;
        ex.bodies = Some(max);
        ex.row.request_body = Some(crate::redact::for_log(&bytes, max));
    }
    ex.row.user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| {
            ua.chars()
                .take(omniroute_store::USER_AGENT_MAX_CHARS)
                .collect()
        });
    ex.announce();

    if crate::controls::active(&snap.settings) {
        crate::controls::apply_raw(&mut req, call.format, &snap.settings);
    }
    // a key over its budget is refused until the period resets
    if let Some(k) = &key {
        if let Some((b, reset)) = st.budgets.key_exceeded(&k.id, omniroute_store::now_ms()) {
            let secs = (reset - omniroute_store::now_ms()).max(1000) / 1000;
            return ex.fail(
                ApiError::new(
                    ErrorKind::RateLimited,
                    format!(
                        "this key's {} budget of ${:.2} is spent; it resets in {secs} s",
                        b.period.as_str(),
                        b.limit_usd
                    ),
                )
                .with_code("budget_exceeded")
                .with_retry_after(Some(secs.to_string())),
            );
        }
    }
    // the prompt-injection guard sees the turn's new content before anything is sent
    let mut injection_warning = None;
    if let Some(g) = &snap.guard {
        if let Some(f) = g.scan(call.format, &req) {
            match g.mode {
                crate::guard::Mode::Block => {
                    tracing::warn!(request_id = %rid.0, pattern = f.index, "prompt injection blocked");
                    return ex.fail(
                        ApiError::invalid(format!(
                            "the request was blocked by the prompt-injection guard (pattern #{})",
                            f.index
                        ))
                        .with_code("prompt_injection_detected"),
                    );
                }
                crate::guard::Mode::Warn => {
                    tracing::warn!(request_id = %rid.0, pattern = f.index, "possible prompt injection (sent)");
                    injection_warning = Some(f.index);
                }
                crate::guard::Mode::Log => {
                    tracing::info!(request_id = %rid.0, pattern = f.index, "possible prompt injection (sent)");
                }
            }
        }
    }
    // where the request may go (a key limited to some models is checked here, before any
    // cached answer is served)
    let plan = match route::plan(&snap, &model, &rid.0, key.as_ref()) {
        Ok(p) => p,
        Err(e) => return ex.fail(e),
    };
    // idempotent duplicates and cached answers are served without an upstream call
    let tenant = key.as_ref().map(|k| k.id.as_ref());
    let idem = if snap.settings.idempotency_window_ms == 0 {
        reuse::Idem::Run
    } else {
        reuse::idempotency(
            &snap.idempotency,
            &headers,
            tenant,
            &call.path,
            &bytes,
            Duration::from_millis(snap.settings.total_timeout_ms),
        )
        .await
    };
    let guard = match idem {
        reuse::Idem::Run => None,
        reuse::Idem::Lead(g) => Some(g),
        reuse::Idem::Replay(r) => {
            ex.row.cache_hit = Some("IDEMPOTENT".into());
            ex.finish(r.status.as_u16(), None, None);
            let mut resp = reuse::replay(r, "IDEMPOTENT");
            resp.headers_mut().insert(
                "x-omniroute-idempotent-replay",
                HeaderValue::from_static("true"),
            );
            return resp;
        }
        reuse::Idem::Conflict => {
            return ex.fail(
                ApiError::invalid("this Idempotency-Key was already used with a different request")
                    .with_status(409)
                    .with_code("idempotency_conflict"),
            )
        }
    };
    let cache_use = if stream || !snap.settings.cache_enabled || !reuse::deterministic(&req) {
        reuse::CacheUse::Off
    } else if crate::cache::bypass_requested(&headers) {
        ex.row.cache_hit = Some("BYPASS".into());
        reuse::CacheUse::Bypass
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => {
                let scope = reuse::scope(tenant, call.format, &headers, &snap.settings);
                let k = reuse::key(&scope, &model, &v);
                if let Some(hit) = snap.cache.get(&k) {
                    ex.row.cache_hit = Some("HIT".into());
                    ex.finish(200, None, None);
                    return reuse::replay(hit, "HIT");
                }
                let semantic = if snap.cache.semantic_enabled() {
                    let scope = reuse::semantic_scope(&scope, &model, &v);
                    let text = crate::cache::prompt_text(&v);
                    match embed(&snap, &text).await {
                        Some(emb) => {
                            let threshold = snap.settings.semantic_cache_threshold as f32;
                            if let Some(hit) = snap.cache.get_similar(&scope, &emb, threshold) {
                                ex.row.cache_hit = Some("SEMANTIC-HIT".into());
                                ex.finish(200, None, None);
                                return reuse::replay(hit, "SEMANTIC-HIT");
                            }
                            Some((scope, emb))
                        }
                        None => None,
                    }
                } else {
                    None
                };
                ex.row.cache_hit = Some("MISS".into());
                reuse::CacheUse::Miss(k, semantic)
            }
            Err(_) => reuse::CacheUse::Off,
        }
    };

    // `X-OmniRoute-Progress: true` on a stream: answer at once and report each attempt as an
    // `event: progress` (a failure before content then arrives as an error event, not a status)
    let progress_on = stream
        && (call.format != ApiFormat::Gemini || call.alt_sse)
        && headers
            .get("x-omniroute-progress")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let (progress_tx, progress_rx) = if progress_on {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(32);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let client_format = call.format;
    let run = async move {
        let session = route::session_key(&headers, &req, call.format);
        let include_usage = call.format == ApiFormat::Openai
            && req
                .get("stream_options")
                .and_then(|v| serde_json::from_str::<Value>(v.get()).ok())
                .and_then(|v| v.get("include_usage").and_then(Value::as_bool))
                .unwrap_or(false);
        let resp = {
            let r = route::Run {
                ctx: Ctx {
                    snap: &snap,
                    call: &call,
                    req: &req,
                    bytes: &bytes,
                    headers: &headers,
                    model: &model,
                    stream,
                    include_usage,
                    rid: &rid,
                },
                res: &st.resilience,
                res_budgets: st.budgets.clone(),
                session,
                progress: progress_tx,
            };
            let resp = route::run(ex, &r, &plan).await;
            drop(r);
            resp
        };
        reuse::capture(
            resp,
            &snap.cache,
            cache_use,
            guard,
            snap.idempotency_max_bytes,
        )
        .await
    };
    let mut resp = match progress_rx {
        None => run.await,
        Some(rx) => stream::with_progress(client_format, rx, tokio::spawn(run)),
    };
    if let Some(n) = injection_warning {
        if let Ok(v) = HeaderValue::from_str(&format!("pattern {n}")) {
            resp.headers_mut()
                .insert("x-omniroute-injection-warning", v);
        }
    }
    resp
}

/// The committed stream's caps from the settings.
fn stream_cap(snap: &Snapshot) -> stream::StreamCap {
    stream::StreamCap::new(
        Duration::from_millis(snap.settings.max_stream_duration_ms),
        snap.settings.max_stream_bytes,
    )
}

/// `X-OmniRoute-Cost`: the request's cost in USD, when the model has a price.
fn cost_header(r: &mut Response, cost: Option<f64>) {
    if let Some(c) = cost {
        if let Ok(v) = HeaderValue::from_str(&format!("{c:.8}")) {
            r.headers_mut().insert("x-omniroute-cost", v);
        }
    }
}

/// The embedding of `text` through the semantic cache's embeddings model (an OpenAI-format
/// provider), or `None` when it is unavailable (the semantic tier is then skipped).
async fn embed(snap: &Snapshot, text: &str) -> Option<Vec<f32>> {
    if text.trim().is_empty() {
        return None;
    }
    let name = snap.settings.semantic_cache_model.trim();
    let Ok(omniroute_routing::Resolution::Provider { provider, model }) =
        snap.resolver.resolve(name, |p| snap.usable(p))
    else {
        tracing::warn!(
            model = name,
            "semantic cache: the embeddings model does not resolve to one provider"
        );
        return None;
    };
    if provider.format != ApiFormat::Openai {
        tracing::warn!(
            model = name,
            "semantic cache: the embeddings model must be on an OpenAI-format provider"
        );
        return None;
    }
    let conn = snap.connections.get(&provider.id)?.first()?.clone();
    let url = format!("{}/embeddings", conn.base_url.trim_end_matches('/'));
    let body = serde_json::to_vec(&json!({"model": model, "input": text})).ok()?;
    let mut b = http::Request::post(url).header(header::CONTENT_TYPE, "application/json");
    if let Some((n, v)) = auth_headers(provider.auth, conn.secret.as_ref().map(|s| s.expose())) {
        b = b.header(n, v);
    }
    let req = b.body(http_body_util::Full::new(Bytes::from(body))).ok()?;
    let resp = upstream::send(&snap.http, req, Duration::from_secs(10))
        .await
        .ok()?;
    if !resp.status().is_success() {
        tracing::warn!(
            status = resp.status().as_u16(),
            "semantic cache: embeddings call failed"
        );
        return None;
    }
    let b = upstream::read_limited(resp.into_body(), 16 * 1024 * 1024, Duration::from_secs(10))
        .await
        .ok()?;
    let v: Value = serde_json::from_slice(&b).ok()?;
    let emb = v.pointer("/data/0/embedding")?.as_array()?;
    emb.iter().map(|x| x.as_f64().map(|f| f as f32)).collect()
}

/// Everything one attempt needs from the client's request.
struct Ctx<'a> {
    snap: &'a Snapshot,
    call: &'a ClientCall,
    req: &'a RawObject,
    bytes: &'a Bytes,
    headers: &'a HeaderMap,
    /// The model name as the client asked for it (what translated responses report).
    model: &'a str,
    stream: bool,
    include_usage: bool,
    rid: &'a RequestId,
}

/// The pass-through body: the client's top-level fields byte for byte, `model` replaced.
fn passthrough_body(req: &RawObject, model: Option<&str>, size_hint: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size_hint + 64);
    out.push(b'{');
    let mut first = true;
    for (k, v) in req {
        if !first {
            out.push(b',');
        }
        first = false;
        // a key is a plain string: serializing it cannot fail
        let _ = serde_json::to_writer(&mut out, k);
        out.push(b':');
        match model {
            Some(m) if k == "model" => {
                let _ = serde_json::to_writer(&mut out, m);
            }
            _ => out.extend_from_slice(v.get().as_bytes()),
        }
    }
    out.push(b'}');
    out
}

/// One upstream attempt. On failure the exchange is handed back with what went wrong, so the
/// caller can try the next candidate; on success the response (or the stream) owns it.
async fn attempt(
    mut ex: Exchange,
    ctx: &Ctx<'_>,
    cand: &route::Candidate<'_>,
    time_left: Duration,
) -> Result<Response, (Exchange, Failure)> {
    let (snap, call) = (ctx.snap, ctx.call);
    let (provider, conn, upstream_model) = (cand.provider, cand.conn, cand.model);
    let deadline = Instant::now() + time_left;
    let stream = ctx.stream;
    let passthrough =
        provider.format == call.format && !provider.normalize && !provider.system_as_user;

    let out = if passthrough {
        let model = (call.format != ApiFormat::Gemini).then_some(upstream_model);
        passthrough_body(ctx.req, model, ctx.bytes.len())
    } else {
        let mut ir =
            match omniroute_translate::decode_request(call.format, ctx.bytes, Some(ctx.model)) {
                Ok(r) => r,
                Err(e) => {
                    return Err((
                        ex,
                        Failure::new(
                            ApiError::invalid(format!("invalid {} request: {e}", call.format))
                                .with_code("invalid_request"),
                            FailKind::Client,
                        ),
                    ))
                }
            };
        ir.stream = stream;
        if crate::controls::active(&snap.settings) {
            crate::controls::apply_ir(&mut ir, &snap.settings);
        }
        let encoded = omniroute_translate::encode_request(provider.format, &mut ir, upstream_model);
        for w in &ir.warnings {
            tracing::info!(request_id = %ctx.rid.0, from = %call.format, to = %provider.format, "translation: {w}");
        }
        let (value, warnings) = match encoded {
            Ok(v) => v,
            Err(e) => {
                return Err((
                    ex,
                    Failure::new(
                        ApiError::invalid(format!(
                            "this request cannot be sent to provider `{}` ({} format): {e}",
                            provider.id, provider.format
                        ))
                        .with_code("untranslatable_request"),
                        FailKind::Untranslatable,
                    ),
                ))
            }
        };
        for w in &warnings {
            tracing::info!(request_id = %ctx.rid.0, from = %call.format, to = %provider.format, "translation: {w}");
        }
        match serde_json::to_vec(&value) {
            Ok(v) => v,
            Err(e) => {
                return Err((
                    ex,
                    Failure::local(ApiError::internal(format!(
                        "could not encode the upstream request: {e}"
                    ))),
                ))
            }
        }
    };

    let Some(uri) = upstream_uri(provider, conn, upstream_model, stream, passthrough, call) else {
        return Err((
            ex,
            Failure::local(ApiError::internal(format!(
                "invalid upstream URL for provider `{}`",
                provider.id
            ))),
        ));
    };
    let builder = upstream_headers(
        http::Request::post(uri),
        provider,
        conn,
        stream,
        call.format,
        ctx.headers,
    );
    if let Some(tap) = &call.tap {
        tap.sent(provider, upstream_model, &uri_of(&builder), &out);
    }
    ex.sending_upstream(&out);
    let Ok(upstream_req) = builder.body(http_body_util::Full::new(Bytes::from(out))) else {
        return Err((
            ex,
            Failure::local(ApiError::internal(format!(
                "provider `{}` has an invalid header or credential",
                provider.id
            ))),
        ));
    };

    let first_byte = Duration::from_millis(snap.settings.first_byte_timeout_ms).min(time_left);
    let idle = Duration::from_millis(snap.settings.idle_timeout_ms);
    let resp = match upstream::send(&snap.http, upstream_req, first_byte).await {
        Ok(r) => r,
        Err(e) => return Err((ex, send_failure(e, &provider.id, first_byte))),
    };
    ex.row.ttfb_ms = Some(ex.elapsed_ms());
    // an attempt's latency (until the upstream's response headers) and where it went out
    if let Some(a) = ex.row.attempts_detail.last_mut() {
        if let Some(t) = ex.attempt_times.last() {
            a.latency_ms = ex.start.elapsed().saturating_sub(t.start).as_millis() as i64;
        }
        if let Some(info) = resp
            .extensions()
            .get::<hyper_util::client::legacy::connect::HttpInfo>()
        {
            a.remote = Some(info.remote_addr().to_string());
            a.egress = Some(info.local_addr().ip().to_string());
        }
    }
    let status = resp.status();
    if !status.is_success() {
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let reset_ms = failure::rate_limit_reset(resp.headers());
        let body = upstream::read_limited(resp.into_body(), MAX_ERROR_BODY, idle)
            .await
            .unwrap_or_default();
        if let Some(tap) = &call.tap {
            tap.answered(status.as_u16(), &body);
        }
        ex.capture_upstream(&body);
        let err = upstream_status_error(&provider.id, status.as_u16(), &body, retry_after.clone());
        return Err((
            ex,
            Failure::new(
                err,
                FailKind::Status {
                    status: status.as_u16(),
                    body,
                    retry_after,
                    reset_ms,
                },
            ),
        ));
    }
    let is_sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));

    if stream {
        let json_array = call.format == ApiFormat::Gemini && !call.alt_sse;
        if passthrough && (is_sse || json_array) {
            let cap = stream_cap(snap);
            return stream::passthrough_stream(ex, resp, idle, is_sse, deadline, cap).await;
        }
        if !is_sse {
            let body = upstream::read_limited(resp.into_body(), MAX_ERROR_BODY, idle)
                .await
                .unwrap_or_default();
            let msg = ApiError::upstream_message(&body)
                .unwrap_or_else(|| "the provider did not stream its response".into());
            return Err((
                ex,
                Failure::new(
                    ApiError::new(
                        ErrorKind::BadGateway,
                        format!("provider `{}`: {msg}", provider.id),
                    )
                    .with_code("upstream_error"),
                    FailKind::ErrorInBody(body),
                ),
            ));
        }
        let opts = EncoderOptions {
            include_usage: ctx.include_usage,
            json_array,
        };
        let tr = StreamTranslator::new(provider.format, call.format, ctx.model, &opts);
        let cap = stream_cap(snap);
        return stream::translated_stream(ex, resp, idle, tr, json_array, deadline, cap).await;
    }

    let left = deadline.saturating_duration_since(Instant::now());
    let read = tokio::time::timeout(
        left,
        upstream::read_limited(resp.into_body(), MAX_UPSTREAM_BODY, idle),
    )
    .await
    .unwrap_or_else(|_| {
        Err(
            ApiError::new(ErrorKind::Timeout, "the provider's response took too long")
                .with_code("upstream_timeout"),
        )
    });
    let body = match read {
        Ok(b) => b,
        Err(e) => {
            let kind = if e.kind == ErrorKind::Timeout {
                FailKind::Timeout
            } else {
                FailKind::Broken
            };
            return Err((ex, Failure::new(e, kind)));
        }
    };
    if let Some(tap) = &call.tap {
        tap.answered(status.as_u16(), &body);
    }
    ex.capture_upstream(&body);
    if passthrough {
        let peek: ResponsePeek = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return Err((ex, invalid_json(&provider.id))),
        };
        if let Some(err) = peek.error.filter(|e| !e.is_null()) {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| err.as_str())
                .unwrap_or("unknown error");
            let e = ApiError::new(
                ErrorKind::BadGateway,
                format!("provider `{}` returned an error: {msg}", provider.id),
            )
            .with_code("upstream_error");
            return Err((ex, Failure::new(e, FailKind::ErrorInBody(body))));
        }
        let usage = peek.usage.as_ref().and_then(Usage::from_usage).or_else(|| {
            peek.usage_metadata
                .map(|u| json!({"usageMetadata": u}))
                .as_ref()
                .and_then(Usage::from_value)
        });
        ex.capture(&body);
        ex.finish(200, None, usage);
        let mut r = Response::new(Body::from(body));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        cost_header(&mut r, ex.cost);
        return Ok(r);
    }
    match omniroute_translate::translate_response_bytes(
        provider.format,
        call.format,
        &body,
        ctx.model,
    ) {
        Ok((v, usage)) => {
            ex.capture(&v);
            ex.finish(200, None, log_usage(&usage));
            let mut r = Response::new(Body::from(v));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            cost_header(&mut r, ex.cost);
            Ok(r)
        }
        Err(e) => {
            if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
                return Err((ex, invalid_json(&provider.id)));
            }
            let err = ApiError::new(
                ErrorKind::BadGateway,
                format!(
                    "provider `{}` returned an unusable response: {e}",
                    provider.id
                ),
            )
            .with_code("upstream_error");
            Err((ex, Failure::new(err, FailKind::ErrorInBody(body))))
        }
    }
}

/// The upstream URL: the connection's pre-parsed chat URL for OpenAI upstreams, the client's own
/// Gemini method (and `alt`) for Gemini pass-through, the native endpoint otherwise.
/// The URI a request builder was given (for the tester's record).
fn uri_of(b: &http::request::Builder) -> http::Uri {
    b.uri_ref().cloned().unwrap_or_default()
}

fn upstream_uri(
    provider: &ProviderSpec,
    conn: &LiveConnection,
    model: &str,
    stream: bool,
    passthrough: bool,
    call: &ClientCall,
) -> Option<http::Uri> {
    if provider.format == ApiFormat::Openai {
        if let Some(u) = &conn.chat_url {
            return Some(u.clone());
        }
    }
    let url = if passthrough && call.format == ApiFormat::Gemini && stream {
        let base = conn.base_url.trim_end_matches('/');
        let alt = if call.alt_sse { "?alt=sse" } else { "" };
        format!("{base}/models/{model}:streamGenerateContent{alt}")
    } else {
        endpoint_url(
            provider.format,
            &conn.base_url,
            model,
            Operation::Generate { stream },
        )
    };
    url.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::failure::{parse_reset, parse_retry_after, parse_rfc3339_ms, status_in_body};
    use super::route::session_key;
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
    fn reset_and_retry_after_headers() {
        assert_eq!(parse_retry_after("7"), Some(7000));
        assert_eq!(parse_retry_after("1.5"), Some(1500));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(0),
            "past dates are now"
        );
        assert_eq!(parse_reset("1m30s"), Some(90_000));
        assert_eq!(parse_reset("6s"), Some(6000));
        assert_eq!(parse_reset("250ms"), Some(250));
        assert_eq!(parse_reset("1h2m"), Some(3_720_000));
        assert_eq!(parse_reset("20"), Some(20_000));
        assert_eq!(parse_reset("soon"), None);
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(
            parse_rfc3339_ms("2026-11-22T00:00:00.5Z"),
            Some(1_795_305_600_500)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-22T01:00:00+01:00"),
            Some(1_795_305_600_000)
        );
        let future = crate::resilience::now() / 1000 + 30;
        let ms = parse_reset(&future.to_string()).unwrap();
        assert!((28_000..=30_000).contains(&ms), "{ms}");
        // epoch milliseconds (OpenRouter) are not mistaken for seconds
        let future_ms = crate::resilience::now() + 30_000;
        let ms = parse_reset(&future_ms.to_string()).unwrap();
        assert!((28_000..=30_000).contains(&ms), "{ms}");
        assert!(parse_reset(&u64::MAX.to_string()).is_some(), "no overflow");
    }

    #[test]
    fn passthrough_body_replaces_only_the_model() {
        let req: RawObject =
            serde_json::from_str(r#"{"model":"a/b","x":{"k":[1, 2]},"s":"\u00e9"}"#).unwrap();
        let out = passthrough_body(&req, Some("b"), 10);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"model":"b","x":{"k":[1, 2]},"s":"\u00e9"}"#
        );
        let out = passthrough_body(&req, None, 10);
        assert!(out.starts_with(br#"{"model":"a/b""#));
    }

    #[test]
    fn session_keys() {
        let mut h = HeaderMap::new();
        let req: RawObject = serde_json::from_str(r#"{"prompt_cache_key":"abc"}"#).unwrap();
        assert_eq!(
            session_key(&h, &req, ApiFormat::Responses),
            Some(omniroute_routing::stable_key("abc"))
        );
        let req: RawObject =
            serde_json::from_str(r#"{"metadata":{"user_id":"user_1_session_2"}}"#).unwrap();
        assert_eq!(
            session_key(&h, &req, ApiFormat::Anthropic),
            Some(omniroute_routing::stable_key("user_1_session_2"))
        );
        h.insert("x-session-id", HeaderValue::from_static("s1"));
        assert_eq!(
            session_key(&h, &req, ApiFormat::Anthropic),
            Some(omniroute_routing::stable_key("s1"))
        );
        let empty: RawObject = serde_json::from_str("{}").unwrap();
        assert_eq!(
            session_key(&HeaderMap::new(), &empty, ApiFormat::Openai),
            None
        );
    }

    #[test]
    fn errors_inside_a_200_name_their_status() {
        assert_eq!(
            status_in_body(br#"{"error":{"code":429,"message":"slow"}}"#),
            Some(429)
        );
        assert_eq!(
            status_in_body(br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}"#),
            Some(429)
        );
        assert_eq!(
            status_in_body(br#"{"type":"error","error":{"type":"overloaded_error"}}"#),
            Some(529)
        );
        assert_eq!(status_in_body(br#"{"error":{"message":"?"}}"#), None);
        assert_eq!(status_in_body(b"not json"), None);
        use omniroute_routing::Outcome;
        let f = Failure::new(
            ApiError::internal("x"),
            FailKind::ErrorInBody(Bytes::from_static(
                br#"{"error":{"code":429,"message":"Rate limit reached","status":"RESOURCE_EXHAUSTED"}}"#,
            )),
        );
        assert_eq!(f.classify("gemini").outcome, Outcome::RateLimited);
        let f = Failure::new(
            ApiError::internal("x"),
            FailKind::ErrorInBody(Bytes::from_static(br#"{"error":{"message":"boom"}}"#)),
        );
        assert_eq!(f.classify("openai").outcome, Outcome::ErrorInBody);
    }

    #[test]
    fn quota_lockouts_ignore_short_reset_hints() {
        use omniroute_routing::Outcome;
        let quota = Failure::new(
            ApiError::internal("x"),
            FailKind::Status {
                status: 429,
                body: Bytes::from_static(
                    br#"{"error":{"code":"insufficient_quota","message":"You exceeded your current quota"}}"#,
                ),
                retry_after: None,
                reset_ms: Some(6_000),
            },
        );
        let c = quota.classify("openai");
        assert_eq!(c.outcome, Outcome::QuotaExhausted);
        assert_eq!(c.retry_after_ms, None, "the 1 h quota lockout stands");
        let limited = Failure::new(
            ApiError::internal("x"),
            FailKind::Status {
                status: 429,
                body: Bytes::from_static(br#"{"error":{"message":"Rate limit reached"}}"#),
                retry_after: None,
                reset_ms: Some(6_000),
            },
        );
        assert_eq!(limited.classify("openai").retry_after_ms, Some(6_000));
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
