//! What the dashboard needs from the gateway, through the real binary: its files (page routes,
//! compression, caching, CSP) next to the client API's own 404s; credentials tested before they
//! are saved; the translator's playground and chat tester; evals; combo budgets that follow the
//! combo. The pages themselves are tested in a browser by `web/e2e`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use mock_upstream::MockUpstream;
use serde_json::{json, Value};
use std::time::Duration;

async fn setup() -> (tempfile::TempDir, MockUpstream, Gateway) {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(
        &mock.url(),
        &[
            ("up-openai", "openai", &["sk-up-openai-0123456789"]),
            ("up-anthropic", "anthropic", &["sk-up-anthropic-0123456789"]),
        ],
        "",
    );
    let gw = start(dir.path(), &cfg).await;
    (dir, mock, gw)
}

fn dist() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist")
}

#[tokio::test]
async fn dashboard_files_and_page_routes() {
    let (_d, _m, gw) = setup().await;
    let anon = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap();
    for path in ["/", "/providers", "/logs/some-request"] {
        let r = anon.get(format!("{}{path}", gw.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            header(r.headers(), "content-type"),
            "text/html; charset=utf-8"
        );
        assert_eq!(header(r.headers(), "cache-control"), "no-cache");
        let csp = header(r.headers(), "content-security-policy").to_string();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(header(r.headers(), "x-frame-options"), "DENY");
        let html = r.text().await.unwrap();
        // CI builds the dashboard (the server crate's build script): there it must be served
        assert!(
            std::env::var("CI").is_err() || dist().join("index.html").exists(),
            "web/dist was not built"
        );
        if dist().join("index.html").exists() {
            assert!(html.contains("<div id=\"root\">"), "{path}: {html}");
        } else {
            assert!(html.contains("dashboard was not built"), "{path}: {html}");
        }
    }
    // the client API keeps its own errors: unknown routes are JSON 404s, not the app
    let r = anon.get(gw.v1("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unknown_route");
    let r = anon.post(format!("{}/", gw.url)).send().await.unwrap();
    assert_eq!(r.status(), 404, "only GET and HEAD reach the app");
    let r = anon
        .get(format!("{}/missing.js", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "a missing file is not answered with the app"
    );
    let r = anon.get(gw.api("/keys")).send().await.unwrap();
    assert_eq!(r.status(), 401, "the app's routes do not open the API");

    // hashed assets: the compressed copy the client accepts, cached for good
    let Some(asset) = std::fs::read_dir(dist().join("assets")).ok().and_then(|d| {
        d.filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .find(|n| n.ends_with(".js"))
    }) else {
        return; // dashboard not built: nothing more to check
    };
    let url = format!("{}/assets/{asset}", gw.url);
    let raw = anon.get(&url).send().await.unwrap();
    assert_eq!(raw.status(), 200);
    assert_eq!(
        header(raw.headers(), "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        header(raw.headers(), "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(raw.headers(), "content-encoding"), "");
    let plain = raw.bytes().await.unwrap();
    let br = anon
        .get(&url)
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(header(br.headers(), "content-encoding"), "br");
    assert_eq!(header(br.headers(), "vary"), "accept-encoding");
    let compressed = br.bytes().await.unwrap();
    assert!(
        compressed.len() < plain.len() / 2,
        "{} vs {}",
        compressed.len(),
        plain.len()
    );
    let gz = anon
        .get(&url)
        .header("accept-encoding", "gzip, br;q=0")
        .send()
        .await
        .unwrap();
    assert_eq!(header(gz.headers(), "content-encoding"), "gzip");
    let head = anon.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        header(head.headers(), "content-length"),
        plain.len().to_string()
    );
}

#[tokio::test]
async fn credentials_are_tested_before_they_are_saved() {
    let (_d, mock, gw) = setup().await;
    let before = gw.api_json("/connections").await["connections"]
        .as_array()
        .unwrap()
        .len();
    let test = |body: Value| {
        let gw = &gw;
        async move {
            let r = gw
                .http
                .post(gw.api("/connections/test"))
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = test(
        json!({"provider": "openai", "api_key": "sk-candidate-0123456789",
        "base_url": format!("{}/v1", mock.url())}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["method"], "models");
    assert!(v["models"].as_u64().unwrap() > 0, "{v}");
    // the candidate key reached the upstream
    let seen = mock.last_request().unwrap();
    assert_eq!(
        seen.header("authorization"),
        Some("Bearer sk-candidate-0123456789")
    );
    // an address nothing answers on: a clear failure, not an error status
    let (s, v) = test(json!({"provider": "openai", "api_key": "sk-x",
        "base_url": "http://127.0.0.1:9/v1"}))
    .await;
    assert_eq!((s, v["ok"].clone()), (200, json!(false)), "{v}");
    assert_eq!(v["error"], "unreachable");
    let (s, v) = test(json!({"provider": "no-such-provider", "api_key": "sk-x"})).await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = test(json!({"provider": "openai", "name": "x"})).await;
    assert_eq!(s, 400, "unknown fields are refused");
    let after = gw.api_json("/connections").await["connections"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "testing stores nothing");
}

async fn post_api(gw: &Gateway, path: &str, body: Value) -> (u16, Value) {
    let r = gw.http.post(gw.api(path)).json(&body).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn playground_translates_and_detects_formats() {
    let (_d, _m, gw) = setup().await;
    let openai = json!({"model": "gpt-4o-mini", "max_tokens": 100,
        "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters":
            {"type": "object", "properties": {"city": {"type": "string"}}}}}]});
    let (s, v) = post_api(
        &gw,
        "/translate",
        json!({"to": "anthropic", "body": openai}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["from"].as_str(), v["detected"].as_bool()),
        (Some("openai"), Some(true))
    );
    assert_eq!(v["body"]["system"], "Be terse.", "{v}");
    assert_eq!(v["body"]["tools"][0]["name"], "get_weather");
    assert!(v["body"]["tools"][0]["input_schema"].is_object(), "{v}");
    assert_eq!(v["body"]["messages"][0]["role"], "user");

    // the Anthropic result goes back to Gemini, detected as Anthropic
    let (s, g) = post_api(
        &gw,
        "/translate",
        json!({"to": "gemini", "body": v["body"]}),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(g["from"], "anthropic");
    assert!(g["body"]["contents"].is_array(), "{g}");
    assert!(g["body"]["systemInstruction"].is_object(), "{g}");

    // a response, OpenAI → Responses
    let resp = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sunny."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}});
    let (s, r) = post_api(
        &gw,
        "/translate",
        json!({"kind": "response", "to": "responses", "body": resp, "model": "m"}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["from"], "openai");
    assert_eq!(r["body"]["object"], "response");
    assert_eq!(r["usage"]["output_tokens"], 2);

    for (body, why) in [
        (json!({"to": "klingon", "body": {}}), "unknown format"),
        (
            json!({"to": "openai", "body": "text"}),
            "body not an object",
        ),
        (
            json!({"to": "openai", "from": "anthropic", "body": {"messages": 3}}),
            "not a request of that format",
        ),
        (
            json!({"to": "openai", "kind": "poem", "body": {}}),
            "unknown kind",
        ),
    ] {
        let (s, v) = post_api(&gw, "/translate", body).await;
        assert_eq!(s, 400, "{why}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{why}: {v}"
        );
    }
}

#[tokio::test]
async fn chat_tester_shows_every_stage_of_a_round_trip() {
    let (_d, _m, gw) = setup().await;
    let (s, v) = post_api(
        &gw,
        "/translator/chat",
        json!({"format": "openai", "model": "up-anthropic/mock-small", "prompt": "tester hello"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(
        v["client_request"]["messages"][0]["content"],
        "tester hello"
    );
    assert_eq!(v["client_request"]["stream"], false);
    let a = &v["attempts"][0];
    assert_eq!(a["provider"], "up-anthropic");
    assert_eq!(a["format"], "anthropic");
    assert!(a["url"].as_str().unwrap().ends_with("/v1/messages"), "{a}");
    let sent: Value = serde_json::from_str(a["request"].as_str().unwrap()).unwrap();
    assert_eq!(
        sent["messages"][0]["content"][0]["text"], "tester hello",
        "{sent}"
    );
    assert!(
        sent["max_tokens"].is_u64(),
        "translated into Anthropic's shape: {sent}"
    );
    let raw: Value = serde_json::from_str(a["response"].as_str().unwrap()).unwrap();
    assert_eq!(raw["type"], "message", "the upstream's own answer: {raw}");
    assert_eq!(
        v["response"]["object"], "chat.completion",
        "the client's answer"
    );
    assert_eq!(
        v["response"]["choices"][0]["message"]["content"],
        "echo: tester hello"
    );
    // the round trip is a real request: it is in the log under its id
    let rid = v["request_id"].as_str().unwrap();
    let mut found = false;
    for _ in 0..50 {
        let logs = gw.api_json(&format!("/logs?search={rid}")).await;
        if logs["logs"].as_array().is_some_and(|l| !l.is_empty()) {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found, "the tester's request is logged");

    // Gemini client format: the model travels in the URL
    let (s, v) = post_api(
        &gw,
        "/translator/chat",
        json!({"format": "gemini", "model": "up-openai/mock-small", "prompt": "gemini side"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["response"]["candidates"][0]["content"]["parts"][0]["text"], "echo: gemini side",
        "{v}"
    );
    // an unknown model: the client's own error, no upstream call
    let (s, v) = post_api(
        &gw,
        "/translator/chat",
        json!({"model": "nobody/none", "prompt": "x"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["status"].as_u64().unwrap() >= 400, "{v}");
    assert_eq!(v["attempts"], json!([]));
    let (s, _) = post_api(&gw, "/translator/chat", json!({"model": " "})).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn evals_run_sets_against_several_targets() {
    let (_d, _m, gw) = setup().await;
    let sets = gw.api_json("/evals/sets").await;
    let builtin = &sets["sets"][0];
    assert_eq!(builtin["id"], "builtin");
    assert_eq!(builtin["cases"].as_array().unwrap().len(), 10);

    // validation: a bad regex, duplicate ids, code in a predicate
    for (set, why) in [
        (
            json!({"name": "s", "cases": [{"id": "a", "name": "a", "input": "x",
            "expect": {"strategy": "regex", "pattern": "("}}]}),
            "bad regex",
        ),
        (
            json!({"name": "s", "cases": [
            {"id": "a", "name": "a", "input": "x", "expect": {"strategy": "exact", "value": "1"}},
            {"id": "a", "name": "b", "input": "y", "expect": {"strategy": "exact", "value": "2"}}]}),
            "duplicate ids",
        ),
        (
            json!({"name": "s", "cases": [{"id": "a", "name": "a", "input": "x",
            "expect": {"strategy": "custom", "predicate": {"js": "process.exit()"}}}]}),
            "not a predicate",
        ),
    ] {
        let (s, v) = post_api(&gw, "/evals/sets", set).await;
        assert_eq!(s, 400, "{why}: {v}");
    }
    let r = gw
        .http
        .put(gw.api("/evals/sets/builtin"))
        .json(&json!({"name": "x", "cases": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the built-in set is read-only");

    // the mock answers `echo: <prompt>`: one case passes, one fails, by design
    let (s, set) = post_api(&gw, "/evals/sets", json!({"name": "echo checks", "cases": [
        {"id": "hit", "name": "echoes", "input": "ping 42", "expect": {"strategy": "custom",
            "predicate": {"all": [{"starts_with": "echo:"}, {"number_equals": 42}]}}},
        {"id": "miss", "name": "never", "input": "ping", "expect": {"strategy": "exact", "value": "pong"}},
    ]})).await;
    assert_eq!(s, 201, "{set}");
    let set_id = set["id"].as_str().unwrap();
    let (s, run) = post_api(
        &gw,
        "/evals/runs",
        json!({"set_id": set_id,
        "targets": ["up-openai/mock-small", "up-anthropic/mock-small", "nobody/none"]}),
    )
    .await;
    assert_eq!(s, 202, "{run}");
    assert_eq!(run["status"], "running");
    assert_eq!(run["total"], 6);
    let id = run["id"].as_str().unwrap();
    let mut done = Value::Null;
    for _ in 0..100 {
        let r = gw.api_json(&format!("/evals/runs/{id}")).await;
        if r["status"] == "done" {
            done = r;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(done["status"], "done", "the run finishes");
    let result = |case: &str, target: &str| {
        done["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["case_id"] == case && r["target"] == target)
            .cloned()
            .unwrap_or_else(|| panic!("{case} × {target} in {done}"))
    };
    for target in ["up-openai/mock-small", "up-anthropic/mock-small"] {
        assert_eq!(result("hit", target)["passed"], true, "{target}");
        assert_eq!(result("hit", target)["output"], "echo: ping 42");
        assert_eq!(result("miss", target)["passed"], false, "{target}");
    }
    assert!(result("hit", "nobody/none")["error"].is_string());
    let summary = done["summary"].as_array().unwrap();
    assert_eq!(summary[0]["passed"], 1);
    assert_eq!(summary[0]["failed"], 1);
    assert_eq!(summary[2]["errors"], 2);
    // kept: listed, and deletable
    let runs = gw.api_json("/evals/runs").await;
    assert_eq!(runs["runs"][0]["id"], id);
    let r = gw
        .http
        .delete(gw.api(&format!("/evals/runs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _) = post_api(&gw, "/evals/runs", json!({"set_id": set_id, "targets": []})).await;
    assert_eq!(s, 400, "at least one target");
}

#[tokio::test]
async fn combo_step_budgets_follow_the_combo() {
    let (_d, _m, gw) = setup().await;
    let (s, combo) = post_api(
        &gw,
        "/combos",
        json!({"name": "team", "models": ["up-openai/mock-small"]}),
    )
    .await;
    assert_eq!(s, 201, "{combo}");
    let id = combo["id"].as_str().unwrap();
    let (s, b) = post_api(
        &gw,
        "/usage/budget",
        json!({"combo": "team", "step": "up-openai/mock-small", "limit_usd": 5, "period": "day"}),
    )
    .await;
    assert!(s == 200 || s == 201, "{b}");
    let scopes = |v: &Value| -> Vec<String> {
        v["budgets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["scope"]["combo"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let r = gw
        .http
        .put(gw.api(&format!("/combos/{id}")))
        .json(&json!({"name": "squad", "models": ["up-openai/mock-small"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        scopes(&gw.api_json("/usage/budget").await),
        vec!["squad"],
        "moved with the rename"
    );
    let r = gw
        .http
        .delete(gw.api(&format!("/combos/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        scopes(&gw.api_json("/usage/budget").await).is_empty(),
        "deleted with the combo"
    );
}

#[tokio::test]
async fn cli_tool_configs_are_written_for_this_machine_only() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let path = dir.path().join("omniroute.toml");
    std::fs::write(
        &path,
        config(
            &mock.url(),
            &[("up-openai", "openai", &["sk-up-0123456789"])],
            "",
        ),
    )
    .unwrap();
    let gw = Launch::new(dir.path())
        .arg("--config")
        .arg(path.to_str().unwrap())
        .env("HOME", home.path().to_str().unwrap())
        .start()
        .await;
    let list = gw.api_json("/cli-tools").await;
    assert_eq!(list["local"], true, "{list}");
    assert_eq!(list["tools"].as_array().unwrap().len(), 6);

    // an existing Claude Code settings file: merged, the old one kept
    let claude = home.path().join(".claude/settings.json");
    std::fs::create_dir_all(claude.parent().unwrap()).unwrap();
    std::fs::write(&claude, r#"{"permissions": {"allow": ["Read"]}}"#).unwrap();
    let apply = |tool: &str, extra: Option<(&str, &str)>| {
        let mut r = gw
            .http
            .post(gw.api(&format!("/cli-tools/{tool}/apply")))
            .json(&json!({"key": "sk-omni-written", "model": "up-openai/mock-small"}));
        if let Some((k, v)) = extra {
            r = r.header(k, v);
        }
        r.send()
    };
    let r = apply("claude-code", None).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["backup"]
            .as_str()
            .is_some_and(|b| std::path::Path::new(b).exists()),
        "{v}"
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&claude).unwrap()).unwrap();
    assert_eq!(
        written["permissions"]["allow"][0], "Read",
        "the user's settings stay"
    );
    assert_eq!(written["env"]["ANTHROPIC_AUTH_TOKEN"], "sk-omni-written");
    assert_eq!(written["env"]["ANTHROPIC_BASE_URL"], gw.url.as_str());

    let r = apply("codex", None).await.unwrap();
    assert_eq!(r.status(), 200);
    let codex = std::fs::read_to_string(home.path().join(".codex/config.toml")).unwrap();
    assert!(
        codex.contains(&format!("base_url = \"{}/v1\"", gw.url)),
        "{codex}"
    );

    // through a proxy (not this machine's browser): refused, nothing written
    let r = apply("gemini-cli", Some(("x-forwarded-for", "203.0.113.9")))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!home.path().join(".gemini/.env").exists());
    let r = apply("vim", None).await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn providers_are_blocked_and_unblocked_from_the_api() {
    let (_d, _m, gw) = setup().await;
    let patch = |enabled: bool| {
        gw.http
            .patch(gw.api("/providers/up-openai"))
            .json(&json!({ "enabled": enabled }))
            .send()
    };
    let enabled = |v: &Value| {
        v["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "up-openai")
            .map(|p| p["enabled"].clone())
    };
    let ok = || gw.chat(body("up-openai/mock-small", "blocked?"));
    assert_eq!(ok().await.status(), 200);
    assert_eq!(patch(false).await.unwrap().status(), 200);
    assert_eq!(
        enabled(&gw.api_json("/providers").await),
        Some(json!(false))
    );
    let r = ok().await;
    assert!(
        r.status().is_client_error() || r.status().is_server_error(),
        "{}",
        r.status()
    );
    // the other provider still serves
    assert_eq!(
        gw.chat(body("up-anthropic/mock-small", "still here"))
            .await
            .status(),
        200
    );
    assert_eq!(patch(true).await.unwrap().status(), 200);
    assert_eq!(ok().await.status(), 200, "its connections came back");
    let r = gw
        .http
        .patch(gw.api("/providers/nobody"))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn login_lockouts_are_listed_and_lifted() {
    let (_d, _m, gw) = setup().await;
    let r = gw
        .http
        .post(gw.api("/auth/setup"))
        .json(&json!({"password": "the right password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let anon = reqwest::Client::new();
    let login = |pw: &'static str| {
        anon.post(gw.api("/auth/login"))
            .json(&json!({ "password": pw }))
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(login("wrong password!").await.unwrap().status().as_u16());
    }
    assert_eq!(*statuses.last().unwrap(), 429, "{statuses:?}");
    let list = gw.api_json("/auth/lockouts").await;
    let l = &list["lockouts"][0];
    assert_eq!(l["ip"], "127.0.0.1", "{list}");
    assert!(l["seconds_left"].as_u64().unwrap() > 60);
    assert_eq!(
        login("the right password").await.unwrap().status(),
        429,
        "still locked"
    );
    let r = gw
        .http
        .delete(gw.api("/auth/lockouts/127.0.0.1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        login("the right password").await.unwrap().status(),
        200,
        "unlocked"
    );
    assert_eq!(gw.api_json("/auth/lockouts").await["lockouts"], json!([]));
    let r = gw
        .http
        .delete(gw.api("/auth/lockouts/127.0.0.1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = gw
        .http
        .delete(gw.api("/auth/lockouts/not-an-ip"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn logged_bodies_include_the_translated_request_and_the_upstream_answer() {
    let (_d, _m, gw) = setup().await;
    let r = gw
        .http
        .patch(gw.api("/settings"))
        .json(&json!({"request_bodies": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // OpenAI client → Anthropic upstream, non-stream and stream
    for stream in [false, true] {
        let mut b = body("up-anthropic/mock-small", "bodies please");
        b["stream"] = json!(stream);
        let r = gw.chat(b).await;
        assert_eq!(r.status(), 200);
        let rid = header(r.headers(), "x-request-id").to_string();
        let _ = r.text().await.unwrap();
        let mut row = Value::Null;
        for _ in 0..50 {
            let v = gw.api_json(&format!("/logs/{rid}")).await;
            if v["request_id"] == rid.as_str() {
                row = v;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(row["request_id"], rid.as_str(), "stream={stream}: {row}");
        let client: Value = serde_json::from_str(row["request_body"].as_str().unwrap()).unwrap();
        assert_eq!(client["messages"][0]["content"], "bodies please");
        let sent: Value =
            serde_json::from_str(row["upstream_request_body"].as_str().unwrap()).unwrap();
        assert_eq!(
            sent["messages"][0]["content"][0]["text"], "bodies please",
            "the Anthropic-shaped request: {sent}"
        );
        let answer = row["upstream_response_body"].as_str().unwrap();
        if stream {
            assert!(
                answer.contains("event: message_start"),
                "Anthropic SSE as received: {answer}"
            );
            assert!(row["response_body"]
                .as_str()
                .unwrap()
                .contains("chat.completion.chunk"));
        } else {
            let v: Value = serde_json::from_str(answer).unwrap();
            assert_eq!(v["type"], "message", "{v}");
            assert!(row["response_body"]
                .as_str()
                .unwrap()
                .contains("chat.completion"));
        }
    }
}

#[tokio::test]
async fn requests_waiting_for_a_rate_limit_slot_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(
        &mock.url(),
        &[("up-openai", "openai", &["sk-up-0123456789"])],
        "[settings]\nrate_limit = { max_concurrent = 1 }\nrate_limit_wait_ms = 5000\n",
    );
    let gw = start(dir.path(), &cfg).await;
    // one slow request holds the only slot; two more queue behind it
    let slow = |text: &'static str| {
        let b = body("up-openai/mock-small", text);
        let (http, url) = (gw.http.clone(), gw.v1("/chat/completions"));
        tokio::spawn(async move { http.post(url).json(&b).send().await.unwrap().status() })
    };
    let first = slow("[[mock:first-byte=1500]] holding the slot");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let queued = [slow("queued one"), slow("queued two")];
    let mut seen = (0, 0);
    for _ in 0..40 {
        let v = gw.api_json("/resilience").await;
        let c = &v["connections"][0];
        seen = (
            c["in_use"].as_u64().unwrap(),
            c["waiting"].as_u64().unwrap(),
        );
        assert_eq!(c["limits"]["max_concurrent"], 1, "{c}");
        if seen == (1, 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(seen, (1, 2), "one in flight, two waiting");
    assert_eq!(first.await.unwrap(), 200);
    for q in queued {
        assert_eq!(q.await.unwrap(), 200);
    }
    let c = &gw.api_json("/resilience").await["connections"][0];
    assert_eq!(
        (c["in_use"].as_u64(), c["waiting"].as_u64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn the_outbound_proxy_setting_is_validated_and_kept() {
    let (_d, _m, gw) = setup().await;
    let patch = |v: &'static str| {
        gw.http
            .patch(gw.api("/settings"))
            .json(&json!({ "outbound_proxy": v }))
            .send()
    };
    let r = patch("ftp://proxy.example:21").await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("outbound_proxy"),
        "{v}"
    );
    assert_eq!(
        patch("socks5://127.0.0.1:1080").await.unwrap().status(),
        200
    );
    let s = gw.api_json("/settings").await;
    assert_eq!(s["settings"]["outbound_proxy"], "socks5://127.0.0.1:1080");
    // calls still go direct (the proxy log says so) until proxy support lands
    assert_eq!(
        gw.chat(body("up-openai/mock-small", "direct"))
            .await
            .status(),
        200
    );
}
