//! Routing features end to end: wildcard aliases, the global fallback chain, `provider/*`
//! routes, account and combo strategies, session affinity, combo cycles, global controls
//! (system prompt), the semantic cache and progress events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use mock_upstream::{MockRule, MockUpstream};
use serde_json::{json, Value};

async fn put_settings(gw: &Gateway, v: Value) {
    let r = gw
        .http
        .put(gw.api("/settings"))
        .json(&v)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_aliases_provider_routes_and_the_fallback_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(
        &mock.url(),
        &[("n1", "openai", &["ka"]), ("n2", "anthropic", &["kb"])],
        "",
    );
    let gw = start(dir.path(), &cfg).await;
    put_settings(
        &gw,
        json!({
            "model_aliases": [
                {"pattern": "claude-sonnet-*", "target": "n2/mock-small"},
                {"pattern": "gpt-?o", "target": "n1/*"},
            ],
            "fallback_models": ["n2/mock-small"],
        }),
    )
    .await;

    let (s, hd, t) = post_h(&gw, &body("claude-sonnet-4-5", "alias"), &[]).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(header(&hd, "x-omniroute-provider"), "n2");
    let v: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(
        v["model"], "claude-sonnet-4-5",
        "the client sees its own model name"
    );

    // `provider/*`: the requested name goes unchanged to that provider
    let (s, hd, _) = post_h(&gw, &body("gpt-4o", "wild"), &[]).await;
    assert_eq!(s, 200);
    assert_eq!(header(&hd, "x-omniroute-provider"), "n1");
    assert_eq!(header(&hd, "x-omniroute-model"), "gpt-4o");
    assert_eq!(
        mock.last_request().unwrap().json().unwrap()["model"],
        "gpt-4o"
    );

    // an unknown name goes to the global fallback chain
    let (s, hd, t) = post_h(&gw, &body("nothing-like-this", "fb"), &[]).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(header(&hd, "x-omniroute-provider"), "n2");

    // invalid settings are refused with the field named
    let r = gw
        .http
        .put(gw.api("/settings"))
        .json(&json!({"account_strategy": "telepathy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("account_strategy"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_rotates_accounts_and_sessions_stay_put() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(
        &mock.url(),
        &[("n1", "openai", &["ka", "kb", "kc"])],
        "[settings]\naccount_strategy = \"round_robin\"\nsticky_limit = 1\n",
    );
    let gw = start(dir.path(), &cfg).await;
    for i in 0..6 {
        let (s, ..) = post_h(&gw, &body("n1/mock-small", &format!("rr {i}")), &[]).await;
        assert_eq!(s, 200);
    }
    assert_eq!(
        (calls(&mock, "ka"), calls(&mock, "kb"), calls(&mock, "kc")),
        (2, 2, 2),
        "{:?}",
        mock.stats()
    );

    // a session keeps its account while it is healthy
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..5 {
        let (s, hd, _) = post_h(
            &gw,
            &body("n1/mock-small", &format!("session {i}")),
            &[("x-session-id", "sess-42")],
        )
        .await;
        assert_eq!(s, 200);
        seen.insert(header(&hd, "x-omniroute-connection").to_string());
    }
    assert_eq!(seen.len(), 1, "one account for the whole session: {seen:?}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combo_strategies_and_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(
        &mock.url(),
        &[("n1", "openai", &["ka"]), ("n2", "openai", &["kb"])],
        "[[combos]]\nname = \"rr\"\nstrategy = \"round-robin\"\nmodels = [\"n1/mock-small\", \"n2/mock-small\"]\n\n\
         [[combos]]\nname = \"outer\"\nmodels = [\"rr\"]\n",
    );
    let gw = start(dir.path(), &cfg).await;
    for i in 0..4 {
        let (s, ..) = post_h(&gw, &body("rr", &format!("c {i}")), &[]).await;
        assert_eq!(s, 200);
    }
    assert_eq!((calls(&mock, "ka"), calls(&mock, "kb")), (2, 2));
    // nested combos are followed
    let (s, hd, t) = post_h(&gw, &body("outer", "nested"), &[]).await;
    assert_eq!(s, 200, "{t}");
    assert!(["n1", "n2"].contains(&header(&hd, "x-omniroute-provider")));

    // a cycle is refused at save time
    let r = gw
        .http
        .post(gw.api("/combos"))
        .json(&json!({"name": "loop", "models": ["outer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = gw
        .http
        .put(gw.api("/combos/rr"))
        .json(&json!({"name": "rr", "models": ["loop", "n1/mock-small"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("cycle"), "{text}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_system_prompt_reaches_every_upstream_format() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(
        &mock.url(),
        &[("n1", "openai", &["ka"]), ("n2", "anthropic", &["kb"])],
        "[settings]\nsystem_prompt = \"Answer in English.\"\n",
    );
    let gw = start(dir.path(), &cfg).await;
    // pass-through: a system message after the client's own
    let b = json!({"model": "n1/mock-small", "messages": [
        {"role": "system", "content": "client rules"},
        {"role": "user", "content": "hi"}]});
    let (s, ..) = post_h(&gw, &b, &[]).await;
    assert_eq!(s, 200);
    let sent = mock.last_request().unwrap().json().unwrap();
    assert_eq!(sent["messages"][0]["content"], "client rules");
    assert_eq!(sent["messages"][1]["content"], "Answer in English.");
    // translated to Anthropic: after the client's system text
    let mut b2 = b.clone();
    b2["model"] = json!("n2/mock-small");
    let (s, ..) = post_h(&gw, &b2, &[]).await;
    assert_eq!(s, 200);
    let sent = mock.last_request().unwrap().json().unwrap();
    let system = sent["system"].to_string();
    let (a, z) = (
        system.find("client rules").unwrap(),
        system.find("Answer in English.").unwrap(),
    );
    assert!(a < z, "{system}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_cache_answers_similar_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(
        &mock.url(),
        &[("n1", "openai", &["ka"])],
        "[settings]\nsemantic_cache_enabled = true\nsemantic_cache_model = \"n1/mock-embed\"\nsemantic_cache_threshold = 0.95\n",
    );
    let gw = start(dir.path(), &cfg).await;
    let ask = |text: &str| {
        let mut b = body("n1/mock-small", text);
        b["temperature"] = json!(0);
        b
    };
    let (s, hd, first) = post_h(&gw, &ask("What is the capital of France?"), &[]).await;
    assert_eq!(s, 200);
    assert_eq!(header(&hd, "x-omniroute-cache"), "MISS");
    let (s, hd, again) = post_h(&gw, &ask("what is the capital of france"), &[]).await;
    assert_eq!(s, 200);
    assert_eq!(header(&hd, "x-omniroute-cache"), "SEMANTIC-HIT");
    assert_eq!(first, again);
    let (_, hd, _) = post_h(&gw, &ask("Write a haiku about autumn leaves"), &[]).await;
    assert_eq!(header(&hd, "x-omniroute-cache"), "MISS");
    let chat_calls = mock
        .stats()
        .by_model
        .get("mock-small")
        .copied()
        .unwrap_or(0);
    assert_eq!(chat_calls, 2, "the similar prompt made no chat call");
    let stats: Value = gw.api_json("/cache").await;
    assert_eq!(stats["semantic_hits"], 1, "{stats}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_events_report_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(&mock.url(), &[("n1", "openai", &["ka", "kb"])], "");
    let gw = start(dir.path(), &cfg).await;
    mock.add_rule(MockRule::new("status=500").key("ka"));
    let mut b = body("n1/mock-small", "progress please");
    b["stream"] = json!(true);
    let (s, _, text) = post_h(&gw, &b, &[("x-omniroute-progress", "true")]).await;
    assert_eq!(s, 200);
    let progress: Vec<Value> = text
        .split("\n\n")
        .filter(|e| e.starts_with("event: progress"))
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let statuses: Vec<&str> = progress
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["trying", "failed", "trying", "streaming"],
        "{text}"
    );
    assert_eq!(progress[1]["outcome"], "server_error");
    assert_eq!(progress[3]["provider"], "n1");
    assert_eq!(progress[3]["attempt"], 2);
    assert_eq!(stream_text(&text), "echo: progress please");

    // everything fails: the status is already 200, the error is an event
    mock.add_rule(MockRule::new("status=503").key("kb"));
    let (s, _, text) = post_h(&gw, &b, &[("x-omniroute-progress", "true")]).await;
    assert_eq!(s, 200);
    let data = sse_data(&text);
    assert!(
        data.iter().any(|d| d.contains("\"error\"")),
        "an error event ends it: {text}"
    );
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_optimized_combo_follows_the_pricing_table() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(
        &mock.url(),
        &[("n1", "openai", &["ka"]), ("n2", "openai", &["kb"])],
        "[[combos]]\nname = \"thrifty\"\nstrategy = \"cost_optimized\"\nmodels = [\"n1/mock-small\", \"n2/mock-small\"]\n",
    );
    let gw = start(dir.path(), &cfg).await;
    // unpriced: the given order
    let (_, hd, _) = post_h(&gw, &body("thrifty", "a"), &[]).await;
    assert_eq!(header(&hd, "x-omniroute-provider"), "n1");
    for (model, input, output) in [("n1/mock-small", 3.0, 15.0), ("n2/mock-small", 0.25, 2.0)] {
        let r = gw
            .http
            .put(gw.api(&format!("/pricing/{model}")))
            .json(&json!({"input_per_m": input, "output_per_m": output}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    let (_, hd, _) = post_h(&gw, &body("thrifty", "b"), &[]).await;
    assert_eq!(
        header(&hd, "x-omniroute-provider"),
        "n2",
        "the cheaper step first"
    );
    let list: Value = gw.api_json("/pricing?source=api").await;
    assert_eq!(list["pricing"].as_array().unwrap().len(), 2, "{list}");
    // invalid prices are refused; deleting restores the given order
    let r = gw
        .http
        .put(gw.api("/pricing/n1/mock-small"))
        .json(&json!({"input_per_m": -1.0, "output_per_m": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    for model in ["n1/mock-small", "n2/mock-small"] {
        let r = gw
            .http
            .delete(gw.api(&format!("/pricing/{model}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let (_, hd, _) = post_h(&gw, &body("thrifty", "c"), &[]).await;
    assert_eq!(header(&hd, "x-omniroute-provider"), "n1");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_block_keys_and_skip_combo_steps() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let key = "sk-budget-test-0123456789abcdef";
    let cfg = config(
        &mock.url(),
        &[("n1", "openai", &["ka"]), ("n2", "openai", &["kb"])],
        &format!(
            "[[combos]]\nname = \"tiered\"\nmodels = [\"n1/mock-small\", \"n2/mock-small\"]\n\n\
             [[keys]]\nname = \"budgeted\"\nkey = \"{key}\"\n"
        ),
    );
    let gw = start(dir.path(), &cfg).await;
    for model in ["n1/mock-small", "n2/mock-small"] {
        let r = gw
            .http
            .put(gw.api(&format!("/pricing/{model}")))
            .json(&json!({"input_per_m": 1000.0, "output_per_m": 1000.0}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    // combo step budget: one request spends n1's budget, the next falls to n2
    let r = gw
        .http
        .post(gw.api("/usage/budget"))
        .json(&json!({"combo": "tiered", "step": "n1/mock-small", "limit_usd": 0.001, "period": "day"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let auth = format!("Bearer {key}");
    let (_, hd, _) = post_h(
        &gw,
        &body("tiered", "one two three"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(header(&hd, "x-omniroute-provider"), "n1");
    let (_, hd, _) = post_h(
        &gw,
        &body("tiered", "four five six"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(
        header(&hd, "x-omniroute-provider"),
        "n2",
        "n1's step budget is spent"
    );

    // key budget: the next request is refused in the client's own format (the budget is seeded
    // from the request log, written in batches: wait for the two rows)
    for _ in 0..100 {
        let logs: Value = gw.api_json("/logs").await;
        if logs["logs"].as_array().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let keys: Value = gw.api_json("/keys").await;
    let key_id = keys["keys"][0]["id"].as_str().unwrap().to_string();
    let r = gw
        .http
        .post(gw.api("/usage/budget"))
        .json(&json!({"key_id": key_id, "limit_usd": 0.001, "period": "month"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    assert!(
        v["spent_usd"].as_f64().unwrap() > 0.001,
        "seeded from the log: {v}"
    );
    assert!(v["resets_at_ms"].as_i64().unwrap() > v["period_start_ms"].as_i64().unwrap());
    let (s, hd, t) = post_h(
        &gw,
        &body("n1/mock-small", "more"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(s, 429, "{t}");
    assert!(hd.get("retry-after").is_some());
    assert!(t.contains("budget_exceeded"), "{t}");
    let r = gw
        .http
        .post(gw.v1("/messages"))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "n1/mock-small", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error", "Anthropic error shape: {v}");
    assert_eq!(v["error"]["type"], "rate_limit_error");

    let list: Value = gw.api_json("/usage/budget").await;
    assert_eq!(list["budgets"].as_array().unwrap().len(), 2, "{list}");
    // removing the key budget lets the key through again
    let id = list["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["scope"]["scope"] == "key")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = gw
        .http
        .delete(gw.api(&format!("/usage/budget/{id}")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (s, ..) = post_h(
        &gw,
        &body("n1/mock-small", "again"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(s, 200);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_models_are_priced_by_default_and_the_owner_overrides() {
    // the catalog's OpenAI provider, pointed at the mock through its connection
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = format!(
        "[[connections]]\nprovider = \"openai\"\nname = \"main\"\napi_key = \"sk-default-price-0123456789\"\nbase_url = \"{}/v1\"\n",
        mock.url()
    );
    let gw = start(dir.path(), &cfg).await;
    let defaults: Value = gw.api_json("/pricing?source=default").await;
    let defaults = defaults["pricing"].as_array().unwrap();
    let price = defaults
        .iter()
        .find(|p| p["model"].as_str().unwrap().starts_with("openai/"))
        .unwrap_or_else(|| panic!("no default OpenAI price: {defaults:?}"))
        .clone();
    assert!(price["reference"].as_str().is_some_and(|r| !r.is_empty()));
    let model = price["model"].as_str().unwrap().to_string();
    let cost_of = |hd: &reqwest::header::HeaderMap, text: &str, input: f64, output: f64| {
        let v: Value = serde_json::from_str(text).unwrap();
        let (i, o) = (
            v["usage"]["prompt_tokens"].as_f64().unwrap(),
            v["usage"]["completion_tokens"].as_f64().unwrap(),
        );
        let cost: f64 = header(hd, "x-omniroute-cost").parse().unwrap();
        (cost, (i * input + o * output) / 1e6)
    };
    let (status, hd, text) = post_h(&gw, &body(&model, "price me please"), &[]).await;
    assert_eq!(status, 200, "{text}");
    let (cost, expect) = cost_of(
        &hd,
        &text,
        price["input_per_m"].as_f64().unwrap(),
        price["output_per_m"].as_f64().unwrap(),
    );
    assert!(
        cost > 0.0 && (cost - expect).abs() < 1e-12,
        "{cost} vs {expect}"
    );

    // the owner's price wins; deleting it brings the default back
    let r = gw
        .http
        .put(gw.api(&format!("/pricing/{model}")))
        .json(&json!({"input_per_m": 1000.0, "output_per_m": 1000.0}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (_, hd, text) = post_h(&gw, &body(&model, "price me again"), &[]).await;
    let (cost, expect) = cost_of(&hd, &text, 1000.0, 1000.0);
    assert!((cost - expect).abs() < 1e-12, "{cost} vs {expect}");
    let listed: Value = gw.api_json("/pricing").await;
    let entry = listed["pricing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == model.as_str())
        .unwrap();
    assert_eq!(entry["source"], "api");
    let r = gw
        .http
        .delete(gw.api(&format!("/pricing/{model}")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let listed: Value = gw.api_json("/pricing").await;
    let entry = listed["pricing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == model.as_str())
        .unwrap();
    assert_eq!(entry["source"], "default");
    gw.stop().await;
}
