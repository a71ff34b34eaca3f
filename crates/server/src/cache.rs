//! Response cache for deterministic (temperature 0), non-stream requests: an exact tier keyed by
//! a canonical request signature (LRU, bounded by entries and bytes, TTL per entry) and an
//! optional semantic tier that maps prompt embeddings to exact-tier keys by cosine similarity.
//!
//! The cache does no IO: the caller computes the key ([`signature`]), decides whether a request
//! may use the cache ([`cacheable`], [`bypass_requested`]), obtains embeddings for
//! [`prompt_text`] itself, and stores 200 responses with [`Cache::put`].
//!
//! Flow for one request:
//!
//! ```text
//! if cacheable(&body, stream) && !bypass_requested(&headers) {
//!     let key = signature(format, resolved_model, &body);
//!     if let Some(r) = cache.get(&key) { return r }                      // exact hit
//!     if cache.semantic_enabled() {
//!         let scope = semantic_scope(format, resolved_model, &body);
//!         let emb = embed(prompt_text(&body)).await;                     // caller's IO
//!         if let Some(r) = cache.get_similar(&scope, &emb, threshold) { return r }
//!         ... execute; cache.put(key, resp) && cache.insert_embedding(key, scope, &emb)
//!     } else { ... execute; cache.put(key, resp) }
//! }
//! ```
//!
//! The semantic tier is fuzzy only on the last user message: [`semantic_scope`] hashes the
//! format, model and the whole body except that message (system prompt, history, tools and
//! parameters must match exactly), and a vector only matches vectors of the same scope and
//! dimension. Keys are global: include a tenant id in `format` (or the model string) when tenants
//! must not share cached answers.
//!
//! Locking: one `std::sync::Mutex` for the exact tier (O(1) get/put: a `HashMap` into a
//! slab-backed doubly linked LRU list) and one for the semantic tier (a linear scan of
//! normalized vectors, so a lookup is dot products); neither is held across an await, and the
//! two are never held together.

use crate::idempotency::StoredResponse;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Request header: `true` (or `1`, `yes`) skips the cache for this request, both lookup and store.
pub const NO_CACHE_HEADER: &str = "x-omniroute-no-cache";
/// Response header the caller may set: `hit`, `semantic-hit` or `miss`.
pub const CACHE_STATUS_HEADER: &str = "x-omniroute-cache";
/// The only response headers kept with a cached body.
pub const CACHED_HEADERS: &[&str] = &["content-type"];
/// Top-level request fields left out of the signature: the client's model name (the resolved
/// one is hashed instead), streaming switches and per-end-user or bookkeeping fields that do not
/// change the answer.
pub const VOLATILE_FIELDS: &[&str] = &[
    "model",
    "stream",
    "stream_options",
    "user",
    "metadata",
    "store",
    "service_tier",
    "safety_identifier",
    "prompt_cache_key",
];

pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
pub const DEFAULT_MAX_BYTES: usize = 64 << 20;
pub const DEFAULT_SIMILARITY_THRESHOLD: f32 = 0.95;
/// Bookkeeping bytes charged per entry on top of its headers and body.
const ENTRY_OVERHEAD: usize = 128;
/// How many dead candidates a semantic lookup discards before giving up.
const MAX_STALE_RETRIES: usize = 4;

/// The exact-tier key: SHA-256 of the canonical signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", &self.to_hex()[..16])
    }
}

impl Serialize for CacheKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures

/// Feeds an injective, order-canonical encoding of JSON into a hash: every value is tagged and
/// length-prefixed, object keys are sorted, and integral numbers hash the same whether written
/// `0` or `0.0`.
struct Canon {
    h: Sha256,
}

impl Canon {
    fn new(domain: &str, format: &str, model: &str) -> Self {
        let mut c = Canon { h: Sha256::new() };
        c.bytes(domain.as_bytes());
        c.bytes(format.as_bytes());
        c.bytes(model.as_bytes());
        c
    }

    fn bytes(&mut self, b: &[u8]) {
        self.h.update((b.len() as u64).to_le_bytes());
        self.h.update(b);
    }

    fn tag(&mut self, t: u8) {
        self.h.update([t]);
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.tag(b'n'),
            Value::Bool(b) => self.tag(if *b { b't' } else { b'f' }),
            Value::Number(n) => self.number(n),
            Value::String(s) => {
                self.tag(b's');
                self.bytes(s.as_bytes());
            }
            Value::Array(a) => {
                self.tag(b'a');
                self.h.update((a.len() as u64).to_le_bytes());
                for x in a {
                    self.value(x);
                }
            }
            Value::Object(o) => self.object(o.iter(), |_| false),
        }
    }

    fn object<'a>(
        &mut self,
        fields: impl Iterator<Item = (&'a String, &'a Value)>,
        skip: impl Fn(&str) -> bool,
    ) {
        let mut fields: Vec<(&String, &Value)> = fields.filter(|(k, _)| !skip(k)).collect();
        fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
        self.tag(b'o');
        self.h.update((fields.len() as u64).to_le_bytes());
        for (k, v) in fields {
            self.bytes(k.as_bytes());
            self.value(v);
        }
    }

    fn number(&mut self, n: &serde_json::Number) {
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
        if let Some(i) = n.as_i64() {
            self.tag(b'i');
            self.h.update(i.to_le_bytes());
        } else if let Some(u) = n.as_u64() {
            self.tag(b'u');
            self.h.update(u.to_le_bytes());
        } else if let Some(f) = n.as_f64() {
            if f.fract() == 0.0 && f.abs() < EXACT {
                self.tag(b'i');
                self.h.update((f as i64).to_le_bytes());
            } else {
                self.tag(b'd');
                self.h.update(f.to_bits().to_le_bytes());
            }
        }
    }

    fn finish(self) -> CacheKey {
        CacheKey(self.h.finalize().into())
    }
}

/// The exact-tier key of a request: client format, resolved model (or combo) name, and the
/// body canonicalized (object keys sorted at every level, so field order does not matter) with
/// the top-level [`VOLATILE_FIELDS`] left out.
pub fn signature(format: &str, model: &str, body: &Value) -> CacheKey {
    let mut c = Canon::new("omniroute-cache-v1/json", format, model);
    match body {
        Value::Object(o) => c.object(o.iter(), |k| VOLATILE_FIELDS.contains(&k)),
        other => c.value(other),
    }
    c.finish()
}

/// The key of a body hashed as raw bytes (already canonical, or not JSON). Never equal to a
/// [`signature`] key.
pub fn signature_raw(format: &str, model: &str, body: &[u8]) -> CacheKey {
    let mut c = Canon::new("omniroute-cache-v1/raw", format, model);
    c.bytes(body);
    c.finish()
}

/// The partition a semantic vector lives in: format, model and the canonical body without its
/// volatile fields and its last user message (the part of [`prompt_text`] that may differ).
/// Requests that differ in system prompt, earlier turns, tools or parameters never match.
pub fn semantic_scope(format: &str, model: &str, body: &Value) -> CacheKey {
    let mut c = Canon::new("omniroute-cache-v1/scope", format, model);
    let Value::Object(o) = body else {
        c.value(body);
        return c.finish();
    };
    let mut rest = serde_json::Map::new();
    for (k, v) in o {
        if VOLATILE_FIELDS.contains(&k.as_str()) {
            continue;
        }
        let v = match (k.as_str(), v) {
            // Responses: a string input is the whole prompt
            ("input", Value::String(_)) => continue,
            ("messages" | "input", Value::Array(items)) => without_last_user(items, false),
            ("contents", Value::Array(items)) => without_last_user(items, true),
            _ => v.clone(),
        };
        rest.insert(k.clone(), v);
    }
    c.object(rest.iter(), |_| false);
    c.finish()
}

/// `items` without the last user turn.
fn without_last_user(items: &[Value], gemini: bool) -> Value {
    let last = last_user(items, gemini);
    Value::Array(
        items
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != last)
            .map(|(_, m)| m.clone())
            .collect(),
    )
}

fn is_role(m: &Value, role: &str) -> bool {
    m.get("role").and_then(Value::as_str) == Some(role)
}

/// Index of the last user turn. Gemini contents may omit the role (it then means `user`).
fn last_user(items: &[Value], gemini: bool) -> Option<usize> {
    items
        .iter()
        .rposition(|m| is_role(m, "user") || (gemini && m.is_object() && m.get("role").is_none()))
}

// ---------------------------------------------------------------------------------------------
// Request rules

/// Whether a request may be served from / stored in the cache: not streaming (neither `stream`
/// nor `"stream": true` in the body) and a temperature present and equal to 0 — top-level
/// `temperature` (OpenAI chat, Anthropic, Responses) or Gemini's `generationConfig.temperature`
/// (`generation_config` too).
pub fn cacheable(body: &Value, stream: bool) -> bool {
    if stream || body.get("stream").and_then(Value::as_bool) == Some(true) {
        return false;
    }
    let temperature = body.get("temperature").or_else(|| {
        ["generationConfig", "generation_config"]
            .iter()
            .find_map(|k| body.get(k)?.get("temperature"))
    });
    temperature.and_then(Value::as_f64) == Some(0.0)
}

/// Whether the client asked to skip the cache ([`NO_CACHE_HEADER`]: `true`, `1` or `yes`).
pub fn bypass_requested(headers: &HeaderMap) -> bool {
    headers
        .get(NO_CACHE_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.trim();
            ["true", "1", "yes"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t))
        })
}

/// The user-visible prompt for embedding: system text (OpenAI/Responses `system`/`developer`
/// messages, Anthropic `system`, Responses `instructions`, Gemini `systemInstruction`) joined by
/// newlines, a blank line, then the text of the last user message (OpenAI/Anthropic `messages`,
/// Gemini `contents`, Responses `input` string or items). Only text parts count (no images, tool
/// calls or tool results); an empty result means there is nothing to embed.
pub fn prompt_text(body: &Value) -> String {
    let mut system: Vec<String> = Vec::new();
    let mut user = String::new();
    let mut push = |s: String| {
        if !s.is_empty() {
            system.push(s);
        }
    };
    if let Some(s) = body.get("system") {
        push(content_text(s));
    }
    if let Some(s) = body.get("instructions") {
        push(content_text(s));
    }
    for k in ["systemInstruction", "system_instruction"] {
        if let Some(s) = body.get(k) {
            push(content_text(s));
        }
    }
    for (field, gemini) in [("messages", false), ("input", false), ("contents", true)] {
        match body.get(field) {
            Some(Value::String(s)) if field == "input" => user = s.clone(),
            Some(Value::Array(items)) => {
                for m in items {
                    if is_role(m, "system") || is_role(m, "developer") {
                        push(item_text(m));
                    }
                }
                if let Some(i) = last_user(items, gemini) {
                    user = item_text(&items[i]);
                }
            }
            _ => {}
        }
    }
    let system = system.join("\n");
    match (system.is_empty(), user.is_empty()) {
        (true, _) => user,
        (false, true) => system,
        (false, false) => format!("{system}\n\n{user}"),
    }
}

/// Text of one message / content item: `content` (OpenAI, Anthropic, Responses) or `parts`
/// (Gemini).
fn item_text(m: &Value) -> String {
    match m.get("content").or_else(|| m.get("parts")) {
        Some(c) => content_text(c),
        None => String::new(),
    }
}

/// Text of a content value: a string, an array of parts, or a Gemini `Content` object.
fn content_text(c: &Value) -> String {
    match c {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(part_text)
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Object(_) => match c.get("parts") {
            Some(p) => content_text(p),
            None => part_text(c).map(str::to_owned).unwrap_or_default(),
        },
        _ => String::new(),
    }
}

/// A text part: `{"type":"text"|"input_text","text":..}` or Gemini's `{"text":..}` (not a
/// thought).
fn part_text(p: &Value) -> Option<&str> {
    if let Value::String(s) = p {
        return Some(s);
    }
    let text = p.get("text")?.as_str()?;
    let typed_ok = match p.get("type").and_then(Value::as_str) {
        None => true,
        Some(t) => t == "text" || t == "input_text",
    };
    let thought = p.get("thought").and_then(Value::as_bool) == Some(true);
    (typed_ok && !thought && !text.is_empty()).then_some(text)
}

// ---------------------------------------------------------------------------------------------
// Exact tier: LRU

const NIL: usize = usize::MAX;

struct Cached {
    resp: StoredResponse,
    expires: Instant,
    size: usize,
}

struct Node {
    key: CacheKey,
    /// `None` for a free slot.
    value: Option<Cached>,
    prev: usize,
    next: usize,
}

/// HashMap into a slab of nodes forming a doubly linked list, most recently used at `head`.
#[derive(Default)]
struct Lru {
    map: HashMap<CacheKey, usize>,
    nodes: Vec<Node>,
    free: Vec<usize>,
    head: usize,
    tail: usize,
    bytes: usize,
}

impl Lru {
    fn new() -> Self {
        Lru {
            head: NIL,
            tail: NIL,
            ..Lru::default()
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.nodes[i].prev, self.nodes[i].next);
        match prev {
            NIL => self.head = next,
            p => self.nodes[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n].prev = prev,
        }
        self.nodes[i].prev = NIL;
        self.nodes[i].next = NIL;
    }

    fn push_front(&mut self, i: usize) {
        self.nodes[i].prev = NIL;
        self.nodes[i].next = self.head;
        match self.head {
            NIL => self.tail = i,
            h => self.nodes[h].prev = i,
        }
        self.head = i;
    }

    fn get(&self, key: &CacheKey) -> Option<(usize, &Cached)> {
        let i = *self.map.get(key)?;
        Some((i, self.nodes[i].value.as_ref()?))
    }

    fn touch(&mut self, i: usize) {
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
    }

    /// Insert as most recently used (the key must be absent).
    fn insert(&mut self, key: CacheKey, value: Cached) {
        self.bytes += value.size;
        let node = Node {
            key,
            value: Some(value),
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = node;
                i
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.map.insert(key, i);
        self.push_front(i);
    }

    fn remove(&mut self, key: &CacheKey) -> Option<Cached> {
        let i = self.map.remove(key)?;
        self.unlink(i);
        let v = self.nodes[i].value.take()?;
        self.bytes -= v.size;
        self.free.push(i);
        Some(v)
    }

    /// Remove the least recently used entry.
    fn pop_lru(&mut self) -> Option<(CacheKey, Cached)> {
        if self.tail == NIL {
            return None;
        }
        let key = self.nodes[self.tail].key;
        self.remove(&key).map(|v| (key, v))
    }

    fn clear(&mut self) {
        *self = Lru::new();
    }
}

#[derive(Default)]
struct Counters {
    hits: u64,
    misses: u64,
    evictions: u64,
    expired: u64,
    semantic_hits: u64,
}

struct Exact {
    lru: Lru,
    n: Counters,
}

// ---------------------------------------------------------------------------------------------
// Semantic tier

struct Vector {
    key: CacheKey,
    scope: CacheKey,
    /// Unit length.
    v: Box<[f32]>,
    seq: u64,
}

#[derive(Default)]
struct Semantic {
    items: Vec<Vector>,
    pos: HashMap<CacheKey, usize>,
    seq: u64,
}

impl Semantic {
    fn remove(&mut self, key: &CacheKey) {
        if let Some(i) = self.pos.remove(key) {
            self.items.swap_remove(i);
            if let Some(moved) = self.items.get(i) {
                self.pos.insert(moved.key, i);
            }
        }
    }

    /// The best match of `q` (unit length) in `scope`: (key, cosine).
    fn best(&self, scope: &CacheKey, q: &[f32]) -> Option<(CacheKey, f32)> {
        let mut best: Option<(CacheKey, f32)> = None;
        for it in &self.items {
            if it.scope != *scope || it.v.len() != q.len() {
                continue;
            }
            let s = dot(&it.v, q);
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((it.key, s));
            }
        }
        best
    }
}

/// Dot product with eight independent accumulators (vectorizes).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `v` scaled to unit length; `None` when empty, zero or not finite.
fn normalized(v: &[f32]) -> Option<Box<[f32]>> {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if v.is_empty() || !norm.is_finite() || norm == 0.0 {
        return None;
    }
    Some(v.iter().map(|x| (f64::from(*x) / norm) as f32).collect())
}

// ---------------------------------------------------------------------------------------------
// The cache

/// Limits. `max_semantic_entries == 0` turns the semantic tier off (the default).
#[derive(Clone, Debug, PartialEq)]
pub struct CacheConfig {
    pub max_entries: usize,
    pub max_bytes: usize,
    /// Default time to live of an entry ([`Cache::put_with_ttl`] overrides it per entry).
    pub ttl: Duration,
    pub max_semantic_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: DEFAULT_MAX_ENTRIES,
            max_bytes: DEFAULT_MAX_BYTES,
            ttl: DEFAULT_TTL,
            max_semantic_entries: 0,
        }
    }
}

/// Counters since start (`clear` keeps them) and current sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct CacheStats {
    pub entries: usize,
    /// Bytes charged: headers, bodies and a fixed overhead per entry.
    pub bytes: usize,
    /// Exact-tier lookups answered.
    pub hits: u64,
    /// Exact-tier lookups not answered (including expired entries; a following semantic hit is
    /// counted in `semantic_hits` too).
    pub misses: u64,
    /// Live entries removed to make room.
    pub evictions: u64,
    /// Entries removed because their TTL had passed.
    pub expired: u64,
    pub semantic_hits: u64,
    pub semantic_entries: usize,
}

pub struct Cache {
    cfg: CacheConfig,
    exact: Mutex<Exact>,
    semantic: Mutex<Semantic>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("cfg", &self.cfg)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new(CacheConfig::default())
    }
}

impl Cache {
    pub fn new(cfg: CacheConfig) -> Self {
        Cache {
            cfg,
            exact: Mutex::new(Exact {
                lru: Lru::new(),
                n: Counters::default(),
            }),
            semantic: Mutex::new(Semantic::default()),
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.cfg
    }

    pub fn semantic_enabled(&self) -> bool {
        self.cfg.max_semantic_entries > 0
    }

    fn exact(&self) -> MutexGuard<'_, Exact> {
        self.exact.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn semantic(&self) -> MutexGuard<'_, Semantic> {
        self.semantic.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached response for `key` (status 200, stored headers, body), counting a hit or miss.
    pub fn get(&self, key: &CacheKey) -> Option<StoredResponse> {
        self.get_at(key, Instant::now(), false)
    }

    fn get_at(&self, key: &CacheKey, now: Instant, semantic: bool) -> Option<StoredResponse> {
        let mut ex = self.exact();
        let found = ex.lru.get(key).map(|(i, c)| (i, c.expires > now));
        let out = match found {
            Some((i, true)) => {
                ex.lru.touch(i);
                ex.lru.get(key).map(|(_, c)| c.resp.clone())
            }
            Some((_, false)) => {
                ex.lru.remove(key);
                ex.n.expired += 1;
                None
            }
            None => None,
        };
        match (&out, semantic) {
            (Some(_), false) => ex.n.hits += 1,
            (Some(_), true) => ex.n.semantic_hits += 1,
            (None, false) => ex.n.misses += 1,
            (None, true) => {}
        }
        let dead = out.is_none() && found.is_some();
        drop(ex);
        if dead {
            self.semantic().remove(key);
        }
        out
    }

    /// Store a response under `key` with the configured TTL. Only status 200 is stored, with
    /// just the [`CACHED_HEADERS`]; false when not stored (other status, or larger than
    /// `max_bytes`). Least recently used entries make room.
    pub fn put(&self, key: CacheKey, resp: StoredResponse) -> bool {
        self.put_at(key, resp, self.cfg.ttl, Instant::now())
    }

    /// [`Cache::put`] with this entry's own TTL.
    pub fn put_with_ttl(&self, key: CacheKey, resp: StoredResponse, ttl: Duration) -> bool {
        self.put_at(key, resp, ttl, Instant::now())
    }

    fn put_at(&self, key: CacheKey, resp: StoredResponse, ttl: Duration, now: Instant) -> bool {
        if resp.status != StatusCode::OK || self.cfg.max_entries == 0 || ttl.is_zero() {
            return false;
        }
        let resp = StoredResponse {
            status: resp.status,
            headers: resp
                .headers
                .into_iter()
                .filter(|(n, _)| CACHED_HEADERS.contains(&n.as_str()))
                .collect(),
            body: resp.body,
        };
        let size = resp.size() + ENTRY_OVERHEAD;
        if size > self.cfg.max_bytes {
            return false;
        }
        let mut gone = Vec::new();
        {
            let mut ex = self.exact();
            ex.lru.remove(&key);
            while ex.lru.len() >= self.cfg.max_entries || ex.lru.bytes + size > self.cfg.max_bytes {
                let Some((k, old)) = ex.lru.pop_lru() else {
                    break;
                };
                if old.expires > now {
                    ex.n.evictions += 1;
                } else {
                    ex.n.expired += 1;
                }
                gone.push(k);
            }
            let expires = now.checked_add(ttl).unwrap_or(now + DEFAULT_TTL);
            ex.lru.insert(
                key,
                Cached {
                    resp,
                    expires,
                    size,
                },
            );
        }
        if self.semantic_enabled() && !gone.is_empty() {
            let mut se = self.semantic();
            for k in &gone {
                se.remove(k);
            }
        }
        true
    }

    /// Remove one entry (and its embedding); true when it was there.
    pub fn remove(&self, key: &CacheKey) -> bool {
        let was = self.exact().lru.remove(key).is_some();
        self.semantic().remove(key);
        was
    }

    /// Drop every entry and embedding; counters are kept.
    pub fn clear(&self) {
        self.exact().lru.clear();
        *self.semantic() = Semantic::default();
    }

    /// Drop every expired entry now (O(entries); lookups and inserts also drop them lazily).
    /// Returns how many went.
    pub fn purge_expired(&self) -> usize {
        self.purge_expired_at(Instant::now())
    }

    fn purge_expired_at(&self, now: Instant) -> usize {
        let dead: Vec<CacheKey> = {
            let mut ex = self.exact();
            let dead: Vec<CacheKey> = ex
                .lru
                .nodes
                .iter()
                .filter_map(|n| Some((n.key, n.value.as_ref()?)))
                .filter(|(_, c)| c.expires <= now)
                .map(|(k, _)| k)
                .collect();
            for k in &dead {
                ex.lru.remove(k);
            }
            ex.n.expired += dead.len() as u64;
            dead
        };
        if !dead.is_empty() {
            let mut se = self.semantic();
            for k in &dead {
                se.remove(k);
            }
        }
        dead.len()
    }

    pub fn stats(&self) -> CacheStats {
        let mut s = {
            let ex = self.exact();
            CacheStats {
                entries: ex.lru.len(),
                bytes: ex.lru.bytes,
                hits: ex.n.hits,
                misses: ex.n.misses,
                evictions: ex.n.evictions,
                expired: ex.n.expired,
                semantic_hits: ex.n.semantic_hits,
                semantic_entries: 0,
            }
        };
        s.semantic_entries = self.semantic().items.len();
        s
    }

    /// Whether `key` holds a live entry (no counters, no LRU update).
    fn live(&self, key: &CacheKey, now: Instant) -> bool {
        self.exact()
            .lru
            .get(key)
            .is_some_and(|(_, c)| c.expires > now)
    }

    /// Remember the prompt embedding of the cached entry `key`, in `scope` (see
    /// [`semantic_scope`]). The vector is normalized here. False when the tier is off, the
    /// vector is empty, zero or not finite, or `key` is not cached. When full, the oldest
    /// embedding goes. Removing or evicting the entry removes its embedding.
    pub fn insert_embedding(&self, key: CacheKey, scope: CacheKey, embedding: &[f32]) -> bool {
        self.insert_embedding_at(key, scope, embedding, Instant::now())
    }

    fn insert_embedding_at(
        &self,
        key: CacheKey,
        scope: CacheKey,
        embedding: &[f32],
        now: Instant,
    ) -> bool {
        if !self.semantic_enabled() || !self.live(&key, now) {
            return false;
        }
        let Some(v) = normalized(embedding) else {
            return false;
        };
        let mut se = self.semantic();
        se.seq += 1;
        let item = Vector {
            key,
            scope,
            v,
            seq: se.seq,
        };
        if let Some(&i) = se.pos.get(&key) {
            se.items[i] = item;
            return true;
        }
        if se.items.len() >= self.cfg.max_semantic_entries {
            let oldest = se.items.iter().min_by_key(|it| it.seq).map(|it| it.key);
            if let Some(k) = oldest {
                se.remove(&k);
            }
        }
        let i = se.items.len();
        se.items.push(item);
        se.pos.insert(key, i);
        true
    }

    /// The cached key whose embedding in `scope` is most similar to `embedding`, with its cosine
    /// similarity, when that is at least `threshold` (e.g. [`DEFAULT_SIMILARITY_THRESHOLD`]) and
    /// the entry is still live. A linear scan: fine up to a few thousand vectors. No counters.
    pub fn lookup_similar(
        &self,
        scope: &CacheKey,
        embedding: &[f32],
        threshold: f32,
    ) -> Option<(CacheKey, f32)> {
        self.lookup_similar_at(scope, embedding, threshold, Instant::now())
    }

    fn lookup_similar_at(
        &self,
        scope: &CacheKey,
        embedding: &[f32],
        threshold: f32,
        now: Instant,
    ) -> Option<(CacheKey, f32)> {
        if !self.semantic_enabled() {
            return None;
        }
        let q = normalized(embedding)?;
        for _ in 0..MAX_STALE_RETRIES {
            let (key, score) = self.semantic().best(scope, &q)?;
            if score < threshold {
                return None;
            }
            if self.live(&key, now) {
                return Some((key, score));
            }
            // expired or evicted meanwhile: forget it and look again
            self.semantic().remove(&key);
        }
        None
    }

    /// [`Cache::lookup_similar`] then the entry itself, counted as a semantic hit.
    pub fn get_similar(
        &self,
        scope: &CacheKey,
        embedding: &[f32],
        threshold: f32,
    ) -> Option<StoredResponse> {
        self.get_similar_at(scope, embedding, threshold, Instant::now())
    }

    fn get_similar_at(
        &self,
        scope: &CacheKey,
        embedding: &[f32],
        threshold: f32,
        now: Instant,
    ) -> Option<StoredResponse> {
        let (key, _) = self.lookup_similar_at(scope, embedding, threshold, now)?;
        self.get_at(&key, now, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderName, HeaderValue};
    use serde_json::json;

    fn ok(body: &str) -> StoredResponse {
        StoredResponse {
            status: StatusCode::OK,
            headers: vec![
                (
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (
                    HeaderName::from_static("x-request-id"),
                    HeaderValue::from_static("abc"),
                ),
            ],
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    fn key(n: u8) -> CacheKey {
        CacheKey([n; 32])
    }

    fn small(max_entries: usize, max_bytes: usize) -> Cache {
        Cache::new(CacheConfig {
            max_entries,
            max_bytes,
            ttl: Duration::from_secs(60),
            max_semantic_entries: 0,
        })
    }

    #[test]
    fn hit_and_miss_keep_only_cached_headers() {
        let c = Cache::default();
        assert_eq!(c.get(&key(1)), None);
        assert!(c.put(key(1), ok("{\"x\":1}")));
        let r = c.get(&key(1)).unwrap();
        assert_eq!(r.body, "{\"x\":1}");
        assert_eq!(r.status, StatusCode::OK);
        let names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["content-type"]);
        assert_eq!(c.get(&key(2)), None);
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.entries), (1, 2, 1));
    }

    #[test]
    fn only_status_200_is_stored() {
        let c = Cache::default();
        let mut r = ok("{}");
        r.status = StatusCode::BAD_REQUEST;
        assert!(!c.put(key(1), r));
        assert_eq!(c.stats().entries, 0);
    }

    #[test]
    fn signature_ignores_key_order_and_volatile_fields() {
        let a = json!({"model": "gpt-4o", "temperature": 0, "messages": [{"role": "user", "content": "hi"}], "stream": false, "user": "u1", "metadata": {"a": 1}});
        let b = json!({"messages": [{"content": "hi", "role": "user"}], "temperature": 0.0, "model": "4o-alias"});
        assert_eq!(
            signature("openai", "openai/gpt-4o", &a),
            signature("openai", "openai/gpt-4o", &b)
        );
        // what matters changes the key
        let c = json!({"messages": [{"content": "hi!", "role": "user"}], "temperature": 0});
        assert_ne!(signature("openai", "m", &b), signature("openai", "m", &c));
        assert_ne!(
            signature("openai", "m", &b),
            signature("anthropic", "m", &b)
        );
        assert_ne!(signature("openai", "m1", &b), signature("openai", "m2", &b));
        // array order matters
        let d = json!({"stop": ["a", "b"]});
        let e = json!({"stop": ["b", "a"]});
        assert_ne!(signature("f", "m", &d), signature("f", "m", &e));
        // nested objects are canonicalized too; boundaries are unambiguous
        let f = json!({"x": {"a": "1", "b": {"c": 2, "d": [true, null]}}});
        let g = json!({"x": {"b": {"d": [true, null], "c": 2}, "a": "1"}});
        assert_eq!(signature("f", "m", &f), signature("f", "m", &g));
        assert_ne!(signature("ab", "c", &f), signature("a", "bc", &f));
        let raw = serde_json::to_vec(&f).unwrap();
        assert_ne!(signature_raw("f", "m", &raw), signature("f", "m", &f));
        assert_eq!(signature_raw("f", "m", &raw), signature_raw("f", "m", &raw));
        assert_eq!(signature("f", "m", &f).to_hex().len(), 64);
    }

    #[tokio::test]
    async fn ttl_expiry() {
        let c = small(10, 1 << 20);
        let t0 = Instant::now();
        assert!(c.put_at(key(1), ok("a"), Duration::from_secs(60), t0));
        assert!(c.put_at(key(2), ok("b"), Duration::from_secs(5), t0));
        assert!(c
            .get_at(&key(2), t0 + Duration::from_millis(4_999), false)
            .is_some());
        assert!(c
            .get_at(&key(2), t0 + Duration::from_secs(5), false)
            .is_none());
        assert!(c
            .get_at(&key(1), t0 + Duration::from_secs(59), false)
            .is_some());
        assert_eq!(c.purge_expired_at(t0 + Duration::from_secs(60)), 1);
        let s = c.stats();
        assert_eq!((s.entries, s.expired, s.hits, s.misses), (0, 2, 2, 1));
        assert_eq!(s.bytes, 0);
        // the default TTL comes from the config
        assert_eq!(Cache::default().config().ttl, DEFAULT_TTL);
    }

    #[test]
    fn byte_cap_evicts_least_recently_used() {
        let body = "x".repeat(1000);
        let one = ok(&body).size() - "x-request-id".len() - 3 + ENTRY_OVERHEAD;
        let c = small(100, 3 * one);
        for n in 1..=3 {
            assert!(c.put(key(n), ok(&body)));
        }
        assert_eq!(c.stats().bytes, 3 * one);
        c.get(&key(1)); // 2 is now the least recently used
        assert!(c.put(key(4), ok(&body)));
        assert!(c.get(&key(2)).is_none());
        assert!(c.get(&key(1)).is_some() && c.get(&key(3)).is_some() && c.get(&key(4)).is_some());
        let s = c.stats();
        assert_eq!((s.entries, s.bytes, s.evictions), (3, 3 * one, 1));
        // a bigger body evicts as many as needed; one larger than the cap is refused
        assert!(c.put(key(5), ok(&"y".repeat(1900))));
        assert_eq!(c.stats().entries, 2);
        assert!(!c.put(key(6), ok(&"z".repeat(3 * one))));
        assert!(c.stats().bytes <= 3 * one);
    }

    #[test]
    fn entry_cap_evicts_least_recently_used() {
        let c = small(3, 1 << 20);
        for n in 1..=3 {
            c.put(key(n), ok("v"));
        }
        c.get(&key(1));
        c.get(&key(2));
        c.put(key(4), ok("v")); // evicts 3
        assert!(c.get(&key(3)).is_none());
        c.put(key(5), ok("v")); // evicts 1
        assert!(c.get(&key(1)).is_none());
        for n in [2, 4, 5] {
            assert!(c.get(&key(n)).is_some(), "{n}");
        }
        // replacing a key does not evict others
        c.put(key(5), ok("w"));
        assert_eq!(c.get(&key(5)).unwrap().body, "w");
        let s = c.stats();
        assert_eq!((s.entries, s.evictions), (3, 2));
    }

    #[test]
    fn lru_survives_churn() {
        let c = small(50, 1 << 20);
        for round in 0..20u8 {
            for n in 0..100u8 {
                c.put(CacheKey([n.wrapping_add(round); 32]), ok("v"));
                if n % 3 == 0 {
                    c.get(&CacheKey([n / 2; 32]));
                }
                if n % 7 == 0 {
                    c.remove(&CacheKey([n / 3; 32]));
                }
            }
            let s = c.stats();
            assert!(s.entries <= 50);
        }
        // the slab is reused, not grown
        assert!(c.exact().lru.nodes.len() <= 51);
        c.clear();
        assert_eq!(c.stats().entries, 0);
        assert_eq!(c.stats().bytes, 0);
    }

    #[test]
    fn stats_serialize() {
        let c = Cache::default();
        c.put(key(1), ok("{}"));
        c.get(&key(1));
        c.get(&key(2));
        let v = serde_json::to_value(c.stats()).unwrap();
        assert_eq!(v["entries"], 1);
        assert_eq!(v["hits"], 1);
        assert_eq!(v["misses"], 1);
        assert_eq!(v["evictions"], 0);
        assert_eq!(v["semantic_hits"], 0);
        assert!(v["bytes"].as_u64().unwrap() > 2);
        c.clear();
        let s = c.stats();
        assert_eq!((s.entries, s.bytes, s.hits, s.misses), (0, 0, 1, 1));
    }

    #[test]
    fn cacheable_rules_per_format() {
        // OpenAI chat / Anthropic / Responses: top-level temperature
        assert!(cacheable(&json!({"temperature": 0, "messages": []}), false));
        assert!(cacheable(
            &json!({"temperature": 0.0, "input": "hi"}),
            false
        ));
        assert!(!cacheable(&json!({"temperature": 0}), true));
        assert!(!cacheable(
            &json!({"temperature": 0, "stream": true}),
            false
        ));
        assert!(cacheable(
            &json!({"temperature": 0, "stream": false}),
            false
        ));
        assert!(!cacheable(&json!({"temperature": 0.2}), false));
        assert!(!cacheable(&json!({"messages": []}), false));
        assert!(!cacheable(&json!({"temperature": null}), false));
        assert!(!cacheable(&json!({"temperature": "0"}), false));
        // Gemini
        assert!(cacheable(
            &json!({"contents": [], "generationConfig": {"temperature": 0}}),
            false
        ));
        assert!(cacheable(
            &json!({"generation_config": {"temperature": 0}}),
            false
        ));
        assert!(!cacheable(
            &json!({"generationConfig": {"temperature": 1}}),
            false
        ));
        assert!(!cacheable(&json!({"generationConfig": {}}), false));
        assert!(!cacheable(
            &json!({"generationConfig": {"temperature": 0}}),
            true
        ));
        // the bypass header
        let mut h = HeaderMap::new();
        assert!(!bypass_requested(&h));
        h.insert(NO_CACHE_HEADER, HeaderValue::from_static("TRUE"));
        assert!(bypass_requested(&h));
        h.insert(NO_CACHE_HEADER, HeaderValue::from_static("false"));
        assert!(!bypass_requested(&h));
    }

    fn semantic_cache(max: usize) -> Cache {
        Cache::new(CacheConfig {
            max_semantic_entries: max,
            ..CacheConfig::default()
        })
    }

    #[test]
    fn cosine_lookup_threshold() {
        let c = semantic_cache(10);
        let scope = key(9);
        c.put(key(1), ok("one"));
        c.put(key(2), ok("two"));
        // not normalized on purpose
        assert!(c.insert_embedding(key(1), scope, &[3.0, 0.0, 0.0]));
        assert!(c.insert_embedding(key(2), scope, &[0.0, 2.0, 0.0]));
        // cos([1, 0.1, 0]) with e1 ≈ 0.995
        let (k, s) = c.lookup_similar(&scope, &[1.0, 0.1, 0.0], 0.99).unwrap();
        assert_eq!(k, key(1));
        assert!((s - 0.995).abs() < 1e-3);
        assert_eq!(c.lookup_similar(&scope, &[1.0, 0.1, 0.0], 0.999), None);
        // the best one wins
        assert_eq!(
            c.lookup_similar(&scope, &[0.1, 1.0, 0.0], 0.9).unwrap().0,
            key(2)
        );
        // orthogonal, other scope, other dimension, zero or NaN query: nothing
        assert_eq!(c.lookup_similar(&scope, &[0.0, 0.0, 1.0], 0.5), None);
        assert_eq!(c.lookup_similar(&key(8), &[1.0, 0.0, 0.0], 0.5), None);
        assert_eq!(c.lookup_similar(&scope, &[1.0, 0.0], 0.5), None);
        assert_eq!(c.lookup_similar(&scope, &[0.0, 0.0, 0.0], 0.5), None);
        assert_eq!(c.lookup_similar(&scope, &[f32::NAN, 0.0, 0.0], 0.5), None);
        // get_similar returns the entry and counts a semantic hit, not an exact one
        assert_eq!(
            c.get_similar(&scope, &[1.0, 0.05, 0.0], 0.99).unwrap().body,
            "one"
        );
        let s = c.stats();
        assert_eq!(
            (s.semantic_hits, s.hits, s.misses, s.semantic_entries),
            (1, 0, 0, 2)
        );
        // long vectors (chunked dot product) agree with the naive one
        let a: Vec<f32> = (0..1537).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
        let b: Vec<f32> = (0..1537).map(|i| ((i * 5 % 11) as f32) - 5.0).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() <= naive.abs() * 1e-5 + 1e-3);
    }

    #[test]
    fn semantic_tier_follows_the_exact_tier() {
        // off by default
        let off = Cache::default();
        off.put(key(1), ok("x"));
        assert!(!off.semantic_enabled());
        assert!(!off.insert_embedding(key(1), key(9), &[1.0]));
        assert_eq!(off.lookup_similar(&key(9), &[1.0], 0.0), None);

        let c = Cache::new(CacheConfig {
            max_entries: 2,
            max_semantic_entries: 2,
            ..CacheConfig::default()
        });
        let scope = key(9);
        // only cached keys get vectors
        assert!(!c.insert_embedding(key(1), scope, &[1.0, 0.0]));
        c.put(key(1), ok("1"));
        c.put(key(2), ok("2"));
        assert!(c.insert_embedding(key(1), scope, &[1.0, 0.0]));
        assert!(c.insert_embedding(key(2), scope, &[0.0, 1.0]));
        // evicting the exact entry drops its vector
        c.put(key(3), ok("3"));
        assert_eq!(c.stats().semantic_entries, 1);
        assert_eq!(c.lookup_similar(&scope, &[1.0, 0.0], 0.9), None);
        // replacing a response keeps its vector
        assert!(c.insert_embedding(key(3), scope, &[1.0, 1.0]));
        c.put(key(2), ok("2 again"));
        assert_eq!(c.stats().semantic_entries, 2);
        assert_eq!(
            c.lookup_similar(&scope, &[0.0, 1.0], 0.9).unwrap().0,
            key(2)
        );
        c.remove(&key(3));
        assert_eq!(c.stats().semantic_entries, 1);
        c.clear();
        assert_eq!(c.stats().semantic_entries, 0);

        // the oldest vector goes when the tier is full
        let c = semantic_cache(2);
        for n in 1..=3 {
            c.put(key(n), ok("v"));
        }
        assert!(c.insert_embedding(key(1), scope, &[1.0, 0.0, 0.0]));
        assert!(c.insert_embedding(key(2), scope, &[0.0, 1.0, 0.0]));
        assert!(c.insert_embedding(key(1), scope, &[1.0, 0.0, 0.0])); // re-insert: no growth
        assert!(c.insert_embedding(key(3), scope, &[0.0, 0.0, 1.0])); // evicts 2 (oldest)
        assert_eq!(c.stats().semantic_entries, 2);
        assert_eq!(c.lookup_similar(&scope, &[0.0, 1.0, 0.0], 0.9), None);
        assert_eq!(
            c.lookup_similar(&scope, &[1.0, 0.0, 0.0], 0.9).unwrap().0,
            key(1)
        );
        assert_eq!(
            c.lookup_similar(&scope, &[0.0, 0.0, 1.0], 0.9).unwrap().0,
            key(3)
        );
        // the exact entry stays cached
        assert!(c.get(&key(2)).is_some());
    }

    #[tokio::test]
    async fn semantic_lookup_skips_expired_entries() {
        let c = semantic_cache(10);
        let scope = key(9);
        let t0 = Instant::now();
        c.put_at(key(1), ok("old"), Duration::from_secs(5), t0);
        c.put_at(key(2), ok("new"), Duration::from_secs(60), t0);
        c.insert_embedding_at(key(1), scope, &[1.0, 0.0], t0);
        c.insert_embedding_at(key(2), scope, &[1.0, 0.2], t0);
        let later = t0 + Duration::from_secs(10);
        // key 1 is the best match but expired: the next best live one answers
        let (k, _) = c
            .lookup_similar_at(&scope, &[1.0, 0.0], 0.9, later)
            .unwrap();
        assert_eq!(k, key(2));
        assert_eq!(c.stats().semantic_entries, 1);
    }

    #[test]
    fn semantic_scope_is_exact_on_everything_but_the_prompt() {
        let a = json!({"model": "m", "temperature": 0, "tools": [{"name": "t"}], "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "what is the capital of France?"}]});
        let mut b = a.clone();
        b["messages"][3]["content"] = json!("capital city of France?");
        assert_eq!(
            semantic_scope("openai", "m", &a),
            semantic_scope("openai", "m", &b)
        );
        b["messages"][0]["content"] = json!("be short");
        assert_ne!(
            semantic_scope("openai", "m", &a),
            semantic_scope("openai", "m", &b)
        );
        let mut c = a.clone();
        c["messages"][1]["content"] = json!("another history");
        assert_ne!(
            semantic_scope("openai", "m", &a),
            semantic_scope("openai", "m", &c)
        );
        let mut d = a.clone();
        d["tools"] = json!([]);
        assert_ne!(
            semantic_scope("openai", "m", &a),
            semantic_scope("openai", "m", &d)
        );
        assert_ne!(
            semantic_scope("openai", "m", &a),
            semantic_scope("openai", "m2", &a)
        );
        assert_ne!(
            semantic_scope("openai", "m", &a),
            signature("openai", "m", &a)
        );
        // Responses string input and Gemini contents
        let r1 = json!({"input": "hello", "instructions": "x", "temperature": 0});
        let r2 = json!({"input": "hi there", "instructions": "x", "temperature": 0});
        assert_eq!(
            semantic_scope("responses", "m", &r1),
            semantic_scope("responses", "m", &r2)
        );
        let g1 = json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"temperature": 0}});
        let g2 = json!({"contents": [{"role": "user", "parts": [{"text": "b"}]}], "generationConfig": {"temperature": 0}});
        assert_eq!(
            semantic_scope("gemini", "m", &g1),
            semantic_scope("gemini", "m", &g2)
        );
    }

    #[test]
    fn prompt_text_openai() {
        let body = json!({"messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "old question"},
            {"role": "assistant", "content": "old answer"},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:..."}},
                {"type": "text", "text": "Be precise."}]},
            {"role": "tool", "tool_call_id": "c", "content": "tool output"}]});
        assert_eq!(
            prompt_text(&body),
            "You are terse.\nAnswer in French.\n\nWhat is this?\nBe precise."
        );
        assert_eq!(
            prompt_text(&json!({"messages": [{"role": "user", "content": "hi"}]})),
            "hi"
        );
        assert_eq!(prompt_text(&json!({"messages": []})), "");
    }

    #[test]
    fn prompt_text_anthropic() {
        let body = json!({"system": [{"type": "text", "text": "Sys A"}, {"type": "text", "text": "Sys B"}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"}, {"type": "text", "text": "Hi"}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t", "content": "42"},
                    {"type": "text", "text": "Explain"}]}]});
        assert_eq!(prompt_text(&body), "Sys A\nSys B\n\nExplain");
        let s = json!({"system": "plain", "messages": [{"role": "user", "content": "q"}]});
        assert_eq!(prompt_text(&s), "plain\n\nq");
    }

    #[test]
    fn prompt_text_gemini() {
        let body = json!({"systemInstruction": {"parts": [{"text": "Be kind."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "first"}]},
                {"role": "model", "parts": [{"text": "reply"}]},
                {"role": "user", "parts": [{"text": "second"}, {"inlineData": {"mimeType": "image/png", "data": "..."}}, {"text": "more"}]}]});
        assert_eq!(prompt_text(&body), "Be kind.\n\nsecond\nmore");
        // role omitted means user; snake_case system instruction
        let b = json!({"system_instruction": {"parts": [{"text": "S"}]}, "contents": [{"parts": [{"text": "q"}]}]});
        assert_eq!(prompt_text(&b), "S\n\nq");
        let t = json!({"contents": [{"role": "user", "parts": [{"text": "x", "thought": true}, {"text": "y"}]}]});
        assert_eq!(prompt_text(&t), "y");
    }

    #[test]
    fn prompt_text_responses() {
        assert_eq!(
            prompt_text(&json!({"instructions": "Be brief.", "input": "Tell me a joke"})),
            "Be brief.\n\nTell me a joke"
        );
        let body = json!({"input": [
            {"role": "developer", "content": "dev note"},
            {"role": "user", "content": [{"type": "input_text", "text": "old"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "x"}]},
            {"type": "function_call_output", "call_id": "c", "output": "o"},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "new question"},
                {"type": "input_image", "image_url": "https://..."}]}]});
        assert_eq!(prompt_text(&body), "dev note\n\nnew question");
    }
}
