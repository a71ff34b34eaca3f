//! The OpenAI-compatible proxy end to end: real binary, real mock upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use mock_upstream::MockUpstream;
use serde_json::{json, Value};
use std::time::Duration;

async fn setup(extra: &str) -> (tempfile::TempDir, MockUpstream, Gateway) {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = mock_config(dir.path(), &mock.url(), extra);
    let gw = Launch::new(dir.path())
        .arg("--config")
        .arg(cfg.to_str().unwrap())
        .start()
        .await;
    (dir, mock, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_stream_is_identical_to_direct_and_rewrites_the_model() {
    let (_d, mock, gw) = setup("").await;
    let direct: Value = gw
        .http
        .post(format!("{}/v1/chat/completions", mock.url()))
        .json(&json!({"model": "mock-small", "messages": [{"role": "user", "content": "hello gateway"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    mock.clear();

    let resp = gw
        .http
        .post(gw.v1("/chat/completions"))
        .header("x-request-id", "req-abc-123")
        .json(&json!({"model": "mock/mock-small", "messages": [{"role": "user", "content": "hello gateway"}], "temperature": 0.2, "custom_field": {"kept": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "req-abc-123");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        direct["choices"][0]["message"]["content"]
    );
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "echo: hello gateway"
    );

    let seen = mock.last_request().unwrap();
    let sent = seen.json().unwrap();
    assert_eq!(sent["model"], "mock-small", "provider prefix stripped");
    assert_eq!(sent["temperature"], 0.2);
    assert_eq!(
        sent["custom_field"],
        json!({"kept": true}),
        "unknown fields pass through"
    );
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {UPSTREAM_SECRET}").as_str())
    );
    assert!(
        sent.get("stream").is_none(),
        "stream defaults to false and is not invented"
    );

    // a generated request id is echoed too
    let resp = gw.chat(user("x")).await;
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(rid.len() >= 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_delivers_every_chunk_in_order() {
    let (_d, mock, gw) = setup("").await;
    let body = json!({"model": "mock-small", "stream": true, "messages": [{"role": "user", "content": "[[mock:chunks=50]] count with me"}]});
    let direct = gw
        .http
        .post(format!("{}/v1/chat/completions", mock.url()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let mut via = body.clone();
    via["model"] = json!("mock/mock-small");
    let resp = gw
        .http
        .post(gw.v1("/chat/completions"))
        .json(&via)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().await.unwrap();

    let strip_ids = |s: &str| -> Vec<Value> {
        sse_data(s)
            .iter()
            .map(|d| match serde_json::from_str::<Value>(d) {
                Ok(mut v) => {
                    v.as_object_mut().unwrap().remove("id");
                    v
                }
                Err(_) => Value::String(d.clone()),
            })
            .collect()
    };
    let (a, b) = (strip_ids(&direct), strip_ids(&text));
    assert!(a.len() >= 52, "direct stream has {} events", a.len());
    assert_eq!(a, b, "every event, in order, unchanged");
    assert_eq!(sse_data(&text).last().unwrap(), "[DONE]");
    assert_eq!(stream_text(&text), stream_text(&direct));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_chunks_are_not_buffered() {
    let (_d, _mock, gw) = setup("").await;
    let started = std::time::Instant::now();
    let mut resp = gw
        .chat(stream_user("[[mock:chunks=6;delay=300]] slow stream"))
        .await;
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("data:"));
    // the whole stream takes >= 1.8 s; the first chunk must arrive long before that
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "first chunk after {:?}",
        started.elapsed()
    );
    while resp.chunk().await.unwrap().is_some() {}
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_are_mapped() {
    let (_d, _mock, gw) = setup("").await;
    let r = gw.chat(user("[[mock:status=429;retry-after=11]] hi")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "11");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "rate_limit_error");

    for (status, expect) in [(500, 500), (503, 503), (401, 502), (400, 400)] {
        let r = gw.chat(user(&format!("[[mock:status={status}]] hi"))).await;
        assert_eq!(r.status().as_u16(), expect, "upstream {status}");
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"]["message"].as_str().unwrap().contains("mock"),
            "{e}"
        );
        assert!(!e.to_string().contains(UPSTREAM_SECRET));
    }

    let r = gw.chat(user("[[mock:garbage]] hi")).await;
    assert_eq!(r.status(), 502);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "upstream_invalid_response"
    );

    let r = gw.chat(user("[[mock:error-event]] hi")).await;
    assert_eq!(r.status(), 502, "an HTTP 200 carrying an error is an error");

    // a stream cut mid-way ends with an error event then [DONE], never a fake finish
    let r = gw
        .chat(stream_user("[[mock:cut=2;chunks=6]] hello there friend"))
        .await;
    let text = r.text().await.unwrap();
    let data = sse_data(&text);
    // the error event comes before the terminator, and no finish_reason pretends success
    let n = data.len();
    assert!(
        n >= 2 && data[n - 2].contains("upstream_stream_cut"),
        "{text}"
    );
    assert_eq!(data[n - 1], "[DONE]");
    assert!(
        !data.iter().any(|d| d.contains("\"finish_reason\":\"")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_unreachable_upstreams() {
    let (_d, _mock, gw) =
        setup("[settings]\nfirst_byte_timeout_ms = 300\nidle_timeout_ms = 300\n").await;
    let r = gw.chat(user("[[mock:first-byte=2000]] hi")).await;
    assert_eq!(r.status(), 504);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "upstream_timeout"
    );

    let r = gw
        .chat(stream_user("[[mock:chunks=4;delay=1500]] stall"))
        .await;
    let text = r.text().await.unwrap();
    assert!(
        text.contains("upstream_timeout"),
        "idle stream ends with a timeout error event: {text}"
    );

    // a node pointing at a closed port
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = gw
        .http
        .post(gw.api("/provider-nodes"))
        .json(&json!({"id": "dead", "format": "openai", "base_url": format!("http://{closed}/v1"), "auth": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = gw
        .chat(json!({"model": "dead/m", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(r.status(), 502);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "upstream_unreachable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_openai_errors() {
    let (_d, _mock, gw) = setup("[settings]\nmax_body_bytes = 4096\n").await;
    let post = |body: &'static str, ct: &'static str| {
        gw.http
            .post(gw.v1("/chat/completions"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let cases: Vec<(reqwest::Response, u16, &str)> = vec![
        (
            post("{not json", "application/json").await.unwrap(),
            400,
            "invalid_json",
        ),
        (post("[1,2]", "application/json").await.unwrap(), 400, ""),
        (
            post(r#"{"messages":[]}"#, "application/json")
                .await
                .unwrap(),
            400,
            "missing_model",
        ),
        (
            post(r#"{"model":7,"messages":[]}"#, "application/json")
                .await
                .unwrap(),
            400,
            "invalid_model",
        ),
        (
            post(r#"{"model":"mock/mock-small"}"#, "application/json")
                .await
                .unwrap(),
            400,
            "invalid_messages",
        ),
        (
            post(r#"{"model":"nope/x","messages":[]}"#, "application/json")
                .await
                .unwrap(),
            404,
            "model_not_found",
        ),
        (
            post(r#"{"model":"mystery","messages":[]}"#, "application/json")
                .await
                .unwrap(),
            404,
            "model_not_found",
        ),
        (
            post(
                r#"{"model":"openai/gpt-4o","messages":[]}"#,
                "application/json",
            )
            .await
            .unwrap(),
            400,
            "provider_not_configured",
        ),
        (
            post(r#"{"model":"mock/mock-small","messages":[]}"#, "text/plain")
                .await
                .unwrap(),
            415,
            "unsupported_media_type",
        ),
    ];
    for (resp, status, code) in cases {
        assert_eq!(resp.status().as_u16(), status);
        assert!(resp.headers().contains_key("x-request-id"));
        let v: Value = resp.json().await.unwrap();
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        if !code.is_empty() {
            assert_eq!(v["error"]["code"], code, "{v}");
        }
    }
    let big = format!(
        r#"{{"model":"mock/mock-small","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(5000)
    );
    let r = gw
        .http
        .post(gw.v1("/chat/completions"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "request_too_large"
    );

    let r = gw
        .http
        .get(format!("{}/v1/nothing-here", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"].is_string());

    // a disabled connection is not used
    let conns: Value = gw
        .http
        .get(gw.api("/connections"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = conns["connections"][0]["id"].as_str().unwrap().to_string();
    let r = gw
        .http
        .patch(gw.api(&format!("/connections/{id}")))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = gw.chat(user("hi")).await;
    assert_eq!(
        r.status(),
        400,
        "a configuration problem: clients must not retry"
    );
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "provider_not_configured");
    assert!(gw.stderr().contains("no enabled connection"));
    assert!(
        !gw.stderr().contains(UPSTREAM_SECRET),
        "secret leaked into logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_cancels_the_upstream_request() {
    let (_d, mock, gw) = setup("").await;
    let mut resp = gw
        .chat(stream_user("[[mock:chunks=20;delay=200]] long"))
        .await;
    assert!(resp.chunk().await.unwrap().is_some());
    drop(resp);
    let rec = mock.last_request().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !rec.disconnected.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "upstream stream kept running after the client left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // and it is logged as a client close (499)
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs: Value = gw
        .http
        .get(gw.api("/logs?limit=5"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(logs["logs"][0]["status"], 499, "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_list_and_pinned_provider_route() {
    let (_d, _mock, gw) =
        setup("[[combos]]\nname = \"fast\"\nmodels = [\"mock/mock-small\"]\n").await;
    let v: Value = gw
        .http
        .get(gw.v1("/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"mock/mock-small"), "{ids:?}");
    assert!(ids.contains(&"fast"), "combos are listed: {ids:?}");
    assert!(
        !ids.iter().any(|i| i.starts_with("openai/")),
        "providers without a connection are not routable"
    );

    let r = gw
        .chat(json!({"model": "fast", "messages": [{"role": "user", "content": "via combo"}]}))
        .await;
    assert_eq!(r.status(), 200);

    let pinned = |model: &str| {
        gw.http
            .post(gw.v1("/providers/mock/chat/completions"))
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "pinned"}]}))
            .send()
    };
    assert_eq!(pinned("mock-small").await.unwrap().status(), 200);
    assert_eq!(pinned("mock/mock-small").await.unwrap().status(), 200);
    assert_eq!(pinned("openai/gpt-4o").await.unwrap().status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_log_records_usage_and_ids() {
    let (_d, _mock, gw) = setup("").await;
    let r = gw
        .http
        .post(gw.v1("/chat/completions"))
        .header("x-request-id", "log-me-1")
        .json(&user("[[mock:usage=12,34]] hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = gw.http.post(gw.v1("/chat/completions")).header("x-request-id", "log-me-2").json(&json!({"model": "mock/mock-small", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "[[mock:usage=5,6]] hi"}]})).send().await.unwrap();
    r.text().await.unwrap();
    let mut rows = Value::Null;
    for _ in 0..40 {
        rows = gw
            .http
            .get(gw.api("/logs?limit=10"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if rows["logs"].as_array().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let find = |id: &str| {
        rows["logs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["request_id"] == id)
            .cloned()
            .unwrap()
    };
    let a = find("log-me-1");
    assert_eq!(
        (a["input_tokens"].as_i64(), a["output_tokens"].as_i64()),
        (Some(12), Some(34))
    );
    assert_eq!(a["provider"], "mock");
    assert_eq!(a["upstream_model"], "mock-small");
    let b = find("log-me-2");
    assert_eq!(b["stream"], true);
    assert_eq!(
        (b["input_tokens"].as_i64(), b["output_tokens"].as_i64()),
        (Some(5), Some(6))
    );
    // failures are logged at warn with their request id
    let r = gw
        .http
        .post(gw.v1("/chat/completions"))
        .header("x-request-id", "log-fail-1")
        .json(&user("[[mock:status=503]] hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let line = gw
        .stderr()
        .lines()
        .find(|l| l.contains("log-fail-1"))
        .map(str::to_string);
    let line = line.expect("request id appears in the failure's log line");
    assert!(line.contains("WARN") && line.contains("503"), "{line}");
}
