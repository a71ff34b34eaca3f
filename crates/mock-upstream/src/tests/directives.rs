//! Scripting directives: status, chunks, delay, first-byte, cut, garbage, usage, markers.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{post, post_h, start};

fn chat(stream: bool, text: &str) -> Value {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": text}]})
}

fn chat_deltas(r: &super::Resp) -> Vec<String> {
    r.events()
        .iter()
        .filter(|e| e.data != "[DONE]")
        .filter_map(|e| {
            e.json()["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .filter(|c| !c.is_empty())
        .collect()
}

#[tokio::test]
async fn status_with_retry_after() {
    let mock = start().await;
    let r = post_h(
        &mock,
        "/v1/chat/completions",
        &[("x-mock", "status=429")],
        &chat(true, "x"),
    )
    .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    let v = r.json();
    assert!(v["error"]["message"].is_string());
    assert!(v["error"]["type"].is_string());
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");

    let r = post_h(
        &mock,
        "/v1/chat/completions",
        &[("x-mock", "status=429; retry-after=3")],
        &chat(false, "x"),
    )
    .await;
    assert_eq!(r.header("retry-after"), Some("3"));

    let r = post(
        &mock,
        "/v1/chat/completions",
        &chat(false, "x [[mock:status=500]]"),
    )
    .await;
    assert_eq!(r.status, 500);
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(r.json()["error"]["type"], "server_error");

    // Status applies to other endpoints too, in their format.
    let r = super::get(&mock, "/v1/models", &[("x-mock", "status=401")]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "authentication_error");
}

#[tokio::test]
async fn chunks_split_and_repeat() {
    let mock = start().await;
    let r = post_h(
        &mock,
        "/v1/chat/completions",
        &[("x-mock", "chunks=2")],
        &chat(true, "abc def"),
    )
    .await;
    assert_eq!(chat_deltas(&r), ["echo: ", "abc def"]);

    let h = [("x-mock", "chunks=20")];
    let r = post_h(&mock, "/v1/chat/completions", &h, &chat(true, "hi")).await;
    let deltas = chat_deltas(&r);
    assert_eq!(deltas.len(), 20);
    let full = post_h(&mock, "/v1/chat/completions", &h, &chat(false, "hi"))
        .await
        .json();
    let text = full["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(deltas.concat(), text);
    assert_eq!(text, "echo: hi".repeat(3));
}

#[tokio::test]
async fn marker_in_text_is_stripped() {
    let mock = start().await;
    let r = post(
        &mock,
        "/v1/chat/completions",
        &chat(true, "hello [[mock:chunks=3]]"),
    )
    .await;
    assert_eq!(chat_deltas(&r).concat(), "echo: hello");
    assert_eq!(chat_deltas(&r).len(), 3);
}

#[tokio::test]
async fn cut_ends_early_without_finish() {
    let mock = start().await;
    let r = post_h(
        &mock,
        "/v1/chat/completions",
        &[("x-mock", "cut=2")],
        &chat(true, "hello world"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(!r.complete, "a cut stream must not end cleanly");
    assert_eq!(chat_deltas(&r).len(), 2);
    assert!(r.events().iter().all(|e| e.data != "[DONE]"));
    assert!(r
        .events()
        .iter()
        .all(|e| e.json()["choices"][0]["finish_reason"].is_null()));

    let b = json!({"model": "m", "stream": true, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
    let r = post_h(&mock, "/v1/messages", &[("x-mock", "cut=1")], &b).await;
    assert!(!r.complete);
    let names: Vec<String> = r.events().into_iter().map(|e| e.event.unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta"
        ]
    );

    let r = post_h(
        &mock,
        "/v1beta/models/g:streamGenerateContent",
        &[("x-mock", "cut=1")],
        &json!({"contents": []}),
    )
    .await;
    assert!(!r.complete);
    assert!(r.text().starts_with('[') && !r.text().ends_with(']'));

    // cut=0: headers, then the connection is aborted.
    let r = post_h(
        &mock,
        "/v1/chat/completions",
        &[("x-mock", "cut=0")],
        &chat(true, "x"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(!r.complete);
    assert!(r.body.is_empty());
    // Not a client disconnect.
    assert!(mock.requests().iter().all(|q| !q.was_disconnected()));
}

#[tokio::test]
async fn delay_and_first_byte() {
    let mock = start().await;
    let t = Instant::now();
    let r = post_h(
        &mock,
        "/v1/chat/completions",
        &[("x-mock", "delay=40")],
        &chat(true, "a b c d"),
    )
    .await;
    assert!(r.complete);
    assert!(
        t.elapsed() >= Duration::from_millis(160),
        "{:?}",
        t.elapsed()
    );

    let t = Instant::now();
    let r = post_h(
        &mock,
        "/v1/chat/completions",
        &[("x-mock", "first-byte=120")],
        &chat(false, "x"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(120),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn garbage_and_usage() {
    let mock = start().await;
    let r = post_h(
        &mock,
        "/v1/chat/completions",
        &[("x-mock", "garbage")],
        &chat(true, "x"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), "<html>oops");

    let r = post_h(
        &mock,
        "/v1/chat/completions",
        &[("x-mock", "usage=5,7; bogus")],
        &chat(false, "x"),
    )
    .await;
    let u = &r.json()["usage"];
    assert_eq!(
        (u["prompt_tokens"].as_u64(), u["completion_tokens"].as_u64()),
        (Some(5), Some(7))
    );
    assert_eq!(u["total_tokens"], 12);

    let b = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x [[mock:usage=9,2]]"}]});
    let v = post(&mock, "/v1/messages", &b).await.json();
    assert_eq!(v["usage"]["input_tokens"], 9);
    assert_eq!(v["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn invalid_json_is_400() {
    let mock = start().await;
    let req = super::build_request("POST", "/v1/messages", &[], None);
    let mut req = String::from_utf8(req).unwrap();
    req = req.replace("Content-Length: 0", "Content-Length: 3") + "{x}";
    let r = super::raw(mock.addr(), req.into_bytes()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert_eq!(r.json()["type"], "error");
}
