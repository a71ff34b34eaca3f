//! Request dispatch (by path suffix), the common generation context and error rendering.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

use crate::errors::{self, DEFAULT_RETRY_AFTER};
use crate::script::{take_markers, Script, MARKER};
use crate::state::MockState;
use crate::stream::{self, Frames};
use crate::text::{self, DEFAULT_TOOL, TOOL_ARGS};
use crate::{anthropic, control, embeddings, gemini, models, openai, responses};

/// Largest accepted request body.
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Message of errors produced by `error-event`.
pub(crate) const ERROR_MESSAGE: &str = "mock upstream error";

/// Error body flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    OpenAi,
    Anthropic,
    Gemini,
}

/// What a format parser extracted from a generation request.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub tool_name: Option<String>,
    /// Text of the most recent user message that carries text (not only tool results).
    pub user_text: Option<String>,
    /// Text of the tool result when the conversation's last message is one.
    pub tool_result: Option<String>,
}

/// Everything a format renderer needs to answer one generation request.
pub(crate) struct Turn {
    pub id: u64,
    pub model: String,
    pub script: Script,
    /// Output text (empty with a tool call, `empty`, `error-event`).
    pub text: String,
    pub chunks: Vec<Range<usize>>,
    /// The answer is a tool call (`tools`, or `call=` naming a declared tool).
    pub tool_call: bool,
    pub tool_name: String,
    /// Arguments of the tool call (JSON text).
    pub tool_args: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub stream: bool,
    pub include_usage: bool,
    pub flag: Arc<AtomicBool>,
}

impl Turn {
    /// The streamed text deltas; they concatenate to `text`.
    pub(crate) fn deltas(&self) -> impl Iterator<Item = &str> {
        text::pieces(&self.text, &self.chunks)
    }

    pub(crate) fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// A tool-call answer (and not overridden by `empty`).
    pub(crate) fn tools(&self) -> bool {
        self.tool_call && !self.script.empty
    }

    /// Pieces of the tool-call arguments, as streamed.
    pub(crate) fn tool_fragments(&self) -> impl Iterator<Item = &str> {
        let ranges = text::split_even(&self.tool_args, text::TOOL_FRAGMENTS);
        ranges
            .into_iter()
            .map(|r| self.tool_args.get(r).unwrap_or(""))
    }

    /// The tool-call arguments as a JSON value.
    pub(crate) fn tool_args_value(&self) -> Value {
        serde_json::from_str(&self.tool_args).unwrap_or_else(|_| json!({}))
    }

    /// `reasoning` requested (and not overridden by `empty`).
    pub(crate) fn reasoning(&self) -> bool {
        self.script.reasoning && !self.script.empty
    }

    /// An SSE response carrying `frames`, paced and cut per the script.
    pub(crate) fn sse(&self, frames: Frames) -> Response {
        self.streamed(frames, "text/event-stream")
    }

    /// A streamed response with the given content type.
    pub(crate) fn streamed(&self, frames: Frames, content_type: &'static str) -> Response {
        let body = stream::body(
            frames,
            Duration::from_millis(self.script.delay_ms),
            self.script.cut,
            self.flag.clone(),
        );
        (
            StatusCode::OK,
            [
                (CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            body,
        )
            .into_response()
    }
}

/// Pieces of the reasoning text, as streamed.
pub(crate) fn reasoning_deltas() -> impl Iterator<Item = &'static str> {
    let ranges = text::split_even(text::REASONING_TEXT, text::REASONING_CHUNKS);
    ranges
        .into_iter()
        .map(|r| text::REASONING_TEXT.get(r).unwrap_or(""))
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut buf = Vec::with_capacity(512);
    stream::write_json(&mut buf, v);
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        buf,
    )
        .into_response()
}

/// An error body in the endpoint's own format.
pub(crate) fn error_body(format: Format, status: u16, message: &str) -> Value {
    match format {
        Format::OpenAi => {
            let (kind, code) = match status {
                400 => ("invalid_request_error", "invalid_request"),
                401 => ("authentication_error", "invalid_api_key"),
                403 => ("permission_error", "permission_denied"),
                404 => ("invalid_request_error", "not_found"),
                429 => ("requests", "rate_limit_exceeded"),
                503 => ("server_error", "service_unavailable"),
                s if s >= 500 => ("server_error", "server_error"),
                _ => ("invalid_request_error", "invalid_request"),
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
        Format::Anthropic => {
            let kind = match status {
                400 => "invalid_request_error",
                401 => "authentication_error",
                402 => "billing_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                504 => "timeout_error",
                529 => "overloaded_error",
                s if s >= 500 => "api_error",
                _ => "invalid_request_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
        Format::Gemini => {
            let kind = match status {
                400 => "INVALID_ARGUMENT",
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                404 => "NOT_FOUND",
                409 => "ABORTED",
                429 => "RESOURCE_EXHAUSTED",
                499 => "CANCELLED",
                500 => "INTERNAL",
                501 => "UNIMPLEMENTED",
                503 | 529 => "UNAVAILABLE",
                504 => "DEADLINE_EXCEEDED",
                s if (400..500).contains(&s) => "FAILED_PRECONDITION",
                _ => "UNKNOWN",
            };
            json!({"error": {"code": status, "message": message, "status": kind}})
        }
    }
}

/// An error response in the endpoint's own format.
pub(crate) fn error_response(
    format: Format,
    status: u16,
    message: &str,
    retry_after: Option<u64>,
) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    with_retry_after(
        json_response(code, &error_body(format, code.as_u16(), message)),
        retry_after,
    )
}

fn with_retry_after(mut resp: Response, retry_after: Option<u64>) -> Response {
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The garbage answer: 200, JSON content type, not JSON.
fn garbage() -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        "<html>oops",
    )
        .into_response()
}

/// Directives every endpoint honours before answering: `first-byte`,
/// `error-200`, `status` (with `quota`/`context`) and `garbage`. Returns the
/// response that replaces the normal one.
async fn prelude(script: &Script, format: Format) -> Option<Response> {
    if script.first_byte_ms > 0 {
        tokio::time::sleep(Duration::from_millis(script.first_byte_ms)).await;
    }
    let retry_secs = script.retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
    if script.error_200 {
        let status = script.error_status().unwrap_or(500);
        let body = errors::scripted(format, status, script.error_kind(status), retry_secs);
        return Some(json_response(StatusCode::OK, &body));
    }
    if let Some(status) = script.error_status() {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let status = code.as_u16();
        let retry_after = match script.retry_after {
            Some(s) => Some(s),
            None if status == 429 => Some(DEFAULT_RETRY_AFTER),
            None => None,
        };
        let body = errors::scripted(format, status, script.error_kind(status), retry_secs);
        return Some(with_retry_after(json_response(code, &body), retry_after));
    }
    if script.garbage {
        return Some(garbage());
    }
    None
}

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
enum Endpoint<'a> {
    Chat,
    Responses,
    Messages,
    CountTokens,
    Embeddings,
    Gemini {
        model: &'a str,
        method: &'a str,
    },
    ModelList,
    ModelGet(&'a str),
    Health,
    /// An OTLP/HTTP trace export (`POST /v1/traces`): recorded, answered `{}`.
    Traces,
}

/// `.../models/{model}:{method}` → (model, method).
fn gemini_target(path: &str) -> Option<(&str, &str)> {
    let idx = path.rfind("/models/")?;
    let rest = &path[idx + "/models/".len()..];
    if rest.contains('/') {
        return None;
    }
    let (model, method) = rest.rsplit_once(':')?;
    (!model.is_empty() && !method.is_empty()).then_some((model, method))
}

fn route<'a>(method: &Method, path: &'a str) -> Option<Endpoint<'a>> {
    if *method == Method::POST {
        if let Some((model, method)) = gemini_target(path) {
            return Some(Endpoint::Gemini { model, method });
        }
        if path.ends_with("/chat/completions") {
            Some(Endpoint::Chat)
        } else if path.ends_with("/responses") {
            Some(Endpoint::Responses)
        } else if path.ends_with("/messages/count_tokens") {
            Some(Endpoint::CountTokens)
        } else if path.ends_with("/messages") {
            Some(Endpoint::Messages)
        } else if path.ends_with("/embeddings") {
            Some(Endpoint::Embeddings)
        } else if path == "/v1/traces" {
            Some(Endpoint::Traces)
        } else {
            None
        }
    } else if *method == Method::GET {
        if path.ends_with("/models") {
            Some(Endpoint::ModelList)
        } else if path == "/health" || path == "/healthz" {
            Some(Endpoint::Health)
        } else {
            let idx = path.rfind("/models/")?;
            let id = &path[idx + "/models/".len()..];
            (!id.is_empty() && !id.contains('/')).then_some(Endpoint::ModelGet(id))
        }
    } else {
        None
    }
}

/// The fallback handler serving every path.
pub(crate) async fn handle(State(state): State<MockState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return error_response(
            Format::OpenAi,
            413,
            "mock-upstream: request body too large or unreadable",
            None,
        );
    };
    if let Some(rest) = parts.uri.path().strip_prefix(control::PREFIX) {
        return control::handle(&state, &parts.method, rest, &body);
    }
    let flag = state.record(&parts, &body);
    let full_path = parts.uri.path();
    let path = match full_path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    let query = parts.uri.query();
    let endpoint = route(&parts.method, path);
    // The JSON body, parsed once: the model for rules and stats, then the endpoint's input.
    let json = (parts.method == Method::POST).then(|| serde_json::from_slice::<Value>(&body));
    let key = credential(&parts.headers, query);
    let model = match &endpoint {
        Some(Endpoint::Gemini { model, .. }) => Some(*model),
        _ => json
            .as_ref()
            .and_then(|j| j.as_ref().ok())
            .and_then(|v| v.get("model"))
            .and_then(Value::as_str),
    };
    if endpoint != Some(Endpoint::Health) {
        state.count(key.as_deref(), model);
    }
    let Some(endpoint) = endpoint else {
        let message = format!("mock-upstream: no route for {} {}", parts.method, full_path);
        return error_response(Format::OpenAi, 404, &message, None);
    };
    // Rule directives first, so the request's own directives win.
    let mut script = match endpoint {
        Endpoint::Health => None,
        _ => state.rule_script(key.as_deref(), model),
    }
    .unwrap_or_default();
    if let Some(h) = parts.headers.get("x-mock") {
        script.parse(&String::from_utf8_lossy(h.as_bytes()));
    }
    let ctx = Ctx {
        state: &state,
        script,
        body: &body,
        json,
        flag,
    };
    match endpoint {
        Endpoint::Chat => {
            ctx.generate(Format::OpenAi, openai::parse, openai::respond)
                .await
        }
        Endpoint::Responses => {
            ctx.generate(Format::OpenAi, responses::parse, responses::respond)
                .await
        }
        Endpoint::Messages => {
            ctx.generate(Format::Anthropic, anthropic::parse, anthropic::respond)
                .await
        }
        Endpoint::CountTokens => {
            ctx.simple(
                Format::Anthropic,
                |v| json!({"input_tokens": text::input_words(v).max(1)}),
            )
            .await
        }
        Endpoint::Embeddings => ctx.simple(Format::OpenAi, embeddings::respond).await,
        Endpoint::Traces => ctx.simple(Format::OpenAi, |_| json!({})).await,
        Endpoint::Gemini { model, method } => match method {
            "generateContent" | "streamGenerateContent" => {
                let stream = method == "streamGenerateContent";
                let sse = query.is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
                ctx.generate(
                    Format::Gemini,
                    |v| gemini::parse(v, model, stream),
                    |t| gemini::respond(t, sse),
                )
                .await
            }
            "countTokens" => {
                ctx.simple(
                    Format::Gemini,
                    |v| json!({"totalTokens": text::input_words(v).max(1)}),
                )
                .await
            }
            "embedContent" => ctx.simple(Format::Gemini, gemini::embed_content).await,
            "batchEmbedContents" => {
                ctx.simple(Format::Gemini, gemini::batch_embed_contents)
                    .await
            }
            other => {
                let message = format!("mock-upstream: unknown method {other}");
                error_response(Format::Gemini, 404, &message, None)
            }
        },
        Endpoint::ModelList | Endpoint::ModelGet(_) => {
            let flavor = models::flavor(path, query, &parts.headers);
            let format = flavor.error_format();
            if let Some(r) = prelude(&ctx.script, format).await {
                return r;
            }
            match endpoint {
                Endpoint::ModelGet(id) => models::get(flavor, id),
                _ => models::list(flavor),
            }
        }
        Endpoint::Health => json_response(StatusCode::OK, &json!({"status": "ok"})),
    }
}

/// The request's credential: `Authorization: Bearer`, `x-api-key`,
/// `x-goog-api-key` or the `key` query parameter (first present, in that order).
fn credential<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<Cow<'a, str>> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let bearer = header("authorization").and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    });
    if let Some(k) = bearer
        .or_else(|| header("x-api-key"))
        .or_else(|| header("x-goog-api-key"))
    {
        return Some(Cow::Borrowed(k));
    }
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("key="))
        .filter(|k| !k.is_empty())
        .map(percent_decode)
}

/// Decode `%XX` escapes (invalid ones are kept as they are).
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Per-request context shared by the endpoint handlers.
struct Ctx<'a> {
    state: &'a MockState,
    script: Script,
    body: &'a Bytes,
    /// The body parsed as JSON (POST requests), taken by `body_json`.
    json: Option<serde_json::Result<Value>>,
    flag: Arc<AtomicBool>,
}

impl Ctx<'_> {
    /// Parse the JSON body; an invalid body is a 400 (after the header directives).
    async fn body_json(&mut self, format: Format) -> Result<Value, Response> {
        let parsed = match self.json.take() {
            Some(j) => j,
            None => serde_json::from_slice::<Value>(self.body),
        };
        match parsed {
            Ok(v) => Ok(v),
            Err(e) => {
                if let Some(r) = prelude(&self.script, format).await {
                    return Err(r);
                }
                let message = format!("mock-upstream: invalid JSON body: {e}");
                Err(error_response(format, 400, &message, None))
            }
        }
    }

    /// A non-generation endpoint answering `build(body)`.
    async fn simple(mut self, format: Format, build: impl FnOnce(&Value) -> Value) -> Response {
        let v = match self.body_json(format).await {
            Ok(v) => v,
            Err(r) => return r,
        };
        if let Some(r) = prelude(&self.script, format).await {
            return r;
        }
        json_response(StatusCode::OK, &build(&v))
    }

    /// A generation endpoint: parse, apply directives, render.
    async fn generate(
        mut self,
        format: Format,
        parse: impl FnOnce(&Value) -> Parsed,
        respond: impl FnOnce(&Turn) -> Response,
    ) -> Response {
        let v = match self.body_json(format).await {
            Ok(v) => v,
            Err(r) => return r,
        };
        let parsed = parse(&v);
        let mut user = parsed.user_text.unwrap_or_default();
        if user.contains(MARKER) {
            user = take_markers(&user, &mut self.script);
        }
        if let Some(r) = prelude(&self.script, format).await {
            return r;
        }
        if self.script.strict {
            let refused = match format {
                Format::Anthropic => anthropic::strict_check(&v),
                Format::Gemini => gemini::strict_check(&v, &parsed.model),
                Format::OpenAi => None,
            };
            if let Some(message) = refused {
                return error_response(format, 400, &message, None);
            }
        }
        let script = self.script;
        // A tool result last ends the agent loop: answer `done: ...`, never call again.
        let call = match (&parsed.tool_result, &script.call) {
            (Some(_), _) => None,
            (None, Some(name)) => text::find_tool(&v, name).map(|schema| {
                let args = script
                    .call_args
                    .as_deref()
                    .and_then(|a| serde_json::from_str::<Value>(a).ok())
                    .filter(Value::is_object)
                    .unwrap_or_else(|| text::synth_args(&schema));
                (name.clone(), args.to_string())
            }),
            (None, None) if script.tools => Some((
                parsed.tool_name.unwrap_or_else(|| DEFAULT_TOOL.to_owned()),
                TOOL_ARGS.to_owned(),
            )),
            (None, None) => None,
        };
        let tool_call = call.is_some();
        let (tool_name, tool_args) =
            call.unwrap_or_else(|| (DEFAULT_TOOL.to_owned(), TOOL_ARGS.to_owned()));
        let plain = !(tool_call || script.empty || script.error_event);
        let (text, chunks) = if plain {
            let base = match (&parsed.tool_result, text::output_schema(&v)) {
                (Some(result), _) => text::done_text(result),
                (None, Some(schema)) => text::synth_args(&schema).to_string(),
                (None, None) => {
                    let mut base = String::with_capacity(6 + user.len());
                    base.push_str("echo: ");
                    base.push_str(&user);
                    base
                }
            };
            text::plan_output(base, script.chunks)
        } else {
            (String::new(), Vec::new())
        };
        let prompt_tokens = script
            .usage_prompt
            .unwrap_or_else(|| text::input_words(&v).max(1));
        let completion_tokens = script.usage_completion.unwrap_or_else(|| {
            let out = if tool_call && !script.empty {
                &tool_args
            } else {
                &text
            };
            text::words(out).max(1)
        });
        let turn = Turn {
            id: self.state.next_id(),
            model: parsed.model,
            script,
            text,
            chunks,
            tool_call,
            tool_name,
            tool_args,
            prompt_tokens,
            completion_tokens,
            stream: parsed.stream,
            include_usage: parsed.include_usage,
            flag: self.flag,
        };
        respond(&turn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_suffix() {
        let post = Method::POST;
        assert_eq!(route(&post, "/v1/chat/completions"), Some(Endpoint::Chat));
        assert_eq!(route(&post, "/chat/completions"), Some(Endpoint::Chat));
        assert_eq!(
            route(&post, "/openai/v1/chat/completions"),
            Some(Endpoint::Chat)
        );
        assert_eq!(route(&post, "/v1/responses"), Some(Endpoint::Responses));
        assert_eq!(route(&post, "/v1/messages"), Some(Endpoint::Messages));
        assert_eq!(
            route(&post, "/v1/messages/count_tokens"),
            Some(Endpoint::CountTokens)
        );
        assert_eq!(route(&post, "/v1/embeddings"), Some(Endpoint::Embeddings));
        assert_eq!(
            route(&post, "/v1beta/models/gemini-2.5-pro:streamGenerateContent"),
            Some(Endpoint::Gemini {
                model: "gemini-2.5-pro",
                method: "streamGenerateContent"
            })
        );
        assert_eq!(
            route(
                &post,
                "/v1/projects/p/locations/l/publishers/google/models/m:generateContent"
            ),
            Some(Endpoint::Gemini {
                model: "m",
                method: "generateContent"
            })
        );
        assert_eq!(route(&post, "/v1/other"), None);
        let get = Method::GET;
        assert_eq!(route(&get, "/v1/models"), Some(Endpoint::ModelList));
        assert_eq!(route(&get, "/v1beta/models"), Some(Endpoint::ModelList));
        assert_eq!(
            route(&get, "/v1/models/mock-small"),
            Some(Endpoint::ModelGet("mock-small"))
        );
        assert_eq!(route(&get, "/v1/chat/completions"), None);
    }

    #[test]
    fn credential_sources() {
        let mut h = HeaderMap::new();
        assert_eq!(
            credential(&h, Some("key=a%2Bb&x=1")).as_deref(),
            Some("a+b")
        );
        assert_eq!(credential(&h, Some("key=")), None);
        assert_eq!(credential(&h, Some("x=%zz")), None);
        assert_eq!(percent_decode("%zz%4%+1"), "%zz%4%+1");
        h.insert("x-goog-api-key", HeaderValue::from_static("g"));
        assert_eq!(credential(&h, Some("key=q")).as_deref(), Some("g"));
        h.insert("x-api-key", HeaderValue::from_static("a"));
        assert_eq!(credential(&h, None).as_deref(), Some("a"));
        h.insert("authorization", HeaderValue::from_static("Basic zzz"));
        assert_eq!(credential(&h, None).as_deref(), Some("a"));
        h.insert("authorization", HeaderValue::from_static("bearer  sk-1 "));
        assert_eq!(credential(&h, None).as_deref(), Some("sk-1"));
    }
}
