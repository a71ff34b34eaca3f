//! Gemini (`.../models/{model}:generateContent|streamGenerateContent|...`): parsing and answers.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::handler::{
    error_body, json_response, reasoning_deltas, Format, Parsed, Turn, ERROR_MESSAGE,
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
    let mut part = json!({"functionCall": {"name": t.tool_name, "args": t.tool_args_value()}});
    if t.script.call_signature {
        part["thoughtSignature"] = json!(REASONING_SIGNATURE);
    }
    part
}

/// Whether the last thought part carries the signature (not when the call part does).
fn thoughts_signed(t: &Turn) -> bool {
    !(t.tools() && t.script.call_signature)
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
        parts.push(thought_part(REASONING_TEXT, thoughts_signed(t)));
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
                let part = thought_part(r, i + 1 == n && thoughts_signed(t));
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
    json!({"values": text::embedding(text).to_vec()})
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

/// Whether `model` names Gemini 3 or later (`gemini-3-pro-preview`, `models/gemini-3.5-flash`).
fn enforces_signatures(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    name.strip_prefix("gemini-")
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|major| major.parse::<u32>().ok())
        .is_some_and(|major| major >= 3)
}

/// `strict`: like Gemini 3 models (other model names are not checked), refuse a history whose
/// current turn (after the last user text) has a model step whose first functionCall part
/// carries no `thoughtSignature`.
pub(crate) fn strict_check(v: &Value, model: &str) -> Option<String> {
    if !enforces_signatures(model) {
        return None;
    }
    let contents = v.get("contents").and_then(Value::as_array)?;
    let is_user_text = |c: &Value| {
        matches!(c.get("role").and_then(Value::as_str), None | Some("user"))
            && function_response(c).is_none()
            && c.get("parts").and_then(text::content_text).is_some()
    };
    let start = contents.iter().rposition(is_user_text).map_or(0, |i| i + 1);
    for (i, c) in contents.iter().enumerate().skip(start) {
        if c.get("role").and_then(Value::as_str) != Some("model") {
            continue;
        }
        let parts = c.get("parts").and_then(Value::as_array);
        let first_call = parts
            .into_iter()
            .flatten()
            .enumerate()
            .find(|(_, p)| p.get("functionCall").is_some());
        if let Some((j, part)) = first_call {
            let signed = part
                .get("thoughtSignature")
                .or_else(|| part.get("thought_signature"))
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if !signed {
                let name = part
                    .pointer("/functionCall/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                return Some(format!(
                    "Function call is missing a thought_signature in functionCall parts. \
                     This is required for tools to work correctly (contents[{i}].parts[{j}], \
                     function call `{name}`)."
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn gemini_3_and_later_enforce_signatures() {
        for m in [
            "gemini-3-pro-preview",
            "models/gemini-3.5-flash",
            "gemini-10-x",
        ] {
            assert!(super::enforces_signatures(m), "{m}");
        }
        for m in [
            "gemini-2.5-pro",
            "gpt-5-codex",
            "gemini-exp",
            "claude-3-opus",
            "",
        ] {
            assert!(!super::enforces_signatures(m), "{m}");
        }
    }
}
