//! Deterministic fake LLM provider (OpenAI Chat and Responses, Anthropic Messages, Gemini,
//! embeddings, model lists) for the gateway's integration tests and benchmarks.
//!
//! # Answers
//! Every generation answer is `echo: <last user text>` (the most recent user
//! message that carries text, tool-result-only messages skipped). When the
//! conversation's last message is a tool result (OpenAI role `tool`, Anthropic
//! `tool_result` block, Gemini `functionResponse`, Responses
//! `function_call_output`) the answer is `done: <first 80 chars of the result
//! text>` instead, and no tool is called (so an agent loop ends). When the
//! request asks for JSON output (OpenAI `response_format`, Responses
//! `text.format`, Anthropic `output_format`/`output_config.format`, Gemini
//! `responseMimeType: application/json`) the answer is instead a JSON object
//! synthesized from the schema like `call=` arguments (`{}` without a schema).
//! Streamed, the text is split into 4 chunks (on char boundaries) whose
//! concatenation equals the non-stream text. Ids are `chatcmpl-mock-N`, `msg_mock_N`, `resp_mock_N`,
//! `mock-N` (Gemini `responseId`), N counting requests from 1 per server;
//! `created` is the fixed 1700000000. Token usage defaults to word counts
//! (prompt: all input text; completion: output text; both at least 1).
//!
//! It also plays an OpenTelemetry collector: `POST /v1/traces` (OTLP/HTTP JSON) is recorded
//! like any request and answered `{}`.
//!
//! # Control API
//! Paths under `/__mock/` are never recorded, counted or matched by rules;
//! their errors are OpenAI-shaped (400 bad input, 404 unknown path or rule,
//! 405 wrong method).
//!
//! | endpoint | effect |
//! |---|---|
//! | `GET /__mock/requests` | `{"requests": [{method, path, query, headers, body, disconnected}]}`, oldest first (body parsed when JSON; at most [`MAX_RECORDED`]) |
//! | `DELETE /__mock/requests` | forget them → `{"cleared": true}` |
//! | `POST /__mock/rules` | add a rule `{"script": "status=429;retry-after=2", "key"?: "sk-a", "model"?: "m", "times"?: N}` → `{"id": N}` (ids count from 1; unknown fields, a missing `script` or `times` < 1 are a 400) |
//! | `GET /__mock/rules` | `{"rules": [{id, script, key, model, times, remaining}]}`: the live rules in check order (`times`/`remaining` null = unlimited) |
//! | `GET /__mock/rules/{id}` | one live rule (404 when removed or expired) |
//! | `DELETE /__mock/rules` | remove all → `{"deleted": n}` |
//! | `DELETE /__mock/rules/{id}` | remove one → `{"deleted": 1}` (404 when not live) |
//! | `GET /__mock/stats` | `{"total": n, "by_key": {"sk-a": n}, "by_model": {"m": n}}` |
//! | `DELETE /__mock/stats` | reset the counters → `{"cleared": true}` |
//!
//! **Rules** script requests that cannot carry directives themselves (e.g.
//! behind a gateway that drops client headers). A request's *credential* is
//! the first of `Authorization: Bearer <token>`, `x-api-key`,
//! `x-goog-api-key` and the `?key=` query parameter (percent-decoded); its
//! *model* is the body's `model` string, or the model in a Gemini
//! `…/models/{model}:{method}` URL. A rule matches when its `key` (if set)
//! equals the credential and its `model` (if set) equals the model. For each
//! routed request (health checks excepted: model lists, embeddings and token
//! counts included) the first matching live rule, in insertion order, is
//! applied: its script is parsed first, then the request's `x-mock` header
//! and markers on top, so request directives win field by field (a request
//! can cancel a rule's error with `status=0`, or `status=200` which also
//! cancels `quota`/`context`). A rule with `times: N` applies to the next N
//! matching requests, then is removed; without `times` it lasts until deleted.
//! The same is available in-process: [`MockState::add_rule`] /
//! [`MockUpstream::add_rule`] with a [`MockRule`].
//!
//! **Stats** are plain counters (independent of the capped recorder, kept
//! even with recording off): every request except `/__mock/*` and
//! `/health`/`/healthz` counts in `total` (unrouted ones included), and under
//! its credential in `by_key` and its model in `by_model` when it has them.
//!
//! # Scripting
//! Directives come from a matching rule (see Control API), the `x-mock`
//! request header and/or `[[mock:...]]` markers anywhere in the last user text
//! (as above: in an agent loop, the prompt that started it; markers are
//! removed from the echoed text, which is then trimmed), later sources winning
//! in that order. Directives are separated by `;` or `,` (not inside a JSON
//! object); keys are case-insensitive; unknown ones are ignored:
//!
//! | directive | effect |
//! |---|---|
//! | `status=NNN` (≥ 400) | that status with the endpoint format's real error shape and wording (OpenAI `{"error": {message, type, param, code}}`, Anthropic `{"type": "error", "error": {type, message}}`, Gemini `{"error": {code, message, status}}`); 429 is a rate limit ("Rate limit reached…"; OpenAI code `rate_limit_exceeded`, Anthropic `rate_limit_error`, Gemini `RESOURCE_EXHAUSTED` with a `RetryInfo` detail) and adds `Retry-After: 7`; 529 is Anthropic `overloaded_error` "Overloaded" (Gemini `UNAVAILABLE`); `status=0` clears an earlier `status` |
//! | `quota` | the 429 is a quota error (alone: `status=429`): OpenAI type/code `insufficient_quota` "You exceeded your current quota…", Gemini `RESOURCE_EXHAUSTED` "You exceeded your current quota…" with `QuotaFailure` and `RetryInfo` details, Anthropic `rate_limit_error` "You have reached your specified API usage limits…"; ignored with another `status` |
//! | `context` | the 400 is a context-length error (alone: `status=400`; `quota` wins if both): OpenAI code `context_length_exceeded` (param `messages`) "This model's maximum context length is…", Anthropic `invalid_request_error` "prompt is too long: 210000 tokens > 200000 maximum", Gemini `INVALID_ARGUMENT` "The input token count (…) exceeds the maximum number of tokens allowed (…)"; ignored with another `status` |
//! | `retry-after=N` | `Retry-After: N` on the `status` error (any status); also the delay quoted by 429 messages and Gemini's `retryDelay` |
//! | `error-200` | HTTP 200 whose JSON body is the error `status`/`quota`/`context` describe (default: a 500 server error) in the format's error shape, on every endpoint, stream requests included (a plain JSON body, no SSE; for an error inside a stream use `error-event`); no `Retry-After` |
//! | `chunks=N` | stream N content chunks (text repeated if shorter); non-stream text = their concatenation |
//! | `delay=MS` | sleep before each streamed content chunk (never before the very first frame) |
//! | `first-byte=MS` | sleep before the response head (stream and non-stream, errors too) |
//! | `cut=N` | abort the connection right after N content chunks (no finish event, no `[DONE]`, incomplete chunked body); `cut=0` aborts right after the head; N beyond the chunk count has no effect |
//! | `error-event` | HTTP 200 whose stream starts with the format's error event (non-stream: 200 with a generic server-error JSON body; see `error-200`) |
//! | `empty` | HTTP 200 with no content (stream: just the terminator) |
//! | `garbage` | HTTP 200, `content-type: application/json`, body `<html>oops` |
//! | `tools` | one tool call (first declared tool's name, else `get_weather`; args `{"location":"Paris"}`) instead of text |
//! | `call=NAME` or `call=NAME:{json}` | one call of the declared tool `NAME` (any format, Responses namespaces included) with those args, or args synthesized from its schema: each required property gets `"/tmp/omniroute-cli-e2e/hello.txt"` (name contains `path`/`file`), else `"hello"` (or the first `enum` value), numbers 1, booleans false, arrays `[]`, objects recursively; no such tool: text. Wins over `tools` |
//! | `reasoning` | reasoning/thinking content before the answer |
//! | `call-signature` | Gemini: the `thoughtSignature` goes on the functionCall part (as Gemini 2.5/3 do) instead of the last thought part |
//! | `strict` | 400 like the real API for histories it refuses: Gemini 3+ models (`gemini-N…`, N ≥ 3; other names unchecked), a model step of the current turn whose first functionCall has no `thoughtSignature`; Anthropic, a thinking block whose signature is not the mock's (`bW9jay1zaWduYXR1cmU=`), or (thinking on) a final assistant message with `tool_use` not starting with a thinking block |
//! | `usage=P,C` (or `P:C`) | report those token counts |
//!
//! Precedence: `first-byte`, then `error-200`, then `status` (and
//! `quota`/`context`), then `garbage`, then
//! `error-event`, then `empty` (which overrides `tools`, `call` and
//! `reasoning`); a tool result as the last message overrides `tools` and `call`.
//! "Content chunks" (paced by `delay`, counted by `cut`) are text deltas,
//! reasoning deltas and tool-argument fragments.

mod anthropic;
mod control;
mod embeddings;
mod errors;
mod gemini;
mod handler;
mod models;
mod openai;
mod responses;
mod rules;
mod script;
mod state;
mod stream;
mod text;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use models::MODELS;
pub use rules::{ActiveRule, MockRule, MockStats};
pub use state::{MockState, RecordedRequest, MAX_RECORDED};

/// Summary of the scripting directives (`x-mock: a=1; b` or `[[mock:a=1;b]]`).
pub const DIRECTIVES: &str = "status=NNN quota context retry-after=N chunks=N delay=MS \
                              first-byte=MS cut=N error-event error-200 empty garbage tools \
                              call=NAME[:{json}] reasoning call-signature strict usage=P,C";

/// The axum app serving every mock endpoint (a single fallback handler that
/// dispatches on the path suffix), with the given state (recorder, rules, stats).
pub fn router(state: MockState) -> Router {
    Router::new().fallback(handler::handle).with_state(state)
}

/// Serve the mock on `listener` (TCP_NODELAY on accepted sockets) until
/// `shutdown` completes; in-flight responses then finish gracefully.
pub async fn serve<F>(listener: TcpListener, state: MockState, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A mock server on an ephemeral localhost port, serving in a background
/// task; dropping it stops accepting connections.
#[derive(Debug)]
pub struct MockUpstream {
    addr: SocketAddr,
    state: MockState,
    shutdown: Option<oneshot::Sender<()>>,
}

impl MockUpstream {
    /// Binds 127.0.0.1:0 and serves in a background tokio task, recording requests.
    pub async fn start() -> io::Result<MockUpstream> {
        Self::start_with(MockState::new(true)).await
    }

    /// Like [`MockUpstream::start`] with a given state (e.g. `MockState::new(false)`).
    pub async fn start_with(state: MockState) -> io::Result<MockUpstream> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(async move {
            let _ = serve(listener, served, async move {
                let _ = rx.await;
            })
            .await;
        });
        Ok(MockUpstream {
            addr,
            state,
            shutdown: Some(tx),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Recorded requests, in arrival order (at most [`MAX_RECORDED`]).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// The most recent recorded request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.state.requests().pop()
    }

    /// Forget all recorded requests.
    pub fn clear(&self) {
        self.state.clear();
    }

    /// The shared state (recorder, rules, stats).
    pub fn state(&self) -> &MockState {
        &self.state
    }

    /// Add a server-side rule (like `POST /__mock/rules`); returns its id.
    pub fn add_rule(&self, rule: MockRule) -> u64 {
        self.state.add_rule(rule)
    }

    /// Remove every rule.
    pub fn clear_rules(&self) {
        self.state.clear_rules();
    }

    /// The request counters (like `GET /__mock/stats`).
    pub fn stats(&self) -> MockStats {
        self.state.stats()
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
