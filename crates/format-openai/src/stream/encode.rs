//! IR stream events → `chat.completion.chunk` SSE for an OpenAI chat client: a role chunk
//! first, content / `reasoning_content` / tool call deltas, a finish chunk that always carries
//! `finish_reason`, an optional usage chunk, then `[DONE]` (or the error event, then `[DONE]`).

use bytes::{BufMut, BytesMut};
use omniroute_ir::{EncoderOptions, StreamEncoder, StreamEnd, StreamEvent, Usage};
use serde::Serialize;

use crate::common::{chat_id, finish_to_wire, now_secs, usage_to_wire};

/// Encoder for one client stream.
#[derive(Debug)]
pub struct ChunkEncoder {
    model: String,
    include_usage: bool,
    /// `{"id":…,"object":"chat.completion.chunk","created":…,"model":…,` — fixed once the
    /// first chunk goes out so every chunk carries the same id and created.
    prefix: Option<String>,
    /// The role chunk has been sent.
    started: bool,
    /// A chunk with `finish_reason` has been sent.
    finished: bool,
    /// The error event has been sent.
    errored: bool,
    /// `finish()` ran.
    closed: bool,
    had_tool_calls: bool,
    usage: Usage,
}

/// Append `v` as JSON (writing into a `BytesMut` cannot fail; a value that cannot be
/// serialized is written as `null`).
fn put_json<T: Serialize + ?Sized>(out: &mut BytesMut, v: &T) {
    let mark = out.len();
    if serde_json::to_writer(out.writer(), v).is_err() {
        out.truncate(mark);
        out.put_slice(b"null");
    }
}

const ERROR_TYPE: &str = "upstream_error";
const ERROR_CODE: &str = "upstream_stream_error";

impl ChunkEncoder {
    pub fn new(model: &str, opts: &EncoderOptions) -> Self {
        Self {
            model: model.to_string(),
            include_usage: opts.include_usage,
            prefix: None,
            started: false,
            finished: false,
            errored: false,
            closed: false,
            had_tool_calls: false,
            usage: Usage::default(),
        }
    }

    fn prefix(&mut self, upstream_id: Option<&str>) -> &str {
        let model = &self.model;
        self.prefix.get_or_insert_with(|| {
            let id = chat_id(upstream_id);
            let mut p = BytesMut::new();
            p.put_slice(b"{\"id\":");
            put_json(&mut p, &id);
            p.put_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
            p.put_slice(now_secs().to_string().as_bytes());
            p.put_slice(b",\"model\":");
            put_json(&mut p, model);
            p.put_u8(b',');
            String::from_utf8_lossy(&p).into_owned()
        })
    }

    /// One chunk: `delta` is written by `write_delta`; `finish` is the finish_reason.
    fn chunk(
        &mut self,
        out: &mut BytesMut,
        finish: Option<&str>,
        write_delta: impl FnOnce(&mut BytesMut),
    ) {
        self.ensure_started(None, out);
        self.raw_chunk(out, finish, write_delta);
    }

    fn raw_chunk(
        &mut self,
        out: &mut BytesMut,
        finish: Option<&str>,
        write_delta: impl FnOnce(&mut BytesMut),
    ) {
        let prefix = self.prefix(None);
        out.put_slice(b"data: ");
        out.put_slice(prefix.as_bytes());
        out.put_slice(b"\"choices\":[{\"index\":0,\"delta\":");
        write_delta(out);
        out.put_slice(b",\"finish_reason\":");
        match finish {
            Some(f) => put_json(out, f),
            None => out.put_slice(b"null"),
        }
        out.put_slice(b"}]}\n\n");
    }

    fn ensure_started(&mut self, upstream_id: Option<&str>, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        self.prefix(upstream_id);
        self.raw_chunk(out, None, |o| {
            o.put_slice(b"{\"role\":\"assistant\",\"content\":\"\"}")
        });
    }

    fn error(&mut self, message: &str, out: &mut BytesMut) {
        self.errored = true;
        out.put_slice(b"data: {\"error\":{\"message\":");
        put_json(out, message);
        out.put_slice(b",\"type\":\"");
        out.put_slice(ERROR_TYPE.as_bytes());
        out.put_slice(b"\",\"code\":\"");
        out.put_slice(ERROR_CODE.as_bytes());
        out.put_slice(b"\"}}\n\n");
    }

    fn usage_chunk(&mut self, out: &mut BytesMut) {
        let Some(usage) = usage_to_wire(&self.usage) else {
            return;
        };
        let prefix = self.prefix(None);
        out.put_slice(b"data: ");
        out.put_slice(prefix.as_bytes());
        out.put_slice(b"\"choices\":[],\"usage\":");
        put_json(out, &usage);
        out.put_slice(b"}\n\n");
    }

    fn finish_chunk(&mut self, reason: &omniroute_ir::FinishReason, out: &mut BytesMut) {
        let reason = finish_to_wire(reason, self.had_tool_calls);
        self.chunk(out, Some(reason), |o| o.put_slice(b"{}"));
        self.finished = true;
    }
}

impl StreamEncoder for ChunkEncoder {
    fn push(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.closed {
            return;
        }
        if let StreamEvent::Usage { usage } = event {
            self.usage.merge(usage);
            return;
        }
        if let StreamEvent::Error { message } = event {
            if !self.errored {
                self.error(message, out);
            }
            return;
        }
        // Nothing may follow the finish chunk or the error event.
        if self.finished || self.errored {
            return;
        }
        match event {
            StreamEvent::Start { id, .. } => self.ensure_started(id.as_deref(), out),
            StreamEvent::TextDelta { text } if !text.is_empty() => self.chunk(out, None, |o| {
                o.put_slice(b"{\"content\":");
                put_json(o, text);
                o.put_u8(b'}');
            }),
            StreamEvent::ReasoningDelta { text } if !text.is_empty() => {
                self.chunk(out, None, |o| {
                    o.put_slice(b"{\"reasoning_content\":");
                    put_json(o, text);
                    o.put_u8(b'}');
                })
            }
            StreamEvent::ToolCallStart {
                index, id, name, ..
            } => {
                self.had_tool_calls = true;
                self.chunk(out, None, |o| {
                    o.put_slice(b"{\"tool_calls\":[{\"index\":");
                    o.put_slice(index.to_string().as_bytes());
                    o.put_slice(b",\"id\":");
                    put_json(o, id);
                    o.put_slice(b",\"type\":\"function\",\"function\":{\"name\":");
                    put_json(o, name);
                    o.put_slice(b",\"arguments\":\"\"}}]}");
                })
            }
            StreamEvent::ToolCallArgs { index, fragment } if !fragment.is_empty() => {
                self.chunk(out, None, |o| {
                    o.put_slice(b"{\"tool_calls\":[{\"index\":");
                    o.put_slice(index.to_string().as_bytes());
                    o.put_slice(b",\"function\":{\"arguments\":");
                    put_json(o, fragment);
                    o.put_slice(b"}}]}");
                })
            }
            StreamEvent::Finish { reason } => self.finish_chunk(reason, out),
            // Empty deltas; signatures and encrypted reasoning have no place in chat chunks.
            StreamEvent::TextDelta { .. }
            | StreamEvent::ReasoningDelta { .. }
            | StreamEvent::ToolCallArgs { .. }
            | StreamEvent::ReasoningSignature { .. }
            | StreamEvent::RedactedReasoning { .. }
            | StreamEvent::ReasoningEncrypted { .. }
            | StreamEvent::Usage { .. }
            | StreamEvent::Error { .. } => {}
        }
    }

    fn finish(&mut self, end: &StreamEnd, out: &mut BytesMut) {
        if self.closed {
            return;
        }
        self.closed = true;
        match end {
            StreamEnd::Complete if !self.errored => {
                if !self.finished {
                    self.finish_chunk(&omniroute_ir::FinishReason::Stop, out);
                }
                if self.include_usage {
                    self.usage_chunk(out);
                }
            }
            StreamEnd::Complete => {}
            StreamEnd::Aborted(message) => {
                if !self.errored {
                    self.error(message, out);
                }
            }
        }
        out.put_slice(b"data: [DONE]\n\n");
    }
}
