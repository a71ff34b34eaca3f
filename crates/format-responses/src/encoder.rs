//! IR events → the Responses SSE stream a client (Codex, the OpenAI SDKs, OpenCode) expects:
//! `response.created` and `response.in_progress`, then every output item opened with
//! `response.output_item.added`, streamed with its deltas and closed with
//! `response.output_item.done`, then `response.completed` / `response.incomplete` carrying the
//! whole output and usage, or `response.failed` when the upstream broke. Every event has a
//! strictly increasing `sequence_number`.
//!
//! Events are borrowed, serializable structs written straight into the output buffer (no
//! `Value` is built); the per-token deltas are written by hand (`write_delta`, checked byte for
//! byte against their serde form in the tests). The text of an item is accumulated once, in the
//! item's state, then moved into the finished output for the final response object.
//!
//! A tool call with a signature (Gemini `thoughtSignature`) is preceded by a reasoning item
//! whose `encrypted_content` carries it (`common::wrap_call_signature`); Codex replays
//! it and the request decoder gives the signature back to the call.

use crate::common::{
    client_tool_name, item_id, now_secs, response_id, status_for, usage_json, wrap_call_signature,
    wrap_signature, EmptyArray, ErrorJson, FunctionCallItem, MessageItem, OutputText,
    ReasoningItem, ResponseJson, SummaryText,
};
use bytes::{BufMut, BytesMut};
use omniroute_ir::{FinishReason, StreamEncoder, StreamEnd, StreamEvent, Usage};
use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;

/// The message or reasoning item being streamed.
#[derive(Debug)]
enum Open {
    None,
    Message {
        id: String,
        index: usize,
        text: String,
    },
    Reasoning {
        id: String,
        index: usize,
        text: String,
        /// A `summary_text` part was opened (reasoning text arrived).
        part: bool,
    },
}

/// A function_call item being streamed.
#[derive(Debug)]
struct OpenTool {
    /// The IR tool index.
    tool: usize,
    id: String,
    index: usize,
    call_id: String,
    /// The name and namespace the client knows the tool by.
    name: String,
    namespace: Option<String>,
    arguments: String,
}

/// A finished output item, kept for the final response object.
#[derive(Debug)]
enum Done {
    Message {
        id: String,
        text: String,
        status: &'static str,
    },
    Reasoning {
        id: String,
        text: String,
        encrypted: Option<String>,
    },
    Call {
        tool: OpenTool,
        status: &'static str,
    },
}

impl Serialize for Done {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Done::Message { id, text, status } => {
                MessageItem::new(id, Some(text), status).serialize(s)
            }
            Done::Reasoning {
                id,
                text,
                encrypted,
            } => ReasoningItem::new(id, text, encrypted.as_deref()).serialize(s),
            Done::Call { tool: t, status } => FunctionCallItem::new(
                &t.id,
                &t.call_id,
                &t.name,
                t.namespace.as_deref(),
                &t.arguments,
                status,
            )
            .serialize(s),
        }
    }
}

/// The finished items in output order.
struct Output<'a>(&'a [(usize, Done)]);

impl Serialize for Output<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (_, item) in self.0 {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

// ------------------------------------------------------------------------- events
//
// Every event starts with `type` and `sequence_number`, then its own fields.

#[derive(Serialize)]
struct ResponseEvent<'a, R> {
    r#type: &'a str,
    sequence_number: u64,
    response: R,
}

#[derive(Serialize)]
struct ItemEvent<'a, I> {
    r#type: &'a str,
    sequence_number: u64,
    output_index: usize,
    item: I,
}

#[derive(Serialize)]
struct ContentPartEvent<'a> {
    r#type: &'a str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    part: OutputText<'a>,
}

#[derive(Serialize)]
struct TextDoneEvent<'a> {
    r#type: &'a str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    text: &'a str,
    logprobs: EmptyArray,
}

#[derive(Serialize)]
struct SummaryPartEvent<'a> {
    r#type: &'a str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    summary_index: usize,
    part: SummaryText<'a>,
}

#[derive(Serialize)]
struct SummaryDoneEvent<'a> {
    r#type: &'a str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    summary_index: usize,
    text: &'a str,
}

#[derive(Serialize)]
struct ArgsDoneEvent<'a> {
    r#type: &'a str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    arguments: &'a str,
}

/// Write one SSE event (`event: ty`, one `data:` line — compact JSON has no raw newline) into
/// `out`. Serializing these structs into a buffer cannot fail; if it somehow did, the partial
/// event is removed rather than sent.
fn write_event<T: Serialize>(out: &mut BytesMut, ty: &str, event: &T) {
    let start = out.len();
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(ty.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    match serde_json::to_writer((&mut *out).writer(), event) {
        Ok(()) => out.extend_from_slice(b"\n\n"),
        Err(_) => out.truncate(start),
    }
}

/// Write a delta event — the hot path, one per upstream token — by hand, the same bytes serde
/// gives for the event struct (see the tests): `type`, `sequence_number`, `item_id`,
/// `output_index`, then `index` (e.g. `,"content_index":0`), `delta`, `tail` (e.g.
/// `,"logprobs":[]`). `ty`, `index` and `tail` are constants needing no escaping.
#[allow(clippy::too_many_arguments)]
fn write_delta(
    out: &mut BytesMut,
    ty: &str,
    seq: u64,
    item_id: &str,
    output_index: usize,
    index: &str,
    delta: &str,
    tail: &str,
) {
    out.reserve(2 * ty.len() + item_id.len() + delta.len() + index.len() + tail.len() + 96);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(ty.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":\"");
    out.extend_from_slice(ty.as_bytes());
    out.extend_from_slice(b"\",\"sequence_number\":");
    write_u64(out, seq);
    out.extend_from_slice(b",\"item_id\":");
    write_json_str(out, item_id);
    out.extend_from_slice(b",\"output_index\":");
    write_u64(out, output_index as u64);
    out.extend_from_slice(index.as_bytes());
    out.extend_from_slice(b",\"delta\":");
    write_json_str(out, delta);
    out.extend_from_slice(tail.as_bytes());
    out.extend_from_slice(b"}\n\n");
}

/// A JSON number.
fn write_u64(out: &mut BytesMut, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// A JSON string, escaped exactly as `serde_json` does (`"`, `\\`, the short escapes
/// `\b \f \n \r \t`, other control characters as `\u00xx`; everything else verbatim).
fn write_json_str(out: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.extend_from_slice(b"\"");
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.extend_from_slice(b"\"");
}

/// The next sequence number.
fn next(seq: &mut u64) -> u64 {
    let n = *seq;
    *seq += 1;
    n
}

/// Per-stream state. The finished items are kept for the final `response.completed`, which
/// carries the whole output (bounded by the response itself).
#[derive(Debug)]
pub struct ResponsesStreamEncoder {
    model: String,
    id: String,
    created_at: i64,
    seq: u64,
    started: bool,
    done: bool,
    next_index: usize,
    open: Open,
    tools: Vec<OpenTool>,
    /// IR tool indexes already started (open or closed).
    seen_tools: Vec<usize>,
    /// Finished items with their output index.
    output: Vec<(usize, Done)>,
    usage: Usage,
    finish: Option<FinishReason>,
    error: Option<String>,
}

impl ResponsesStreamEncoder {
    /// An encoder answering with `model`, the name the client asked for.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            id: response_id(None),
            created_at: now_secs(),
            seq: 0,
            started: false,
            done: false,
            next_index: 0,
            open: Open::None,
            tools: Vec::new(),
            seen_tools: Vec::new(),
            output: Vec::new(),
            usage: Usage::default(),
            finish: None,
            error: None,
        }
    }

    /// An item event (`response.output_item.added` / `.done`).
    fn emit_item<I: Serialize>(&mut self, out: &mut BytesMut, ty: &str, index: usize, item: I) {
        let ev = ItemEvent {
            r#type: ty,
            sequence_number: next(&mut self.seq),
            output_index: index,
            item,
        };
        write_event(out, ty, &ev);
    }

    fn ensure_started(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        for ty in ["response.created", "response.in_progress"] {
            let ev = ResponseEvent {
                r#type: ty,
                sequence_number: next(&mut self.seq),
                response: ResponseJson::new(
                    &self.id,
                    self.created_at,
                    &self.model,
                    "in_progress",
                    EmptyArray,
                ),
            };
            write_event(out, ty, &ev);
        }
    }

    fn take_index(&mut self) -> usize {
        let i = self.next_index;
        self.next_index += 1;
        i
    }

    /// Close the open message or reasoning item.
    fn close_open(&mut self, status: &'static str, encrypted: Option<String>, out: &mut BytesMut) {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => {}
            Open::Message { id, index, text } => {
                let ty = "response.output_text.done";
                let ev = TextDoneEvent {
                    r#type: ty,
                    sequence_number: next(&mut self.seq),
                    item_id: &id,
                    output_index: index,
                    content_index: 0,
                    text: &text,
                    logprobs: EmptyArray,
                };
                write_event(out, ty, &ev);
                let ty = "response.content_part.done";
                let ev = ContentPartEvent {
                    r#type: ty,
                    sequence_number: next(&mut self.seq),
                    item_id: &id,
                    output_index: index,
                    content_index: 0,
                    part: OutputText::new(&text),
                };
                write_event(out, ty, &ev);
                let item = Done::Message { id, text, status };
                self.emit_item(out, "response.output_item.done", index, &item);
                self.output.push((index, item));
            }
            Open::Reasoning {
                id,
                index,
                text,
                part,
            } => {
                if part {
                    let ty = "response.reasoning_summary_text.done";
                    let ev = SummaryDoneEvent {
                        r#type: ty,
                        sequence_number: next(&mut self.seq),
                        item_id: &id,
                        output_index: index,
                        summary_index: 0,
                        text: &text,
                    };
                    write_event(out, ty, &ev);
                    let ty = "response.reasoning_summary_part.done";
                    let ev = SummaryPartEvent {
                        r#type: ty,
                        sequence_number: next(&mut self.seq),
                        item_id: &id,
                        output_index: index,
                        summary_index: 0,
                        part: SummaryText::new(&text),
                    };
                    write_event(out, ty, &ev);
                }
                let item = Done::Reasoning {
                    id,
                    text,
                    encrypted,
                };
                self.emit_item(out, "response.output_item.done", index, &item);
                self.output.push((index, item));
            }
        }
    }

    /// Close every open function_call item, in output order.
    fn close_tools(&mut self, status: &'static str, out: &mut BytesMut) {
        let tools = std::mem::take(&mut self.tools);
        for t in tools {
            let ty = "response.function_call_arguments.done";
            let ev = ArgsDoneEvent {
                r#type: ty,
                sequence_number: next(&mut self.seq),
                item_id: &t.id,
                output_index: t.index,
                arguments: &t.arguments,
            };
            write_event(out, ty, &ev);
            let index = t.index;
            let item = Done::Call { tool: t, status };
            self.emit_item(out, "response.output_item.done", index, &item);
            self.output.push((index, item));
        }
    }

    fn close_all(&mut self, status: &'static str, out: &mut BytesMut) {
        self.close_open(status, None, out);
        self.close_tools(status, out);
    }

    fn open_message(&mut self, out: &mut BytesMut) {
        let index = self.take_index();
        let id = item_id("msg_", &self.id, index);
        self.emit_item(
            out,
            "response.output_item.added",
            index,
            MessageItem::new(&id, None, "in_progress"),
        );
        let ty = "response.content_part.added";
        let ev = ContentPartEvent {
            r#type: ty,
            sequence_number: next(&mut self.seq),
            item_id: &id,
            output_index: index,
            content_index: 0,
            part: OutputText::new(""),
        };
        write_event(out, ty, &ev);
        self.open = Open::Message {
            id,
            index,
            text: String::new(),
        };
    }

    fn open_reasoning(&mut self, id: Option<String>, out: &mut BytesMut) {
        let index = self.take_index();
        let id = id.unwrap_or_else(|| item_id("rs_", &self.id, index));
        self.emit_item(
            out,
            "response.output_item.added",
            index,
            ReasoningItem::new(&id, "", None),
        );
        self.open = Open::Reasoning {
            id,
            index,
            text: String::new(),
            part: false,
        };
    }

    fn text_delta(&mut self, delta: &str, out: &mut BytesMut) {
        if !matches!(self.open, Open::Message { .. }) {
            self.close_all("completed", out);
            self.open_message(out);
        }
        if let Open::Message { id, index, text } = &mut self.open {
            text.push_str(delta);
            write_delta(
                out,
                "response.output_text.delta",
                next(&mut self.seq),
                id,
                *index,
                ",\"content_index\":0",
                delta,
                ",\"logprobs\":[]",
            );
        }
    }

    fn reasoning_delta(&mut self, delta: &str, out: &mut BytesMut) {
        if !matches!(self.open, Open::Reasoning { .. }) {
            self.close_all("completed", out);
            self.open_reasoning(None, out);
        }
        if let Open::Reasoning {
            id,
            index,
            text,
            part,
        } = &mut self.open
        {
            if !*part {
                *part = true;
                let ty = "response.reasoning_summary_part.added";
                let ev = SummaryPartEvent {
                    r#type: ty,
                    sequence_number: next(&mut self.seq),
                    item_id: id,
                    output_index: *index,
                    summary_index: 0,
                    part: SummaryText::new(""),
                };
                write_event(out, ty, &ev);
            }
            text.push_str(delta);
            write_delta(
                out,
                "response.reasoning_summary_text.delta",
                next(&mut self.seq),
                id,
                *index,
                ",\"summary_index\":0",
                delta,
                "",
            );
        }
    }

    fn reasoning_encrypted(&mut self, id: Option<&str>, encrypted: String, out: &mut BytesMut) {
        if !matches!(self.open, Open::Reasoning { .. }) {
            self.close_all("completed", out);
            let id = id.filter(|i| i.starts_with("rs_")).map(str::to_string);
            self.open_reasoning(id, out);
        }
        self.close_open("completed", Some(encrypted), out);
    }

    fn tool_start(
        &mut self,
        tool: usize,
        call_id: &str,
        name: &str,
        signature: Option<&str>,
        out: &mut BytesMut,
    ) {
        if self.seen_tools.contains(&tool) {
            return;
        }
        self.seen_tools.push(tool);
        self.close_open("completed", None, out);
        if let Some(sig) = signature.filter(|s| !s.is_empty()) {
            // The call's signature rides in a reasoning item just before it (see module docs).
            self.open_reasoning(None, out);
            self.close_open("completed", Some(wrap_call_signature(sig)), out);
        }
        let index = self.take_index();
        let id = item_id("fc_", &self.id, index);
        let (namespace, name) = client_tool_name(name);
        self.emit_item(
            out,
            "response.output_item.added",
            index,
            FunctionCallItem::new(&id, call_id, &name, namespace.as_deref(), "", "in_progress"),
        );
        self.tools.push(OpenTool {
            tool,
            id,
            index,
            call_id: call_id.to_string(),
            name,
            namespace,
            arguments: String::new(),
        });
    }

    fn tool_args(&mut self, tool: usize, fragment: &str, out: &mut BytesMut) {
        let Some(t) = self.tools.iter_mut().find(|t| t.tool == tool) else {
            // Arguments of a call never started or already closed cannot be placed.
            return;
        };
        t.arguments.push_str(fragment);
        write_delta(
            out,
            "response.function_call_arguments.delta",
            next(&mut self.seq),
            &t.id,
            t.index,
            "",
            fragment,
            "",
        );
    }
}

impl StreamEncoder for ResponsesStreamEncoder {
    fn push(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start { id, .. } => {
                if !self.started {
                    if let Some(id) = id.as_deref().filter(|id| !id.is_empty()) {
                        self.id = response_id(Some(id));
                    }
                }
                self.ensure_started(out);
            }
            StreamEvent::TextDelta { text } => {
                if !text.is_empty() {
                    self.ensure_started(out);
                    self.text_delta(text, out);
                }
            }
            StreamEvent::ReasoningDelta { text } => {
                if !text.is_empty() {
                    self.ensure_started(out);
                    self.reasoning_delta(text, out);
                }
            }
            StreamEvent::ReasoningEncrypted { id, encrypted } => {
                self.ensure_started(out);
                self.reasoning_encrypted(id.as_deref(), encrypted.clone(), out);
            }
            // Signatures travel in encrypted_content (see common::wrap_signature) so that an
            // echoed history gets them back; redacted thinking has no Responses form.
            StreamEvent::ReasoningSignature { signature } => {
                self.ensure_started(out);
                self.reasoning_encrypted(None, wrap_signature(signature), out);
            }
            StreamEvent::RedactedReasoning { .. } => {}
            StreamEvent::ToolCallStart {
                index,
                id,
                name,
                signature,
            } => {
                self.ensure_started(out);
                self.tool_start(*index, id, name, signature.as_deref(), out);
            }
            StreamEvent::ToolCallArgs { index, fragment } => {
                if !fragment.is_empty() {
                    self.tool_args(*index, fragment, out);
                }
            }
            StreamEvent::Usage { usage } => self.usage.merge(usage),
            StreamEvent::Finish { reason } => {
                self.ensure_started(out);
                self.close_all("completed", out);
                self.finish = Some(reason.clone());
            }
            StreamEvent::Error { message } => {
                if self.error.is_none() {
                    self.error = Some(message.clone());
                }
            }
        }
    }

    fn finish(&mut self, end: &StreamEnd, out: &mut BytesMut) {
        if self.done {
            return;
        }
        self.ensure_started(out);
        let failure = match (end, self.error.take()) {
            (_, Some(upstream)) => Some(upstream),
            (StreamEnd::Aborted(msg), None) => Some(msg.clone()),
            (StreamEnd::Complete, None) => None,
        };
        let (status, incomplete_details) = match &failure {
            Some(_) => ("failed", None),
            None => status_for(self.finish.as_ref().unwrap_or(&FinishReason::Stop)),
        };
        self.close_all(
            if failure.is_some() {
                "incomplete"
            } else {
                "completed"
            },
            out,
        );
        let ty = match (&failure, status) {
            (Some(_), _) => "response.failed",
            (None, "completed") => "response.completed",
            (None, _) => "response.incomplete",
        };
        let mut output = std::mem::take(&mut self.output);
        output.sort_by_key(|(i, _)| *i);
        let mut resp = ResponseJson::new(
            &self.id,
            self.created_at,
            &self.model,
            status,
            Output(&output),
        );
        resp.usage = usage_json(&self.usage);
        resp.incomplete_details = incomplete_details;
        resp.error = failure.as_deref().map(|message| ErrorJson {
            code: "upstream_error",
            message,
        });
        let ev = ResponseEvent {
            r#type: ty,
            sequence_number: next(&mut self.seq),
            response: resp,
        };
        write_event(out, ty, &ev);
        self.output = output;
        self.done = true;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct TextDeltaEvent<'a> {
        r#type: &'a str,
        sequence_number: u64,
        item_id: &'a str,
        output_index: usize,
        content_index: usize,
        delta: &'a str,
        logprobs: EmptyArray,
    }

    #[derive(Serialize)]
    struct SummaryDeltaEvent<'a> {
        r#type: &'a str,
        sequence_number: u64,
        item_id: &'a str,
        output_index: usize,
        summary_index: usize,
        delta: &'a str,
    }

    #[derive(Serialize)]
    struct ArgsDeltaEvent<'a> {
        r#type: &'a str,
        sequence_number: u64,
        item_id: &'a str,
        output_index: usize,
        delta: &'a str,
    }

    fn strings() -> Vec<String> {
        let mut v: Vec<String> = (0u32..0x80)
            .filter_map(char::from_u32)
            .map(|c| format!("a{c}b"))
            .collect();
        v.extend(
            [
                "",
                "plain",
                "\"quoted\" \\ back\\slash",
                "line\nbreak\r\n\ttab",
                "\u{7f}\u{80}\u{2028}\u{2029} é ✓ 😀",
                "\u{0}\u{1}\u{1f}",
                "</script>&<>",
            ]
            .map(str::to_string),
        );
        v
    }

    #[test]
    fn json_strings_are_escaped_like_serde_json() {
        for s in strings() {
            let mut out = BytesMut::new();
            write_json_str(&mut out, &s);
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                serde_json::to_string(&s).unwrap(),
                "{s:?}"
            );
        }
        for n in [0u64, 7, 10, 99, 100, 12345, u64::MAX] {
            let mut out = BytesMut::new();
            write_u64(&mut out, n);
            assert_eq!(std::str::from_utf8(&out).unwrap(), n.to_string());
        }
    }

    /// The hand-written deltas are byte for byte what the serde structs give.
    #[test]
    fn hand_written_deltas_match_serde() {
        for (i, s) in strings().into_iter().enumerate() {
            let id = format!("msg_{i}\"x");
            let seq = i as u64 * 1_000_003;
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());

            let ty = "response.output_text.delta";
            write_delta(
                &mut a,
                ty,
                seq,
                &id,
                i,
                ",\"content_index\":0",
                &s,
                ",\"logprobs\":[]",
            );
            let ev = TextDeltaEvent {
                r#type: ty,
                sequence_number: seq,
                item_id: &id,
                output_index: i,
                content_index: 0,
                delta: &s,
                logprobs: EmptyArray,
            };
            write_event(&mut b, ty, &ev);

            let ty = "response.reasoning_summary_text.delta";
            write_delta(&mut a, ty, seq, &id, i, ",\"summary_index\":0", &s, "");
            let ev = SummaryDeltaEvent {
                r#type: ty,
                sequence_number: seq,
                item_id: &id,
                output_index: i,
                summary_index: 0,
                delta: &s,
            };
            write_event(&mut b, ty, &ev);

            let ty = "response.function_call_arguments.delta";
            write_delta(&mut a, ty, seq, &id, i, "", &s, "");
            let ev = ArgsDeltaEvent {
                r#type: ty,
                sequence_number: seq,
                item_id: &id,
                output_index: i,
                delta: &s,
            };
            write_event(&mut b, ty, &ev);

            assert_eq!(
                std::str::from_utf8(&a).unwrap(),
                std::str::from_utf8(&b).unwrap()
            );
        }
    }
}
