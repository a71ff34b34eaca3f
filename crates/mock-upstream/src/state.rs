//! Shared server state: request recording (bounded), the id counter, rules and stats.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::request::Parts;
use bytes::Bytes;
use serde_json::Value;

use crate::rules::{ActiveRule, MockRule, MockStats, Rules};
use crate::script::Script;

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
    rules: Mutex<Rules>,
    stats: Mutex<MockStats>,
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
                rules: Mutex::default(),
                stats: Mutex::default(),
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
        lock(&self.inner.log)
    }

    /// Add a rule (see [`MockRule`]); returns its id.
    pub fn add_rule(&self, rule: MockRule) -> u64 {
        lock(&self.inner.rules).add(rule)
    }

    /// The live rules, in the order they are checked.
    pub fn rules(&self) -> Vec<ActiveRule> {
        lock(&self.inner.rules).list()
    }

    /// Remove one rule; false if no live rule has that id.
    pub fn remove_rule(&self, id: u64) -> bool {
        lock(&self.inner.rules).remove(id)
    }

    /// Remove every rule; returns how many were live.
    pub fn clear_rules(&self) -> usize {
        lock(&self.inner.rules).clear()
    }

    /// The request counters.
    pub fn stats(&self) -> MockStats {
        lock(&self.inner.stats).clone()
    }

    /// Reset the request counters.
    pub fn reset_stats(&self) {
        *lock(&self.inner.stats) = MockStats::default();
    }

    /// Count one API request.
    pub(crate) fn count(&self, key: Option<&str>, model: Option<&str>) {
        lock(&self.inner.stats).count(key, model);
    }

    /// The script of the first live rule matching the request (consuming one use).
    pub(crate) fn rule_script(&self, key: Option<&str>, model: Option<&str>) -> Option<Script> {
        lock(&self.inner.rules).take(key, model)
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

/// Lock, ignoring poisoning (the data stays consistent: no panics while held).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
