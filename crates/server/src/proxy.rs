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
use crate::upstream::{self, ChunkError, SendError};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use axum::Extension;
use bytes::{Bytes, BytesMut};
use omniroute_protocol::sse::SseParser;
use omniroute_protocol::usage::Usage;
use omniroute_protocol::{ApiError, ApiFormat, ErrorKind};
use omniroute_providers::upstream::{auth_headers, endpoint_url, Operation};
use omniroute_providers::ProviderSpec;
use omniroute_routing::{Resolution, ResolveError};
use omniroute_store::RequestLog;
use omniroute_translate::ir::{EncoderOptions, StreamEnd};
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
        if let Ok((provider, upstream_model, conn)) = route(&snap, &ir.model, &rid.0) {
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

    let (provider, upstream_model, conn) = match route(&snap, &model, &rid.0) {
        Ok(r) => r,
        Err(e) => return ex.fail(e),
    };
    ex.row.provider = Some(provider.id.clone());
    ex.row.connection_id = Some(conn.id.clone());
    ex.row.upstream_model = Some(upstream_model.clone());

    let passthrough =
        provider.format == call.format && !provider.normalize && !provider.system_as_user;
    let include_usage = call.format == ApiFormat::Openai
        && req
            .get("stream_options")
            .and_then(|v| serde_json::from_str::<Value>(v.get()).ok())
            .and_then(|v| v.get("include_usage").and_then(Value::as_bool))
            .unwrap_or(false);

    let out = if passthrough {
        let rewrite = if call.format == ApiFormat::Gemini {
            Ok(())
        } else {
            serde_json::value::to_raw_value(&upstream_model).map(|m| {
                req.insert("model".into(), m);
            })
        };
        match rewrite.and_then(|_| serde_json::to_vec(&req)) {
            Ok(v) => v,
            Err(e) => {
                return ex.fail(ApiError::internal(format!(
                    "could not encode the upstream request: {e}"
                )))
            }
        }
    } else {
        let mut ir = match omniroute_translate::decode_request(call.format, &bytes, Some(&model)) {
            Ok(r) => r,
            Err(e) => {
                return ex.fail(
                    ApiError::invalid(format!("invalid {} request: {e}", call.format))
                        .with_code("invalid_request"),
                )
            }
        };
        ir.stream = stream;
        let encoded =
            omniroute_translate::encode_request(provider.format, &mut ir, &upstream_model);
        for w in &ir.warnings {
            tracing::info!(request_id = %rid.0, from = %call.format, to = %provider.format, "translation: {w}");
        }
        let (value, warnings) = match encoded {
            Ok(v) => v,
            Err(e) => {
                return ex.fail(
                    ApiError::invalid(format!(
                        "this request cannot be sent to provider `{}` ({} format): {e}",
                        provider.id, provider.format
                    ))
                    .with_code("untranslatable_request"),
                )
            }
        };
        for w in &warnings {
            tracing::info!(request_id = %rid.0, from = %call.format, to = %provider.format, "translation: {w}");
        }
        match serde_json::to_vec(&value) {
            Ok(v) => v,
            Err(e) => {
                return ex.fail(ApiError::internal(format!(
                    "could not encode the upstream request: {e}"
                )))
            }
        }
    };

    let uri = match upstream_uri(
        &provider,
        &conn,
        &upstream_model,
        stream,
        passthrough,
        &call,
    ) {
        Some(u) => u,
        None => {
            return ex.fail(ApiError::internal(format!(
                "invalid upstream URL for provider `{}`",
                provider.id
            )))
        }
    };
    let builder = upstream_headers(
        http::Request::post(uri),
        &provider,
        &conn,
        stream,
        call.format,
        &headers,
    );
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

    if stream {
        let json_array = call.format == ApiFormat::Gemini && !call.alt_sse;
        if passthrough && (is_sse || json_array) {
            return passthrough_stream(ex, resp, idle, is_sse).await;
        }
        if !is_sse {
            let body = upstream::read_limited(resp.into_body(), MAX_ERROR_BODY, idle)
                .await
                .unwrap_or_default();
            let msg = ApiError::upstream_message(&body)
                .unwrap_or_else(|| "the provider did not stream its response".into());
            return ex.fail(
                ApiError::new(
                    ErrorKind::BadGateway,
                    format!("provider `{}`: {msg}", provider.id),
                )
                .with_code("upstream_error"),
            );
        }
        let opts = EncoderOptions {
            include_usage,
            json_array: call.format == ApiFormat::Gemini && !call.alt_sse,
        };
        let tr = StreamTranslator::new(provider.format, call.format, &model, &opts);
        return translated_stream(ex, resp, idle, tr, opts.json_array).await;
    }

    let body = match upstream::read_limited(resp.into_body(), MAX_UPSTREAM_BODY, idle).await {
        Ok(b) => b,
        Err(e) => return ex.fail(e),
    };
    if passthrough {
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
        return r;
    }
    match omniroute_translate::translate_response(provider.format, call.format, &body, &model) {
        Ok((v, usage)) => {
            ex.finish(200, None, log_usage(&usage));
            json_response(v)
        }
        Err(e) => {
            let garbage = serde_json::from_slice::<Value>(&body).is_err();
            let (code, msg) = if garbage {
                (
                    "upstream_invalid_response",
                    format!(
                        "provider `{}` returned a response that is not valid JSON",
                        provider.id
                    ),
                )
            } else {
                (
                    "upstream_error",
                    format!(
                        "provider `{}` returned an unusable response: {e}",
                        provider.id
                    ),
                )
            };
            ex.fail(ApiError::new(ErrorKind::BadGateway, msg).with_code(code))
        }
    }
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

/// Pass-through stream bookkeeping: bytes are forwarded as they come; an SSE parser observes
/// them for usage and error events.
struct Observer {
    parser: SseParser,
    usage: Usage,
    saw_usage: bool,
    error: Option<String>,
    saw_data: bool,
    enabled: bool,
    /// Responses: the last `sequence_number` seen, so an error we append continues the sequence.
    last_seq: Option<u64>,
    /// Anthropic: the index of a content block that is open, closed before an error we append.
    open_block: Option<u64>,
}

/// The number after `"key":` in a JSON text, without parsing the whole event.
fn number_after(data: &str, key: &str) -> Option<u64> {
    let at = data.find(key)? + key.len();
    let rest = data[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

impl Observer {
    fn new(enabled: bool) -> Self {
        Self {
            parser: SseParser::default(),
            usage: Usage::default(),
            saw_usage: false,
            error: None,
            saw_data: false,
            enabled,
            last_seq: None,
            open_block: None,
        }
    }

    fn observe(&mut self, chunk: &[u8]) {
        if !self.enabled {
            self.saw_data = true;
            return;
        }
        let (usage, saw, err, data) = (
            &mut self.usage,
            &mut self.saw_usage,
            &mut self.error,
            &mut self.saw_data,
        );
        let (last_seq, open_block) = (&mut self.last_seq, &mut self.open_block);
        let _ = self.parser.push(chunk, |ev| {
            if ev.data.trim().is_empty() || ev.is_done() {
                return;
            }
            let name = ev.event.as_deref().unwrap_or("");
            if name.starts_with("response.") {
                if let Some(n) = number_after(&ev.data, "\"sequence_number\"") {
                    *last_seq = Some(n);
                }
            }
            match name {
                "content_block_start" => *open_block = number_after(&ev.data, "\"index\""),
                "content_block_stop" => *open_block = None,
                _ => {}
            }
            let named_error = matches!(name, "error" | "response.failed");
            let interesting =
                named_error || ev.data.contains("\"error\"") || ev.data.contains("sage");
            let parsed = if interesting {
                serde_json::from_str::<Value>(&ev.data).ok()
            } else {
                None
            };
            let err_obj = parsed.as_ref().and_then(|v| {
                v.get("error")
                    .filter(|e| {
                        !e.is_null()
                            && v.get("type").and_then(Value::as_str) != Some("response.completed")
                    })
                    .or(if named_error { Some(v) } else { None })
            });
            // lifecycle events before any content do not commit the response
            let lifecycle = matches!(
                name,
                "ping" | "message_start" | "response.created" | "response.in_progress"
            );
            if err_obj.is_none() && !lifecycle {
                *data = true;
            }
            if let Some(v) = &parsed {
                if let Some(u) = Usage::from_value(v) {
                    usage.merge(u);
                    *saw = true;
                }
            }
            if let Some(e) = err_obj {
                let m = e
                    .get("message")
                    .and_then(Value::as_str)
                    .or_else(|| e.pointer("/error/message").and_then(Value::as_str))
                    .or_else(|| e.pointer("/response/error/message").and_then(Value::as_str))
                    .unwrap_or("error event");
                err.get_or_insert_with(|| format!("upstream error event: {m}"));
            }
        });
    }
}

/// An error event in the client's stream format, for failures after the stream started.
/// `obs` supplies what keeps the client's lifecycle consistent (an open Anthropic block is
/// closed first; a Responses error continues the sequence numbers).
fn stream_error_event(format: ApiFormat, message: &str, code: &str, obs: &Observer) -> Bytes {
    use omniroute_protocol::sse::encode;
    match format {
        ApiFormat::Openai => {
            let body =
                json!({"error": {"message": message, "type": "upstream_error", "code": code}});
            let mut b = BytesMut::from(&encode(None, &body.to_string())[..]);
            b.extend_from_slice(b"data: [DONE]\n\n");
            b.freeze()
        }
        ApiFormat::Anthropic => {
            let mut b = BytesMut::new();
            if let Some(index) = obs.open_block {
                let stop = json!({"type": "content_block_stop", "index": index});
                b.extend_from_slice(&encode(Some("content_block_stop"), &stop.to_string()));
            }
            let body = json!({"type": "error", "error": {"type": "api_error", "message": message}});
            b.extend_from_slice(&encode(Some("error"), &body.to_string()));
            b.freeze()
        }
        ApiFormat::Responses => {
            let seq = obs.last_seq.map_or(0, |n| n + 1);
            let body = json!({"type": "error", "code": code, "message": message, "param": null, "sequence_number": seq});
            encode(Some("error"), &body.to_string())
        }
        ApiFormat::Gemini => {
            let body = json!({"error": {"code": 502, "message": message, "status": "UNAVAILABLE"}});
            encode(None, &body.to_string())
        }
    }
}

fn stream_headers(r: &mut Response, json_array: bool) {
    let h = r.headers_mut();
    let ct = if json_array {
        "application/json"
    } else {
        "text/event-stream"
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

/// Same format on both sides: forward the upstream bytes untouched. The response is held until
/// the first data event; an error event (or an empty stream) before it becomes an HTTP error.
async fn passthrough_stream(
    mut ex: Exchange,
    resp: http::Response<hyper::body::Incoming>,
    idle: Duration,
    is_sse: bool,
) -> Response {
    let format = ex.format;
    let mut upstream_body = resp.into_body();
    let mut obs = Observer::new(is_sse);
    let mut head = BytesMut::new();
    let mut ended = false;
    while !obs.saw_data {
        match upstream::next_chunk(&mut upstream_body, idle).await {
            Ok(Some(chunk)) => {
                if !is_sse && head.is_empty() && !chunk.trim_ascii_start().starts_with(b"[") {
                    return ex.fail(
                        ApiError::new(
                            ErrorKind::BadGateway,
                            "the provider did not stream its response",
                        )
                        .with_code("upstream_invalid_response"),
                    );
                }
                obs.observe(&chunk);
                head.extend_from_slice(&chunk);
                if let Some(e) = obs.error.clone().filter(|_| !obs.saw_data) {
                    return ex
                        .fail(ApiError::new(ErrorKind::BadGateway, e).with_code("upstream_error"));
                }
            }
            Ok(None) => {
                ended = true;
                break;
            }
            Err(ChunkError::Idle) => {
                return ex.fail(
                    ApiError::new(
                        ErrorKind::Timeout,
                        "the provider's stream stalled before its first event",
                    )
                    .with_code("upstream_timeout"),
                )
            }
            Err(ChunkError::Broken) => {
                return ex.fail(
                    ApiError::new(
                        ErrorKind::BadGateway,
                        "the provider's stream was cut off before its first event",
                    )
                    .with_code("upstream_error"),
                )
            }
        }
    }
    if ended && !obs.saw_data {
        return ex.fail(
            ApiError::new(
                ErrorKind::BadGateway,
                "the provider returned an empty stream",
            )
            .with_code("upstream_empty_stream"),
        );
    }
    ex.row.status = 200;
    struct S {
        ex: Exchange,
        body: hyper::body::Incoming,
        obs: Observer,
        head: Option<Bytes>,
        idle: Duration,
        ended: bool,
        done: bool,
        format: ApiFormat,
    }
    let s = S {
        ex,
        body: upstream_body,
        obs,
        head: Some(head.freeze()),
        idle,
        ended,
        done: false,
        format,
    };
    let stream = futures_util::stream::unfold(s, |mut s| async move {
        if let Some(h) = s.head.take() {
            if !h.is_empty() {
                return Some((Ok::<Bytes, std::io::Error>(h), s));
            }
        }
        if s.done {
            return None;
        }
        if s.ended {
            s.done = true;
            let usage = s.obs.saw_usage.then_some(s.obs.usage);
            let err = s.obs.error.take();
            s.ex.finish(if err.is_some() { 502 } else { 200 }, err, usage);
            return None;
        }
        match upstream::next_chunk(&mut s.body, s.idle).await {
            Ok(Some(chunk)) => {
                s.obs.observe(&chunk);
                Some((Ok(chunk), s))
            }
            Ok(None) => {
                s.done = true;
                let usage = s.obs.saw_usage.then_some(s.obs.usage);
                let err = s.obs.error.take();
                s.ex.finish(if err.is_some() { 502 } else { 200 }, err, usage);
                None
            }
            Err(e) => {
                s.done = true;
                let (status, msg, code) = match e {
                    ChunkError::Broken => (
                        502,
                        "the provider's stream was cut off before it finished",
                        "upstream_stream_cut",
                    ),
                    ChunkError::Idle => (
                        504,
                        "the provider's stream stalled (idle timeout)",
                        "upstream_timeout",
                    ),
                };
                s.ex.finish(
                    status,
                    Some(msg.into()),
                    s.obs.saw_usage.then_some(s.obs.usage),
                );
                if !s.obs.enabled {
                    // a JSON-array stream cannot carry an error element cleanly: break it
                    return Some((Err(std::io::Error::other(msg)), s));
                }
                let event = stream_error_event(s.format, msg, code, &s.obs);
                Some((Ok(event), s))
            }
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    stream_headers(&mut r, !is_sse);
    r
}

/// Different formats: upstream SSE → IR events → client stream, event by event. The response is
/// held until the first content (or finish) event; an upstream error before it becomes an HTTP
/// error in the client's format.
async fn translated_stream(
    mut ex: Exchange,
    resp: http::Response<hyper::body::Incoming>,
    idle: Duration,
    mut tr: StreamTranslator,
    json_array: bool,
) -> Response {
    let mut upstream_body = resp.into_body();
    let mut head = BytesMut::new();
    let mut ended = false;
    loop {
        match upstream::next_chunk(&mut upstream_body, idle).await {
            Ok(Some(chunk)) => {
                if let Err(e) = tr.push(&chunk, &mut head) {
                    if !tr.progress().content {
                        return ex.fail(
                            ApiError::new(ErrorKind::BadGateway, e)
                                .with_code("upstream_invalid_response"),
                        );
                    }
                    tr.finish(StreamEnd::Aborted(e.clone()), &mut head);
                    ex.row.status = 200;
                    ex.finish(502, Some(e), log_usage(&tr.usage()));
                    let mut r = Response::new(Body::from(head.freeze()));
                    stream_headers(&mut r, json_array);
                    return r;
                }
                let p = tr.progress();
                if p.error_before_content {
                    let msg = tr.error().unwrap_or("upstream error").to_string();
                    return ex.fail(
                        ApiError::new(ErrorKind::BadGateway, format!("provider error: {msg}"))
                            .with_code("upstream_error"),
                    );
                }
                if p.content || p.finished {
                    break;
                }
            }
            Ok(None) => {
                ended = true;
                break;
            }
            Err(ChunkError::Idle) => {
                return ex.fail(
                    ApiError::new(
                        ErrorKind::Timeout,
                        "the provider's stream stalled before its first event",
                    )
                    .with_code("upstream_timeout"),
                )
            }
            Err(ChunkError::Broken) => {
                return ex.fail(
                    ApiError::new(
                        ErrorKind::BadGateway,
                        "the provider's stream was cut off before its first event",
                    )
                    .with_code("upstream_error"),
                )
            }
        }
    }
    if ended {
        tr.finish(StreamEnd::Complete, &mut head);
        let p = tr.progress();
        if p.error_before_content {
            let msg = tr.error().unwrap_or("upstream error").to_string();
            return ex.fail(
                ApiError::new(ErrorKind::BadGateway, format!("provider error: {msg}"))
                    .with_code("upstream_error"),
            );
        }
        if !p.content && !p.finished {
            return ex.fail(
                ApiError::new(
                    ErrorKind::BadGateway,
                    "the provider returned an empty stream",
                )
                .with_code("upstream_empty_stream"),
            );
        }
        ex.finish(200, None, log_usage(&tr.usage()));
        let mut r = Response::new(Body::from(head.freeze()));
        stream_headers(&mut r, json_array);
        return r;
    }
    ex.row.status = 200;
    struct S {
        ex: Exchange,
        body: hyper::body::Incoming,
        tr: StreamTranslator,
        head: Option<Bytes>,
        idle: Duration,
        done: bool,
    }
    let s = S {
        ex,
        body: upstream_body,
        tr,
        head: Some(head.freeze()),
        idle,
        done: false,
    };
    let stream = futures_util::stream::unfold(s, |mut s| async move {
        if let Some(h) = s.head.take() {
            if !h.is_empty() {
                return Some((Ok::<Bytes, std::io::Error>(h), s));
            }
        }
        loop {
            if s.done {
                return None;
            }
            let mut out = BytesMut::new();
            match upstream::next_chunk(&mut s.body, s.idle).await {
                Ok(Some(chunk)) => {
                    if let Err(e) = s.tr.push(&chunk, &mut out) {
                        s.done = true;
                        s.tr.finish(StreamEnd::Aborted(e.clone()), &mut out);
                        s.ex.finish(502, Some(e), log_usage(&s.tr.usage()));
                    }
                }
                Ok(None) => {
                    s.done = true;
                    s.tr.finish(StreamEnd::Complete, &mut out);
                    let err =
                        s.tr.error()
                            .map(str::to_string)
                            .filter(|_| !s.tr.progress().finished);
                    s.ex.finish(
                        if err.is_some() { 502 } else { 200 },
                        err,
                        log_usage(&s.tr.usage()),
                    );
                }
                Err(e) => {
                    s.done = true;
                    let (status, msg) = match e {
                        ChunkError::Broken => {
                            (502, "the provider's stream was cut off before it finished")
                        }
                        ChunkError::Idle => (504, "the provider's stream stalled (idle timeout)"),
                    };
                    s.tr.finish(StreamEnd::Aborted(msg.to_string()), &mut out);
                    s.ex.finish(status, Some(msg.into()), log_usage(&s.tr.usage()));
                }
            }
            if !out.is_empty() {
                return Some((Ok(out.freeze()), s));
            }
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    stream_headers(&mut r, json_array);
    r
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
