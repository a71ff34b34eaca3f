//! OpenAI Chat Completions: JSON and SSE shapes, tools, reasoning.

use serde_json::{json, Value};

use super::{parse_json, post, post_h, start};

fn body(stream: bool) -> Value {
    json!({
        "model": "gpt-x",
        "stream": stream,
        "stream_options": {"include_usage": true},
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello world"},
        ],
    })
}

#[tokio::test]
async fn non_stream_shape() {
    let mock = start().await;
    let r = post(&mock, "/v1/chat/completions", &body(false)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-mock-"));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].is_u64());
    assert_eq!(v["model"], "gpt-x");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hello world");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 4);
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert_eq!(v["usage"]["total_tokens"], 7);
}

#[tokio::test]
async fn stream_shape_matches_non_stream() {
    let mock = start().await;
    let full = post(&mock, "/v1/chat/completions", &body(false))
        .await
        .json();
    let text = full["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = post(&mock, "/v1/chat/completions", &body(true)).await;
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = r.events();
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert!(chunks.iter().all(|c| c["model"] == "gpt-x"));
    let first = &chunks[0]["choices"][0];
    assert_eq!(first["delta"], json!({"role": "assistant", "content": ""}));
    let contents: Vec<&str> = chunks[1..]
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(contents.len(), 4);
    assert!(contents.iter().all(|c| !c.is_empty()));
    assert_eq!(contents.concat(), text);
    let n = chunks.len();
    let finish = &chunks[n - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    let usage = &chunks[n - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 7);
    // Without include_usage there is no usage chunk.
    let mut b = body(true);
    b.as_object_mut().unwrap().remove("stream_options");
    let events = post(&mock, "/v1/chat/completions", &b).await.events();
    let last_chunk = events[events.len() - 2].json();
    assert_eq!(last_chunk["choices"][0]["finish_reason"], "stop");
    assert!(last_chunk.get("usage").is_none());
}

#[tokio::test]
async fn any_prefix_and_content_parts() {
    let mock = start().await;
    let b = json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "old"},
            {"role": "assistant", "content": "x"},
            {"role": "tool", "tool_call_id": "c", "content": "result"},
            {"role": "user", "content": [
                {"type": "text", "text": "a"},
                {"type": "image_url", "image_url": {"url": "data:"}},
                {"type": "text", "text": "b"},
            ]},
        ],
    });
    for path in [
        "/chat/completions",
        "/openai/v1/chat/completions/",
        "/v1/chat/completions",
    ] {
        let v = post(&mock, path, &b).await.json();
        assert_eq!(
            v["choices"][0]["message"]["content"], "echo: a\nb",
            "{path}"
        );
    }
    let v = post(
        &mock,
        "/v1/chat/completions",
        &json!({"model": "m", "messages": []}),
    )
    .await
    .json();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: ");
}

fn tools_body(stream: bool) -> Value {
    json!({
        "model": "m",
        "stream": stream,
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
    })
}

#[tokio::test]
async fn tools_non_stream_and_stream() {
    let mock = start().await;
    let h = [("x-mock", "tools")];
    let v = post_h(&mock, "/v1/chat/completions", &h, &tools_body(false))
        .await
        .json();
    let msg = &v["choices"][0]["message"];
    assert_eq!(msg["content"], Value::Null);
    assert_eq!(msg["tool_calls"][0]["id"], "call_mock_1");
    assert_eq!(msg["tool_calls"][0]["type"], "function");
    assert_eq!(msg["tool_calls"][0]["function"]["name"], "lookup");
    let args = msg["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .unwrap();
    assert_eq!(parse_json(args), json!({"location": "Paris"}));
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");

    let r = post_h(&mock, "/v1/chat/completions", &h, &tools_body(true)).await;
    let events = r.events();
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .map(|tc| &tc[0])
        .collect();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0]["id"], "call_mock_1");
    assert_eq!(calls[0]["function"]["name"], "lookup");
    for c in &calls[1..] {
        assert_eq!(c["index"], 0);
        assert!(c.get("id").is_none() && c["function"].get("name").is_none());
    }
    let args: String = calls
        .iter()
        .map(|c| c["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(parse_json(&args), json!({"location": "Paris"}));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    // Without tools in the request the name defaults to get_weather.
    let b = json!({"model": "m", "messages": [{"role": "user", "content": "hi [[mock:tools]]"}]});
    let v = post(&mock, "/v1/chat/completions", &b).await.json();
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
}

#[tokio::test]
async fn reasoning_precedes_content() {
    let mock = start().await;
    let b = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let r = post_h(
        &mock,
        "/v1/chat/completions",
        &[("x-mock", "reasoning")],
        &b,
    )
    .await;
    let events = r.events();
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    let mut seen_content = false;
    let mut reasoning = String::new();
    let mut content = String::new();
    for c in &chunks[1..] {
        let d = &c["choices"][0]["delta"];
        if let Some(r) = d["reasoning_content"].as_str() {
            assert!(!seen_content, "reasoning after content");
            reasoning.push_str(r);
        }
        if let Some(t) = d["content"].as_str() {
            seen_content = true;
            content.push_str(t);
        }
    }
    assert_eq!(reasoning, crate::text::REASONING_TEXT);
    assert_eq!(content, "echo: hi");
    let mut nb = b.clone();
    nb["stream"] = json!(false);
    let v = post_h(
        &mock,
        "/v1/chat/completions",
        &[("x-mock", "reasoning")],
        &nb,
    )
    .await
    .json();
    assert_eq!(
        v["choices"][0]["message"]["reasoning_content"],
        crate::text::REASONING_TEXT
    );
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hi");
}

#[tokio::test]
async fn error_event_and_empty() {
    let mock = start().await;
    let b = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let r = post_h(
        &mock,
        "/v1/chat/completions",
        &[("x-mock", "error-event")],
        &b,
    )
    .await;
    assert_eq!(r.status, 200);
    let events = r.events();
    assert_eq!(events[0].json()["error"]["type"], "server_error");
    assert_eq!(events[0].json()["error"]["message"], "mock upstream error");
    assert!(events.iter().all(|e| e.data != "[DONE]"));

    let mut nb = b.clone();
    nb["stream"] = json!(false);
    let r = post_h(
        &mock,
        "/v1/chat/completions",
        &[("x-mock", "error-event")],
        &nb,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.json()["error"]["message"].is_string());

    let r = post_h(&mock, "/v1/chat/completions", &[("x-mock", "empty")], &b).await;
    let events = r.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, "[DONE]");
    let v = post_h(&mock, "/v1/chat/completions", &[("x-mock", "empty")], &nb)
        .await
        .json();
    assert_eq!(v["choices"][0]["message"]["content"], "");
}
