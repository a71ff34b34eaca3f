//! Latency telemetry in memory: streaming histograms of total latency and time to first token
//! (TTFT), success rate and throughput, per provider, per `provider/model`, per connection and
//! globally, over sliding windows of 1 min, 5 min and 1 h; and the Prometheus text exposition
//! (format 0.0.4) of lifetime counters (requests, latency and TTFT histograms, tokens, cost,
//! failures by class). Pure: no IO, no clock — every call takes `now` in
//! epoch milliseconds, so tests drive time.
//!
//! # Histogram
//!
//! Log-linear buckets over microseconds, HDR style: values below 32 µs have a bucket each (exact),
//! every power of two above is split into 32 equal sub-buckets, up to 2^30 µs (17.9 min; longer
//! values land in the top bucket, their `_sum` stays exact). That is 832 buckets; a quantile is
//! reported as the middle of its bucket, so its relative error is at most 1/64 (1.6 %) against
//! the sample it stands for. Quantiles use the nearest-rank definition (`rank = ceil(q·n)`).
//!
//! # Windows
//!
//! Each series counts the current 10 s epoch in fixed arrays of atomics (`record` is a handful of
//! relaxed atomic adds: no lock, no allocation). The first `record` (or read, or
//! [`Telemetry::maintain`]) of a new epoch drains that accumulator — atomic swaps, so no count is
//! ever lost to a race; at worst a request that lands while the drain runs is attributed to the
//! neighbouring epoch, microseconds away — into three rings kept under the series' mutex:
//! 6 × 10 s (the 1 min window), 5 × 1 min (5 min) and 6 × 10 min (1 h). Recorders only `try_lock`
//! it, so they never wait. A window read merges the ring slots that overlap it plus the live
//! accumulator; because slots are aligned, the data covered is the last `W − slot .. W` (50–60 s,
//! 4–5 min, 50–60 min) and `rps` divides by exactly that span (clipped to the first observation).
//!
//! # Memory
//!
//! Ring slots store their non-empty buckets sparsely (`u16` index + `u32` count) and never more
//! than 256 of them: a slot whose distribution spans more than that (8 full octaves) folds its
//! lowest buckets upward into one, so low quantiles of such a slot become conservative while the
//! tail keeps its 1.6 %. Per series that bounds memory to ≈ 62 KB: the live accumulator
//! (2 × 832 × 4 B = 6.7 KB) and slot headers, ≈ 8.5 KB for an idle series, plus at most
//! 17 slots × 2 histograms × 256 × 6 B of buckets (a saturated series is checked in a test; a busy
//! model with log-normal σ = 1 latencies at 1000 rps measured ≈ 50 KB). Series are capped
//! ([`DEFAULT_MAX_SERIES`] = 2 000: ≈ 17 MB idle, ≤ 124 MB saturated, or
//! [`Telemetry::with_max_series`]); beyond the cap new keys fold into one `_other` series per
//! kind. [`Telemetry::memory_bytes`] reports the current footprint.
//!
//! # Prometheus
//!
//! [`Telemetry::render_prometheus`] writes lifetime counters of the `provider/model` series
//! (requests by status class, duration and TTFT histograms with exact per-`le` counters on the
//! GenAI semantic-convention bucket boundaries — these are not boundaries of the binary fine
//! histogram, so they are counted directly, one extra atomic add, rather than derived — tokens,
//! cost), upstream failures per provider and outcome, and caller-supplied [`Gauge`]s.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{
    Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError,
};

/// Default cap on the number of provider, model and connection series together (real
/// deployments have hundreds; each costs 8.5–62 KB, see the module doc).
pub const DEFAULT_MAX_SERIES: usize = 2_000;
/// The key (and label value) of the series that collects keys beyond the cap.
pub const OTHER: &str = "_other";
/// Latencies at or above this many microseconds (≈ 17.9 min) share the top bucket.
pub const MAX_TRACKED_US: u64 = (1 << TOP_EXP) - 1;

/// Sub-buckets per power of two: 2^5 = 32, i.e. ≤ 1/64 relative error at the bucket middle.
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Tracked values are below 2^TOP_EXP µs.
const TOP_EXP: u32 = 30;
/// Number of fine buckets: 32 exact ones, then 32 per power of two from 2^5 to 2^29.
const BUCKETS: usize = SUB + (TOP_EXP - SUB_BITS) as usize * SUB;

/// Length of the live accumulator's epoch.
const EPOCH_MS: u64 = 10_000;
/// The rings, one per [`Window`]: (slot width in ms, slots).
const TIERS: [(u64, usize); 3] = [(10_000, 6), (60_000, 5), (600_000, 6)];
/// Most non-empty buckets a ring slot keeps per histogram.
const SLOT_CAP: usize = 256;
/// A ring slot that holds nothing.
const EMPTY: u64 = u64::MAX;
/// Distinct failure outcomes counted per provider; further ones count as `_other`.
const OUTCOME_SLOTS: usize = 16;

/// `le` bounds (µs) of `omniroute_request_duration_seconds`: the GenAI semantic-convention
/// boundaries for `gen_ai.client.operation.duration` (0.01 s doubling to 81.92 s), extended by two
/// doublings for long reasoning requests.
const DURATION_LE_US: [u64; 16] = [
    10_000,
    20_000,
    40_000,
    80_000,
    160_000,
    320_000,
    640_000,
    1_280_000,
    2_560_000,
    5_120_000,
    10_240_000,
    20_480_000,
    40_960_000,
    81_920_000,
    163_840_000,
    327_680_000,
];
/// `le` bounds (µs) of `omniroute_time_to_first_token_seconds`: the semantic-convention
/// boundaries for `gen_ai.server.time_to_first_token`, extended to 60 s for reasoning models.
const TTFT_LE_US: [u64; 18] = [
    1_000, 5_000, 10_000, 20_000, 40_000, 60_000, 80_000, 100_000, 250_000, 500_000, 750_000,
    1_000_000, 2_500_000, 5_000_000, 7_500_000, 10_000_000, 30_000_000, 60_000_000,
];
const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// One finished request, as the proxy reports it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Observation<'a> {
    /// Resolved provider id (`""` is counted as `unknown`).
    pub provider: &'a str,
    /// Resolved upstream model id (`""` is counted as `unknown`).
    pub model: &'a str,
    /// Connection id; `""` (no upstream call, e.g. a cache hit) skips the per-connection series.
    pub connection: &'a str,
    /// Final HTTP status sent to the client.
    pub status: u16,
    /// Whether the request succeeded.
    pub ok: bool,
    /// Total latency, request received to last byte.
    pub latency_us: u64,
    /// Time to first content token (streams).
    pub ttft_us: Option<u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Failure class (e.g. `rate_limited`), counted when `ok` is false (`unknown` when `None`).
    pub outcome: Option<&'a str>,
}

/// A sliding window of [`Telemetry::snapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Window {
    /// The last minute (10 s slots: 50–60 s of data).
    Minute,
    /// The last 5 minutes (1 min slots: 4–5 min of data).
    FiveMinutes,
    /// The last hour (10 min slots: 50–60 min of data).
    Hour,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Minute, Window::FiveMinutes, Window::Hour];

    /// `1m`, `5m` or `1h`.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Minute => "1m",
            Window::FiveMinutes => "5m",
            Window::Hour => "1h",
        }
    }

    /// The inverse of [`Window::as_str`].
    pub fn parse(s: &str) -> Option<Window> {
        Window::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// Nominal length in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            Window::Minute => 60,
            Window::FiveMinutes => 300,
            Window::Hour => 3600,
        }
    }

    fn tier(self) -> usize {
        match self {
            Window::Minute => 0,
            Window::FiveMinutes => 1,
            Window::Hour => 2,
        }
    }
}

/// A caller-supplied sample for [`Telemetry::render_prometheus`] (breaker states, cooldowns, cache
/// statistics, dropped log rows...). Samples sharing a `name` are written as one family, with the
/// `help` and type of the first; names and label names are sanitized to the Prometheus alphabet.
#[derive(Clone, Debug, PartialEq)]
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    /// Written as `# TYPE ... counter` instead of `gauge` (monotonic totals such as dropped rows).
    pub counter: bool,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl Gauge {
    /// A gauge without labels.
    pub fn new(name: &'static str, help: &'static str, value: f64) -> Gauge {
        Gauge {
            name,
            help,
            counter: false,
            labels: Vec::new(),
            value,
        }
    }

    /// A counter without labels.
    pub fn counter(name: &'static str, help: &'static str, value: f64) -> Gauge {
        Gauge {
            counter: true,
            ..Gauge::new(name, help, value)
        }
    }

    /// Adds a label.
    pub fn label(mut self, name: &'static str, value: impl Into<String>) -> Gauge {
        self.labels.push((name, value.into()));
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Fine histogram layout

/// The fine bucket of a value in µs.
#[inline]
fn bucket_of(us: u64) -> usize {
    let v = us.min(MAX_TRACKED_US);
    if v < SUB as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // SUB_BITS..TOP_EXP
    let shift = exp - SUB_BITS;
    ((shift as usize + 1) << SUB_BITS) + ((v >> shift) as usize - SUB)
}

/// The smallest value of bucket `i` (`i == BUCKETS` gives the end of the range).
fn bucket_low(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let shift = (i >> SUB_BITS) - 1;
    ((SUB + (i & (SUB - 1))) as u64) << shift
}

/// The value reported for bucket `i`: the middle of the integers it holds.
fn bucket_mid_us(i: usize) -> f64 {
    let lo = bucket_low(i);
    let hi = bucket_low(i + 1).saturating_sub(1).max(lo);
    (lo + hi) as f64 / 2.0
}

/// Nearest-rank quantiles p50, p95, p99 (ms) of a fine histogram.
fn quantiles_ms(hist: &[u64]) -> Option<[f64; 3]> {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    let ranks = [50u64, 95, 99].map(|p| (total.saturating_mul(p).div_ceil(100)).clamp(1, total));
    let mut out = [0.0; 3];
    let mut k = 0;
    let mut cum = 0u64;
    for (i, &c) in hist.iter().enumerate() {
        if c == 0 {
            continue;
        }
        cum += c;
        while let Some(&rank) = ranks.get(k) {
            if cum < rank {
                break;
            }
            if let Some(slot) = out.get_mut(k) {
                *slot = round3(bucket_mid_us(i) / 1000.0);
            }
            k += 1;
        }
        if k >= ranks.len() {
            break;
        }
    }
    Some(out)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------------------------------------
// Windows: live accumulator and rings

/// The current epoch, written lock-free by every request. The request count is the latency
/// histogram's total, and successes are `count − err`, so a successful request costs two adds.
struct Current {
    err: AtomicU64,
    lat: [AtomicU32; BUCKETS],
    ttft: [AtomicU32; BUCKETS],
}

/// What a drain took out of [`Current`]: failures and the non-empty buckets, in index order.
struct Drained {
    err: u64,
    lat: Vec<(u16, u32)>,
    ttft: Vec<(u16, u32)>,
}

impl Current {
    fn new() -> Current {
        Current {
            err: AtomicU64::new(0),
            lat: std::array::from_fn(|_| AtomicU32::new(0)),
            ttft: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }

    fn drain(&self) -> Drained {
        fn take(h: &[AtomicU32; BUCKETS]) -> Vec<(u16, u32)> {
            let mut out = Vec::new();
            for (i, b) in h.iter().enumerate() {
                // load first: most buckets are empty and a load does not take the cache line
                if b.load(Relaxed) != 0 {
                    let c = b.swap(0, Relaxed);
                    if c != 0 {
                        out.push((i as u16, c));
                    }
                }
            }
            out
        }
        Drained {
            err: self.err.swap(0, Relaxed),
            lat: take(&self.lat),
            ttft: take(&self.ttft),
        }
    }
}

/// A ring slot's histogram: non-empty buckets in index order, at most [`SLOT_CAP`].
#[derive(Default)]
struct Sparse {
    idx: Box<[u16]>,
    cnt: Box<[u32]>,
}

impl Sparse {
    fn merge(&mut self, add: &[(u16, u32)]) {
        if add.is_empty() {
            return;
        }
        let mut out: Vec<(u16, u32)> = Vec::with_capacity(self.idx.len() + add.len());
        let mut a = self
            .idx
            .iter()
            .copied()
            .zip(self.cnt.iter().copied())
            .peekable();
        let mut b = add.iter().copied().peekable();
        loop {
            let next = match (a.peek().copied(), b.peek().copied()) {
                (Some((x, c)), Some((y, d))) => {
                    if x == y {
                        a.next();
                        b.next();
                        (x, c.saturating_add(d))
                    } else if x < y {
                        a.next();
                        (x, c)
                    } else {
                        b.next();
                        (y, d)
                    }
                }
                (Some(p), None) => {
                    a.next();
                    p
                }
                (None, Some(p)) => {
                    b.next();
                    p
                }
                (None, None) => break,
            };
            out.push(next);
        }
        if out.len() > SLOT_CAP {
            // fold the lowest buckets upward into the lowest one kept
            let k = out.len() - SLOT_CAP;
            let folded = out
                .iter()
                .take(k + 1)
                .fold(0u32, |s, p| s.saturating_add(p.1));
            out.drain(..k);
            if let Some(first) = out.first_mut() {
                first.1 = folded;
            }
        }
        self.idx = out.iter().map(|p| p.0).collect();
        self.cnt = out.iter().map(|p| p.1).collect();
    }

    fn add_to(&self, hist: &mut [u64]) {
        for (&i, &c) in self.idx.iter().zip(self.cnt.iter()) {
            if let Some(h) = hist.get_mut(i as usize) {
                *h += u64::from(c);
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        self.idx.len() * 2 + self.cnt.len() * 4
    }
}

struct Slot {
    /// Slot number (`start_ms / width`), or [`EMPTY`].
    epoch: u64,
    err: u64,
    lat: Sparse,
    ttft: Sparse,
}

impl Slot {
    fn empty(epoch: u64) -> Slot {
        Slot {
            epoch,
            err: 0,
            lat: Sparse::default(),
            ttft: Sparse::default(),
        }
    }
}

struct Tier {
    width_ms: u64,
    slots: Box<[Slot]>,
}

impl Tier {
    fn new(width_ms: u64, n: usize) -> Tier {
        Tier {
            width_ms,
            slots: (0..n).map(|_| Slot::empty(EMPTY)).collect(),
        }
    }

    /// Adds an epoch's data, starting at `start_ms`; data older than the ring is dropped.
    fn add(&mut self, start_ms: u64, d: &Drained) {
        let k = start_ms / self.width_ms.max(1);
        let len = self.slots.len().max(1) as u64;
        let Some(slot) = self.slots.get_mut((k % len) as usize) else {
            return;
        };
        if slot.epoch != k {
            if slot.epoch != EMPTY && slot.epoch > k {
                return;
            }
            *slot = Slot::empty(k);
        }
        slot.err = slot.err.saturating_add(d.err);
        slot.lat.merge(&d.lat);
        slot.ttft.merge(&d.ttft);
    }

    /// Number of the oldest slot a read at `now_ms` includes.
    fn first_slot(&self, now_ms: u64) -> u64 {
        (now_ms / self.width_ms.max(1) + 1).saturating_sub(self.slots.len() as u64)
    }

    fn collect(&self, now_ms: u64, acc: &mut Acc) {
        let last = now_ms / self.width_ms.max(1);
        let first = self.first_slot(now_ms);
        for s in self.slots.iter() {
            if s.epoch != EMPTY && (first..=last).contains(&s.epoch) {
                acc.err = acc.err.saturating_add(s.err);
                s.lat.add_to(&mut acc.lat);
                s.ttft.add_to(&mut acc.ttft);
            }
        }
    }
}

struct History {
    tiers: [Tier; 3],
}

struct Windowed {
    /// The epoch (`now_ms / EPOCH_MS`) `cur` is counting.
    epoch: AtomicU64,
    cur: Current,
    hist: Mutex<History>,
}

impl Windowed {
    fn new(epoch: u64) -> Windowed {
        Windowed {
            epoch: AtomicU64::new(epoch),
            cur: Current::new(),
            hist: Mutex::new(History {
                tiers: TIERS.map(|(w, n)| Tier::new(w, n)),
            }),
        }
    }

    #[inline]
    fn record(&self, epoch: u64, p: &Prepared<'_>) {
        if self.epoch.load(Relaxed) < epoch {
            match self.hist.try_lock() {
                Ok(mut h) => self.rotate(epoch, &mut h),
                Err(TryLockError::Poisoned(g)) => self.rotate(epoch, &mut g.into_inner()),
                // another thread is rotating or reading: count into the live epoch
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let c = &self.cur;
        if !p.ok {
            c.err.fetch_add(1, Relaxed);
        }
        if let Some(b) = c.lat.get(p.lat_bucket) {
            b.fetch_add(1, Relaxed);
        }
        if let Some(b) = p.ttft_bucket.and_then(|i| c.ttft.get(i)) {
            b.fetch_add(1, Relaxed);
        }
    }

    /// Moves the live accumulator into the rings if `epoch` is newer (caller holds `hist`).
    fn rotate(&self, epoch: u64, h: &mut History) {
        let old = self.epoch.load(Relaxed);
        if old >= epoch {
            return;
        }
        self.epoch.store(epoch, Relaxed);
        let d = self.cur.drain();
        if d.err == 0 && d.lat.is_empty() && d.ttft.is_empty() {
            return;
        }
        let start = old.saturating_mul(EPOCH_MS);
        for t in h.tiers.iter_mut() {
            t.add(start, &d);
        }
    }
}

/// Scratch for a window read.
struct Acc {
    err: u64,
    lat: Vec<u64>,
    ttft: Vec<u64>,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            err: 0,
            lat: vec![0; BUCKETS],
            ttft: vec![0; BUCKETS],
        }
    }

    fn clear(&mut self) {
        self.err = 0;
        self.lat.iter_mut().for_each(|v| *v = 0);
        self.ttft.iter_mut().for_each(|v| *v = 0);
    }

    fn add_current(&mut self, cur: &Current) {
        self.err = self.err.saturating_add(cur.err.load(Relaxed));
        for (a, b) in self.lat.iter_mut().zip(cur.lat.iter()) {
            *a += u64::from(b.load(Relaxed));
        }
        for (a, b) in self.ttft.iter_mut().zip(cur.ttft.iter()) {
            *a += u64::from(b.load(Relaxed));
        }
    }

    /// Requests in the window.
    fn count(&self) -> u64 {
        self.lat.iter().sum()
    }

    fn stats(&self, span_s: f64) -> WindowStats {
        let n = self.count();
        // a failure counted just before its latency (racing a drain) cannot make `ok` negative
        let err = self.err.min(n);
        let q = |h: &[u64]| quantiles_ms(h).map(|[p50, p95, p99]| Percentiles { p50, p95, p99 });
        WindowStats {
            count: n,
            ok: n - err,
            errors: err,
            success_rate: (n > 0).then(|| round3((n - err) as f64 / n as f64)),
            rps: round3(n as f64 / span_s),
            latency_ms: q(&self.lat),
            ttft_ms: q(&self.ttft),
            provider: None,
            model: None,
        }
    }
}

/// p50 / p95 / p99 in milliseconds.
#[derive(Debug, Clone, Copy, serde::Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

/// One series over a window.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
#[ts(export)]
pub struct WindowStats {
    pub count: u64,
    pub ok: u64,
    pub errors: u64,
    /// Null without requests.
    pub success_rate: Option<f64>,
    pub rps: f64,
    /// Null without samples.
    pub latency_ms: Option<Percentiles>,
    pub ttft_ms: Option<Percentiles>,
    /// Model series: their provider and model.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub model: Option<String>,
}

/// `GET /api/telemetry`: the window's statistics, overall and per provider, model
/// (`provider/model`) and connection id.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
#[ts(export)]
pub struct TelemetryView {
    /// `1m`, `5m` or `1h`.
    pub window: String,
    pub window_seconds: u64,
    /// The part of the window the gateway has been up for.
    pub span_seconds: f64,
    pub now_ms: u64,
    /// Series tracked, and the most that are.
    pub series: u64,
    pub max_series: u64,
    pub global: WindowStats,
    pub providers: std::collections::BTreeMap<String, WindowStats>,
    pub models: std::collections::BTreeMap<String, WindowStats>,
    pub connections: std::collections::BTreeMap<String, WindowStats>,
}

// ---------------------------------------------------------------------------------------------
// Lifetime counters (Prometheus)

struct PromHist {
    bounds: &'static [u64],
    /// Non-cumulative; the last one is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum_us: AtomicU64,
}

impl PromHist {
    fn new(bounds: &'static [u64]) -> PromHist {
        PromHist {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
        }
    }

    #[inline]
    fn observe(&self, us: u64) {
        let i = self.bounds.partition_point(|&b| b < us);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Relaxed);
        }
        self.sum_us.fetch_add(us, Relaxed);
    }
}

/// Kept by `provider/model` series.
struct Lifetime {
    status: [AtomicU64; 6],
    duration: PromHist,
    ttft: PromHist,
    tok_in: AtomicU64,
    tok_out: AtomicU64,
    cost_nano_usd: AtomicU64,
}

impl Lifetime {
    fn new() -> Lifetime {
        Lifetime {
            status: std::array::from_fn(|_| AtomicU64::new(0)),
            duration: PromHist::new(&DURATION_LE_US),
            ttft: PromHist::new(&TTFT_LE_US),
            tok_in: AtomicU64::new(0),
            tok_out: AtomicU64::new(0),
            cost_nano_usd: AtomicU64::new(0),
        }
    }

    #[inline]
    fn record(&self, p: &Prepared<'_>) {
        if let Some(c) = self.status.get(p.status_class) {
            c.fetch_add(1, Relaxed);
        }
        self.duration.observe(p.latency_us);
        if let Some(t) = p.ttft_us {
            self.ttft.observe(t);
        }
        if p.input_tokens > 0 {
            self.tok_in.fetch_add(p.input_tokens, Relaxed);
        }
        if p.output_tokens > 0 {
            self.tok_out.fetch_add(p.output_tokens, Relaxed);
        }
        if p.cost_nano_usd > 0 {
            self.cost_nano_usd.fetch_add(p.cost_nano_usd, Relaxed);
        }
    }
}

/// Failures per outcome, kept by provider series: a fixed table claimed first come first served.
struct Outcomes {
    names: [OnceLock<Box<str>>; OUTCOME_SLOTS],
    counts: [AtomicU64; OUTCOME_SLOTS],
    other: AtomicU64,
}

impl Outcomes {
    fn new() -> Outcomes {
        Outcomes {
            names: std::array::from_fn(|_| OnceLock::new()),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            other: AtomicU64::new(0),
        }
    }

    fn add(&self, outcome: &str) {
        if outcome != OTHER {
            for (name, count) in self.names.iter().zip(self.counts.iter()) {
                let claimed = match name.get() {
                    Some(n) => n,
                    None => name.get_or_init(|| outcome.into()),
                };
                if **claimed == *outcome {
                    count.fetch_add(1, Relaxed);
                    return;
                }
            }
        }
        self.other.fetch_add(1, Relaxed);
    }

    fn entries(&self) -> Vec<(&str, u64)> {
        let mut out: Vec<(&str, u64)> = self
            .names
            .iter()
            .zip(self.counts.iter())
            .filter_map(|(n, c)| Some((&**n.get()?, c.load(Relaxed))))
            .collect();
        out.push((OTHER, self.other.load(Relaxed)));
        out.retain(|e| e.1 > 0);
        out.sort_unstable();
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Series and registry

/// An observation reduced to what the counters need, computed once per request.
struct Prepared<'a> {
    ok: bool,
    latency_us: u64,
    lat_bucket: usize,
    ttft_us: Option<u64>,
    ttft_bucket: Option<usize>,
    input_tokens: u64,
    output_tokens: u64,
    status_class: usize,
    cost_nano_usd: u64,
    outcome: &'a str,
}

impl<'a> Prepared<'a> {
    fn new(r: &Observation<'a>) -> Prepared<'a> {
        let cost = r.cost_usd * 1e9;
        Prepared {
            ok: r.ok,
            latency_us: r.latency_us,
            lat_bucket: bucket_of(r.latency_us),
            ttft_us: r.ttft_us,
            ttft_bucket: r.ttft_us.map(bucket_of),
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            status_class: match r.status {
                100..=599 => usize::from(r.status / 100 - 1),
                _ => 5,
            },
            // `as` saturates; NaN and negatives count as nothing
            cost_nano_usd: if cost.is_finite() && cost > 0.0 {
                cost.round() as u64
            } else {
                0
            },
            outcome: match r.outcome {
                Some(o) if !o.is_empty() => o,
                _ => "unknown",
            },
        }
    }
}

struct Series {
    /// Provider id (provider and model series).
    provider: Box<str>,
    /// Model id (model series) or connection id (connection series).
    name: Box<str>,
    win: Windowed,
    life: Option<Box<Lifetime>>,
    errors: Option<Box<Outcomes>>,
}

impl Series {
    fn new(provider: &str, name: &str, epoch: u64, life: bool, errors: bool) -> Series {
        Series {
            provider: provider.into(),
            name: name.into(),
            win: Windowed::new(epoch),
            life: life.then(|| Box::new(Lifetime::new())),
            errors: errors.then(|| Box::new(Outcomes::new())),
        }
    }

    #[inline]
    fn record(&self, epoch: u64, p: &Prepared<'_>) {
        self.win.record(epoch, p);
        if let Some(l) = &self.life {
            l.record(p);
        }
        if !p.ok {
            if let Some(e) = &self.errors {
                e.add(p.outcome);
            }
        }
    }

    fn window(&self, tier: usize, now_ms: u64, acc: &mut Acc) {
        acc.clear();
        let mut h = lock(&self.win.hist);
        self.win.rotate(now_ms / EPOCH_MS, &mut h);
        if let Some(t) = h.tiers.get(tier) {
            t.collect(now_ms, acc);
        }
        acc.add_current(&self.win.cur);
    }

    fn maintain(&self, now_ms: u64) {
        let mut h = lock(&self.win.hist);
        self.win.rotate(now_ms / EPOCH_MS, &mut h);
    }

    fn bytes(&self) -> usize {
        let mut b = std::mem::size_of::<Series>() + self.provider.len() + self.name.len();
        if let Some(l) = &self.life {
            b += std::mem::size_of::<Lifetime>()
                + (l.duration.counts.len() + l.ttft.counts.len()) * 8;
        }
        if let Some(o) = &self.errors {
            b += std::mem::size_of::<Outcomes>();
            b += o
                .names
                .iter()
                .filter_map(|n| n.get())
                .map(|n| n.len())
                .sum::<usize>();
        }
        let h = lock(&self.win.hist);
        for t in h.tiers.iter() {
            b += t.slots.len() * std::mem::size_of::<Slot>();
            b += t
                .slots
                .iter()
                .map(|s| s.lat.heap_bytes() + s.ttft.heap_bytes())
                .sum::<usize>();
        }
        b
    }
}

type SeriesMap = HashMap<Box<str>, Arc<Series>>;

struct ProviderEntry {
    series: Arc<Series>,
    /// The provider's `provider/model` series by model id.
    models: SeriesMap,
}

impl ProviderEntry {
    fn new(provider: &str, epoch: u64) -> ProviderEntry {
        ProviderEntry {
            series: Arc::new(Series::new(provider, "", epoch, false, true)),
            models: SeriesMap::new(),
        }
    }
}

#[derive(Default)]
struct Maps {
    providers: HashMap<Box<str>, ProviderEntry>,
    connections: SeriesMap,
    /// Series counted against the cap (the `_other` ones are not).
    real: usize,
}

/// Takes a slot under the cap for `key`, or falls back to [`OTHER`].
fn admit<'k>(key: &'k str, real: &mut usize, max: usize) -> &'k str {
    if key != OTHER && *real < max {
        *real += 1;
        key
    } else {
        OTHER
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() {
        "unknown"
    } else {
        s
    }
}

/// Series lists of one read, sorted by key.
struct Listed {
    providers: Vec<Arc<Series>>,
    models: Vec<Arc<Series>>,
    connections: Vec<Arc<Series>>,
    real: usize,
}

/// The telemetry registry: a global series plus one per provider, `provider/model` and
/// connection, created on first use. Share it in an `Arc`; every method takes `&self`.
pub struct Telemetry {
    max_series: usize,
    /// Earliest `now_ms` recorded (`u64::MAX` before the first).
    start_ms: AtomicU64,
    global: Series,
    maps: RwLock<Maps>,
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        Telemetry::new()
    }
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("series", &self.series_count())
            .field("max_series", &self.max_series)
            .finish()
    }
}

impl Telemetry {
    /// A registry with the default cap of [`DEFAULT_MAX_SERIES`] series.
    pub fn new() -> Telemetry {
        Telemetry::with_max_series(DEFAULT_MAX_SERIES)
    }

    /// A registry holding at most `max_series` provider, model and connection series together
    /// (each ≤ ≈ 62 KB); keys beyond it are counted in the `_other` series of their kind.
    pub fn with_max_series(max_series: usize) -> Telemetry {
        Telemetry {
            max_series,
            start_ms: AtomicU64::new(u64::MAX),
            global: Series::new("", "", 0, false, false),
            maps: RwLock::new(Maps::default()),
        }
    }

    /// Counts one finished request in the global, provider, model and connection series.
    /// Lock-free apart from one read lock of the registry (a write lock only when a series is
    /// created); no allocation except on a series' first use or the first request of a 10 s epoch.
    pub fn record(&self, r: &Observation<'_>, now_ms: u64) {
        if now_ms < self.start_ms.load(Relaxed) {
            self.start_ms.fetch_min(now_ms, Relaxed);
        }
        let p = Prepared::new(r);
        let epoch = now_ms / EPOCH_MS;
        self.global.record(epoch, &p);
        let provider = or_unknown(r.provider);
        let model = or_unknown(r.model);
        let connection = r.connection;
        {
            let maps = read(&self.maps);
            let full = maps.real >= self.max_series;
            let other = || {
                if full {
                    maps.providers.get(OTHER)
                } else {
                    None
                }
            };
            let pe = maps.providers.get(provider);
            let ps = pe.or_else(other).map(|e| &e.series);
            let ms = pe
                .and_then(|e| e.models.get(model))
                .or_else(|| other()?.models.get(OTHER));
            let cs = if connection.is_empty() {
                Some(None)
            } else {
                maps.connections
                    .get(connection)
                    .or_else(|| {
                        if full {
                            maps.connections.get(OTHER)
                        } else {
                            None
                        }
                    })
                    .map(Some)
            };
            if let (Some(ps), Some(ms), Some(cs)) = (ps, ms, cs) {
                ps.record(epoch, &p);
                ms.record(epoch, &p);
                if let Some(cs) = cs {
                    cs.record(epoch, &p);
                }
                return;
            }
        }
        let (ps, ms, cs) = {
            let mut guard = write(&self.maps);
            let Maps {
                providers,
                connections,
                real,
            } = &mut *guard;
            let max = self.max_series;
            let pkey = if providers.contains_key(provider) {
                provider
            } else {
                let key = admit(provider, real, max);
                providers
                    .entry(key.into())
                    .or_insert_with(|| ProviderEntry::new(key, epoch));
                key
            };
            let ps = providers.get(pkey).map(|e| e.series.clone());
            let found = providers
                .get(pkey)
                .filter(|_| pkey == provider)
                .and_then(|e| e.models.get(model))
                .cloned();
            let ms = match found {
                Some(s) => Some(s),
                None => {
                    // a provider over the cap takes its models to `_other` too
                    let (pk, mk) = if pkey == provider && admit(model, real, max) != OTHER {
                        (provider, model)
                    } else {
                        (OTHER, OTHER)
                    };
                    let entry = providers
                        .entry(pk.into())
                        .or_insert_with(|| ProviderEntry::new(pk, epoch));
                    Some(
                        entry
                            .models
                            .entry(mk.into())
                            .or_insert_with(|| Arc::new(Series::new(pk, mk, epoch, true, false)))
                            .clone(),
                    )
                }
            };
            let cs = if connection.is_empty() {
                None
            } else {
                Some(match connections.get(connection) {
                    Some(s) => s.clone(),
                    None => {
                        let key = admit(connection, real, max);
                        connections
                            .entry(key.into())
                            .or_insert_with(|| Arc::new(Series::new("", key, epoch, false, false)))
                            .clone()
                    }
                })
            };
            (ps, ms, cs)
        };
        if let Some(ps) = ps {
            ps.record(epoch, &p);
        }
        if let Some(ms) = ms {
            ms.record(epoch, &p);
        }
        if let Some(cs) = cs {
            cs.record(epoch, &p);
        }
    }

    /// Window statistics as JSON: `global`, and `providers`, `models` (`provider/model`) and
    /// `connections` keyed by id (series without requests in the window are left out), each with
    /// `count`, `ok`, `errors`, `success_rate`, `rps`, and
    /// `latency_ms` / `ttft_ms` as `{p50, p95, p99}` (null without samples).
    pub fn snapshot(&self, window: Window, now_ms: u64) -> Value {
        json!(self.view(window, now_ms))
    }

    /// [`Telemetry::snapshot`], typed.
    pub fn view(&self, window: Window, now_ms: u64) -> TelemetryView {
        let listed = self.list();
        let tier = window.tier();
        let (width, slots) = TIERS.get(tier).copied().unwrap_or((EPOCH_MS, 6));
        let first = ((now_ms / width + 1).saturating_sub(slots as u64)).saturating_mul(width);
        let from = first.max(self.start_ms.load(Relaxed));
        let span_ms = now_ms.saturating_sub(from);
        let span_s = span_ms.max(1000) as f64 / 1000.0;
        let mut acc = Acc::new();
        self.global.window(tier, now_ms, &mut acc);
        let global = acc.stats(span_s);
        let mut section = |list: &[Arc<Series>], model: bool| {
            let mut out = std::collections::BTreeMap::new();
            for s in list {
                s.window(tier, now_ms, &mut acc);
                if acc.count() == 0 {
                    continue;
                }
                let mut v = acc.stats(span_s);
                let key = if model {
                    v.provider = Some(s.provider.to_string());
                    v.model = Some(s.name.to_string());
                    format!("{}/{}", s.provider, s.name)
                } else if s.name.is_empty() {
                    s.provider.to_string()
                } else {
                    s.name.to_string()
                };
                out.insert(key, v);
            }
            out
        };
        let providers = section(&listed.providers, false);
        let models = section(&listed.models, true);
        let connections = section(&listed.connections, false);
        TelemetryView {
            window: window.as_str().into(),
            window_seconds: window.seconds(),
            span_seconds: round3(span_ms as f64 / 1000.0),
            now_ms,
            series: listed.real as u64,
            max_series: self.max_series as u64,
            global,
            providers,
            models,
            connections,
        }
    }

    /// Appends the Prometheus text exposition (format 0.0.4) of the lifetime counters and the
    /// caller's `extra` samples to `out`. Families: `omniroute_requests_total{provider,model,
    /// status_class}`, `omniroute_request_duration_seconds{provider,model}` and
    /// `omniroute_time_to_first_token_seconds{provider,model}` (histograms),
    /// `omniroute_tokens_total{provider,model,direction}`, `omniroute_cost_usd_total{provider,
    /// model}`, `omniroute_upstream_errors_total{provider,outcome}`.
    pub fn render_prometheus(&self, out: &mut String, extra: &[Gauge]) {
        let listed = self.list();
        let lives: Vec<(&Series, &Lifetime)> = listed
            .models
            .iter()
            .filter_map(|s| Some((&**s, s.life.as_deref()?)))
            .collect();

        let name = "omniroute_requests_total";
        family(
            out,
            name,
            "counter",
            "Requests answered through the gateway, by resolved provider, model and HTTP status \
             class.",
        );
        for (s, l) in &lives {
            for (class, c) in STATUS_CLASSES.iter().zip(l.status.iter()) {
                let v = c.load(Relaxed);
                if v > 0 {
                    let labels = [
                        ("provider", &*s.provider),
                        ("model", &*s.name),
                        ("status_class", class),
                    ];
                    sample_u64(out, name, "", &labels, v);
                }
            }
        }

        let name = "omniroute_request_duration_seconds";
        family(
            out,
            name,
            "histogram",
            "Request duration in seconds, from the request to its last byte, failures included \
             (GenAI semantic convention gen_ai.client.operation.duration).",
        );
        for (s, l) in &lives {
            histogram(
                out,
                name,
                &[("provider", &*s.provider), ("model", &*s.name)],
                &l.duration,
            );
        }

        let name = "omniroute_time_to_first_token_seconds";
        family(
            out,
            name,
            "histogram",
            "Time to the first content token of streamed responses, in seconds (GenAI semantic \
             convention gen_ai.server.time_to_first_token).",
        );
        for (s, l) in &lives {
            histogram(
                out,
                name,
                &[("provider", &*s.provider), ("model", &*s.name)],
                &l.ttft,
            );
        }

        let name = "omniroute_tokens_total";
        family(
            out,
            name,
            "counter",
            "Tokens reported by upstreams, by direction (GenAI semantic convention \
             gen_ai.client.token.usage, gen_ai.token.type input or output).",
        );
        for (s, l) in &lives {
            for (direction, c) in [("input", &l.tok_in), ("output", &l.tok_out)] {
                let v = c.load(Relaxed);
                if v > 0 {
                    let labels = [
                        ("provider", &*s.provider),
                        ("model", &*s.name),
                        ("direction", direction),
                    ];
                    sample_u64(out, name, "", &labels, v);
                }
            }
        }

        let name = "omniroute_cost_usd_total";
        family(
            out,
            name,
            "counter",
            "Cost in US dollars computed from reported usage and the pricing table.",
        );
        for (s, l) in &lives {
            let v = l.cost_nano_usd.load(Relaxed);
            if v > 0 {
                let labels = [("provider", &*s.provider), ("model", &*s.name)];
                sample_f64(out, name, "", &labels, None, v as f64 / 1e9);
            }
        }

        let name = "omniroute_upstream_errors_total";
        family(
            out,
            name,
            "counter",
            "Failed requests by provider and failure class (the routing outcome, e.g. \
             rate_limited).",
        );
        for s in &listed.providers {
            if let Some(e) = &s.errors {
                for (outcome, v) in e.entries() {
                    let labels = [("provider", &*s.provider), ("outcome", outcome)];
                    sample_u64(out, name, "", &labels, v);
                }
            }
        }

        let mut names: Vec<&str> = Vec::new();
        for g in extra {
            if !names.contains(&g.name) {
                names.push(g.name);
            }
        }
        for name in names {
            let mut samples = extra.iter().filter(|g| g.name == name).peekable();
            if let Some(first) = samples.peek() {
                let kind = if first.counter { "counter" } else { "gauge" };
                family(out, name, kind, first.help);
            }
            for g in samples {
                let labels: Vec<(&str, &str)> =
                    g.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                sample_f64(out, name, "", &labels, None, g.value);
            }
        }
    }

    /// Moves every series' finished epoch into its rings. Optional (records and reads do it
    /// lazily); a periodic call keeps that work off the request path.
    pub fn maintain(&self, now_ms: u64) {
        self.global.maintain(now_ms);
        let listed = self.list();
        for s in listed
            .providers
            .iter()
            .chain(&listed.models)
            .chain(&listed.connections)
        {
            s.maintain(now_ms);
        }
    }

    /// Provider, model and connection series counted against the cap.
    pub fn series_count(&self) -> usize {
        read(&self.maps).real
    }

    /// Approximate bytes held by the registry and its series.
    pub fn memory_bytes(&self) -> usize {
        let listed = self.list();
        let entry = std::mem::size_of::<(Box<str>, Arc<Series>)>() + 8;
        std::mem::size_of::<Telemetry>()
            + listed
                .providers
                .iter()
                .chain(&listed.models)
                .chain(&listed.connections)
                .map(|s| s.bytes() + entry + s.provider.len() + s.name.len())
                .sum::<usize>()
            // the global series is inline in `Telemetry`
            + self.global.bytes().saturating_sub(std::mem::size_of::<Series>())
    }

    fn list(&self) -> Listed {
        let maps = read(&self.maps);
        let mut providers: Vec<Arc<Series>> =
            maps.providers.values().map(|e| e.series.clone()).collect();
        let mut models: Vec<Arc<Series>> = maps
            .providers
            .values()
            .flat_map(|e| e.models.values().cloned())
            .collect();
        let mut connections: Vec<Arc<Series>> = maps.connections.values().cloned().collect();
        let real = maps.real;
        drop(maps);
        providers.sort_by(|a, b| a.provider.cmp(&b.provider));
        models.sort_by(|a, b| (&a.provider, &a.name).cmp(&(&b.provider, &b.name)));
        connections.sort_by(|a, b| a.name.cmp(&b.name));
        Listed {
            providers,
            models,
            connections,
            real,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Prometheus text writing

/// Writes a metric name (`label == false`) or label name in the Prometheus alphabet.
fn write_name(out: &mut String, name: &str, label: bool) {
    if name.is_empty() {
        out.push('_');
    }
    for (i, ch) in name.chars().enumerate() {
        let ok = ch.is_ascii_alphabetic()
            || ch == '_'
            || (!label && ch == ':')
            || (i > 0 && ch.is_ascii_digit());
        out.push(if ok { ch } else { '_' });
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    out.push_str("# HELP ");
    write_name(out, name, false);
    out.push(' ');
    for ch in help.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\n# TYPE ");
    write_name(out, name, false);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels
        .iter()
        .chain(le.map(|le| ("le", le)).iter())
        .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        write_name(out, k, true);
        out.push_str("=\"");
        for ch in v.chars() {
            match ch {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn sample_u64(out: &mut String, name: &str, suffix: &str, labels: &[(&str, &str)], v: u64) {
    write_name(out, name, false);
    out.push_str(suffix);
    write_labels(out, labels, None);
    let _ = writeln!(out, " {v}");
}

fn sample_f64(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(&str, &str)],
    le: Option<&str>,
    v: f64,
) {
    write_name(out, name, false);
    out.push_str(suffix);
    write_labels(out, labels, le);
    out.push(' ');
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
    out.push('\n');
}

fn histogram(out: &mut String, name: &str, labels: &[(&str, &str)], h: &PromHist) {
    let counts: Vec<u64> = h.counts.iter().map(|c| c.load(Relaxed)).collect();
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return;
    }
    let mut cum = 0u64;
    let mut le = String::new();
    for (i, c) in counts.iter().enumerate() {
        cum += c;
        le.clear();
        match h.bounds.get(i) {
            Some(&b) => {
                let _ = write!(le, "{}", b as f64 / 1e6);
            }
            None => le.push_str("+Inf"),
        }
        sample_f64(out, name, "_bucket", labels, Some(le.as_str()), cum as f64);
    }
    let sum = h.sum_us.load(Relaxed) as f64 / 1e6;
    sample_f64(out, name, "_sum", labels, None, sum);
    sample_u64(out, name, "_count", labels, total);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;

    /// Aligned to every ring, so tests know which slot a time falls in.
    const T0: u64 = 600_000 * 2_000_000;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            // SplitMix64
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn unit(&mut self) -> f64 {
            ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.unit(), self.unit());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
        fn lognormal_us(&mut self, median_ms: f64, sigma: f64) -> u64 {
            ((median_ms * 1000.0) * (sigma * self.normal()).exp()).round() as u64
        }
        fn shuffle<T>(&mut self, v: &mut [T]) {
            for i in (1..v.len()).rev() {
                let j = (self.next() % (i as u64 + 1)) as usize;
                v.swap(i, j);
            }
        }
    }

    fn obs<'a>(provider: &'a str, model: &'a str, connection: &'a str) -> Observation<'a> {
        Observation {
            provider,
            model,
            connection,
            status: 200,
            ok: true,
            latency_us: 1000,
            ..Observation::default()
        }
    }

    /// Nearest-rank quantiles (µs) of a sample, the definition the histogram approximates.
    fn exact(sample: &[u64]) -> [f64; 3] {
        let mut s = sample.to_vec();
        s.sort_unstable();
        let n = s.len() as u64;
        [50u64, 95, 99].map(|p| s[((n * p).div_ceil(100).max(1) - 1) as usize] as f64)
    }

    fn assert_close(what: &str, got_ms: f64, exact_us: f64) {
        let want = exact_us / 1000.0;
        let err = (got_ms - want).abs() / want;
        assert!(
            err <= 0.02,
            "{what}: got {got_ms} ms, exact {want} ms, error {err}"
        );
    }

    fn mid_ms(us: u64) -> f64 {
        round3(bucket_mid_us(bucket_of(us)) / 1000.0)
    }

    fn pcts(v: &Value) -> [f64; 3] {
        ["p50", "p95", "p99"].map(|k| v[k].as_f64().unwrap())
    }

    #[test]
    fn bucket_layout_is_contiguous_and_fine() {
        assert_eq!(BUCKETS, 832);
        assert_eq!(bucket_low(BUCKETS), 1 << TOP_EXP);
        for i in 0..BUCKETS {
            assert!(bucket_low(i) < bucket_low(i + 1), "bucket {i}");
            assert_eq!(bucket_of(bucket_low(i)), i);
            assert_eq!(bucket_of(bucket_low(i + 1) - 1), i);
            let lo = bucket_low(i) as f64;
            if lo > 0.0 {
                let mid = bucket_mid_us(i);
                let hi = (bucket_low(i + 1) - 1) as f64;
                assert!((mid - lo) / lo <= 1.0 / 64.0 && (hi - mid) / hi <= 1.0 / 64.0);
            }
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_mid_us(7), 7.0);
    }

    /// Records `values` (latency, ttft) spread evenly over `[T0, T0 + span_ms)` in shuffled order
    /// and reads the window at `T0 + span_ms`.
    fn run_window(values: &[(u64, u64)], span_ms: u64, window: Window) -> Value {
        let t = Telemetry::new();
        let n = values.len() as u64;
        for (i, &(lat, ttft)) in values.iter().enumerate() {
            let now = T0 + i as u64 * span_ms / n;
            let o = Observation {
                latency_us: lat,
                ttft_us: Some(ttft),
                ..obs("p", "m", "c")
            };
            t.record(&o, now);
        }
        t.snapshot(window, T0 + span_ms)
    }

    #[test]
    fn percentiles_match_a_uniform_distribution() {
        let mut rng = Rng(1);
        let mut lat: Vec<u64> = (1..=10_000u64).map(|ms| ms * 1000).collect();
        rng.shuffle(&mut lat);
        let values: Vec<(u64, u64)> = lat.iter().map(|&l| (l, l / 4 + 1)).collect();
        let want_lat = exact(&lat);
        let ttfts: Vec<u64> = values.iter().map(|v| v.1).collect();
        let want_ttft = exact(&ttfts);
        // spread over most of each window, so data crosses ring slots and the live epoch
        for (window, span) in [
            (Window::Minute, 50_000),
            (Window::FiveMinutes, 240_000),
            (Window::Hour, 3_000_000),
        ] {
            let snap = run_window(&values, span, window);
            for scope in [
                &snap["global"],
                &snap["providers"]["p"],
                &snap["models"]["p/m"],
            ] {
                assert_eq!(scope["count"], 10_000, "{window:?}");
                let got = pcts(&scope["latency_ms"]);
                let got_ttft = pcts(&scope["ttft_ms"]);
                for k in 0..3 {
                    assert_close(&format!("{window:?} lat {k}"), got[k], want_lat[k]);
                    assert_close(&format!("{window:?} ttft {k}"), got_ttft[k], want_ttft[k]);
                }
            }
        }
    }

    #[test]
    fn percentiles_match_a_lognormal_sample() {
        let mut rng = Rng(7);
        let values: Vec<(u64, u64)> = (0..60_000)
            .map(|_| (rng.lognormal_us(900.0, 1.0), rng.lognormal_us(250.0, 0.8)))
            .collect();
        let lat: Vec<u64> = values.iter().map(|v| v.0).collect();
        let ttft: Vec<u64> = values.iter().map(|v| v.1).collect();
        let (want_lat, want_ttft) = (exact(&lat), exact(&ttft));
        for (window, span) in [
            (Window::Minute, 55_000),
            (Window::FiveMinutes, 270_000),
            (Window::Hour, 3_300_000),
        ] {
            let snap = run_window(&values, span, window);
            let g = &snap["global"];
            assert_eq!(g["count"], 60_000);
            let (got, got_ttft) = (pcts(&g["latency_ms"]), pcts(&g["ttft_ms"]));
            for k in 0..3 {
                assert_close(&format!("{window:?} lat {k}"), got[k], want_lat[k]);
                assert_close(&format!("{window:?} ttft {k}"), got_ttft[k], want_ttft[k]);
            }
        }
    }

    #[test]
    fn windows_expire_with_injected_time() {
        let t = Telemetry::new();
        for _ in 0..100 {
            let o = Observation {
                latency_us: 10_000,
                ..obs("p", "m", "c")
            };
            t.record(&o, T0);
        }
        for _ in 0..100 {
            let o = Observation {
                latency_us: 1_000_000,
                ok: false,
                status: 429,
                outcome: Some("rate_limited"),
                ..obs("p", "m", "c")
            };
            t.record(&o, T0 + 120_000);
        }
        let count = |w: Window, now: u64| t.snapshot(w, now)["global"]["count"].as_u64().unwrap();

        let now = T0 + 125_000;
        let m1 = t.snapshot(Window::Minute, now);
        assert_eq!(m1["global"]["count"], 100);
        assert_eq!(m1["global"]["success_rate"], 0.0);
        assert_eq!(m1["global"]["latency_ms"]["p50"], mid_ms(1_000_000));
        // slots 70 s .. 125 s ago are covered: 55 s
        assert_eq!(m1["span_seconds"], 55.0);
        assert_eq!(m1["global"]["rps"], round3(100.0 / 55.0));
        let m5 = t.snapshot(Window::FiveMinutes, now);
        assert_eq!(m5["global"]["count"], 200);
        assert_eq!(m5["global"]["success_rate"], 0.5);
        assert_eq!(m5["global"]["latency_ms"]["p50"], mid_ms(10_000));
        // clipped to the first observation
        assert_eq!(m5["span_seconds"], 125.0);
        assert_eq!(count(Window::Hour, now), 200);

        // the live epoch is drained by the reads above; older slots fall out one by one
        assert_eq!(count(Window::Minute, T0 + 179_999), 100);
        assert_eq!(count(Window::Minute, T0 + 180_000), 0);
        assert_eq!(count(Window::FiveMinutes, T0 + 299_999), 200);
        assert_eq!(count(Window::FiveMinutes, T0 + 300_000), 100);
        assert_eq!(count(Window::FiveMinutes, T0 + 420_000), 0);
        assert_eq!(count(Window::Hour, T0 + 3_599_999), 200);
        assert_eq!(count(Window::Hour, T0 + 3_600_000), 0);
        let snap = t.snapshot(Window::Hour, T0 + 3_600_000);
        assert_eq!(snap["providers"], json!({}));
        assert_eq!(snap["global"]["latency_ms"], Value::Null);
        assert_eq!(snap["global"]["success_rate"], Value::Null);

        // a ring slot is reused for new data after expiry
        t.record(&obs("p", "m", "c"), T0 + 3_600_000);
        assert_eq!(count(Window::Minute, T0 + 3_600_001), 1);
        assert_eq!(count(Window::Hour, T0 + 3_600_001), 1);
    }

    #[test]
    fn idle_series_expire_without_records() {
        let t = Telemetry::new();
        t.record(&obs("p", "m", "c"), T0 + 5_000);
        // never rotated by a record: the read moves it
        let s = t.snapshot(Window::Minute, T0 + 59_000);
        assert_eq!(s["connections"]["c"]["count"], 1);
        assert_eq!(
            t.snapshot(Window::Minute, T0 + 60_000)["global"]["count"],
            0
        );
        t.maintain(T0 + 10 * 60_000);
        assert_eq!(
            t.snapshot(Window::Hour, T0 + 10 * 60_000)["global"]["count"],
            1
        );
    }

    #[test]
    fn series_are_capped_and_overflow_folds_into_other() {
        let t = Telemetry::with_max_series(5);
        for i in 0..10 {
            let (p, m, c) = (format!("p{i}"), format!("m{i}"), format!("c{i}"));
            t.record(&obs(&p, &m, &c), T0);
            t.record(&obs(&p, &m, &c), T0 + 1);
        }
        assert_eq!(t.series_count(), 5);
        let s = t.snapshot(Window::Minute, T0 + 2);
        assert_eq!(s["global"]["count"], 20);
        for section in ["providers", "models", "connections"] {
            let total: u64 = s[section]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v["count"].as_u64().unwrap())
                .sum();
            assert_eq!(total, 20, "{section}");
        }
        // p0, p0/m0, c0 and p1, p1/m1 were admitted; everything after went to `_other`
        assert_eq!(s["providers"]["p0"]["count"], 2);
        assert_eq!(s["providers"]["p1"]["count"], 2);
        assert_eq!(s["providers"][OTHER]["count"], 16);
        assert_eq!(s["models"]["p1/m1"]["count"], 2);
        assert_eq!(s["models"]["_other/_other"]["count"], 16);
        assert_eq!(s["connections"]["c0"]["count"], 2);
        assert_eq!(s["connections"][OTHER]["count"], 18);
        // the other series stay unique in the exposition
        let mut text = String::new();
        t.render_prometheus(&mut text, &[]);
        validate(&text).unwrap();
        // a real key named like the overflow series shares it
        let t = Telemetry::with_max_series(100);
        t.record(&obs(OTHER, OTHER, OTHER), T0);
        assert_eq!(t.series_count(), 0);
    }

    #[test]
    fn empty_keys() {
        let t = Telemetry::new();
        t.record(&obs("", "", ""), T0);
        let s = t.snapshot(Window::Minute, T0);
        assert_eq!(s["providers"]["unknown"]["count"], 1);
        assert_eq!(s["models"]["unknown/unknown"]["count"], 1);
        assert_eq!(s["connections"], json!({}));
        assert_eq!(t.series_count(), 2);
    }

    #[test]
    fn slots_fold_low_buckets_beyond_the_cap_and_memory_is_bounded() {
        let t = Telemetry::new();
        t.record(&obs("p", "m", "c"), T0);
        let idle = t.memory_bytes() / 4;
        assert!(idle < 10 * 1024, "idle series: {idle} bytes");
        // every fine bucket in every 10 s epoch for 70 min: every ring slot saturated
        let mut now = T0;
        while now < T0 + 70 * 60_000 {
            for i in 0..BUCKETS {
                let o = Observation {
                    latency_us: bucket_low(i),
                    ttft_us: Some(bucket_low(i)),
                    ok: false,
                    outcome: Some("timeout"),
                    input_tokens: 3,
                    output_tokens: 5,
                    cost_usd: 1e-6,
                    ..obs("p", "m", "c")
                };
                t.record(&o, now);
            }
            now += EPOCH_MS;
        }
        t.maintain(now);
        let listed = t.list();
        for s in listed
            .providers
            .iter()
            .chain(&listed.models)
            .chain(&listed.connections)
            .map(|s| &**s)
            .chain([&t.global])
        {
            let b = s.bytes();
            assert!(b < 64 * 1024, "series {}/{}: {b} bytes", s.provider, s.name);
            let h = lock(&s.win.hist);
            assert!(h
                .tiers
                .iter()
                .flat_map(|t| t.slots.iter())
                .all(|s| s.lat.idx.len() == SLOT_CAP && s.ttft.idx.len() == SLOT_CAP));
        }
        assert!(t.memory_bytes() < 4 * 64 * 1024);
        // counts are preserved, the tail is exact, the folded low end reads high
        let snap = t.snapshot(Window::Hour, now);
        let g = &snap["global"];
        let n = g["count"].as_u64().unwrap();
        // slots 20..70 min (the 10 min slot of `now` is still empty)
        assert_eq!(n, 5 * 60 * BUCKETS as u64);
        let lat = pcts(&g["latency_ms"]);
        let sample: Vec<u64> = (0..BUCKETS).map(bucket_low).collect();
        let want = exact(&sample);
        assert_close("p95", lat[1], want[1]);
        assert_close("p99", lat[2], want[2]);
        assert!(lat[0] >= want[0] / 1000.0);
    }

    #[test]
    fn concurrent_recording_loses_nothing() {
        const THREADS: u64 = 4;
        const PER: u64 = 20_000;
        let t = Arc::new(Telemetry::new());
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (t, stop) = (t.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(Relaxed) {
                    let _ = t.snapshot(Window::Minute, T0 + (reads * 100).min(100_000));
                    let mut s = String::new();
                    t.render_prometheus(&mut s, &[]);
                    validate(&s).unwrap();
                    reads += 1;
                }
                reads
            })
        };
        let workers: Vec<_> = (0..THREADS)
            .map(|k| {
                let t = t.clone();
                std::thread::spawn(move || {
                    let providers = ["a", "b"];
                    let models = ["x", "y"];
                    let conns = ["c1", "c2", "c3"];
                    for i in 0..PER {
                        let j = (i + k) as usize;
                        let o = Observation {
                            ok: i % 10 != 0,
                            status: if i % 10 == 0 { 502 } else { 200 },
                            outcome: (i % 10 == 0).then_some("server_error"),
                            latency_us: 1000 + (i * 37 + k) % 500_000,
                            ttft_us: (i % 2 == 0).then_some(500 + i % 1000),
                            output_tokens: 1,
                            ..obs(providers[j % 2], models[j % 2], conns[j % 3])
                        };
                        t.record(&o, T0 + i * 7 + k);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        stop.store(true, Relaxed);
        assert!(reader.join().unwrap() > 0);

        let total = THREADS * PER;
        let end = T0 + PER * 7 + 10;
        let s = t.snapshot(Window::Hour, end);
        assert_eq!(s["global"]["count"], total);
        assert_eq!(s["global"]["errors"], total / 10);
        for section in ["providers", "models", "connections"] {
            let sum: u64 = s[section]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v["count"].as_u64().unwrap())
                .sum();
            assert_eq!(sum, total, "{section}");
        }
        let mut text = String::new();
        t.render_prometheus(&mut text, &[]);
        let fams = validate(&text).unwrap();
        let sum = |name: &str| -> f64 { fams.samples(name).iter().map(|s| s.1).sum() };
        assert_eq!(sum("omniroute_requests_total"), total as f64);
        assert_eq!(
            sum("omniroute_request_duration_seconds_count"),
            total as f64
        );
        assert_eq!(
            sum("omniroute_time_to_first_token_seconds_count"),
            (total / 2) as f64
        );
        assert_eq!(sum("omniroute_upstream_errors_total"), (total / 10) as f64);
    }

    #[test]
    fn prometheus_output_parses_and_escapes() {
        let t = Telemetry::new();
        let weird_provider = "we\"ird\\prov";
        let weird_model = "line1\nline2";
        t.record(
            &Observation {
                latency_us: 15_000,
                ttft_us: Some(3_000),
                input_tokens: 10,
                output_tokens: 20,
                cost_usd: 0.0125,
                ..obs(weird_provider, weird_model, "c")
            },
            T0,
        );
        t.record(
            &Observation {
                latency_us: 400_000_000,
                ok: false,
                status: 429,
                outcome: Some("rate_limited"),
                ..obs("openai", "gpt-4o", "c2")
            },
            T0 + 1,
        );
        t.record(
            &Observation {
                status: 0,
                ok: false,
                ..obs("openai", "gpt-4o", "c2")
            },
            T0 + 2,
        );
        let extra = vec![
            Gauge::new(
                "omniroute_circuit_state",
                "Breaker state: 0 closed, 1 half-open, 2 open.",
                2.0,
            )
            .label("target", "openai/acct\"1")
            .label("kind", "connection"),
            Gauge::counter(
                "omniroute_log_rows_dropped_total",
                "Request-log rows dropped.",
                3.0,
            ),
            Gauge::new("omniroute_circuit_state", "ignored", 0.0)
                .label("target", "anthropic")
                .label("kind", "provider"),
            Gauge::new("omniroute_cache_hit_ratio", "Cache hit ratio.", f64::NAN),
            Gauge::new("bad name-1", "with \\ and\nnewline", f64::INFINITY).label("0bad", "v"),
        ];
        let mut text = String::new();
        t.render_prometheus(&mut text, &extra);
        let fams = validate(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));

        assert!(text.contains(
            "omniroute_requests_total{provider=\"we\\\"ird\\\\prov\",model=\"line1\\nline2\",\
             status_class=\"2xx\"} 1\n"
        ));
        assert!(text.contains(
            "omniroute_requests_total{provider=\"openai\",model=\"gpt-4o\",status_class=\"4xx\"} 1"
        ));
        assert!(text.contains(
            "omniroute_requests_total{provider=\"openai\",model=\"gpt-4o\",status_class=\"other\"} 1"
        ));
        assert!(text.contains(
            "omniroute_upstream_errors_total{provider=\"openai\",outcome=\"rate_limited\"} 1"
        ));
        assert!(text.contains(
            "omniroute_upstream_errors_total{provider=\"openai\",outcome=\"unknown\"} 1"
        ));
        assert!(text.contains("direction=\"input\"} 10\n"));
        assert!(text.contains("direction=\"output\"} 20\n"));
        assert!(text.contains("omniroute_cost_usd_total{provider=\"we\\\"ird\\\\prov\""));
        assert!(text.contains("} 0.0125\n"));
        // 15 ms: first in the 0.02 bucket; 400 s: only in +Inf (the other gpt-4o request took 1 ms)
        assert!(text.contains("model=\"line1\\nline2\",le=\"0.01\"} 0\n"));
        assert!(text.contains("model=\"line1\\nline2\",le=\"0.02\"} 1\n"));
        assert!(text.contains("model=\"gpt-4o\",le=\"327.68\"} 1\n"));
        assert!(text.contains("model=\"gpt-4o\",le=\"+Inf\"} 2\n"));
        assert!(text.contains(
            "omniroute_request_duration_seconds_sum{provider=\"openai\",model=\"gpt-4o\"} 400.001\n"
        ));
        assert!(text.contains("gen_ai.client.operation.duration"));
        assert!(text.contains("gen_ai.server.time_to_first_token"));
        assert!(text.contains("gen_ai.client.token.usage"));
        // gauges: one family per name, in first-seen order, samples grouped
        assert_eq!(fams.kinds["omniroute_circuit_state"], "gauge");
        assert_eq!(fams.kinds["omniroute_log_rows_dropped_total"], "counter");
        assert_eq!(fams.samples("omniroute_circuit_state").len(), 2);
        assert!(text.contains(
            "omniroute_circuit_state{target=\"openai/acct\\\"1\",kind=\"connection\"} 2\n"
        ));
        assert!(text.contains("omniroute_cache_hit_ratio NaN\n"));
        assert!(text.contains("# HELP bad_name_1 with \\\\ and\\nnewline\n"));
        assert!(text.contains("bad_name_1{_bad=\"v\"} +Inf\n"));
        // an empty registry is valid too
        let mut empty = String::new();
        Telemetry::new().render_prometheus(&mut empty, &[]);
        validate(&empty).unwrap();
    }

    #[test]
    fn windows_parse() {
        for w in Window::ALL {
            assert_eq!(Window::parse(w.as_str()), Some(w));
        }
        assert_eq!(Window::parse("2m"), None);
        assert_eq!(Window::Hour.seconds(), 3600);
    }

    // --- a small validator of the text exposition format ---

    type Labels = Vec<(String, String)>;
    /// (sample name, labels, value).
    type Sample = (String, Labels, f64);

    #[derive(Default)]
    struct Families {
        kinds: BTreeMap<String, String>,
        /// (sample name, labels, value) in order.
        samples: Vec<Sample>,
    }

    impl Families {
        fn samples(&self, name: &str) -> Vec<(Labels, f64)> {
            self.samples
                .iter()
                .filter(|s| s.0 == name)
                .map(|s| (s.1.clone(), s.2))
                .collect()
        }
    }

    fn valid_name(s: &str, label: bool) -> bool {
        let mut chars = s.chars();
        let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (!label && c == ':');
        matches!(chars.next(), Some(c) if ok_first(c))
            && chars.all(|c| ok_first(c) || c.is_ascii_digit())
    }

    fn parse_value(s: &str) -> Result<f64, String> {
        match s {
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            _ => s.parse::<f64>().map_err(|e| format!("value {s:?}: {e}")),
        }
    }

    /// Parses `name{k="v",...} value`, labels with the `\\`, `\"`, `\n` escapes.
    fn parse_sample(line: &str) -> Result<Sample, String> {
        let end = line
            .find(['{', ' '])
            .ok_or_else(|| format!("no value: {line:?}"))?;
        let name = &line[..end];
        if !valid_name(name, false) {
            return Err(format!("bad metric name {name:?}"));
        }
        let mut rest = &line[end..];
        let mut labels = Vec::new();
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            loop {
                let start = chars.peek().map(|c| c.0).ok_or("unterminated labels")?;
                if r[start..].starts_with('}') {
                    rest = &r[start + 1..];
                    break;
                }
                let eq = r[start..].find('=').ok_or("label without =")? + start;
                let lname = &r[start..eq];
                if !valid_name(lname, true) {
                    return Err(format!("bad label name {lname:?}"));
                }
                while chars.peek().is_some_and(|c| c.0 <= eq) {
                    chars.next();
                }
                if chars.next().map(|c| c.1) != Some('"') {
                    return Err("label value not quoted".into());
                }
                let mut value = String::new();
                loop {
                    match chars.next().ok_or("unterminated label value")?.1 {
                        '"' => break,
                        '\\' => match chars.next().ok_or("dangling escape")?.1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            c => return Err(format!("bad escape \\{c}")),
                        },
                        '\n' => return Err("raw newline in label value".into()),
                        c => value.push(c),
                    }
                }
                if labels.iter().any(|(k, _): &(String, String)| k == lname) {
                    return Err(format!("duplicate label {lname}"));
                }
                labels.push((lname.to_string(), value));
                match chars.peek().map(|c| c.1) {
                    Some(',') => {
                        chars.next();
                    }
                    Some('}') => {}
                    _ => return Err(format!("expected , or }} in {line:?}")),
                }
            }
        }
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| format!("no space before value: {line:?}"))?;
        let mut parts = value.split(' ');
        let v = parse_value(parts.next().unwrap_or(""))?;
        if let Some(ts) = parts.next() {
            ts.parse::<i64>()
                .map_err(|_| format!("bad timestamp in {line:?}"))?;
        }
        if parts.next().is_some() {
            return Err(format!("trailing text: {line:?}"));
        }
        Ok((name.to_string(), labels, v))
    }

    fn validate(text: &str) -> Result<Families, String> {
        let mut f = Families::default();
        let mut helped = HashSet::new();
        let mut closed = HashSet::new();
        let mut current: Option<String> = None;
        let mut seen = HashSet::new();
        if !text.is_empty() && !text.ends_with('\n') {
            return Err("no final newline".into());
        }
        for line in text.lines() {
            if let Some(c) = line.strip_prefix('#') {
                let mut it = c.trim_start().splitn(3, ' ');
                let (kw, name, rest) = (it.next(), it.next(), it.next());
                match (kw, name) {
                    (Some("HELP"), Some(name)) => {
                        if !helped.insert(name.to_string()) || closed.contains(name) {
                            return Err(format!("second HELP for {name}"));
                        }
                        if f.kinds.contains_key(name) {
                            return Err(format!("HELP after TYPE for {name}"));
                        }
                    }
                    (Some("TYPE"), Some(name)) => {
                        let kind = rest.unwrap_or("");
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
                        {
                            return Err(format!("bad type {kind}"));
                        }
                        if f.kinds.contains_key(name) || closed.contains(name) {
                            return Err(format!("second TYPE for {name}"));
                        }
                        if let Some(prev) = current.replace(name.to_string()) {
                            closed.insert(prev);
                        }
                        f.kinds.insert(name.to_string(), kind.to_string());
                    }
                    _ => {}
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            let (name, labels, v) = parse_sample(line)?;
            let fam = current
                .as_deref()
                .ok_or(format!("sample before TYPE: {line}"))?;
            let kind = &f.kinds[fam];
            let belongs = if kind == "histogram" {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name.strip_suffix(s) == Some(fam))
            } else {
                name == fam
            };
            if !belongs {
                return Err(format!("sample {name} outside its family (current {fam})"));
            }
            if kind == "counter" && !(v >= 0.0 || v.is_nan()) {
                return Err(format!("negative counter {line}"));
            }
            if !seen.insert(
                line.rsplit_once(' ')
                    .map(|p| p.0)
                    .unwrap_or(line)
                    .to_string(),
            ) {
                return Err(format!("duplicate sample {line}"));
            }
            f.samples.push((name, labels, v));
        }
        // histogram rules
        for (fam, kind) in &f.kinds {
            if kind != "histogram" {
                continue;
            }
            let mut buckets: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
            for (labels, v) in f.samples(&format!("{fam}_bucket")) {
                let le = labels
                    .iter()
                    .find(|l| l.0 == "le")
                    .ok_or(format!("{fam}_bucket without le"))?;
                let le = parse_value(&le.1)?;
                let key: Vec<_> = labels.iter().filter(|l| l.0 != "le").cloned().collect();
                buckets.entry(key).or_default().push((le, v));
            }
            let counts: BTreeMap<_, _> = f.samples(&format!("{fam}_count")).into_iter().collect();
            let sums: BTreeMap<_, _> = f.samples(&format!("{fam}_sum")).into_iter().collect();
            if counts.len() != buckets.len() || sums.len() != buckets.len() {
                return Err(format!("{fam}: _count/_sum do not match the bucket sets"));
            }
            for (key, bs) in &buckets {
                for w in bs.windows(2) {
                    if !(w[0].0 < w[1].0 && w[0].1 <= w[1].1) {
                        return Err(format!("{fam}{key:?}: buckets not increasing/cumulative"));
                    }
                }
                let last = bs.last().ok_or("no buckets")?;
                if last.0 != f64::INFINITY {
                    return Err(format!("{fam}{key:?}: last bucket is not +Inf"));
                }
                if counts.get(key) != Some(&last.1) {
                    return Err(format!("{fam}{key:?}: +Inf bucket != _count"));
                }
            }
        }
        Ok(f)
    }

    #[test]
    fn validator_rejects_bad_output() {
        let ok = "# HELP a x\n# TYPE a counter\na{l=\"v\"} 1\n";
        assert!(validate(ok).is_ok());
        for bad in [
            "a 1\n",
            "# TYPE a counter\na{l=\"v\n\"} 1\n",
            "# TYPE a counter\na{l=\"v\"}1\n",
            "# TYPE a counter\na{l=\"\\x\"} 1\n",
            "# TYPE a counter\n# TYPE b gauge\na 1\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
            "# TYPE a gauge\na 1\na 2\n",
            "# TYPE a counter\na 1\n# TYPE b counter\nb 1\n# TYPE a counter\n",
        ] {
            assert!(validate(bad).is_err(), "accepted {bad:?}");
        }
    }

    /// `cargo test -p omniroute-server --release --lib telemetry -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_record() {
        const N: u64 = 2_000_000;
        let t = Telemetry::new();
        let mut rng = Rng(3);
        let lat: Vec<u64> = (0..4096).map(|_| rng.lognormal_us(800.0, 1.0)).collect();
        let models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-pro"];
        let conns = ["conn-1", "conn-2", "conn-3"];
        let run = |label: &str, step_ms: u64| {
            let start = Instant::now();
            for i in 0..N {
                let o = Observation {
                    latency_us: lat[(i % 4096) as usize],
                    ttft_us: Some(lat[((i + 7) % 4096) as usize] / 4),
                    input_tokens: 1200,
                    output_tokens: 300,
                    cost_usd: 0.001,
                    ..obs("openai", models[(i % 4) as usize], conns[(i % 3) as usize])
                };
                t.record(&o, T0 + i * step_ms);
            }
            let ns = start.elapsed().as_nanos() as f64 / N as f64;
            println!("record ({label}): {ns:.0} ns per call");
        };
        run("same epoch", 0);
        run("1 ms apart, rotating every 10k calls", 1);
        let series = t.series_count() + 1;
        println!(
            "memory after 33 min at 1000 rps: {} bytes for {series} series ({} per series)",
            t.memory_bytes(),
            t.memory_bytes() / series
        );
        let t = Arc::new(Telemetry::new());
        let threads = 4;
        let start = Instant::now();
        let hs: Vec<_> = (0..threads)
            .map(|k| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for i in 0..N / threads {
                        let o = Observation {
                            latency_us: 1000 + i % 100_000,
                            ttft_us: Some(500),
                            ..obs("openai", "gpt-4o", conns[(k % 3) as usize])
                        };
                        t.record(&o, T0 + i);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let ns = start.elapsed().as_nanos() as f64 / (N / threads) as f64;
        println!("record ({threads} threads, shared series): {ns:.0} ns per call per thread");
        let mut acc = String::new();
        let s = Instant::now();
        t.render_prometheus(&mut acc, &[]);
        let _ = t.snapshot(Window::Hour, T0 + N);
        println!("render + snapshot: {:?}", s.elapsed());
    }
}
