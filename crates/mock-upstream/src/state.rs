//! Shared server state: request recording (bounded) and the id counter.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::request::Parts;
use bytes::Bytes;
use serde_json::Value;

/// At most this many requests are kept; older ones are dropped first.
pub const MAX_RECORDED: usize = 10_000;

/// One request as the mock received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Header names are lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Set to true if a streamed response was dropped by the client before its end.
    pub disconnected: Arc<AtomicBool>,
}

impl RecordedRequest {
    /// First value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether the client dropped a streamed response before its end.
    pub fn was_disconnected(&self) -> bool {
        self.disconnected.load(Ordering::Acquire)
    }
}

/// State shared by all handlers of one mock server.
#[derive(Clone, Debug)]
pub struct MockState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    record: bool,
    log: Mutex<VecDeque<RecordedRequest>>,
    next_id: AtomicU64,
}

impl Default for MockState {
    fn default() -> Self {
        Self::new(true)
    }
}

impl MockState {
    /// `record: false` keeps no requests (for benchmarks).
    pub fn new(record: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                record,
                log: Mutex::new(VecDeque::new()),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// Whether requests are recorded.
    pub fn is_recording(&self) -> bool {
        self.inner.record
    }

    /// Recorded requests, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log().iter().cloned().collect()
    }

    /// Forget all recorded requests.
    pub fn clear(&self) {
        self.log().clear();
    }

    fn log(&self) -> MutexGuard<'_, VecDeque<RecordedRequest>> {
        self.inner
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Next response id (1, 2, ...).
    pub(crate) fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Record a request (if recording) and return its disconnect flag.
    pub(crate) fn record(&self, parts: &Parts, body: &Bytes) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        if self.inner.record {
            let headers = parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            self.push(RecordedRequest {
                method: parts.method.as_str().to_owned(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().map(str::to_owned),
                headers,
                body: body.clone(),
                disconnected: flag.clone(),
            });
        }
        flag
    }

    fn push(&self, req: RecordedRequest) {
        let mut log = self.log();
        while log.len() >= MAX_RECORDED {
            log.pop_front();
        }
        log.push_back(req);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(i: usize) -> RecordedRequest {
        RecordedRequest {
            method: "POST".into(),
            path: format!("/{i}"),
            query: None,
            headers: vec![("x-a".into(), "1".into())],
            body: Bytes::new(),
            disconnected: Arc::default(),
        }
    }

    #[test]
    fn recording_is_bounded() {
        let state = MockState::new(true);
        for i in 0..MAX_RECORDED + 5 {
            state.push(req(i));
        }
        let reqs = state.requests();
        assert_eq!(reqs.len(), MAX_RECORDED);
        assert_eq!(reqs[0].path, "/5");
        assert_eq!(reqs[0].header("X-A"), Some("1"));
        state.clear();
        assert!(state.requests().is_empty());
    }
}
