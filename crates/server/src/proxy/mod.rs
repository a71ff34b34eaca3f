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
use crate::upstream::{self, SendError};

mod reuse;
mod stream;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use axum::Extension;
use bytes::Bytes;
use omniroute_protocol::usage::Usage;
use omniroute_protocol::{ApiError, ApiFormat, ErrorKind};
use omniroute_providers::upstream::{auth_headers, endpoint_url, Operation};
use omniroute_providers::ProviderSpec;
use omniroute_routing::{Action, ResolveError};
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
type RawObject = indexmap::IndexMap<String, Box<serde_json::value::RawValue>>;

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
                ..Default::default()
            },
            format: call.format,
            start: Instant::now(),
            done: false,
            permit: None,
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
        "countTokens" => return count_tokens_common(st, rid, headers, body, call).await,
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
    headers: HeaderMap,
    body: Body,
) -> Response {
    count_tokens_common(
        st,
        rid,
        headers,
        body,
        ClientCall::new(ApiFormat::Anthropic, "/v1/messages/count_tokens"),
    )
    .await
}

async fn count_tokens_common(
    st: Arc<AppState>,
    rid: RequestId,
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
            route(&snap, &st.resilience, &ir.model, &rid.0)
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

/// One upstream attempt candidate: a provider, the model id it gets, and a connection.
pub(crate) struct Candidate {
    pub provider: Arc<ProviderSpec>,
    pub model: String,
    pub conn: Arc<LiveConnection>,
    /// Index of the combo step this came from (0 for a plain model).
    pub step: usize,
}

/// Every candidate for `model`, in the order they are tried: the combo's steps in the order of
/// its strategy, each with its provider's enabled connections in the order of the account
/// strategy (a session's connection first while it is healthy). Unavailable candidates stay in
/// the plan; the attempt loop skips them without calling the upstream.
fn plan(
    snap: &Snapshot,
    res: &crate::resilience::Resilience,
    model: &str,
    rid: &str,
    session: Option<u64>,
) -> Result<Vec<Candidate>, ApiError> {
    use omniroute_routing::{order, stable_key, Candidate as Cand, Strategy};
    let usable = |p: &str| snap.usable(p);
    let exp = snap.resolver.expand(model, usable).map_err(resolve_error)?;
    for sk in &exp.skipped {
        tracing::warn!(request_id = rid, step = %sk.step, reason = ?sk.reason, "combo step skipped");
    }
    if exp.steps.is_empty() {
        return Err(ApiError::invalid(format!(
            "`{model}` has no routable step: every step is unknown or disabled"
        ))
        .with_code("no_routable_step"));
    }
    let now = crate::resilience::now();
    let mut rng = rand::thread_rng();
    let combo = exp.steps[0].path.first().cloned();
    let step_order: Vec<usize> = match &combo {
        Some(name) if exp.steps.len() > 1 => {
            let strategy = snap
                .resolver
                .combo(name)
                .and_then(|c| c.strategy)
                .unwrap_or(snap.combo_strategy);
            let rot = snap.rotations.get(&format!("c:{name}"));
            match (strategy, rot) {
                (Strategy::Priority, _) | (_, None) => (0..exp.steps.len()).collect(),
                (strategy, Some(rot)) => {
                    let cands: Vec<Cand> = exp
                        .steps
                        .iter()
                        .map(|st| {
                            let health = snap
                                .connections
                                .get(&st.provider.id)
                                .and_then(|c| c.first())
                                .map(|c| c.health.as_ref());
                            let mut c = Cand::new(stable_key(&st.model), health);
                            c.weight = st.weight;
                            c.priority = st.entry as i64;
                            c.model = Some(st.model.as_str());
                            c
                        })
                        .collect();
                    order(strategy, &cands, rot, None, now, &mut rng)
                }
            }
        }
        _ => (0..exp.steps.len()).collect(),
    };
    let first = exp.steps[0].provider.id.clone();
    let mut out = Vec::new();
    for (rank, &si) in step_order.iter().enumerate() {
        let Some(st) = exp.steps.get(si) else {
            continue;
        };
        let Some(conns) = snap.connections.get(&st.provider.id) else {
            continue;
        };
        let strategy = snap.account_strategy(&st.provider.id);
        let group = stable_key(&st.provider.id);
        let sticky = session.and_then(|s| res.affinity.lookup(s, group, now));
        let rot = snap.rotations.get(&format!("p:{}", st.provider.id));
        let conn_order: Vec<usize> = match (conns.len(), strategy, sticky, rot) {
            (1, ..) | (_, Strategy::Priority, None, _) | (_, _, _, None) => {
                (0..conns.len()).collect()
            }
            (_, strategy, sticky, Some(rot)) => {
                let cands: Vec<Cand> = conns
                    .iter()
                    .map(|c| {
                        let mut k = Cand::new(c.key, Some(c.health.as_ref()));
                        k.priority = c.priority;
                        k.model = Some(st.model.as_str());
                        k
                    })
                    .collect();
                order(strategy, &cands, rot, sticky, now, &mut rng)
            }
        };
        for ci in conn_order {
            if let Some(conn) = conns.get(ci) {
                out.push(Candidate {
                    provider: st.provider.clone(),
                    model: st.model.clone(),
                    conn: conn.clone(),
                    step: rank,
                });
            }
        }
    }
    if out.is_empty() {
        // a configuration problem, not a transient one: 400 so clients do not retry forever
        return Err(ApiError::invalid(format!(
            "provider `{first}` has no enabled connection: add one with POST /api/connections or in the config file"
        ))
        .with_code("provider_not_configured"));
    }
    Ok(out)
}

/// The first candidate for `model` (count_tokens asks the upstream only once).
fn route(
    snap: &Snapshot,
    res: &crate::resilience::Resilience,
    model: &str,
    rid: &str,
) -> Result<(Arc<ProviderSpec>, String, Arc<LiveConnection>), ApiError> {
    let c = plan(snap, res, model, rid, None)?.into_iter().next();
    c.map(|c| (c.provider, c.model, c.conn))
        .ok_or_else(|| ApiError::internal("empty plan"))
}

/// What went wrong in one attempt, as the fallback decision needs it.
#[derive(Debug)]
pub(crate) enum FailKind {
    /// The upstream answered with an error status.
    Status {
        status: u16,
        body: Bytes,
        retry_after: Option<String>,
        /// A provider rate-limit reset header, when present.
        reset: Option<String>,
    },
    /// No answer (or no next chunk) in time.
    Timeout,
    /// The connection could not be established.
    Connect,
    /// The connection broke.
    Broken,
    /// HTTP 200 carrying an error (body or stream event).
    ErrorInBody(Bytes),
    /// A stream that ended without content.
    EmptyStream,
    /// Not valid JSON / not the expected shape.
    Invalid,
    /// The client's request itself is invalid.
    Client,
    /// The request cannot be expressed in this provider's format.
    Untranslatable,
    /// Our own failure preparing this attempt.
    Local,
}

/// A failure's classification.
struct Classified {
    outcome: omniroute_routing::Outcome,
    scope: omniroute_routing::CooldownScope,
    retry_after_ms: Option<u64>,
}

/// `Retry-After`: delta seconds or an HTTP date, as milliseconds from now.
fn parse_retry_after(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs >= 0.0).then_some((secs * 1000.0) as u64);
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let ms = at
        .duration_since(std::time::SystemTime::now())
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Some(ms)
}

/// A provider's rate-limit reset header as milliseconds from now: OpenAI durations (`1m30s`,
/// `6s`, `250ms`), Anthropic RFC 3339 timestamps, or epoch seconds.
fn parse_reset(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(n) = v.parse::<u64>() {
        // epoch seconds (far in the future relative to a duration) or plain seconds
        let now_s = crate::resilience::now() / 1000;
        return Some(if n > 1_000_000_000 {
            n.saturating_sub(now_s) * 1000
        } else {
            n * 1000
        });
    }
    if v.contains('T') {
        let at = parse_rfc3339_ms(v)?;
        return Some(at.saturating_sub(crate::resilience::now()));
    }
    // Go-style durations: sequences of <number><unit>
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = v.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        let unit_ms = match c {
            'h' => 3_600_000.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1.0
            }
            'm' => 60_000.0,
            's' => 1000.0,
            _ => return None,
        };
        total += n * unit_ms;
        any = true;
    }
    (any && num.is_empty()).then_some(total as u64)
}

/// `2026-11-22T01:02:03Z` / with fraction / with `+hh:mm` offset → epoch milliseconds.
fn parse_rfc3339_ms(v: &str) -> Option<u64> {
    let (date, time) = v.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, mo, da) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (clock, offset_s) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0i64)
    } else if let Some(pos) = time.rfind(['+', '-']) {
        let (c, off) = time.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let mut parts = off[1..].split(':').map(|x| x.parse::<i64>());
        let (oh, om) = (parts.next()?.ok()?, parts.next().unwrap_or(Ok(0)).ok()?);
        (c, sign * (oh * 3600 + om * 60))
    } else {
        (time, 0)
    };
    let mut t = clock.split(':');
    let (h, mi) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    // days from civil (Howard Hinnant's algorithm)
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 - offset_s;
    let ms = secs as f64 * 1000.0 + sec * 1000.0;
    (ms >= 0.0).then_some(ms as u64)
}

pub(crate) struct Failure {
    pub err: ApiError,
    pub kind: FailKind,
}

impl Failure {
    pub(crate) fn new(err: ApiError, kind: FailKind) -> Self {
        Self { err, kind }
    }

    fn local(err: ApiError) -> Self {
        Self::new(err, FailKind::Local)
    }

    /// What this failure means for fallback and for the target's health.
    fn classify(&self, provider: &str) -> Classified {
        use omniroute_routing::{classify_detailed, CooldownScope, Outcome};
        let simple = |outcome| Classified {
            outcome,
            scope: CooldownScope::Connection,
            retry_after_ms: None,
        };
        match &self.kind {
            FailKind::Status {
                status,
                body,
                retry_after,
                reset,
            } => {
                let mut h: Vec<(&str, &str)> = Vec::new();
                if let Some(r) = retry_after {
                    h.push(("retry-after", r.as_str()));
                }
                let c = classify_detailed(provider, Some(*status), h.as_slice(), body);
                let retry_after_ms = retry_after
                    .as_deref()
                    .and_then(parse_retry_after)
                    .or_else(|| reset.as_deref().and_then(parse_reset))
                    .or_else(|| omniroute_routing::classify::gemini_retry_delay(body));
                Classified {
                    outcome: c.outcome,
                    scope: c.scope,
                    retry_after_ms,
                }
            }
            FailKind::Timeout => simple(Outcome::Timeout),
            FailKind::Connect => simple(Outcome::ConnectError),
            FailKind::Broken | FailKind::Local => simple(Outcome::ServerError),
            FailKind::ErrorInBody(body) => {
                // an HTTP 200 that says the quota is gone is a quota error
                let c = classify_detailed(provider, Some(429), &[][..], body);
                if c.outcome == Outcome::QuotaExhausted {
                    Classified {
                        outcome: c.outcome,
                        scope: c.scope,
                        retry_after_ms: None,
                    }
                } else {
                    simple(Outcome::ErrorInBody)
                }
            }
            FailKind::Invalid => simple(Outcome::ErrorInBody),
            FailKind::EmptyStream => simple(Outcome::EmptyStream),
            FailKind::Client | FailKind::Untranslatable => simple(Outcome::ClientError),
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

    let controls_on = crate::controls::active(&snap.settings);
    if controls_on {
        crate::controls::apply_raw(&mut req, call.format, &snap.settings);
    }
    // idempotent duplicates and cached answers are served without an upstream call
    let tenant = key.as_ref().map(|k| k.id.as_ref());
    let idem = if snap.settings.idempotency_window_ms == 0 {
        reuse::Idem::Run
    } else {
        reuse::idempotency(&snap.idempotency, &headers, tenant, &call.path, &bytes).await
    };
    let guard = match idem {
        reuse::Idem::Run => None,
        reuse::Idem::Lead(g) => Some(g),
        reuse::Idem::Replay(r) => {
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
        reuse::CacheUse::Bypass
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => {
                let k = reuse::key(tenant, call.format, &model, &v);
                if let Some(hit) = snap.cache.get(&k) {
                    ex.finish(200, None, None);
                    return reuse::replay(hit, "HIT");
                }
                let semantic = if snap.cache.semantic_enabled() {
                    let scope = reuse::semantic_scope(tenant, call.format, &model, &v);
                    let text = crate::cache::prompt_text(&v);
                    match embed(&snap, &text).await {
                        Some(emb) => {
                            let threshold = snap.settings.semantic_cache_threshold as f32;
                            if let Some(hit) = snap.cache.get_similar(&scope, &emb, threshold) {
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
        let resp: Response = 'run: {
            let session = session_key(&headers, &req, call.format);
            let res = st.resilience.clone();
            let plan = match plan(&snap, &res, &model, &rid.0, session) {
                Ok(p) => p,
                Err(e) => break 'run ex.fail(e),
            };
            let include_usage = call.format == ApiFormat::Openai
                && req
                    .get("stream_options")
                    .and_then(|v| serde_json::from_str::<Value>(v.get()).ok())
                    .and_then(|v| v.get("include_usage").and_then(Value::as_bool))
                    .unwrap_or(false);
            let ctx = Ctx {
                snap: &snap,
                call: &call,
                req: &req,
                bytes: &bytes,
                headers: &headers,
                model: &model,
                stream,
                include_usage,
                rid: &rid,
            };
            let max_attempts = snap.settings.max_attempts.max(1) as usize;
            let alone = plan.len() == 1;
            let deadline = Instant::now() + Duration::from_millis(snap.settings.total_timeout_ms);
            let slot_wait = Duration::from_millis(snap.settings.rate_limit_wait_ms);
            let mut last: Option<Failure> = None;
            let mut attempts = 0usize;
            let mut skip_step: Option<usize> = None;
            // the earliest moment a skipped (cooling, open-circuit) candidate becomes available
            let mut blocked_until: Option<u64> = None;
            let mut local_limited = false;
            // whether a skipped candidate had an open circuit (else they were all cooling down)
            let mut circuit_open = false;
            for cand in &plan {
                if skip_step == Some(cand.step) {
                    continue;
                }
                if attempts >= max_attempts {
                    break;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let now = crate::resilience::now();
                let pbreaker = snap.provider_breakers.get(&cand.provider.id);
                let p_adm = match pbreaker.map(|b| b.admit(now)) {
                    Some(omniroute_routing::Admission::Rejected { until }) => {
                        circuit_open = true;
                        blocked_until = Some(blocked_until.map_or(until, |b| b.min(until)));
                        continue;
                    }
                    other => other,
                };
                let abandon_provider = |adm: Option<omniroute_routing::Admission>| {
                    if let (Some(b), Some(a)) = (pbreaker, adm) {
                        b.abandon(a);
                    }
                };
                // with no alternative, a cooldown would only hide the upstream's own answer
                let begun = if alone {
                    cand.conn.health.begin_past_cooldown(now)
                } else {
                    cand.conn.health.try_begin(now, Some(&cand.model))
                };
                let att = match begun {
                    Ok(a) => a,
                    Err(until) => {
                        abandon_provider(p_adm);
                        if cand.conn.health.breaker.blocked_until(now).is_some() {
                            circuit_open = true;
                        }
                        blocked_until = Some(blocked_until.map_or(until, |b| b.min(until)));
                        continue;
                    }
                };
                let permit = match acquire_slot(&cand.conn.health.limiter, slot_wait.min(left))
                    .await
                {
                    Some(p) => p,
                    None => {
                        abandon_provider(p_adm);
                        drop(att);
                        local_limited = true;
                        tracing::info!(request_id = %rid.0, connection = %cand.conn.id, "connection at its rate limit: trying the next one");
                        continue;
                    }
                };
                attempts += 1;
                if let Some(tx) = &progress_tx {
                    let ev = json!({"type": "progress", "attempt": attempts, "provider": cand.provider.id, "model": cand.model, "status": "trying"});
                    let _ = tx
                        .send(omniroute_protocol::sse::encode(
                            Some("progress"),
                            &ev.to_string(),
                        ))
                        .await;
                }
                ex.row.attempts = attempts as i64;
                ex.row.provider = Some(cand.provider.id.clone());
                ex.row.connection_id = Some(cand.conn.id.clone());
                ex.row.upstream_model = Some(cand.model.clone());
                ex.permit = Some(permit);
                let started = Instant::now();
                let result = attempt(ex, &ctx, cand, left).await;
                let now = crate::resilience::now();
                let latency = Some(started.elapsed().as_millis() as u64);
                match result {
                    Ok(mut resp) => {
                        let report = omniroute_routing::Report {
                            latency_ms: latency,
                            ..omniroute_routing::Report::new(
                                omniroute_routing::Outcome::Success,
                                omniroute_routing::CooldownScope::Connection,
                                Some(&cand.model),
                            )
                        };
                        att.finish(now, &report, &mut rand::thread_rng());
                        if let (Some(b), Some(a)) = (pbreaker, p_adm) {
                            b.on_success(now, a);
                        }
                        if let Some(s) = session {
                            let group = omniroute_routing::stable_key(&cand.provider.id);
                            res.affinity.remember(s, group, cand.conn.key, now);
                        }
                        outcome_headers(resp.headers_mut(), Some(cand), attempts);
                        break 'run resp;
                    }
                    Err((mut back, failure)) => {
                        back.permit = None;
                        ex = back;
                        let class = failure.classify(&cand.provider.id);
                        let report = omniroute_routing::Report {
                            retry_after: class.retry_after_ms,
                            latency_ms: latency,
                            ..omniroute_routing::Report::new(
                                class.outcome,
                                class.scope,
                                Some(&cand.model),
                            )
                        };
                        let cooled = att.finish(now, &report, &mut rand::thread_rng());
                        if let (Some(b), Some(a)) = (pbreaker, p_adm) {
                            if class.outcome.policy().counts_for_breaker {
                                b.on_failure(now, a);
                            } else {
                                b.on_success(now, a);
                            }
                        }
                        if let Some(tx) = &progress_tx {
                            let ev = json!({"type": "progress", "attempt": attempts, "provider": cand.provider.id, "model": cand.model, "status": "failed", "outcome": class.outcome.as_str()});
                            let _ = tx
                                .send(omniroute_protocol::sse::encode(
                                    Some("progress"),
                                    &ev.to_string(),
                                ))
                                .await;
                        }
                        let action = if matches!(failure.kind, FailKind::Untranslatable) {
                            Action::NextStep
                        } else {
                            class.outcome.policy().action
                        };
                        tracing::warn!(
                            request_id = %rid.0,
                            provider = %cand.provider.id,
                            connection = %cand.conn.id,
                            model = %cand.model,
                            attempt = attempts,
                            outcome = %class.outcome,
                            cooldown_until = cooled,
                            error = %failure.err.message,
                            ?action,
                            "attempt failed"
                        );
                        match action {
                            Action::Return => {
                                let mut r = ex.fail(failure.err);
                                outcome_headers(r.headers_mut(), Some(cand), attempts);
                                break 'run r;
                            }
                            Action::NextStep => skip_step = Some(cand.step),
                            Action::NextAccount => {}
                        }
                        last = Some(failure);
                    }
                }
            }
            let err = match (last, blocked_until) {
                (Some(f), _) => f.err,
                (None, Some(until)) => {
                    let secs = until
                        .saturating_sub(crate::resilience::now())
                        .div_ceil(1000)
                        .max(1);
                    if circuit_open {
                    ApiError::new(
                        ErrorKind::Unavailable,
                        format!("every provider that can serve `{model}` is failing (circuit open); retry in {secs} s"),
                    )
                    .with_code("no_available_connection")
                } else {
                    ApiError::new(
                        ErrorKind::RateLimited,
                        format!("every account that can serve `{model}` is cooling down after rate limits or quota errors; retry in {secs} s"),
                    )
                    .with_code("rate_limit_exceeded")
                }
                .with_retry_after(Some(secs.to_string()))
                }
                (None, None) if local_limited => ApiError::new(
                    ErrorKind::RateLimited,
                    format!(
                        "every connection that can serve `{model}` is at its configured rate limit"
                    ),
                )
                .with_code("rate_limit_exceeded")
                .with_retry_after(Some("1".into())),
                (None, None) => ApiError::new(
                    ErrorKind::Unavailable,
                    format!("no connection can serve `{model}` right now"),
                )
                .with_code("no_available_connection"),
            };
            let mut r = ex.fail(err);
            outcome_headers(r.headers_mut(), None, attempts);
            r
        };
        drop(progress_tx);
        reuse::capture(
            resp,
            &snap.cache,
            cache_use,
            guard,
            snap.idempotency_max_bytes,
        )
        .await
    };
    match progress_rx {
        None => run.await,
        Some(rx) => stream::with_progress(client_format, rx, tokio::spawn(run)),
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

/// Wait at most `wait` for a rate-limit slot of a connection (immediate when it has no limit).
async fn acquire_slot(
    limiter: &omniroute_routing::Limiter,
    wait: Duration,
) -> Option<omniroute_routing::Permit> {
    let give_up = crate::resilience::now() + wait.as_millis() as u64;
    loop {
        let now = crate::resilience::now();
        match limiter.try_acquire(now) {
            Ok(p) => return Some(p),
            Err(w) => {
                if w.earliest > give_up {
                    return None;
                }
                let nap = w.earliest.saturating_sub(now).max(1);
                tokio::time::sleep(Duration::from_millis(nap)).await;
            }
        }
    }
}

/// The session a request belongs to, for account affinity: `X-Session-Id`, else the body's
/// prompt-cache key (`prompt_cache_key`, Anthropic `metadata.user_id`).
fn session_key(headers: &HeaderMap, req: &RawObject, format: ApiFormat) -> Option<u64> {
    if let Some(v) = headers.get("x-session-id").and_then(|v| v.to_str().ok()) {
        return Some(omniroute_routing::stable_key(v));
    }
    let raw = match format {
        ApiFormat::Openai | ApiFormat::Responses => req.get("prompt_cache_key")?,
        ApiFormat::Anthropic => req.get("metadata")?,
        ApiFormat::Gemini => return None,
    };
    let v: Value = serde_json::from_str(raw.get()).ok()?;
    let s = match format {
        ApiFormat::Anthropic => v.get("user_id")?.as_str()?.to_string(),
        _ => v.as_str()?.to_string(),
    };
    (!s.is_empty()).then(|| omniroute_routing::stable_key(&s))
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
    cand: &Candidate,
    time_left: Duration,
) -> Result<Response, (Exchange, Failure)> {
    let (snap, call) = (ctx.snap, ctx.call);
    let (provider, conn, upstream_model) = (&cand.provider, &cand.conn, cand.model.as_str());
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
    let status = resp.status();
    if !status.is_success() {
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let reset = rate_limit_reset(resp.headers());
        let body = upstream::read_limited(resp.into_body(), MAX_ERROR_BODY, idle)
            .await
            .unwrap_or_default();
        let err = upstream_status_error(&provider.id, status.as_u16(), &body, retry_after.clone());
        return Err((
            ex,
            Failure::new(
                err,
                FailKind::Status {
                    status: status.as_u16(),
                    body,
                    retry_after,
                    reset,
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
            return stream::passthrough_stream(ex, resp, idle, is_sse).await;
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
        return stream::translated_stream(ex, resp, idle, tr, json_array).await;
    }

    let body = match upstream::read_limited(resp.into_body(), MAX_UPSTREAM_BODY, idle).await {
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
        ex.finish(200, None, usage);
        let mut r = Response::new(Body::from(body));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(r);
    }
    match omniroute_translate::translate_response_bytes(
        provider.format,
        call.format,
        &body,
        ctx.model,
    ) {
        Ok((v, usage)) => {
            ex.finish(200, None, log_usage(&usage));
            let mut r = Response::new(Body::from(v));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
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

fn invalid_json(provider: &str) -> Failure {
    Failure::new(
        ApiError::new(
            ErrorKind::BadGateway,
            format!("provider `{provider}` returned a response that is not valid JSON"),
        )
        .with_code("upstream_invalid_response"),
        FailKind::Invalid,
    )
}

fn send_failure(e: SendError, provider: &str, first_byte: Duration) -> Failure {
    match e {
        SendError::Timeout => Failure::new(
            ApiError::new(
                ErrorKind::Timeout,
                format!(
                    "provider `{provider}` did not answer within {} ms",
                    first_byte.as_millis()
                ),
            )
            .with_code("upstream_timeout"),
            FailKind::Timeout,
        ),
        SendError::Connect => Failure::new(
            ApiError::new(
                ErrorKind::BadGateway,
                format!("provider `{provider}` is unreachable"),
            )
            .with_code("upstream_unreachable"),
            FailKind::Connect,
        ),
        SendError::Other => Failure::new(
            ApiError::new(
                ErrorKind::BadGateway,
                format!("request to provider `{provider}` failed"),
            )
            .with_code("upstream_error"),
            FailKind::Broken,
        ),
    }
}

/// Seconds until a provider's rate-limit window resets, from the reset headers providers send
/// (`x-ratelimit-reset-requests: 1m30s`, `anthropic-ratelimit-requests-reset: <RFC 3339>`, ...).
fn rate_limit_reset(h: &HeaderMap) -> Option<String> {
    for name in [
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-reset",
        "x-ratelimit-reset",
    ] {
        if let Some(v) = h.get(name).and_then(|v| v.to_str().ok()) {
            return Some(v.to_string());
        }
    }
    None
}

/// `X-OmniRoute-*` headers: who served the request and after how many attempts.
fn outcome_headers(h: &mut HeaderMap, cand: Option<&Candidate>, attempts: usize) {
    if let Some(c) = cand {
        for (name, value) in [
            ("x-omniroute-provider", c.provider.id.as_str()),
            ("x-omniroute-model", c.model.as_str()),
            ("x-omniroute-connection", c.conn.id.as_str()),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        }
    }
    h.insert("x-omniroute-attempts", HeaderValue::from(attempts));
}

/// The upstream URL: the connection's pre-parsed chat URL for OpenAI upstreams, the client's own
/// Gemini method (and `alt`) for Gemini pass-through, the native endpoint otherwise.
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
