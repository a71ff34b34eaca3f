//! Request de-duplication: requests carrying the same `Idempotency-Key` (or a client-set
//! `X-Request-Id`) within a short window are executed once; duplicates wait for the running
//! execution or replay its stored response, and a reused key with a different body is a conflict.
//!
//! Usage (the caller owns all IO):
//!
//! ```text
//! match idem.begin(&scoped_key, fingerprint(&[path, body])) {
//!     Begin::Leader(guard) => { run the request; guard.complete(StoredResponse { .. }) }
//!     Begin::Wait(fut)     => match fut.await { Some(r) => replay r, None => run it yourself }
//!     Begin::Replay(r)     => replay r
//!     Begin::Conflict      => 409/422 in the client's format
//! }
//! ```
//!
//! Semantics:
//! - The window starts when the leader completes: a completed response is replayed for `window`
//!   after completion. While the leader runs, duplicates wait however long it takes (the leader's
//!   own timeouts bound it; wrap the wait in `tokio::time::timeout` for a tighter bound).
//! - A leader whose guard is dropped without `complete` (error path, panic, client gone) releases
//!   its waiters with `None` and forgets the key: **waiters then execute the request themselves**
//!   (each on its own; calling `begin` again instead elects a new leader among them). The same
//!   happens when the completed body is larger than `max_body_bytes`: it is not stored.
//! - Any status can be completed (storing a 4xx/5xx makes duplicates see the same error); the
//!   caller decides what is worth storing, and drops the guard for what is not.
//! - Keys are global to this table: scope them by tenant (e.g. the gateway key id) before calling
//!   `begin`, or one client could replay another's response.
//! - Memory: at most `max_entries` keys (running or completed), each completed body at most
//!   `max_body_bytes`. Expired entries are purged lazily on `begin`; when the table is full the
//!   oldest completed entry goes; when it is full of running requests, the new request runs
//!   untracked (a leader whose completion stores nothing).
//!
//! One `std::sync::Mutex` around a `HashMap`, never held across an await; waiters are woken
//! through a `tokio::sync::watch` channel owned by the leader's guard.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The standard idempotency header (draft-ietf-httpapi-idempotency-key-header).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Used as the key when the client sets it (the gateway generates one otherwise, never a key).
pub const REQUEST_ID: &str = "x-request-id";
/// How long a completed response is replayed.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// Longer keys are ignored (the request runs without de-duplication).
pub const MAX_KEY_LEN: usize = 255;

/// The idempotency key the client sent: `Idempotency-Key`, else `X-Request-Id`. Only keys of
/// 1..=255 visible ASCII characters count (surrounding whitespace trimmed). The request-id
/// middleware does not write a generated id into the request headers, so an `X-Request-Id` seen
/// here was set by the client.
pub fn key_from_headers(headers: &HeaderMap) -> Option<&str> {
    [IDEMPOTENCY_KEY, REQUEST_ID].into_iter().find_map(|h| {
        let v = headers.get(h)?.to_str().ok()?.trim();
        let ok = !v.is_empty()
            && v.len() <= MAX_KEY_LEN
            && v.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        ok.then_some(v)
    })
}

/// A stable fingerprint of what makes two requests "the same" (e.g. `[path, body]`): the first
/// 8 bytes of SHA-256 over the length-prefixed parts.
pub fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

/// A complete response, replayable any number of times (the body is shared, not copied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

/// Headers that describe one transfer, not the response: never stored.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl StoredResponse {
    /// Build from response parts, dropping hop-by-hop headers and `Content-Length` (the body is
    /// complete, its length is set again when it is sent).
    pub fn from_parts(status: StatusCode, headers: &HeaderMap, body: Bytes) -> Self {
        let headers = headers
            .iter()
            .filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str()))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        StoredResponse {
            status,
            headers,
            body,
        }
    }

    /// Bytes this response holds (body plus header names and values), for accounting.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len())
                .sum::<usize>()
    }
}

impl axum::response::IntoResponse for StoredResponse {
    fn into_response(self) -> axum::response::Response {
        let mut resp = axum::response::Response::new(axum::body::Body::from(self.body));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        for (n, v) in self.headers {
            h.append(n, v);
        }
        resp
    }
}

/// What `begin` decided.
pub enum Begin {
    /// First with this key: execute the request, then `complete` the guard (or drop it).
    Leader(LeaderGuard),
    /// The same request is running: await the future. `Some` is the leader's response; `None`
    /// means the leader ended without a storable response (dropped, or body over the cap):
    /// execute the request yourself.
    Wait(WaitFuture),
    /// The same request completed within the window: send this.
    Replay(StoredResponse),
    /// The key is in use with a different fingerprint: answer 409 (or 422).
    Conflict,
}

impl fmt::Debug for Begin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Begin::Leader(g) => f.debug_tuple("Leader").field(g).finish(),
            Begin::Wait(_) => f.write_str("Wait(..)"),
            Begin::Replay(r) => f.debug_tuple("Replay").field(r).finish(),
            Begin::Conflict => f.write_str("Conflict"),
        }
    }
}

/// Resolves when the leader completes or goes away; dropping it just stops waiting.
pub type WaitFuture = Pin<Box<dyn Future<Output = Option<StoredResponse>> + Send + 'static>>;

/// What waiters see.
enum Outcome {
    Pending,
    Done(Arc<StoredResponse>),
    /// Dropped without completing, or the body was over the cap.
    Gone,
}

enum State {
    Running(watch::Receiver<Outcome>),
    Done(Arc<StoredResponse>),
}

struct Entry {
    fingerprint: u64,
    /// Distinguishes this entry from a later one under the same key.
    gen: u64,
    state: State,
}

#[derive(Default)]
struct Table {
    map: HashMap<Arc<str>, Entry>,
    /// Completed entries in completion order (so in expiry order): (key, gen, expires). Items
    /// whose gen no longer matches the map are stale and skipped.
    done: VecDeque<(Arc<str>, u64, Instant)>,
    next_gen: u64,
}

impl Table {
    /// Remove `key` if it still holds entry `gen`.
    fn remove_gen(&mut self, key: &str, gen: u64) -> bool {
        if self.map.get(key).is_some_and(|e| e.gen == gen) {
            self.map.remove(key);
            return true;
        }
        false
    }

    /// Drop completed entries whose window has passed (all of them: the queue is in expiry order).
    fn purge(&mut self, now: Instant) {
        while let Some((key, gen, expires)) = self.done.front() {
            if *expires > now {
                break;
            }
            let (key, gen) = (key.clone(), *gen);
            self.done.pop_front();
            self.remove_gen(&key, gen);
        }
    }

    /// Evict the oldest completed entry; false when there is none (all running).
    fn evict_oldest_done(&mut self) -> bool {
        while let Some((key, gen, _)) = self.done.pop_front() {
            if self.remove_gen(&key, gen) {
                return true;
            }
        }
        false
    }
}

struct Shared {
    table: Mutex<Table>,
    window: Duration,
    max_entries: usize,
    max_body_bytes: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // a panic while holding the lock cannot leave the table inconsistent in a way that
        // matters more than losing de-duplication; keep serving
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The de-duplication table. Cheap to clone (shared).
#[derive(Clone)]
pub struct Idempotency {
    shared: Arc<Shared>,
}

impl Default for Idempotency {
    fn default() -> Self {
        Idempotency::new(DEFAULT_WINDOW, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BODY_BYTES)
    }
}

impl fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idempotency")
            .field("window", &self.shared.window)
            .field("max_entries", &self.shared.max_entries)
            .field("max_body_bytes", &self.shared.max_body_bytes)
            .field("entries", &self.len())
            .finish()
    }
}

impl Idempotency {
    /// `window`: how long a completed response is replayed; `max_entries`: keys kept (running
    /// or completed); `max_body_bytes`: larger responses are not stored.
    pub fn new(window: Duration, max_entries: usize, max_body_bytes: usize) -> Self {
        Idempotency {
            shared: Arc::new(Shared {
                table: Mutex::new(Table::default()),
                window,
                max_entries: max_entries.max(1),
                max_body_bytes,
            }),
        }
    }

    /// Register a request with `key` and `fingerprint` (see [`fingerprint`]).
    pub fn begin(&self, key: &str, fingerprint: u64) -> Begin {
        self.begin_at(key, fingerprint, Instant::now())
    }

    fn begin_at(&self, key: &str, fingerprint: u64, now: Instant) -> Begin {
        let mut t = self.shared.lock();
        t.purge(now);
        if let Some(e) = t.map.get(key) {
            if e.fingerprint != fingerprint {
                return Begin::Conflict;
            }
            return match &e.state {
                State::Running(rx) => Begin::Wait(wait(rx.clone())),
                State::Done(r) => Begin::Replay((**r).clone()),
            };
        }
        if t.map.len() >= self.shared.max_entries && !t.evict_oldest_done() {
            drop(t);
            return Begin::Leader(LeaderGuard {
                shared: self.shared.clone(),
                slot: None,
            });
        }
        let gen = t.next_gen;
        t.next_gen += 1;
        let (tx, rx) = watch::channel(Outcome::Pending);
        let key: Arc<str> = key.into();
        t.map.insert(
            key.clone(),
            Entry {
                fingerprint,
                gen,
                state: State::Running(rx),
            },
        );
        drop(t);
        Begin::Leader(LeaderGuard {
            shared: self.shared.clone(),
            slot: Some(Slot { key, gen, tx }),
        })
    }

    /// Keys currently held (running or completed, possibly expired but not yet purged).
    pub fn len(&self) -> usize {
        self.shared.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn wait(mut rx: watch::Receiver<Outcome>) -> WaitFuture {
    Box::pin(async move {
        let outcome = rx.wait_for(|o| !matches!(o, Outcome::Pending)).await.ok()?;
        match &*outcome {
            Outcome::Done(r) => Some((**r).clone()),
            Outcome::Pending | Outcome::Gone => None,
        }
    })
}

struct Slot {
    key: Arc<str>,
    gen: u64,
    tx: watch::Sender<Outcome>,
}

/// Held by the one execution of a key. `complete` stores and broadcasts the response; dropping
/// it without completing releases the waiters with `None` and forgets the key.
pub struct LeaderGuard {
    shared: Arc<Shared>,
    /// `None` when the table was full of running requests: nothing is tracked.
    slot: Option<Slot>,
}

impl fmt::Debug for LeaderGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaderGuard")
            .field("key", &self.slot.as_ref().map(|s| &s.key))
            .finish()
    }
}

impl LeaderGuard {
    /// Whether duplicates can find this execution (false when the table was full).
    pub fn is_tracked(&self) -> bool {
        self.slot.is_some()
    }

    /// The execution finished with `resp`: waiters get it, and later duplicates replay it for
    /// the window. A body over `max_body_bytes` is not stored (waiters get `None`).
    pub fn complete(self, resp: StoredResponse) {
        self.complete_at(resp, Instant::now())
    }

    fn complete_at(mut self, resp: StoredResponse, now: Instant) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        if resp.body.len() > self.shared.max_body_bytes {
            self.shared.lock().remove_gen(&slot.key, slot.gen);
            slot.tx.send_replace(Outcome::Gone);
            return;
        }
        let resp = Arc::new(resp);
        {
            let mut t = self.shared.lock();
            // absent or replaced when it was evicted meanwhile: only the waiters get it
            if let Some(e) = t.map.get_mut(&*slot.key) {
                if e.gen == slot.gen {
                    e.state = State::Done(resp.clone());
                    let expires = now + self.shared.window;
                    t.done.push_back((slot.key.clone(), slot.gen, expires));
                }
            }
        }
        slot.tx.send_replace(Outcome::Done(resp));
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.shared.lock().remove_gen(&slot.key, slot.gen);
            slot.tx.send_replace(Outcome::Gone);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(body: &'static str) -> StoredResponse {
        StoredResponse {
            status: StatusCode::OK,
            headers: vec![(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    fn leader(b: Begin) -> LeaderGuard {
        match b {
            Begin::Leader(g) => g,
            other => panic!("expected Leader, got {other:?}"),
        }
    }

    fn waiter(b: Begin) -> WaitFuture {
        match b {
            Begin::Wait(f) => f,
            other => panic!("expected Wait, got {other:?}"),
        }
    }

    fn replay(b: Begin) -> StoredResponse {
        match b {
            Begin::Replay(r) => r,
            other => panic!("expected Replay, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn leader_and_two_waiters_get_one_result() {
        let idem = Idempotency::default();
        let t0 = Instant::now();
        let g = leader(idem.begin_at("k", 1, t0));
        let w1 = tokio::spawn(waiter(idem.begin_at("k", 1, t0)));
        let w2 = tokio::spawn(waiter(idem.begin_at("k", 1, t0)));
        tokio::task::yield_now().await;
        assert!(!w1.is_finished() && !w2.is_finished());
        g.complete_at(resp("{\"a\":1}"), t0);
        let (r1, r2) = (w1.await.ok().flatten(), w2.await.ok().flatten());
        assert_eq!(r1, Some(resp("{\"a\":1}")));
        assert_eq!(r2, r1);
        assert_eq!(idem.len(), 1);
    }

    #[tokio::test]
    async fn waiter_arriving_after_completion_replays() {
        let idem = Idempotency::default();
        let t0 = Instant::now();
        let g = leader(idem.begin_at("k", 1, t0));
        let w = waiter(idem.begin_at("k", 1, t0));
        g.complete_at(resp("x"), t0);
        // the future was created before completion but polled after: still gets the result
        assert_eq!(w.await, Some(resp("x")));
    }

    #[tokio::test]
    async fn replay_within_window_then_new_execution_after() {
        let idem = Idempotency::new(Duration::from_secs(5), 100, 1024);
        let t0 = Instant::now();
        leader(idem.begin_at("k", 7, t0)).complete_at(resp("first"), t0);
        let r = replay(idem.begin_at("k", 7, t0 + Duration::from_millis(4_999)));
        assert_eq!(r.body, "first");
        let g = leader(idem.begin_at("k", 7, t0 + Duration::from_secs(5)));
        g.complete_at(resp("second"), t0 + Duration::from_secs(6));
        let r = replay(idem.begin_at("k", 7, t0 + Duration::from_secs(10)));
        assert_eq!(r.body, "second");
        assert_eq!(idem.len(), 1);
    }

    #[tokio::test]
    async fn window_counts_from_completion_not_start() {
        let idem = Idempotency::new(Duration::from_secs(5), 100, 1024);
        let t0 = Instant::now();
        let g = leader(idem.begin_at("k", 1, t0));
        // a long-running leader: duplicates still wait
        let w = waiter(idem.begin_at("k", 1, t0 + Duration::from_secs(30)));
        g.complete_at(resp("slow"), t0 + Duration::from_secs(60));
        assert_eq!(w.await, Some(resp("slow")));
        replay(idem.begin_at("k", 1, t0 + Duration::from_secs(64)));
    }

    #[tokio::test]
    async fn different_fingerprint_conflicts() {
        let idem = Idempotency::default();
        let t0 = Instant::now();
        let g = leader(idem.begin_at("k", 1, t0));
        assert!(matches!(idem.begin_at("k", 2, t0), Begin::Conflict));
        g.complete_at(resp("x"), t0);
        assert!(matches!(idem.begin_at("k", 2, t0), Begin::Conflict));
        // other keys are independent
        leader(idem.begin_at("other", 2, t0));
        // after the window the key is free again
        let g = leader(idem.begin_at("k", 2, t0 + Duration::from_secs(6)));
        drop(g);
    }

    #[tokio::test]
    async fn dropped_leader_releases_waiters_and_forgets_key() {
        let idem = Idempotency::default();
        let t0 = Instant::now();
        let g = leader(idem.begin_at("k", 1, t0));
        let w1 = tokio::spawn(waiter(idem.begin_at("k", 1, t0)));
        let w2 = tokio::spawn(waiter(idem.begin_at("k", 1, t0)));
        tokio::task::yield_now().await;
        drop(g);
        assert_eq!(w1.await.ok(), Some(None));
        assert_eq!(w2.await.ok(), Some(None));
        assert!(idem.is_empty());
        // a retry becomes the new leader
        leader(idem.begin_at("k", 1, t0));
    }

    #[tokio::test]
    async fn leader_dropped_by_panicking_task_releases_waiters() {
        let idem = Idempotency::default();
        let g = leader(idem.begin("k", 1));
        let w = waiter(idem.begin("k", 1));
        let task = tokio::spawn(async move {
            let _g = g;
            panic!("handler bug");
        });
        assert!(task.await.is_err());
        assert_eq!(w.await, None);
    }

    #[tokio::test]
    async fn oversized_body_is_not_stored() {
        let idem = Idempotency::new(Duration::from_secs(5), 100, 4);
        let t0 = Instant::now();
        let g = leader(idem.begin_at("k", 1, t0));
        let w = waiter(idem.begin_at("k", 1, t0));
        g.complete_at(resp("12345"), t0);
        assert_eq!(w.await, None);
        // not replayed: the next duplicate executes
        leader(idem.begin_at("k", 1, t0));
        // at the cap is fine
        let idem = Idempotency::new(Duration::from_secs(5), 100, 4);
        leader(idem.begin_at("k", 1, t0)).complete_at(resp("1234"), t0);
        replay(idem.begin_at("k", 1, t0));
    }

    #[tokio::test]
    async fn bounded_by_max_entries_oldest_completed_out() {
        let idem = Idempotency::new(Duration::from_secs(5), 2, 1024);
        let t0 = Instant::now();
        leader(idem.begin_at("a", 1, t0)).complete_at(resp("a"), t0);
        leader(idem.begin_at("b", 1, t0)).complete_at(resp("b"), t0);
        let c = leader(idem.begin_at("c", 1, t0));
        assert_eq!(idem.len(), 2);
        // "a" was evicted, "b" kept
        replay(idem.begin_at("b", 1, t0));
        let a = leader(idem.begin_at("a", 1, t0)); // evicts "b"
        assert!(a.is_tracked());
        // full of running requests: the next one runs untracked
        let d = leader(idem.begin_at("d", 1, t0));
        assert!(!d.is_tracked());
        let d2 = leader(idem.begin_at("d", 1, t0));
        assert!(!d2.is_tracked());
        d.complete_at(resp("d"), t0);
        drop((a, c, d2));
        assert!(idem.is_empty());
    }

    #[tokio::test]
    async fn expired_entries_are_purged_lazily() {
        let idem = Idempotency::new(Duration::from_secs(5), 100, 1024);
        let t0 = Instant::now();
        for k in ["a", "b", "c"] {
            leader(idem.begin_at(k, 1, t0)).complete_at(resp("x"), t0);
        }
        assert_eq!(idem.len(), 3);
        let _z = leader(idem.begin_at("z", 1, t0 + Duration::from_secs(5)));
        assert_eq!(idem.len(), 1);
    }

    #[tokio::test]
    async fn evicted_running_entry_still_delivers_to_its_waiters() {
        let idem = Idempotency::new(Duration::from_secs(5), 1, 1024);
        let t0 = Instant::now();
        let g = leader(idem.begin_at("a", 1, t0));
        let w = waiter(idem.begin_at("a", 1, t0));
        // table full of a running request: untracked leader, "a" stays
        let b = leader(idem.begin_at("b", 1, t0));
        assert!(!b.is_tracked());
        g.complete_at(resp("a"), t0);
        assert_eq!(w.await, Some(resp("a")));
    }

    #[test]
    fn key_from_headers_prefers_idempotency_key() {
        let mut h = HeaderMap::new();
        assert_eq!(key_from_headers(&h), None);
        h.insert(REQUEST_ID, HeaderValue::from_static("req-1"));
        assert_eq!(key_from_headers(&h), Some("req-1"));
        h.insert(IDEMPOTENCY_KEY, HeaderValue::from_static(" idem-1 "));
        assert_eq!(key_from_headers(&h), Some("idem-1"));
        h.insert(IDEMPOTENCY_KEY, HeaderValue::from_static("   "));
        assert_eq!(key_from_headers(&h), Some("req-1"));
        let long = "x".repeat(MAX_KEY_LEN + 1);
        h.insert(IDEMPOTENCY_KEY, HeaderValue::from_str(&long).unwrap());
        assert_eq!(key_from_headers(&h), Some("req-1"));
    }

    #[test]
    fn fingerprint_is_stable_and_part_aware() {
        assert_eq!(
            fingerprint(&[b"/v1/x", b"{}"]),
            fingerprint(&[b"/v1/x", b"{}"])
        );
        assert_ne!(
            fingerprint(&[b"/v1/x", b"{}"]),
            fingerprint(&[b"/v1/x", b"{ }"])
        );
        // length prefixes: moving bytes between parts changes the fingerprint
        assert_ne!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"a", b"bc"]));
    }

    #[test]
    fn from_parts_drops_hop_by_hop_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("content-length", HeaderValue::from_static("3"));
        h.append("x-custom", HeaderValue::from_static("1"));
        h.append("x-custom", HeaderValue::from_static("2"));
        let r = StoredResponse::from_parts(StatusCode::OK, &h, Bytes::from_static(b"abc"));
        let names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["content-type", "x-custom", "x-custom"]);
        assert_eq!(
            r.size(),
            3 + "content-type".len() + 17 + 2 * ("x-custom".len() + 1)
        );
        let resp = axum::response::IntoResponse::into_response(r);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers().get_all("x-custom").iter().count(), 2);
    }
}
