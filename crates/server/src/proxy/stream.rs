//! Streaming responses: pass-through (bytes forwarded untouched, observed by an SSE parser for
//! usage and errors) and translated (upstream SSE → IR → client format, event by event). Both
//! hold the response until the first content event; a failure before it is handed back to the
//! attempt loop (which may fall back), a failure after it ends the stream with an error event in
//! the client's format.

use super::{log_usage, Exchange, FailKind, Failure};
use crate::upstream::{self, ChunkError};
use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use omniroute_protocol::sse::SseParser;
use omniroute_protocol::usage::Usage;
use omniroute_protocol::{ApiError, ApiFormat, ErrorKind};
use omniroute_translate::ir::StreamEnd;
use omniroute_translate::StreamTranslator;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Bytes an upstream may send before its first content event (lifecycle events, pings) before
/// the attempt is abandoned.
const MAX_HEAD: usize = 1 << 20;

/// How long to wait for the next chunk before the first content: the idle timeout, bounded by
/// the request's total deadline (a stream of pings must not hold a request past it).
fn pre_content_wait(idle: Duration, deadline: Instant) -> Duration {
    idle.min(deadline.saturating_duration_since(Instant::now()))
        .max(Duration::from_millis(1))
}

fn no_content_failure() -> Failure {
    Failure::new(
        ApiError::new(
            ErrorKind::BadGateway,
            "the provider sent 1 MB without any content",
        )
        .with_code("upstream_invalid_response"),
        FailKind::Invalid,
    )
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
            // only real content commits the response: lifecycle events, pings and empty deltas
            // before it leave the attempt free to fall back
            if err_obj.is_none() && !*data && carries_content(name, &ev.data, parsed.as_ref()) {
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

/// Whether a pass-through stream event carries content (text, reasoning, a tool call, a finish)
/// rather than lifecycle: Anthropic and Responses by event name, OpenAI chat and Gemini chunks
/// by their JSON. `parsed` is the event's JSON when the observer already parsed it.
fn carries_content(name: &str, data: &str, parsed: Option<&Value>) -> bool {
    match name {
        "" | "message" => {}
        "ping" | "message_start" | "content_block_start" | "content_block_stop" => return false,
        "content_block_delta" | "message_delta" | "message_stop" => return true,
        n if n.starts_with("response.") => {
            return n.ends_with(".delta")
                || n.ends_with(".done") && n != "response.content_part.done"
                || matches!(n, "response.completed" | "response.incomplete")
        }
        _ => return true,
    }
    let owned;
    let v = match parsed {
        Some(v) => v,
        None => match serde_json::from_str::<Value>(data) {
            Ok(v) => {
                owned = v;
                &owned
            }
            Err(_) => return true,
        },
    };
    let non_empty = |x: Option<&Value>| match x {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Null) | None => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    if let Some(choices) = v.get("choices").and_then(Value::as_array) {
        return choices.iter().any(|c| {
            let d = c.get("delta").or_else(|| c.get("message"));
            non_empty(c.get("finish_reason"))
                || d.is_some_and(|d| {
                    non_empty(d.get("content"))
                        || non_empty(d.get("tool_calls"))
                        || non_empty(d.get("reasoning_content"))
                        || non_empty(d.get("reasoning"))
                        || non_empty(d.get("refusal"))
                })
        }) || (choices.is_empty() && v.get("usage").is_some());
    }
    if let Some(cands) = v.get("candidates").and_then(Value::as_array) {
        return cands.iter().any(|c| {
            non_empty(c.get("finishReason"))
                || c.pointer("/content/parts")
                    .and_then(Value::as_array)
                    .is_some_and(|parts| {
                        parts.iter().any(|p| {
                            non_empty(p.get("text"))
                                || p.get("functionCall").is_some()
                                || p.get("inlineData").is_some()
                        })
                    })
        });
    }
    true
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

/// The gateway's own limits on a stream once it is committed: its total duration and size
/// (`max_stream_duration_ms`, `max_stream_bytes`). A provider that never stops cannot hold a
/// connection or the client's memory forever.
#[derive(Debug, Clone, Copy)]
pub(super) struct StreamCap {
    pub until: Instant,
    pub left: usize,
}

impl StreamCap {
    pub(super) fn new(max_duration: Duration, max_bytes: u64) -> StreamCap {
        StreamCap {
            until: Instant::now() + max_duration,
            left: usize::try_from(max_bytes).unwrap_or(usize::MAX),
        }
    }
}

/// Why a committed stream stops early.
enum Stop {
    Chunk(ChunkError),
    TooLong,
    TooLarge,
}

impl Stop {
    /// (status for the log, message, code)
    fn info(&self) -> (u16, &'static str, &'static str) {
        match self {
            Stop::Chunk(ChunkError::Broken) => (
                502,
                "the provider's stream was cut off before it finished",
                "upstream_stream_cut",
            ),
            Stop::Chunk(ChunkError::Idle) => (
                504,
                "the provider's stream stalled (idle timeout)",
                "upstream_timeout",
            ),
            Stop::TooLong => (
                504,
                "the stream exceeded the gateway's maximum duration (max_stream_duration_ms)",
                "stream_too_long",
            ),
            Stop::TooLarge => (
                502,
                "the stream exceeded the gateway's maximum size (max_stream_bytes)",
                "stream_too_large",
            ),
        }
    }
}

/// The next chunk of a committed stream within its idle timeout and its caps.
async fn next_within(
    body: &mut hyper::body::Incoming,
    idle: Duration,
    cap: &mut StreamCap,
) -> Result<Option<Bytes>, Stop> {
    let left = cap.until.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Stop::TooLong);
    }
    match upstream::next_chunk(body, idle.min(left)).await {
        Ok(Some(c)) => {
            if c.len() > cap.left {
                return Err(Stop::TooLarge);
            }
            cap.left -= c.len();
            Ok(Some(c))
        }
        Ok(None) => Ok(None),
        Err(ChunkError::Idle) if Instant::now() >= cap.until => Err(Stop::TooLong),
        Err(e) => Err(Stop::Chunk(e)),
    }
}

/// Same format on both sides: forward the upstream bytes untouched. The response is held until
/// the first data event; an error event (or an empty stream) before it becomes an HTTP error.
pub(super) async fn passthrough_stream(
    mut ex: Exchange,
    resp: http::Response<hyper::body::Incoming>,
    idle: Duration,
    is_sse: bool,
    deadline: Instant,
    cap: StreamCap,
) -> Result<Response, (Exchange, Failure)> {
    let format = ex.format;
    let mut upstream_body = resp.into_body();
    let mut obs = Observer::new(is_sse);
    let mut head = BytesMut::new();
    let mut ended = false;
    while !obs.saw_data {
        if head.len() > MAX_HEAD {
            return Err((ex, no_content_failure()));
        }
        match upstream::next_chunk(&mut upstream_body, pre_content_wait(idle, deadline)).await {
            Ok(Some(chunk)) => {
                if !is_sse && head.is_empty() && !chunk.trim_ascii_start().starts_with(b"[") {
                    return Err((
                        ex,
                        Failure::new(
                            ApiError::new(
                                ErrorKind::BadGateway,
                                "the provider did not stream its response",
                            )
                            .with_code("upstream_invalid_response"),
                            FailKind::Invalid,
                        ),
                    ));
                }
                obs.observe(&chunk);
                head.extend_from_slice(&chunk);
                if let Some(e) = obs.error.clone().filter(|_| !obs.saw_data) {
                    let kind = FailKind::ErrorInBody(Bytes::copy_from_slice(&head));
                    return Err((
                        ex,
                        Failure::new(
                            ApiError::new(ErrorKind::BadGateway, e).with_code("upstream_error"),
                            kind,
                        ),
                    ));
                }
            }
            Ok(None) => {
                ended = true;
                break;
            }
            Err(e) => return Err((ex, pre_content_failure(e))),
        }
    }
    if ended && !obs.saw_data {
        return Err((ex, empty_stream()));
    }
    ex.row.status = 200;
    // a stream's time to first token: when its first content is ready to go
    ex.row.ttfb_ms = Some(ex.elapsed_ms());
    ex.capture(&head);
    struct S {
        ex: Exchange,
        body: hyper::body::Incoming,
        obs: Observer,
        head: Option<Bytes>,
        idle: Duration,
        cap: StreamCap,
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
        cap,
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
        match next_within(&mut s.body, s.idle, &mut s.cap).await {
            Ok(Some(chunk)) => {
                s.obs.observe(&chunk);
                s.ex.capture(&chunk);
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
                let (status, msg, code) = e.info();
                let event = stream_error_event(s.format, msg, code, &s.obs);
                if s.obs.enabled {
                    s.ex.capture(&event);
                }
                s.ex.finish(
                    status,
                    Some(msg.into()),
                    s.obs.saw_usage.then_some(s.obs.usage),
                );
                if !s.obs.enabled {
                    // a JSON-array stream cannot carry an error element cleanly: break it
                    return Some((Err(std::io::Error::other(msg)), s));
                }
                Some((Ok(event), s))
            }
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    stream_headers(&mut r, !is_sse);
    Ok(r)
}

/// Different formats: upstream SSE → IR events → client stream, event by event. The response is
/// held until the first content (or finish) event; an upstream error before it becomes an HTTP
/// error in the client's format.
pub(super) async fn translated_stream(
    mut ex: Exchange,
    resp: http::Response<hyper::body::Incoming>,
    idle: Duration,
    mut tr: StreamTranslator,
    json_array: bool,
    deadline: Instant,
    cap: StreamCap,
) -> Result<Response, (Exchange, Failure)> {
    let mut upstream_body = resp.into_body();
    let mut head = BytesMut::new();
    let mut ended = false;
    loop {
        if head.len() > MAX_HEAD {
            return Err((ex, no_content_failure()));
        }
        match upstream::next_chunk(&mut upstream_body, pre_content_wait(idle, deadline)).await {
            Ok(Some(chunk)) => {
                ex.capture_upstream(&chunk);
                if let Err(e) = tr.push(&chunk, &mut head) {
                    if !tr.progress().content {
                        return Err((
                            ex,
                            Failure::new(
                                ApiError::new(ErrorKind::BadGateway, e)
                                    .with_code("upstream_invalid_response"),
                                FailKind::Invalid,
                            ),
                        ));
                    }
                    tr.finish(StreamEnd::Aborted(e.clone()), &mut head);
                    ex.row.status = 200;
                    // a stream's time to first token: when its first content is ready to go
                    ex.row.ttfb_ms = Some(ex.elapsed_ms());
                    ex.capture(&head);
                    ex.finish(502, Some(e), log_usage(&tr.usage()));
                    let mut r = Response::new(Body::from(head.freeze()));
                    stream_headers(&mut r, json_array);
                    return Ok(r);
                }
                let p = tr.progress();
                if p.error_before_content {
                    return Err((ex, error_event_failure(&tr)));
                }
                if p.content || p.finished {
                    break;
                }
            }
            Ok(None) => {
                ended = true;
                break;
            }
            Err(e) => return Err((ex, pre_content_failure(e))),
        }
    }
    if ended {
        tr.finish(StreamEnd::Complete, &mut head);
        let p = tr.progress();
        if p.error_before_content {
            return Err((ex, error_event_failure(&tr)));
        }
        if !p.content && !p.finished {
            return Err((ex, empty_stream()));
        }
        ex.capture(&head);
        ex.finish(200, None, log_usage(&tr.usage()));
        let mut r = Response::new(Body::from(head.freeze()));
        stream_headers(&mut r, json_array);
        return Ok(r);
    }
    ex.row.status = 200;
    // a stream's time to first token: when its first content is ready to go
    ex.row.ttfb_ms = Some(ex.elapsed_ms());
    ex.capture(&head);
    struct S {
        ex: Exchange,
        body: hyper::body::Incoming,
        tr: StreamTranslator,
        head: Option<Bytes>,
        idle: Duration,
        cap: StreamCap,
        done: bool,
    }
    let s = S {
        ex,
        body: upstream_body,
        tr,
        head: Some(head.freeze()),
        idle,
        cap,
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
            match next_within(&mut s.body, s.idle, &mut s.cap).await {
                Ok(Some(chunk)) => {
                    s.ex.capture_upstream(&chunk);
                    let pushed = s.tr.push(&chunk, &mut out);
                    if let Err(e) = pushed {
                        s.done = true;
                        s.tr.finish(StreamEnd::Aborted(e.clone()), &mut out);
                        s.ex.capture(&out);
                        s.ex.finish(502, Some(e), log_usage(&s.tr.usage()));
                    } else {
                        s.ex.capture(&out);
                    }
                }
                Ok(None) => {
                    s.done = true;
                    s.tr.finish(StreamEnd::Complete, &mut out);
                    s.ex.capture(&out);
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
                    let (status, msg, _) = e.info();
                    s.tr.finish(StreamEnd::Aborted(msg.to_string()), &mut out);
                    s.ex.capture(&out);
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
    Ok(r)
}

/// A failure before the first event of a stream.
fn pre_content_failure(e: ChunkError) -> Failure {
    match e {
        ChunkError::Idle => Failure::new(
            ApiError::new(
                ErrorKind::Timeout,
                "the provider's stream stalled before its first event",
            )
            .with_code("upstream_timeout"),
            FailKind::Timeout,
        ),
        ChunkError::Broken => Failure::new(
            ApiError::new(
                ErrorKind::BadGateway,
                "the provider's stream was cut off before its first event",
            )
            .with_code("upstream_error"),
            FailKind::Broken,
        ),
    }
}

fn empty_stream() -> Failure {
    Failure::new(
        ApiError::new(
            ErrorKind::BadGateway,
            "the provider returned an empty stream",
        )
        .with_code("upstream_empty_stream"),
        FailKind::EmptyStream,
    )
}

/// The upstream sent an error event before any content.
fn error_event_failure(tr: &StreamTranslator) -> Failure {
    let msg = tr.error().unwrap_or("upstream error").to_string();
    let kind = FailKind::ErrorInBody(Bytes::from(msg.clone().into_bytes()));
    Failure::new(
        ApiError::new(ErrorKind::BadGateway, format!("provider error: {msg}"))
            .with_code("upstream_error"),
        kind,
    )
}

/// A stream that starts at once with the attempt loop's `event: progress` events, then carries
/// the committed stream — or, when every attempt failed, the error as an event in the client's
/// stream format (the HTTP status is already 200).
pub(super) fn with_progress(
    format: ApiFormat,
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    run: tokio::task::JoinHandle<Response>,
) -> Response {
    use futures_util::StreamExt;
    /// Aborts the attempt loop when the client goes away before it finished.
    struct AbortOnDrop(tokio::task::JoinHandle<Response>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    enum St {
        Progress(tokio::sync::mpsc::Receiver<Bytes>, AbortOnDrop),
        Body(axum::body::BodyDataStream),
        Done,
    }
    let start = St::Progress(rx, AbortOnDrop(run));
    let stream = futures_util::stream::unfold(start, move |st| async move {
        match st {
            St::Progress(mut rx, mut run) => match rx.recv().await {
                Some(ev) => Some((Ok::<Bytes, axum::Error>(ev), St::Progress(rx, run))),
                None => {
                    let resp = match (&mut run.0).await {
                        Ok(r) => r,
                        Err(_) => {
                            let ev = progress_error(format, "the request failed", "internal_error");
                            return Some((Ok(ev), St::Done));
                        }
                    };
                    if resp.status().is_success() {
                        let mut body = resp.into_body().into_data_stream();
                        body.next().await.map(|item| (item, St::Body(body)))
                    } else {
                        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
                            .await
                            .unwrap_or_default();
                        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                        let msg = v
                            .pointer("/error/message")
                            .and_then(Value::as_str)
                            .unwrap_or("every attempt failed")
                            .to_string();
                        let code = v
                            .pointer("/error/code")
                            .and_then(Value::as_str)
                            .unwrap_or("upstream_error")
                            .to_string();
                        Some((Ok(progress_error(format, &msg, &code)), St::Done))
                    }
                }
            },
            St::Body(mut body) => body.next().await.map(|item| (item, St::Body(body))),
            St::Done => None,
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    stream_headers(&mut r, false);
    r
}

/// The error that ends a progress stream whose attempts all failed.
fn progress_error(format: ApiFormat, message: &str, code: &str) -> Bytes {
    let obs = Observer::new(true);
    stream_error_event(format, message, code, &obs)
}

#[cfg(test)]
mod tests {
    use super::carries_content;

    #[test]
    fn only_real_content_commits_a_pass_through_stream() {
        let c = |name: &str, data: &str| carries_content(name, data, None);
        // OpenAI chat: role-only and empty deltas are not content
        assert!(!c(
            "",
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#
        ));
        assert!(c(
            "",
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#
        ));
        assert!(c(
            "",
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0}]}}]}"#
        ));
        assert!(c(
            "",
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#
        ));
        assert!(c("", r#"{"choices":[],"usage":{"prompt_tokens":1}}"#));
        // Anthropic by event name
        assert!(!c("message_start", "{}"));
        assert!(!c("content_block_start", "{}"));
        assert!(!c("ping", "{}"));
        assert!(c("content_block_delta", "{}"));
        assert!(c("message_delta", "{}"));
        // Responses
        assert!(!c("response.created", "{}"));
        assert!(!c("response.output_item.added", "{}"));
        assert!(c("response.output_text.delta", "{}"));
        assert!(c("response.completed", "{}"));
        // Gemini
        assert!(!c(
            "",
            r#"{"candidates":[{"content":{"parts":[{"text":""}]}}]}"#
        ));
        assert!(c(
            "",
            r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}"#
        ));
        assert!(c(
            "",
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]}}]}"#
        ));
        assert!(c("", r#"{"candidates":[{"finishReason":"STOP"}]}"#));
        // unknown shapes commit (never hold a stream we do not understand)
        assert!(c("", "not json"));
        assert!(c("custom", "{}"));
    }
}
