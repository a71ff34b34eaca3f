//! OpenAI Responses API: JSON and SSE event sequence, tools, reasoning, errors.

use serde_json::{json, Value};

use super::{parse_json, post, post_h, start, Event};

fn body(stream: bool) -> Value {
    json!({"model": "gpt-r", "stream": stream, "instructions": "be kind", "input": "hi there"})
}

/// Check names, `type` and `sequence_number` of every event; return (name, data).
fn checked(events: &[Event]) -> Vec<(String, Value)> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let name = e.event.clone().unwrap();
            let v = e.json();
            assert_eq!(v["type"], name.as_str());
            assert_eq!(v["sequence_number"], i as u64);
            (name, v)
        })
        .collect()
}

#[tokio::test]
async fn non_stream_shape() {
    let mock = start().await;
    let v = post(&mock, "/v1/responses", &body(false)).await.json();
    assert!(v["id"].as_str().unwrap().starts_with("resp_mock_"));
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "gpt-r");
    let item = &v["output"][0];
    assert_eq!(item["type"], "message");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(item["content"][0]["text"], "echo: hi there");
    assert_eq!(v["usage"]["input_tokens"], 4);
    assert_eq!(v["usage"]["output_tokens"], 3);
    assert_eq!(v["usage"]["total_tokens"], 7);
}

#[tokio::test]
async fn stream_event_sequence() {
    let mock = start().await;
    let r = post(&mock, "/v1/responses", &body(true)).await;
    assert!(r.complete);
    let events = checked(&r.events());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    expected.extend(["response.output_text.delta"; 4]);
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(names, expected);
    let deltas: String = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, v)| v["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, "echo: hi there");
    let done = &events[8].1;
    assert_eq!(done["text"], "echo: hi there");
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(
        completed["output"][0]["content"][0]["text"],
        "echo: hi there"
    );
    assert_eq!(events[0].1["response"]["status"], "in_progress");
}

#[tokio::test]
async fn input_items_tools_and_reasoning() {
    let mock = start().await;
    let b = json!({
        "model": "m",
        "stream": true,
        "input": [
            {"type": "message", "role": "developer", "content": "sys"},
            {"type": "function_call_output", "call_id": "x", "output": "data"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "read it"}]},
        ],
        "tools": [{"type": "web_search"}, {"type": "function", "name": "read_file", "parameters": {}}],
    });
    let r = post_h(&mock, "/v1/responses", &[("x-mock", "tools;reasoning")], &b).await;
    let events = checked(&r.events());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[2], "response.output_item.added");
    assert_eq!(events[2].1["item"]["type"], "reasoning");
    assert!(names.contains(&"response.reasoning_summary_text.delta"));
    let summary: String = events
        .iter()
        .filter(|(n, _)| n == "response.reasoning_summary_text.delta")
        .map(|(_, v)| v["delta"].as_str().unwrap())
        .collect();
    assert_eq!(summary, crate::text::REASONING_TEXT);
    let args: String = events
        .iter()
        .filter(|(n, _)| n == "response.function_call_arguments.delta")
        .map(|(_, v)| v["delta"].as_str().unwrap())
        .collect();
    assert_eq!(parse_json(&args), json!({"location": "Paris"}));
    let item_done: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "response.output_item.done")
        .map(|(_, v)| &v["item"])
        .collect();
    assert_eq!(item_done.len(), 2);
    assert_eq!(item_done[1]["type"], "function_call");
    assert_eq!(item_done[1]["call_id"], "call_mock_1");
    assert_eq!(item_done[1]["name"], "read_file");
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(
        completed["output"][1]["arguments"],
        r#"{"location":"Paris"}"#
    );

    let mut nb = b.clone();
    nb["stream"] = json!(false);
    let v = post(&mock, "/v1/responses", &nb).await.json();
    assert_eq!(v["output"][0]["content"][0]["text"], "echo: read it");
}

#[tokio::test]
async fn error_event() {
    let mock = start().await;
    let r = post_h(
        &mock,
        "/v1/responses",
        &[("x-mock", "error-event")],
        &body(true),
    )
    .await;
    assert_eq!(r.status, 200);
    let events = checked(&r.events());
    assert_eq!(events[0].0, "error");
    assert_eq!(events[0].1["message"], "mock upstream error");
    assert_eq!(events[1].0, "response.failed");
    assert_eq!(events[1].1["response"]["status"], "failed");
    assert_eq!(events.len(), 2);
}
