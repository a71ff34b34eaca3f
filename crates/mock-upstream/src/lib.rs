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
//! # Recorder
//! `GET /__mock/requests` returns `{"requests": [{method, path, query, headers,
//! body, disconnected}]}` (body parsed as JSON when it is JSON, oldest first);
//! `DELETE /__mock/requests` forgets them. Neither is recorded.
//!
//! # Scripting
//! Directives come from the `x-mock` request header and/or `[[mock:...]]`
//! markers anywhere in the last user text (as above: in an agent loop, the
//! prompt that started it; markers are removed from the echoed text, which is
//! then trimmed). Directives are separated by `;` or `,` (not inside a JSON
//! object); keys are case-insensitive; unknown ones are ignored:
//!
//! | directive | effect |
//! |---|---|
//! | `status=NNN` (≥ 400) | that status with an error body in the endpoint's format; 429 adds `Retry-After: 7` |
//! | `retry-after=N` | `Retry-After: N` on the `status` error (any status) |
//! | `chunks=N` | stream N content chunks (text repeated if shorter); non-stream text = their concatenation |
//! | `delay=MS` | sleep before each streamed content chunk (never before the very first frame) |
//! | `first-byte=MS` | sleep before the response head (stream and non-stream, errors too) |
//! | `cut=N` | abort the connection right after N content chunks (no finish event, no `[DONE]`, incomplete chunked body); `cut=0` aborts right after the head; N beyond the chunk count has no effect |
//! | `error-event` | HTTP 200 whose stream starts with the format's error event (non-stream: 200 with an error JSON body) |
//! | `empty` | HTTP 200 with no content (stream: just the terminator) |
//! | `garbage` | HTTP 200, `content-type: application/json`, body `<html>oops` |
//! | `tools` | one tool call (first declared tool's name, else `get_weather`; args `{"location":"Paris"}`) instead of text |
//! | `call=NAME` or `call=NAME:{json}` | one call of the declared tool `NAME` (any format, Responses namespaces included) with those args, or args synthesized from its schema: each required property gets `"/tmp/omniroute-cli-e2e/hello.txt"` (name contains `path`/`file`), else `"hello"` (or the first `enum` value), numbers 1, booleans false, arrays `[]`, objects recursively; no such tool: text. Wins over `tools` |
//! | `reasoning` | reasoning/thinking content before the answer |
//! | `call-signature` | Gemini: the `thoughtSignature` goes on the functionCall part (as Gemini 2.5/3 do) instead of the last thought part |
//! | `strict` | 400 like the real API for histories it refuses: Gemini 3+ models (`gemini-N…`, N ≥ 3; other names unchecked), a model step of the current turn whose first functionCall has no `thoughtSignature`; Anthropic, a thinking block whose signature is not the mock's (`bW9jay1zaWduYXR1cmU=`), or (thinking on) a final assistant message with `tool_use` not starting with a thinking block |
//! | `usage=P,C` (or `P:C`) | report those token counts |
//!
//! Precedence: `first-byte`, then `status`, then `garbage`, then
//! `error-event`, then `empty` (which overrides `tools`, `call` and
//! `reasoning`); a tool result as the last message overrides `tools` and `call`.
//! "Content chunks" (paced by `delay`, counted by `cut`) are text deltas,
//! reasoning deltas and tool-argument fragments.

mod anthropic;
mod embeddings;
mod gemini;
mod handler;
mod models;
mod openai;
mod responses;
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
pub use state::{MockState, RecordedRequest, MAX_RECORDED};

/// Summary of the scripting directives (`x-mock: a=1; b` or `[[mock:a=1;b]]`).
pub const DIRECTIVES: &str = "status=NNN retry-after=N chunks=N delay=MS first-byte=MS cut=N \
                              error-event empty garbage tools call=NAME[:{json}] reasoning call-signature \
                              strict usage=P,C";

/// The axum app serving every mock endpoint (a single fallback handler that
/// dispatches on the path suffix), with the given recorder.
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

    /// The shared state (recorder).
    pub fn state(&self) -> &MockState {
        &self.state
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
