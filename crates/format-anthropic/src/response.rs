//! Non-stream responses: an upstream Anthropic `message` → IR, and IR → the `message` an
//! Anthropic client expects (only the fields of Anthropic's schema).

use omniroute_ir::{arguments_object, ChatResponse, CodecError, FinishReason, Part};
use serde_json::{json, Value};

use crate::common::{
    error_text, message_id, now_unix, stop_reason_from_ir, stop_reason_to_ir, usage_from_json,
    usage_to_json, Obj,
};

pub(crate) fn decode_response(body: &[u8]) -> Result<ChatResponse, CodecError> {
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
