//! The request log's write connection: a plain SQLite connection of its own (rusqlite, sharing
//! the one SQLite library with sqlx) with cached statements, used off the async runtime by the
//! batch writer for inserts and retention. Through sqlx an inserted row cost ~15 µs (29 arguments
//! copied and boxed, a statement text built and hashed per chunk, a worker-thread hop per
//! statement) and a pruned row more (every `RETURNING` row crossed that hop); here each is a
//! bind and a step. Also keeps the running estimate of the log's size.

use crate::analytics::{stats_of, Agg, StatKey};
use crate::logs::{RequestLog, Retention};
use crate::requests::Prepared;
use crate::{now_ms, Result, StoreError};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const INSERT_ROW: &str = "INSERT INTO request_logs (request_id, ts, method, path, client_format, model, \
     provider, connection_id, upstream_model, stream, status, latency_ms, ttfb_ms, input_tokens, \
     output_tokens, api_key_id, error, attempts, cached_tokens, reasoning_tokens, cost_usd, cache_hit, \
     client_ip, user_agent, combo, attempts_detail, size_bytes, request_body, response_body, \
     upstream_request_body, upstream_response_body) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
     ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)";

const UPSERT_STAT: &str = "INSERT INTO request_stats (dim, value, hour_ms, requests, errors, \
     input_tokens, output_tokens, cached_tokens, reasoning_tokens, cost_usd, latency_sum, ttft_sum, \
     ttft_count, last_ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
     ON CONFLICT (dim, hour_ms, value) DO UPDATE SET requests = request_stats.requests + excluded.requests, \
     errors = request_stats.errors + excluded.errors, \
     input_tokens = request_stats.input_tokens + excluded.input_tokens, \
     output_tokens = request_stats.output_tokens + excluded.output_tokens, \
     cached_tokens = request_stats.cached_tokens + excluded.cached_tokens, \
     reasoning_tokens = request_stats.reasoning_tokens + excluded.reasoning_tokens, \
     cost_usd = request_stats.cost_usd + excluded.cost_usd, \
     latency_sum = request_stats.latency_sum + excluded.latency_sum, \
     ttft_sum = request_stats.ttft_sum + excluded.ttft_sum, \
     ttft_count = request_stats.ttft_count + excluded.ttft_count, \
     last_ts = MAX(request_stats.last_ts, excluded.last_ts)";

/// The end of the next chunk of rows with `id <= ?1`: the `?2`-th lowest id, or `?1` itself
/// when fewer are left; NULL when none is.
const UP_TO_ID_CHUNK: &str = "SELECT CASE WHEN EXISTS (SELECT 1 FROM request_logs WHERE id <= ?1) THEN \
     COALESCE((SELECT id FROM request_logs WHERE id <= ?1 ORDER BY id LIMIT 1 OFFSET ?2 - 1), ?1) END";

const KEY_USAGE: &str =
    "UPDATE api_keys SET request_count = request_count + ?2, last_used_at = MAX(COALESCE(last_used_at, 0), ?3) WHERE id = ?1";

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Invalid(format!("request log write: {e}"))
}

/// Fixed part of a row's estimated size: the integer columns, the record header, the b-tree cell
/// and the entries of the log's indexes (measured with `examples/analytics_bench.rs`: the
/// database file over the rows' text bytes, bodies off).
pub const LOG_ROW_OVERHEAD: i64 = 140;

/// Rows deleted per statement while pruning (each statement is its own short transaction, so
/// readers and the inserts are never held up for long).
const DELETE_CHUNK: u64 = 5000;
/// Recount the log's size from the table every this many byte-limited prunes (the running
/// estimate may drift when rows change outside the writer).
const RECOUNT_EVERY: u32 = 256;
/// When over `max_bytes`, prune down to `max_bytes - max_bytes / SLACK_DIVISOR` so the next
/// batches do not prune again at once.
const SLACK_DIVISOR: i64 = 16;

/// The write connection (one writer at a time; SQLite serializes writers anyway) and the
/// running size estimate.
#[derive(Debug)]
pub(crate) struct LogDb {
    conn: Mutex<Connection>,
    bytes: AtomicI64,
    known: AtomicBool,
    prunes: AtomicU32,
}

impl LogDb {
    /// Open the database file the pool uses (migrated already, WAL on).
    pub(crate) fn open(path: &Path) -> Result<LogDb> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
        // same page cache bound as the pool's connections; NORMAL is safe in WAL mode
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -1024;")
            .map_err(db)?;
        Ok(LogDb {
            conn: Mutex::new(conn),
            bytes: AtomicI64::new(0),
            known: AtomicBool::new(false),
            prunes: AtomicU32::new(0),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Invalid("request log connection poisoned".into()))
    }

    /// Write prepared rows, their hourly aggregates and the per-key usage in one transaction.
    /// Blocking: call from a blocking thread.
    /// Returns the rows' estimated size (added to the running estimate).
    pub(crate) fn insert<R: std::borrow::Borrow<RequestLog>>(
        &self,
        rows: &[R],
        prepared: &[Prepared<'_>],
    ) -> Result<i64> {
        let mut conn = self.lock()?;
        let tx = conn.transaction().map_err(db)?;
        {
            let mut insert = tx.prepare_cached(INSERT_ROW).map_err(db)?;
            for p in prepared {
                let r = p.r;
                insert
                    .execute(params![
                        r.request_id,
                        r.ts,
                        r.method,
                        r.path,
                        r.client_format,
                        r.model,
                        r.provider,
                        r.connection_id,
                        r.upstream_model,
                        r.stream,
                        i64::from(r.status),
                        r.latency_ms,
                        r.ttfb_ms,
                        r.input_tokens,
                        r.output_tokens,
                        r.api_key_id,
                        r.error,
                        r.attempts,
                        r.cached_tokens,
                        r.reasoning_tokens,
                        r.cost_usd,
                        r.cache_hit,
                        r.client_ip,
                        p.user_agent,
                        r.combo,
                        p.attempts,
                        p.size,
                        r.request_body,
                        r.response_body,
                        r.upstream_request_body,
                        r.upstream_response_body,
                    ])
                    .map_err(db)?;
            }
            write_stats(&tx, &stats_of(rows))?;
            let mut per_key: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
            for r in rows {
                let r: &RequestLog = r.borrow();
                if let Some(k) = &r.api_key_id {
                    let e = per_key.entry(k.as_str()).or_insert((0, 0));
                    e.0 += 1;
                    e.1 = e.1.max(r.ts);
                }
            }
            if !per_key.is_empty() {
                let mut usage = tx.prepare_cached(KEY_USAGE).map_err(db)?;
                for (key, (count, last)) in per_key {
                    usage.execute(params![key, count, last]).map_err(db)?;
                }
            }
        }
        tx.commit().map_err(db)?;
        let bytes: i64 = prepared.iter().map(|p| p.size).sum();
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(bytes)
    }

    /// The estimated stored size: the running estimate, counted from the table the first time.
    pub(crate) fn bytes(&self) -> Result<i64> {
        if self.known.load(Ordering::Relaxed) {
            return Ok(self.bytes.load(Ordering::Relaxed));
        }
        let conn = self.lock()?;
        self.recount(&conn)
    }

    fn recount(&self, conn: &Connection) -> Result<i64> {
        let total: i64 = conn
            .prepare_cached("SELECT COALESCE(SUM(size_bytes), 0) FROM request_logs")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(db)?;
        self.bytes.store(total, Ordering::Relaxed);
        self.known.store(true, Ordering::Relaxed);
        Ok(total)
    }

    /// Apply a retention deleting at most `max_delete` log rows (see `Store::prune_logs_bounded`).
    /// Returns the rows deleted and whether the retention is met.
    pub(crate) fn prune(&self, retention: &Retention, max_delete: u64) -> Result<(u64, bool)> {
        let conn = self.lock()?;
        if let Some(age) = retention.stats_max_age_ms {
            conn.prepare_cached("DELETE FROM request_stats WHERE hour_ms < ?1")
                .and_then(|mut s| s.execute([now_ms().saturating_sub(age.max(0))]))
                .map_err(db)?;
        }
        let mut budget = max_delete;
        let mut deleted = 0;
        if let Some(age) = retention.max_age_ms {
            let cutoff = now_ms().saturating_sub(age.max(0));
            let (n, done) = self.delete_all(
                &conn,
                "SELECT MAX(id) FROM (SELECT id FROM request_logs WHERE ts < ?1 ORDER BY ts LIMIT ?2)",
                "ts < ?1 AND id <= ?2",
                cutoff,
                &mut budget,
            )?;
            deleted += n;
            if !done {
                return Ok((deleted, false));
            }
        }
        if let Some(max_rows) = retention.max_rows {
            // ids only grow and rows leave oldest first, so the newest `max_rows` ids are the
            // newest `max_rows` rows (gaps only make it keep fewer)
            let max_id: Option<i64> = conn
                .prepare_cached("SELECT MAX(id) FROM request_logs")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(db)?;
            if let Some(max_id) = max_id {
                let (n, done) = self.delete_all(
                    &conn,
                    UP_TO_ID_CHUNK,
                    "id <= ?2",
                    max_id - max_rows.max(0),
                    &mut budget,
                )?;
                deleted += n;
                if !done {
                    return Ok((deleted, false));
                }
            }
        }
        if let Some(max_bytes) = retention.max_bytes {
            let due = self
                .prunes
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(RECOUNT_EVERY);
            let total = if due || !self.known.load(Ordering::Relaxed) {
                self.recount(&conn)?
            } else {
                self.bytes.load(Ordering::Relaxed)
            };
            let max_bytes = max_bytes.max(0);
            if total > max_bytes {
                // the oldest rows whose sizes add up to the excess (reading `size_bytes` only)
                let mut excess = total - (max_bytes - max_bytes / SLACK_DIVISOR);
                let mut cutoff = None;
                {
                    let mut scan = conn
                        .prepare_cached("SELECT id, size_bytes FROM request_logs ORDER BY id")
                        .map_err(db)?;
                    let mut rows = scan.query([]).map_err(db)?;
                    while let Some(r) = rows.next().map_err(db)? {
                        cutoff = Some(r.get::<_, i64>(0).map_err(db)?);
                        excess -= r.get::<_, i64>(1).map_err(db)?;
                        if excess <= 0 {
                            break;
                        }
                    }
                }
                if let Some(cutoff) = cutoff {
                    let (n, done) =
                        self.delete_all(&conn, UP_TO_ID_CHUNK, "id <= ?2", cutoff, &mut budget)?;
                    deleted += n;
                    if !done {
                        return Ok((deleted, false));
                    }
                }
            }
        }
        Ok((deleted, true))
    }

    /// Delete, oldest first and a chunk per statement within `budget` rows, the rows matching
    /// `cond` (`?1 = arg`, `?2` = the highest id of the chunk); `chunk_end` gives that id for a
    /// chunk size (`?1 = arg`, `?2 = size`; NULL when nothing is left). Contiguous id ranges
    /// are deleted in place (no ephemeral table of ids, no `RETURNING` rows), their sizes
    /// summed first from the same pages. Returns the rows deleted and whether all are gone.
    fn delete_all(
        &self,
        conn: &Connection,
        chunk_end: &str,
        cond: &str,
        arg: i64,
        budget: &mut u64,
    ) -> Result<(u64, bool)> {
        let mut end = conn.prepare_cached(chunk_end).map_err(db)?;
        let mut sum = conn
            .prepare_cached(&format!(
                "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM request_logs WHERE {cond}"
            ))
            .map_err(db)?;
        let mut delete = conn
            .prepare_cached(&format!("DELETE FROM request_logs WHERE {cond}"))
            .map_err(db)?;
        let mut deleted = 0;
        loop {
            if *budget == 0 {
                return Ok((deleted, false));
            }
            let limit = (*budget).min(DELETE_CHUNK);
            let hi: Option<i64> = end
                .query_row(params![arg, limit as i64], |r| r.get(0))
                .optional()
                .map_err(db)?
                .flatten();
            let Some(hi) = hi else {
                return Ok((deleted, true));
            };
            let (n, bytes): (i64, i64) = sum
                .query_row(params![arg, hi], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db)?;
            delete.execute(params![arg, hi]).map_err(db)?;
            let n = n.max(0) as u64;
            self.bytes.fetch_sub(bytes, Ordering::Relaxed);
            deleted += n;
            *budget = budget.saturating_sub(n);
            if n < limit {
                return Ok((deleted, true));
            }
        }
    }
}

fn write_stats(tx: &rusqlite::Transaction<'_>, stats: &HashMap<StatKey<'_>, Agg>) -> Result<()> {
    let mut upsert = tx.prepare_cached(UPSERT_STAT).map_err(db)?;
    for ((dim, hour, value), a) in stats {
        upsert
            .execute(params![
                dim,
                value.as_ref(),
                hour,
                a.requests,
                a.errors,
                a.input_tokens,
                a.output_tokens,
                a.cached_tokens,
                a.reasoning_tokens,
                a.cost_usd,
                a.latency_sum,
                a.ttft_sum,
                a.ttft_count,
                a.last_ts,
            ])
            .map_err(db)?;
    }
    Ok(())
}
