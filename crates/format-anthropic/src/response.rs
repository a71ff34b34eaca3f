//! Non-stream responses: an upstream Anthropic `message` → IR, and IR → the `message` an
//! Anthropic client expects (only the fields of Anthropic's schema), as a `Value`
//! ([`encode_response`]) or as JSON text written directly ([`encode_response_bytes`]).
//!
//! [`decode_response`] reads the common shape of a message through typed structs; a body
//! outside it (an error, unexpected types, duplicate keys, ...) is decoded by the `Value` reader
//! [`decode_response_value`], so both give the same result for every body.

use std::borrow::Cow;

use omniroute_ir::{arguments_object, ChatResponse, CodecError, FinishReason, Part, Usage};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::common::{
    error_text, message_id, now_unix, stop_reason_from_ir, stop_reason_to_ir, usage_from_json,
    usage_out, usage_to_json, Obj, ObjectOnly, Present, UsageOut,
};

pub(crate) fn decode_response(body: &[u8]) -> Result<ChatResponse, CodecError> {
    match decode_typed(body) {
        Some(resp) => Ok(resp),
        None => decode_response_value(body),
    }
}

// The typed view of a message: exactly the fields `decode_response_value` reads, each with the
// one JSON type it uses (`Option`: absent or null). Anything else fails and falls back.

#[derive(Deserialize)]
struct MessageIn<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    error: Present,
    #[serde(borrow)]
    content: Option<Vec<ObjectOnly<BlockIn<'a>>>>,
    stop_reason: Option<String>,
    id: Option<String>,
    model: Option<String>,
    usage: Option<ObjectOnly<UsageIn>>,
}

#[derive(Deserialize)]
struct BlockIn<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    text: Option<String>,
    thinking: Option<String>,
    signature: Option<String>,
    data: Option<String>,
    id: Option<String>,
    name: Option<String>,
    input: Option<Value>,
}

#[derive(Deserialize)]
struct UsageIn {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

/// [`decode_response_value`] for a body in the typed view; `None` (decode it as a `Value`) for
/// anything else, errors included.
fn decode_typed(body: &[u8]) -> Option<ChatResponse> {
    let m = serde_json::from_slice::<ObjectOnly<MessageIn>>(body)
        .ok()?
        .0;
    if m.kind.as_deref() == Some("error") || m.error.0 {
        return None;
    }
    let blocks = m.content.unwrap_or_default();
    let mut content = Vec::with_capacity(blocks.len());
    for ObjectOnly(b) in blocks {
        let part = match b.kind.as_deref() {
            Some("text") => Part::Text {
                text: b.text.unwrap_or_default(),
            },
            Some("thinking") => Part::Reasoning {
                text: b.thinking.unwrap_or_default(),
                signature: b.signature.filter(|x| !x.is_empty()),
                redacted: None,
                encrypted: None,
                id: None,
            },
            Some("redacted_thinking") => Part::Reasoning {
                text: String::new(),
                signature: None,
                redacted: Some(b.data.unwrap_or_default()),
                encrypted: None,
                id: None,
            },
            Some("tool_use") => Part::ToolCall {
                id: b.id.unwrap_or_default(),
                name: b.name.unwrap_or_default(),
                arguments: b.input.map_or_else(|| "{}".to_string(), |v| v.to_string()),
                signature: None,
            },
            _ => continue,
        };
        content.push(part);
    }
    let finish = match m.stop_reason.as_deref() {
        Some(r) => stop_reason_to_ir(r),
        None if content.iter().any(|p| matches!(p, Part::ToolCall { .. })) => {
            FinishReason::ToolCalls
        }
        None => FinishReason::Stop,
    };
    let usage = m.usage.map_or_else(Usage::default, |ObjectOnly(u)| {
        let cache = u
            .cache_read_input_tokens
            .unwrap_or(0)
            .saturating_add(u.cache_creation_input_tokens.unwrap_or(0));
        Usage {
            input_tokens: u.input_tokens.map(|n| n.saturating_add(cache)),
            output_tokens: u.output_tokens,
            cached_tokens: u.cache_read_input_tokens,
            cache_creation_tokens: u.cache_creation_input_tokens,
            reasoning_tokens: None,
        }
    });
    Some(ChatResponse {
        id: m.id.unwrap_or_default(),
        model: m.model.unwrap_or_default(),
        content,
        finish,
        usage,
        created: now_unix(),
    })
}

/// Decode an upstream message through `serde_json::Value` (every shape).
pub(crate) fn decode_response_value(body: &[u8]) -> Result<ChatResponse, CodecError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| CodecError::new(format!("response body is not valid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| CodecError::new("response body must be a JSON object"))?;
    if obj.get("type").and_then(Value::as_str) == Some("error") || obj.contains_key("error") {
        let err = obj.get("error").unwrap_or(&Value::Null);
        return Err(CodecError::new(format!(
            "upstream error: {}",
            error_text(err)
        )));
    }
    let blocks = match obj.get("content") {
        Some(Value::Array(a)) => a.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => return Err(CodecError::new("`content` must be an array")),
    };
    let mut content = Vec::with_capacity(blocks.len());
    for b in blocks {
        if let Some(p) = decode_block(b) {
            content.push(p);
        }
    }
    let finish = match obj.get("stop_reason").and_then(Value::as_str) {
        Some(r) => stop_reason_to_ir(r),
        None if content.iter().any(|p| matches!(p, Part::ToolCall { .. })) => {
            FinishReason::ToolCalls
        }
        None => FinishReason::Stop,
    };
    Ok(ChatResponse {
        id: obj
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        model: obj
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        content,
        finish,
        usage: obj.get("usage").map(usage_from_json).unwrap_or_default(),
        created: now_unix(),
    })
}

/// One response content block → IR; server-tool blocks and other kinds are skipped.
fn decode_block(b: &Value) -> Option<Part> {
    let s = |k: &str| b.get(k).and_then(Value::as_str);
    match s("type")? {
        "text" => Some(Part::Text {
            text: s("text").unwrap_or_default().to_string(),
        }),
        "thinking" => Some(Part::Reasoning {
            text: s("thinking").unwrap_or_default().to_string(),
            signature: s("signature").filter(|x| !x.is_empty()).map(str::to_string),
            redacted: None,
            encrypted: None,
            id: None,
        }),
        "redacted_thinking" => Some(Part::Reasoning {
            text: String::new(),
            signature: None,
            redacted: Some(s("data").unwrap_or_default().to_string()),
            encrypted: None,
            id: None,
        }),
        "tool_use" => Some(Part::ToolCall {
            id: s("id").unwrap_or_default().to_string(),
            name: s("name").unwrap_or_default().to_string(),
            arguments: b
                .get("input")
                .filter(|v| !v.is_null())
                .map_or_else(|| "{}".to_string(), Value::to_string),
            signature: None,
        }),
        _ => None,
    }
}

pub(crate) fn encode_response(resp: &ChatResponse, model: &str) -> Value {
    let mut content = Vec::with_capacity(resp.content.len());
    for p in &resp.content {
        match p {
            Part::Text { text } => {
                if !text.is_empty() {
                    content.push(json!({"type": "text", "text": text}));
                }
            }
            Part::Reasoning {
                text,
                signature,
                redacted,
                ..
            } => {
                if let Some(data) = redacted {
                    content.push(json!({"type": "redacted_thinking", "data": data}));
                } else if !text.is_empty() || signature.is_some() {
                    // An Anthropic client gets "" when the upstream gave no signature.
                    content.push(json!({
                        "type": "thinking",
                        "thinking": text,
                        "signature": signature.as_deref().unwrap_or(""),
                    }));
                }
            }
            Part::ToolCall {
                id,
                name,
                arguments,
                signature,
            } => {
                // A signature on a call (Gemini thoughtSignature) rides in an empty thinking
                // block just before it, which the client echoes back.
                if let Some(sig) = signature {
                    content.push(json!({"type": "thinking", "thinking": "", "signature": sig}));
                }
                content.push(json!({
                    "type": "tool_use",
                    "id": id,
                    "name": name,
                    "input": arguments_object(arguments),
                }));
            }
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    let mut o = Obj::new();
    o.insert("id".into(), json!(message_id(Some(&resp.id))));
    o.insert("type".into(), json!("message"));
    o.insert("role".into(), json!("assistant"));
    o.insert("model".into(), json!(model));
    o.insert("content".into(), Value::Array(content));
    o.insert(
        "stop_reason".into(),
        json!(stop_reason_from_ir(&resp.finish)),
    );
    o.insert("stop_sequence".into(), Value::Null);
    o.insert("usage".into(), usage_to_json(&resp.usage));
    Value::Object(o)
}

#[derive(Serialize)]
struct MessageOut<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<BlockOut<'a>>,
    stop_reason: &'a str,
    stop_sequence: (),
    usage: UsageOut,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockOut<'a> {
    Text {
        text: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
}

/// [`encode_response`] written straight to JSON bytes: the same text `serde_json::to_vec` of its
/// `Value` gives, without building the `Value` (tool arguments are still parsed, so the `input`
/// objects come out normalized the same way).
pub(crate) fn encode_response_bytes(resp: &ChatResponse, model: &str) -> Vec<u8> {
    let mut content = Vec::with_capacity(resp.content.len());
    for p in &resp.content {
        match p {
            Part::Text { text } => {
                if !text.is_empty() {
                    content.push(BlockOut::Text { text });
                }
            }
            Part::Reasoning {
                text,
                signature,
                redacted,
                ..
            } => {
                if let Some(data) = redacted {
                    content.push(BlockOut::RedactedThinking { data });
                } else if !text.is_empty() || signature.is_some() {
                    content.push(BlockOut::Thinking {
                        thinking: text,
                        signature: signature.as_deref().unwrap_or(""),
                    });
                }
            }
            Part::ToolCall {
                id,
                name,
                arguments,
                signature,
            } => {
                if let Some(sig) = signature {
                    content.push(BlockOut::Thinking {
                        thinking: "",
                        signature: sig,
                    });
                }
                content.push(BlockOut::ToolUse {
                    id,
                    name,
                    input: arguments_object(arguments),
                });
            }
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    let out = MessageOut {
        id: message_id(Some(&resp.id)),
        kind: "message",
        role: "assistant",
        model,
        content,
        stop_reason: stop_reason_from_ir(&resp.finish),
        stop_sequence: (),
        usage: usage_out(&resp.usage),
    };
    // Serializing these borrowed structs into a Vec cannot fail.
    serde_json::to_vec(&out).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn same(a: ChatResponse, mut b: ChatResponse) {
        b.created = a.created;
        assert_eq!(a, b);
    }

    /// The common shapes take the typed path (equality with `decode_response_value` over every
    /// body is tested in omniroute-translate's `nonstream_bytes`).
    #[test]
    fn typed_path_takes_the_common_shapes() {
        let body = serde_json::to_vec(
            &json!({"id": "msg_1", "type": "message", "role": "assistant",
            "model": "m", "content": [{"type": "thinking", "thinking": "t", "signature": "s"},
            {"type": "text", "text": "Hi\n"}, {"type": "tool_use", "id": "t1", "name": "f",
            "input": {"a": 1}}], "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 1, "output_tokens": 2, "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0}}),
        )
        .unwrap();
        same(
            decode_typed(&body).unwrap(),
            decode_response_value(&body).unwrap(),
        );
        assert!(decode_typed(br#"{"type": "error", "error": {"message": "x"}}"#).is_none());
        assert!(decode_typed(br#"{"content": [], "error": null}"#).is_none());
        assert!(decode_typed(br#"{"content": [["text", "a"]]}"#).is_none());
    }
}
