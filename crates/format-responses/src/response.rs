//! Non-stream response objects: an upstream's response → IR (`decode_response`) and IR → the
//! response object a Responses client expects (`encode_response`, or `encode_response_bytes`
//! for the same object as JSON text without building a `Value`).

use crate::common::{
    client_tool_name, finish_from_response, item_id, item_tool_name, now_secs, response_id,
    status_for, str_at, to_value, usage_from_json, usage_json, wrap_call_signature, wrap_signature,
    FunctionCallItem, MessageItem, ReasoningItem, ResponseJson,
};
use omniroute_ir::{ChatResponse, CodecError, Part};
use serde::{Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;

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

/// One output item for the client, borrowing from the IR parts where it can.
#[derive(Debug)]
enum OutputItem<'a> {
    Message {
        id: String,
        text: Cow<'a, str>,
    },
    Reasoning {
        id: String,
        text: &'a str,
        encrypted: Option<Cow<'a, str>>,
    },
    Call {
        id: String,
        call_id: &'a str,
        name: String,
        namespace: Option<String>,
        arguments: &'a str,
    },
}

impl Serialize for OutputItem<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OutputItem::Message { id, text } => {
                MessageItem::new(id, Some(text), "completed").serialize(s)
            }
            OutputItem::Reasoning {
                id,
                text,
                encrypted,
            } => ReasoningItem::new(id, text, encrypted.as_deref()).serialize(s),
            OutputItem::Call {
                id,
                call_id,
                name,
                namespace,
                arguments,
            } => FunctionCallItem::new(
                id,
                call_id,
                name,
                namespace.as_deref(),
                arguments,
                "completed",
            )
            .serialize(s),
        }
    }
}

/// The output items for IR content parts: consecutive texts make one message; reasoning and
/// tool calls one item each. A tool call with a signature (Gemini `thoughtSignature`) is preceded
/// by a reasoning item carrying it ([`wrap_call_signature`]), which the request decoder gives
/// back to the call.
fn output_items<'a>(resp_id: &str, parts: &'a [Part]) -> Vec<OutputItem<'a>> {
    let mut items = Vec::new();
    let mut text: Option<Cow<'a, str>> = None;
    let flush = |text: &mut Option<Cow<'a, str>>, items: &mut Vec<OutputItem<'a>>| {
        if let Some(text) = text.take() {
            let id = item_id("msg_", resp_id, items.len());
            items.push(OutputItem::Message { id, text });
        }
    };
    for part in parts {
        match part {
            Part::Text { text: t } => match &mut text {
                None => text = Some(Cow::Borrowed(t)),
                Some(acc) => acc.to_mut().push_str(t),
            },
            Part::Reasoning {
                text: t,
                encrypted,
                signature,
                id,
                ..
            } => {
                flush(&mut text, &mut items);
                let encrypted = match (encrypted, signature.as_deref().filter(|s| !s.is_empty())) {
                    (Some(e), _) => Some(Cow::Borrowed(e.as_str())),
                    (None, Some(sig)) => Some(Cow::Owned(wrap_signature(sig))),
                    (None, None) => None,
                };
                if t.is_empty() && encrypted.is_none() {
                    continue;
                }
                let id = id
                    .clone()
                    .filter(|id| id.starts_with("rs_"))
                    .unwrap_or_else(|| item_id("rs_", resp_id, items.len()));
                items.push(OutputItem::Reasoning {
                    id,
                    text: t,
                    encrypted,
                });
            }
            Part::ToolCall {
                id,
                name,
                arguments,
                signature,
            } => {
                flush(&mut text, &mut items);
                if let Some(sig) = signature.as_deref().filter(|s| !s.is_empty()) {
                    items.push(OutputItem::Reasoning {
                        id: item_id("rs_", resp_id, items.len()),
                        text: "",
                        encrypted: Some(Cow::Owned(wrap_call_signature(sig))),
                    });
                }
                let (namespace, name) = client_tool_name(name);
                items.push(OutputItem::Call {
                    id: item_id("fc_", resp_id, items.len()),
                    call_id: id,
                    name,
                    namespace,
                    arguments,
                });
            }
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    flush(&mut text, &mut items);
    items
}

/// The response object for `resp`, as a serializable view.
fn response_json<'a>(
    id: &'a str,
    resp: &ChatResponse,
    model: &'a str,
    output: &'a [OutputItem<'a>],
) -> ResponseJson<'a, &'a [OutputItem<'a>]> {
    let (status, incomplete_details) = status_for(&resp.finish);
    let created_at = if resp.created > 0 {
        resp.created
    } else {
        now_secs()
    };
    let mut out = ResponseJson::new(id, created_at, model, status, output);
    out.usage = usage_json(&resp.usage);
    out.incomplete_details = incomplete_details;
    out
}

/// IR → the client's response object (`model`: the name the client asked for).
pub fn encode_response(resp: &ChatResponse, model: &str) -> Value {
    let id = response_id(Some(resp.id.as_str()));
    let output = output_items(&id, &resp.content);
    to_value(&response_json(&id, resp, model, &output))
}

/// [`encode_response`] written straight to JSON bytes, the same text `serde_json::to_vec` of its
/// `Value` gives, without building the `Value` (most of the cost of a small response).
pub fn encode_response_bytes(resp: &ChatResponse, model: &str) -> Vec<u8> {
    let id = response_id(Some(resp.id.as_str()));
    let output = output_items(&id, &resp.content);
    // Serializing these borrowed structs into a Vec cannot fail.
    serde_json::to_vec(&response_json(&id, resp, model, &output)).unwrap_or_default()
}
