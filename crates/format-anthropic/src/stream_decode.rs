//! Upstream Anthropic SSE events → IR stream events. Content blocks are tracked by their
//! `index` only while open (memory bounded by the open blocks); `tool_use` blocks are numbered
//! as tool calls from 0.

use std::collections::HashMap;

use omniroute_ir::{CodecError, FinishReason, StreamDecoder, StreamEvent};
use omniroute_protocol::sse::SseEvent;
use serde_json::Value;

use crate::common::{error_text, stop_reason_to_ir, usage_from_json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A client tool call, with its tool index.
    Tool(usize),
    /// Server tool use, results and other blocks the IR does not carry.
    Other,
}

/// Decoder of an Anthropic Messages stream.
#[derive(Debug, Default)]
pub struct AnthropicStreamDecoder {
    started: bool,
    blocks: HashMap<u64, Block>,
    tools: usize,
    finished: bool,
    errored: bool,
}

impl AnthropicStreamDecoder {
    fn start(&mut self, id: Option<String>, model: Option<String>, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start { id, model });
        }
    }

    fn ensure_started(&mut self, out: &mut Vec<StreamEvent>) {
        self.start(None, None, out);
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl StreamDecoder for AnthropicStreamDecoder {
    fn push(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), CodecError> {
        let data = event.data.trim();
        if data.is_empty() || event.is_done() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| CodecError::new(format!("malformed Anthropic stream event: {e}")))?;
        let ty = str_of(&v, "type").or(event.event.as_deref()).unwrap_or("");
        match ty {
            "message_start" => {
                let msg = v.get("message").unwrap_or(&Value::Null);
                self.start(
                    str_of(msg, "id").map(str::to_string),
                    str_of(msg, "model").map(str::to_string),
                    out,
                );
                if let Some(u) = msg.get("usage") {
                    let usage = usage_from_json(u);
                    if !usage.is_empty() {
                        out.push(StreamEvent::Usage { usage });
                    }
                }
            }
            "content_block_start" => {
                self.ensure_started(out);
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let cb = v.get("content_block").unwrap_or(&Value::Null);
                let block = match str_of(cb, "type").unwrap_or("") {
                    "text" => {
                        if let Some(t) = str_of(cb, "text").filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::TextDelta {
                                text: t.to_string(),
                            });
                        }
                        Block::Text
                    }
                    "thinking" => {
                        if let Some(t) = str_of(cb, "thinking").filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::ReasoningDelta {
                                text: t.to_string(),
                            });
                        }
                        if let Some(s) = str_of(cb, "signature").filter(|s| !s.is_empty()) {
                            out.push(StreamEvent::ReasoningSignature {
                                signature: s.to_string(),
                            });
                        }
                        Block::Thinking
                    }
                    "redacted_thinking" => {
                        out.push(StreamEvent::RedactedReasoning {
                            data: str_of(cb, "data").unwrap_or_default().to_string(),
                        });
                        Block::Other
                    }
                    "tool_use" => {
                        let n = self.tools;
                        self.tools += 1;
                        out.push(StreamEvent::ToolCallStart {
                            index: n,
                            id: str_of(cb, "id").unwrap_or_default().to_string(),
                            name: str_of(cb, "name").unwrap_or_default().to_string(),
                            signature: None,
                        });
                        // Anthropic sends `input: {}` and streams the arguments; some
                        // compatible upstreams put the whole input here instead.
                        if let Some(input) = cb.get("input").and_then(Value::as_object) {
                            if !input.is_empty() {
                                out.push(StreamEvent::ToolCallArgs {
                                    index: n,
                                    fragment: Value::Object(input.clone()).to_string(),
                                });
                            }
                        }
                        Block::Tool(n)
                    }
                    _ => Block::Other,
                };
                self.blocks.insert(index, block);
            }
            "content_block_delta" => {
                self.ensure_started(out);
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = self.blocks.get(&index).copied();
                let delta = v.get("delta").unwrap_or(&Value::Null);
                match (str_of(delta, "type").unwrap_or(""), block) {
                    ("text_delta", None | Some(Block::Text)) => {
                        if let Some(t) = str_of(delta, "text").filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::TextDelta {
                                text: t.to_string(),
                            });
                        }
                    }
                    ("thinking_delta", None | Some(Block::Thinking)) => {
                        if let Some(t) = str_of(delta, "thinking").filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::ReasoningDelta {
                                text: t.to_string(),
                            });
                        }
                    }
                    ("signature_delta", None | Some(Block::Thinking)) => {
                        if let Some(s) = str_of(delta, "signature").filter(|s| !s.is_empty()) {
                            out.push(StreamEvent::ReasoningSignature {
                                signature: s.to_string(),
                            });
                        }
                    }
                    ("input_json_delta", Some(Block::Tool(n))) => {
                        if let Some(f) = str_of(delta, "partial_json").filter(|f| !f.is_empty()) {
                            out.push(StreamEvent::ToolCallArgs {
                                index: n,
                                fragment: f.to_string(),
                            });
                        }
                    }
                    // citations_delta, server tool input, deltas of unknown blocks.
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(index) = v.get("index").and_then(Value::as_u64) {
                    self.blocks.remove(&index);
                }
            }
            "message_delta" => {
                self.ensure_started(out);
                if let Some(u) = v.get("usage") {
                    let usage = usage_from_json(u);
                    if !usage.is_empty() {
                        out.push(StreamEvent::Usage { usage });
                    }
                }
                if let Some(r) = v.get("delta").and_then(|d| str_of(d, "stop_reason")) {
                    if !self.finished {
                        self.finished = true;
                        out.push(StreamEvent::Finish {
                            reason: stop_reason_to_ir(r),
                        });
                    }
                }
            }
            "error" => {
                self.ensure_started(out);
                self.errored = true;
                let err = v.get("error").unwrap_or(&v);
                out.push(StreamEvent::Error {
                    message: error_text(err),
                });
            }
            // message_stop, ping, and event types added later.
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.finished || self.errored {
            return;
        }
        self.ensure_started(out);
        self.finished = true;
        out.push(StreamEvent::Finish {
            reason: if self.tools > 0 {
                FinishReason::ToolCalls
            } else {
                FinishReason::Stop
            },
        });
    }
}
