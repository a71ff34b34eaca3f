//! Upstream `chat.completion.chunk` SSE events → IR stream events. Handles `<think>` content,
//! `reasoning_content`/`reasoning` deltas, tool calls however providers fragment them (id late,
//! whole call in one chunk, id repeated in every fragment, no index), usage-only chunks, error
//! objects and `[DONE]`.

use omniroute_ir::think::ThinkSplitter;
use omniroute_ir::{make_call_id, CodecError, FinishReason, StreamDecoder, StreamEvent, Usage};
use omniroute_protocol::sse::SseEvent;
use serde_json::Value;

use crate::common::{arguments_text, finish_from_wire, str_field, usage_from_wire};
use crate::response::error_message;

/// One upstream tool call being assembled.
#[derive(Debug, Default)]
struct Call {
    /// Upstream `index`, when the provider sends one.
    upstream_index: Option<u64>,
    id: Option<String>,
    name: Option<String>,
    /// The IR index once `ToolCallStart` has been emitted.
    started: Option<usize>,
    /// Argument fragments that arrived before the call could start.
    pending_args: String,
}

/// Decoder for one upstream chat completions stream.
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    started: bool,
    /// The upstream response id (seed for ids of calls that never got one).
    response_id: String,
    think: ThinkSplitter,
    calls: Vec<Call>,
    next_index: usize,
    finished: bool,
    errored: bool,
    done: bool,
    last_usage: Option<Usage>,
}

impl ChunkDecoder {
    fn ensure_start(&mut self, v: Option<&Value>, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = v.and_then(|v| str_field(v, "id")).map(str::to_string);
        let model = v.and_then(|v| str_field(v, "model")).map(str::to_string);
        self.response_id = id.clone().unwrap_or_default();
        out.push(StreamEvent::Start { id, model });
    }

    /// Emit `ToolCallStart` (and buffered arguments) for call `slot`, making up what is
    /// missing. Earlier calls still waiting start first so indexes follow upstream order.
    fn start_call(&mut self, slot: usize, out: &mut Vec<StreamEvent>) {
        for s in 0..=slot {
            if self.calls[s].started.is_some() {
                continue;
            }
            let index = self.next_index;
            self.next_index += 1;
            let call = &mut self.calls[s];
            call.started = Some(index);
            let name = call.name.clone().unwrap_or_default();
            let id = call.id.clone().unwrap_or_else(|| {
                make_call_id("call_", &format!("{}:{index}:{name}", self.response_id))
            });
            out.push(StreamEvent::ToolCallStart {
                index,
                id,
                name,
                signature: None,
            });
            let fragment = std::mem::take(&mut call.pending_args);
            if !fragment.is_empty() {
                out.push(StreamEvent::ToolCallArgs { index, fragment });
            }
        }
    }

    /// Start every call still waiting for its id (the id never came).
    fn flush_calls(&mut self, out: &mut Vec<StreamEvent>) {
        // A slot that never carried anything is not a call.
        self.calls.retain(|c| {
            c.started.is_some() || c.id.is_some() || c.name.is_some() || !c.pending_args.is_empty()
        });
        if let Some(last) = self.calls.len().checked_sub(1) {
            self.start_call(last, out);
        }
    }

    fn slot_for(&mut self, index: Option<u64>, id: Option<&str>) -> usize {
        let found = match (index, id) {
            (Some(i), _) => self
                .calls
                .iter()
                .rposition(|c| c.upstream_index == Some(i))
                // The same index with a different id is a new call (providers that send every
                // call as index 0).
                .filter(|&s| match (&self.calls[s].id, id) {
                    (Some(known), Some(id)) => known == id,
                    _ => true,
                }),
            (None, Some(id)) => self.calls.iter().rposition(|c| c.id.as_deref() == Some(id)),
            (None, None) => self.calls.len().checked_sub(1),
        };
        match found {
            Some(s) => s,
            None => {
                self.calls.push(Call {
                    upstream_index: index,
                    ..Default::default()
                });
                self.calls.len() - 1
            }
        }
    }

    fn tool_delta(&mut self, tc: &Value, out: &mut Vec<StreamEvent>) {
        let f = tc.get("function").unwrap_or(&Value::Null);
        let id = str_field(tc, "id");
        let name = str_field(f, "name");
        let args = arguments_text(f.get("arguments"));
        let slot = self.slot_for(tc.get("index").and_then(Value::as_u64), id);
        let call = &mut self.calls[slot];
        if call.id.is_none() {
            call.id = id.map(str::to_string);
        }
        if call.name.is_none() {
            call.name = name.map(str::to_string);
        }
        match call.started {
            Some(index) => {
                if !args.is_empty() {
                    out.push(StreamEvent::ToolCallArgs {
                        index,
                        fragment: args,
                    });
                }
            }
            None => {
                call.pending_args.push_str(&args);
                if call.id.is_some() && call.name.is_some() {
                    self.think.finish(out);
                    self.start_call(slot, out);
                }
            }
        }
    }

    fn finish_with(&mut self, reason: FinishReason, out: &mut Vec<StreamEvent>) {
        if self.finished {
            return;
        }
        self.flush_calls(out);
        self.think.finish(out);
        let reason = match reason {
            FinishReason::Stop if self.next_index > 0 => FinishReason::ToolCalls,
            r => r,
        };
        out.push(StreamEvent::Finish { reason });
        self.finished = true;
    }

    fn choice(&mut self, choice: &Value, out: &mut Vec<StreamEvent>) {
        if self.finished {
            return;
        }
        let delta = choice
            .get("delta")
            .or_else(|| choice.get("message"))
            .unwrap_or(&Value::Null);
        let reasoning =
            str_field(delta, "reasoning_content").or_else(|| str_field(delta, "reasoning"));
        if let Some(text) = reasoning {
            out.push(StreamEvent::ReasoningDelta {
                text: text.to_string(),
            });
        }
        if let Some(text) = str_field(delta, "content") {
            self.think.push(text, out);
        }
        if let Some(text) = str_field(delta, "refusal") {
            self.think.push(text, out);
        }
        if let Some(Value::Array(calls)) = delta.get("tool_calls") {
            for tc in calls {
                self.tool_delta(tc, out);
            }
        }
        if let Some(fc) = delta.get("function_call").filter(|f| f.is_object()) {
            // Legacy function calling: one call, no id.
            let tc = serde_json::json!({"index": 0, "function": fc});
            self.tool_delta(&tc, out);
        }
        if let Some(reason) = str_field(choice, "finish_reason") {
            self.finish_with(finish_from_wire(reason), out);
        }
    }
}

impl StreamDecoder for ChunkDecoder {
    fn push(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), CodecError> {
        if self.done || self.errored {
            return Ok(());
        }
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if event.is_done() {
            self.done = true;
            return Ok(());
        }
        let v: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(_) if event.event.as_deref() == Some("error") => {
                self.ensure_start(None, out);
                self.flush_calls(out);
                self.think.finish(out);
                out.push(StreamEvent::Error {
                    message: data.to_string(),
                });
                self.errored = true;
                return Ok(());
            }
            Err(e) => {
                return Err(CodecError::new(format!(
                    "malformed chat completion chunk: {e}"
                )))
            }
        };
        if !v.is_object() {
            return Ok(());
        }
        let err = match v.get("error").filter(|e| !e.is_null()) {
            Some(err) => Some(err),
            // `event: error` with the error object itself as data
            None if event.event.as_deref() == Some("error") => Some(&v),
            None => None,
        };
        if let Some(err) = err {
            self.ensure_start(None, out);
            self.flush_calls(out);
            self.think.finish(out);
            out.push(StreamEvent::Error {
                message: error_message(err),
            });
            self.errored = true;
            return Ok(());
        }
        self.ensure_start(Some(&v), out);
        if let Some(Value::Array(choices)) = v.get("choices") {
            // Only the first choice (n = 1); chunks may carry an explicit index.
            let first = choices
                .iter()
                .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0);
            if let Some(choice) = first {
                self.choice(choice, out);
            }
        }
        let usage = v
            .get("usage")
            .or_else(|| v.pointer("/x_groq/usage"))
            .filter(|u| u.is_object())
            .map(usage_from_wire)
            .filter(|u| !u.is_empty());
        if let Some(usage) = usage {
            if self.last_usage != Some(usage) {
                self.last_usage = Some(usage);
                out.push(StreamEvent::Usage { usage });
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.ensure_start(None, out);
        if self.errored {
            return;
        }
        self.flush_calls(out);
        self.think.finish(out);
        if !self.finished {
            let reason = if self.next_index > 0 {
                FinishReason::ToolCalls
            } else {
                FinishReason::Stop
            };
            out.push(StreamEvent::Finish { reason });
            self.finished = true;
        }
    }
}
