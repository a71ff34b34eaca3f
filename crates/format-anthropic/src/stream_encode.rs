//! IR stream events → an Anthropic Messages SSE stream for the client: `message_start`, `ping`,
//! one content block at a time (`content_block_start`, deltas, `content_block_stop`, indexes
//! from 0), then `message_delta` + `message_stop`, or `event: error` when the upstream broke.
//! Only the open block is remembered.

use bytes::{BufMut, BytesMut};
use omniroute_ir::{FinishReason, StreamEncoder, StreamEnd, StreamEvent, Usage};
use serde_json::{json, Value};

use crate::common::{message_id, stop_reason_from_ir, usage_to_json, Obj};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking {
        signed: bool,
    },
    /// A tool_use block for IR tool call `index`.
    Tool(usize),
}

#[derive(Debug, Clone, Copy)]
struct Open {
    index: usize,
    kind: Kind,
}

/// Encoder of an Anthropic Messages stream.
#[derive(Debug)]
pub struct AnthropicStreamEncoder {
    model: String,
    id: Option<String>,
    /// `message_start` has been written.
    started: bool,
    /// `message_stop` or `error` has been written: nothing more is sent.
    ended: bool,
    usage: Usage,
    finish: Option<FinishReason>,
    open: Option<Open>,
    next_index: usize,
}

fn frame(out: &mut BytesMut, name: &str, data: &Value) {
    out.put_slice(b"event: ");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\ndata: ");
    out.put_slice(data.to_string().as_bytes());
    out.put_slice(b"\n\n");
}

impl AnthropicStreamEncoder {
    /// `model`: the name the client asked for.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            id: None,
            started: false,
            ended: false,
            usage: Usage::default(),
            finish: None,
            open: None,
            next_index: 0,
        }
    }

    /// `message_start` (lazily, so usage reported with the upstream's start is included) and
    /// a `ping`, as Anthropic sends them.
    fn ensure_started(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        let mut usage = usage_to_json(&self.usage);
        // Output has not been counted yet at the start.
        usage["output_tokens"] = json!(0);
        frame(
            out,
            "message_start",
            &json!({
                "type": "message_start",
                "message": {
                    "id": message_id(self.id.as_deref()),
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": usage,
                },
            }),
        );
        frame(out, "ping", &json!({"type": "ping"}));
    }

    fn close(&mut self, out: &mut BytesMut) {
        if let Some(open) = self.open.take() {
            frame(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": open.index}),
            );
        }
    }

    fn open(&mut self, kind: Kind, block: Value, out: &mut BytesMut) {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        frame(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        self.open = Some(Open { index, kind });
    }

    fn delta(&self, delta: Value, out: &mut BytesMut) {
        if let Some(open) = self.open {
            frame(
                out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": open.index, "delta": delta}),
            );
        }
    }

    fn open_kind(&self) -> Option<Kind> {
        self.open.map(|o| o.kind)
    }

    fn open_thinking(&mut self, out: &mut BytesMut) {
        self.open(
            Kind::Thinking { signed: false },
            json!({"type": "thinking", "thinking": "", "signature": ""}),
            out,
        );
    }

    fn signature(&mut self, signature: &str, out: &mut BytesMut) {
        if self.open_kind() != Some(Kind::Thinking { signed: false }) {
            self.open_thinking(out);
        }
        self.delta(
            json!({"type": "signature_delta", "signature": signature}),
            out,
        );
        if let Some(open) = &mut self.open {
            open.kind = Kind::Thinking { signed: true };
        }
    }

    /// Close the open block (if any), then `event: error`; the stream is over.
    fn error(&mut self, message: &str, out: &mut BytesMut) {
        self.close(out);
        frame(
            out,
            "error",
            &json!({"type": "error", "error": {"type": "api_error", "message": message}}),
        );
        self.ended = true;
    }
}

impl StreamEncoder for AnthropicStreamEncoder {
    fn push(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.ended {
            return;
        }
        match event {
            StreamEvent::Start { id, .. } => {
                if !self.started && self.id.is_none() {
                    self.id = id.clone();
                }
            }
            StreamEvent::Usage { usage } => self.usage.merge(usage),
            StreamEvent::TextDelta { text } => {
                if text.is_empty() {
                    return;
                }
                self.ensure_started(out);
                if self.open_kind() != Some(Kind::Text) {
                    self.open(Kind::Text, json!({"type": "text", "text": ""}), out);
                }
                self.delta(json!({"type": "text_delta", "text": text}), out);
            }
            StreamEvent::ReasoningDelta { text } => {
                if text.is_empty() {
                    return;
                }
                self.ensure_started(out);
                // A signed thinking block is complete: more reasoning starts a new one.
                if self.open_kind() != Some(Kind::Thinking { signed: false }) {
                    self.open_thinking(out);
                }
                self.delta(json!({"type": "thinking_delta", "thinking": text}), out);
            }
            StreamEvent::ReasoningSignature { signature } => {
                self.ensure_started(out);
                self.signature(signature, out);
            }
            StreamEvent::RedactedReasoning { data } => {
                self.ensure_started(out);
                self.open(
                    Kind::Thinking { signed: true },
                    json!({"type": "redacted_thinking", "data": data}),
                    out,
                );
                self.close(out);
            }
            // Responses encrypted reasoning has no Anthropic form.
            StreamEvent::ReasoningEncrypted { .. } => {}
            StreamEvent::ToolCallStart {
                index,
                id,
                name,
                signature,
            } => {
                self.ensure_started(out);
                // A signature on a call (Gemini thoughtSignature) rides in an empty thinking
                // block just before it, which the client echoes back.
                if let Some(sig) = signature {
                    self.open_thinking(out);
                    self.signature(sig, out);
                }
                self.open(
                    Kind::Tool(*index),
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    out,
                );
            }
            StreamEvent::ToolCallArgs { index, fragment } => {
                // Arguments of a call whose block is no longer open cannot be sent (Anthropic
                // blocks do not reopen); decoders stream one call at a time.
                if self.open_kind() == Some(Kind::Tool(*index)) && !fragment.is_empty() {
                    self.delta(
                        json!({"type": "input_json_delta", "partial_json": fragment}),
                        out,
                    );
                }
            }
            StreamEvent::Finish { reason } => {
                self.ensure_started(out);
                self.close(out);
                self.finish = Some(reason.clone());
            }
            // Before anything was produced this is the whole stream, as Anthropic does it.
            StreamEvent::Error { message } => self.error(message, out),
        }
    }

    fn finish(&mut self, end: &StreamEnd, out: &mut BytesMut) {
        if self.ended {
            return;
        }
        match end {
            StreamEnd::Complete => {
                self.ensure_started(out);
                self.close(out);
                let reason = self.finish.take().unwrap_or(FinishReason::Stop);
                let mut usage = Obj::new();
                let u = &self.usage;
                // Anthropic's input_tokens excludes cache reads and writes (see common.rs)
                let cache = u
                    .cached_tokens
                    .unwrap_or(0)
                    .saturating_add(u.cache_creation_tokens.unwrap_or(0));
                for (key, val) in [
                    (
                        "input_tokens",
                        u.input_tokens.map(|n| n.saturating_sub(cache)),
                    ),
                    ("cache_creation_input_tokens", u.cache_creation_tokens),
                    ("cache_read_input_tokens", u.cached_tokens),
                ] {
                    if let Some(n) = val {
                        usage.insert(key.into(), json!(n));
                    }
                }
                // Required by the schema: 0 when the upstream did not report it.
                usage.insert("output_tokens".into(), json!(u.output_tokens.unwrap_or(0)));
                frame(
                    out,
                    "message_delta",
                    &json!({
                        "type": "message_delta",
                        "delta": {"stop_reason": stop_reason_from_ir(&reason), "stop_sequence": null},
                        "usage": usage,
                    }),
                );
                frame(out, "message_stop", &json!({"type": "message_stop"}));
                self.ended = true;
            }
            StreamEnd::Aborted(message) => self.error(message, out),
        }
    }
}
