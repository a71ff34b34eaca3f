//! Gemini streams: `streamGenerateContent` chunks (SSE `data:` events, each a whole
//! `GenerateContentResponse`) → IR events, and IR events → client chunks, framed as SSE
//! (`alt=sse`) or as a streamed JSON array.

use bytes::{BufMut, BytesMut};
use omniroute_ir::{
    arguments_object, CodecError, FinishReason, Part, StreamDecoder, StreamEncoder, StreamEnd,
    StreamEvent, Usage,
};
use omniroute_protocol::sse::SseEvent;
use serde_json::{json, Map, Value};

use crate::response::{
    decode_model_parts, error_message, finish_from_gemini, finish_to_gemini, usage_from_gemini,
    usage_to_gemini,
};
use crate::util::{get, get_obj, get_str};

// =============================================================================== decoder

/// Upstream Gemini stream → IR events.
#[derive(Debug, Default)]
pub(crate) struct GeminiStreamDecoder {
    started: bool,
    finished: bool,
    errored: bool,
    saw_calls: bool,
    /// Calls decoded so far (seeds derived ids).
    call_index: usize,
    /// The `index` of the next `ToolCallStart`.
    next_index: usize,
    response_id: String,
    last_usage: Option<Usage>,
}

impl GeminiStreamDecoder {
    fn chunk(&mut self, o: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            let id = get_str(o, "responseId").map(str::to_string);
            self.response_id = id.clone().unwrap_or_default();
            out.push(StreamEvent::Start {
                id,
                model: get_str(o, "modelVersion").map(str::to_string),
            });
        }
        if let Some(err) = get(o, "error") {
            self.errored = true;
            out.push(StreamEvent::Error {
                message: error_message(err),
            });
            return;
        }
        let mut finish: Option<String> = None;
        let mut has_candidate = false;
        if let Some(c) = get(o, "candidates")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_object)
        {
            has_candidate = true;
            if let Some(Value::Array(ps)) =
                get_obj(c, "content").and_then(|content| get(content, "parts"))
            {
                for part in decode_model_parts(ps, &self.response_id, &mut self.call_index) {
                    self.part_events(part, out);
                }
            }
            finish = get_str(c, "finishReason").map(str::to_string);
        }
        if let Some(u) = get_obj(o, "usageMetadata") {
            let usage = usage_from_gemini(u);
            if !usage.is_empty() && self.last_usage != Some(usage) {
                self.last_usage = Some(usage);
                out.push(StreamEvent::Usage { usage });
            }
        }
        let blocked = !has_candidate
            && get_obj(o, "promptFeedback")
                .and_then(|pf| get_str(pf, "blockReason"))
                .is_some();
        if self.finished {
            return;
        }
        if let Some(f) = finish {
            self.finished = true;
            out.push(StreamEvent::Finish {
                reason: finish_from_gemini(&f, self.saw_calls),
            });
        } else if blocked {
            self.finished = true;
            out.push(StreamEvent::Finish {
                reason: FinishReason::ContentFilter,
            });
        }
    }

    fn part_events(&mut self, part: Part, out: &mut Vec<StreamEvent>) {
        match part {
            Part::Text { text } => out.push(StreamEvent::TextDelta { text }),
            Part::Reasoning {
                text, signature, ..
            } => {
                if !text.is_empty() {
                    out.push(StreamEvent::ReasoningDelta { text });
                }
                if let Some(signature) = signature {
                    out.push(StreamEvent::ReasoningSignature { signature });
                }
            }
            Part::ToolCall {
                id,
                name,
                arguments,
                signature,
            } => {
                self.saw_calls = true;
                let index = self.next_index;
                self.next_index += 1;
                out.push(StreamEvent::ToolCallStart {
                    index,
                    id,
                    name,
                    signature,
                });
                out.push(StreamEvent::ToolCallArgs {
                    index,
                    fragment: arguments,
                });
            }
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
}

impl StreamDecoder for GeminiStreamDecoder {
    fn push(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), CodecError> {
        let data = event.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| CodecError::new(format!("malformed Gemini stream chunk: {e}")))?;
        match &v {
            Value::Object(o) => self.chunk(o, out),
            Value::Array(a) => {
                for o in a.iter().filter_map(Value::as_object) {
                    self.chunk(o, out);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: None,
                model: None,
            });
        }
        if !self.finished && !self.errored {
            self.finished = true;
            out.push(StreamEvent::Finish {
                reason: if self.saw_calls {
                    FinishReason::ToolCalls
                } else {
                    FinishReason::Stop
                },
            });
        }
    }
}

// =============================================================================== encoder

#[derive(Debug)]
struct PendingCall {
    index: usize,
    id: String,
    name: String,
    signature: Option<String>,
    args: String,
}

/// IR events → Gemini client chunks.
#[derive(Debug)]
pub(crate) struct GeminiStreamEncoder {
    model: String,
    json_array: bool,
    response_id: Option<String>,
    wrote_any: bool,
    /// A signature waiting for the next emitted part.
    pending_sig: Option<String>,
    /// Tool calls whose arguments are still arriving (Gemini sends whole `args` objects).
    calls: Vec<PendingCall>,
    finish: Option<FinishReason>,
    usage: Usage,
    errored: bool,
    done: bool,
}

impl GeminiStreamEncoder {
    pub(crate) fn new(model: &str, json_array: bool) -> Self {
        Self {
            model: model.to_string(),
            json_array,
            response_id: None,
            wrote_any: false,
            pending_sig: None,
            calls: Vec::new(),
            finish: None,
            usage: Usage::default(),
            errored: false,
            done: false,
        }
    }

    fn write(&mut self, obj: &Value, out: &mut BytesMut) {
        let s = obj.to_string();
        if self.json_array {
            out.put_slice(if self.wrote_any { b",\r\n" } else { b"[" });
            out.put_slice(s.as_bytes());
        } else {
            out.put_slice(b"data: ");
            out.put_slice(s.as_bytes());
            out.put_slice(b"\r\n\r\n");
        }
        self.wrote_any = true;
    }

    fn chunk(&self, parts: Vec<Value>, finish: Option<String>, usage: Option<Value>) -> Value {
        let mut cand = Map::new();
        cand.insert("content".into(), json!({"role": "model", "parts": parts}));
        if let Some(f) = finish {
            cand.insert("finishReason".into(), f.into());
        }
        cand.insert("index".into(), 0.into());
        let mut root = Map::new();
        root.insert("candidates".into(), Value::Array(vec![Value::Object(cand)]));
        if let Some(u) = usage {
            root.insert("usageMetadata".into(), u);
        }
        root.insert("modelVersion".into(), self.model.as_str().into());
        if let Some(id) = &self.response_id {
            root.insert("responseId".into(), id.as_str().into());
        }
        Value::Object(root)
    }

    /// Put the pending signature on the first part that has none.
    fn attach_signature(&mut self, parts: &mut [Value]) {
        if self.pending_sig.is_none() {
            return;
        }
        for p in parts.iter_mut() {
            if let Value::Object(o) = p {
                if !o.contains_key("thoughtSignature") {
                    if let Some(s) = self.pending_sig.take() {
                        o.insert("thoughtSignature".into(), s.into());
                    }
                    return;
                }
            }
        }
    }

    /// The buffered calls as `functionCall` parts (only those whose arguments parse, when
    /// `complete_only`).
    fn take_call_parts(&mut self, complete_only: bool) -> Vec<Value> {
        let mut parts = Vec::new();
        for c in std::mem::take(&mut self.calls) {
            let args = if complete_only {
                match serde_json::from_str::<Value>(c.args.trim()) {
                    Ok(v @ Value::Object(_)) => v,
                    _ if c.args.trim().is_empty() => Value::Object(Map::new()),
                    _ => continue,
                }
            } else {
                arguments_object(&c.args)
            };
            let mut fc = Map::new();
            fc.insert("name".into(), c.name.into());
            fc.insert("args".into(), args);
            if !c.id.is_empty() {
                fc.insert("id".into(), c.id.into());
            }
            let mut part = Map::new();
            part.insert("functionCall".into(), Value::Object(fc));
            if let Some(s) = c.signature {
                part.insert("thoughtSignature".into(), s.into());
            }
            parts.push(Value::Object(part));
        }
        parts
    }

    fn flush_calls(&mut self, out: &mut BytesMut) {
        if self.calls.is_empty() {
            return;
        }
        let mut parts = self.take_call_parts(false);
        self.attach_signature(&mut parts);
        let chunk = self.chunk(parts, None, None);
        self.write(&chunk, out);
    }

    fn flush_signature(&mut self, out: &mut BytesMut) {
        if let Some(s) = self.pending_sig.take() {
            let chunk = self.chunk(vec![json!({ "thoughtSignature": s })], None, None);
            self.write(&chunk, out);
        }
    }

    fn emit_part(&mut self, part: Value, out: &mut BytesMut) {
        self.flush_calls(out);
        let mut parts = vec![part];
        self.attach_signature(&mut parts);
        let chunk = self.chunk(parts, None, None);
        self.write(&chunk, out);
    }

    fn error_chunk(&mut self, message: &str, out: &mut BytesMut) {
        let e = json!({"error": {"code": 502, "message": message, "status": "UNAVAILABLE"}});
        self.write(&e, out);
    }
}

impl StreamEncoder for GeminiStreamEncoder {
    fn push(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start { id, .. } => {
                if self.response_id.is_none() {
                    self.response_id = id.clone().filter(|s| !s.is_empty());
                }
            }
            StreamEvent::TextDelta { text } => {
                if !text.is_empty() {
                    self.emit_part(json!({ "text": text }), out);
                }
            }
            StreamEvent::ReasoningDelta { text } => {
                if !text.is_empty() {
                    self.emit_part(json!({ "text": text, "thought": true }), out);
                }
            }
            StreamEvent::ReasoningSignature { signature } => {
                self.flush_calls(out);
                if !signature.is_empty() {
                    self.flush_signature(out);
                    self.pending_sig = Some(signature.clone());
                }
            }
            StreamEvent::RedactedReasoning { .. } | StreamEvent::ReasoningEncrypted { .. } => {}
            StreamEvent::ToolCallStart {
                index,
                id,
                name,
                signature,
            } => self.calls.push(PendingCall {
                index: *index,
                id: id.clone(),
                name: name.clone(),
                signature: signature.clone().filter(|s| !s.is_empty()),
                args: String::new(),
            }),
            StreamEvent::ToolCallArgs { index, fragment } => {
                if let Some(c) = self.calls.iter_mut().rev().find(|c| c.index == *index) {
                    c.args.push_str(fragment);
                }
            }
            StreamEvent::Usage { usage } => self.usage.merge(usage),
            StreamEvent::Finish { reason } => {
                if self.finish.is_none() {
                    self.finish = Some(reason.clone());
                }
            }
            StreamEvent::Error { message } => {
                self.flush_calls(out);
                self.flush_signature(out);
                if !self.errored {
                    self.errored = true;
                    self.error_chunk(message, out);
                }
            }
        }
    }

    fn finish(&mut self, end: &StreamEnd, out: &mut BytesMut) {
        if self.done {
            return;
        }
        self.done = true;
        match end {
            StreamEnd::Aborted(msg) if self.finish.is_none() => {
                let mut parts = self.take_call_parts(true);
                if !parts.is_empty() {
                    self.attach_signature(&mut parts);
                    let chunk = self.chunk(parts, None, None);
                    self.write(&chunk, out);
                }
                if !self.errored {
                    self.errored = true;
                    self.error_chunk(msg, out);
                }
            }
            _ if self.errored => {}
            _ => {
                let mut parts = self.take_call_parts(false);
                self.attach_signature(&mut parts);
                if let Some(s) = self.pending_sig.take() {
                    parts.push(json!({ "thoughtSignature": s }));
                }
                if parts.is_empty() {
                    parts.push(json!({ "text": "" }));
                }
                let reason = self.finish.clone().unwrap_or(FinishReason::Stop);
                let usage = usage_to_gemini(&self.usage);
                let chunk = self.chunk(parts, Some(finish_to_gemini(&reason)), usage);
                self.write(&chunk, out);
            }
        }
        if self.json_array {
            if !self.wrote_any {
                out.put_slice(b"[");
            }
            out.put_slice(b"]");
        }
    }
}
