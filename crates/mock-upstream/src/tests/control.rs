//! Control API: server-side rules, stats; realistic error bodies (`quota`, `context`, `error-200`).

use serde_json::{json, Value};

use super::{get, post, post_h, request, start, Resp};
use crate::{MockRule, MockUpstream};

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

fn messages(model: &str) -> Value {
    json!({"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
}

fn gemini_body() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
}

/// A chat completion authenticated with `key`.
async fn chat_as(mock: &MockUpstream, key: &str, model: &str) -> Resp {
    let auth = format!("Bearer {key}");
    post_h(
        mock,
        "/v1/chat/completions",
        &[("authorization", &auth)],
        &chat(model, "hi"),
    )
    .await
}

async fn add_rule(mock: &MockUpstream, rule: Value) -> u64 {
    let r = post(mock, "/__mock/rules", &rule).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["id"].as_u64().unwrap()
}

async fn rules(mock: &MockUpstream) -> Vec<Value> {
    get(mock, "/__mock/rules", &[]).await.json()["rules"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn per_key_rule_applies_only_to_that_key() {
    let mock = start().await;
    let id = add_rule(
        &mock,
        json!({"script": "status=429;retry-after=2", "key": "sk-a"}),
    )
    .await;
    assert_eq!(id, 1);
    for _ in 0..2 {
        let r = chat_as(&mock, "sk-a", "m").await;
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("2"));
        assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
    }
    assert_eq!(chat_as(&mock, "sk-b", "m").await.status, 200);
    assert_eq!(
        post(&mock, "/v1/chat/completions", &chat("m", "hi"))
            .await
            .status,
        200
    );

    // Every credential source: x-api-key, x-goog-api-key, ?key=.
    let r = post_h(
        &mock,
        "/v1/messages",
        &[("x-api-key", "sk-a")],
        &messages("m"),
    )
    .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    let r = post_h(
        &mock,
        "/v1/messages",
        &[("x-api-key", "sk-b")],
        &messages("m"),
    )
    .await;
    assert_eq!(r.status, 200);
    let path = "/v1beta/models/g:generateContent";
    let r = post_h(&mock, path, &[("x-goog-api-key", "sk-a")], &gemini_body()).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["status"], "RESOURCE_EXHAUSTED");
    let r = post(&mock, &format!("{path}?key=sk-a"), &gemini_body()).await;
    assert_eq!(r.status, 429);
    let r = post(&mock, &format!("{path}?key=sk-b"), &gemini_body()).await;
    assert_eq!(r.status, 200);
    // Model lists are scripted too.
    let r = get(&mock, "/v1/models", &[("authorization", "Bearer sk-a")]).await;
    assert_eq!(r.status, 429);
}

#[tokio::test]
async fn times_expiry_and_order() {
    let mock = start().await;
    let first = add_rule(
        &mock,
        json!({"script": "status=500", "key": "sk-a", "times": 2}),
    )
    .await;
    let second = add_rule(&mock, json!({"script": "status=503", "key": "sk-a"})).await;
    assert_eq!(second, first + 1);
    let listed = rules(&mock).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], first);
    assert_eq!(listed[0]["script"], "status=500");
    assert_eq!(listed[0]["key"], "sk-a");
    assert_eq!(listed[0]["model"], Value::Null);
    assert_eq!(
        (listed[0]["times"].as_u64(), listed[0]["remaining"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(listed[1]["remaining"], Value::Null);

    // Non-matching requests do not consume `times`.
    assert_eq!(chat_as(&mock, "sk-b", "m").await.status, 200);
    assert_eq!(chat_as(&mock, "sk-a", "m").await.status, 500);
    assert_eq!(rules(&mock).await[0]["remaining"], 1);
    assert_eq!(chat_as(&mock, "sk-a", "m").await.status, 500);
    // Expired: the next rule in order applies, and keeps applying.
    let listed = rules(&mock).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], second);
    for _ in 0..3 {
        assert_eq!(chat_as(&mock, "sk-a", "m").await.status, 503);
    }
    let r = get(&mock, &format!("/__mock/rules/{first}"), &[]).await;
    assert_eq!(r.status, 404);
    let r = get(&mock, &format!("/__mock/rules/{second}"), &[]).await;
    assert_eq!(r.json()["script"], "status=503");
}

#[tokio::test]
async fn model_filter() {
    let mock = start().await;
    add_rule(&mock, json!({"script": "status=529", "model": "claude-x"})).await;
    add_rule(
        &mock,
        json!({"script": "status=503", "model": "gemini-y", "times": 1}),
    )
    .await;
    let r = post(&mock, "/v1/messages", &messages("claude-x")).await;
    assert_eq!(r.status, 529);
    assert_eq!(r.json()["error"]["type"], "overloaded_error");
    assert_eq!(r.json()["error"]["message"], "Overloaded");
    assert_eq!(
        post(&mock, "/v1/messages", &messages("claude-z"))
            .await
            .status,
        200
    );
    // Same model on another format: still matched (OpenAI shape).
    let r = post(&mock, "/v1/chat/completions", &chat("claude-x", "hi")).await;
    assert_eq!(r.status, 529);
    assert_eq!(r.json()["error"]["type"], "server_error");
    // Gemini: the model comes from the URL.
    let r = post(
        &mock,
        "/v1beta/models/gemini-z:generateContent",
        &gemini_body(),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = post(
        &mock,
        "/v1beta/models/gemini-y:generateContent",
        &gemini_body(),
    )
    .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["status"], "UNAVAILABLE");
    let r = post(
        &mock,
        "/v1beta/models/gemini-y:generateContent",
        &gemini_body(),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn key_and_model_together() {
    let mock = start().await;
    add_rule(
        &mock,
        json!({"script": "quota", "key": "sk-a", "model": "m1"}),
    )
    .await;
    assert_eq!(chat_as(&mock, "sk-a", "m2").await.status, 200);
    assert_eq!(chat_as(&mock, "sk-b", "m1").await.status, 200);
    let r = chat_as(&mock, "sk-a", "m1").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["code"], "insufficient_quota");
}

#[tokio::test]
async fn request_directives_override_rule() {
    let mock = start().await;
    add_rule(
        &mock,
        json!({"script": "status=429;chunks=2", "key": "sk-a", "times": 3}),
    )
    .await;
    let auth = [("authorization", "Bearer sk-a"), ("x-mock", "status=0")];
    // The header cancels the rule's status; the rule's other directives stay.
    let body =
        json!({"model": "m", "stream": false, "messages": [{"role": "user", "content": "a b"}]});
    let r = post_h(&mock, "/v1/chat/completions", &auth, &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["choices"][0]["message"]["content"], "echo: a b");
    // A different status in the header wins.
    let h = [("authorization", "Bearer sk-a"), ("x-mock", "status=401")];
    let r = post_h(&mock, "/v1/chat/completions", &h, &body).await;
    assert_eq!(r.status, 401);
    // So does a marker.
    let r = post_h(
        &mock,
        "/v1/chat/completions",
        &[("authorization", "Bearer sk-a")],
        &chat("m", "x [[mock:status=502]]"),
    )
    .await;
    assert_eq!(r.status, 502);
    // All three uses consumed.
    assert!(rules(&mock).await.is_empty());
    assert_eq!(chat_as(&mock, "sk-a", "m").await.status, 200);

    // `status=200` also cancels a rule's `quota`.
    add_rule(&mock, json!({"script": "quota"})).await;
    let h = [("x-mock", "status=200")];
    assert_eq!(
        post_h(&mock, "/v1/chat/completions", &h, &chat("m", "x"))
            .await
            .status,
        200
    );
    assert_eq!(
        post(&mock, "/v1/chat/completions", &chat("m", "x"))
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn delete_rules() {
    let mock = start().await;
    let a = add_rule(&mock, json!({"script": "status=500", "key": "sk-a"})).await;
    let b = add_rule(&mock, json!({"script": "status=500", "key": "sk-b"})).await;
    add_rule(&mock, json!({"script": "status=500", "key": "sk-c"})).await;
    let r = request(&mock, "DELETE", &format!("/__mock/rules/{a}"), &[], None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["deleted"], 1);
    assert_eq!(chat_as(&mock, "sk-a", "m").await.status, 200);
    assert_eq!(chat_as(&mock, "sk-b", "m").await.status, 500);
    let r = request(&mock, "DELETE", &format!("/__mock/rules/{a}"), &[], None).await;
    assert_eq!(r.status, 404);
    let r = request(&mock, "DELETE", "/__mock/rules/nope", &[], None).await;
    assert_eq!(r.status, 400);
    let ids: Vec<u64> = rules(&mock)
        .await
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [b, b + 1]);
    let r = request(&mock, "DELETE", "/__mock/rules", &[], None).await;
    assert_eq!(r.json()["deleted"], 2);
    assert!(rules(&mock).await.is_empty());
    assert_eq!(chat_as(&mock, "sk-b", "m").await.status, 200);
    // Ids keep counting.
    assert_eq!(add_rule(&mock, json!({"script": "empty"})).await, b + 2);
}

#[tokio::test]
async fn bad_rule_bodies_and_paths() {
    let mock = start().await;
    for bad in [
        json!({"key": "sk-a"}),
        json!({"script": "x", "times": 0}),
        json!({"script": "x", "count": 2}),
        json!({"script": ["x"]}),
    ] {
        let r = post(&mock, "/__mock/rules", &bad).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rule"));
    }
    assert!(rules(&mock).await.is_empty());
    assert_eq!(get(&mock, "/__mock/nothing", &[]).await.status, 404);
    assert_eq!(post(&mock, "/__mock/stats", &json!({})).await.status, 405);
    // Control requests are never recorded.
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn stats_count_api_requests() {
    let mock = start().await;
    chat_as(&mock, "sk-a", "m1").await;
    chat_as(&mock, "sk-a", "m2").await;
    chat_as(&mock, "sk-b", "m1").await;
    post(
        &mock,
        "/v1beta/models/g:generateContent?key=sk-g",
        &gemini_body(),
    )
    .await;
    post(&mock, "/v1/chat/completions", &json!({"messages": []})).await;
    get(&mock, "/v1/models", &[("x-api-key", "sk-a")]).await;
    // Errors count too; health checks and control calls do not.
    add_rule(&mock, json!({"script": "status=500", "key": "sk-b"})).await;
    assert_eq!(chat_as(&mock, "sk-b", "m1").await.status, 500);
    get(&mock, "/health", &[]).await;
    get(&mock, "/__mock/requests", &[]).await;
    let v = get(&mock, "/__mock/stats", &[]).await.json();
    assert_eq!(v["total"], 7);
    assert_eq!(v["by_key"], json!({"sk-a": 3, "sk-b": 2, "sk-g": 1}));
    assert_eq!(v["by_model"], json!({"m1": 3, "m2": 1, "g": 1}));
    let s = mock.stats();
    assert_eq!(s.total, 7);
    assert_eq!(s.by_key.get("sk-a"), Some(&3));

    let r = request(&mock, "DELETE", "/__mock/stats", &[], None).await;
    assert_eq!(r.status, 200);
    let v = get(&mock, "/__mock/stats", &[]).await.json();
    assert_eq!(v, json!({"total": 0, "by_key": {}, "by_model": {}}));
    chat_as(&mock, "sk-a", "m1").await;
    assert_eq!(get(&mock, "/__mock/stats", &[]).await.json()["total"], 1);
    // Stats do not depend on the recorder.
    mock.clear();
    assert_eq!(mock.stats().total, 1);
}

#[tokio::test]
async fn in_process_rules() {
    let mock = start().await;
    let id = mock.add_rule(MockRule::new("status=429").key("sk-a").model("m").times(1));
    let live = mock.state().rules();
    assert_eq!(
        (live.len(), live[0].id, live[0].remaining),
        (1, id, Some(1))
    );
    assert_eq!(chat_as(&mock, "sk-a", "x").await.status, 200);
    assert_eq!(chat_as(&mock, "sk-a", "m").await.status, 429);
    assert_eq!(chat_as(&mock, "sk-a", "m").await.status, 200);
    mock.add_rule(MockRule::new("status=500"));
    assert!(!mock.state().remove_rule(id));
    mock.clear_rules();
    assert_eq!(chat_as(&mock, "sk-a", "m").await.status, 200);
}

#[tokio::test]
async fn rate_limit_and_overload_bodies() {
    let mock = start().await;
    let h = [("x-mock", "status=429")];
    let v = post_h(&mock, "/v1/chat/completions", &h, &chat("m", "x"))
        .await
        .json();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Rate limit reached"));
    assert_eq!(v["error"]["type"], "requests");
    let r = post_h(&mock, "/v1/messages", &h, &messages("m")).await;
    assert_eq!(r.header("retry-after"), Some("7"));
    let v = r.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Rate limit reached"));
    let h = [("x-mock", "status=429; retry-after=3")];
    let v = post_h(
        &mock,
        "/v1beta/models/g:generateContent",
        &h,
        &gemini_body(),
    )
    .await
    .json();
    assert_eq!(v["error"]["code"], 429);
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Rate limit reached") && !msg.contains("quota"),
        "{msg}"
    );
    assert_eq!(v["error"]["details"][0]["retryDelay"], "3s");

    let h = [("x-mock", "status=529")];
    let v = post_h(&mock, "/v1/messages", &h, &messages("m"))
        .await
        .json();
    assert_eq!(
        v,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
}

#[tokio::test]
async fn quota_bodies() {
    let mock = start().await;
    let h = [("x-mock", "quota")];
    let r = post_h(&mock, "/v1/chat/completions", &h, &chat("m", "x")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    let v = r.json();
    assert_eq!(v["error"]["code"], "insufficient_quota");
    assert_eq!(v["error"]["type"], "insufficient_quota");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("You exceeded your current quota"));
    // Responses API: OpenAI shape too.
    let b = json!({"model": "m", "input": "x"});
    let v = post_h(&mock, "/v1/responses", &h, &b).await.json();
    assert_eq!(v["error"]["code"], "insufficient_quota");

    let h = [("x-mock", "status=429; quota")];
    let r = post_h(
        &mock,
        "/v1beta/models/g:generateContent",
        &h,
        &gemini_body(),
    )
    .await;
    assert_eq!(r.status, 429);
    let v = r.json();
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("exceeded your current quota"));
    let types: Vec<&str> = v["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["@type"].as_str().unwrap())
        .collect();
    assert!(
        types.iter().any(|t| t.ends_with("QuotaFailure")),
        "{types:?}"
    );
    assert!(types.iter().any(|t| t.ends_with("RetryInfo")), "{types:?}");

    let r = post_h(&mock, "/v1/messages", &h, &messages("m")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");

    // `quota` with another status is ignored.
    let h = [("x-mock", "status=500; quota")];
    let r = post_h(&mock, "/v1/chat/completions", &h, &chat("m", "x")).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"]["type"], "server_error");
}

#[tokio::test]
async fn context_bodies() {
    let mock = start().await;
    let h = [("x-mock", "context")];
    let r = post_h(&mock, "/v1/chat/completions", &h, &chat("m", "x")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("retry-after"), None);
    let v = r.json();
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("maximum context length"));

    let v = post_h(&mock, "/v1/messages", &h, &messages("m"))
        .await
        .json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("prompt is too long"));

    let r = post_h(
        &mock,
        "/v1beta/models/g:streamGenerateContent",
        &h,
        &gemini_body(),
    )
    .await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("exceeds the maximum number of tokens"));
}

#[tokio::test]
async fn error_200_bodies() {
    let mock = start().await;
    let h = [("x-mock", "error-200")];
    // Non-stream and stream requests alike: a JSON error body with HTTP 200.
    for stream in [false, true] {
        let b =
            json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "x"}]});
        let r = post_h(&mock, "/v1/chat/completions", &h, &b).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.json()["error"]["type"], "server_error");
    }
    let h = [("x-mock", "error-200; status=429")];
    let r = post_h(&mock, "/v1/messages", &h, &messages("m")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    let h = [("x-mock", "error-200; quota")];
    let r = post_h(
        &mock,
        "/v1beta/models/g:generateContent",
        &h,
        &gemini_body(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["error"]["code"], 429);
    assert_eq!(r.json()["error"]["status"], "RESOURCE_EXHAUSTED");

    // As a rule, for one account.
    add_rule(
        &mock,
        json!({"script": "error-200;context", "key": "sk-a", "times": 1}),
    )
    .await;
    let r = chat_as(&mock, "sk-a", "m").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["error"]["code"], "context_length_exceeded");
    let r = chat_as(&mock, "sk-a", "m").await;
    assert_eq!(r.json()["choices"][0]["message"]["content"], "echo: hi");
}
