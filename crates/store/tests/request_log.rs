//! The request log against a real SQLite file: every column round-trips, the filtered listing
//! and its cursor, analytics on a small known dataset (exact numbers), usage and spend, and
//! retention by rows, age and bytes (directly and through the writer, changed at run time).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use omniroute_store::*;
use std::time::Duration;

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// A UTC midnight.
const T0: i64 = 1_700_006_400_000;

async fn open(dir: &std::path::Path) -> Store {
    let cipher = Cipher::load_or_create(None, &dir.join("secret.key")).unwrap();
    Store::open(&dir.join("omniroute.db"), cipher)
        .await
        .unwrap()
}

fn row(request_id: &str, ts: i64, status: u16) -> RequestLog {
    RequestLog {
        request_id: request_id.into(),
        ts,
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        status,
        ..Default::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn every_column_round_trips_and_get_log_finds_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (key, _) = store.create_key("laptop").await.unwrap();
    // 250 ASCII characters then multi-byte ones: the cap counts characters
    let long_agent = format!("{}{}", "a".repeat(250), "é".repeat(20));
    let full = RequestLog {
        id: 0,
        request_id: "req-1".into(),
        ts: T0 + 1234,
        method: "POST".into(),
        path: "/v1/messages".into(),
        client_format: Some("anthropic".into()),
        model: Some("coding".into()),
        provider: Some("openai".into()),
        connection_id: Some("conn_1".into()),
        upstream_model: Some("gpt-4.1".into()),
        stream: true,
        status: 200,
        latency_ms: 1500,
        ttfb_ms: Some(320),
        input_tokens: Some(1000),
        output_tokens: Some(200),
        cached_tokens: Some(600),
        reasoning_tokens: Some(50),
        cost_usd: Some(0.012_5),
        cache_hit: Some("MISS".into()),
        client_ip: Some("203.0.113.7".into()),
        user_agent: Some(long_agent.clone()),
        combo: Some("coding".into()),
        api_key_id: Some(key.id.clone()),
        error: None,
        attempts: 2,
        attempts_detail: vec![
            AttemptLog {
                provider: "anthropic".into(),
                connection: Some("conn_0".into()),
                model: "claude-sonnet-4-5".into(),
                outcome: "rate_limited".into(),
                status: Some(429),
                latency_ms: 80,
                ..Default::default()
            },
            AttemptLog {
                provider: "openai".into(),
                connection: Some("conn_1".into()),
                model: "gpt-4.1".into(),
                outcome: "ok".into(),
                status: Some(200),
                latency_ms: 1400,
                ..Default::default()
            },
        ],
        request_body: Some(r#"{"model":"coding","messages":[]}"#.into()),
        response_body: Some(r#"{"content":[{"type":"text","text":"hi"}]}"#.into()),
        upstream_request_body: Some(r#"{"contents":[]}"#.into()),
        upstream_response_body: Some(r#"{"candidates":[]}"#.into()),
    };
    let bytes = store
        .insert_logs(std::slice::from_ref(&full))
        .await
        .unwrap();
    assert!(
        bytes > LOG_ROW_OVERHEAD + 256,
        "estimate counts the text: {bytes}"
    );

    let got = store.get_log("req-1").await.unwrap().unwrap();
    assert!(got.id > 0);
    let capped: String = long_agent.chars().take(USER_AGENT_MAX_CHARS).collect();
    assert_eq!(capped.chars().count(), 256);
    assert_eq!(got.user_agent.as_deref(), Some(capped.as_str()));
    let expected = RequestLog {
        id: got.id,
        user_agent: Some(capped),
        ..full.clone()
    };
    assert_eq!(got, expected);
    assert_eq!(store.get_log_by_id(got.id).await.unwrap(), Some(expected));

    // listings leave the bodies out
    let listed = &store.recent_logs(10).await.unwrap()[0];
    assert_eq!(listed.id, got.id);
    assert_eq!(listed.request_body, None);
    assert_eq!(listed.response_body, None);
    assert_eq!(listed.upstream_request_body, None);
    assert_eq!(listed.upstream_response_body, None);
    assert_eq!(listed.attempts_detail, full.attempts_detail);
    assert_eq!(listed.cost_usd, Some(0.012_5));

    // defaults stay NULL / empty
    store.insert_logs(&[row("req-2", T0, 502)]).await.unwrap();
    let bare = store.get_log("req-2").await.unwrap().unwrap();
    assert_eq!(
        bare,
        RequestLog {
            id: bare.id,
            ..row("req-2", T0, 502)
        }
    );

    // a reused request id: the newest row
    store
        .insert_logs(&[RequestLog {
            latency_ms: 7,
            ..row("req-1", T0 + 5000, 200)
        }])
        .await
        .unwrap();
    assert_eq!(store.get_log("req-1").await.unwrap().unwrap().latency_ms, 7);
    assert_eq!(store.get_log("nope").await.unwrap(), None);
    assert_eq!(store.get_log_by_id(999_999).await.unwrap(), None);
}

#[tokio::test]
async fn query_filters_and_cursor_paging() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (k1, _) = store.create_key("k1").await.unwrap();
    let (k2, _) = store.create_key("k2").await.unwrap();
    let rows: Vec<RequestLog> = (0..40)
        .map(|i| RequestLog {
            provider: Some(if i % 2 == 0 { "openai" } else { "anthropic" }.into()),
            model: Some(if i % 4 == 0 { "fast" } else { "openai/gpt-4.1" }.into()),
            upstream_model: Some(if i % 2 == 0 { "gpt-4.1" } else { "claude-x" }.into()),
            combo: (i % 4 == 0).then(|| "fast".into()),
            connection_id: Some(format!("conn_{}", i % 3)),
            api_key_id: Some(if i < 10 { &k1.id } else { &k2.id }.clone()),
            error: (i % 5 == 0).then(|| format!("upstream said 100%_sure #{i}")),
            ..row(
                &format!("req-{i:02}"),
                T0 + i * MIN,
                [200, 429, 500, 400][i as usize % 4],
            )
        })
        .collect();
    store.insert_logs(&rows[..]).await.unwrap();
    let ids = |v: &[RequestLog]| v.iter().map(|r| r.request_id.clone()).collect::<Vec<_>>();
    let q = |q: LogQuery| {
        let store = store.clone();
        async move { store.query_logs(&q).await.unwrap() }
    };

    let all = q(LogQuery::default()).await;
    assert_eq!(all.len(), 40);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert!(all.iter().all(|r| r.request_body.is_none()));

    let by_provider = q(LogQuery {
        provider: Some("anthropic".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_provider.len(), 20);
    assert!(by_provider
        .iter()
        .all(|r| r.provider.as_deref() == Some("anthropic")));

    // model matches the requested or the upstream model
    assert_eq!(
        q(LogQuery {
            model: Some("fast".into()),
            ..Default::default()
        })
        .await
        .len(),
        10
    );
    assert_eq!(
        q(LogQuery {
            model: Some("claude-x".into()),
            ..Default::default()
        })
        .await
        .len(),
        20
    );
    assert_eq!(
        q(LogQuery {
            api_key_id: Some(k1.id.clone()),
            ..Default::default()
        })
        .await
        .len(),
        10
    );
    assert_eq!(
        q(LogQuery {
            combo: Some("fast".into()),
            ..Default::default()
        })
        .await
        .len(),
        10
    );
    assert_eq!(
        q(LogQuery {
            connection_id: Some("conn_0".into()),
            ..Default::default()
        })
        .await
        .len(),
        14
    );
    // status range: 429 and 500 (i % 4 in 1, 2)
    let mid = q(LogQuery {
        status_min: Some(401),
        status_max: Some(500),
        ..Default::default()
    })
    .await;
    assert_eq!(mid.len(), 20);
    assert!(mid.iter().all(|r| r.status == 429 || r.status == 500));
    // errors only
    assert_eq!(
        q(LogQuery {
            status_min: Some(400),
            ..Default::default()
        })
        .await
        .len(),
        30
    );
    // time window [since, until)
    assert_eq!(
        ids(&q(LogQuery {
            since_ms: Some(T0 + 5 * MIN),
            until_ms: Some(T0 + 8 * MIN),
            ..Default::default()
        })
        .await),
        vec!["req-07", "req-06", "req-05"]
    );
    // search: request id, error, model; LIKE wildcards are literal
    assert_eq!(
        ids(&q(LogQuery {
            search: Some("req-3".into()),
            ..Default::default()
        })
        .await)
        .len(),
        10
    );
    assert_eq!(
        ids(&q(LogQuery {
            search: Some("100%_SURE #1".into()),
            ..Default::default()
        })
        .await),
        vec!["req-15", "req-10"]
    );
    assert_eq!(
        q(LogQuery {
            search: Some("%".into()),
            ..Default::default()
        })
        .await
        .len(),
        8,
        "only the rows whose error holds a literal %"
    );
    assert_eq!(
        q(LogQuery {
            search: Some("claude".into()),
            ..Default::default()
        })
        .await
        .len(),
        20
    );
    // filters combine
    assert_eq!(
        ids(&q(LogQuery {
            provider: Some("openai".into()),
            api_key_id: Some(k1.id.clone()),
            status_min: Some(500),
            ..Default::default()
        })
        .await),
        vec!["req-06", "req-02"]
    );

    // cursor paging walks every matching row exactly once, newest first
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = q(LogQuery {
            limit: Some(7),
            before_id: cursor,
            provider: Some("openai".into()),
            ..Default::default()
        })
        .await;
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        cursor = Some(page.last().unwrap().id);
        seen.extend(page);
    }
    assert_eq!(seen.len(), 20);
    assert!(seen.windows(2).all(|w| w[0].id > w[1].id));
    let expected: Vec<String> = (0..40)
        .rev()
        .filter(|i| i % 2 == 0)
        .map(|i| format!("req-{i:02}"))
        .collect();
    assert_eq!(ids(&seen), expected);
    // limit is clamped
    assert_eq!(
        q(LogQuery {
            limit: Some(0),
            ..Default::default()
        })
        .await
        .len(),
        1
    );
}

/// r1, r2 in hour 0 of day 0; r3 in hour 1; r4 on day 1.
async fn analytics_dataset(store: &Store) -> (String, String) {
    let (k1, _) = store.create_key("k1").await.unwrap();
    let (k2, _) = store.create_key("k2").await.unwrap();
    let rows = [
        RequestLog {
            provider: Some("openai".into()),
            model: Some("coding".into()),
            upstream_model: Some("gpt-4.1".into()),
            combo: Some("coding".into()),
            connection_id: Some("conn_a".into()),
            api_key_id: Some(k1.id.clone()),
            latency_ms: 100,
            ttfb_ms: Some(50),
            input_tokens: Some(10),
            output_tokens: Some(5),
            cached_tokens: Some(2),
            reasoning_tokens: Some(1),
            cost_usd: Some(0.5),
            ..row("r1", T0 + 10 * MIN, 200)
        },
        RequestLog {
            provider: Some("openai".into()),
            model: Some("openai/gpt-4.1".into()),
            upstream_model: Some("gpt-4.1".into()),
            connection_id: Some("conn_a".into()),
            api_key_id: Some(k2.id.clone()),
            latency_ms: 300,
            ..row("r2", T0 + 20 * MIN, 500)
        },
        RequestLog {
            provider: Some("anthropic".into()),
            model: Some("claude-x".into()),
            upstream_model: Some("claude-x".into()),
            connection_id: Some("conn_b".into()),
            api_key_id: Some(k1.id.clone()),
            latency_ms: 200,
            ttfb_ms: Some(100),
            input_tokens: Some(20),
            output_tokens: Some(10),
            cost_usd: Some(1.25),
            ..row("r3", T0 + HOUR + 5 * MIN, 200)
        },
        RequestLog {
            // failed before routing: only the requested model is known
            model: Some("claude-x".into()),
            latency_ms: 50,
            ttfb_ms: Some(10),
            ..row("r4", T0 + DAY + 30_000, 429)
        },
    ];
    // two batches: the aggregates add up across them
    store.insert_logs(&rows[..1]).await.unwrap();
    store.insert_logs(&rows[1..]).await.unwrap();
    (k1.id, k2.id)
}

fn summary(rows: &[AnalyticsRow]) -> Vec<(i64, Option<&str>, i64, i64)> {
    rows.iter()
        .map(|r| (r.bucket_start_ms, r.group.as_deref(), r.requests, r.errors))
        .collect()
}

#[tokio::test]
async fn analytics_buckets_and_groups_on_a_known_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (k1, k2) = analytics_dataset(&store).await;
    let query = |bucket, group_by, since_ms, until_ms| AnalyticsQuery {
        since_ms,
        until_ms,
        bucket,
        group_by,
    };

    // hourly totals, every field
    let hourly = store
        .analytics(&query(Bucket::Hour, GroupBy::None, T0, T0 + 2 * DAY))
        .await
        .unwrap();
    assert_eq!(
        hourly,
        vec![
            AnalyticsRow {
                bucket_start_ms: T0,
                group: None,
                requests: 2,
                errors: 1,
                input_tokens: 10,
                output_tokens: 5,
                cached_tokens: 2,
                reasoning_tokens: 1,
                cost_usd: 0.5,
                avg_latency_ms: 200.0,
                avg_ttft_ms: Some(50.0),
            },
            AnalyticsRow {
                bucket_start_ms: T0 + HOUR,
                group: None,
                requests: 1,
                errors: 0,
                input_tokens: 20,
                output_tokens: 10,
                cached_tokens: 0,
                reasoning_tokens: 0,
                cost_usd: 1.25,
                avg_latency_ms: 200.0,
                avg_ttft_ms: Some(100.0),
            },
            AnalyticsRow {
                bucket_start_ms: T0 + DAY,
                group: None,
                requests: 1,
                errors: 1,
                input_tokens: 0,
                output_tokens: 0,
                cached_tokens: 0,
                reasoning_tokens: 0,
                cost_usd: 0.0,
                avg_latency_ms: 50.0,
                avg_ttft_ms: Some(10.0),
            },
        ]
    );

    // daily by provider (None = not routed)
    let daily = store
        .analytics(&query(Bucket::Day, GroupBy::Provider, T0, T0 + 2 * DAY))
        .await
        .unwrap();
    assert_eq!(
        summary(&daily),
        vec![
            (T0, Some("anthropic"), 1, 0),
            (T0, Some("openai"), 2, 1),
            (T0 + DAY, None, 1, 1),
        ]
    );
    assert!(close(daily[1].cost_usd, 0.5));
    assert!(close(daily[1].avg_latency_ms, 200.0));
    assert_eq!(daily[0].input_tokens, 20);

    // by model: the upstream model, else the requested one
    let by_model = store
        .analytics(&query(Bucket::Day, GroupBy::Model, T0, T0 + 2 * DAY))
        .await
        .unwrap();
    assert_eq!(
        summary(&by_model),
        vec![
            (T0, Some("claude-x"), 1, 0),
            (T0, Some("gpt-4.1"), 2, 1),
            (T0 + DAY, Some("claude-x"), 1, 1),
        ]
    );

    // by key, combo, connection
    let by_key = store
        .analytics(&query(Bucket::Day, GroupBy::ApiKey, T0, T0 + DAY))
        .await
        .unwrap();
    let mut expected = vec![(T0, Some(k1.as_str()), 2, 0), (T0, Some(k2.as_str()), 1, 1)];
    expected.sort();
    assert_eq!(summary(&by_key), expected);
    let by_combo = store
        .analytics(&query(Bucket::Hour, GroupBy::Combo, T0, T0 + HOUR))
        .await
        .unwrap();
    assert_eq!(
        summary(&by_combo),
        vec![(T0, None, 1, 1), (T0, Some("coding"), 1, 0)]
    );
    let by_conn = store
        .analytics(&query(Bucket::Day, GroupBy::Connection, T0, T0 + DAY))
        .await
        .unwrap();
    assert_eq!(
        summary(&by_conn),
        vec![(T0, Some("conn_a"), 2, 1), (T0, Some("conn_b"), 1, 0)]
    );

    // minute buckets come from the rows themselves
    let minutes = store
        .analytics(&query(Bucket::Minute, GroupBy::Model, T0, T0 + 2 * HOUR))
        .await
        .unwrap();
    assert_eq!(
        summary(&minutes),
        vec![
            (T0 + 10 * MIN, Some("gpt-4.1"), 1, 0),
            (T0 + 20 * MIN, Some("gpt-4.1"), 1, 1),
            (T0 + HOUR + 5 * MIN, Some("claude-x"), 1, 0),
        ]
    );
    assert_eq!(minutes[0].cached_tokens, 2);
    assert_eq!(minutes[1].avg_ttft_ms, None);

    // the range is rounded out to whole buckets
    let rounded = store
        .analytics(&query(
            Bucket::Hour,
            GroupBy::None,
            T0 + 15 * MIN,
            T0 + HOUR + MIN,
        ))
        .await
        .unwrap();
    assert_eq!(
        summary(&rounded),
        vec![(T0, None, 2, 1), (T0 + HOUR, None, 1, 0)]
    );
    assert!(store
        .analytics(&query(
            Bucket::Hour,
            GroupBy::None,
            T0 + 3 * DAY,
            T0 + 4 * DAY
        ))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .analytics(&query(Bucket::Day, GroupBy::None, T0 + DAY, T0))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn usage_and_spend_outlive_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (k1, k2) = analytics_dataset(&store).await;

    let usage = store.usage_by_key(T0).await.unwrap();
    assert_eq!(usage.len(), 3);
    assert_eq!(usage[0].api_key_id.as_deref(), Some(k1.as_str()));
    assert_eq!(
        (
            usage[0].requests,
            usage[0].input_tokens,
            usage[0].output_tokens
        ),
        (2, 30, 15)
    );
    assert!(close(usage[0].cost_usd, 1.75));
    assert_eq!(usage[0].last_used_ms, T0 + HOUR + 5 * MIN);
    let mut rest: Vec<_> = usage[1..]
        .iter()
        .map(|u| (u.api_key_id.clone(), u.requests, u.last_used_ms))
        .collect();
    rest.sort();
    assert_eq!(
        rest,
        vec![
            (None, 1, T0 + DAY + 30_000),
            (Some(k2.clone()), 1, T0 + 20 * MIN)
        ]
    );
    // an unaligned start: the rows before the first whole hour come from the log (r2 only)
    let mut late: Vec<_> = store
        .usage_by_key(T0 + 15 * MIN)
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.api_key_id, u.requests))
        .collect();
    late.sort();
    let mut expected = vec![(None, 1), (Some(k1.clone()), 1), (Some(k2.clone()), 1)];
    expected.sort();
    assert_eq!(late, expected);

    let spend = |key: Option<&'static str>, step: Option<(&'static str, &'static str)>, since| {
        let store = store.clone();
        let k1 = k1.clone();
        async move {
            let key = key.map(|k| if k == "k1" { k1.clone() } else { k.to_string() });
            store.spend(key.as_deref(), step, since).await.unwrap()
        }
    };
    assert!(close(spend(None, None, T0).await, 1.75));
    assert!(close(spend(Some("k1"), None, T0).await, 1.75));
    assert!(close(spend(Some("k1"), None, T0 + 15 * MIN).await, 1.25));
    assert!(close(spend(Some("k1"), None, T0 + 2 * HOUR).await, 0.0));
    assert!(close(spend(Some("nobody"), None, T0).await, 0.0));
    let step = Some(("coding", "openai/gpt-4.1"));
    assert!(close(spend(None, step, T0).await, 0.5));
    assert!(close(spend(None, step, T0 + 5 * MIN).await, 0.5));
    assert!(close(spend(None, step, T0 + 15 * MIN).await, 0.0));
    assert!(close(spend(Some("k1"), step, T0).await, 0.5));
    assert!(close(
        spend(None, Some(("coding", "anthropic/claude-x")), T0).await,
        0.0
    ));

    // pruning every row keeps the aggregates (but not forever)
    let deleted = store
        .prune_logs(&Retention {
            max_rows: Some(0),
            max_age_ms: None,
            max_bytes: None,
            stats_max_age_ms: None,
        })
        .await
        .unwrap();
    assert_eq!(deleted, 4);
    assert!(store.recent_logs(10).await.unwrap().is_empty());
    assert!(close(spend(Some("k1"), None, T0).await, 1.75));
    let day = store
        .analytics(&AnalyticsQuery {
            since_ms: T0,
            until_ms: T0 + 2 * DAY,
            bucket: Bucket::Day,
            group_by: GroupBy::None,
        })
        .await
        .unwrap();
    assert_eq!(
        summary(&day),
        vec![(T0, None, 3, 1), (T0 + DAY, None, 1, 1)]
    );
    store
        .prune_logs(&Retention {
            max_rows: None,
            max_age_ms: None,
            max_bytes: None,
            // the cutoff lands a minute before day 1's first hour: the milliseconds between
            // this `now_ms()` and the store's own must not push it past that hour
            stats_max_age_ms: Some(now_ms() - T0 - DAY + MIN),
        })
        .await
        .unwrap();
    assert!(close(spend(None, None, 0).await, 0.0));
    assert_eq!(store.usage_by_key(0).await.unwrap().len(), 1, "day 1 kept");
}

#[tokio::test]
async fn retention_by_rows_age_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let now = now_ms();
    let none = Retention {
        max_rows: None,
        max_age_ms: None,
        max_bytes: None,
        stats_max_age_ms: None,
    };

    // by age
    store
        .insert_logs(&[
            row("old", now - 10 * DAY, 200),
            row("week", now - 6 * DAY, 200),
            row("new", now, 200),
        ])
        .await
        .unwrap();
    let n = store
        .prune_logs(&Retention {
            max_age_ms: Some(7 * DAY),
            ..none
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    let left: Vec<_> = store
        .recent_logs(10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    assert_eq!(left, vec!["new", "week"]);

    // by rows
    let n = store
        .prune_logs(&Retention {
            max_rows: Some(1),
            ..none
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(store.recent_logs(10).await.unwrap()[0].request_id, "new");

    // by bytes: bodies dominate, the oldest rows go first
    let body = "x".repeat(10_000);
    let rows: Vec<RequestLog> = (0..20)
        .map(|i| RequestLog {
            request_body: Some(body.clone()),
            response_body: Some(body.clone()),
            ..row(&format!("b{i:02}"), now, 200)
        })
        .collect();
    store.insert_logs(&rows[..]).await.unwrap();
    let total = store.log_bytes().await.unwrap();
    assert!(total > 20 * 20_000, "{total}");
    let max = total / 2;
    let n = store
        .prune_logs(&Retention {
            max_bytes: Some(max),
            ..none
        })
        .await
        .unwrap();
    let est = store.log_bytes().await.unwrap();
    assert!(est <= max - max / 16, "{est} > {max}");
    assert!(n >= 10, "{n} rows deleted");
    let left = store.recent_logs(100).await.unwrap();
    assert_eq!(left.len() as u64, 21 - n);
    assert_eq!(left[0].request_id, "b19");
    assert!(
        left.iter()
            .all(|r| r.request_id != "new" && r.request_id != "b00"),
        "oldest first"
    );
    // the running estimate agrees with a count from the table (a fresh handle recounts)
    let again = open(dir.path()).await;
    assert_eq!(again.log_bytes().await.unwrap(), est);

    // a limit below one row empties the log
    store
        .prune_logs(&Retention {
            max_bytes: Some(100),
            ..none
        })
        .await
        .unwrap();
    assert!(store.recent_logs(10).await.unwrap().is_empty());
    assert_eq!(store.log_bytes().await.unwrap(), 0);

    // a bounded prune spreads a large cut over calls
    let rows: Vec<RequestLog> = (0..30).map(|i| row(&format!("s{i}"), now, 200)).collect();
    store.insert_logs(&rows[..]).await.unwrap();
    let all = Retention {
        max_rows: Some(0),
        ..none
    };
    assert_eq!(
        store.prune_logs_bounded(&all, 12).await.unwrap(),
        (12, false)
    );
    assert_eq!(store.recent_logs(100).await.unwrap().len(), 18);
    assert_eq!(
        store.prune_logs_bounded(&all, 12).await.unwrap(),
        (12, false)
    );
    assert_eq!(store.prune_logs_bounded(&all, 12).await.unwrap(), (6, true));
    assert_eq!(store.prune_logs_bounded(&all, 12).await.unwrap(), (0, true));
}

#[tokio::test]
async fn writer_applies_a_retention_changed_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (writer, handle) = LogWriter::spawn(store.clone(), 1024, 10_000);
    assert_eq!(writer.retention().max_rows, Some(10_000));
    let now = now_ms();
    for i in 0..30 {
        writer.log(row(&format!("r{i}"), now - (30 - i) * DAY, 200));
    }
    // written but not pruned: the default age limit (30 days) keeps all but the first
    let mut rows = 0;
    for _ in 0..100 {
        rows = store.recent_logs(100).await.unwrap().len();
        if rows >= 29 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(rows >= 29, "{rows} rows");
    writer.set_retention(Retention {
        max_age_ms: Some(10 * DAY + HOUR),
        ..writer.retention()
    });
    let mut left = Vec::new();
    for _ in 0..100 {
        left = store.recent_logs(100).await.unwrap();
        if left.len() == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left.len(), 10, "pruned when the retention changed");
    assert_eq!(left[9].request_id, "r20");

    // a byte limit through the writer: rows with bodies
    let body = "y".repeat(8_000);
    writer.set_retention(Retention {
        max_rows: None,
        max_age_ms: None,
        max_bytes: Some(100_000),
        stats_max_age_ms: None,
    });
    for i in 0..60 {
        writer.log(RequestLog {
            response_body: Some(body.clone()),
            ..row(&format!("big{i}"), now, 200)
        });
    }
    assert_eq!(writer.dropped(), 0);
    drop(writer);
    handle.await.unwrap();
    let est = store.log_bytes().await.unwrap();
    assert!(est <= 100_000, "{est}");
    let left = store.recent_logs(100).await.unwrap();
    assert_eq!(left[0].request_id, "big59", "the newest rows are kept");
}

#[tokio::test]
async fn writer_keeps_the_log_bounded_under_sustained_load() {
    // 10k rows a second for 3 s against a 1000-row limit: pruning keeps pace with the inflow
    // (at most about a second of traffic over the limit), and the final prune meets the limit
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (writer, handle) = LogWriter::spawn(store.clone(), 16_384, 1_000);
    let now = now_ms();
    let mut peak = 0;
    for b in 0..30 {
        for i in 0..1000 {
            writer.log(row(&format!("r{b}-{i}"), now, 200));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(store.log_rows().await.unwrap());
    }
    let during = store.log_rows().await.unwrap();
    assert_eq!(writer.dropped(), 0);
    assert!(
        peak <= 16_000,
        "the log grew to {peak} rows against a limit of 1000"
    );
    assert!(during <= 16_000, "{during} rows");
    drop(writer);
    handle.await.unwrap();
    assert_eq!(store.log_rows().await.unwrap(), 1_000);
    let newest = store.recent_logs(1).await.unwrap();
    assert_eq!(newest[0].request_id, "r29-999");
}

#[tokio::test]
async fn a_single_successful_attempt_round_trips_in_its_short_form() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let attempt = AttemptLog {
        provider: "openai".into(),
        connection: Some("conn_a".into()),
        model: "gpt-5".into(),
        outcome: "ok".into(),
        status: Some(200),
        latency_ms: 812,
        ..Default::default()
    };
    let base = RequestLog {
        provider: Some("openai".into()),
        connection_id: Some("conn_a".into()),
        upstream_model: Some("gpt-5".into()),
        attempts: 1,
        attempts_detail: vec![attempt.clone()],
        latency_ms: 830,
        ..row("one", T0, 200)
    };
    // the same attempt on a row that says otherwise (another connection served the row) is
    // kept whole
    let other = RequestLog {
        request_id: "other".into(),
        connection_id: Some("conn_b".into()),
        ..base.clone()
    };
    let short = store.insert_logs(vec![base.clone()]).await.unwrap();
    let whole = store.insert_logs(vec![other.clone()]).await.unwrap();
    assert!(whole - short >= 90, "{short} vs {whole} bytes");
    let one = store.get_log("one").await.unwrap().unwrap();
    assert_eq!(one.attempts_detail, vec![attempt.clone()]);
    let two = store.get_log("other").await.unwrap().unwrap();
    assert_eq!(two.attempts_detail, vec![attempt.clone()]);
    // with where the call went (the proxy log's fields): still the short form
    let routed = AttemptLog {
        route: Some("direct".into()),
        remote: Some("[2001:db8::1]:443".into()),
        egress: Some("10.0.0.5".into()),
        ..attempt.clone()
    };
    let with_route = RequestLog {
        request_id: "routed".into(),
        attempts_detail: vec![routed.clone()],
        ..base.clone()
    };
    let routed_bytes = store.insert_logs(vec![with_route]).await.unwrap();
    assert!(routed_bytes < whole, "{routed_bytes} vs {whole}");
    let back = store.get_log("routed").await.unwrap().unwrap();
    assert_eq!(back.attempts_detail, vec![routed]);
    let listed = store.recent_logs(2).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|r| r.attempts_detail.len() == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_keeps_up_beyond_one_batch_per_interval() {
    // 25k rows a second through a 4096-row queue: more than one full batch arrives per flush
    // interval, and nothing may be dropped
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (writer, handle) = LogWriter::spawn(store.clone(), 4096, 1_000_000);
    let now = now_ms();
    for b in 0..40 {
        for i in 0..1250 {
            writer.log(row(&format!("r{b}-{i}"), now, 200));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(writer.dropped(), 0, "rows dropped at 25k rows/s");
    drop(writer);
    handle.await.unwrap();
    assert_eq!(store.log_rows().await.unwrap(), 50_000);
}
