//! Request-log queries: batch insert, lookup, the dashboard's filtered listing with a cursor,
//! and retention (rows, age, estimated bytes) with a running size estimate.

use crate::logdb::LOG_ROW_OVERHEAD;
use crate::logs::{AttemptLog, RequestLog, Retention, USER_AGENT_MAX_CHARS};
use crate::{Result, Store, StoreError};
use serde::Deserialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

/// Filters of the request-log listing; every field is optional. Rows come newest first; pass
/// the last row's `id` as `before_id` for the next page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LogQuery {
    /// Page size: 1..=1000, default 100.
    pub limit: Option<i64>,
    /// Only rows with `id < before_id` (cursor).
    pub before_id: Option<i64>,
    pub provider: Option<String>,
    /// Matches the requested model or the upstream model.
    pub model: Option<String>,
    pub api_key_id: Option<String>,
    pub combo: Option<String>,
    pub connection_id: Option<String>,
    pub status_min: Option<u16>,
    pub status_max: Option<u16>,
    /// `ts >= since_ms`
    pub since_ms: Option<i64>,
    /// `ts < until_ms`
    pub until_ms: Option<i64>,
    /// Substring (ASCII case-insensitive) of the requested or upstream model, the error or the
    /// request id.
    pub search: Option<String>,
}

/// The listing's columns: everything but the bodies.
const LIST_COLUMNS: &str = "id, request_id, ts, method, path, client_format, model, provider, \
     connection_id, upstream_model, stream, status, latency_ms, ttfb_ms, input_tokens, output_tokens, \
     api_key_id, error, attempts, cached_tokens, reasoning_tokens, cost_usd, cache_hit, client_ip, \
     user_agent, combo, attempts_detail";

/// A row ready to be bound: the serialized attempts, the capped user agent, the size estimate.
pub(crate) struct Prepared<'a> {
    pub(crate) r: &'a RequestLog,
    pub(crate) attempts: Option<String>,
    pub(crate) user_agent: Option<&'a str>,
    pub(crate) size: i64,
}

fn cap_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The stored form of the attempts: `NULL` for none; `=<latency_ms>[;<remote>;<egress>]` for
/// the common case of one successful direct attempt that says nothing else the row does not
/// (its provider, connection, model and status): a third of a typical row saved; otherwise the
/// JSON array.
fn attempts_text(r: &RequestLog) -> Option<String> {
    match r.attempts_detail.as_slice() {
        [] => None,
        [a] if a.outcome == "ok"
            && r.provider.as_deref() == Some(a.provider.as_str())
            && r.connection_id == a.connection
            && r.upstream_model.as_deref() == Some(a.model.as_str())
            && a.status == Some(r.status)
            && a.route.as_deref().is_none_or(|x| x == "direct")
            && [&a.remote, &a.egress]
                .iter()
                .all(|v| v.as_deref().is_none_or(|v| !v.contains(';'))) =>
        {
            Some(match (&a.route, &a.remote, &a.egress) {
                (None, None, None) => format!("={}", a.latency_ms),
                (_, remote, egress) => format!(
                    "={};{};{}",
                    a.latency_ms,
                    remote.as_deref().unwrap_or(""),
                    egress.as_deref().unwrap_or("")
                ),
            })
        }
        all => serde_json::to_string(all).ok(),
    }
}

/// The attempts of a row from their stored form (see [`attempts_text`]).
fn attempts_of(stored: &str, row: &RequestLog) -> Vec<AttemptLog> {
    match stored.strip_prefix('=') {
        Some(short) => {
            let mut parts = short.split(';');
            let latency = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
            let remote = parts.next();
            let egress = parts.next();
            let some = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(str::to_string);
            vec![AttemptLog {
                provider: row.provider.clone().unwrap_or_default(),
                connection: row.connection_id.clone(),
                model: row.upstream_model.clone().unwrap_or_default(),
                outcome: "ok".into(),
                status: Some(row.status),
                latency_ms: latency,
                route: remote.is_some().then(|| "direct".to_string()),
                remote: some(remote),
                egress: some(egress),
            }]
        }
        None => serde_json::from_str(stored).unwrap_or_default(),
    }
}

fn prepare(r: &RequestLog) -> Prepared<'_> {
    let attempts = attempts_text(r);
    let user_agent = r
        .user_agent
        .as_deref()
        .map(|ua| cap_chars(ua, USER_AGENT_MAX_CHARS));
    let opt = |s: &Option<String>| s.as_ref().map_or(0, |s| s.len());
    let text = r.request_id.len()
        + r.method.len()
        + r.path.len()
        + opt(&r.client_format)
        + opt(&r.model)
        + opt(&r.provider)
        + opt(&r.connection_id)
        + opt(&r.upstream_model)
        + opt(&r.api_key_id)
        + opt(&r.error)
        + opt(&r.cache_hit)
        + opt(&r.client_ip)
        + user_agent.map_or(0, str::len)
        + opt(&r.combo)
        + attempts.as_ref().map_or(0, String::len)
        + opt(&r.request_body)
        + opt(&r.response_body)
        + opt(&r.upstream_request_body)
        + opt(&r.upstream_response_body);
    Prepared {
        r,
        attempts,
        user_agent,
        size: LOG_ROW_OVERHEAD + text as i64,
    }
}

fn log_from_row(r: &SqliteRow, bodies: bool) -> Result<RequestLog> {
    let (request_body, response_body, upstream_request_body, upstream_response_body) = if bodies {
        (
            r.try_get("request_body")?,
            r.try_get("response_body")?,
            r.try_get("upstream_request_body")?,
            r.try_get("upstream_response_body")?,
        )
    } else {
        (None, None, None, None)
    };
    let mut row = RequestLog {
        id: r.try_get("id")?,
        request_id: r.try_get("request_id")?,
        ts: r.try_get("ts")?,
        method: r.try_get("method")?,
        path: r.try_get("path")?,
        client_format: r.try_get("client_format")?,
        model: r.try_get("model")?,
        provider: r.try_get("provider")?,
        connection_id: r.try_get("connection_id")?,
        upstream_model: r.try_get("upstream_model")?,
        stream: r.try_get("stream")?,
        status: u16::try_from(r.try_get::<i64, _>("status")?).unwrap_or(0),
        latency_ms: r.try_get("latency_ms")?,
        ttfb_ms: r.try_get("ttfb_ms")?,
        input_tokens: r.try_get("input_tokens")?,
        output_tokens: r.try_get("output_tokens")?,
        cached_tokens: r.try_get("cached_tokens")?,
        reasoning_tokens: r.try_get("reasoning_tokens")?,
        cost_usd: r.try_get("cost_usd")?,
        cache_hit: r.try_get("cache_hit")?,
        client_ip: r.try_get("client_ip")?,
        user_agent: r.try_get("user_agent")?,
        combo: r.try_get("combo")?,
        api_key_id: r.try_get("api_key_id")?,
        error: r.try_get("error")?,
        attempts: r.try_get("attempts")?,
        attempts_detail: Vec::new(),
        request_body,
        response_body,
        upstream_request_body,
        upstream_response_body,
    };
    if let Some(stored) = r.try_get::<Option<&str>, _>("attempts_detail")? {
        row.attempts_detail = attempts_of(stored, &row);
    }
    Ok(row)
}

/// `%text%` for LIKE with `\` as the escape character.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    /// Write a batch of request-log rows in one transaction (multi-row INSERTs of 64 rows), add
    /// them to the hourly aggregates (`request_stats`) and add the per-key request counts. Returns the rows' estimated size in bytes (added
    /// to the running estimate of [`Store::log_bytes`]).
    pub async fn insert_logs(&self, rows: impl Into<Vec<RequestLog>>) -> Result<i64> {
        self.insert_log_rows(rows.into()).await
    }

    /// [`Store::insert_logs`] for rows held however the caller holds them (the batch writer
    /// queues boxes: a pointer per queue slot instead of the whole row).
    pub(crate) async fn insert_log_rows<R>(&self, rows: Vec<R>) -> Result<i64>
    where
        R: std::borrow::Borrow<RequestLog> + Send + 'static,
    {
        if rows.is_empty() {
            return Ok(0);
        }
        let db = self.log_db.clone();
        blocking(move || {
            let prepared: Vec<Prepared<'_>> = rows.iter().map(|r| prepare(r.borrow())).collect();
            db.insert(&rows, &prepared)
        })
        .await
    }

    /// The newest row with this request id, bodies included.
    pub async fn get_log(&self, request_id: &str) -> Result<Option<RequestLog>> {
        let row = sqlx::query(
            "SELECT * FROM request_logs WHERE request_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| log_from_row(&r, true)).transpose()
    }

    /// The row with this id, bodies included.
    pub async fn get_log_by_id(&self, id: i64) -> Result<Option<RequestLog>> {
        let row = sqlx::query("SELECT * FROM request_logs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| log_from_row(&r, true)).transpose()
    }

    /// The newest `limit` rows, newest first, without bodies.
    pub async fn recent_logs(&self, limit: i64) -> Result<Vec<RequestLog>> {
        let sql = format!("SELECT {LIST_COLUMNS} FROM request_logs ORDER BY id DESC LIMIT $1");
        sqlx::query(&sql)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| log_from_row(r, false))
            .collect()
    }

    /// The filtered listing, newest first, without bodies (see [`LogQuery`]).
    pub async fn query_logs(&self, q: &LogQuery) -> Result<Vec<RequestLog>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {LIST_COLUMNS} FROM request_logs WHERE 1 = 1"
        ));
        if let Some(id) = q.before_id {
            qb.push(" AND id < ").push_bind(id);
        }
        if let Some(p) = &q.provider {
            qb.push(" AND provider = ").push_bind(p.clone());
        }
        if let Some(m) = &q.model {
            qb.push(" AND (model = ")
                .push_bind(m.clone())
                .push(" OR upstream_model = ")
                .push_bind(m.clone())
                .push(")");
        }
        if let Some(k) = &q.api_key_id {
            qb.push(" AND api_key_id = ").push_bind(k.clone());
        }
        if let Some(c) = &q.combo {
            qb.push(" AND combo = ").push_bind(c.clone());
        }
        if let Some(c) = &q.connection_id {
            qb.push(" AND connection_id = ").push_bind(c.clone());
        }
        if let Some(s) = q.status_min {
            qb.push(" AND status >= ").push_bind(i64::from(s));
        }
        if let Some(s) = q.status_max {
            qb.push(" AND status <= ").push_bind(i64::from(s));
        }
        if let Some(t) = q.since_ms {
            qb.push(" AND ts >= ").push_bind(t);
        }
        if let Some(t) = q.until_ms {
            qb.push(" AND ts < ").push_bind(t);
        }
        if let Some(s) = q.search.as_deref().filter(|s| !s.is_empty()) {
            let pat = like_pattern(s);
            qb.push(" AND (");
            for (i, col) in ["model", "upstream_model", "error", "request_id"]
                .iter()
                .enumerate()
            {
                if i > 0 {
                    qb.push(" OR ");
                }
                qb.push(*col)
                    .push(" LIKE ")
                    .push_bind(pat.clone())
                    .push(" ESCAPE '\\'");
            }
            qb.push(")");
        }
        qb.push(" ORDER BY id DESC LIMIT ")
            .push_bind(q.limit.unwrap_or(100).clamp(1, 1000));
        // one statement text per filter combination: not worth a slot in the statement cache
        qb.build()
            .persistent(false)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| log_from_row(r, false))
            .collect()
    }

    /// Rows in the request log.
    pub async fn log_rows(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM request_logs")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Estimated stored size of the request log in bytes: the running estimate, counted from
    /// the table the first time (and every few byte-limited prunes).
    pub async fn log_bytes(&self) -> Result<i64> {
        let db = self.log_db.clone();
        blocking(move || db.bytes()).await
    }

    /// Apply a retention: delete rows older than `max_age_ms`, then the oldest rows beyond
    /// `max_rows`, then the oldest rows until the estimated size is under `max_bytes` (down to
    /// 15/16 of it, so that the next batches do not prune again at once); and the hourly
    /// aggregates older than `stats_max_age_ms`. Deletes in short transactions of at most 5000
    /// rows. Returns the number of log rows deleted.
    pub async fn prune_logs(&self, retention: &Retention) -> Result<u64> {
        let (deleted, _) = self.prune_logs_bounded(retention, u64::MAX).await?;
        Ok(deleted)
    }

    /// [`Store::prune_logs`] deleting at most `max_delete` log rows, so that a large cut (a
    /// retention lowered at run time) is spread over several calls. Returns the rows deleted
    /// and whether the retention is met.
    pub async fn prune_logs_bounded(
        &self,
        retention: &Retention,
        max_delete: u64,
    ) -> Result<(u64, bool)> {
        let db = self.log_db.clone();
        let retention = *retention;
        blocking(move || db.prune(&retention, max_delete)).await
    }
}

/// Run blocking SQLite work off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Invalid(format!("request log task: {e}")))?
}
