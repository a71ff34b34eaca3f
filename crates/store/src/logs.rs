//! The request log: rows leave the hot path through a bounded channel and are written in batches,
//! one transaction per batch; when the channel is full a row is dropped (and counted) rather than
//! slowing a request down.

use crate::Store;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One proxied request, as logged.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RequestLog {
    pub request_id: String,
    pub ts: i64,
    pub method: String,
    pub path: String,
    pub client_format: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub connection_id: Option<String>,
    pub upstream_model: Option<String>,
    pub stream: bool,
    pub status: u16,
    pub latency_ms: i64,
    pub ttfb_ms: Option<i64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub api_key_id: Option<String>,
    pub error: Option<String>,
    /// Upstream attempts made (0 when the request failed before routing).
    pub attempts: i64,
}

/// Sending side of the log channel; cheap to clone.
#[derive(Clone, Debug)]
pub struct LogWriter {
    tx: mpsc::Sender<RequestLog>,
    dropped: Arc<AtomicU64>,
}

/// Rows written per transaction at most.
const MAX_BATCH: usize = 2048;
/// How long rows may wait in the queue before they are written (coalesces bursts into one
/// statement and keeps the writer from waking on every request).
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

impl LogWriter {
    /// Spawn the batch writer. It stops (after writing everything queued) when every
    /// `LogWriter` clone is dropped; await the returned handle to flush on shutdown.
    pub fn spawn(store: Store, capacity: usize, retain_rows: i64) -> (LogWriter, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<RequestLog>(capacity.max(1));
        let handle = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(256);
            let mut written: u64 = 0;
            loop {
                if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
                    break; // every sender dropped and the queue is empty
                }
                tokio::time::sleep(FLUSH_INTERVAL).await;
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(row) => batch.push(row),
                        Err(_) => break,
                    }
                }
                if let Err(e) = store.insert_logs(&batch).await {
                    tracing::warn!(error = %e, rows = batch.len(), "request log batch not written");
                }
                let before = written;
                written += batch.len() as u64;
                batch.clear();
                if before / 1000 != written / 1000 {
                    if let Err(e) = store.prune_logs(retain_rows).await {
                        tracing::warn!(error = %e, "request log pruning failed");
                    }
                }
            }
        });
        (
            LogWriter {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            handle,
        )
    }

    /// Queue a row without waiting; drops it when the queue is full.
    pub fn log(&self, row: RequestLog) {
        if self.tx.try_send(row).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Rows dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
