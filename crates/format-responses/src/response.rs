//! Non-stream response objects: an upstream's response → IR (`decode_response`) and IR → the
//! response object a Responses client expects (`encode_response`).

use crate::common::{
    finish_from_response, function_call_item, item_id, item_tool_name, message_item, now_secs,
    reasoning_item, response_id, status_for, str_at, usage_from_json, usage_to_json,
    ResponseObject,
};
use omniroute_ir::{ChatResponse, CodecError, Part};
use serde_json::Value;

/// The error message of an `error` object (or string).
pub(crate) fn error_message(err: &Value) -> String {
    match err {
        Value::String(s) => s.clone(),
        _ => str_at(err, "message")
            .map(str::to_string)
            .or_else(|| str_at(err, "code").map(str::to_string))
            .unwrap_or_else(|| err.to_string()),
    }
}

/// What the output items of a response hold, as IR parts.
pub(crate) struct DecodedOutput {
    pub parts: Vec<Part>,
    pub tool_calls: bool,
    pub refusal: bool,
}

/// The IR parts of one output item (message, reasoning, function_call; others are skipped).
pub(crate) fn item_parts(item: &Value, out: &mut DecodedOutput) {
    match str_at(item, "type") {
        Some("message") => {
            let Some(Value::Array(content)) = item.get("content") else {
                return;
            };
            for c in content {
                match str_at(c, "type") {
                    Some("output_text") | Some("text") => out.parts.push(Part::Text {
                        text: str_at(c, "text").unwrap_or_default().to_string(),
                    }),
                    Some("refusal") => {
                        out.refusal = true;
                        out.parts.push(Part::Text {
                            text: str_at(c, "refusal").unwrap_or_default().to_string(),
                        });
                    }
                    _ => {}
                }
            }
        }
        Some("reasoning") => {
            let text = reasoning_text(item);
            let encrypted = str_at(item, "encrypted_content").map(str::to_string);
            if !text.is_empty() || encrypted.is_some() {
                out.parts.push(Part::Reasoning {
                    text,
                    signature: None,
                    redacted: None,
                    encrypted,
                    id: str_at(item, "id").map(str::to_string),
                });
            }
        }
        Some("function_call") => {
            out.tool_calls = true;
            let call_id = str_at(item, "call_id")
                .or_else(|| str_at(item, "id"))
                .unwrap_or_default();
            out.parts.push(Part::ToolCall {
                id: call_id.to_string(),
                name: item_tool_name(item, false),
                arguments: str_at(item, "arguments").unwrap_or_default().to_string(),
                signature: None,
            });
        }
        _ => {}
    }
}

/// The visible text of a reasoning item: its summaries, else its reasoning text.
pub(crate) fn reasoning_text(item: &Value) -> String {
    let texts = |key: &str| -> String {
        match item.get(key) {
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| str_at(p, "text"))
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join("\n\n"),
            _ => String::new(),
        }
    };
    let summary = texts("summary");
    if summary.is_empty() {
        texts("content")
    } else {
        summary
    }
}

/// Upstream response object → IR.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, CodecError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| CodecError::new(format!("response body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(CodecError::new("response body must be a JSON object"));
    }
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return Err(CodecError::new(format!(
            "upstream error: {}",
            error_message(err)
        )));
    }
    if str_at(&v, "status") == Some("failed") {
        return Err(CodecError::new("upstream response failed"));
    }
    let Some(Value::Array(items)) = v.get("output") else {
        return Err(CodecError::new("missing field `output`"));
    };
    let mut out = DecodedOutput {
        parts: Vec::new(),
        tool_calls: false,
        refusal: false,
    };
    for item in items {
        item_parts(item, &mut out);
    }
    let finish = finish_from_response(&v, out.tool_calls, out.refusal);
    Ok(ChatResponse {
        id: str_at(&v, "id").unwrap_or_default().to_string(),
        model: str_at(&v, "model").unwrap_or_default().to_string(),
        content: out.parts,
        finish,
        usage: v.get("usage").map(usage_from_json).unwrap_or_default(),
        created: v
            .get("created_at")
            .and_then(|c| c.as_i64().or_else(|| c.as_f64().map(|f| f as i64)))
            .unwrap_or_default(),
    })
}

/// The output items for IR content parts: consecutive texts make one message; reasoning and
/// tool calls one item each.
pub(crate) fn output_items(resp_id: &str, parts: &[Part]) -> Vec<Value> {
    let mut items = Vec::new();
    let mut text: Option<String> = None;
    let flush = |text: &mut Option<String>, items: &mut Vec<Value>| {
        if let Some(t) = text.take() {
            let id = item_id("msg_", resp_id, items.len());
            items.push(message_item(&id, &t, "completed"));
        }
    };
    for part in parts {
        match part {
            Part::Text { text: t } => text.get_or_insert_with(String::new).push_str(t),
            Part::Reasoning {
                text: t,
                encrypted,
                signature,
                id,
                ..
            } => {
                flush(&mut text, &mut items);
                let encrypted = encrypted.clone().or_else(|| {
                    signature
                        .as_deref()
                        .filter(|s| !s.is_empty())
                        .map(crate::common::wrap_signature)
                });
                if t.is_empty() && encrypted.is_none() {
                    continue;
                }
                let id = id
                    .clone()
                    .filter(|id| id.starts_with("rs_"))
                    .unwrap_or_else(|| item_id("rs_", resp_id, items.len()));
                items.push(reasoning_item(&id, t, encrypted.as_deref()));
            }
            Part::ToolCall {
                id,
                name,
                arguments,
                ..
            } => {
                flush(&mut text, &mut items);
                let item = item_id("fc_", resp_id, items.len());
                items.push(function_call_item(&item, id, name, arguments, "completed"));
            }
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    flush(&mut text, &mut items);
    items
}

/// IR → the client's response object (`model`: the name the client asked for).
pub fn encode_response(resp: &ChatResponse, model: &str) -> Value {
    let id = response_id(Some(resp.id.as_str()));
    let (status, incomplete_details) = status_for(&resp.finish);
    ResponseObject {
        id: &id,
        created_at: if resp.created > 0 {
            resp.created
        } else {
            now_secs()
        },
        model,
        status,
        output: output_items(&id, &resp.content),
        usage: usage_to_json(&resp.usage),
        incomplete_details,
        error: Value::Null,
    }
    .into_json()
}
