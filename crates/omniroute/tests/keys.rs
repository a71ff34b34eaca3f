//! Gateway keys as a client meets them: model patterns in every client format (and in model
//! lists), expiry, revocation, rotation, per-key rate limits, the separate switch for model
//! lists, and the key never reaching an upstream or a file in clear.
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
        &[
            ("n1", "openai", &["sk-upstream-n1-0123456789"]),
            ("n2", "anthropic", &["sk-upstream-n2-0123456789"]),
        ],
        "[[combos]]\nname = \"both\"\nmodels = [\"n2/mock-small\", \"n1/mock-small\"]\n\n\
         [settings]\nrequire_api_key = true\n",
    );
    let gw = start(dir.path(), &cfg).await;
    (dir, mock, gw)
}

async fn new_key(gw: &Gateway, body: Value) -> (String, String) {
    let r = gw
        .http
        .post(gw.api("/keys"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    (
        v["id"].as_str().unwrap().to_string(),
        v["key"].as_str().unwrap().to_string(),
    )
}

/// One request for `model` in `format` with `key`: (status, body).
async fn call(gw: &Gateway, format: &str, model: &str, key: &str) -> (u16, Value) {
    let anon = reqwest::Client::new();
    let msg = "scoped hello";
    let r = match format {
        "openai" => anon
            .post(gw.v1("/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": msg}]})),
        "anthropic" => anon
            .post(gw.v1("/messages"))
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": msg}]})),
        "responses" => anon
            .post(gw.v1("/responses"))
            .bearer_auth(key)
            .json(&json!({"model": model, "input": msg})),
        "gemini" => anon
            .post(format!("{}/v1beta/models/{model}:generateContent", gw.url))
            .header("x-goog-api-key", key)
            .json(&json!({"contents": [{"role": "user", "parts": [{"text": msg}]}]})),
        other => panic!("{other}"),
    };
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The error message in any client format's error shape.
fn message(format: &str, v: &Value) -> String {
    match format {
        "anthropic" => {
            assert_eq!(v["type"], "error", "{v}");
            v["error"]["message"].as_str().unwrap().to_string()
        }
        "gemini" => {
            assert!(v["error"]["status"].is_string(), "{v}");
            v["error"]["message"].as_str().unwrap().to_string()
        }
        _ => v["error"]["message"].as_str().unwrap().to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_key_reaches_only_its_models_in_every_format() {
    let (dir, mock, gw) = setup().await;
    let (_, key) = new_key(&gw, json!({"name": "only-n1", "models": ["n1/*"]})).await;
    for format in ["openai", "anthropic", "responses", "gemini"] {
        let (status, v) = call(&gw, format, "n1/mock-small", &key).await;
        assert_eq!(status, 200, "{format}: {v}");
        let (status, v) = call(&gw, format, "n2/mock-small", &key).await;
        assert_eq!(status, 403, "{format}: {v}");
        assert!(message(format, &v).contains("may not use"), "{format}: {v}");
    }
    // a combo reaches only the steps the key may use
    let (status, v) = call(&gw, "openai", "both", &key).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        calls(&mock, "sk-upstream-n2-0123456789"),
        0,
        "the forbidden step was never tried"
    );
    // model lists show what the key may use
    let list: Value = reqwest::Client::new()
        .get(gw.v1("/models"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"n1/mock-small") && ids.contains(&"both"),
        "{ids:?}"
    );
    assert!(!ids.iter().any(|i| i.starts_with("n2/")), "{ids:?}");
    // a key allowed the combo by name may use all of it; an unrestricted key everything
    let (_, combo_key) = new_key(&gw, json!({"name": "combo", "models": ["both"]})).await;
    let (status, _) = call(&gw, "openai", "both", &combo_key).await;
    assert_eq!(status, 200);
    let (status, _) = call(&gw, "openai", "n2/mock-small", &combo_key).await;
    assert_eq!(status, 403);
    let (_, all_key) = new_key(&gw, json!({"name": "all"})).await;
    for model in ["n1/mock-small", "n2/mock-small", "both"] {
        assert_eq!(
            call(&gw, "anthropic", model, &all_key).await.0,
            200,
            "{model}"
        );
    }

    // no key value ever reached an upstream or a file in clear
    for r in mock.requests() {
        for (_, v) in &r.headers {
            assert!(
                !v.contains(&key) && !v.contains(&all_key),
                "a gateway key upstream: {v}"
            );
        }
    }
    gw.stop().await;
    let mut files = Vec::new();
    for e in walk(dir.path()) {
        files.push(std::fs::read(&e).unwrap_or_default());
    }
    for bytes in files {
        let text = String::from_utf8_lossy(&bytes);
        for k in [&key, &combo_key, &all_key] {
            assert!(!text.contains(k.as_str()), "a gateway key in a data file");
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_revoked_and_rotated_keys() {
    let (_dir, _mock, gw) = setup().await;
    let (id, key) = new_key(&gw, json!({"name": "temp", "expires_in_days": 1})).await;
    assert_eq!(call(&gw, "openai", "n1/mock-small", &key).await.0, 200);
    // expired: refused with a reason, in the client's format
    let r = gw
        .http
        .patch(gw.api(&format!("/keys/{id}")))
        .json(&json!({"expires_at": omniroute_store_now() - 1000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for format in ["openai", "anthropic", "gemini"] {
        let (status, v) = call(&gw, format, "n1/mock-small", &key).await;
        assert_eq!(status, 401, "{format}: {v}");
        assert!(message(format, &v).contains("expired"), "{v}");
    }
    let listed: Value = gw.api_json("/keys").await;
    let entry = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap();
    assert_eq!(entry["status"], "expired");
    // clearing the expiry brings it back
    gw.http
        .patch(gw.api(&format!("/keys/{id}")))
        .json(&json!({"expires_at": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(call(&gw, "openai", "n1/mock-small", &key).await.0, 200);

    // rotation: the old secret dies at once, the key keeps its id and usage
    let r: Value = gw
        .http
        .post(gw.api(&format!("/keys/{id}/rotate")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated = r["key"].as_str().unwrap().to_string();
    assert_ne!(rotated, key);
    assert_eq!(r["id"], id.as_str());
    assert_eq!(call(&gw, "openai", "n1/mock-small", &key).await.0, 401);
    assert_eq!(call(&gw, "openai", "n1/mock-small", &rotated).await.0, 200);

    // revoked
    let r = gw
        .http
        .delete(gw.api(&format!("/keys/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, v) = call(&gw, "responses", "n1/mock-small", &rotated).await;
    assert_eq!(status, 401, "{v}");
    gw.stop().await;
}

fn omniroute_store_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_rate_limits_and_model_list_switch() {
    let (_dir, _mock, gw) = setup().await;
    let (_, slow) = new_key(&gw, json!({"name": "slow", "rpm": 2})).await;
    let (_, other) = new_key(&gw, json!({"name": "other"})).await;
    assert_eq!(call(&gw, "openai", "n1/mock-small", &slow).await.0, 200);
    assert_eq!(call(&gw, "anthropic", "n1/mock-small", &slow).await.0, 200);
    let (status, v) = call(&gw, "anthropic", "n1/mock-small", &slow).await;
    assert_eq!(status, 429, "{v}");
    assert!(
        message("anthropic", &v).contains("2 requests per minute"),
        "{v}"
    );
    let r = reqwest::Client::new()
        .post(gw.v1("/chat/completions"))
        .bearer_auth(&slow)
        .json(&json!({"model": "n1/mock-small", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // per key: another key is not held back
    assert_eq!(call(&gw, "openai", "n1/mock-small", &other).await.0, 200);
    // invalid limits are refused
    let r = gw
        .http
        .post(gw.api("/keys"))
        .json(&json!({"name": "bad", "rpm": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = gw
        .http
        .post(gw.api("/keys"))
        .json(&json!({"name": "bad", "models": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // keys are required: model lists too, unless the owner opens them
    let anon = reqwest::Client::new();
    assert_eq!(
        anon.get(gw.v1("/models")).send().await.unwrap().status(),
        401
    );
    gw.http
        .put(gw.api("/settings"))
        .json(&json!({"models_require_key": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anon.get(gw.v1("/models")).send().await.unwrap().status(),
        200
    );
    let r = anon
        .post(gw.v1("/chat/completions"))
        .json(&json!({"model": "n1/mock-small", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "chat still needs a key");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_encryption_key_rotates_and_secrets_still_work() {
    let (dir, mock, gw) = setup().await;
    let (_, key) = new_key(&gw, json!({"name": "k"})).await;
    assert_eq!(call(&gw, "openai", "n1/mock-small", &key).await.0, 200);
    let before = std::fs::read_to_string(dir.path().join("secret.key")).unwrap();
    let r = gw
        .http
        .post(gw.api("/security/rotate-encryption-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["secrets_reencrypted"], 2);
    let after = std::fs::read_to_string(dir.path().join("secret.key")).unwrap();
    assert_ne!(before, after);
    // the provider secrets still decrypt: now, and after a restart with the new key file
    assert_eq!(call(&gw, "anthropic", "n2/mock-small", &key).await.0, 200);
    let audit: Value = gw.api_json("/audit").await;
    assert!(audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["target"] == "/api/security/rotate-encryption-key"));
    gw.stop().await;
    let cfg = std::fs::read_to_string(dir.path().join("omniroute.toml")).unwrap();
    let gw = start(dir.path(), &cfg).await;
    assert_eq!(call(&gw, "openai", "n1/mock-small", &key).await.0, 200);
    let up = mock.last_request().unwrap();
    assert_eq!(
        up.header("authorization"),
        Some("Bearer sk-upstream-n1-0123456789")
    );
    gw.stop().await;

    // a key from the environment is the owner's to change
    let dir2 = tempfile::tempdir().unwrap();
    let gw = Launch::new(dir2.path())
        .env("STORAGE_ENCRYPTION_KEY", "ab".repeat(32))
        .start()
        .await;
    let r = gw
        .http
        .post(gw.api("/security/rotate-encryption-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_key_cannot_reach_the_fallback_chain_by_name() {
    let (_dir, mock, gw) = setup().await;
    gw.http
        .put(gw.api("/settings"))
        .json(&json!({"fallback_models": ["n2/mock-small"]}))
        .send()
        .await
        .unwrap();
    let (_, key) = new_key(&gw, json!({"name": "narrow", "models": ["nothing-*"]})).await;
    // the name matches the pattern, resolves to nothing, and the fallback chain would serve it
    let (status, v) = call(&gw, "openai", "nothing-here", &key).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(calls(&mock, "sk-upstream-n2-0123456789"), 0);
    gw.stop().await;
}
