//! Who may connect: allow and block lists with and without a trusted proxy (clients appear
//! behind `X-Forwarded-For` from this machine), the per-address rate limit, and the client
//! address the logs, the audit and the login lockout see.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use mock_upstream::MockUpstream;
use serde_json::{json, Value};

async fn setup() -> (tempfile::TempDir, MockUpstream, Gateway) {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(
        &mock.url(),
        &[("n1", "openai", &["sk-upstream-0123456789"])],
        "",
    );
    let gw = Launch::new(dir.path())
        .arg("--config")
        .arg({
            let p = dir.path().join("omniroute.toml");
            std::fs::write(&p, cfg).unwrap();
            p.to_str().unwrap().to_string()
        })
        .env("INITIAL_PASSWORD", "network-test-password")
        .start()
        .await;
    (dir, mock, gw)
}

async fn set(gw: &Gateway, v: Value) {
    let r = gw
        .http
        .put(gw.api("/settings"))
        .json(&v)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// A chat (OpenAI) and a message (Anthropic) from `xff` (or directly).
async fn chat(gw: &Gateway, xff: Option<&str>) -> (u16, Value) {
    let mut r = reqwest::Client::new()
        .post(gw.v1("/chat/completions"))
        .json(&json!({"model": "n1/mock-small", "messages": [{"role": "user", "content": "hi"}]}));
    if let Some(x) = xff {
        r = r.header("x-forwarded-for", x);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn message(gw: &Gateway, xff: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(gw.v1("/messages"))
        .header("x-forwarded-for", xff)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "n1/mock-small", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_and_allow_lists_with_and_without_a_trusted_proxy() {
    let (_dir, _mock, gw) = setup().await;
    set(&gw, json!({"ip_blocklist": ["203.0.113.0/24"]})).await;
    // no trusted proxy: the header is not believed, the (local) peer is not blocked
    assert_eq!(chat(&gw, Some("203.0.113.5")).await.0, 200);
    // behind a trusted proxy the forwarded address counts
    set(&gw, json!({"trusted_proxies": ["127.0.0.1/32"]})).await;
    let (status, v) = chat(&gw, Some("203.0.113.5")).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "ip_not_allowed");
    let (status, v) = message(&gw, "203.0.113.5").await;
    assert_eq!(status, 403);
    assert_eq!(v["type"], "error", "Anthropic error shape: {v}");
    // a spoofed leftmost entry does not help: the nearest untrusted address counts
    assert_eq!(chat(&gw, Some("198.51.100.1, 203.0.113.5")).await.0, 403);
    assert_eq!(chat(&gw, Some("203.0.113.5, 198.51.100.1")).await.0, 200);
    // the management API is behind the same filter
    let r = gw
        .http
        .get(gw.api("/health"))
        .header("x-forwarded-for", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // an allowlist: only its ranges (and this machine) get in
    set(
        &gw,
        json!({"ip_blocklist": [], "ip_allowlist": ["198.51.100.0/24"]}),
    )
    .await;
    assert_eq!(chat(&gw, Some("198.51.100.77")).await.0, 200);
    assert_eq!(chat(&gw, Some("192.0.2.1")).await.0, 403);
    assert_eq!(
        chat(&gw, None).await.0,
        200,
        "this machine is always allowed"
    );
    // the request log and the audit name the forwarded client
    let mut rows = Vec::new();
    for _ in 0..50 {
        let v: Value = gw.api_json("/logs?limit=50").await;
        rows = v["logs"].as_array().unwrap().clone();
        if rows.iter().any(|r| r["client_ip"] == "198.51.100.77") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        rows.iter().any(|r| r["client_ip"] == "198.51.100.77"),
        "{rows:?}"
    );
    // invalid entries are refused with the entry named
    let r = gw
        .http
        .put(gw.api("/settings"))
        .json(&json!({"ip_blocklist": ["10.0.0.0/99"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("10.0.0.0/99"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_address_rate_limit_and_lockout_follow_the_client_address() {
    let (_dir, _mock, gw) = setup().await;
    set(
        &gw,
        json!({"trusted_proxies": ["127.0.0.1"], "ip_rate_limit": {"requests": 3, "window_ms": 60000}}),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(chat(&gw, Some("192.0.2.10")).await.0, 200);
    }
    let r = reqwest::Client::new()
        .post(gw.v1("/chat/completions"))
        .header("x-forwarded-for", "192.0.2.10")
        .json(&json!({"model": "n1/mock-small", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "ip_rate_limited");
    assert_eq!(chat(&gw, Some("192.0.2.11")).await.0, 200, "per address");
    set(
        &gw,
        json!({"ip_rate_limit": {"requests": 0, "window_ms": 60000}}),
    )
    .await;

    // failed logins lock out the forwarded client, not the proxy
    let login = |xff: &'static str, pw: &'static str| {
        let gw_url = gw.api("/auth/login");
        async move {
            reqwest::Client::new()
                .post(gw_url)
                .header("x-forwarded-for", xff)
                .json(&json!({ "password": pw }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..5 {
        login("192.0.2.66", "wrong-password").await;
    }
    assert_eq!(login("192.0.2.66", "network-test-password").await, 429);
    assert_eq!(
        login("192.0.2.67", "network-test-password").await,
        200,
        "another client is not locked out"
    );
    let audit: Value = gw.api_json("/audit").await;
    assert!(audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "login_failed" && e["ip"] == "192.0.2.66"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_safety_credentials_stay_and_streams_are_capped() {
    let (_dir, mock, gw) = setup().await;
    // the client's own credentials and cookies never travel upstream
    let r = reqwest::Client::new()
        .post(gw.v1("/chat/completions"))
        .header("authorization", "Bearer client-secret-token-123")
        .header("cookie", "omniroute_session=abc; other=client-cookie-456")
        .header("x-api-key", "client-x-api-key-789")
        .json(&json!({"model": "n1/mock-small", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let up = mock.last_request().unwrap();
    assert_eq!(
        up.header("authorization"),
        Some("Bearer sk-upstream-0123456789")
    );
    for (k, v) in &up.headers {
        assert!(
            !v.contains("client-secret-token-123")
                && !v.contains("client-cookie-456")
                && !v.contains("client-x-api-key-789"),
            "client credential forwarded in {k}: {v}"
        );
        assert_ne!(k, "cookie");
    }

    // a committed stream that grows past the cap ends with an error event, not silently
    let r = gw
        .http
        .put(gw.api("/settings"))
        .json(&json!({"max_stream_bytes": 400}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = reqwest::Client::new()
        .post(gw.v1("/chat/completions"))
        .json(&json!({"model": "n1/mock-small", "stream": true,
            "messages": [{"role": "user", "content": "[[mock:chunks=40]] a long enough answer to stream in many pieces"}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("stream_too_large"), "{text}");
    assert!(text.contains("maximum size"), "{text}");
    // and one that lasts too long
    gw.http
        .put(gw.api("/settings"))
        .json(&json!({"max_stream_bytes": 268435456, "max_stream_duration_ms": 300}))
        .send()
        .await
        .unwrap();
    let text = reqwest::Client::new()
        .post(gw.v1("/messages"))
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "n1/mock-small", "stream": true, "max_tokens": 64,
            "messages": [{"role": "user", "content": "[[mock:chunks=20;delay=60]] slow answer in pieces"}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("event: error"), "{text}");
    assert!(text.contains("maximum duration"), "{text}");
    gw.stop().await;
}
