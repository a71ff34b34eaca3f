//! OpenTelemetry trace export, off by default: each finished request becomes a trace of one
//! SERVER span (the gateway's handling) with a CLIENT span per upstream attempt following the
//! GenAI semantic conventions (`{operation} {model}`, `gen_ai.*` attributes, error status on
//! failed attempts), sent as OTLP/HTTP JSON in batches by a background task. A W3C
//! `traceparent` from the client makes the request a child of the caller's trace. Requests
//! never wait on the exporter: a full queue drops spans and counts them. No prompt or response
//! content is exported.
//!
//! Written against the OTLP/HTTP JSON encoding directly (ids as hex, 64-bit integers as
//! strings): the official Rust SDK's exporter pulls in tonic and prost even for HTTP/JSON.

use crate::upstream::HttpClient;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use omniroute_store::RequestLog;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Spans waiting to be sent at most (a full queue drops new requests' spans).
const QUEUE: usize = 4096;
/// Requests per export call at most.
const MAX_BATCH: usize = 512;
/// How long a request's spans may wait before they are sent.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// One export call's time limit.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a request's trace hangs: the caller's trace (from `traceparent`) or a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// The caller's span, parent of the gateway's SERVER span.
    pub parent: Option<[u8; 8]>,
    /// The caller's sampled flag (a new trace is sampled).
    pub sampled: bool,
}

impl TraceContext {
    /// From a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), else a new trace.
    pub fn from_traceparent(header: Option<&str>) -> TraceContext {
        header
            .and_then(parse_traceparent)
            .unwrap_or_else(|| TraceContext {
                trace_id: rand::random(),
                parent: None,
                sampled: true,
            })
    }
}

fn parse_traceparent(v: &str) -> Option<TraceContext> {
    let mut parts = v.trim().split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    let flags = parts.next()?;
    if version.len() != 2 || version == "ff" || trace.len() != 32 || span.len() != 16 {
        return None;
    }
    // version 00 has exactly four fields; later versions may add more
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut parent = [0u8; 8];
    hex::decode_to_slice(trace, &mut trace_id).ok()?;
    hex::decode_to_slice(span, &mut parent).ok()?;
    let flags = u8::from_str_radix(flags.get(..2)?, 16).ok()?;
    if trace_id == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some(TraceContext {
        trace_id,
        parent: Some(parent),
        sampled: flags & 1 == 1,
    })
}

/// One upstream attempt's timing, relative to the request's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptTiming {
    pub start: Duration,
    /// `None` for the attempt that served the response: it ends with the request.
    pub end: Option<Duration>,
}

/// A finished request, as the exporter turns it into spans.
#[derive(Debug, Clone)]
pub struct TraceRecord {
    pub ctx: TraceContext,
    pub row: RequestLog,
    pub attempts: Vec<AttemptTiming>,
    /// Request start and end, Unix nanoseconds.
    pub start_ns: u64,
    pub end_ns: u64,
}

/// The exporter: a bounded queue in front of a batching background task.
#[derive(Debug)]
pub struct Otel {
    endpoint: String,
    tx: mpsc::Sender<TraceRecord>,
    dropped: Arc<AtomicU64>,
    exported: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl Otel {
    /// The traces URL for a configured endpoint: a base URL gets `/v1/traces` appended.
    pub fn traces_url(endpoint: &str) -> String {
        let e = endpoint.trim().trim_end_matches('/');
        if e.ends_with("/v1/traces") {
            e.to_string()
        } else {
            format!("{e}/v1/traces")
        }
    }

    /// The endpoint in force: the setting, else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as
    /// is), else `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL); `None` = export off.
    pub fn endpoint_from(setting: &str) -> Option<String> {
        let set = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if !setting.trim().is_empty() {
            Some(Self::traces_url(setting))
        } else if let Some(t) = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(t.trim().to_string())
        } else {
            set("OTEL_EXPORTER_OTLP_ENDPOINT").map(|b| Self::traces_url(&b))
        }
    }

    /// Start exporting to `endpoint` (a full traces URL). Extra headers come from
    /// `OTEL_EXPORTER_OTLP_TRACES_HEADERS` / `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`,
    /// values URL-decoded); the service name from `OTEL_SERVICE_NAME` (default `omniroute`).
    /// The task ends once every clone of the returned handle is gone and the queue is sent.
    pub fn spawn(endpoint: String, client: HttpClient) -> Arc<Otel> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let headers = std::env::var("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
            .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_HEADERS"))
            .map(|v| parse_headers(&v))
            .unwrap_or_default();
        let service = std::env::var("OTEL_SERVICE_NAME")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "omniroute".into());
        let otel = Arc::new(Otel {
            endpoint: endpoint.clone(),
            tx,
            dropped: Arc::default(),
            exported: Arc::default(),
            failed: Arc::default(),
        });
        let task = Task {
            url: endpoint,
            headers,
            service,
            client,
            exported: otel.exported.clone(),
            failed: otel.failed.clone(),
        };
        tokio::spawn(task.run(rx));
        otel
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Queue a finished request without waiting (dropped and counted when the queue is full).
    pub fn export(&self, rec: TraceRecord) {
        if !rec.ctx.sampled {
            return;
        }
        if self.tx.try_send(rec).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The exporter's counters (requests, not spans) for `/api/health`.
    pub fn stats(&self) -> ExportStats {
        ExportStats {
            endpoint: self.endpoint.to_string(),
            exported: self.exported.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Trace export counters (export requests, not spans).
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ExportStats {
    pub endpoint: String,
    pub exported: u64,
    pub failed: u64,
    pub dropped: u64,
}

fn parse_headers(v: &str) -> Vec<(HeaderName, HeaderValue)> {
    v.split(',')
        .filter_map(|kv| {
            let (k, val) = kv.split_once('=')?;
            let name = HeaderName::from_bytes(k.trim().as_bytes()).ok()?;
            let value = HeaderValue::from_str(&percent_decode(val.trim())).ok()?;
            Some((name, value))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Task {
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    service: String,
    client: HttpClient,
    exported: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl Task {
    async fn run(self, mut rx: mpsc::Receiver<TraceRecord>) {
        let mut batch = Vec::with_capacity(64);
        let mut last_warning: Option<std::time::Instant> = None;
        loop {
            if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return; // every sender gone and the queue empty
            }
            // gather what arrives within the flush interval (up to a full batch)
            let deadline = tokio::time::Instant::now() + FLUSH_INTERVAL;
            while batch.len() < MAX_BATCH {
                match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, MAX_BATCH)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            let n = batch.len() as u64;
            let body = encode(&self.service, &batch);
            batch.clear();
            match self.send(body).await {
                Ok(()) => {
                    self.exported.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    self.failed.fetch_add(n, Ordering::Relaxed);
                    // at most one warning a minute: a collector that is down must not flood the log
                    if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                        last_warning = Some(std::time::Instant::now());
                        tracing::warn!(endpoint = %self.url, error = %e, requests = n, "trace export failed");
                    }
                }
            }
        }
    }

    async fn send(&self, body: Vec<u8>) -> Result<(), String> {
        let mut req = http::Request::post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        for (k, v) in &self.headers {
            req.headers_mut().insert(k.clone(), v.clone());
        }
        let call = async {
            let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            // read (and drop) the body so the connection goes back to the pool
            let _ = resp.into_body().collect().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("collector answered {status}"))
            }
        };
        tokio::time::timeout(EXPORT_TIMEOUT, call)
            .await
            .map_err(|_| "timed out".to_string())?
    }
}

/// `gen_ai.provider.name` for a provider id: the conventions' well-known values where one
/// exists, else the id.
fn genai_provider(id: &str) -> &str {
    match id {
        "gemini" | "gemini-cli" | "antigravity" => "gcp.gemini",
        "vertex" => "gcp.vertex_ai",
        "xai" => "x_ai",
        "mistral" => "mistral_ai",
        "bedrock" => "aws.bedrock",
        "azure" | "azure-openai" => "azure.ai.openai",
        "watsonx" => "ibm.watsonx.ai",
        other => other,
    }
}

fn operation(path: &str) -> &'static str {
    if path.contains("embed") {
        "embeddings"
    } else {
        "chat"
    }
}

fn s(key: &str, v: &str) -> Value {
    json!({"key": key, "value": {"stringValue": v}})
}

fn i(key: &str, v: i64) -> Value {
    json!({"key": key, "value": {"intValue": v.to_string()}})
}

fn f(key: &str, v: f64) -> Value {
    json!({"key": key, "value": {"doubleValue": v}})
}

fn b(key: &str, v: bool) -> Value {
    json!({"key": key, "value": {"boolValue": v}})
}

/// Span kinds and status codes of the OTLP trace model.
const KIND_SERVER: u8 = 2;
const KIND_CLIENT: u8 = 3;
const STATUS_UNSET: u8 = 0;
const STATUS_ERROR: u8 = 2;

/// The OTLP/JSON `ExportTraceServiceRequest` for a batch of requests.
pub fn encode(service: &str, batch: &[TraceRecord]) -> Vec<u8> {
    let mut spans = Vec::with_capacity(batch.len() * 2);
    for rec in batch {
        spans_of(rec, &mut spans);
    }
    let body = json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                s("service.name", service),
                s("service.version", env!("CARGO_PKG_VERSION")),
            ]},
            "scopeSpans": [{
                "scope": {"name": "omniroute", "version": env!("CARGO_PKG_VERSION")},
                "spans": spans,
            }],
        }],
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

fn spans_of(rec: &TraceRecord, out: &mut Vec<Value>) {
    let r = &rec.row;
    let trace_id = hex::encode(rec.ctx.trace_id);
    let server_id: [u8; 8] = rand::random();
    let server_hex = hex::encode(server_id);
    let op = operation(&r.path);
    let requested = r.model.as_deref().unwrap_or("");

    let mut attrs = vec![
        s("http.request.method", &r.method),
        s("http.route", &r.path),
        s("url.path", &r.path),
        i("http.response.status_code", i64::from(r.status)),
        s("gen_ai.operation.name", op),
        s("omniroute.request_id", &r.request_id),
        i("omniroute.attempts", r.attempts),
        b("omniroute.stream", r.stream),
    ];
    if !requested.is_empty() {
        attrs.push(s("gen_ai.request.model", requested));
    }
    if let Some(fmt) = &r.client_format {
        attrs.push(s("omniroute.client_format", fmt));
    }
    if let Some(p) = &r.provider {
        attrs.push(s("omniroute.provider", p));
    }
    if let Some(m) = &r.upstream_model {
        attrs.push(s("gen_ai.response.model", m));
    }
    if let Some(c) = &r.combo {
        attrs.push(s("omniroute.combo", c));
    }
    if let Some(k) = &r.api_key_id {
        attrs.push(s("omniroute.api_key_id", k));
    }
    if let Some(c) = &r.cache_hit {
        attrs.push(s("omniroute.cache", c));
    }
    if let Some(ip) = &r.client_ip {
        attrs.push(s("client.address", ip));
    }
    if let Some(ua) = &r.user_agent {
        attrs.push(s("user_agent.original", ua));
    }
    usage_attrs(r, &mut attrs);
    if let Some(c) = r.cost_usd {
        attrs.push(f("omniroute.cost_usd", c));
    }
    if let Some(t) = r.ttfb_ms {
        attrs.push(i("omniroute.time_to_first_token_ms", t));
    }
    let failed = r.status >= 500 || (r.status >= 400 && r.error.is_some() && r.status != 499);
    if failed {
        attrs.push(s("error.type", &r.status.to_string()));
    }
    let mut server = json!({
        "traceId": trace_id,
        "spanId": server_hex,
        "name": format!("{} {}", r.method, r.path),
        "kind": KIND_SERVER,
        "startTimeUnixNano": rec.start_ns.to_string(),
        "endTimeUnixNano": rec.end_ns.to_string(),
        "attributes": attrs,
        "status": status(failed, r.error.as_deref()),
    });
    if let Some(parent) = rec.ctx.parent {
        server["parentSpanId"] = Value::String(hex::encode(parent));
    }
    out.push(server);

    for (n, a) in r.attempts_detail.iter().enumerate() {
        let timing = rec.attempts.get(n).copied().unwrap_or(AttemptTiming {
            start: Duration::ZERO,
            end: None,
        });
        let start = rec.start_ns + timing.start.as_nanos() as u64;
        let end = timing
            .end
            .map_or(rec.end_ns, |e| rec.start_ns + e.as_nanos() as u64)
            .max(start);
        let served = a.outcome == "ok";
        let mut attrs = vec![
            s("gen_ai.operation.name", op),
            s("gen_ai.provider.name", genai_provider(&a.provider)),
            s("gen_ai.request.model", &a.model),
            s("omniroute.provider", &a.provider),
            s("omniroute.outcome", &a.outcome),
            i("omniroute.attempt", n as i64 + 1),
        ];
        if let Some(c) = &a.connection {
            attrs.push(s("omniroute.connection_id", c));
        }
        if let Some(st) = a.status {
            attrs.push(i("http.response.status_code", i64::from(st)));
        }
        if served {
            attrs.push(s("gen_ai.response.model", &a.model));
            usage_attrs(r, &mut attrs);
        } else {
            attrs.push(s("error.type", &a.outcome));
        }
        out.push(json!({
            "traceId": trace_id,
            "spanId": hex::encode(rand::random::<[u8; 8]>()),
            "parentSpanId": server_hex,
            "name": format!("{op} {}", a.model),
            "kind": KIND_CLIENT,
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": end.to_string(),
            "attributes": attrs,
            "status": status(!served, (!served).then_some(a.outcome.as_str())),
        }));
    }
}

fn usage_attrs(r: &RequestLog, attrs: &mut Vec<Value>) {
    if let Some(t) = r.input_tokens {
        attrs.push(i("gen_ai.usage.input_tokens", t));
    }
    if let Some(t) = r.output_tokens {
        attrs.push(i("gen_ai.usage.output_tokens", t));
    }
    if let Some(t) = r.cached_tokens.filter(|t| *t > 0) {
        attrs.push(i("gen_ai.usage.cache_read.input_tokens", t));
    }
    if let Some(t) = r.reasoning_tokens.filter(|t| *t > 0) {
        attrs.push(i("gen_ai.usage.reasoning.output_tokens", t));
    }
}

fn status(error: bool, message: Option<&str>) -> Value {
    if error {
        json!({"code": STATUS_ERROR, "message": message.unwrap_or("")})
    } else {
        json!({"code": STATUS_UNSET})
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn traceparent_is_parsed_or_a_new_trace_starts() {
        let c = TraceContext::from_traceparent(Some(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ));
        assert_eq!(hex::encode(c.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            c.parent.map(hex::encode).as_deref(),
            Some("00f067aa0ba902b7")
        );
        assert!(c.sampled);
        let unsampled = TraceContext::from_traceparent(Some(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        ));
        assert!(!unsampled.sampled);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            let c = TraceContext::from_traceparent(Some(bad));
            assert!(c.parent.is_none() && c.sampled, "{bad:?} accepted");
        }
        // a later version may carry more fields
        let v1 = TraceContext::from_traceparent(Some(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more",
        ));
        assert!(v1.parent.is_some());
    }

    #[test]
    fn headers_and_urls() {
        let h = parse_headers("Authorization=Bearer%20abc, x-tenant = t1 ,broken");
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].1, "Bearer abc");
        assert_eq!(h[1].0, "x-tenant");
        assert_eq!(
            Otel::traces_url("http://c:4318/"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            Otel::traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(percent_decode("a%2Cb%"), "a,b%");
    }

    #[test]
    fn a_request_with_a_failed_and_a_served_attempt() {
        let row = RequestLog {
            request_id: "req-1".into(),
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            model: Some("my-combo".into()),
            provider: Some("anthropic".into()),
            upstream_model: Some("claude-x".into()),
            status: 200,
            input_tokens: Some(10),
            output_tokens: Some(5),
            cached_tokens: Some(4),
            user_agent: Some("claude-cli/2".into()),
            attempts: 2,
            attempts_detail: vec![
                omniroute_store::AttemptLog {
                    provider: "gemini".into(),
                    connection: Some("c1".into()),
                    model: "gem-y".into(),
                    outcome: "rate_limited".into(),
                    status: Some(429),
                    latency_ms: 3,
                    ..Default::default()
                },
                omniroute_store::AttemptLog {
                    provider: "anthropic".into(),
                    connection: Some("c2".into()),
                    model: "claude-x".into(),
                    outcome: "ok".into(),
                    status: Some(200),
                    latency_ms: 9,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let rec = TraceRecord {
            ctx: TraceContext::from_traceparent(Some(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )),
            row,
            attempts: vec![
                AttemptTiming {
                    start: Duration::from_millis(1),
                    end: Some(Duration::from_millis(4)),
                },
                AttemptTiming {
                    start: Duration::from_millis(5),
                    end: None,
                },
            ],
            start_ns: 1_000_000_000,
            end_ns: 1_020_000_000,
        };
        let v: Value = serde_json::from_slice(&encode("omniroute", &[rec])).unwrap();
        let spans = v["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .unwrap();
        assert_eq!(spans.len(), 3);
        let attr = |span: &Value, k: &str| {
            span["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["key"] == k)
                .map(|a| a["value"].clone())
        };
        let server = &spans[0];
        assert_eq!(server["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(server["parentSpanId"], "00f067aa0ba902b7");
        assert_eq!(server["kind"], 2);
        assert_eq!(server["name"], "POST /v1/chat/completions");
        let (failed, served) = (&spans[1], &spans[2]);
        for c in [failed, served] {
            assert_eq!(c["parentSpanId"], server["spanId"]);
            assert_eq!(c["kind"], 3);
            assert_eq!(c["spanId"].as_str().unwrap().len(), 16);
        }
        assert_eq!(failed["name"], "chat gem-y");
        assert_eq!(failed["status"]["code"], 2);
        assert_eq!(
            attr(failed, "gen_ai.provider.name").unwrap()["stringValue"],
            "gcp.gemini"
        );
        assert_eq!(
            attr(failed, "error.type").unwrap()["stringValue"],
            "rate_limited"
        );
        assert_eq!(failed["startTimeUnixNano"], "1001000000");
        assert_eq!(failed["endTimeUnixNano"], "1004000000");
        assert_eq!(served["name"], "chat claude-x");
        assert_eq!(served["status"]["code"], 0);
        assert_eq!(served["endTimeUnixNano"], "1020000000");
        assert_eq!(
            attr(served, "gen_ai.usage.input_tokens").unwrap()["intValue"],
            "10"
        );
        assert_eq!(
            attr(served, "gen_ai.usage.cache_read.input_tokens").unwrap()["intValue"],
            "4"
        );
        assert!(attr(served, "error.type").is_none());
        assert_eq!(
            attr(server, "user_agent.original").unwrap()["stringValue"],
            "claude-cli/2"
        );
    }
}
