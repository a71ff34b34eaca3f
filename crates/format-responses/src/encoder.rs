//! IR events → the Responses SSE stream a client (Codex, the OpenAI SDKs, OpenCode) expects:
//! `response.created` and `response.in_progress`, then every output item opened with
//! `response.output_item.added`, streamed with its deltas and closed with
//! `response.output_item.done`, then `response.completed` / `response.incomplete` carrying the
//! whole output and usage, or `response.failed` when the upstream broke. Every event has a
//! strictly increasing `sequence_number`.

use crate::common::{
    function_call_item, item_id, message_item, now_secs, reasoning_item, response_id, status_for,
    to_json, usage_to_json, ResponseObject,
};
use bytes::BytesMut;
use omniroute_ir::{FinishReason, StreamEncoder, StreamEnd, StreamEvent, Usage};
use omniroute_protocol::sse;
use serde_json::{json, Map, Value};

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
    name: String,
    arguments: String,
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
    output: Vec<(usize, Value)>,
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

    /// One SSE event: `type` and `sequence_number` first, then `fields`.
    fn emit(&mut self, out: &mut BytesMut, ty: &str, fields: Value) {
        let mut m = Map::new();
        m.insert("type".into(), json!(ty));
        m.insert("sequence_number".into(), json!(self.seq));
        self.seq += 1;
        if let Value::Object(f) = fields {
            m.extend(f);
        }
        out.extend_from_slice(&sse::encode(Some(ty), &to_json(&Value::Object(m))));
    }

    fn response<'a>(&'a self, status: &'a str, output: Vec<Value>) -> ResponseObject<'a> {
        ResponseObject {
            id: &self.id,
            created_at: self.created_at,
            model: &self.model,
            status,
            output,
            usage: Value::Null,
            incomplete_details: Value::Null,
            error: Value::Null,
        }
    }

    fn ensure_started(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        let resp = self.response("in_progress", Vec::new()).into_json();
        self.emit(out, "response.created", json!({ "response": resp.clone() }));
        self.emit(out, "response.in_progress", json!({ "response": resp }));
    }

    fn take_index(&mut self) -> usize {
        let i = self.next_index;
        self.next_index += 1;
        i
    }

    /// Close the open message or reasoning item.
    fn close_open(&mut self, status: &str, encrypted: Option<&str>, out: &mut BytesMut) {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => {}
            Open::Message { id, index, text } => {
                self.emit(
                    out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0,
                           "text": text, "logprobs": []}),
                );
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0,
                           "part": {"type": "output_text", "text": text, "annotations": []}}),
                );
                let item = message_item(&id, &text, status);
                self.emit(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item.clone()}),
                );
                self.output.push((index, item));
            }
            Open::Reasoning {
                id,
                index,
                text,
                part,
            } => {
                if part {
                    self.emit(
                        out,
                        "response.reasoning_summary_text.done",
                        json!({"item_id": id, "output_index": index, "summary_index": 0,
                               "text": text}),
                    );
                    self.emit(
                        out,
                        "response.reasoning_summary_part.done",
                        json!({"item_id": id, "output_index": index, "summary_index": 0,
                               "part": {"type": "summary_text", "text": text}}),
                    );
                }
                let item = reasoning_item(&id, &text, encrypted);
                self.emit(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item.clone()}),
                );
                self.output.push((index, item));
            }
        }
    }

    /// Close every open function_call item, in output order.
    fn close_tools(&mut self, status: &str, out: &mut BytesMut) {
        let tools = std::mem::take(&mut self.tools);
        for t in tools {
            self.emit(
                out,
                "response.function_call_arguments.done",
                json!({"item_id": t.id, "output_index": t.index, "arguments": t.arguments}),
            );
            let item = function_call_item(&t.id, &t.call_id, &t.name, &t.arguments, status);
            self.emit(
                out,
                "response.output_item.done",
                json!({"output_index": t.index, "item": item.clone()}),
            );
            self.output.push((t.index, item));
        }
    }

    fn close_all(&mut self, status: &str, out: &mut BytesMut) {
        self.close_open(status, None, out);
        self.close_tools(status, out);
    }

    fn open_message(&mut self, out: &mut BytesMut) {
        let index = self.take_index();
        let id = item_id("msg_", &self.id, index);
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": {"type": "message", "id": id,
                   "status": "in_progress", "role": "assistant", "content": []}}),
        );
        self.emit(
            out,
            "response.content_part.added",
            json!({"item_id": id, "output_index": index, "content_index": 0,
                   "part": {"type": "output_text", "text": "", "annotations": []}}),
        );
        self.open = Open::Message {
            id,
            index,
            text: String::new(),
        };
    }

    fn open_reasoning(&mut self, id: Option<String>, out: &mut BytesMut) {
        let index = self.take_index();
        let id = id.unwrap_or_else(|| item_id("rs_", &self.id, index));
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": {"id": id, "type": "reasoning",
                   "summary": []}}),
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
        let (id, index) = match &mut self.open {
            Open::Message { id, index, text } => {
                text.push_str(delta);
                (id.clone(), *index)
            }
            _ => return,
        };
        self.emit(
            out,
            "response.output_text.delta",
            json!({"item_id": id, "output_index": index, "content_index": 0,
                   "delta": delta, "logprobs": []}),
        );
    }

    fn reasoning_delta(&mut self, delta: &str, out: &mut BytesMut) {
        if !matches!(self.open, Open::Reasoning { .. }) {
            self.close_all("completed", out);
            self.open_reasoning(None, out);
        }
        let (id, index, first) = match &mut self.open {
            Open::Reasoning {
                id,
                index,
                text,
                part,
            } => {
                let first = !*part;
                *part = true;
                text.push_str(delta);
                (id.clone(), *index, first)
            }
            _ => return,
        };
        if first {
            self.emit(
                out,
                "response.reasoning_summary_part.added",
                json!({"item_id": id, "output_index": index, "summary_index": 0,
                       "part": {"type": "summary_text", "text": ""}}),
            );
        }
        self.emit(
            out,
            "response.reasoning_summary_text.delta",
            json!({"item_id": id, "output_index": index, "summary_index": 0,
                   "delta": delta}),
        );
    }

    fn reasoning_encrypted(&mut self, id: Option<&str>, encrypted: &str, out: &mut BytesMut) {
        if !matches!(self.open, Open::Reasoning { .. }) {
            self.close_all("completed", out);
            let id = id.filter(|i| i.starts_with("rs_")).map(str::to_string);
            self.open_reasoning(id, out);
        }
        self.close_open("completed", Some(encrypted), out);
    }

    fn tool_start(&mut self, tool: usize, call_id: &str, name: &str, out: &mut BytesMut) {
        if self.seen_tools.contains(&tool) {
            return;
        }
        self.seen_tools.push(tool);
        self.close_open("completed", None, out);
        let index = self.take_index();
        let id = item_id("fc_", &self.id, index);
        let item = function_call_item(&id, call_id, name, "", "in_progress");
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
        self.tools.push(OpenTool {
            tool,
            id,
            index,
            call_id: call_id.to_string(),
            name: name.to_string(),
            arguments: String::new(),
        });
    }

    fn tool_args(&mut self, tool: usize, fragment: &str, out: &mut BytesMut) {
        let Some(t) = self.tools.iter_mut().find(|t| t.tool == tool) else {
            // Arguments of a call never started or already closed cannot be placed.
            return;
        };
        t.arguments.push_str(fragment);
        let (id, index) = (t.id.clone(), t.index);
        self.emit(
            out,
            "response.function_call_arguments.delta",
            json!({"item_id": id, "output_index": index, "delta": fragment}),
        );
    }

    fn final_output(&mut self) -> Vec<Value> {
        self.output.sort_by_key(|(i, _)| *i);
        self.output.iter().map(|(_, v)| v.clone()).collect()
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
                self.reasoning_encrypted(id.as_deref(), encrypted, out);
            }
            // Signatures travel in encrypted_content (see common::wrap_signature) so that an
            // echoed history gets them back; redacted thinking has no Responses form.
            StreamEvent::ReasoningSignature { signature } => {
                self.ensure_started(out);
                let wrapped = crate::common::wrap_signature(signature);
                self.reasoning_encrypted(None, &wrapped, out);
            }
            StreamEvent::RedactedReasoning { .. } => {}
            StreamEvent::ToolCallStart {
                index, id, name, ..
            } => {
                self.ensure_started(out);
                self.tool_start(*index, id, name, out);
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
        let failure = match (end, &self.error) {
            (_, Some(upstream)) => Some(upstream.clone()),
            (StreamEnd::Aborted(msg), None) => Some(msg.clone()),
            (StreamEnd::Complete, None) => None,
        };
        match failure {
            Some(message) => {
                self.close_all("incomplete", out);
                let output = self.final_output();
                let mut resp = self.response("failed", output);
                resp.usage = usage_to_json(&self.usage);
                resp.error = json!({"code": "upstream_error", "message": message});
                let resp = resp.into_json();
                self.emit(out, "response.failed", json!({ "response": resp }));
            }
            None => {
                self.close_all("completed", out);
                let reason = self.finish.clone().unwrap_or(FinishReason::Stop);
                let (status, incomplete_details) = status_for(&reason);
                let output = self.final_output();
                let mut resp = self.response(status, output);
                resp.usage = usage_to_json(&self.usage);
                resp.incomplete_details = incomplete_details;
                let resp = resp.into_json();
                let ty = if status == "completed" {
                    "response.completed"
                } else {
                    "response.incomplete"
                };
                self.emit(out, ty, json!({ "response": resp }));
            }
        }
        self.done = true;
    }
}
