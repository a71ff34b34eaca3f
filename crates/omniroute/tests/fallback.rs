//! Fallback, resilience, idempotency and caching end to end: the real binary against mock
//! upstreams whose behaviour is scripted per account (`/__mock/rules`), counted per account
//! (`/__mock/stats`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use mock_upstream::{MockRule, MockUpstream};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_account_falls_over_and_comes_back_after_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let gw = start(
        dir.path(),
        &config(&mock.url(), &[("n1", "openai", &["ka", "kb"])], ""),
    )
    .await;
    mock.add_rule(
        MockRule::new("status=429;retry-after=1")
            .key("ka")
            .model("mock-small")
            .times(1),
    );

    let (status, h, text) = post(&gw, &body("n1/mock-small", "hi")).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(header(&h, "x-omniroute-attempts"), "2");
    assert_eq!((calls(&mock, "ka"), calls(&mock, "kb")), (1, 1));

    // ka is cooling down: the next request goes straight to kb
    let (status, ..) = post(&gw, &body("n1/mock-small", "again")).await;
    assert_eq!(status, 200);
    assert_eq!((calls(&mock, "ka"), calls(&mock, "kb")), (1, 2));
    let state: Value = gw.api_json("/resilience").await;
    let cooling = state["cooldowns"].as_array().unwrap();
    assert_eq!(cooling.len(), 1, "{state}");
    assert_eq!(cooling[0]["connection_name"], "ka");

    // after Retry-After, fill-first uses ka again
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, h, _) = post(&gw, &body("n1/mock-small", "later")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "x-omniroute-attempts"), "1");
    assert_eq!((calls(&mock, "ka"), calls(&mock, "kb")), (2, 2));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_accounts_move_to_the_next_combo_step_in_another_format() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(
        &mock.url(),
        &[
            ("n1", "openai", &["ka", "kb"]),
            ("n2", "anthropic", &["kc"]),
        ],
        "[[combos]]\nname = \"tiered\"\nmodels = [\"n1/mock-small\", \"n2/mock-small\"]\n",
    );
    let gw = start(dir.path(), &cfg).await;
    mock.add_rule(MockRule::new("quota").key("ka"));
    mock.add_rule(MockRule::new("status=503").key("kb"));

    let (status, h, text) = post(&gw, &body("tiered", "hello")).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(header(&h, "x-omniroute-provider"), "n2");
    assert_eq!(header(&h, "x-omniroute-attempts"), "3");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hello");
    assert_eq!(
        v["model"], "tiered",
        "the client sees the model it asked for"
    );

    // streaming takes the same path
    let mut b = body("tiered", "streamed");
    b["stream"] = json!(true);
    let (status, h, text) = post(&gw, &b).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(header(&h, "x-omniroute-provider"), "n2");
    assert_eq!(stream_text(&text), "echo: streamed");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_200_errors_and_empty_streams_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let gw = start(
        dir.path(),
        &config(&mock.url(), &[("n1", "openai", &["ka", "kb"])], ""),
    )
    .await;

    // a JSON error inside an HTTP 200
    mock.add_rule(MockRule::new("error-200").key("ka").times(1));
    let (status, h, text) = post(&gw, &body("n1/mock-small", "one")).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(header(&h, "x-omniroute-attempts"), "2");
    assert!(text.contains("echo: one"));

    // an error event before any content, then an empty stream
    for script in ["error-event", "empty"] {
        let (a, b) = (calls(&mock, "ka"), calls(&mock, "kb"));
        // reset ka's cooldown so it is tried first again
        let r = gw
            .http
            .post(gw.api("/resilience/reset"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        mock.add_rule(MockRule::new(script).key("ka").times(1));
        let mut req = body("n1/mock-small", "two");
        req["stream"] = json!(true);
        let (status, h, text) = post(&gw, &req).await;
        assert_eq!(status, 200, "{script}: {text}");
        assert_eq!(header(&h, "x-omniroute-attempts"), "2", "{script}");
        assert_eq!(stream_text(&text), "echo: two", "{script}");
        assert_eq!(
            (calls(&mock, "ka"), calls(&mock, "kb")),
            (a + 1, b + 1),
            "{script}"
        );
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_after_content_ends_the_stream_without_switching() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let gw = start(
        dir.path(),
        &config(&mock.url(), &[("n1", "openai", &["ka", "kb"])], ""),
    )
    .await;
    mock.add_rule(MockRule::new("chunks=6;cut=3").key("ka"));
    let mut req = body("n1/mock-small", "a long answer please");
    req["stream"] = json!(true);
    let (status, _, text) = post(&gw, &req).await;
    assert_eq!(status, 200);
    let events = sse_data(&text);
    assert!(
        events.iter().any(|e| e.contains("\"error\"")),
        "a clean error event ends the stream: {text}"
    );
    assert!(!stream_text(&text).is_empty(), "content had started");
    assert_eq!(calls(&mock, "kb"), 0, "never switched after content");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_returned_without_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let gw = start(
        dir.path(),
        &config(&mock.url(), &[("n1", "openai", &["ka", "kb"])], ""),
    )
    .await;
    mock.add_rule(MockRule::new("context").key("ka"));
    let (status, h, text) = post(&gw, &body("n1/mock-small", "too long")).await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(header(&h, "x-omniroute-attempts"), "1");
    assert!(text.contains("context"), "{text}");
    mock.clear_rules();
    mock.add_rule(MockRule::new("status=422").key("ka"));
    let (status, ..) = post(&gw, &body("n1/mock-small", "bad")).await;
    assert_eq!(status, 422);
    assert_eq!(calls(&mock, "kb"), 0, "a client error never falls back");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_step_combo_where_only_the_last_works() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let nodes: Vec<(String, String)> = (1..=5)
        .map(|i| (format!("s{i}"), format!("key{i}")))
        .collect();
    let node_refs: Vec<(&str, &str, Vec<&str>)> = nodes
        .iter()
        .map(|(n, k)| (n.as_str(), "openai", vec![k.as_str()]))
        .collect();
    let node_slices: Vec<(&str, &str, &[&str])> = node_refs
        .iter()
        .map(|(n, f, k)| (*n, *f, k.as_slice()))
        .collect();
    let cfg = config(
        &mock.url(),
        &node_slices,
        "[[combos]]\nname = \"five\"\nmodels = [\"s1/mock-small\", \"s2/mock-small\", \"s3/mock-small\", \"s4/mock-small\", \"s5/mock-small\"]\n",
    );
    let gw = start(dir.path(), &cfg).await;
    for (script, key) in [
        ("status=500", "key1"),
        ("status=429", "key2"),
        ("first-byte=5000", "key3"),
        ("status=401", "key4"),
    ] {
        mock.add_rule(MockRule::new(script).key(key));
    }
    let r = gw
        .http
        .put(gw.api("/settings"))
        .json(&json!({"first_byte_timeout_ms": 500}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let (status, h, text) = post(&gw, &body("five", "last one")).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(header(&h, "x-omniroute-provider"), "s5");
    assert_eq!(header(&h, "x-omniroute-attempts"), "5");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_failing_gives_the_last_error_and_no_retry_storm() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(
        &mock.url(),
        &[("n1", "openai", &["ka", "kb"])],
        "[settings]\nbreaker_failure_threshold = 3\nbreaker_open_ms = 60000\n",
    );
    let gw = start(dir.path(), &cfg).await;
    mock.add_rule(MockRule::new("status=500;first-byte=300").model("mock-small"));

    let wave = |n: usize| {
        let gw_http = gw.http.clone();
        let url = gw.v1("/chat/completions");
        async move {
            let mut tasks = Vec::new();
            for i in 0..n {
                let (h, u) = (gw_http.clone(), url.clone());
                tasks.push(tokio::spawn(async move {
                    h.post(u)
                        .json(&body("n1/mock-small", &format!("storm {i}")))
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                }));
            }
            let mut statuses = Vec::new();
            for t in tasks {
                statuses.push(t.await.unwrap());
            }
            statuses
        }
    };
    let statuses = wave(200).await;
    assert!(statuses.iter().all(|s| *s >= 500), "{statuses:?}");
    let first = mock.stats().total;
    assert!(
        first <= 2 * 200,
        "each request tries each account at most once: {first} upstream calls"
    );
    // 200 failures in flight together are one incident for each breaker: still closed
    let state: Value = gw.api_json("/resilience").await;
    for c in state["connections"].as_array().unwrap() {
        assert_eq!(c["breaker"]["state"], "closed", "{state}");
    }
    // a few more separate failures reach the threshold of 3 (the provider's breaker, which
    // sees both accounts fail, opens first)
    let mut opened = false;
    for _ in 0..4 {
        let s = wave(1).await[0];
        assert!(s == 500 || s == 503, "{s}");
        if s == 503 {
            opened = true;
            break;
        }
    }
    assert!(opened, "separate failures open the circuit");
    let first = mock.stats().total;
    // both breakers are open now: a second wave does not reach the upstream at all
    let statuses = wave(200).await;
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    assert_eq!(mock.stats().total, first, "open circuits send nothing");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_is_listed_and_resets() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(
        &mock.url(),
        &[("n1", "openai", &["ka"])],
        "[settings]\nbreaker_failure_threshold = 2\nbreaker_open_ms = 600000\ncooldown_base_ms = 1\ncooldown_max_ms = 1\n",
    );
    let gw = start(dir.path(), &cfg).await;
    mock.add_rule(MockRule::new("status=500").key("ka").times(2));
    for _ in 0..2 {
        let (status, ..) = post(&gw, &body("n1/mock-small", "x")).await;
        assert_eq!(status, 500);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, h, text) = post(&gw, &body("n1/mock-small", "x")).await;
    assert_eq!(status, 503, "circuit open: {text}");
    assert!(h.get("retry-after").is_some());
    assert_eq!(calls(&mock, "ka"), 2);
    let state: Value = gw.api_json("/resilience").await;
    let conn = state["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ka")
        .unwrap();
    assert_eq!(conn["breaker"]["state"], "open", "{state}");
    let id = conn["id"].as_str().unwrap();
    let r = gw
        .http
        .post(gw.api("/resilience/reset"))
        .json(&json!({"id": id}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (status, ..) = post(&gw, &body("n1/mock-small", "x")).await;
    assert_eq!(status, 200, "reset closes the circuit");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooldowns_and_breakers_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(&mock.url(), &[("n1", "openai", &["ka", "kb"])], "");
    let gw = start(dir.path(), &cfg).await;
    mock.add_rule(
        MockRule::new("status=429;retry-after=120")
            .key("ka")
            .times(1),
    );
    let (status, ..) = post(&gw, &body("n1/mock-small", "x")).await;
    assert_eq!(status, 200);
    assert_eq!((calls(&mock, "ka"), calls(&mock, "kb")), (1, 1));
    gw.stop().await;

    let gw = start(dir.path(), &cfg).await;
    let (status, h, _) = post(&gw, &body("n1/mock-small", "y")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "x-omniroute-attempts"), "1");
    assert_eq!(
        (calls(&mock, "ka"), calls(&mock, "kb")),
        (1, 2),
        "ka is still cooling down after the restart"
    );
    // force-unlock through the API
    let state: Value = gw.api_json("/resilience").await;
    let id = state["cooldowns"][0]["connection_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = gw
        .http
        .delete(gw.api(&format!("/resilience/cooldowns/{id}")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (status, ..) = post(&gw, &body("n1/mock-small", "z")).await;
    assert_eq!(status, 200);
    assert_eq!(calls(&mock, "ka"), 2, "unlocked");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_duplicates_reach_the_upstream_once() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let gw = start(
        dir.path(),
        &config(&mock.url(), &[("n1", "openai", &["ka"])], ""),
    )
    .await;
    mock.add_rule(MockRule::new("first-byte=300").key("ka"));
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (h, u) = (gw.http.clone(), gw.v1("/chat/completions"));
        tasks.push(tokio::spawn(async move {
            let r = h
                .post(u)
                .header("idempotency-key", "abc-1")
                .json(&body("n1/mock-small", "once"))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    let mut bodies = Vec::new();
    for t in tasks {
        let (s, b) = t.await.unwrap();
        assert_eq!(s, 200, "{b}");
        bodies.push(b);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "same response");
    assert_eq!(calls(&mock, "ka"), 1, "executed once");
    // a different body with the same key is refused
    let r = gw
        .http
        .post(gw.v1("/chat/completions"))
        .header("idempotency-key", "abc-1")
        .json(&body("n1/mock-small", "something else"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deterministic_requests_are_cached() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let gw = start(
        dir.path(),
        &config(&mock.url(), &[("n1", "openai", &["ka"])], ""),
    )
    .await;
    let mut b = body("n1/mock-small", "cache me");
    b["temperature"] = json!(0);
    let (s1, h1, t1) = post(&gw, &b).await;
    let (s2, h2, t2) = post(&gw, &b).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(header(&h1, "x-omniroute-cache"), "MISS");
    assert_eq!(header(&h2, "x-omniroute-cache"), "HIT");
    assert_eq!(t1, t2);
    assert_eq!(calls(&mock, "ka"), 1);
    let r = gw
        .http
        .post(gw.v1("/chat/completions"))
        .header("x-omniroute-no-cache", "true")
        .json(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-omniroute-cache"], "BYPASS");
    assert_eq!(calls(&mock, "ka"), 2);
    // temperature > 0 is never cached
    b["temperature"] = json!(0.7);
    post(&gw, &b).await;
    post(&gw, &b).await;
    assert_eq!(calls(&mock, "ka"), 4);
    let stats: Value = gw.api_json("/cache").await;
    assert_eq!(stats["hits"], 1, "{stats}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_connection_hands_over_to_the_next_account() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = config(
        &mock.url(),
        &[("n1", "openai", &["ka", "kb"])],
        "[settings]\nrate_limit = { max_concurrent = 1 }\nrate_limit_wait_ms = 50\n",
    );
    let gw = start(dir.path(), &cfg).await;
    mock.add_rule(MockRule::new("first-byte=400").model("mock-small"));
    let mut tasks = Vec::new();
    for i in 0..2 {
        let (h, u) = (gw.http.clone(), gw.v1("/chat/completions"));
        tasks.push(tokio::spawn(async move {
            h.post(u)
                .json(&body("n1/mock-small", &format!("c{i}")))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!((calls(&mock, "ka"), calls(&mock, "kb")), (1, 1));
    gw.stop().await;
}
