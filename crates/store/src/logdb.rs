//! The request log's own SQLite connections (rusqlite, sharing the one SQLite library with sqlx):
//! the batch writer's, with cached statements, used off the async runtime for inserts and
//! retention, and one for reading the log. Rows are stored in blocks (`logblock`): a batch of
//! rows is one b-tree insert per 256 rows, a prune deletes whole blocks and rewrites at most one
//! per limit. Also keeps the running estimate of the log's size and the next row id.

use crate::analytics::{stats_of, Agg, StatKey};
use crate::logblock::{decode, encode, RowRef, BLOCK_ROWS};
use crate::logs::{RequestLog, Retention};
use crate::requests::Prepared;
use crate::{now_ms, Result, StoreError};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

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

const KEY_USAGE: &str =
    "UPDATE api_keys SET request_count = request_count + ?2, last_used_at = MAX(COALESCE(last_used_at, 0), ?3) WHERE id = ?1";

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Invalid(format!("request log: {e}"))
}

/// Per-row part of the size estimate beyond the row's encoded bytes and bodies (its share of
/// the block's b-tree cell and page slack).
pub const LOG_ROW_OVERHEAD: i64 = 8;

/// Recount the log's size from the table every this many byte-limited prunes (the running
/// estimate may drift when rows change outside the writer).
const RECOUNT_EVERY: u32 = 256;
/// When over `max_bytes`, prune down to `max_bytes - max_bytes / SLACK_DIVISOR` so the next
/// batches do not prune again at once.
const SLACK_DIVISOR: i64 = 16;

const INSERT_BLOCK: &str =
    "INSERT INTO request_log_blocks (first_id, last_id, rows, min_ts, max_ts, bytes, data) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const INSERT_BODIES: &str =
    "INSERT OR REPLACE INTO request_log_bodies (id, request_body, response_body, \
     upstream_request_body, upstream_response_body) VALUES (?1, ?2, ?3, ?4, ?5)";
/// Block metadata oldest first, from the covering index (no blob read).
const METAS_ASC: &str =
    "SELECT first_id, last_id, rows, min_ts, max_ts, bytes FROM request_log_blocks \
     INDEXED BY request_log_blocks_meta ORDER BY first_id";
/// Block metadata newest first below an id and overlapping a time range.
const METAS_DESC: &str =
    "SELECT first_id, last_id, rows, min_ts, max_ts, bytes FROM request_log_blocks \
     INDEXED BY request_log_blocks_meta WHERE first_id < ?1 AND max_ts >= ?2 AND min_ts < ?3 \
     ORDER BY first_id DESC";

/// A block's metadata.
#[derive(Debug, Clone, Copy)]
struct Meta {
    first_id: i64,
    last_id: i64,
    rows: i64,
    max_ts: i64,
    min_ts: i64,
    bytes: i64,
}

fn meta(r: &rusqlite::Row<'_>) -> rusqlite::Result<Meta> {
    Ok(Meta {
        first_id: r.get(0)?,
        last_id: r.get(1)?,
        rows: r.get(2)?,
        min_ts: r.get(3)?,
        max_ts: r.get(4)?,
        bytes: r.get(5)?,
    })
}

/// The bodies of one row.
pub(crate) type Bodies = [Option<String>; 4];

/// The writer's connection, the reader's, the running size estimate and the next row id.
#[derive(Debug)]
pub(crate) struct LogDb {
    conn: Mutex<Connection>,
    read: Mutex<Connection>,
    bytes: AtomicI64,
    known: AtomicBool,
    prunes: AtomicU32,
    next_id: AtomicI64,
}

fn open_conn(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let conn =
        Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(db)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
    // same page cache bound as the pool's connections; NORMAL is safe in WAL mode
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -1024;")
        .map_err(db)?;
    Ok(conn)
}

impl LogDb {
    /// Open the database file the pool uses (migrated already, WAL on). Rows of a log written
    /// before blocks (the `request_logs` table) are moved into blocks once, here.
    pub(crate) fn open(path: &Path) -> Result<LogDb> {
        let mut conn = open_conn(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        convert_legacy(&mut conn)?;
        let next: i64 = conn
            .query_row(
                "SELECT MAX(COALESCE((SELECT next_id FROM request_log_seq WHERE id = 1), 1), \
                 COALESCE((SELECT MAX(last_id) + 1 FROM request_log_blocks), 1))",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        let read = open_conn(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        Ok(LogDb {
            conn: Mutex::new(conn),
            read: Mutex::new(read),
            bytes: AtomicI64::new(0),
            known: AtomicBool::new(false),
            prunes: AtomicU32::new(0),
            next_id: AtomicI64::new(next),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Invalid("request log connection poisoned".into()))
    }

    fn reader(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.read
            .lock()
            .map_err(|_| StoreError::Invalid("request log connection poisoned".into()))
    }

    /// Write prepared rows (as blocks, with their bodies), their hourly aggregates and the
    /// per-key usage in one transaction. Blocking: call from a blocking thread.
    /// Returns the rows' estimated size (added to the running estimate).
    pub(crate) fn insert<R: std::borrow::Borrow<RequestLog>>(
        &self,
        rows: &[R],
        prepared: &[Prepared<'_>],
    ) -> Result<i64> {
        let mut conn = self.lock()?;
        let tx = conn.transaction().map_err(db)?;
        let mut id = self.next_id.load(Ordering::Relaxed);
        let mut bytes = 0;
        {
            let mut refs = Vec::with_capacity(prepared.len().min(BLOCK_ROWS));
            for chunk in prepared.chunks(BLOCK_ROWS) {
                refs.clear();
                for p in chunk {
                    refs.push(RowRef::of(
                        p.r,
                        id,
                        p.attempts.as_deref(),
                        p.user_agent,
                        p.body_bytes,
                    ));
                    if p.body_bytes > 0 {
                        write_bodies(&tx, id, p.r)?;
                    }
                    id += 1;
                }
                bytes += write_block(&tx, &refs)?;
            }
            tx.prepare_cached(
                "INSERT INTO request_log_seq (id, next_id) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET next_id = excluded.next_id",
            )
            .and_then(|mut s| s.execute([id]))
            .map_err(db)?;
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
        self.next_id.store(id, Ordering::Relaxed);
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
            .prepare_cached("SELECT COALESCE(SUM(bytes), 0) FROM request_log_blocks")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(db)?;
        self.bytes.store(total, Ordering::Relaxed);
        self.known.store(true, Ordering::Relaxed);
        Ok(total)
    }

    /// Apply a retention deleting at most `max_delete` log rows (see `Store::prune_logs_bounded`;
    /// whole blocks count whole, so a prune may go past it by one block).
    /// Returns the rows deleted and whether the retention is met.
    pub(crate) fn prune(&self, retention: &Retention, max_delete: u64) -> Result<(u64, bool)> {
        let mut conn = self.lock()?;
        if let Some(age) = retention.stats_max_age_ms {
            conn.prepare_cached("DELETE FROM request_stats WHERE hour_ms < ?1")
                .and_then(|mut s| s.execute([now_ms().saturating_sub(age.max(0))]))
                .map_err(db)?;
        }
        let mut budget = max_delete;
        let mut deleted = 0;
        if let Some(age) = retention.max_age_ms {
            let cutoff = now_ms().saturating_sub(age.max(0));
            let tx = conn.transaction().map_err(db)?;
            let metas = metas_asc(&tx)?;
            let mut done = true;
            for m in metas.iter().filter(|m| m.min_ts < cutoff) {
                if budget == 0 {
                    done = false;
                    break;
                }
                let n = if m.max_ts < cutoff && m.rows.max(0) as u64 <= budget {
                    self.delete_block(&tx, m)?
                } else {
                    let mut cap = budget;
                    self.rewrite_block(&tx, m, |r| {
                        if r.ts < cutoff {
                            if cap > 0 {
                                cap -= 1;
                                return false;
                            }
                            done = false;
                        }
                        true
                    })?
                };
                deleted += n;
                budget = budget.saturating_sub(n);
            }
            tx.commit().map_err(db)?;
            if !done {
                return Ok((deleted, false));
            }
        }
        if let Some(max_rows) = retention.max_rows {
            let tx = conn.transaction().map_err(db)?;
            let metas = metas_asc(&tx)?;
            let total: i64 = metas.iter().map(|m| m.rows).sum();
            let excess = total - max_rows.max(0);
            let (n, done) = self.trim_front(&tx, &metas, excess, |_| 1, |m| m.rows, &mut budget)?;
            tx.commit().map_err(db)?;
            deleted += n;
            if !done {
                return Ok((deleted, false));
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
                let excess = total - (max_bytes - max_bytes / SLACK_DIVISOR);
                let tx = conn.transaction().map_err(db)?;
                let metas = metas_asc(&tx)?;
                let (n, done) =
                    self.trim_front(&tx, &metas, excess, |r| r.size(), |m| m.bytes, &mut budget)?;
                tx.commit().map_err(db)?;
                deleted += n;
                if !done {
                    return Ok((deleted, false));
                }
            }
        }
        Ok((deleted, true))
    }

    /// Delete the oldest rows whose measure (a row count or a size) adds up to `excess`: whole
    /// blocks, then the front of the next one. Returns the rows deleted and whether all went.
    fn trim_front(
        &self,
        tx: &rusqlite::Transaction<'_>,
        metas: &[Meta],
        mut excess: i64,
        row_measure: impl Fn(&RowRef<'_>) -> i64,
        block_measure: impl Fn(&Meta) -> i64,
        budget: &mut u64,
    ) -> Result<(u64, bool)> {
        let mut deleted = 0;
        for m in metas {
            if excess <= 0 {
                break;
            }
            if *budget == 0 {
                return Ok((deleted, false));
            }
            let whole = block_measure(m);
            let n = if whole <= excess && m.rows.max(0) as u64 <= *budget {
                excess -= whole;
                self.delete_block(tx, m)?
            } else {
                // the front of the block, as far as the excess and the budget go
                let mut cap = *budget;
                let mut left = excess;
                let n = self.rewrite_block(tx, m, |r| {
                    if left > 0 && cap > 0 {
                        left -= row_measure(r);
                        cap -= 1;
                        false
                    } else {
                        true
                    }
                })?;
                excess = left;
                n
            };
            deleted += n;
            *budget = budget.saturating_sub(n);
        }
        Ok((deleted, excess <= 0))
    }

    /// Delete a block and its rows' bodies; returns its row count.
    fn delete_block(&self, tx: &rusqlite::Transaction<'_>, m: &Meta) -> Result<u64> {
        self.delete_block_row(tx, m)?;
        tx.prepare_cached("DELETE FROM request_log_bodies WHERE id >= ?1 AND id <= ?2")
            .and_then(|mut s| s.execute([m.first_id, m.last_id]))
            .map_err(db)?;
        Ok(m.rows.max(0) as u64)
    }

    /// Delete a block's row only (its rows' bodies stay).
    fn delete_block_row(&self, tx: &rusqlite::Transaction<'_>, m: &Meta) -> Result<()> {
        tx.prepare_cached("DELETE FROM request_log_blocks WHERE first_id = ?1")
            .and_then(|mut s| s.execute([m.first_id]))
            .map_err(db)?;
        self.bytes.fetch_sub(m.bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Keep the rows of a block for which `keep` holds (called oldest first) and delete the
    /// others with their bodies; returns the rows deleted.
    fn rewrite_block(
        &self,
        tx: &rusqlite::Transaction<'_>,
        m: &Meta,
        mut keep: impl FnMut(&RowRef<'_>) -> bool,
    ) -> Result<u64> {
        let data: Vec<u8> = tx
            .prepare_cached("SELECT data FROM request_log_blocks WHERE first_id = ?1")
            .and_then(|mut s| s.query_row([m.first_id], |r| r.get(0)))
            .map_err(db)?;
        let rows = decode(&data)?;
        let (kept, gone): (Vec<RowRef<'_>>, Vec<RowRef<'_>>) =
            rows.into_iter().partition(|r| keep(r));
        if gone.is_empty() {
            return Ok(0);
        }
        self.delete_block_row(tx, m)?;
        {
            let mut bodies = tx
                .prepare_cached("DELETE FROM request_log_bodies WHERE id = ?1")
                .map_err(db)?;
            for r in gone.iter().filter(|r| r.body_bytes > 0) {
                bodies.execute([r.id]).map_err(db)?;
            }
        }
        let n = gone.len() as u64;
        if !kept.is_empty() {
            let bytes = write_block(tx, &kept)?;
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        Ok(n)
    }

    /// Rows in the log.
    pub(crate) fn rows(&self) -> Result<i64> {
        let conn = self.reader()?;
        conn.prepare_cached("SELECT COALESCE(SUM(rows), 0) FROM request_log_blocks")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(db)
    }

    /// Visit the rows with `id < before`, `since <= ts < until`, newest first, until `f`
    /// returns false.
    pub(crate) fn scan(
        &self,
        before: Option<i64>,
        since: Option<i64>,
        until: Option<i64>,
        mut f: impl FnMut(&RowRef<'_>) -> bool,
    ) -> Result<()> {
        let guard = self.reader()?;
        // one read transaction: the block list and the blocks from the same snapshot, whatever
        // the writer prunes meanwhile (dropped at the end: a rollback of nothing)
        let conn = guard.unchecked_transaction().map_err(db)?;
        let before = before.unwrap_or(i64::MAX);
        let since = since.unwrap_or(i64::MIN);
        let until = until.unwrap_or(i64::MAX);
        let metas: Vec<Meta> = conn
            .prepare_cached(METAS_DESC)
            .and_then(|mut s| {
                s.query_map(params![before, since, until], meta)?
                    .collect::<rusqlite::Result<Vec<Meta>>>()
            })
            .map_err(db)?;
        let mut data = conn
            .prepare_cached("SELECT data FROM request_log_blocks WHERE first_id = ?1")
            .map_err(db)?;
        for m in metas {
            let Some(blob) = data
                .query_row([m.first_id], |r| r.get::<_, Vec<u8>>(0))
                .optional()
                .map_err(db)?
            else {
                continue; // pruned since the metadata was read
            };
            for r in decode(&blob)?.iter().rev() {
                if r.id < before && r.ts >= since && r.ts < until && !f(r) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The row with this id, bodies included.
    pub(crate) fn get(&self, id: i64) -> Result<Option<RequestLog>> {
        let conn = self.reader()?;
        let blob: Option<Vec<u8>> = conn
            .prepare_cached(
                "SELECT data FROM request_log_blocks WHERE first_id <= ?1 AND last_id >= ?1 \
                 ORDER BY first_id DESC LIMIT 1",
            )
            .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
            .map_err(db)?;
        let Some(blob) = blob else {
            return Ok(None);
        };
        let Some(mut row) = decode(&blob)?
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.to_log())
        else {
            return Ok(None);
        };
        drop(blob);
        let bodies = bodies_of(&conn, id)?;
        set_bodies(&mut row, bodies);
        Ok(Some(row))
    }

    /// The newest row with this request id, bodies included.
    pub(crate) fn get_by_request_id(&self, request_id: &str) -> Result<Option<RequestLog>> {
        let mut found = None;
        self.scan(None, None, None, |r| {
            if r.request_id() == request_id {
                found = Some(r.to_log());
                false
            } else {
                true
            }
        })?;
        let Some(mut row) = found else {
            return Ok(None);
        };
        let bodies = bodies_of(&*self.reader()?, row.id)?;
        set_bodies(&mut row, bodies);
        Ok(Some(row))
    }
}

fn set_bodies(row: &mut RequestLog, bodies: Bodies) {
    let [a, b, c, d] = bodies;
    row.request_body = a;
    row.response_body = b;
    row.upstream_request_body = c;
    row.upstream_response_body = d;
}

fn bodies_of(conn: &Connection, id: i64) -> Result<Bodies> {
    Ok(conn
        .prepare_cached(
            "SELECT request_body, response_body, upstream_request_body, upstream_response_body \
             FROM request_log_bodies WHERE id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([id], |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]))
                .optional()
        })
        .map_err(db)?
        .unwrap_or_default())
}

fn metas_asc(conn: &Connection) -> Result<Vec<Meta>> {
    conn.prepare_cached(METAS_ASC)
        .and_then(|mut s| {
            s.query_map([], meta)?
                .collect::<rusqlite::Result<Vec<Meta>>>()
        })
        .map_err(db)
}

/// Write rows (ids ascending, at most `BLOCK_ROWS`) as one block; returns its size estimate.
fn write_block(tx: &Connection, rows: &[RowRef<'_>]) -> Result<i64> {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(0);
    };
    let blob = encode(rows);
    let (min_ts, max_ts) = rows.iter().fold((i64::MAX, i64::MIN), |(lo, hi), r| {
        (lo.min(r.ts), hi.max(r.ts))
    });
    let bytes = blob.len() as i64
        + rows
            .iter()
            .map(|r| r.body_bytes + LOG_ROW_OVERHEAD)
            .sum::<i64>();
    tx.prepare_cached(INSERT_BLOCK)
        .and_then(|mut s| {
            s.execute(params![
                first.id,
                last.id,
                rows.len() as i64,
                min_ts,
                max_ts,
                bytes,
                blob
            ])
        })
        .map_err(db)?;
    Ok(bytes)
}

/// Move the rows of the `request_logs` table (a log written before blocks) into blocks, keeping
/// their ids, then drop the table. Once, at open; a no-op without the table.
fn convert_legacy(conn: &mut Connection) -> Result<()> {
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'request_logs')",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    if !exists {
        return Ok(());
    }
    let tx = conn.transaction().map_err(db)?;
    {
        let mut select = tx
            .prepare(
                "SELECT id, request_id, ts, method, path, client_format, model, provider, connection_id, \
                 upstream_model, stream, status, latency_ms, ttfb_ms, input_tokens, output_tokens, \
                 api_key_id, error, attempts, cached_tokens, reasoning_tokens, cost_usd, cache_hit, \
                 client_ip, user_agent, combo, attempts_detail, request_body, response_body, \
                 upstream_request_body, upstream_response_body FROM request_logs ORDER BY id",
            )
            .map_err(db)?;
        let mut rows = select.query([]).map_err(db)?;
        let mut chunk: Vec<(RequestLog, Option<String>)> = Vec::with_capacity(BLOCK_ROWS);
        let flush = |chunk: &mut Vec<(RequestLog, Option<String>)>| -> Result<()> {
            let refs: Vec<RowRef<'_>> = chunk
                .iter()
                .map(|(r, attempts)| {
                    RowRef::of(
                        r,
                        r.id,
                        attempts.as_deref(),
                        r.user_agent.as_deref(),
                        body_bytes(r),
                    )
                })
                .collect();
            for (r, _) in chunk.iter().filter(|(r, _)| body_bytes(r) > 0) {
                write_bodies(&tx, r.id, r)?;
            }
            write_block(&tx, &refs)?;
            chunk.clear();
            Ok(())
        };
        while let Some(r) = rows.next().map_err(db)? {
            let row = RequestLog {
                id: r.get(0).map_err(db)?,
                request_id: r.get(1).map_err(db)?,
                ts: r.get(2).map_err(db)?,
                method: r.get(3).map_err(db)?,
                path: r.get(4).map_err(db)?,
                client_format: r.get(5).map_err(db)?,
                model: r.get(6).map_err(db)?,
                provider: r.get(7).map_err(db)?,
                connection_id: r.get(8).map_err(db)?,
                upstream_model: r.get(9).map_err(db)?,
                stream: r.get(10).map_err(db)?,
                status: u16::try_from(r.get::<_, i64>(11).map_err(db)?).unwrap_or(0),
                latency_ms: r.get(12).map_err(db)?,
                ttfb_ms: r.get(13).map_err(db)?,
                input_tokens: r.get(14).map_err(db)?,
                output_tokens: r.get(15).map_err(db)?,
                api_key_id: r.get(16).map_err(db)?,
                error: r.get(17).map_err(db)?,
                attempts: r.get(18).map_err(db)?,
                cached_tokens: r.get(19).map_err(db)?,
                reasoning_tokens: r.get(20).map_err(db)?,
                cost_usd: r.get(21).map_err(db)?,
                cache_hit: r.get(22).map_err(db)?,
                client_ip: r.get(23).map_err(db)?,
                user_agent: r.get(24).map_err(db)?,
                combo: r.get(25).map_err(db)?,
                attempts_detail: Vec::new(),
                request_body: r.get(27).map_err(db)?,
                response_body: r.get(28).map_err(db)?,
                upstream_request_body: r.get(29).map_err(db)?,
                upstream_response_body: r.get(30).map_err(db)?,
            };
            let attempts: Option<String> = r.get(26).map_err(db)?;
            chunk.push((row, attempts));
            if chunk.len() == BLOCK_ROWS {
                flush(&mut chunk)?;
            }
        }
        if !chunk.is_empty() {
            flush(&mut chunk)?;
        }
    }
    tx.execute_batch("DROP TABLE request_logs").map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(())
}

/// Store a row's bodies under its id.
fn write_bodies(tx: &Connection, id: i64, r: &RequestLog) -> Result<()> {
    tx.prepare_cached(INSERT_BODIES)
        .and_then(|mut s| {
            s.execute(params![
                id,
                r.request_body,
                r.response_body,
                r.upstream_request_body,
                r.upstream_response_body
            ])
        })
        .map_err(db)?;
    Ok(())
}

/// Stored bytes of a row's bodies.
pub(crate) fn body_bytes(r: &RequestLog) -> i64 {
    [
        &r.request_body,
        &r.response_body,
        &r.upstream_request_body,
        &r.upstream_response_body,
    ]
    .iter()
    .map(|b| b.as_ref().map_or(0, |b| b.len() as i64))
    .sum()
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
