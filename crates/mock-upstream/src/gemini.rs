//! Gemini (`.../models/{model}:generateContent|streamGenerateContent|...`): parsing and answers.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::handler::{
    error_body, json_response, reasoning_deltas, tool_args_value, Format, Parsed, Turn,
    ERROR_MESSAGE,
};
use crate::stream::{write_json, Frames};
use crate::text::{self, REASONING_SIGNATURE, REASONING_TEXT};

/// The first `functionResponse` of a content, if any.
fn function_response(c: &Value) -> Option<&Value> {
    c.get("parts")
        .and_then(Value::as_array)?
        .iter()
        .find_map(|p| {
            p.get("functionResponse")
                .or_else(|| p.get("function_response"))
        })
}

pub(crate) fn parse(v: &Value, model: &str, stream: bool) -> Parsed {
    let contents: &[Value] = v
        .get("contents")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let tool_result = contents
        .last()
        .and_then(function_response)
        .map(|r| text::result_text(r.get("response").unwrap_or(&Value::Null)));
    let user_text = contents
        .iter()
        .rev()
        .filter(|c| matches!(c.get("role").and_then(Value::as_str), None | Some("user")))
        .filter(|c| function_response(c).is_none())
        .find_map(|c| c.get("parts").and_then(text::content_text));
    Parsed {
        model: model.to_owned(),
        stream,
        include_usage: false,
        tool_name: text::first_tool_name(v),
        user_text,
        tool_result,
    }
}

/// Answer a generation request; `sse` selects `data:` events over a JSON array when streaming.
pub(crate) fn respond(t: &Turn, sse: bool) -> Response {
    if t.stream {
        stream(t, sse)
    } else {
        complete(t)
    }
}

fn usage(t: &Turn) -> Value {
    json!({
        "promptTokenCount": t.prompt_tokens,
        "candidatesTokenCount": t.completion_tokens,
        "totalTokenCount": t.total_tokens(),
    })
}

fn response(t: &Turn, parts: Vec<Value>, last: bool) -> Value {
    let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    if last {
        candidate["finishReason"] = json!("STOP");
    }
    let mut body = json!({
        "candidates": [candidate],
        "modelVersion": t.model,
        "responseId": format!("mock-{}", t.id),
    });
    if last {
        body["usageMetadata"] = usage(t);
    }
    body
}

fn thought_part(text: &str, signed: bool) -> Value {
    let mut part = json!({"text": text, "thought": true});
    if signed {
        part["thoughtSignature"] = json!(REASONING_SIGNATURE);
    }
    part
}

fn call_part(t: &Turn) -> Value {
    json!({"functionCall": {"name": t.tool_name, "args": tool_args_value()}})
}

fn complete(t: &Turn) -> Response {
    if t.script.error_event {
        return json_response(
            StatusCode::OK,
            &error_body(Format::Gemini, 500, ERROR_MESSAGE),
        );
    }
    let mut parts = Vec::new();
    if t.reasoning() {
        parts.push(thought_part(REASONING_TEXT, true));
    }
    if t.tools() {
        parts.push(call_part(t));
    } else if !t.script.empty {
        parts.push(json!({"text": t.text}));
    }
    json_response(StatusCode::OK, &response(t, parts, true))
}

fn stream(t: &Turn, sse: bool) -> Response {
    // (event, is content)
    let mut events: Vec<(Value, bool)> = Vec::new();
    if t.script.error_event {
        events.push((error_body(Format::Gemini, 500, ERROR_MESSAGE), false));
    } else if t.script.empty {
        events.push((response(t, Vec::new(), true), false));
    } else {
        if t.reasoning() {
            let deltas: Vec<&str> = reasoning_deltas().collect();
            let n = deltas.len();
            for (i, r) in deltas.into_iter().enumerate() {
                let part = thought_part(r, i + 1 == n);
                events.push((response(t, vec![part], false), true));
            }
        }
        if t.tools() {
            events.push((response(t, vec![call_part(t)], true), true));
        } else {
            let n = t.chunks.len();
            for (i, d) in t.deltas().enumerate() {
                events.push((response(t, vec![json!({"text": d})], i + 1 == n), true));
            }
        }
    }
    let mut f = Frames::default();
    let count = events.len();
    for (i, (event, content)) in events.into_iter().enumerate() {
        let mut buf = Vec::with_capacity(256);
        if sse {
            buf.extend_from_slice(b"data: ");
            write_json(&mut buf, &event);
            buf.extend_from_slice(b"\r\n\r\n");
        } else {
            buf.extend_from_slice(if i == 0 { b"[" } else { b",\r\n" });
            write_json(&mut buf, &event);
        }
        if content {
            f.content(buf);
        } else {
            f.meta(buf);
        }
    }
    if sse {
        t.sse(f)
    } else {
        f.meta(if count == 0 { &b"[]"[..] } else { &b"]"[..] });
        t.streamed(f, "application/json")
    }
}

fn parts_text(content: Option<&Value>) -> String {
    content
        .and_then(|c| c.get("parts"))
        .and_then(text::content_text)
        .unwrap_or_default()
}

fn values(text: &str) -> Value {
    json!({"values": text::embedding(text)})
}

/// `:embedContent` → `{embedding:{values}}`.
pub(crate) fn embed_content(v: &Value) -> Value {
    json!({"embedding": values(&parts_text(v.get("content")))})
}

/// `:batchEmbedContents` → `{embeddings:[{values}]}`.
pub(crate) fn batch_embed_contents(v: &Value) -> Value {
    let embeddings: Vec<Value> = v
        .get("requests")
        .and_then(Value::as_array)
        .map(|reqs| {
            reqs.iter()
                .map(|r| values(&parts_text(r.get("content"))))
                .collect()
        })
        .unwrap_or_default();
    json!({"embeddings": embeddings})
}
