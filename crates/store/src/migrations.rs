//! Schema migrations, applied in order at start inside one transaction each, recorded in
//! `schema_migrations`. Written in SQL that both SQLite and PostgreSQL accept.

pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    name TEXT NOT NULL,
    priority BIGINT NOT NULL DEFAULT 0,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    secret_enc TEXT,
    base_url TEXT,
    settings TEXT NOT NULL DEFAULT '{}',
    source TEXT NOT NULL DEFAULT 'api',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (provider, name)
);
CREATE TABLE provider_nodes (
    id TEXT PRIMARY KEY,
    prefix TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    base_url TEXT NOT NULL,
    auth TEXT NOT NULL,
    headers TEXT NOT NULL DEFAULT '{}',
    source TEXT NOT NULL DEFAULT 'api',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE provider_models (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'chat',
    source TEXT NOT NULL DEFAULT 'api',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (provider, model)
);
CREATE TABLE provider_settings (
    provider TEXT PRIMARY KEY,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    base_url TEXT,
    source TEXT NOT NULL DEFAULT 'api',
    updated_at BIGINT NOT NULL
);
CREATE TABLE combos (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    strategy TEXT NOT NULL DEFAULT 'priority',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    models TEXT NOT NULL DEFAULT '[]',
    source TEXT NOT NULL DEFAULT 'api',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    last4 TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'api',
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT,
    request_count BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'api',
    updated_at BIGINT NOT NULL
);
CREATE TABLE request_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    ts BIGINT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    client_format TEXT,
    model TEXT,
    provider TEXT,
    connection_id TEXT,
    upstream_model TEXT,
    stream BOOLEAN NOT NULL DEFAULT FALSE,
    status INTEGER NOT NULL,
    latency_ms BIGINT NOT NULL,
    ttfb_ms BIGINT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    api_key_id TEXT REFERENCES api_keys(id) ON DELETE SET NULL,
    error TEXT
);
CREATE INDEX request_logs_ts ON request_logs (ts);
CREATE INDEX request_logs_request_id ON request_logs (request_id);
"#,
    ),
    (
        2,
        r#"
CREATE TABLE runtime_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
ALTER TABLE request_logs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE combos ADD COLUMN weights TEXT NOT NULL DEFAULT '[]';
"#,
    ),
    (
        3,
        r#"
CREATE TABLE model_pricing (
    model TEXT PRIMARY KEY,
    input_per_m DOUBLE PRECISION NOT NULL,
    output_per_m DOUBLE PRECISION NOT NULL,
    cached_input_per_m DOUBLE PRECISION,
    reasoning_per_m DOUBLE PRECISION,
    source TEXT NOT NULL DEFAULT 'api',
    updated_at BIGINT NOT NULL
);
"#,
    ),
    (
        4,
        // Request-log detail and analytics (issue 5).
        // `size_bytes` is the writer's estimate of a row's stored size, kept for size-based
        // retention; it comes before the bodies so that reading it (and every metadata column)
        // never walks a body's overflow pages. Rows written before this migration get the
        // estimate from their text columns.
        // `request_stats` holds the log's hourly aggregates per dimension (`dim` = '' for the
        // total, 'provider', 'model', 'api_key', 'combo', 'connection', 'combo_step'; `value` =
        // '' when a row has none), written in the same transaction as the rows and kept when the
        // rows are pruned: analytics, usage and spend read it instead of scanning the log. It is
        // filled here from the rows already logged.
        r#"
ALTER TABLE request_logs ADD COLUMN cached_tokens BIGINT;
ALTER TABLE request_logs ADD COLUMN reasoning_tokens BIGINT;
ALTER TABLE request_logs ADD COLUMN cost_usd DOUBLE PRECISION;
ALTER TABLE request_logs ADD COLUMN cache_hit TEXT;
ALTER TABLE request_logs ADD COLUMN client_ip TEXT;
ALTER TABLE request_logs ADD COLUMN user_agent TEXT;
ALTER TABLE request_logs ADD COLUMN combo TEXT;
ALTER TABLE request_logs ADD COLUMN attempts_detail TEXT;
ALTER TABLE request_logs ADD COLUMN size_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_logs ADD COLUMN request_body TEXT;
ALTER TABLE request_logs ADD COLUMN response_body TEXT;
UPDATE request_logs SET size_bytes = 140 + length(request_id) + length(method) + length(path)
    + COALESCE(length(client_format), 0) + COALESCE(length(model), 0) + COALESCE(length(provider), 0)
    + COALESCE(length(connection_id), 0) + COALESCE(length(upstream_model), 0)
    + COALESCE(length(api_key_id), 0) + COALESCE(length(error), 0);
CREATE TABLE request_stats (
    dim TEXT NOT NULL,
    value TEXT NOT NULL,
    hour_ms BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cached_tokens BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    latency_sum BIGINT NOT NULL,
    ttft_sum BIGINT NOT NULL,
    ttft_count BIGINT NOT NULL,
    last_ts BIGINT NOT NULL,
    PRIMARY KEY (dim, hour_ms, value)
);
CREATE INDEX request_stats_hour ON request_stats (hour_ms);
INSERT INTO request_stats (dim, value, hour_ms, requests, errors, input_tokens, output_tokens, cached_tokens, reasoning_tokens, cost_usd, latency_sum, ttft_sum, ttft_count, last_ts)
SELECT '', '', (ts / 3600000) * 3600000, COUNT(*), COUNT(CASE WHEN status >= 400 THEN 1 END),
    COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), 0, 0, 0.0, SUM(latency_ms),
    COALESCE(SUM(ttfb_ms), 0), COUNT(ttfb_ms), MAX(ts)
FROM request_logs GROUP BY 3;
INSERT INTO request_stats (dim, value, hour_ms, requests, errors, input_tokens, output_tokens, cached_tokens, reasoning_tokens, cost_usd, latency_sum, ttft_sum, ttft_count, last_ts)
SELECT 'provider', COALESCE(provider, ''), (ts / 3600000) * 3600000, COUNT(*), COUNT(CASE WHEN status >= 400 THEN 1 END),
    COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), 0, 0, 0.0, SUM(latency_ms),
    COALESCE(SUM(ttfb_ms), 0), COUNT(ttfb_ms), MAX(ts)
FROM request_logs GROUP BY 2, 3;
INSERT INTO request_stats (dim, value, hour_ms, requests, errors, input_tokens, output_tokens, cached_tokens, reasoning_tokens, cost_usd, latency_sum, ttft_sum, ttft_count, last_ts)
SELECT 'model', COALESCE(upstream_model, model, ''), (ts / 3600000) * 3600000, COUNT(*), COUNT(CASE WHEN status >= 400 THEN 1 END),
    COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), 0, 0, 0.0, SUM(latency_ms),
    COALESCE(SUM(ttfb_ms), 0), COUNT(ttfb_ms), MAX(ts)
FROM request_logs GROUP BY 2, 3;
INSERT INTO request_stats (dim, value, hour_ms, requests, errors, input_tokens, output_tokens, cached_tokens, reasoning_tokens, cost_usd, latency_sum, ttft_sum, ttft_count, last_ts)
SELECT 'api_key', COALESCE(api_key_id, ''), (ts / 3600000) * 3600000, COUNT(*), COUNT(CASE WHEN status >= 400 THEN 1 END),
    COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), 0, 0, 0.0, SUM(latency_ms),
    COALESCE(SUM(ttfb_ms), 0), COUNT(ttfb_ms), MAX(ts)
FROM request_logs GROUP BY 2, 3;
INSERT INTO request_stats (dim, value, hour_ms, requests, errors, input_tokens, output_tokens, cached_tokens, reasoning_tokens, cost_usd, latency_sum, ttft_sum, ttft_count, last_ts)
SELECT 'combo', '', (ts / 3600000) * 3600000, COUNT(*), COUNT(CASE WHEN status >= 400 THEN 1 END),
    COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), 0, 0, 0.0, SUM(latency_ms),
    COALESCE(SUM(ttfb_ms), 0), COUNT(ttfb_ms), MAX(ts)
FROM request_logs GROUP BY 3;
INSERT INTO request_stats (dim, value, hour_ms, requests, errors, input_tokens, output_tokens, cached_tokens, reasoning_tokens, cost_usd, latency_sum, ttft_sum, ttft_count, last_ts)
SELECT 'connection', COALESCE(connection_id, ''), (ts / 3600000) * 3600000, COUNT(*), COUNT(CASE WHEN status >= 400 THEN 1 END),
    COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), 0, 0, 0.0, SUM(latency_ms),
    COALESCE(SUM(ttfb_ms), 0), COUNT(ttfb_ms), MAX(ts)
FROM request_logs GROUP BY 2, 3;
"#,
    ),
    (
        5,
        r#"
CREATE TABLE budgets (
    id TEXT PRIMARY KEY,
    key_id TEXT REFERENCES api_keys(id) ON DELETE CASCADE,
    combo TEXT,
    step TEXT,
    limit_usd DOUBLE PRECISION NOT NULL,
    period TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
"#,
    ),
    (
        6,
        r#"
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts BIGINT NOT NULL,
    actor TEXT NOT NULL,
    ip TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    status INTEGER NOT NULL,
    detail TEXT
);
CREATE INDEX audit_log_ts ON audit_log (ts);
"#,
    ),
    (
        7,
        r#"
CREATE TABLE auth_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash TEXT NOT NULL,
    must_change INTEGER NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT
);
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN allowed_models TEXT;
ALTER TABLE api_keys ADD COLUMN rpm INTEGER;
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'gateway';
ALTER TABLE api_keys ADD COLUMN rotated_at BIGINT;
"#,
    ),
    (
        8,
        r#"
CREATE TABLE eval_sets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE eval_runs (
    id TEXT PRIMARY KEY,
    set_id TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    body TEXT NOT NULL
);
CREATE INDEX eval_runs_started ON eval_runs (started_at);
"#,
    ),
    (
        9,
        r#"
ALTER TABLE request_logs ADD COLUMN upstream_request_body TEXT;
ALTER TABLE request_logs ADD COLUMN upstream_response_body TEXT;
"#,
    ),
    (
        10,
        // The request log in blocks (`logblock`): one row per up to 256 log rows, the metadata
        // columns before the blob and in a covering index, so that listing which blocks a scan
        // or a prune needs never reads a blob. Bodies (only with body logging) apart, by row id.
        // `request_log_seq` keeps ids growing across prunes and restarts. The rows of
        // `request_logs` are moved into blocks by the log's writer connection when it opens
        // (`logdb::convert_legacy`), which then drops the table.
        r#"
CREATE TABLE request_log_blocks (
    first_id INTEGER PRIMARY KEY,
    last_id INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    min_ts BIGINT NOT NULL,
    max_ts BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX request_log_blocks_meta ON request_log_blocks (first_id, last_id, rows, min_ts, max_ts, bytes);
CREATE TABLE request_log_bodies (
    id INTEGER PRIMARY KEY,
    request_body TEXT,
    response_body TEXT,
    upstream_request_body TEXT,
    upstream_response_body TEXT
);
CREATE TABLE request_log_seq (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    next_id INTEGER NOT NULL
);
INSERT INTO request_log_seq (id, next_id)
SELECT 1, MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'request_logs'), 0),
                COALESCE((SELECT MAX(id) FROM request_logs), 0)) + 1;
"#,
    ),
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::MIGRATIONS;
    use sqlx::Row;

    /// A log written before blocks: its rows move into blocks when the store opens, with their
    /// ids, attempts and bodies; the old table goes; new rows get ids after the old ones.
    #[tokio::test]
    async fn a_row_per_request_log_moves_into_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("omniroute.db");
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&pool)
        .await
        .unwrap();
        for (v, sql) in MIGRATIONS.iter().filter(|(v, _)| *v < 10) {
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)")
                .bind(v)
                .execute(&pool)
                .await
                .unwrap();
        }
        // 300 rows (more than a block), ids with a gap, the last with bodies and two attempts
        for i in 1..=300_i64 {
            let id = if i > 100 { i + 50 } else { i };
            let attempts = if i == 300 {
                r#"[{"provider":"a","model":"m","outcome":"error","status":502,"latency_ms":5},{"provider":"b","model":"m","outcome":"ok","status":200,"latency_ms":7}]"#
            } else {
                "=12"
            };
            sqlx::query(
                "INSERT INTO request_logs (id, request_id, ts, method, path, provider, upstream_model, status, latency_ms, attempts_detail, request_body, response_body)
                 VALUES ($1, $2, $3, 'POST', '/v1/chat/completions', 'b', 'm', 200, 30, $4, $5, $6)",
            )
            .bind(id)
            .bind(format!("old-{i}"))
            .bind(1_700_000_000_000 + i)
            .bind(attempts)
            .bind((i == 300).then_some("{\"q\":1}"))
            .bind((i == 300).then_some("{\"a\":2}"))
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;

        let cipher = crate::Cipher::load_or_create(None, &dir.path().join("secret.key")).unwrap();
        let store = crate::Store::open(&path, cipher).await.unwrap();
        assert_eq!(store.log_rows().await.unwrap(), 300);
        let last = store.get_log_by_id(350).await.unwrap().unwrap();
        assert_eq!(last.request_id, "old-300");
        assert_eq!(last.request_body.as_deref(), Some("{\"q\":1}"));
        assert_eq!(last.response_body.as_deref(), Some("{\"a\":2}"));
        assert_eq!(last.attempts_detail.len(), 2);
        let first = store.get_log("old-1").await.unwrap().unwrap();
        assert_eq!((first.id, first.ts), (1, 1_700_000_000_001));
        assert_eq!(first.attempts_detail[0].latency_ms, 12);
        assert!(
            store.get_log_by_id(120).await.unwrap().is_none(),
            "the gap stays a gap"
        );
        let gone: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'request_logs'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert_eq!(gone, 0);
        store
            .insert_logs(vec![crate::RequestLog {
                request_id: "new".into(),
                ts: 1_800_000_000_000,
                ..crate::RequestLog::default()
            }])
            .await
            .unwrap();
        assert_eq!(store.recent_logs(1).await.unwrap()[0].id, 351);
        store.close().await;
    }

    /// Migration 4 on a log written before it: sizes estimated, aggregates filled.
    #[tokio::test]
    async fn request_log_detail_backfills_sizes_and_aggregates() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v < 4) {
            assert!(*version < 4);
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        }
        for (id, ts, provider, status, ttfb) in [
            ("a", 3_600_000_i64, Some("openai"), 200_i64, Some(40_i64)),
            ("b", 3_700_000, Some("openai"), 502, None),
            ("c", 7_300_000, None, 400, Some(10)),
        ] {
            sqlx::query(
                "INSERT INTO request_logs (request_id, ts, method, path, provider, status, latency_ms, ttfb_ms, input_tokens)
                 VALUES ($1, $2, 'POST', '/v1/x', $3, $4, 100, $5, 7)",
            )
            .bind(id)
            .bind(ts)
            .bind(provider)
            .bind(status)
            .bind(ttfb)
            .execute(&pool)
            .await
            .unwrap();
        }
        let (_, sql) = MIGRATIONS.iter().find(|(v, _)| *v == 4).unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();

        let size: i64 =
            sqlx::query_scalar("SELECT size_bytes FROM request_logs WHERE request_id = 'a'")
                .fetch_one(&pool)
                .await
                .unwrap();
        // the fixed part of a row's size estimate before blocks
        assert_eq!(size, 140 + 1 + 4 + 5 + 6);
        let rows = sqlx::query(
            "SELECT dim, value, hour_ms, requests, errors, input_tokens, latency_sum, ttft_sum, ttft_count, last_ts
             FROM request_stats WHERE dim IN ('', 'provider') ORDER BY dim, hour_ms, value",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let got: Vec<String> = rows
            .iter()
            .map(|r| {
                let mut s = format!("{}|{}", r.get::<String, _>(0), r.get::<String, _>(1));
                for i in 2..10 {
                    s.push_str(&format!("|{}", r.get::<i64, _>(i)));
                }
                s
            })
            .collect();
        assert_eq!(
            got,
            vec![
                "||3600000|2|1|14|200|40|1|3700000",
                "||7200000|1|1|7|100|10|1|7300000",
                "provider|openai|3600000|2|1|14|200|40|1|3700000",
                "provider||7200000|1|1|7|100|10|1|7300000",
            ]
        );
        let dims: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT dim) FROM request_stats")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(
            dims, 6,
            "total, provider, model, api_key, combo, connection"
        );
    }
}
