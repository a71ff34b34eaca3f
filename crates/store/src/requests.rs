//! Request-log queries: batch insert, lookup, the dashboard's filtered listing with a cursor,
//! and retention (rows, age, estimated bytes) with a running size estimate.

use crate::analytics::{stats_of, write_stats};
use crate::logs::{AttemptLog, RequestLog, Retention, USER_AGENT_MAX_CHARS};
use crate::{now_ms, Result, Store};
use serde::Deserialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};

/// Fixed part of a row's estimated size: the integer columns, the record header, the b-tree cell
/// and the entries of the log's indexes (measured with `examples/analytics_bench.rs`: the
/// database file over the rows' text bytes, bodies off).
pub const LOG_ROW_OVERHEAD: i64 = 140;

/// Rows deleted per statement while pruning (each statement is its own short transaction, so
/// the database is never locked for long).
const DELETE_CHUNK: u64 = 5000;
/// Recount the log's size from the table every this many byte-limited prunes (the running
/// estimate may drift when rows change outside the writer).
const RECOUNT_EVERY: u32 = 256;
/// When over `max_bytes`, prune down to `max_bytes - max_bytes / SLACK_DIVISOR` so the next
/// batches do not prune again at once.
const SLACK_DIVISOR: i64 = 16;

/// Running estimate of the request log's stored size, shared by every clone of a `Store`.
#[derive(Debug, Default)]
pub(crate) struct LogBytes {
    bytes: AtomicI64,
    known: AtomicBool,
    prunes: AtomicU32,
}

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
struct Prepared<'a> {
    r: &'a RequestLog,
    attempts: Option<String>,
    user_agent: Option<&'a str>,
    size: i64,
}

fn cap_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn prepare(r: &RequestLog) -> Prepared<'_> {
    let attempts = if r.attempts_detail.is_empty() {
        None
    } else {
        serde_json::to_string(&r.attempts_detail).ok()
    };
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
        + opt(&r.response_body);
    Prepared {
        r,
        attempts,
        user_agent,
        size: LOG_ROW_OVERHEAD + text as i64,
    }
}

fn log_from_row(r: &SqliteRow, bodies: bool) -> Result<RequestLog> {
    let attempts_detail = r
        .try_get::<Option<String>, _>("attempts_detail")?
        .and_then(|s| serde_json::from_str::<Vec<AttemptLog>>(&s).ok())
        .unwrap_or_default();
    let (request_body, response_body) = if bodies {
        (r.try_get("request_body")?, r.try_get("response_body")?)
    } else {
        (None, None)
    };
    Ok(RequestLog {
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
        attempts_detail,
        request_body,
        response_body,
    })
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
    pub async fn insert_logs(&self, rows: &[RequestLog]) -> Result<i64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let prepared: Vec<Prepared<'_>> = rows.iter().map(prepare).collect();
        // Full chunks of 64 rows share one cached statement; the rest go row by row through a
        // second cached statement. Two prepared statements in all: no re-parsing per batch and
        // no cache growth (a statement per batch size grew RSS by 13 MB over 1M requests).
        const CHUNK: usize = 64;
        let mut tx = self.pool.begin().await?;
        let full = prepared.len() / CHUNK * CHUNK;
        for chunk in prepared[..full]
            .chunks(CHUNK)
            .chain(prepared[full..].chunks(1))
        {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO request_logs (request_id, ts, method, path, client_format, model, provider, connection_id, \
                 upstream_model, stream, status, latency_ms, ttfb_ms, input_tokens, output_tokens, api_key_id, error, attempts, \
                 cached_tokens, reasoning_tokens, cost_usd, cache_hit, client_ip, user_agent, combo, attempts_detail, \
                 size_bytes, request_body, response_body) ",
            );
            qb.push_values(chunk, |mut b, p| {
                let r = p.r;
                b.push_bind(&r.request_id)
                    .push_bind(r.ts)
                    .push_bind(&r.method)
                    .push_bind(&r.path)
                    .push_bind(&r.client_format)
                    .push_bind(&r.model)
                    .push_bind(&r.provider)
                    .push_bind(&r.connection_id)
                    .push_bind(&r.upstream_model)
                    .push_bind(r.stream)
                    .push_bind(r.status as i64)
                    .push_bind(r.latency_ms)
                    .push_bind(r.ttfb_ms)
                    .push_bind(r.input_tokens)
                    .push_bind(r.output_tokens)
                    .push_bind(&r.api_key_id)
                    .push_bind(&r.error)
                    .push_bind(r.attempts)
                    .push_bind(r.cached_tokens)
                    .push_bind(r.reasoning_tokens)
                    .push_bind(r.cost_usd)
                    .push_bind(&r.cache_hit)
                    .push_bind(&r.client_ip)
                    .push_bind(p.user_agent)
                    .push_bind(&r.combo)
                    .push_bind(&p.attempts)
                    .push_bind(p.size)
                    .push_bind(&r.request_body)
                    .push_bind(&r.response_body);
            });
            qb.build().execute(&mut *tx).await?;
        }
        write_stats(&mut tx, &stats_of(rows)).await?;
        let mut per_key: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for r in rows {
            if let Some(k) = &r.api_key_id {
                let e = per_key.entry(k.as_str()).or_insert((0, 0));
                e.0 += 1;
                e.1 = e.1.max(r.ts);
            }
        }
        for (key, (count, last)) in per_key {
            sqlx::query(
                "UPDATE api_keys SET request_count = request_count + $2, last_used_at = $3 WHERE id = $1",
            )
            .bind(key)
            .bind(count)
            .bind(last)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let bytes: i64 = prepared.iter().map(|p| p.size).sum();
        self.log_bytes.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(bytes)
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

    /// Estimated stored size of the request log in bytes: the running estimate, counted from
    /// the table the first time (and every few byte-limited prunes).
    pub async fn log_bytes(&self) -> Result<i64> {
        if self.log_bytes.known.load(Ordering::Relaxed) {
            return Ok(self.log_bytes.bytes.load(Ordering::Relaxed));
        }
        self.recount_log_bytes().await
    }

    async fn recount_log_bytes(&self) -> Result<i64> {
        let total: i64 =
            sqlx::query_scalar("SELECT COALESCE(SUM(size_bytes), 0) FROM request_logs")
                .fetch_one(&self.pool)
                .await?;
        self.log_bytes.bytes.store(total, Ordering::Relaxed);
        self.log_bytes.known.store(true, Ordering::Relaxed);
        Ok(total)
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
        if let Some(age) = retention.stats_max_age_ms {
            sqlx::query("DELETE FROM request_stats WHERE hour_ms < $1")
                .bind(now_ms().saturating_sub(age.max(0)))
                .execute(&self.pool)
                .await?;
        }
        let mut budget = max_delete;
        let mut deleted = 0;
        if let Some(age) = retention.max_age_ms {
            let cutoff = now_ms().saturating_sub(age.max(0));
            let (n, done) = self
                .delete_all(
                    "SELECT id FROM request_logs WHERE ts < $1 ORDER BY ts LIMIT $2",
                    cutoff,
                    &mut budget,
                )
                .await?;
            deleted += n;
            if !done {
                return Ok((deleted, false));
            }
        }
        if let Some(max_rows) = retention.max_rows {
            // ids only grow and rows leave oldest first, so the newest `max_rows` ids are the
            // newest `max_rows` rows (gaps only make it keep fewer)
            let max_id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM request_logs")
                .fetch_one(&self.pool)
                .await?;
            if let Some(max_id) = max_id {
                let (n, done) = self
                    .delete_all(
                        "SELECT id FROM request_logs WHERE id <= $1 ORDER BY id LIMIT $2",
                        max_id - max_rows.max(0),
                        &mut budget,
                    )
                    .await?;
                deleted += n;
                if !done {
                    return Ok((deleted, false));
                }
            }
        }
        if let Some(max_bytes) = retention.max_bytes {
            let due = self
                .log_bytes
                .prunes
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(RECOUNT_EVERY);
            let total = if due || !self.log_bytes.known.load(Ordering::Relaxed) {
                self.recount_log_bytes().await?
            } else {
                self.log_bytes.bytes.load(Ordering::Relaxed)
            };
            let max_bytes = max_bytes.max(0);
            if total > max_bytes {
                // the oldest rows whose sizes add up to the excess (reading `size_bytes` only)
                let mut excess = total - (max_bytes - max_bytes / SLACK_DIVISOR);
                let mut after = 0_i64;
                let mut cutoff = None;
                'scan: loop {
                    let page = sqlx::query(
                        "SELECT id, size_bytes FROM request_logs WHERE id > $1 ORDER BY id LIMIT 4096",
                    )
                    .bind(after)
                    .fetch_all(&self.pool)
                    .await?;
                    if page.is_empty() {
                        break;
                    }
                    for r in &page {
                        let id: i64 = r.try_get(0)?;
                        excess -= r.try_get::<i64, _>(1)?;
                        cutoff = Some(id);
                        after = id;
                        if excess <= 0 {
                            break 'scan;
                        }
                    }
                }
                if let Some(cutoff) = cutoff {
                    let (n, done) = self
                        .delete_all(
                            "SELECT id FROM request_logs WHERE id <= $1 ORDER BY id LIMIT $2",
                            cutoff,
                            &mut budget,
                        )
                        .await?;
                    deleted += n;
                    if !done {
                        return Ok((deleted, false));
                    }
                }
            }
        }
        Ok((deleted, true))
    }

    /// Delete the rows chosen by `select_ids` (binding `$1 = arg`, `$2 = a chunk size`), a
    /// chunk per statement, within `budget` rows. Returns the rows deleted and whether all are
    /// gone.
    async fn delete_all(
        &self,
        select_ids: &str,
        arg: i64,
        budget: &mut u64,
    ) -> Result<(u64, bool)> {
        let sql =
            format!("DELETE FROM request_logs WHERE id IN ({select_ids}) RETURNING size_bytes");
        let mut deleted = 0;
        loop {
            if *budget == 0 {
                return Ok((deleted, false));
            }
            let limit = (*budget).min(DELETE_CHUNK);
            let sizes: Vec<i64> = sqlx::query_scalar(&sql)
                .bind(arg)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?;
            let n = sizes.len() as u64;
            self.log_bytes
                .bytes
                .fetch_sub(sizes.iter().sum::<i64>(), Ordering::Relaxed);
            deleted += n;
            *budget -= n;
            if n < limit {
                return Ok((deleted, true));
            }
        }
    }
}
