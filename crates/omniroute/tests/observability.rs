//! What the gateway tells about itself: live request and console feeds (SSE), the JSON console
//! log in `DATA_DIR/logs`, secrets kept out of every log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use mock_upstream::MockUpstream;
use serde_json::Value;
use std::time::Duration;

async fn setup() -> (tempfile::TempDir, MockUpstream, Gateway) {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = mock_config(dir.path(), &mock.url(), "");
    let gw = Launch::new(dir.path())
        .arg("--config")
        .arg(cfg.to_str().unwrap())
        .start()
        .await;
    (dir, mock, gw)
}

/// Read SSE `data:` payloads from a streaming response until `done` says stop (or 5 s pass).
async fn collect_sse(
    mut resp: reqwest::Response,
    mut done: impl FnMut(&Value) -> bool,
) -> Vec<Value> {
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk()).await;
        let Ok(Ok(Some(chunk))) = chunk else { break };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = buf.find("\n\n") {
            let event: String = buf.drain(..i + 2).collect();
            for line in event.lines() {
                if let Some(d) = line.strip_prefix("data:") {
                    if let Ok(v) = serde_json::from_str::<Value>(d.trim()) {
                        let stop = done(&v);
                        out.push(v);
                        if stop {
                            return out;
                        }
                    }
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_feeds_show_requests_and_console_lines() {
    let (dir, _mock, gw) = setup().await;
    let requests = gw
        .http
        .get(gw.api("/live/requests?provider=mock"))
        .send()
        .await
        .unwrap();
    assert_eq!(requests.status(), 200);
    assert!(requests.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let console = gw
        .http
        .get(gw.api("/live/console?level=warn"))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let r = gw
        .http
        .post(gw.v1("/chat/completions"))
        .header("x-request-id", "live-ok-1")
        .json(&user("hello live"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = collect_sse(requests, |v| {
        v["request_id"] == "live-ok-1" && v["phase"] == "finish"
    })
    .await;
    let mine: Vec<&Value> = events
        .iter()
        .filter(|v| v["request_id"] == "live-ok-1")
        .collect();
    assert_eq!(mine.len(), 2, "{events:?}");
    assert_eq!(mine[0]["phase"], "start");
    assert_eq!(mine[0]["model"], "mock/mock-small");
    assert_eq!(mine[1]["status"], 200);
    assert_eq!(mine[1]["provider"], "mock");

    // a failing request logs a warning: it shows on the console feed (filtered at warn)
    let r = gw
        .http
        .post(gw.v1("/chat/completions"))
        .header("x-request-id", "live-bad-1")
        .json(&user("[[mock:status=400]] nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let lines = collect_sse(console, |v| {
        v["message"].as_str().unwrap_or("").contains("live-bad-1")
    })
    .await;
    let line = lines
        .iter()
        .find(|v| v["message"].as_str().unwrap_or("").contains("live-bad-1"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(line["level"], "WARN");

    // the same lines are in the JSON log file, and no secret is anywhere in it
    gw.stop().await;
    let log = std::fs::read_to_string(dir.path().join("logs/omniroute.log")).unwrap();
    let parsed: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(parsed
        .iter()
        .any(|v| v["level"] == "WARN" && v.to_string().contains("live-bad-1")));
    assert!(!log.contains(UPSTREAM_SECRET), "secret in the JSON log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_telemetry_cost_and_health() {
    let (_dir, _mock, gw) = setup().await;
    let r = gw
        .http
        .put(gw.api("/pricing/mock/mock-small"))
        .json(&serde_json::json!({"input_per_m": 2.0, "output_per_m": 10.0}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    for i in 0..5 {
        let r = gw.chat(user(&format!("hello number {i}"))).await;
        assert_eq!(r.status(), 200);
        // mock usage: prompt = words of the prompt, completion = words of the answer
        let cost: f64 = r.headers()["x-omniroute-cost"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let v: Value = r.json().await.unwrap();
        let (i_t, o_t) = (
            v["usage"]["prompt_tokens"].as_f64().unwrap(),
            v["usage"]["completion_tokens"].as_f64().unwrap(),
        );
        let expect = (i_t * 2.0 + o_t * 10.0) / 1e6;
        assert!((cost - expect).abs() < 1e-9, "{cost} vs {expect}");
    }
    let r = gw.chat(user("[[mock:status=500]] boom")).await;
    assert_eq!(r.status(), 500);

    let text = gw
        .http
        .get(format!("{}/metrics", gw.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // valid exposition: every sample line is `name{labels} value`
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (_, value) = line.rsplit_once(' ').unwrap();
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "{line}"
        );
    }
    assert!(
        text.contains(
            r#"omniroute_requests_total{provider="mock",model="mock-small",status_class="2xx"} 5"#
        ),
        "{text}"
    );
    assert!(text.contains("omniroute_request_duration_seconds_bucket"));
    assert!(text.contains("omniroute_circuit_state"));
    assert!(text.contains("omniroute_cost_usd_total"));

    let t: Value = gw.api_json("/telemetry?window=1m").await;
    assert!(t.to_string().contains("mock"), "{t}");

    let h: Value = gw.api_json("/health").await;
    assert!(
        h["memory"]["rss_bytes"].as_u64().unwrap() > 1_000_000,
        "{h}"
    );
    assert!(h["database"]["bytes"].as_u64().unwrap() > 0);
    assert!(h["cache"].is_object() && h["cooldowns"].is_array());
    assert_eq!(h["log_rows_dropped"], 0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_log_records_attempts_and_feeds_analytics() {
    let (dir, mock, gw) = setup().await;
    let r = gw
        .http
        .put(gw.api("/pricing/mock-small"))
        .json(&serde_json::json!({"input_per_m": 1.0, "output_per_m": 4.0}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = gw
        .http
        .post(gw.v1("/chat/completions"))
        .header("x-request-id", "log-me-1")
        .header("user-agent", "obs-test/1.0")
        .json(&user("log this please"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = gw.chat(user("[[mock:status=503]] down")).await;
    assert_eq!(r.status(), 503);

    // rows are written in batches: wait for them
    let mut row = Value::Null;
    for _ in 0..100 {
        let r = gw.http.get(gw.api("/logs/log-me-1")).send().await.unwrap();
        if r.status() == 200 {
            row = r.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(row["status"], 200, "{row}");
    assert_eq!(row["provider"], "mock");
    assert_eq!(row["user_agent"], "obs-test/1.0");
    assert_eq!(row["client_ip"], "127.0.0.1");
    assert!(row["cost_usd"].as_f64().unwrap() > 0.0, "{row}");
    assert_eq!(row["attempts_detail"][0]["outcome"], "ok", "{row}");
    // where the call went: the proxy log (direct, the mock's address, loopback egress)
    let mock_addr = mock.url().trim_start_matches("http://").to_string();
    let a = &row["attempts_detail"][0];
    assert_eq!(a["route"], "direct", "{row}");
    assert_eq!(a["remote"], mock_addr.as_str());
    assert_eq!(a["egress"], "127.0.0.1");
    let proxy: Value = gw.api_json("/logs/proxy?provider=mock").await;
    let calls = proxy["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "{proxy}");
    let ok = calls
        .iter()
        .find(|c| c["request_id"] == "log-me-1")
        .unwrap();
    assert_eq!(ok["route"], "direct");
    assert_eq!(ok["remote"], mock_addr.as_str());
    assert_eq!(ok["outcome"], "ok");
    assert!(ok["latency_ms"].as_i64().unwrap() >= 0);
    let failed = calls
        .iter()
        .find(|c| c["request_id"] != "log-me-1")
        .unwrap();
    assert_eq!(failed["status"], 503);
    assert_eq!(
        failed["remote"],
        mock_addr.as_str(),
        "an answered failure reached the upstream"
    );

    let errors: Value = gw.api_json("/logs?status_min=500&provider=mock").await;
    let rows = errors["logs"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{errors}");
    assert_eq!(rows[0]["attempts_detail"][0]["status"], 503);

    let a: Value = gw
        .api_json("/analytics?bucket=hour&group_by=provider")
        .await;
    let mock_row = a["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == "mock")
        .unwrap_or_else(|| panic!("{a}"));
    assert_eq!(mock_row["requests"], 2);
    assert_eq!(mock_row["errors"], 1);
    let usage: Value = gw.api_json("/usage").await;
    assert!(usage["keys"].is_array(), "{usage}");

    // the log survives a restart
    gw.stop().await;
    let cfg = dir.path().join("omniroute.toml");
    let gw = Launch::new(dir.path())
        .arg("--config")
        .arg(cfg.to_str().unwrap())
        .start()
        .await;
    let r = gw.http.get(gw.api("/logs/log-me-1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_logged_only_when_enabled_capped_and_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cfg = mock_config(
        dir.path(),
        &mock.url(),
        "[settings]\nrequest_body_max_bytes = 4096\n",
    );
    let gw = Launch::new(dir.path())
        .arg("--config")
        .arg(cfg.to_str().unwrap())
        .env("ENABLE_REQUEST_LOGS", "true")
        .start()
        .await;
    let leaked = "sk-proj-THISISASECRETKEY0123456789";
    let mut body = user(&format!("my key is {leaked} please keep it"));
    body["api_key"] = serde_json::json!("sk-another-secret-0123456789abcdef");
    let r = gw
        .http
        .post(gw.v1("/chat/completions"))
        .header("x-request-id", "bodies-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut s = stream_user("stream me");
    s["model"] = serde_json::json!("mock/mock-small");
    let r = gw
        .http
        .post(gw.v1("/chat/completions"))
        .header("x-request-id", "bodies-2")
        .json(&s)
        .send()
        .await
        .unwrap();
    let streamed = r.text().await.unwrap();
    let mut row = Value::Null;
    let mut row2 = Value::Null;
    for _ in 0..100 {
        let a = gw.http.get(gw.api("/logs/bodies-1")).send().await.unwrap();
        let b = gw.http.get(gw.api("/logs/bodies-2")).send().await.unwrap();
        if a.status() == 200 && b.status() == 200 {
            row = a.json().await.unwrap();
            row2 = b.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let req = row["request_body"]
        .as_str()
        .unwrap_or_else(|| panic!("{row}"));
    assert!(req.contains("please keep it"), "{req}");
    assert!(!req.contains("THISISASECRETKEY"), "{req}");
    assert!(!req.contains("another-secret"), "{req}");
    assert!(row["response_body"].as_str().unwrap().contains("echo:"));
    assert_eq!(
        row2["response_body"].as_str().unwrap().trim_end(),
        streamed.trim_end(),
        "the stream as the client got it"
    );
    gw.stop().await;
    // nowhere on disk in clear
    for f in ["omniroute.db", "omniroute.db-wal", "logs/omniroute.log"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(f)) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("THISISASECRETKEY"), "{f}");
            assert!(!text.contains(UPSTREAM_SECRET), "{f}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_changes_are_audited() {
    let (_dir, _mock, gw) = setup().await;
    let r = gw
        .http
        .put(gw.api("/settings"))
        .json(&serde_json::json!({"max_attempts": 4}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = gw
        .http
        .put(gw.api("/settings"))
        .json(&serde_json::json!({"max_attempts": "many"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // reads are not audited
    gw.http.get(gw.api("/settings")).send().await.unwrap();
    let mut entries = Vec::new();
    for _ in 0..50 {
        let v: Value = gw.api_json("/audit").await;
        entries = v["entries"].as_array().unwrap().clone();
        if entries.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["status"], 400, "newest first");
    assert_eq!(entries[1]["action"], "PUT");
    assert_eq!(entries[1]["target"], "/api/settings");
    assert_eq!(entries[1]["ip"], "127.0.0.1");
    assert_eq!(entries[1]["actor"], "admin-token");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_export_as_otlp_with_genai_attributes() {
    // the mock doubles as the collector; `n1` answers 429, so `n2` serves the combo
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let (k1, k2) = ("sk-otel-secret-aaaaaaaa", "sk-otel-secret-bbbbbbbb");
    mock.add_rule(mock_upstream::MockRule::new("status=429").key(k1));
    let cfg = config(
        &mock.url(),
        &[("n1", "openai", &[k1]), ("n2", "openai", &[k2])],
        &format!(
            "[[combos]]\nname = \"pair\"\nmodels = [\"n1/mock-small\", \"n2/mock-small\"]\n\n\
             [settings]\notel_endpoint = \"{}\"\nbreaker_failure_threshold = 0\n",
            mock.url()
        ),
    );
    let gw = start(dir.path(), &cfg).await;
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let (status, hd, text) = post_h(
        &gw,
        &body("pair", "trace me"),
        &[("traceparent", parent), ("user-agent", "otel-test/1")],
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(header(&hd, "x-omniroute-provider"), "n2");
    let (status, _, _) = post_h(&gw, &body("n2/mock-small", "a second one"), &[]).await;
    assert_eq!(status, 200);

    // exported within the flush interval (1 s)
    let mut spans: Vec<Value> = Vec::new();
    let mut raw = String::new();
    for _ in 0..100 {
        raw.clear();
        spans.clear();
        for r in mock.requests().iter().filter(|r| r.path == "/v1/traces") {
            assert_eq!(r.header("content-type"), Some("application/json"));
            let text = String::from_utf8_lossy(&r.body).to_string();
            let v: Value = serde_json::from_str(&text).unwrap();
            let rs = &v["resourceSpans"][0];
            assert!(rs["resource"]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["key"] == "service.name" && a["value"]["stringValue"] == "omniroute"));
            spans.extend(
                rs["scopeSpans"][0]["spans"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .cloned(),
            );
            raw.push_str(&text);
        }
        if spans.len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        spans.len(),
        5,
        "server + 2 attempts, server + 1 attempt: {spans:#?}"
    );
    assert!(
        !raw.contains("sk-otel-secret"),
        "a credential in the export"
    );
    assert!(!raw.contains("trace me"), "prompt content in the export");
    let attr = |span: &Value, k: &str| -> Option<Value> {
        span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"].clone())
    };
    let traced: Vec<&Value> = spans
        .iter()
        .filter(|s| s["traceId"] == "0af7651916cd43dd8448eb211c80319c")
        .collect();
    assert_eq!(traced.len(), 3, "the caller's trace continues");
    let server = traced.iter().find(|s| s["kind"] == 2).unwrap();
    assert_eq!(server["parentSpanId"], "b7ad6b7169203331");
    assert_eq!(server["name"], "POST /v1/chat/completions");
    assert_eq!(
        attr(server, "gen_ai.request.model").unwrap()["stringValue"],
        "pair"
    );
    assert_eq!(
        attr(server, "omniroute.combo").unwrap()["stringValue"],
        "pair"
    );
    assert_eq!(
        attr(server, "http.response.status_code").unwrap()["intValue"],
        "200"
    );
    assert_eq!(
        attr(server, "user_agent.original").unwrap()["stringValue"],
        "otel-test/1"
    );
    let mut clients: Vec<&&Value> = traced.iter().filter(|s| s["kind"] == 3).collect();
    clients.sort_by_key(|s| {
        attr(s, "omniroute.attempt").unwrap()["intValue"]
            .as_str()
            .unwrap()
            .to_string()
    });
    assert_eq!(clients.len(), 2);
    for c in &clients {
        assert_eq!(c["parentSpanId"], server["spanId"]);
        assert_eq!(c["name"], "chat mock-small");
        assert_eq!(
            attr(c, "gen_ai.operation.name").unwrap()["stringValue"],
            "chat"
        );
        let (start, end): (u64, u64) = (
            c["startTimeUnixNano"].as_str().unwrap().parse().unwrap(),
            c["endTimeUnixNano"].as_str().unwrap().parse().unwrap(),
        );
        assert!(
            start <= end
                && start
                    >= server["startTimeUnixNano"]
                        .as_str()
                        .unwrap()
                        .parse::<u64>()
                        .unwrap()
        );
    }
    let (failed, served) = (clients[0], clients[1]);
    assert_eq!(
        attr(failed, "gen_ai.provider.name").unwrap()["stringValue"],
        "n1"
    );
    assert_eq!(failed["status"]["code"], 2);
    assert_eq!(
        attr(failed, "http.response.status_code").unwrap()["intValue"],
        "429"
    );
    assert_eq!(
        attr(failed, "error.type").unwrap()["stringValue"],
        "rate_limited"
    );
    assert_eq!(
        attr(served, "gen_ai.provider.name").unwrap()["stringValue"],
        "n2"
    );
    assert_eq!(served["status"]["code"], 0);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        attr(served, "gen_ai.usage.input_tokens").unwrap()["intValue"],
        v["usage"]["prompt_tokens"].to_string()
    );
    // the request without a traceparent started a trace of its own
    let other: Vec<&Value> = spans
        .iter()
        .filter(|s| s["traceId"] != "0af7651916cd43dd8448eb211c80319c")
        .collect();
    assert_eq!(other.len(), 2);
    assert_eq!(other[0]["traceId"].as_str().unwrap().len(), 32);
    assert!(other
        .iter()
        .any(|s| s["kind"] == 2 && s.get("parentSpanId").is_none()));

    let health: Value = gw.api_json("/health").await;
    assert_eq!(health["trace_export"]["exported"], 2, "{health}");
    assert_eq!(health["trace_export"]["dropped"], 0);
    gw.stop().await;
}
