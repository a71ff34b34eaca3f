//! OpenAI Chat Completions (`/chat/completions`): request parsing, JSON and SSE answers.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::handler::{
    error_body, json_response, reasoning_deltas, Format, Parsed, Turn, ERROR_MESSAGE,
};
use crate::stream::{sse_data, Frames};
use crate::text::{self, CREATED, REASONING_TEXT};

/// Id of the tool call produced by `tools`.
pub(crate) const TOOL_CALL_ID: &str = "call_mock_1";
const FINGERPRINT: &str = "fp_mock";
const DONE: &[u8] = b"data: [DONE]\n\n";

pub(crate) fn parse(v: &Value) -> Parsed {
    let msgs: &[Value] = v
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let role = |m: &Value| m.get("role").and_then(Value::as_str).map(str::to_owned);
    let tool_result = msgs
        .last()
        .filter(|m| matches!(role(m).as_deref(), Some("tool" | "function")))
        .map(|m| text::result_text(m.get("content").unwrap_or(&Value::Null)));
    let user_text = msgs
        .iter()
        .rev()
        .filter(|m| role(m).as_deref() == Some("user"))
        .find_map(|m| m.get("content").and_then(text::content_text));
    Parsed {
        model: text::str_field(v, "model", "mock-small"),
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: v
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
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

fn usage(t: &Turn) -> Value {
    json!({
        "prompt_tokens": t.prompt_tokens,
        "completion_tokens": t.completion_tokens,
        "total_tokens": t.total_tokens(),
    })
}

fn finish_reason(t: &Turn) -> &'static str {
    if t.tools() {
        "tool_calls"
    } else {
        "stop"
    }
}

fn complete(t: &Turn) -> Response {
    if t.script.error_event {
        return json_response(
            StatusCode::OK,
            &error_body(Format::OpenAi, 500, ERROR_MESSAGE),
        );
    }
    let mut message = json!({"role": "assistant", "content": t.text, "refusal": null});
    if t.reasoning() {
        message["reasoning_content"] = json!(REASONING_TEXT);
    }
    if t.tools() {
        message["content"] = Value::Null;
        message["tool_calls"] = json!([{
            "id": TOOL_CALL_ID,
            "type": "function",
            "function": {"name": t.tool_name, "arguments": t.tool_args},
        }]);
    }
    let body = json!({
        "id": format!("chatcmpl-mock-{}", t.id),
        "object": "chat.completion",
        "created": CREATED,
        "model": t.model,
        "system_fingerprint": FINGERPRINT,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(t),
        }],
        "usage": usage(t),
    });
    json_response(StatusCode::OK, &body)
}

fn stream(t: &Turn) -> Response {
    let mut f = Frames::default();
    if t.script.error_event {
        f.meta(sse_data(&json!({
            "error": {"message": ERROR_MESSAGE, "type": "server_error", "param": null, "code": null}
        })));
        return t.sse(f);
    }
    if t.script.empty {
        f.meta(DONE);
        return t.sse(f);
    }
    let id = format!("chatcmpl-mock-{}", t.id);
    let chunk = |delta: Value, finish: Option<&str>| {
        let mut c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": t.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if t.include_usage {
            c["usage"] = Value::Null;
        }
        sse_data(&c)
    };
    let first_content = if t.tools() { Value::Null } else { json!("") };
    f.meta(chunk(
        json!({"role": "assistant", "content": first_content}),
        None,
    ));
    if t.reasoning() {
        for r in reasoning_deltas() {
            f.content(chunk(json!({"reasoning_content": r}), None));
        }
    }
    if t.tools() {
        for (i, frag) in t.tool_fragments().enumerate() {
            let call = if i == 0 {
                json!({
                    "index": 0,
                    "id": TOOL_CALL_ID,
                    "type": "function",
                    "function": {"name": t.tool_name, "arguments": frag},
                })
            } else {
                json!({"index": 0, "function": {"arguments": frag}})
            };
            f.content(chunk(json!({"tool_calls": [call]}), None));
        }
    } else {
        for d in t.deltas() {
            f.content(chunk(json!({"content": d}), None));
        }
    }
    f.meta(chunk(json!({}), Some(finish_reason(t))));
    if t.include_usage {
        f.meta(sse_data(&json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": t.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [],
            "usage": usage(t),
        })));
    }
    f.meta(DONE);
    t.sse(f)
}
