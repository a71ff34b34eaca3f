//! Anthropic Messages (`/messages`): request parsing, JSON and SSE answers.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::handler::{json_response, reasoning_deltas, Parsed, Turn, ERROR_MESSAGE};
use crate::stream::{sse_event, Frames};
use crate::text::{self, REASONING_SIGNATURE, REASONING_TEXT};

/// Id of the `tool_use` block produced by `tools`.
pub(crate) const TOOL_USE_ID: &str = "toolu_mock_1";

/// The first `tool_result` block of a message, if any.
fn tool_result_block(m: &Value) -> Option<&Value> {
    m.get("content")
        .and_then(Value::as_array)?
        .iter()
        .find(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
}

pub(crate) fn parse(v: &Value) -> Parsed {
    let msgs: &[Value] = v
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let is_user = |m: &&Value| m.get("role").and_then(Value::as_str) == Some("user");
    let tool_result = msgs
        .last()
        .filter(is_user)
        .and_then(tool_result_block)
        .map(|b| text::result_text(b.get("content").unwrap_or(&Value::Null)));
    let user_text = msgs
        .iter()
        .rev()
        .filter(is_user)
        .filter(|m| tool_result_block(m).is_none())
        .find_map(|m| m.get("content").and_then(text::content_text));
    Parsed {
        model: text::str_field(v, "model", "mock-small"),
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: false,
        tool_name: text::first_tool_name(v),
        user_text,
        tool_result,
    }
}

pub(crate) fn respond(t: &Turn) -> Response {
    if t.stream {
        stream(t)
    } else {
        complete(t)
    }
}

fn stop_reason(t: &Turn) -> &'static str {
    if t.tools() {
        "tool_use"
    } else {
        "end_turn"
    }
}

fn stream_error() -> Value {
    json!({"type": "error", "error": {"type": "overloaded_error", "message": ERROR_MESSAGE}})
}

fn complete(t: &Turn) -> Response {
    if t.script.error_event {
        return json_response(StatusCode::OK, &stream_error());
    }
    let mut content = Vec::new();
    if t.reasoning() {
        content.push(json!({
            "type": "thinking", "thinking": REASONING_TEXT, "signature": REASONING_SIGNATURE,
        }));
    }
    if t.tools() {
        content.push(json!({
            "type": "tool_use", "id": TOOL_USE_ID, "name": t.tool_name, "input": t.tool_args_value(),
        }));
    } else if !t.script.empty {
        content.push(json!({"type": "text", "text": t.text}));
    }
    let body = json!({
        "id": format!("msg_mock_{}", t.id),
        "type": "message",
        "role": "assistant",
        "model": t.model,
        "content": content,
        "stop_reason": stop_reason(t),
        "stop_sequence": null,
        "usage": {
            "input_tokens": t.prompt_tokens,
            "output_tokens": t.completion_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    });
    json_response(StatusCode::OK, &body)
}

fn stream(t: &Turn) -> Response {
    let mut f = Frames::default();
    if t.script.error_event {
        f.meta(sse_event("error", &stream_error()));
        return t.sse(f);
    }
    f.meta(sse_event(
        "message_start",
        &json!({
            "type": "message_start",
            "message": {
                "id": format!("msg_mock_{}", t.id),
                "type": "message",
                "role": "assistant",
                "model": t.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {
                    "input_tokens": t.prompt_tokens,
                    "output_tokens": 1,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            },
        }),
    ));
    if !t.script.empty {
        let mut index = 0;
        let start = |f: &mut Frames, block: Value, index: usize| {
            f.meta(sse_event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": index, "content_block": block}),
            ));
            if index == 0 {
                f.meta(sse_event("ping", &json!({"type": "ping"})));
            }
        };
        let delta = |delta: Value, index: usize| {
            sse_event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            )
        };
        let stop = |index: usize| {
            sse_event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            )
        };
        if t.reasoning() {
            start(
                &mut f,
                json!({"type": "thinking", "thinking": "", "signature": ""}),
                index,
            );
            for r in reasoning_deltas() {
                f.content(delta(
                    json!({"type": "thinking_delta", "thinking": r}),
                    index,
                ));
            }
            f.meta(delta(
                json!({"type": "signature_delta", "signature": REASONING_SIGNATURE}),
                index,
            ));
            f.meta(stop(index));
            index += 1;
        }
        if t.tools() {
            start(
                &mut f,
                json!({"type": "tool_use", "id": TOOL_USE_ID, "name": t.tool_name, "input": {}}),
                index,
            );
            for frag in t.tool_fragments() {
                f.content(delta(
                    json!({"type": "input_json_delta", "partial_json": frag}),
                    index,
                ));
            }
        } else {
            start(&mut f, json!({"type": "text", "text": ""}), index);
            for d in t.deltas() {
                f.content(delta(json!({"type": "text_delta", "text": d}), index));
            }
        }
        f.meta(stop(index));
    }
    f.meta(sse_event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(t), "stop_sequence": null},
            "usage": {"output_tokens": t.completion_tokens},
        }),
    ));
    f.meta(sse_event("message_stop", &json!({"type": "message_stop"})));
    t.sse(f)
}

/// `strict`: like the Messages API with thinking on, refuse a final assistant message that
/// holds `tool_use` but does not start with a `thinking`/`redacted_thinking` block, and a
/// thinking block whose signature is not one the mock issued.
pub(crate) fn strict_check(v: &Value) -> Option<String> {
    let msgs = v.get("messages").and_then(Value::as_array)?;
    for (i, m) in msgs.iter().enumerate() {
        let blocks = m.get("content").and_then(Value::as_array);
        for (j, b) in blocks.into_iter().flatten().enumerate() {
            if b.get("type").and_then(Value::as_str) == Some("thinking")
                && b.get("signature").and_then(Value::as_str) != Some(REASONING_SIGNATURE)
            {
                return Some(format!(
                    "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                ));
            }
        }
    }
    let thinking = v
        .pointer("/thinking/type")
        .and_then(Value::as_str)
        .is_some_and(|t| t == "enabled" || t == "adaptive");
    if !thinking {
        return None;
    }
    let (i, last) = msgs
        .iter()
        .enumerate()
        .rev()
        .find(|(_, m)| m.get("role").and_then(Value::as_str) == Some("assistant"))?;
    let blocks = last.get("content").and_then(Value::as_array)?;
    let has_tool_use = blocks
        .iter()
        .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"));
    let first = blocks
        .first()
        .and_then(|b| b.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if has_tool_use && !matches!(first, "thinking" | "redacted_thinking") {
        return Some(format!(
            "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found \
             `{first}`. When `thinking` is enabled, a final `assistant` message must start with a \
             thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks)."
        ));
    }
    None
}
