//! Request-log queries: batch insert, lookup, the dashboard's filtered listing with a cursor
//! (filters applied to the decoded blocks, newest first), and retention (rows, age, estimated
//! bytes) with a running size estimate.

use crate::logblock::RowRef;
use crate::logdb::body_bytes;
use crate::logs::{AttemptLog, RequestLog, Retention, USER_AGENT_MAX_CHARS};
use crate::{Result, Store, StoreError};
use serde::Deserialize;

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

/// A row ready to be stored: the serialized attempts, the capped user agent, the bodies' size.
pub(crate) struct Prepared<'a> {
    pub(crate) r: &'a RequestLog,
    pub(crate) attempts: Option<String>,
    pub(crate) user_agent: Option<&'a str>,
    pub(crate) body_bytes: i64,
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
pub(crate) fn attempts_of(stored: &str, row: &RequestLog) -> Vec<AttemptLog> {
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
    Prepared {
        r,
        attempts: attempts_text(r),
        user_agent: r
            .user_agent
            .as_deref()
            .map(|ua| cap_chars(ua, USER_AGENT_MAX_CHARS)),
        body_bytes: body_bytes(r),
    }
}

/// Whether `hay` contains `needle` (ASCII case-insensitive, as SQL `LIKE`).
fn contains_ci(hay: &str, needle: &str) -> bool {
    needle.is_empty()
        || hay
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Whether a row passes the listing's filters (all but the cursor and the time range, which
/// the scan applies).
fn matches(q: &LogQuery, r: &RowRef<'_>) -> bool {
    let eq =
        |want: &Option<String>, got: Option<&str>| want.as_deref().is_none_or(|w| got == Some(w));
    eq(&q.provider, r.provider())
        && q.model
            .as_deref()
            .is_none_or(|m| r.model() == Some(m) || r.upstream_model() == Some(m))
        && eq(&q.api_key_id, r.api_key_id())
        && eq(&q.combo, r.combo())
        && eq(&q.connection_id, r.connection_id())
        && q.status_min.is_none_or(|s| r.status >= s)
        && q.status_max.is_none_or(|s| r.status <= s)
        && q.search
            .as_deref()
            .filter(|s| !s.is_empty())
            .is_none_or(|s| {
                [
                    r.model(),
                    r.upstream_model(),
                    r.error(),
                    Some(r.request_id()),
                ]
                .iter()
                .flatten()
                .any(|v| contains_ci(v, s))
            })
}

impl Store {
    /// Write a batch of request-log rows in one transaction (blocks of up to 256 rows, bodies
    /// apart), add them to the hourly aggregates (`request_stats`) and add the per-key request
    /// counts. Returns the rows' estimated size in bytes (added to the running estimate of
    /// [`Store::log_bytes`]).
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
        let db = self.log_db.clone();
        let request_id = request_id.to_string();
        blocking(move || db.get_by_request_id(&request_id)).await
    }

    /// The row with this id, bodies included.
    pub async fn get_log_by_id(&self, id: i64) -> Result<Option<RequestLog>> {
        let db = self.log_db.clone();
        blocking(move || db.get(id)).await
    }

    /// The newest `limit` rows, newest first, without bodies.
    pub async fn recent_logs(&self, limit: i64) -> Result<Vec<RequestLog>> {
        let db = self.log_db.clone();
        blocking(move || {
            let limit = usize::try_from(limit).unwrap_or(0);
            let mut out = Vec::new();
            if limit > 0 {
                db.scan(None, None, None, |r| {
                    out.push(r.to_log());
                    out.len() < limit
                })?;
            }
            Ok(out)
        })
        .await
    }

    /// The filtered listing, newest first, without bodies (see [`LogQuery`]).
    pub async fn query_logs(&self, q: &LogQuery) -> Result<Vec<RequestLog>> {
        let db = self.log_db.clone();
        let q = q.clone();
        blocking(move || {
            let limit = q.limit.unwrap_or(100).clamp(1, 1000) as usize;
            let mut out = Vec::new();
            db.scan(q.before_id, q.since_ms, q.until_ms, |r| {
                if matches(&q, r) {
                    out.push(r.to_log());
                }
                out.len() < limit
            })?;
            Ok(out)
        })
        .await
    }

    /// Rows in the request log.
    pub async fn log_rows(&self) -> Result<i64> {
        let db = self.log_db.clone();
        blocking(move || db.rows()).await
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
    /// aggregates older than `stats_max_age_ms`. Whole blocks go at once; a block the limit cuts
    /// through is rewritten with the rows it keeps. Returns the number of log rows deleted.
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
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Invalid(format!("request log task: {e}")))?
}
