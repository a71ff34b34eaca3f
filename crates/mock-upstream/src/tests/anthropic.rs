//! Anthropic Messages: JSON and SSE shapes, thinking, tool_use, errors, count_tokens.

use serde_json::{json, Value};

use super::{parse_json, post, post_h, start, Event};

fn body(stream: bool) -> Value {
    json!({
        "model": "claude-x",
        "max_tokens": 100,
        "stream": stream,
        "system": [{"type": "text", "text": "be kind"}],
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "there"}]},
        ],
    })
}

fn named(events: &[Event]) -> Vec<(String, Value)> {
    events
        .iter()
        .map(|e| {
            let name = e.event.clone().unwrap();
            let v = e.json();
            assert_eq!(v["type"], name.as_str());
            (name, v)
        })
        .collect()
}

#[tokio::test]
async fn non_stream_shape() {
    let mock = start().await;
    let v = post(&mock, "/v1/messages", &body(false)).await.json();
    assert!(v["id"].as_str().unwrap().starts_with("msg_mock_"));
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-x");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "echo: hello\nthere"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"]["input_tokens"], 6);
    assert_eq!(v["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn stream_event_order() {
    let mock = start().await;
    let r = post(&mock, "/v1/messages?beta=true", &body(true)).await;
    assert!(r.complete);
    let events = named(&r.events());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(["content_block_delta"; 4]);
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    let start = &events[0].1["message"];
    assert_eq!(start["model"], "claude-x");
    assert_eq!(start["usage"]["input_tokens"], 6);
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, v)| {
            assert_eq!(v["delta"]["type"], "text_delta");
            v["delta"]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, "echo: hello\nthere");
    let delta = &events[8].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn thinking_and_tool_use() {
    let mock = start().await;
    let mut b = body(true);
    b["tools"] = json!([{"name": "Read", "input_schema": {"type": "object"}}]);
    let r = post_h(&mock, "/v1/messages", &[("x-mock", "reasoning, tools")], &b).await;
    let events = named(&r.events());
    let starts: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[0]["index"], 0);
    assert_eq!(starts[0]["content_block"]["type"], "thinking");
    assert_eq!(starts[1]["index"], 1);
    assert_eq!(starts[1]["content_block"]["type"], "tool_use");
    assert_eq!(starts[1]["content_block"]["id"], "toolu_mock_1");
    assert_eq!(starts[1]["content_block"]["name"], "Read");
    let deltas: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, v)| v)
        .collect();
    let thinking: String = deltas
        .iter()
        .filter(|d| d["delta"]["type"] == "thinking_delta")
        .map(|d| d["delta"]["thinking"].as_str().unwrap())
        .collect();
    assert_eq!(thinking, crate::text::REASONING_TEXT);
    assert!(deltas
        .iter()
        .any(|d| d["delta"]
            == json!({"type": "signature_delta", "signature": "bW9jay1zaWduYXR1cmU="})));
    let json_text: String = deltas
        .iter()
        .filter(|d| d["delta"]["type"] == "input_json_delta")
        .map(|d| {
            assert_eq!(d["index"], 1);
            d["delta"]["partial_json"].as_str().unwrap()
        })
        .collect();
    assert_eq!(parse_json(&json_text), json!({"location": "Paris"}));
    let md = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(md.1["delta"]["stop_reason"], "tool_use");

    b["stream"] = json!(false);
    let v = post_h(&mock, "/v1/messages", &[("x-mock", "reasoning, tools")], &b)
        .await
        .json();
    assert_eq!(v["content"][0]["type"], "thinking");
    assert_eq!(v["content"][0]["signature"], "bW9jay1zaWduYXR1cmU=");
    assert_eq!(v["content"][1]["type"], "tool_use");
    assert_eq!(v["content"][1]["input"], json!({"location": "Paris"}));
    assert_eq!(v["stop_reason"], "tool_use");
}

#[tokio::test]
async fn error_event_status_and_count_tokens() {
    let mock = start().await;
    let r = post_h(
        &mock,
        "/v1/messages",
        &[("x-mock", "error-event")],
        &body(true),
    )
    .await;
    assert_eq!(r.status, 200);
    let events = named(&r.events());
    assert_eq!(events[0].0, "error");
    assert_eq!(events[0].1["error"]["type"], "overloaded_error");

    let r = post_h(
        &mock,
        "/v1/messages",
        &[("x-mock", "status=429")],
        &body(true),
    )
    .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    let v = r.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "rate_limit_error");

    let r = post_h(
        &mock,
        "/v1/messages",
        &[("x-mock", "status=529")],
        &body(false),
    )
    .await;
    assert_eq!(r.status, 529);
    assert_eq!(r.json()["error"]["type"], "overloaded_error");

    let v = post(&mock, "/v1/messages/count_tokens", &body(false))
        .await
        .json();
    assert_eq!(v, json!({"input_tokens": 6}));

    let r = post_h(&mock, "/v1/messages", &[("x-mock", "empty")], &body(true)).await;
    let names: Vec<String> = r.events().into_iter().map(|e| e.event.unwrap()).collect();
    assert_eq!(names, ["message_start", "message_delta", "message_stop"]);
}
