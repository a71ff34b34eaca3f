//! The request log: rows leave the hot path through a bounded channel and are written in batches,
//! one transaction per batch; when the channel is full a row is dropped (and counted) rather than
//! slowing a request down. The same task enforces the retention (rows, age, estimated bytes):
//! after every ~1000 rows or every slice of the byte budget written, every minute when idle, and
//! at once when the retention is changed.

use crate::Store;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// One proxied request, as logged.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RequestLog {
    /// Row id (the cursor of `Store::query_logs`); 0 until the row is saved.
    #[serde(default)]
    pub id: i64,
    pub request_id: String,
    pub ts: i64,
    pub method: String,
    pub path: String,
    pub client_format: Option<String>,
    /// The model the client asked for (a combo name, an alias, `provider/model`...).
    pub model: Option<String>,
    pub provider: Option<String>,
    pub connection_id: Option<String>,
    /// The model id sent upstream by the attempt that answered.
    pub upstream_model: Option<String>,
    pub stream: bool,
    pub status: u16,
    pub latency_ms: i64,
    /// Time to first token: for streams, the time to the first *content* event (what the
    /// client waits for, lifecycle events do not count); for non-stream responses, the time to
    /// the upstream's response headers. Stored in the `ttfb_ms` column.
    pub ttfb_ms: Option<i64>,
    /// Every prompt token, cache reads and writes included.
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// Prompt tokens read from the provider's cache (a part of `input_tokens`).
    #[serde(default)]
    pub cached_tokens: Option<i64>,
    /// Reasoning tokens (a part of `output_tokens`).
    #[serde(default)]
    pub reasoning_tokens: Option<i64>,
    /// Cost in USD computed from the usage and the pricing table; `None` when unpriced.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// `HIT`, `SEMANTIC-HIT`, `MISS`, `BYPASS` or `IDEMPOTENT` (the `X-OmniRoute-Cache` value).
    #[serde(default)]
    pub cache_hit: Option<String>,
    #[serde(default)]
    pub client_ip: Option<String>,
    /// Capped at [`USER_AGENT_MAX_CHARS`] characters when written.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The combo's name when the requested model was one.
    #[serde(default)]
    pub combo: Option<String>,
    pub api_key_id: Option<String>,
    pub error: Option<String>,
    /// Upstream attempts made (0 when the request failed before routing).
    pub attempts: i64,
    /// Every upstream attempt in order (stored as a JSON array; empty = NULL).
    #[serde(default)]
    pub attempts_detail: Vec<AttemptLog>,
    /// Request body, only when body logging is on (capped and redacted by the caller). Loaded by
    /// `get_log`/`get_log_by_id` only; listings leave it `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// Response body (for streams, the streamed bytes), same rules as `request_body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// The request as sent upstream by the last attempt (after translation), same rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub upstream_request_body: Option<String>,
    /// The upstream's answer as received by the last attempt (non-stream answers and error
    /// bodies; for streams, the upstream's bytes), same rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub upstream_response_body: Option<String>,
}

/// One upstream attempt of a request.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AttemptLog {
    pub provider: String,
    /// Connection id.
    #[serde(default)]
    pub connection: Option<String>,
    /// The model id sent upstream.
    pub model: String,
    /// `ok` or the failure class (the routing crate's outcome name).
    pub outcome: String,
    /// Upstream HTTP status; `None` when no response came (connect error, timeout).
    #[serde(default)]
    pub status: Option<u16>,
    pub latency_ms: i64,
    /// The outbound route the call took: `direct`, or the proxy (credentials masked). The proxy
    /// log is these fields across requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The upstream address connected to (`ip:port`); `None` when no connection was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// The local address the call left from (the egress IP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<String>,
}

const DAY_MS: i64 = 86_400_000;

/// User agents longer than this are cut when written.
pub const USER_AGENT_MAX_CHARS: usize = 256;

/// How much of the request log to keep; `None` = no limit of that kind. Enforced by the
/// [`LogWriter`] (and by `Store::prune_logs`): rows older than `max_age_ms`, then the oldest
/// rows beyond `max_rows`, then the oldest rows until the estimated size is under `max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Retention {
    #[serde(default)]
    pub max_rows: Option<i64>,
    #[serde(default)]
    pub max_age_ms: Option<i64>,
    /// Estimated stored size of the rows (text columns, bodies included, plus a fixed per-row
    /// overhead for the integers, record header and index entries); see `Store::log_bytes`.
    #[serde(default)]
    pub max_bytes: Option<i64>,
    /// Age limit of the hourly aggregates behind analytics, usage and spend (which outlive the
    /// rows they were computed from).
    #[serde(default)]
    pub stats_max_age_ms: Option<i64>,
}

impl Default for Retention {
    /// 100 000 rows, 30 days, 512 MiB; aggregates for 400 days.
    fn default() -> Self {
        Retention {
            max_rows: Some(100_000),
            max_age_ms: Some(30 * DAY_MS),
            max_bytes: Some(512 << 20),
            stats_max_age_ms: Some(400 * DAY_MS),
        }
    }
}

impl From<i64> for Retention {
    /// A row limit (the former `request_log_retention` setting); the other limits default.
    fn from(max_rows: i64) -> Self {
        Retention {
            max_rows: Some(max_rows),
            ..Retention::default()
        }
    }
}

/// Sending side of the log channel; cheap to clone.
#[derive(Clone, Debug)]
pub struct LogWriter {
    tx: mpsc::Sender<Box<RequestLog>>,
    dropped: Arc<AtomicU64>,
    retention: watch::Sender<Retention>,
}

/// Rows written per transaction at most.
const MAX_BATCH: usize = 8192;
/// How long rows may wait in the queue before they are written (coalesces bursts into one
/// statement and keeps the writer from waking on every request).
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Prune after this many rows written...
const PRUNE_EVERY_ROWS: u64 = 1000;
/// ... or after this fraction (1/N) of `max_bytes` written ...
const PRUNE_BYTES_DIVISOR: i64 = 32;
/// ... or after this long (age-based retention while idle).
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);
/// Volume-triggered prunes run at most this often (a prune has a fixed cost: at 20k requests/s a
/// prune per 1000 rows was 20 prunes a second); the log overshoots its limits by at most this
/// much traffic.
const PRUNE_MIN_GAP: Duration = Duration::from_secs(1);
/// Rows deleted per prune at least (a large cut, such as a retention lowered at run time, goes
/// on between batches instead of leaving the queue to fill) ...
const PRUNE_BUDGET: u64 = 10_000;
/// ... and at least this many times the rows written since the last prune, so that under any
/// sustained load the pruning deletes faster than the log grows.
const PRUNE_CATCH_UP: u64 = 2;

impl LogWriter {
    /// Spawn the batch writer with a retention (a bare `i64` is a row limit). It stops (after
    /// writing everything queued) when every `LogWriter` clone is dropped; await the returned
    /// handle to flush on shutdown. The writer prunes once at start.
    pub fn spawn(
        store: Store,
        capacity: usize,
        retention: impl Into<Retention>,
    ) -> (LogWriter, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel::<Box<RequestLog>>(capacity.max(1));
        let (retention, retention_rx) = watch::channel(retention.into());
        let handle = tokio::spawn(run(store, rx, retention_rx));
        (
            LogWriter {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
                retention,
            },
            handle,
        )
    }

    /// Queue a row without waiting; drops it when the queue is full.
    pub fn log(&self, row: RequestLog) {
        // boxed: the queue moves a pointer, not a row of ~600 bytes, through its slots
        if self.tx.try_send(Box::new(row)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Rows dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Change the retention; the writer applies it at once (off the caller's path).
    pub fn set_retention(&self, retention: Retention) {
        self.retention.send_if_modified(|cur| {
            let changed = *cur != retention;
            *cur = retention;
            changed
        });
    }

    /// The retention in force.
    pub fn retention(&self) -> Retention {
        *self.retention.borrow()
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Box<RequestLog>>,
    mut retention_rx: watch::Receiver<Retention>,
) {
    let mut batch = Vec::with_capacity(256);
    let mut rows_since_prune: u64 = 0;
    let mut bytes_since_prune: i64 = 0;
    let mut retention_open = true;
    // the last prune stopped at its budget: go on after the next batch
    let mut unfinished = false;
    let mut last_prune = std::time::Instant::now();
    // the first tick is immediate: retention is applied at start
    let mut tick = tokio::time::interval(PRUNE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let prune = tokio::select! {
            n = rx.recv_many(&mut batch, MAX_BATCH) => {
                if n == 0 {
                    break; // every sender dropped and the queue is empty
                }
                // wait for more rows to share the transaction, unless a full batch is already
                // here (a writer that always slept would top out at MAX_BATCH rows per interval)
                if batch.len() < MAX_BATCH {
                    tokio::time::sleep(FLUSH_INTERVAL).await;
                }
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(row) => batch.push(row),
                        Err(_) => break,
                    }
                }
                let rows = batch.len();
                rows_since_prune += rows as u64;
                match store.insert_log_rows(std::mem::replace(&mut batch, Vec::with_capacity(256))).await {
                    Ok(bytes) => bytes_since_prune += bytes,
                    Err(e) => {
                        tracing::warn!(error = %e, rows, "request log batch not written")
                    }
                }
                let byte_slice = retention_rx
                    .borrow()
                    .max_bytes
                    .map(|b| (b / PRUNE_BYTES_DIVISOR).max(1));
                (rows_since_prune >= PRUNE_EVERY_ROWS
                    || byte_slice.is_some_and(|s| bytes_since_prune >= s))
                    && last_prune.elapsed() >= PRUNE_MIN_GAP
            }
            _ = tick.tick() => true,
            _ = tokio::time::sleep(PRUNE_MIN_GAP.saturating_sub(last_prune.elapsed())), if unfinished => true,
            changed = retention_rx.changed(), if retention_open => {
                // all senders gone: the log channel is closing too
                retention_open = changed.is_ok();
                retention_open
            }
        };
        if prune {
            last_prune = std::time::Instant::now();
            bytes_since_prune = 0;
            let retention = *retention_rx.borrow_and_update();
            let budget = PRUNE_BUDGET.max(rows_since_prune.saturating_mul(PRUNE_CATCH_UP));
            rows_since_prune = 0;
            unfinished = match store.prune_logs_bounded(&retention, budget).await {
                Ok((_, done)) => !done,
                Err(e) => {
                    tracing::warn!(error = %e, "request log pruning failed");
                    false
                }
            };
            tick.reset();
        }
    }
    // rows written since the last prune still count against the limits at shutdown
    if rows_since_prune > 0 || unfinished {
        let retention = *retention_rx.borrow();
        let budget = PRUNE_BUDGET.max(rows_since_prune.saturating_mul(PRUNE_CATCH_UP));
        if let Err(e) = store.prune_logs_bounded(&retention, budget).await {
            tracing::warn!(error = %e, "request log pruning failed");
        }
    }
}
