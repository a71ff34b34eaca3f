//! Gemini: generateContent, streamGenerateContent (SSE and JSON array), tools, thoughts, errors.

use serde_json::{json, Value};

use super::{post, post_h, start};

fn body() -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "be kind"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "old"}]},
            {"role": "model", "parts": [{"text": "ok"}]},
            {"role": "user", "parts": [{"text": "hello gemini"}]},
        ],
        "tools": [{"functionDeclarations": [{"name": "read_file", "parameters": {}}]}],
    })
}

const BASE: &str = "/v1beta/models/gemini-x";

fn text_of(v: &Value) -> String {
    v["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["thought"] != true)
        .filter_map(|p| p["text"].as_str())
        .collect()
}

#[tokio::test]
async fn non_stream_shape() {
    let mock = start().await;
    let v = post(&mock, &format!("{BASE}:generateContent"), &body())
        .await
        .json();
    let c = &v["candidates"][0];
    assert_eq!(c["content"]["role"], "model");
    assert_eq!(
        c["content"]["parts"],
        json!([{"text": "echo: hello gemini"}])
    );
    assert_eq!(c["finishReason"], "STOP");
    assert_eq!(c["index"], 0);
    assert_eq!(v["modelVersion"], "gemini-x");
    assert_eq!(v["usageMetadata"]["promptTokenCount"], 6);
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 3);
    assert_eq!(v["usageMetadata"]["totalTokenCount"], 9);
}

#[tokio::test]
async fn stream_sse_and_array() {
    let mock = start().await;
    let r = post(
        &mock,
        &format!("{BASE}:streamGenerateContent?alt=sse"),
        &body(),
    )
    .await;
    assert!(r.complete);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let raw = r.text();
    assert!(raw.starts_with("data: {"));
    assert!(raw.ends_with("}\r\n\r\n"));
    let events: Vec<Value> = r.events().iter().map(|e| e.json()).collect();
    assert_eq!(events.len(), 4);
    let text: String = events.iter().map(text_of).collect();
    assert_eq!(text, "echo: hello gemini");
    for e in &events[..3] {
        assert!(e["candidates"][0].get("finishReason").is_none());
        assert!(e.get("usageMetadata").is_none());
    }
    assert_eq!(events[3]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(events[3]["usageMetadata"]["totalTokenCount"], 9);

    let r = post(
        &mock,
        "/gemini/v1beta/models/gemini-x:streamGenerateContent",
        &body(),
    )
    .await;
    assert!(r.complete);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let raw = r.text();
    assert!(raw.starts_with('[') && raw.ends_with(']'));
    assert!(raw.contains("},\r\n{"));
    let arr: Vec<Value> = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        arr.iter().map(text_of).collect::<String>(),
        "echo: hello gemini"
    );
}

#[tokio::test]
async fn tools_and_thoughts() {
    let mock = start().await;
    let h = [("x-mock", "tools;reasoning")];
    let v = post_h(&mock, &format!("{BASE}:generateContent"), &h, &body())
        .await
        .json();
    let parts = v["candidates"][0]["content"]["parts"].as_array().unwrap();
    assert_eq!(parts[0]["thought"], true);
    assert_eq!(parts[0]["thoughtSignature"], "bW9jay1zaWduYXR1cmU=");
    assert_eq!(
        parts[1]["functionCall"],
        json!({"name": "read_file", "args": {"location": "Paris"}})
    );
    let r = post_h(
        &mock,
        &format!("{BASE}:streamGenerateContent?alt=sse"),
        &h,
        &body(),
    )
    .await;
    let events: Vec<Value> = r.events().iter().map(|e| e.json()).collect();
    let thoughts: String = events
        .iter()
        .flat_map(|e| {
            e["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap()
                .clone()
        })
        .filter(|p| p["thought"] == true)
        .map(|p| p["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(thoughts, crate::text::REASONING_TEXT);
    let last = events.last().unwrap();
    assert_eq!(
        last["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "read_file"
    );
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn errors() {
    let mock = start().await;
    let r = post_h(
        &mock,
        &format!("{BASE}:streamGenerateContent?alt=sse"),
        &[("x-mock", "error-event")],
        &body(),
    )
    .await;
    assert_eq!(r.status, 200);
    let events = r.events();
    assert_eq!(events[0].json()["error"]["code"], 500);
    let r = post_h(
        &mock,
        &format!("{BASE}:generateContent"),
        &[("x-mock", "status=503")],
        &body(),
    )
    .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(r.json()["error"]["status"], "UNAVAILABLE");
    assert_eq!(r.json()["error"]["code"], 503);
    let r = post_h(
        &mock,
        &format!("{BASE}:generateContent"),
        &[("x-mock", "status=429")],
        &body(),
    )
    .await;
    assert_eq!(r.json()["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(r.header("retry-after"), Some("7"));
    let v = post(&mock, &format!("{BASE}:countTokens"), &body())
        .await
        .json();
    assert_eq!(v["totalTokens"], 6);
}
