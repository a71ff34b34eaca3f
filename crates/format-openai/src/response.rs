//! Non-stream responses: an upstream `chat.completion` → IR ([`decode`], `<think>` moved to
//! reasoning) and IR → a strict `chat.completion` for the client ([`encode`], or
//! [`encode_bytes`] for the same object as JSON text without building a `Value`).
//!
//! [`decode`] reads the common shape of a completion through borrowed typed structs; a body
//! outside it (an error, content parts, numbers as floats, duplicate keys, ...) is decoded by
//! the `Value` reader [`decode_value`], so both give the same result for every body.

use std::borrow::Cow;

use omniroute_ir::{make_call_id, think, ChatResponse, CodecError, FinishReason, Part, Usage};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::common::{
    arguments_text, chat_id, finish_from_wire, finish_to_wire, now_secs, str_field, type_name,
    usage_from_wire, usage_to_wire, wire_usage, ObjectOnly, WireUsage,
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
    match decode_typed(body) {
        Some(resp) => Ok(resp),
        None => decode_value(body),
    }
}

// The typed view of a completion: exactly the fields `decode_value` reads, each with the one
// JSON type it uses (`Option`: absent or null). Anything else fails and falls back.

#[derive(Deserialize)]
struct CompletionIn<'a> {
    error: Option<IgnoredAny>,
    id: Option<String>,
    model: Option<String>,
    #[serde(borrow)]
    choices: Option<Vec<ObjectOnly<ChoiceIn<'a>>>>,
    usage: Option<ObjectOnly<UsageIn>>,
    created: Option<i64>,
}

#[derive(Deserialize)]
struct ChoiceIn<'a> {
    message: Option<ObjectOnly<MessageIn>>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct MessageIn {
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    content: Option<String>,
    refusal: Option<String>,
    tool_calls: Option<Vec<ObjectOnly<ToolCallIn>>>,
    function_call: Option<ObjectOnly<FunctionIn>>,
}

#[derive(Deserialize)]
struct ToolCallIn {
    id: Option<String>,
    function: Option<ObjectOnly<FunctionIn>>,
}

#[derive(Deserialize, Default)]
struct FunctionIn {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct UsageIn {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<ObjectOnly<CachedIn>>,
    completion_tokens_details: Option<ObjectOnly<ReasoningIn>>,
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CachedIn {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ReasoningIn {
    reasoning_tokens: Option<u64>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// [`decode_value`] for a body in the typed view; `None` (decode it as a `Value`) for anything
/// else, errors included.
fn decode_typed(body: &[u8]) -> Option<ChatResponse> {
    let v = serde_json::from_slice::<ObjectOnly<CompletionIn>>(body)
        .ok()?
        .0;
    if v.error.is_some() {
        return None;
    }
    let mut choices = v.choices?;
    if choices.is_empty() {
        return None;
    }
    let choice = choices.swap_remove(0).0;
    let id = v.id.unwrap_or_default();
    let msg = choice.message.map(|m| m.0);
    let (mut reasoning, content_text, refusal, tool_calls, function_call) = match msg {
        Some(m) => (
            non_empty(m.reasoning_content)
                .or_else(|| non_empty(m.reasoning))
                .unwrap_or_default(),
            m.content.unwrap_or_default(),
            non_empty(m.refusal),
            m.tool_calls.unwrap_or_default(),
            m.function_call.map(|f| f.0),
        ),
        None => (String::new(), String::new(), None, Vec::new(), None),
    };
    let (think, text) = think::split_think(&content_text);
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
    } else if let Some(refusal) = refusal {
        content.push(Part::Text { text: refusal });
    }
    let mut calls = 0usize;
    for (j, call) in tool_calls.into_iter().enumerate() {
        let call = call.0;
        let f = call.function.map(|f| f.0).unwrap_or_default();
        let name = f.name.unwrap_or_default();
        let call_id = non_empty(call.id)
            .unwrap_or_else(|| make_call_id("call_", &format!("{id}:{j}:{name}")));
        content.push(Part::ToolCall {
            id: call_id,
            arguments: f.arguments.unwrap_or_default(),
            name,
            signature: None,
        });
        calls += 1;
    }
    if let Some(f) = function_call {
        let name = f.name.unwrap_or_default();
        content.push(Part::ToolCall {
            id: make_call_id("call_", &format!("{id}:fc:{name}")),
            arguments: f.arguments.unwrap_or_default(),
            name,
            signature: None,
        });
        calls += 1;
    }

    let finish = match choice.finish_reason.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => match finish_from_wire(r) {
            FinishReason::Stop if calls > 0 => FinishReason::ToolCalls,
            f => f,
        },
        None if calls > 0 => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    };
    let usage = v.usage.map_or_else(Usage::default, |u| {
        let u = u.0;
        Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
            cached_tokens: u
                .prompt_tokens_details
                .and_then(|d| d.0.cached_tokens)
                .or(u.prompt_cache_hit_tokens),
            cache_creation_tokens: None,
            reasoning_tokens: u
                .completion_tokens_details
                .and_then(|d| d.0.reasoning_tokens),
        }
    });
    Some(ChatResponse {
        id,
        model: v.model.unwrap_or_default(),
        content,
        finish,
        usage,
        created: v.created.unwrap_or(0),
    })
}

/// Decode an upstream chat completion through `serde_json::Value` (every shape): the reference
/// [`decode`] equals for every body (its typed path is only faster).
pub fn decode_value(body: &[u8]) -> Result<ChatResponse, CodecError> {
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

#[derive(Serialize)]
struct CompletionOut<'a> {
    id: String,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [ChoiceOut<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<WireUsage>,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    message: MessageOut<'a>,
    finish_reason: &'static str,
    logprobs: (),
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    arguments: &'a str,
}

/// Append `t` to `acc`, borrowing while there is only one piece.
fn append<'a>(acc: &mut Cow<'a, str>, t: &'a str) {
    if acc.is_empty() {
        *acc = Cow::Borrowed(t);
    } else {
        acc.to_mut().push_str(t);
    }
}

/// [`encode`] written straight to JSON bytes: the same text `serde_json::to_vec` of its `Value`
/// gives, without building the `Value`.
pub fn encode_bytes(resp: &ChatResponse, model: &str) -> Vec<u8> {
    let mut text = Cow::Borrowed("");
    let mut reasoning = Cow::Borrowed("");
    let mut tool_calls = Vec::new();
    for p in &resp.content {
        match p {
            Part::Text { text: t } => append(&mut text, t),
            Part::Reasoning { text: t, .. } => append(&mut reasoning, t),
            Part::ToolCall {
                id,
                name,
                arguments,
                ..
            } => tool_calls.push(ToolCallOut {
                id,
                kind: "function",
                function: FunctionOut { name, arguments },
            }),
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    let had_calls = !tool_calls.is_empty();
    let content = if text.is_empty() && had_calls {
        None
    } else {
        Some(text)
    };
    let out = CompletionOut {
        id: chat_id(Some(&resp.id)),
        object: "chat.completion",
        created: if resp.created > 0 {
            resp.created
        } else {
            now_secs()
        },
        model,
        choices: [ChoiceOut {
            index: 0,
            message: MessageOut {
                role: "assistant",
                content,
                tool_calls,
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            },
            finish_reason: finish_to_wire(&resp.finish, had_calls),
            logprobs: (),
        }],
        usage: wire_usage(&resp.usage),
    };
    // Serializing these borrowed structs into a Vec cannot fail.
    serde_json::to_vec(&out).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// The common shapes take the typed path (equality with `decode_value` over every body is
    /// tested in omniroute-translate's `nonstream_bytes`).
    #[test]
    fn typed_path_takes_the_common_shapes() {
        for body in [
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi\n",
                   "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                   "prompt_tokens_details": {"cached_tokens": 0}}}),
            json!({"choices": [{"message": {"content": null, "tool_calls": [{"id": "c",
                   "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                   "finish_reason": "tool_calls"}]}),
        ] {
            let body = serde_json::to_vec(&body).unwrap();
            assert_eq!(decode_typed(&body), Some(decode_value(&body).unwrap()));
        }
        assert!(decode_typed(br#"{"error": {"message": "x"}}"#).is_none());
        assert!(decode_typed(br#"{"choices": [{"message": ["a"]}]}"#).is_none());
    }
}
