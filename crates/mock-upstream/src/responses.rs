//! OpenAI Responses API (`/responses`): request parsing, JSON and SSE answers.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::handler::{
    error_body, json_response, reasoning_deltas, Format, Parsed, Turn, ERROR_MESSAGE,
};
use crate::openai::TOOL_CALL_ID;
use crate::stream::{sse_event, Frames};
use crate::text::{self, CREATED, REASONING_TEXT};

pub(crate) fn parse(v: &Value) -> Parsed {
    let (user_text, tool_result) = match v.get("input") {
        Some(Value::String(s)) => (Some(s.clone()), None),
        Some(Value::Array(items)) => {
            let tool_result = items
                .last()
                .filter(|i| {
                    matches!(
                        i.get("type").and_then(Value::as_str),
                        Some("function_call_output" | "custom_tool_call_output")
                    )
                })
                .map(|i| text::result_text(i.get("output").unwrap_or(&Value::Null)));
            let user_text = items
                .iter()
                .rev()
                .filter(|i| {
                    i.get("role").and_then(Value::as_str) == Some("user")
                        && matches!(
                            i.get("type").and_then(Value::as_str),
                            None | Some("message")
                        )
                })
                .find_map(|i| i.get("content").and_then(text::content_text));
            (user_text, tool_result)
        }
        _ => (None, None),
    };
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

fn usage(t: &Turn) -> Value {
    let reasoning = if t.reasoning() {
        text::words(REASONING_TEXT)
    } else {
        0
    };
    json!({
        "input_tokens": t.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": t.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": t.total_tokens(),
    })
}

fn response_obj(t: &Turn, status: &str, output: Vec<Value>, usage: Value) -> Value {
    json!({
        "id": format!("resp_mock_{}", t.id),
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": null,
        "incomplete_details": null,
        "instructions": null,
        "max_output_tokens": null,
        "model": t.model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "store": false,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
        "metadata": {},
    })
}

fn reasoning_item(t: &Turn, summary: &str) -> Value {
    let summary = if summary.is_empty() {
        json!([])
    } else {
        json!([{"type": "summary_text", "text": summary}])
    };
    json!({"id": format!("rs_mock_{}", t.id), "type": "reasoning", "summary": summary})
}

fn call_item(t: &Turn, status: &str, arguments: &str) -> Value {
    json!({
        "id": format!("fc_mock_{}", t.id),
        "type": "function_call",
        "status": status,
        "call_id": TOOL_CALL_ID,
        "name": t.tool_name,
        "arguments": arguments,
    })
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

fn message_item(t: &Turn, status: &str, content: Vec<Value>) -> Value {
    json!({
        "id": format!("msg_mock_{}", t.id),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    })
}

fn final_output(t: &Turn) -> Vec<Value> {
    let mut output = Vec::new();
    if t.script.empty {
        return output;
    }
    if t.reasoning() {
        output.push(reasoning_item(t, REASONING_TEXT));
    }
    if t.tools() {
        output.push(call_item(t, "completed", &t.tool_args));
    } else {
        output.push(message_item(t, "completed", vec![output_text(&t.text)]));
    }
    output
}

fn complete(t: &Turn) -> Response {
    if t.script.error_event {
        return json_response(
            StatusCode::OK,
            &error_body(Format::OpenAi, 500, ERROR_MESSAGE),
        );
    }
    let body = response_obj(t, "completed", final_output(t), usage(t));
    json_response(StatusCode::OK, &body)
}

/// Frames with the `type` and `sequence_number` fields filled in.
struct Events {
    frames: Frames,
    seq: u64,
}

impl Events {
    fn push(&mut self, name: &str, mut v: Value, content: bool) {
        v["type"] = json!(name);
        v["sequence_number"] = json!(self.seq);
        self.seq += 1;
        let bytes = sse_event(name, &v);
        if content {
            self.frames.content(bytes);
        } else {
            self.frames.meta(bytes);
        }
    }
}

fn stream(t: &Turn) -> Response {
    let mut ev = Events {
        frames: Frames::default(),
        seq: 0,
    };
    if t.script.error_event {
        ev.push(
            "error",
            json!({"code": "server_error", "message": ERROR_MESSAGE, "param": null}),
            false,
        );
        let mut failed = response_obj(t, "failed", Vec::new(), Value::Null);
        failed["error"] = json!({"code": "server_error", "message": ERROR_MESSAGE});
        ev.push("response.failed", json!({"response": failed}), false);
        return t.sse(ev.frames);
    }
    let pending = response_obj(t, "in_progress", Vec::new(), Value::Null);
    ev.push("response.created", json!({"response": pending}), false);
    ev.push("response.in_progress", json!({"response": pending}), false);
    if !t.script.empty {
        let mut index = 0;
        if t.reasoning() {
            reasoning_events(t, &mut ev, index);
            index += 1;
        }
        if t.tools() {
            call_events(t, &mut ev, index);
        } else {
            message_events(t, &mut ev, index);
        }
    }
    let done = response_obj(t, "completed", final_output(t), usage(t));
    ev.push("response.completed", json!({"response": done}), false);
    t.sse(ev.frames)
}

fn reasoning_events(t: &Turn, ev: &mut Events, index: usize) {
    let item_id = format!("rs_mock_{}", t.id);
    let part_event = |text: &str| {
        json!({
            "item_id": item_id,
            "output_index": index,
            "summary_index": 0,
            "part": {"type": "summary_text", "text": text},
        })
    };
    ev.push(
        "response.output_item.added",
        json!({"output_index": index, "item": reasoning_item(t, "")}),
        false,
    );
    ev.push(
        "response.reasoning_summary_part.added",
        part_event(""),
        false,
    );
    for delta in reasoning_deltas() {
        ev.push(
            "response.reasoning_summary_text.delta",
            json!({"item_id": item_id, "output_index": index, "summary_index": 0, "delta": delta}),
            true,
        );
    }
    ev.push(
        "response.reasoning_summary_text.done",
        json!({"item_id": item_id, "output_index": index, "summary_index": 0, "text": REASONING_TEXT}),
        false,
    );
    ev.push(
        "response.reasoning_summary_part.done",
        part_event(REASONING_TEXT),
        false,
    );
    ev.push(
        "response.output_item.done",
        json!({"output_index": index, "item": reasoning_item(t, REASONING_TEXT)}),
        false,
    );
}

fn call_events(t: &Turn, ev: &mut Events, index: usize) {
    let item_id = format!("fc_mock_{}", t.id);
    ev.push(
        "response.output_item.added",
        json!({"output_index": index, "item": call_item(t, "in_progress", "")}),
        false,
    );
    for frag in t.tool_fragments() {
        ev.push(
            "response.function_call_arguments.delta",
            json!({"item_id": item_id, "output_index": index, "delta": frag}),
            true,
        );
    }
    ev.push(
        "response.function_call_arguments.done",
        json!({"item_id": item_id, "output_index": index, "name": t.tool_name, "arguments": t.tool_args}),
        false,
    );
    ev.push(
        "response.output_item.done",
        json!({"output_index": index, "item": call_item(t, "completed", &t.tool_args)}),
        false,
    );
}

fn message_events(t: &Turn, ev: &mut Events, index: usize) {
    let item_id = format!("msg_mock_{}", t.id);
    ev.push(
        "response.output_item.added",
        json!({"output_index": index, "item": message_item(t, "in_progress", Vec::new())}),
        false,
    );
    ev.push(
        "response.content_part.added",
        json!({
            "item_id": item_id, "output_index": index, "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []},
        }),
        false,
    );
    for delta in t.deltas() {
        ev.push(
            "response.output_text.delta",
            json!({
                "item_id": item_id, "output_index": index, "content_index": 0,
                "delta": delta, "logprobs": [],
            }),
            true,
        );
    }
    ev.push(
        "response.output_text.done",
        json!({
            "item_id": item_id, "output_index": index, "content_index": 0,
            "text": t.text, "logprobs": [],
        }),
        false,
    );
    ev.push(
        "response.content_part.done",
        json!({
            "item_id": item_id, "output_index": index, "content_index": 0,
            "part": {"type": "output_text", "text": t.text, "annotations": []},
        }),
        false,
    );
    ev.push(
        "response.output_item.done",
        json!({"output_index": index, "item": message_item(t, "completed", vec![output_text(&t.text)])}),
        false,
    );
}
