//! Upstream Responses SSE stream → IR events. Events are told apart by their JSON `type` (the
//! SSE `event:` name when it is missing). Text, reasoning and argument deltas pass through as
//! they come; `output_item.done` only fills in what no delta carried (some upstreams send whole
//! items) plus a reasoning item's `encrypted_content`.
//!
//! Delta events (one per token) are read through a borrowed struct of the few fields they use,
//! without building a `Value`; every other event, or a delta whose fields have unexpected types,
//! is parsed as a `Value`.

use crate::common::{finish_from_response, item_tool_name, str_at, u64_at, usage_from_json};
use crate::response::{error_message, item_parts, reasoning_text, DecodedOutput};
use omniroute_ir::{CodecError, FinishReason, Part, StreamDecoder, StreamEvent};
use omniroute_protocol::sse::SseEvent;
use serde::de::{Deserializer, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// Per-stream state (bounded by the number of output items).
#[derive(Debug, Default)]
pub struct ResponsesStreamDecoder {
    started: bool,
    /// A `Finish` or `Error` was emitted: the stream is over.
    ended: bool,
    /// Tool calls started so far (the next tool index).
    tools: usize,
    /// item id → tool index.
    tool_by_item: HashMap<String, usize>,
    /// output_index → tool index.
    tool_by_output: HashMap<u64, usize>,
    /// Tool indexes whose arguments were (partly) emitted.
    tool_args_sent: HashSet<usize>,
    /// Item ids (or `#output_index`) whose text / reasoning came as deltas.
    streamed: HashSet<String>,
    /// Any text, reasoning or tool call was emitted.
    content: bool,
    refusal: bool,
}

/// The key under which an event's item is tracked: its item id, else its output index.
fn item_key(v: &Value) -> String {
    match str_at(v, "item_id").or_else(|| v.get("item").and_then(|i| str_at(i, "id"))) {
        Some(id) => id.to_string(),
        None => format!("#{}", u64_at(v, "output_index").unwrap_or_default()),
    }
}

/// A string borrowed from the event text when it has no escapes (serde's `Option<Cow<str>>`
/// always copies).
#[derive(Debug)]
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                s: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// The fields of a delta event (`response.*.delta`); other fields are skipped unread.
#[derive(Debug, Deserialize)]
struct DeltaEvent<'a> {
    #[serde(default, borrow, rename = "type")]
    ty: Option<Text<'a>>,
    #[serde(default, borrow)]
    item_id: Option<Text<'a>>,
    #[serde(default)]
    output_index: Option<u64>,
    #[serde(default, borrow)]
    delta: Option<Text<'a>>,
}

impl ResponsesStreamDecoder {
    /// A delta event read without a `Value`. `false` when it is not one this path handles (the
    /// caller then parses the event as a `Value`).
    fn fast_delta(
        &mut self,
        data: &str,
        sse_name: Option<&str>,
        out: &mut Vec<StreamEvent>,
    ) -> bool {
        let Ok(ev) = serde_json::from_str::<DeltaEvent>(data) else {
            return false;
        };
        let ty = match &ev.ty {
            Some(t) => t.0.as_ref(),
            None => sse_name.unwrap_or_default(),
        };
        // Items are tracked by id; an event without one takes the general path.
        let Some(item_id) = ev.item_id.as_ref().map(|t| t.0.as_ref()) else {
            return false;
        };
        let delta = ev.delta.as_ref().map(|t| t.0.as_ref()).unwrap_or_default();
        let reasoning = match ty {
            "response.output_text.delta" => false,
            "response.refusal.delta" => {
                self.refusal = true;
                false
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => true,
            "response.function_call_arguments.delta" => {
                let index = self.tool_by_item.get(item_id).copied().or_else(|| {
                    ev.output_index
                        .and_then(|oi| self.tool_by_output.get(&oi))
                        .copied()
                });
                self.start(None, None, out);
                if let Some(index) = index {
                    self.tool_args(index, delta, out);
                }
                return true;
            }
            _ => return false,
        };
        self.start(None, None, out);
        if !delta.is_empty() {
            if !self.streamed.contains(item_id) {
                self.streamed.insert(item_id.to_string());
            }
            self.emit_text(delta.to_string(), reasoning, out);
        }
        true
    }

    fn start(&mut self, id: Option<String>, model: Option<String>, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start { id, model });
        }
    }

    fn tool_index(&self, v: &Value) -> Option<usize> {
        str_at(v, "item_id")
            .and_then(|id| self.tool_by_item.get(id))
            .or_else(|| u64_at(v, "output_index").and_then(|oi| self.tool_by_output.get(&oi)))
            .copied()
    }

    /// A function_call item begins (from `output_item.added`, or `.done` without an add).
    fn start_tool(&mut self, v: &Value, item: &Value, out: &mut Vec<StreamEvent>) -> usize {
        let index = self.tools;
        self.tools += 1;
        self.content = true;
        if let Some(id) = str_at(item, "id") {
            self.tool_by_item.insert(id.to_string(), index);
        }
        if let Some(oi) = u64_at(v, "output_index") {
            self.tool_by_output.insert(oi, index);
        }
        let call_id = str_at(item, "call_id")
            .or_else(|| str_at(item, "id"))
            .map(str::to_string)
            .unwrap_or_else(|| omniroute_ir::make_call_id("call_", &format!("{index}")));
        out.push(StreamEvent::ToolCallStart {
            index,
            id: call_id,
            name: item_tool_name(item, false),
            signature: None,
        });
        index
    }

    fn tool_args(&mut self, index: usize, fragment: &str, out: &mut Vec<StreamEvent>) {
        if !fragment.is_empty() {
            self.tool_args_sent.insert(index);
            out.push(StreamEvent::ToolCallArgs {
                index,
                fragment: fragment.to_string(),
            });
        }
    }

    fn text(&mut self, v: &Value, text: &str, reasoning: bool, out: &mut Vec<StreamEvent>) {
        if text.is_empty() {
            return;
        }
        self.streamed.insert(item_key(v));
        self.emit_text(text.to_string(), reasoning, out);
    }

    fn emit_text(&mut self, text: String, reasoning: bool, out: &mut Vec<StreamEvent>) {
        self.content = true;
        out.push(if reasoning {
            StreamEvent::ReasoningDelta { text }
        } else {
            StreamEvent::TextDelta { text }
        });
    }

    fn item_done(&mut self, v: &Value, out: &mut Vec<StreamEvent>) {
        let Some(item) = v.get("item") else {
            return;
        };
        let key = item_key(v);
        match str_at(item, "type") {
            Some("function_call") => {
                let index = match self.tool_index(v).or_else(|| {
                    str_at(item, "id").and_then(|id| self.tool_by_item.get(id).copied())
                }) {
                    Some(i) => i,
                    None => self.start_tool(v, item, out),
                };
                if !self.tool_args_sent.contains(&index) {
                    let args = str_at(item, "arguments").unwrap_or_default();
                    self.tool_args(index, args, out);
                }
            }
            Some("reasoning") => {
                if !self.streamed.contains(&key) {
                    let text = reasoning_text(item);
                    self.text(v, &text, true, out);
                }
                if let Some(enc) = str_at(item, "encrypted_content").filter(|e| !e.is_empty()) {
                    self.content = true;
                    out.push(StreamEvent::ReasoningEncrypted {
                        id: str_at(item, "id").map(str::to_string),
                        encrypted: enc.to_string(),
                    });
                }
            }
            Some("message") if !self.streamed.contains(&key) => {
                let mut d = DecodedOutput {
                    parts: Vec::new(),
                    tool_calls: false,
                    refusal: false,
                };
                item_parts(item, &mut d);
                self.refusal |= d.refusal;
                let text: String = d
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text { text } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                self.text(v, &text, false, out);
            }
            _ => {}
        }
    }

    /// `response.completed` / `response.incomplete`: usage, then the finish.
    fn completed(&mut self, resp: &Value, out: &mut Vec<StreamEvent>) {
        if !self.content {
            // An upstream that sent no item events: take the content from the final object.
            if let Some(Value::Array(items)) = resp.get("output") {
                for (i, item) in items.iter().enumerate() {
                    let ev = serde_json::json!({"output_index": i, "item": item});
                    self.item_done(&ev, out);
                }
            }
        }
        if let Some(u) = resp.get("usage").filter(|u| u.is_object()) {
            let usage = usage_from_json(u);
            if !usage.is_empty() {
                out.push(StreamEvent::Usage { usage });
            }
        }
        let reason = finish_from_response(resp, self.tools > 0, self.refusal);
        out.push(StreamEvent::Finish { reason });
        self.ended = true;
    }

    fn error(&mut self, message: String, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::Error { message });
        self.ended = true;
    }
}

impl StreamDecoder for ResponsesStreamDecoder {
    fn push(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), CodecError> {
        if self.ended || event.is_done() || event.data.trim().is_empty() {
            return Ok(());
        }
        if self.fast_delta(&event.data, event.event.as_deref(), out) {
            return Ok(());
        }
        let v: Value = serde_json::from_str(&event.data)
            .map_err(|e| CodecError::new(format!("malformed Responses stream event: {e}")))?;
        let ty = str_at(&v, "type")
            .or(event.event.as_deref())
            .unwrap_or_default();
        if ty == "response.created" || ty == "response.in_progress" {
            let resp = v.get("response").unwrap_or(&Value::Null);
            self.start(
                str_at(resp, "id").map(str::to_string),
                str_at(resp, "model").map(str::to_string),
                out,
            );
            return Ok(());
        }
        self.start(None, None, out);
        match ty {
            "response.output_item.added" => {
                if let Some(item) = v.get("item") {
                    if str_at(item, "type") == Some("function_call") {
                        let index = self.start_tool(&v, item, out);
                        let args = str_at(item, "arguments").unwrap_or_default();
                        self.tool_args(index, args, out);
                    }
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                if ty == "response.refusal.delta" {
                    self.refusal = true;
                }
                let delta = str_at(&v, "delta").unwrap_or_default();
                self.text(&v, delta, false, out);
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let delta = str_at(&v, "delta").unwrap_or_default();
                self.text(&v, delta, true, out);
            }
            // Summary parts are paragraphs: separate a later one from the previous.
            "response.reasoning_summary_part.added"
                if u64_at(&v, "summary_index").unwrap_or(0) > 0
                    && self.streamed.contains(&item_key(&v)) =>
            {
                self.text(&v, "\n\n", true, out);
            }
            "response.function_call_arguments.delta" => {
                if let Some(index) = self.tool_index(&v) {
                    let delta = str_at(&v, "delta").unwrap_or_default();
                    self.tool_args(index, delta, out);
                }
            }
            "response.function_call_arguments.done" => {
                if let Some(index) = self.tool_index(&v) {
                    if !self.tool_args_sent.contains(&index) {
                        let args = str_at(&v, "arguments").unwrap_or_default();
                        self.tool_args(index, args, out);
                    }
                }
            }
            "response.output_item.done" => self.item_done(&v, out),
            "response.completed" | "response.incomplete" | "response.done" => {
                let resp = v.get("response").unwrap_or(&Value::Null);
                self.completed(resp, out);
            }
            "response.failed" | "response.cancelled" => {
                let resp = v.get("response").unwrap_or(&Value::Null);
                let message = resp
                    .get("error")
                    .filter(|e| !e.is_null())
                    .map(error_message)
                    .unwrap_or_else(|| format!("upstream {ty}"));
                self.error(message, out);
            }
            "error" => {
                let message = match v.get("error").filter(|e| !e.is_null()) {
                    Some(err) => error_message(err),
                    None => str_at(&v, "message")
                        .or_else(|| str_at(&v, "code"))
                        .unwrap_or("upstream stream error")
                        .to_string(),
                };
                self.error(message, out);
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.start(None, None, out);
        if !self.ended {
            self.ended = true;
            let reason = if self.tools > 0 {
                FinishReason::ToolCalls
            } else {
                FinishReason::Stop
            };
            out.push(StreamEvent::Finish { reason });
        }
    }
}
