//! Non-stream responses: an upstream `chat.completion` → IR ([`decode`], `<think>` moved to
//! reasoning) and IR → a strict `chat.completion` for the client ([`encode`]).

use omniroute_ir::{make_call_id, think, ChatResponse, CodecError, FinishReason, Part};
use serde_json::{json, Map, Value};

use crate::common::{
    arguments_text, chat_id, finish_from_wire, finish_to_wire, now_secs, str_field, type_name,
    usage_from_wire, usage_to_wire,
};

/// The message of an error body (`{"error": {"message": …}}` or `{"error": "…"}`).
pub(crate) fn error_message(err: &Value) -> String {
    match err {
        Value::String(s) => s.clone(),
        Value::Object(_) => str_field(err, "message")
            .map(str::to_string)
            .unwrap_or_else(|| err.to_string()),
        other => other.to_string(),
    }
}

/// Text of a content value that is a string or an array of text parts.
fn content_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                _ => p.get("text").and_then(Value::as_str),
            })
            .collect(),
        _ => String::new(),
    }
}

/// Decode an upstream chat completion.
pub fn decode(body: &[u8]) -> Result<ChatResponse, CodecError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| CodecError::new(format!("response body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(CodecError::new(format!(
            "response body must be a JSON object, got {}",
            type_name(&v)
        )));
    }
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return Err(CodecError::new(format!(
            "upstream error: {}",
            error_message(err)
        )));
    }
    let choice = match v.get("choices") {
        Some(Value::Array(c)) => c
            .first()
            .ok_or_else(|| CodecError::new("choices is empty"))?,
        None | Some(Value::Null) => return Err(CodecError::new("choices is required")),
        Some(other) => {
            return Err(CodecError::new(format!(
                "choices must be an array, got {}",
                type_name(other)
            )))
        }
    };
    let id = str_field(&v, "id").unwrap_or_default().to_string();
    let msg = choice.get("message").unwrap_or(&Value::Null);

    let mut reasoning = str_field(msg, "reasoning_content")
        .or_else(|| str_field(msg, "reasoning"))
        .unwrap_or_default()
        .to_string();
    let (think, text) = think::split_think(&content_text(msg.get("content")));
    if let Some(t) = think {
        reasoning.push_str(&t);
    }

    let mut content = Vec::new();
    if !reasoning.is_empty() {
        content.push(Part::Reasoning {
            text: reasoning,
            signature: None,
            redacted: None,
            encrypted: None,
            id: None,
        });
    }
    if !text.is_empty() {
        content.push(Part::Text { text });
    } else if let Some(refusal) = str_field(msg, "refusal") {
        content.push(Part::Text {
            text: refusal.to_string(),
        });
    }
    let mut calls = 0usize;
    if let Some(Value::Array(tool_calls)) = msg.get("tool_calls") {
        for (j, call) in tool_calls.iter().enumerate() {
            let f = call.get("function").unwrap_or(&Value::Null);
            let name = str_field(f, "name").unwrap_or_default().to_string();
            let call_id = str_field(call, "id")
                .map(str::to_string)
                .unwrap_or_else(|| make_call_id("call_", &format!("{id}:{j}:{name}")));
            content.push(Part::ToolCall {
                id: call_id,
                arguments: arguments_text(f.get("arguments")),
                name,
                signature: None,
            });
            calls += 1;
        }
    }
    if let Some(f) = msg.get("function_call").filter(|f| f.is_object()) {
        let name = str_field(f, "name").unwrap_or_default().to_string();
        content.push(Part::ToolCall {
            id: make_call_id("call_", &format!("{id}:fc:{name}")),
            arguments: arguments_text(f.get("arguments")),
            name,
            signature: None,
        });
        calls += 1;
    }

    let finish = match str_field(choice, "finish_reason") {
        Some(r) => match finish_from_wire(r) {
            FinishReason::Stop if calls > 0 => FinishReason::ToolCalls,
            f => f,
        },
        None if calls > 0 => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    };
    Ok(ChatResponse {
        id,
        model: str_field(&v, "model").unwrap_or_default().to_string(),
        content,
        finish,
        usage: v
            .get("usage")
            .filter(|u| u.is_object())
            .map(usage_from_wire)
            .unwrap_or_default(),
        created: v.get("created").and_then(Value::as_i64).unwrap_or(0),
    })
}

/// Encode a response for an OpenAI chat client asking for `model`: only the fields of the
/// `chat.completion` schema (plus `reasoning_content` on the message).
pub fn encode(resp: &ChatResponse, model: &str) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for p in &resp.content {
        match p {
            Part::Text { text: t } => text.push_str(t),
            Part::Reasoning { text: t, .. } => reasoning.push_str(t),
            Part::ToolCall {
                id,
                name,
                arguments,
                ..
            } => calls.push(json!({
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            })),
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    message.insert(
        "content".into(),
        if text.is_empty() && !calls.is_empty() {
            Value::Null
        } else {
            json!(text)
        },
    );
    let had_calls = !calls.is_empty();
    if had_calls {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    if !reasoning.is_empty() {
        message.insert("reasoning_content".into(), json!(reasoning));
    }

    let mut out = Map::new();
    out.insert("id".into(), json!(chat_id(Some(&resp.id))));
    out.insert("object".into(), json!("chat.completion"));
    out.insert(
        "created".into(),
        json!(if resp.created > 0 {
            resp.created
        } else {
            now_secs()
        }),
    );
    out.insert("model".into(), json!(model));
    out.insert(
        "choices".into(),
        json!([{
            "index": 0,
            "message": message,
            "finish_reason": finish_to_wire(&resp.finish, had_calls),
            "logprobs": null,
        }]),
    );
    if let Some(usage) = usage_to_wire(&resp.usage) {
        out.insert("usage".into(), usage);
    }
    Value::Object(out)
}
