//! Management API and security: gateway keys, the admin guard, secrets at rest, CRUD, catalog,
//! connection tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use mock_upstream::MockUpstream;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_keys_are_enforced_and_never_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = mock_config(dir.path(), &mock.url(), "");
    let gw = Launch::new(dir.path())
        .arg("--config")
        .arg(cfg.to_str().unwrap())
        .env("REQUIRE_API_KEY", "true")
        .start()
        .await;

    let r = gw.chat(user("no key")).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "authentication_error"
    );
    let r = gw
        .http
        .post(gw.v1("/chat/completions"))
        .bearer_auth("sk-or-wrong-key-000000000000")
        .json(&user("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let created: Value = gw
        .http
        .post(gw.api("/keys"))
        .json(&json!({"name": "laptop"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("sk-or-") && key.len() > 40);

    let send = |h: &'static str, v: String| {
        gw.http
            .post(gw.v1("/chat/completions"))
            .header(h, v)
            .json(&user("with key"))
            .send()
    };
    assert_eq!(
        send("authorization", format!("Bearer {key}"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(send("x-api-key", key.clone()).await.unwrap().status(), 200);
    assert_eq!(
        send("x-goog-api-key", key.clone()).await.unwrap().status(),
        200
    );
    for rec in mock.requests() {
        let all = format!("{:?} {}", rec.headers, String::from_utf8_lossy(&rec.body));
        assert!(!all.contains(&key), "gateway key forwarded upstream");
    }

    // listing never shows the key
    let list: Value = gw
        .http
        .get(gw.api("/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!list.to_string().contains(&key));
    assert!(list["keys"][0]["masked"].as_str().unwrap().contains('…'));

    // usage is counted (asynchronously)
    let mut counted = false;
    for _ in 0..40 {
        let list: Value = gw
            .http
            .get(gw.api("/keys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if list["keys"][0]["request_count"].as_i64() == Some(3) {
            counted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(counted, "key usage not recorded");

    assert_eq!(
        gw.http
            .delete(gw.api(&format!("/keys/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        send("authorization", format!("Bearer {key}"))
            .await
            .unwrap()
            .status(),
        401,
        "revoked key refused"
    );
    assert_eq!(
        gw.http.get(gw.v1("/models")).send().await.unwrap().status(),
        401
    );
    // liveness needs no key
    assert_eq!(
        gw.http
            .get(format!("{}/health", gw.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_never_holds_a_plaintext_secret() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Launch::new(dir.path()).start().await;
    let provider_secret = "sk-proj-PLAINTEXT-never-on-disk-987654321";
    let r = gw
        .http
        .post(gw.api("/connections"))
        .json(&json!({"provider": "openai", "name": "main", "api_key": provider_secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let c: Value = r.json().await.unwrap();
    assert!(
        !c.to_string().contains(provider_secret),
        "API echoed the secret"
    );
    assert_eq!(c["api_key"], "sk-p…4321");
    let key: Value = gw
        .http
        .post(gw.api("/keys"))
        .json(&json!({"name": "k"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gateway_key = key["key"].as_str().unwrap().to_string();
    let list = gw
        .http
        .get(gw.api("/connections"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains(provider_secret));
    // rotate the secret with PATCH; the old and new values stay off disk
    let id = c["id"].as_str().unwrap();
    let rotated = "sk-proj-ROTATED-never-on-disk-123456789";
    gw.http
        .patch(gw.api(&format!("/connections/{id}")))
        .json(&json!({"api_key": rotated}))
        .send()
        .await
        .unwrap();
    assert_eq!(gw.stop().await, Some(0));

    let mut bytes = Vec::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("omniroute.db")
        {
            bytes.extend(std::fs::read(p).unwrap());
        }
    }
    assert!(bytes.len() > 8192);
    for needle in [provider_secret, rotated, gateway_key.as_str()] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "plaintext on disk"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("secret.key")), 0o600);
    assert_eq!(mode(&dir.path().join("omniroute.db")), 0o600);
    assert_eq!(mode(dir.path()), 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_crud_catalog_and_connection_test() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let gw = Launch::new(dir.path()).start().await;
    let h = &gw.http;

    // custom node of each format
    for (id, format) in [
        ("oai", "openai"),
        ("ant", "anthropic"),
        ("gem", "gemini"),
        ("rsp", "responses"),
    ] {
        let r = h
            .post(gw.api("/provider-nodes"))
            .json(&json!({"id": id, "format": format, "base_url": format!("{}/v1", mock.url())}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{format}");
    }
    assert_eq!(
        h.post(gw.api("/provider-nodes"))
            .json(&json!({"id": "x", "format": "soap", "base_url": "http://h"}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        h.post(gw.api("/provider-nodes"))
            .json(&json!({"id": "openai", "format": "openai", "base_url": "http://h"}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        h.post(gw.api("/provider-nodes"))
            .json(&json!({"id": "oai", "format": "openai", "base_url": "http://h"}))
            .send()
            .await
            .unwrap()
            .status(),
        409
    );

    // custom models
    let r = h
        .post(gw.api("/provider-models"))
        .json(&json!({"provider": "openai", "model": "gpt-custom", "type": "chat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = h
        .post(gw.api("/provider-models"))
        .json(&json!({"provider": "oai", "model": "embed-x", "type": "embedding"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        h.post(gw.api("/provider-models"))
            .json(&json!({"provider": "nope", "model": "m"}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let list: Value = h
        .get(gw.api("/provider-models?provider=openai"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["models"].as_array().unwrap().len(), 1);

    let catalog: Value = h
        .get(gw.api("/models/catalog"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let providers = catalog["providers"].as_array().unwrap();
    assert!(providers.len() >= 40);
    let openai = providers
        .iter()
        .find(|p| p["provider"] == "openai")
        .unwrap();
    assert!(openai["models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "gpt-custom" && m["custom"] == true));
    let oai = providers.iter().find(|p| p["provider"] == "oai").unwrap();
    assert_eq!(oai["custom_node"], true);
    assert!(oai["models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "embed-x" && m["type"] == "embedding"));
    assert!(providers.iter().any(|p| p["provider"] == "voyage"
        && p["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "embedding")));

    assert_eq!(
        h.delete(gw.api("/provider-models?provider=openai&model=gpt-custom"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        h.delete(gw.api("/provider-models?provider=openai&model=gpt-custom"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // combos
    let r = h.post(gw.api("/combos")).json(&json!({"name": "team", "models": ["oai/m", "openai/gpt-4o"], "strategy": "round-robin"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let combo: Value = r.json().await.unwrap();
    assert_eq!(
        h.post(gw.api("/combos"))
            .json(&json!({"name": "team", "models": ["a/b"]}))
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
    assert_eq!(
        h.post(gw.api("/combos"))
            .json(&json!({"name": "bad", "models": []}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        h.post(gw.api("/combos"))
            .json(&json!({"name": "bad", "models": ["a/b"], "strategy": "yolo"}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let id = combo["id"].as_str().unwrap();
    let r = h
        .put(gw.api(&format!("/combos/{id}")))
        .json(&json!({"name": "team", "models": ["oai/m"], "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = gw
        .chat(json!({"model": "team", "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(r.status(), 503, "disabled combo");
    assert_eq!(
        h.delete(gw.api(&format!("/combos/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );

    // settings
    let r = h
        .patch(gw.api("/settings"))
        .json(&json!({"idle_timeout_ms": 5000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["settings"]["idle_timeout_ms"],
        5000
    );
    assert_eq!(
        h.patch(gw.api("/settings"))
            .json(&json!({"colour": 1}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        h.patch(gw.api("/settings"))
            .json(&json!({"require_api_key": "maybe"}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        h.delete(gw.api("/settings/idle_timeout_ms"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );

    // connection CRUD and test against the mock
    let r = h
        .post(gw.api("/connections"))
        .json(&json!({"provider": "oai", "name": "main", "api_key": "sk-test-0000000000"}))
        .send()
        .await
        .unwrap();
    let conn: Value = r.json().await.unwrap();
    let cid = conn["id"].as_str().unwrap();
    let t: Value = h
        .post(gw.api(&format!("/connections/{cid}/test")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(t["method"], "models");
    assert!(t["models"].as_u64().unwrap() >= 1);
    let r = h.post(gw.api("/connections")).json(&json!({"provider": "oai", "name": "bad", "api_key": "k", "base_url": "http://127.0.0.1:1/v1"})).send().await.unwrap();
    let bad: Value = r.json().await.unwrap();
    let t: Value = h
        .post(gw.api(&format!(
            "/connections/{}/test",
            bad["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["ok"], false);
    assert_eq!(
        h.post(gw.api("/connections"))
            .json(&json!({"provider": "nope", "name": "x"}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        h.post(gw.api("/connections"))
            .json(&json!({"provider": "oai", "name": "x", "colour": 1}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        h.get(gw.api("/connections/conn_missing"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        h.delete(gw.api(&format!("/connections/{cid}")))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    gw.stop().await;
}
