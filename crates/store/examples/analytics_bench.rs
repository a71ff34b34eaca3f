//! Request-log analytics on a large log: inserts realistic rows (several providers, models,
//! connections, gateway keys and combos over 30 days; 1 % with bodies) through `insert_logs`,
//! then times the dashboard's queries and the pruning, and prints the database size.
//!
//! `cargo run --release -p omniroute-store --example analytics_bench`
//!
//! Environment: `ROWS` (default 1 000 000), `BODY_PCT` (rows with bodies, default 1),
//! `BENCH_DB` (a directory to keep the database in; when it already holds one, the insert is
//! skipped and the queries run on it), `PLAN=1` (print the query plans), `INSERT_ONLY=1`, `WRITE_COST_ONLY=1` (with `WRITE_RPS=200,2000`); for
//! tuning experiments, `SQL_PRE` (SQL run first, e.g. an index to try) and `SQL_TIME` (statements
//! separated by `;;` to time instead of the benchmark, `$NOW`/`$BASE` = newest row / 30 days
//! before).
//! Each query figure is the first (cold statement) run and the median of 5 more.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use omniroute_store::*;
use sqlx::Row;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

struct Provider {
    id: &'static str,
    models: &'static [(&'static str, f64, f64)], // model, $/M in, $/M out
    connections: usize,
}

const PROVIDERS: &[Provider] = &[
    Provider {
        id: "openai",
        models: &[
            ("gpt-4.1", 2.0, 8.0),
            ("gpt-4.1-mini", 0.4, 1.6),
            ("o4-mini", 1.1, 4.4),
        ],
        connections: 3,
    },
    Provider {
        id: "anthropic",
        models: &[
            ("claude-sonnet-4-5", 3.0, 15.0),
            ("claude-haiku-4-5", 1.0, 5.0),
            ("claude-opus-4-1", 15.0, 75.0),
        ],
        connections: 4,
    },
    Provider {
        id: "gemini",
        models: &[
            ("gemini-2.5-pro", 1.25, 10.0),
            ("gemini-2.5-flash", 0.3, 2.5),
        ],
        connections: 2,
    },
    Provider {
        id: "openrouter",
        models: &[
            ("deepseek/deepseek-chat-v3.1", 0.27, 1.1),
            ("qwen/qwen3-coder", 0.2, 0.8),
            ("moonshotai/kimi-k2", 0.6, 2.5),
        ],
        connections: 2,
    },
    Provider {
        id: "groq",
        models: &[("llama-3.3-70b-versatile", 0.59, 0.79)],
        connections: 1,
    },
    Provider {
        id: "deepseek",
        models: &[
            ("deepseek-chat", 0.27, 1.1),
            ("deepseek-reasoner", 0.55, 2.19),
        ],
        connections: 1,
    },
];

const COMBOS: &[&str] = &["coding", "cheap", "fast"];
const AGENTS: &[&str] = &[
    "claude-cli/2.0.14 (external, cli)",
    "OpenAI/Python 1.109.1",
    "codex_cli_rs/0.46.0 (Mac OS 15.6.1; arm64) iTerm.app/3.6.1",
    "google-genai-sdk/1.38.0 gl-python/3.12.3",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36 Cline/3.30",
    "OpenAI/JS 5.23.2",
];
const PATHS: &[(&str, &str)] = &[
    ("/v1/chat/completions", "openai"),
    ("/v1/messages", "anthropic"),
    ("/v1/responses", "responses"),
];

fn row(rng: &mut Rng, i: u64, ts: i64, keys: &[String], body_pct: u64) -> RequestLog {
    let p = rng.pick(PROVIDERS);
    let (model, pin, pout) = *rng.pick(p.models);
    let conn = format!("conn_{}{:02}", p.id, rng.below(p.connections as u64));
    let combo = rng.chance(30).then(|| rng.pick(COMBOS).to_string());
    let (path, fmt) = *rng.pick(PATHS);
    let stream = rng.chance(70);
    let roll = rng.below(1000);
    let status: u16 = match roll {
        0..=949 => 200,
        950..=979 => 429,
        980..=989 => 502,
        990..=994 => 400,
        _ => 499,
    };
    let ok = status == 200;
    let input = 200 + rng.below(40_000) as i64;
    let output = 20 + rng.below(3_000) as i64;
    let cached = rng.chance(40).then(|| input * rng.below(90) as i64 / 100);
    let reasoning = model
        .contains("o4")
        .then(|| output * rng.below(80) as i64 / 100)
        .or_else(|| (model.contains("reasoner") || model.contains("pro")).then_some(output / 3));
    let cost = ok.then(|| (input as f64 * pin + output as f64 * pout) / 1e6);
    let latency = 150 + rng.below(if stream { 30_000 } else { 8_000 }) as i64;
    let failed_first = !ok || rng.chance(4);
    let mut attempts = Vec::new();
    if failed_first {
        attempts.push(AttemptLog {
            provider: p.id.into(),
            connection: Some(format!("conn_{}{:02}", p.id, 9)),
            model: model.into(),
            outcome: "rate_limited".into(),
            status: Some(429),
            latency_ms: 80 + rng.below(400) as i64,
            ..Default::default()
        });
    }
    attempts.push(AttemptLog {
        provider: p.id.into(),
        connection: Some(conn.clone()),
        model: model.into(),
        outcome: if ok { "ok" } else { "server_error" }.into(),
        status: Some(status),
        latency_ms: latency,
        ..Default::default()
    });
    let with_body = rng.chance(body_pct);
    RequestLog {
        id: 0,
        request_id: format!("9f3c2a1b-{i:010}"),
        ts,
        method: "POST".into(),
        path: path.into(),
        client_format: Some(fmt.into()),
        model: Some(match &combo {
            Some(c) => c.clone(),
            None => format!("{}/{}", p.id, model),
        }),
        provider: Some(p.id.into()),
        connection_id: Some(conn),
        upstream_model: Some(model.into()),
        stream,
        status,
        latency_ms: latency,
        ttfb_ms: Some(100 + rng.below(2_000) as i64),
        input_tokens: ok.then_some(input),
        output_tokens: ok.then_some(output),
        cached_tokens: cached.filter(|_| ok),
        reasoning_tokens: reasoning.filter(|_| ok),
        cost_usd: cost,
        cache_hit: Some(if rng.chance(3) { "HIT" } else { "MISS" }.into()),
        client_ip: Some(format!("10.0.{}.{}", rng.below(4), rng.below(250))),
        user_agent: Some(rng.pick(AGENTS).to_string()),
        combo,
        api_key_id: Some(rng.pick(keys).clone()),
        error: (!ok).then(|| {
            format!(
                "upstream {} returned {status}: rate limit reached for requests per min; retry after {}s",
                p.id,
                rng.below(60)
            )
        }),
        attempts: attempts.len() as i64,
        attempts_detail: attempts,
        request_body: with_body.then(|| {
            format!(
                r#"{{"model":"{model}","stream":{stream},"messages":[{{"role":"user","content":"{}"}}]}}"#,
                "Refactor the request router so that fallback ordering is stable. ".repeat(60)
            )
        }),
        response_body: with_body.then(|| {
            format!(
                r#"{{"id":"chatcmpl-{i}","choices":[{{"message":{{"role":"assistant","content":"{}"}}}}]}}"#,
                "Here is the patch with the router changes and the tests updated. ".repeat(30)
            )
        }),
        upstream_request_body: None,
        upstream_response_body: None,
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("omniroute.db"))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

async fn time<T, F, Fut>(name: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let t = Instant::now();
    let out = f().await;
    let first = t.elapsed();
    let mut runs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        std::hint::black_box(f().await);
        runs.push(t.elapsed());
    }
    runs.sort();
    println!(
        "{name:<58} first {:>9}   median {:>9}",
        ms(first),
        ms(runs[runs.len() / 2])
    );
    out
}

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::var("ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let body_pct: u64 = std::env::var("BODY_PCT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let plan = std::env::var("PLAN").is_ok_and(|v| v == "1");
    if std::env::var("WRITE_COST_ONLY").is_ok_and(|v| v == "1") {
        return write_cost().await;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = std::env::var("BENCH_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("omniroute.db");
    let existing = db.exists();
    let cipher = Cipher::load_or_create(None, &dir.join("secret.key")).unwrap();
    let store = Store::open(&db, cipher).await.unwrap();

    // "now" = the newest row's time (a kept database is queried as it was written)
    let now = if existing {
        store.recent_logs(1).await.unwrap()[0].ts + 1
    } else {
        let mut keys = Vec::new();
        for k in 0..20 {
            keys.push(store.create_key(&format!("key{k}")).await.unwrap().0.id);
        }
        let now = now_ms();
        let start = now - 30 * DAY;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut took = Duration::ZERO;
        let mut batch = Vec::with_capacity(2048);
        let mut bytes = 0;
        for i in 0..rows {
            let ts = start + (i as i64 * 30 * DAY) / rows as i64;
            batch.push(row(&mut rng, i, ts, &keys, body_pct));
            if batch.len() == 2048 || i + 1 == rows {
                let t = Instant::now();
                bytes += store.insert_logs(std::mem::take(&mut batch)).await.unwrap();
                took += t.elapsed();
            }
        }
        println!(
            "inserted {rows} rows: {:.1} s in insert_logs ({:.1} µs/row, batches of 2048); estimated {:.1} MB",
            took.as_secs_f64(),
            took.as_secs_f64() * 1e6 / rows as f64,
            bytes as f64 / 1e6
        );
        now
    };
    {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let parts = sqlx::query(
            "SELECT name, SUM(pgsize) FROM dbstat WHERE name LIKE 'request%' OR name LIKE 'sqlite_autoindex_request%' \
             GROUP BY name ORDER BY 2 DESC",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let stats: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_stats")
            .fetch_one(&pool)
            .await
            .unwrap();
        let parts: Vec<String> = parts
            .iter()
            .map(|r| {
                format!(
                    "{} {:.1} MB",
                    r.get::<String, _>(0),
                    r.get::<i64, _>(1) as f64 / 1e6
                )
            })
            .collect();
        println!("pages: {} ({stats} aggregate rows)", parts.join(", "));
        pool.close().await;
    }
    let size = dir_size(&dir);
    println!(
        "database: {:.1} MB on disk ({:.0} B/row); log_bytes estimate {:.1} MB",
        size as f64 / 1e6,
        size as f64 / rows as f64,
        store.log_bytes().await.unwrap() as f64 / 1e6
    );

    if let Ok(qs) = std::env::var("SQL_TIME") {
        // experiments: time raw statements (separated by `;;`) on a second handle
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let base = now - 30 * DAY;
        for q in qs.split(";;") {
            let q = q
                .replace("$BASE", &base.to_string())
                .replace("$NOW", &now.to_string());
            for _ in 0..3 {
                let t = Instant::now();
                let rows = sqlx::query(&q).fetch_all(&pool).await.unwrap();
                let first: Vec<String> = rows
                    .first()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| {
                                r.try_get::<i64, _>(i)
                                    .map(|v| v.to_string())
                                    .or_else(|_| r.try_get::<f64, _>(i).map(|v| v.to_string()))
                                    .or_else(|_| r.try_get::<String, _>(i))
                                    .unwrap_or_default()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                println!(
                    "{:>9} {:>6} rows {first:?}  {}",
                    ms(t.elapsed()),
                    rows.len(),
                    &q[..q.len().min(100)]
                );
            }
        }
        pool.close().await;
        return;
    }
    if std::env::var("INSERT_ONLY").is_ok_and(|v| v == "1") {
        store.close().await;
        return;
    }
    // a second handle on the file for the plans (and experiments: `SQL_PRE` runs first)
    if let Ok(pre) = std::env::var("SQL_PRE") {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let t = Instant::now();
        sqlx::raw_sql(&pre).execute(&pool).await.unwrap();
        println!("SQL_PRE took {}", ms(t.elapsed()));
        pool.close().await;
    }
    if plan {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        for (name, sql) in [
            ("block metadata (scans)", "SELECT first_id, last_id, rows, min_ts, max_ts, bytes FROM request_log_blocks INDEXED BY request_log_blocks_meta WHERE first_id < 9 AND max_ts >= 0 AND min_ts < 1 ORDER BY first_id DESC"),
            ("block by id", "SELECT data FROM request_log_blocks WHERE first_id <= 5 AND last_id >= 5 ORDER BY first_id DESC LIMIT 1"),
            ("analytics (hours)", "SELECT (hour_ms / 3600000) * 3600000 AS bucket, value, SUM(requests) FROM request_stats WHERE hour_ms >= 0 AND hour_ms < 1 AND dim = 'model' GROUP BY 1, 2 ORDER BY 1, 2"),
        ] {
            let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&pool)
                .await
                .unwrap();
            for r in rows {
                println!("  plan {name}: {}", r.get::<String, _>(3));
            }
        }
        pool.close().await;
    }

    let q1 = AnalyticsQuery {
        since_ms: now - DAY,
        until_ms: now,
        bucket: Bucket::Hour,
        group_by: GroupBy::Model,
    };
    let a = time("analytics 24 h by hour, grouped by model", || {
        store.analytics(&q1)
    })
    .await
    .unwrap();
    println!("  -> {} rows", a.len());
    let q2 = AnalyticsQuery {
        since_ms: now - 30 * DAY,
        until_ms: now,
        bucket: Bucket::Day,
        group_by: GroupBy::Provider,
    };
    let a = time("analytics 30 d by day, grouped by provider", || {
        store.analytics(&q2)
    })
    .await
    .unwrap();
    println!("  -> {} rows", a.len());
    let q3 = AnalyticsQuery {
        since_ms: now - HOUR,
        until_ms: now,
        bucket: Bucket::Minute,
        group_by: GroupBy::None,
    };
    let a = time("analytics 1 h by minute, no grouping", || {
        store.analytics(&q3)
    })
    .await
    .unwrap();
    println!("  -> {} rows", a.len());
    let q4 = AnalyticsQuery {
        since_ms: now - 7 * DAY,
        until_ms: now,
        bucket: Bucket::Hour,
        group_by: GroupBy::ApiKey,
    };
    let a = time("analytics 7 d by hour, grouped by api key", || {
        store.analytics(&q4)
    })
    .await
    .unwrap();
    println!("  -> {} rows", a.len());
    let u = time("usage_by_key over 30 d", || {
        store.usage_by_key(now - 30 * DAY)
    })
    .await
    .unwrap();
    println!("  -> {} keys", u.len());
    let key = u[0].api_key_id.clone().unwrap();
    let s = time("spend of one key over 30 d", || {
        store.spend(Some(&key), None, now - 30 * DAY)
    })
    .await
    .unwrap();
    println!("  -> ${s:.2}");
    let s = time("spend of one combo step over 30 d", || {
        store.spend(
            None,
            Some(("coding", "anthropic/claude-sonnet-4-5")),
            now - 30 * DAY,
        )
    })
    .await
    .unwrap();
    println!("  -> ${s:.2}");
    let q = LogQuery {
        provider: Some("anthropic".into()),
        status_min: Some(400),
        ..Default::default()
    };
    let page = time("query_logs first page: provider + status >= 400", || {
        store.query_logs(&q)
    })
    .await
    .unwrap();
    let cursor = page.last().unwrap().id;
    let next = LogQuery {
        before_id: Some(cursor),
        ..q.clone()
    };
    time("query_logs next page (cursor)", || store.query_logs(&next))
        .await
        .unwrap();
    let q5 = LogQuery {
        api_key_id: Some(key.clone()),
        model: Some("gpt-4.1".into()),
        since_ms: Some(now - DAY),
        ..Default::default()
    };
    time("query_logs first page: api key + model, last 24 h", || {
        store.query_logs(&q5)
    })
    .await
    .unwrap();
    let q6 = LogQuery {
        search: Some("kimi".into()),
        ..Default::default()
    };
    time("query_logs first page: search \"kimi\"", || {
        store.query_logs(&q6)
    })
    .await
    .unwrap();
    let rid = page[0].request_id.clone();
    time("get_log by request id", || store.get_log(&rid))
        .await
        .unwrap();

    // pruning: a no-op pass, then 10 % of the rows by count, one day by age, 10 % by bytes
    let cur = store.log_bytes().await.unwrap();
    let t = Instant::now();
    let n = store
        .prune_logs(&Retention {
            max_rows: Some(rows as i64),
            max_age_ms: Some(31 * DAY),
            max_bytes: Some(cur + 1),
            stats_max_age_ms: None,
        })
        .await
        .unwrap();
    println!(
        "{:<58} {:>9}   ({n} rows, includes the size recount)",
        "prune, nothing to delete",
        ms(t.elapsed())
    );
    let t = Instant::now();
    let n = store
        .prune_logs(&Retention {
            max_rows: Some(rows as i64 * 9 / 10),
            max_age_ms: None,
            max_bytes: None,
            stats_max_age_ms: None,
        })
        .await
        .unwrap();
    println!(
        "{:<58} {:>9}   ({n} rows)",
        "prune to 90 % of the rows",
        ms(t.elapsed())
    );
    let t = Instant::now();
    let n = store
        .prune_logs(&Retention {
            max_rows: None,
            max_age_ms: Some(now_ms() - now + 26 * DAY),
            max_bytes: None,
            stats_max_age_ms: None,
        })
        .await
        .unwrap();
    println!(
        "{:<58} {:>9}   ({n} rows)",
        "prune by age (one more day)",
        ms(t.elapsed())
    );
    let cur = store.log_bytes().await.unwrap();
    let t = Instant::now();
    let n = store
        .prune_logs(&Retention {
            max_rows: None,
            max_age_ms: None,
            max_bytes: Some(cur * 9 / 10),
            stats_max_age_ms: None,
        })
        .await
        .unwrap();
    println!(
        "{:<58} {:>9}   ({n} rows; estimate {:.1} -> {:.1} MB)",
        "prune by bytes to 90 % (then 15/16 of it)",
        ms(t.elapsed()),
        cur as f64 / 1e6,
        store.log_bytes().await.unwrap() as f64 / 1e6
    );
    store.close().await;
    write_cost().await;
}

/// The writer's cost per row at steady load (alone: `WRITE_COST_ONLY=1`).
async fn write_cost() {
    // the writer's cost per row at steady load: batches of what 50 ms of traffic brings, with
    // timestamps as dense as that traffic (so the hourly aggregates see realistic batches), and
    // a row-count retention of 50k applied after every second of traffic, as the writer does; on
    // a log already full
    println!("writer cost per row (batch = 50 ms of traffic, retention 50k rows pruned every second; 150k rows after 100k):");
    let rates: Vec<u64> = match std::env::var("WRITE_RPS") {
        Ok(v) => v.split(',').filter_map(|r| r.trim().parse().ok()).collect(),
        Err(_) => vec![200, 2_000, 20_000],
    };
    for rps in rates {
        let d = tempfile::tempdir().unwrap();
        let cipher = Cipher::load_or_create(None, &d.path().join("secret.key")).unwrap();
        let path = d.path().join("omniroute.db");
        if let Ok(size) = std::env::var("WRITE_PAGE_SIZE") {
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .page_size(size.parse().unwrap())
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await
                .unwrap();
            sqlx::raw_sql("CREATE TABLE page_size_probe (x INTEGER)")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        let s = Store::open(&path, cipher).await.unwrap();
        if let Ok(pre) = std::env::var("WRITE_SQL_PRE") {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::raw_sql(&pre).execute(&pool).await.unwrap();
            pool.close().await;
        }
        let mut keys = Vec::new();
        for k in 0..20 {
            keys.push(s.create_key(&format!("key{k}")).await.unwrap().0.id);
        }
        let retention = Retention {
            max_rows: Some(50_000),
            max_age_ms: None,
            max_bytes: None,
            stats_max_age_ms: None,
        };
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        let batch_rows = (rps / 20).max(1) as usize;
        let start = now_ms() - DAY;
        let (mut insert, mut prune) = (Duration::ZERO, Duration::ZERO);
        let total = 250_000_u64;
        let mut batch = Vec::with_capacity(batch_rows);
        for i in 0..total {
            let ts = start + (i * 1000 / rps) as i64;
            batch.push(row(&mut rng, i, ts, &keys, 0));
            if batch.len() == batch_rows {
                let t = Instant::now();
                s.insert_logs(std::mem::take(&mut batch)).await.unwrap();
                let t2 = Instant::now();
                if (i + 1) % rps == 0 {
                    s.prune_logs(&retention).await.unwrap();
                }
                if i >= 100_000 {
                    insert += t2 - t;
                    prune += t2.elapsed();
                }
            }
        }
        let per = |d: Duration| d.as_secs_f64() * 1e6 / 150_000.0;
        println!(
            "  {rps:>6} req/s ({batch_rows:>4} rows per batch): {:.1} µs/row (insert {:.1}, prune {:.1})",
            per(insert + prune),
            per(insert),
            per(prune)
        );
        s.close().await;
    }
}
