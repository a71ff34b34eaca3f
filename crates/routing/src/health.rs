//! Per-target health shared via `Arc`: a circuit breaker with a single half-open probe and
//! stale-failure filtering (epochs), cooldowns (connection-wide or per model, `Retry-After` or
//! jittered exponential backoff), lock-free stats for P2C, a rate limiter, and a `Registry` that
//! survives configuration reloads and persists its state. Time is injected (`now: Millis`).

use crate::classify::{CooldownRule, CooldownScope, Outcome};
use crate::Millis;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Lock, ignoring poisoning (the protected state stays consistent between statements).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Breaker

/// Circuit-breaker tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Failures within `window_ms` that open the breaker (0 = never opens).
    pub failure_threshold: u32,
    pub window_ms: u64,
    /// How long the breaker stays open before admitting one half-open probe; also the time after
    /// which an unanswered probe is considered lost.
    pub open_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            window_ms: 60_000,
            open_ms: 30_000,
        }
    }
}

/// The breaker's logical state.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    /// The open period is over: one probe is (or may be) out.
    HalfOpen,
}

/// The breaker's answer to "may I send a request?". `epoch` identifies the breaker generation
/// the attempt was admitted in: results of attempts admitted before a later transition (or
/// before a cooldown was set) are stale and do not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed {
        epoch: u64,
    },
    /// The single half-open probe: its result closes or re-opens the breaker.
    Probe {
        epoch: u64,
    },
    Rejected {
        until: Millis,
    },
}

impl Admission {
    pub fn is_admitted(&self) -> bool {
        !matches!(self, Admission::Rejected { .. })
    }
}

/// Serializable breaker state for the API and for persistence.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    /// Failures counted in the current window (closed state).
    pub failures: u32,
    pub opened_at: Option<Millis>,
    /// Open: when the probe becomes possible. Half-open with a probe out: the probe's deadline.
    pub until: Option<Millis>,
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
/// A probe is out.
const PROBING: u8 = 2;

#[derive(Debug)]
struct BreakerInner {
    cfg: BreakerConfig,
    /// Timestamps of the recent counted failures (at most `failure_threshold`).
    failures: VecDeque<Millis>,
    opened_at: Option<Millis>,
    /// (epoch, started) of the outstanding probe.
    probe: Option<(u64, Millis)>,
}

/// A circuit breaker: CLOSED → OPEN after `failure_threshold` failures within `window_ms` →
/// HALF_OPEN after `open_ms` admitting exactly one probe → CLOSED on its success, OPEN again on
/// its failure. The closed-state fast paths (`admit`, `on_success`, `blocked_until`) are atomic
/// loads; transitions take a per-breaker mutex.
#[derive(Debug)]
pub struct Breaker {
    state: AtomicU8,
    /// OPEN: end of the open period; PROBING: the probe's deadline.
    until: AtomicU64,
    epoch: AtomicU64,
    inner: Mutex<BreakerInner>,
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new(BreakerConfig::default())
    }
}

impl Breaker {
    pub fn new(cfg: BreakerConfig) -> Self {
        Self {
            state: AtomicU8::new(CLOSED),
            until: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            inner: Mutex::new(BreakerInner {
                cfg,
                failures: VecDeque::with_capacity(cfg.failure_threshold.min(64) as usize),
                opened_at: None,
                probe: None,
            }),
        }
    }

    /// Change the tuning; the current state is kept.
    pub fn set_config(&self, cfg: BreakerConfig) {
        lock(&self.inner).cfg = cfg;
    }

    /// The current generation (see [`Admission`]).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Make every outstanding `Allowed` admission stale (used when a cooldown is set, so a burst
    /// of in-flight failures counts once).
    pub fn bump_epoch(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Until when a request would be rejected, without admitting anything (`None`: `admit`
    /// would allow or probe). Atomic loads only.
    pub fn blocked_until(&self, now: Millis) -> Option<Millis> {
        match self.state.load(Ordering::Acquire) {
            CLOSED => None,
            _ => {
                let until = self.until.load(Ordering::Acquire);
                (now < until).then_some(until)
            }
        }
    }

    /// Ask to send one request.
    pub fn admit(&self, now: Millis) -> Admission {
        if self.state.load(Ordering::Acquire) == CLOSED {
            return Admission::Allowed {
                epoch: self.epoch(),
            };
        }
        let mut inner = lock(&self.inner);
        let until = self.until.load(Ordering::Acquire);
        match self.state.load(Ordering::Acquire) {
            CLOSED => Admission::Allowed {
                epoch: self.epoch(),
            },
            // Open period over, or the outstanding probe is lost: (re)issue the probe.
            _ if now >= until => {
                let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
                inner.probe = Some((epoch, now));
                self.until
                    .store(now.saturating_add(inner.cfg.open_ms), Ordering::Release);
                self.state.store(PROBING, Ordering::Release);
                Admission::Probe { epoch }
            }
            _ => Admission::Rejected { until },
        }
    }

    /// Report a success. Closes the breaker when `admission` is the current probe.
    pub fn on_success(&self, _now: Millis, admission: Admission) {
        let Admission::Probe { epoch } = admission else {
            return;
        };
        let mut inner = lock(&self.inner);
        if self.state.load(Ordering::Acquire) == PROBING && inner.probe.map(|p| p.0) == Some(epoch)
        {
            inner.probe = None;
            inner.failures.clear();
            inner.opened_at = None;
            self.epoch.fetch_add(1, Ordering::AcqRel);
            self.until.store(0, Ordering::Release);
            self.state.store(CLOSED, Ordering::Release);
        }
    }

    /// Report a failure that counts against the breaker. Returns whether it was counted (stale
    /// and rejected admissions are not).
    pub fn on_failure(&self, now: Millis, admission: Admission) -> bool {
        let mut inner = lock(&self.inner);
        match admission {
            Admission::Rejected { .. } => false,
            Admission::Allowed { epoch } => {
                if self.state.load(Ordering::Acquire) != CLOSED || epoch != self.epoch() {
                    return false;
                }
                let cfg = inner.cfg;
                if cfg.failure_threshold == 0 {
                    return true;
                }
                let horizon = now.saturating_sub(cfg.window_ms);
                while inner.failures.front().is_some_and(|t| *t < horizon) {
                    inner.failures.pop_front();
                }
                while inner.failures.len() >= cfg.failure_threshold as usize {
                    inner.failures.pop_front();
                }
                inner.failures.push_back(now);
                if inner.failures.len() >= cfg.failure_threshold as usize {
                    self.open(&mut inner, now);
                } else {
                    // attempts already in flight failed for the same reason: they count once
                    self.epoch.fetch_add(1, Ordering::AcqRel);
                }
                true
            }
            Admission::Probe { epoch } => {
                if self.state.load(Ordering::Acquire) == PROBING
                    && inner.probe.map(|p| p.0) == Some(epoch)
                {
                    self.open(&mut inner, now);
                    true
                } else {
                    false
                }
            }
        }
    }

    /// The probe's caller went away without a result: free the probe slot at once.
    pub fn abandon(&self, admission: Admission) {
        let Admission::Probe { epoch } = admission else {
            return;
        };
        let mut inner = lock(&self.inner);
        if self.state.load(Ordering::Acquire) == PROBING && inner.probe.map(|p| p.0) == Some(epoch)
        {
            let started = inner.probe.map(|p| p.1).unwrap_or(0);
            inner.probe = None;
            self.until.store(started, Ordering::Release);
            self.state.store(OPEN, Ordering::Release);
        }
    }

    fn open(&self, inner: &mut BreakerInner, now: Millis) {
        inner.failures.clear();
        inner.probe = None;
        inner.opened_at = Some(now);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.until
            .store(now.saturating_add(inner.cfg.open_ms), Ordering::Release);
        self.state.store(OPEN, Ordering::Release);
    }

    /// The state as seen at `now`.
    pub fn state(&self, now: Millis) -> BreakerSnapshot {
        let inner = lock(&self.inner);
        let until = self.until.load(Ordering::Acquire);
        match self.state.load(Ordering::Acquire) {
            CLOSED => {
                let horizon = now.saturating_sub(inner.cfg.window_ms);
                BreakerSnapshot {
                    state: BreakerState::Closed,
                    failures: inner.failures.iter().filter(|t| **t >= horizon).count() as u32,
                    opened_at: None,
                    until: None,
                }
            }
            OPEN if now < until => BreakerSnapshot {
                state: BreakerState::Open,
                failures: 0,
                opened_at: inner.opened_at,
                until: Some(until),
            },
            _ => BreakerSnapshot {
                state: BreakerState::HalfOpen,
                failures: 0,
                opened_at: inner.opened_at,
                until: Some(until),
            },
        }
    }

    /// Close the breaker and forget failures.
    pub fn reset(&self) {
        let mut inner = lock(&self.inner);
        inner.failures.clear();
        inner.probe = None;
        inner.opened_at = None;
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.until.store(0, Ordering::Release);
        self.state.store(CLOSED, Ordering::Release);
    }

    /// Load a persisted state. Closed → closed with no failures; open → open until
    /// `snapshot.until`, but never longer than `open_ms` from `now`; half-open → a probe may go
    /// at once (the persisted probe is gone).
    pub fn restore(&self, snapshot: &BreakerSnapshot, now: Millis) {
        self.reset();
        let mut inner = lock(&self.inner);
        let until = match snapshot.state {
            BreakerState::Closed => return,
            BreakerState::Open => snapshot
                .until
                .unwrap_or(now)
                .min(now.saturating_add(inner.cfg.open_ms)),
            BreakerState::HalfOpen => now,
        };
        inner.opened_at = snapshot.opened_at;
        self.until.store(until, Ordering::Release);
        self.state.store(OPEN, Ordering::Release);
    }
}

// ---------------------------------------------------------------------------------------------
// Cooldown

/// Cooldown tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CooldownConfig {
    /// First backoff step.
    pub base_ms: u64,
    /// Backoff cap (after jitter).
    pub cap_ms: u64,
    /// Longest cooldown a `Retry-After`/reset hint (or a fixed policy) may set; also the cap
    /// applied to restored entries.
    pub max_hint_ms: u64,
    /// Jitter, ± this percentage of the backoff step.
    pub jitter_pct: u32,
}

impl Default for CooldownConfig {
    fn default() -> Self {
        Self {
            base_ms: 1_000,
            cap_ms: 300_000,
            max_hint_ms: 24 * 60 * 60 * 1000,
            jitter_pct: 20,
        }
    }
}

/// One cooldown, as listed by the API and persisted.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CooldownEntry {
    pub scope: CooldownScope,
    /// The model for `scope = model`.
    pub model: Option<String>,
    pub reason: String,
    pub until: Millis,
    /// Consecutive failure level (the next backoff is `base · 2^level`).
    pub level: u32,
}

#[derive(Debug)]
struct CdEntry {
    model: Option<String>,
    reason: String,
    until: Millis,
    level: u32,
    set_at: Millis,
}

#[derive(Debug)]
struct CdInner {
    cfg: CooldownConfig,
    entries: Vec<CdEntry>,
}

/// Cooldowns of one connection: connection-wide and per model. Checks are one atomic load when
/// nothing is cooling.
#[derive(Debug)]
pub struct Cooldown {
    /// The latest `until` of any entry (0 = none): `now >= max_until` means nothing cools.
    max_until: AtomicU64,
    /// Number of entries (expired ones kept for their level until a success).
    len: AtomicUsize,
    inner: Mutex<CdInner>,
}

impl Default for Cooldown {
    fn default() -> Self {
        Self::new(CooldownConfig::default())
    }
}

impl Cooldown {
    pub fn new(cfg: CooldownConfig) -> Self {
        Self {
            max_until: AtomicU64::new(0),
            len: AtomicUsize::new(0),
            inner: Mutex::new(CdInner {
                cfg,
                entries: Vec::new(),
            }),
        }
    }

    pub fn set_config(&self, cfg: CooldownConfig) {
        lock(&self.inner).cfg = cfg;
    }

    /// Start (or extend) a cooldown for the connection (`model: None`) or one model on it.
    /// `retry_after` is a duration from `Retry-After` / reset headers (capped at `max_hint_ms`);
    /// without it, backoff `base · 2^level` ±jitter capped at `cap_ms`. A running longer
    /// cooldown is never shortened. Returns the entry's `until`.
    pub fn set(
        &self,
        now: Millis,
        reason: &str,
        retry_after: Option<Millis>,
        model: Option<&str>,
        rng: &mut impl Rng,
    ) -> Millis {
        self.set_inner(now, None, reason, retry_after, model, rng)
    }

    /// `set` for the result of an attempt admitted at `admitted_at`: when the scope was already
    /// set at or after that time, this is the same incident and nothing escalates.
    pub(crate) fn set_inner(
        &self,
        now: Millis,
        admitted_at: Option<Millis>,
        reason: &str,
        retry_after: Option<Millis>,
        model: Option<&str>,
        rng: &mut impl Rng,
    ) -> Millis {
        let mut inner = lock(&self.inner);
        let cfg = inner.cfg;
        let pos = inner
            .entries
            .iter()
            .position(|e| e.model.as_deref() == model);
        if let (Some(i), Some(at)) = (pos, admitted_at) {
            let e = &inner.entries[i];
            if e.until > now && e.set_at >= at {
                return e.until;
            }
        }
        let level = match pos {
            // A failure long after the last cooldown ended starts over.
            Some(i) if now <= inner.entries[i].until.saturating_add(cfg.cap_ms) => {
                inner.entries[i].level
            }
            _ => 0,
        };
        let duration = match retry_after {
            Some(d) => d.min(cfg.max_hint_ms),
            None => backoff(&cfg, level, rng),
        };
        let until = now.saturating_add(duration);
        let entry = CdEntry {
            model: model.map(str::to_string),
            reason: reason.to_string(),
            until,
            level: level.saturating_add(1).min(32),
            set_at: now,
        };
        let until = match pos {
            Some(i) => {
                let old = &mut inner.entries[i];
                let keep = if old.until > now { old.until } else { 0 };
                *old = CdEntry {
                    until: until.max(keep),
                    ..entry
                };
                old.until
            }
            None => {
                inner.entries.push(entry);
                until
            }
        };
        self.len.store(inner.entries.len(), Ordering::Release);
        self.max_until.fetch_max(until, Ordering::AcqRel);
        until
    }

    /// Until when the connection (`model: None`: only connection-wide entries) or the model on
    /// it is cooling; `None` when not. Expired entries never cool.
    pub fn is_cooling(&self, now: Millis, model: Option<&str>) -> Option<Millis> {
        if now >= self.max_until.load(Ordering::Acquire) {
            return None;
        }
        let inner = lock(&self.inner);
        inner
            .entries
            .iter()
            .filter(|e| e.until > now)
            .filter(|e| e.model.is_none() || (model.is_some() && e.model.as_deref() == model))
            .map(|e| e.until)
            .max()
    }

    /// A success on the connection (for `model`): resets the failure levels of the
    /// connection-wide entry and of that model's entry and drops expired entries. Running
    /// cooldowns stay (a late success of an earlier request must not reopen the stampede).
    pub fn on_success(&self, now: Millis, model: Option<&str>) {
        if self.len.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut inner = lock(&self.inner);
        for e in inner.entries.iter_mut() {
            if e.model.is_none() || (model.is_some() && e.model.as_deref() == model) {
                e.level = 0;
            }
        }
        inner.entries.retain(|e| e.until > now || e.level > 0);
        self.len.store(inner.entries.len(), Ordering::Release);
    }

    /// Drop every entry.
    pub fn clear(&self) {
        let mut inner = lock(&self.inner);
        inner.entries.clear();
        self.len.store(0, Ordering::Release);
        self.max_until.store(0, Ordering::Release);
    }

    /// Drop one model's entry (`None`: the connection-wide entry).
    pub fn clear_model(&self, model: Option<&str>) {
        let mut inner = lock(&self.inner);
        inner.entries.retain(|e| e.model.as_deref() != model);
        self.len.store(inner.entries.len(), Ordering::Release);
        let max = inner.entries.iter().map(|e| e.until).max().unwrap_or(0);
        self.max_until.store(max, Ordering::Release);
    }

    /// The running cooldowns, connection-wide first, then by model.
    pub fn entries(&self, now: Millis) -> Vec<CooldownEntry> {
        let inner = lock(&self.inner);
        let mut out: Vec<CooldownEntry> = inner
            .entries
            .iter()
            .filter(|e| e.until > now)
            .map(|e| CooldownEntry {
                scope: if e.model.is_some() {
                    CooldownScope::Model
                } else {
                    CooldownScope::Connection
                },
                model: e.model.clone(),
                reason: e.reason.clone(),
                until: e.until,
                level: e.level,
            })
            .collect();
        out.sort_by(|a, b| a.model.cmp(&b.model));
        out
    }

    /// Load persisted entries: expired ones are dropped, the rest capped at `now + max_hint_ms`.
    pub fn restore(&self, entries: &[CooldownEntry], now: Millis) {
        let mut inner = lock(&self.inner);
        let cap = now.saturating_add(inner.cfg.max_hint_ms);
        for e in entries.iter().filter(|e| e.until > now) {
            let model = match e.scope {
                CooldownScope::Connection => None,
                CooldownScope::Model => e.model.clone(),
            };
            inner.entries.retain(|x| x.model != model);
            inner.entries.push(CdEntry {
                model,
                reason: e.reason.clone(),
                until: e.until.min(cap),
                level: e.level.min(32),
                set_at: now,
            });
        }
        self.len.store(inner.entries.len(), Ordering::Release);
        let max = inner.entries.iter().map(|e| e.until).max().unwrap_or(0);
        self.max_until.store(max, Ordering::Release);
    }
}

/// `base · 2^level`, ±`jitter_pct` %, capped at `cap_ms`.
fn backoff(cfg: &CooldownConfig, level: u32, rng: &mut impl Rng) -> Millis {
    let step = cfg
        .base_ms
        .saturating_mul(1u64 << level.min(32))
        .min(cfg.cap_ms);
    let jitter = f64::from(cfg.jitter_pct.min(100)) / 100.0;
    let factor = if jitter > 0.0 {
        rng.gen_range(1.0 - jitter..=1.0 + jitter)
    } else {
        1.0
    };
    ((step as f64 * factor).round() as Millis).min(cfg.cap_ms)
}

// ---------------------------------------------------------------------------------------------
// Stats

/// EWMA weight of a new sample.
const ALPHA: f64 = 0.2;
/// Latency-equivalent (ms) of a 100 % failure rate in [`Stats::score`].
const FAILURE_PENALTY_MS: f64 = 10_000.0;
/// Idle time after which the failure part of the score has halved.
const FAILURE_HALF_LIFE_MS: f64 = 60_000.0;

/// Lock-free per-target statistics.
#[derive(Debug)]
pub struct Stats {
    /// f64 bits, starts at 1.0.
    success_ewma: AtomicU64,
    /// f64 bits, ms; 0 until the first sample.
    latency_ewma: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    last_used: AtomicU64,
    in_flight: AtomicU32,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            success_ewma: AtomicU64::new(1.0f64.to_bits()),
            latency_ewma: AtomicU64::new(0),
            successes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_used: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
        }
    }
}

fn ewma(cell: &AtomicU64, sample: f64, first: bool) {
    let _ = cell.fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
        let old = f64::from_bits(bits);
        let new = if first {
            sample
        } else {
            old + ALPHA * (sample - old)
        };
        Some(new.to_bits())
    });
}

impl Stats {
    /// An attempt starts: in-flight + 1, last used = `now`.
    pub fn start(&self, now: Millis) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.last_used.fetch_max(now, Ordering::AcqRel);
    }

    /// An attempt ends. `ok` is false only for the target's own failures; latency is sampled on
    /// success only.
    pub fn finish(&self, ok: bool, latency_ms: Option<u64>) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            });
        self.record(ok, latency_ms);
    }

    /// Record a result without touching the in-flight count.
    pub fn record(&self, ok: bool, latency_ms: Option<u64>) {
        ewma(&self.success_ewma, if ok { 1.0 } else { 0.0 }, false);
        if ok {
            let first = self.successes.fetch_add(1, Ordering::AcqRel) == 0;
            if let Some(l) = latency_ms {
                ewma(&self.latency_ewma, l as f64, first);
            }
        } else {
            self.failures.fetch_add(1, Ordering::AcqRel);
        }
    }

    pub fn success_rate(&self) -> f64 {
        f64::from_bits(self.success_ewma.load(Ordering::Acquire))
    }
    pub fn latency_ms(&self) -> f64 {
        f64::from_bits(self.latency_ewma.load(Ordering::Acquire))
    }
    pub fn successes(&self) -> u64 {
        self.successes.load(Ordering::Acquire)
    }
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Acquire)
    }
    pub fn last_used(&self) -> Millis {
        self.last_used.load(Ordering::Acquire)
    }
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Lower is better: `(latency EWMA + 10 s · failure rate) · (1 + in-flight)`, the failure
    /// part halving per minute of idleness so a target recovers its chance.
    pub fn score(&self, now: Millis) -> f64 {
        let idle = now.saturating_sub(self.last_used()) as f64;
        let failure = (1.0 - self.success_rate()).max(0.0);
        let failure = if idle > 0.0 {
            failure * (-idle / FAILURE_HALF_LIFE_MS * std::f64::consts::LN_2).exp()
        } else {
            failure
        };
        (self.latency_ms() + FAILURE_PENALTY_MS * failure) * (1.0 + f64::from(self.in_flight()))
    }
}

/// A serializable view of [`Stats`] for the API.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    pub success_rate: f64,
    pub latency_ms: f64,
    pub successes: u64,
    pub failures: u64,
    pub last_used: Millis,
    pub in_flight: u32,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            success_rate: self.success_rate(),
            latency_ms: self.latency_ms(),
            successes: self.successes(),
            failures: self.failures(),
            last_used: self.last_used(),
            in_flight: self.in_flight(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Limiter

/// Per-connection rate limits; all optional (absent or 0 = unlimited).
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per minute, as an exact sliding 60 s window over request starts.
    pub rpm: Option<u32>,
    /// Minimum time between two request starts.
    pub min_gap_ms: Option<u64>,
    /// Maximum requests in flight.
    pub max_concurrent: Option<u32>,
}

impl RateLimitConfig {
    fn is_unlimited(&self) -> bool {
        self.rpm.unwrap_or(0) == 0
            && self.min_gap_ms.unwrap_or(0) == 0
            && self.max_concurrent.unwrap_or(0) == 0
    }
}

/// When a full concurrency limit may free a slot is unknown: poll again after this long.
pub const CONCURRENCY_POLL_MS: Millis = 25;
const RPM_WINDOW_MS: Millis = 60_000;

/// Try again at `earliest` (exact for rpm and min-gap; `now + CONCURRENCY_POLL_MS` when only the
/// concurrency limit is full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub earliest: Millis,
}

/// A granted request; frees its concurrency slot when dropped.
#[derive(Debug)]
#[must_use = "dropping the permit frees the concurrency slot"]
pub struct Permit {
    slot: Option<Arc<AtomicU32>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            });
        }
    }
}

#[derive(Debug)]
struct LimInner {
    cfg: RateLimitConfig,
    /// Start times inside the rpm window, oldest first (at most `rpm`).
    starts: VecDeque<Millis>,
    last_start: Option<Millis>,
}

/// A rate limiter: sliding-window rpm (exact: a ring of the last `rpm` start times), minimum
/// gap between starts, and a concurrency cap released by [`Permit`]'s `Drop`.
#[derive(Debug)]
pub struct Limiter {
    unlimited: AtomicBool,
    active: Arc<AtomicU32>,
    /// Requests waiting for a slot right now (see [`Limiter::waiter`]).
    waiting: Arc<AtomicU32>,
    inner: Mutex<LimInner>,
}

/// A request counted as waiting for a slot until this is dropped.
#[derive(Debug)]
pub struct Waiter(Arc<AtomicU32>);

impl Drop for Waiter {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new(RateLimitConfig::default())
    }
}

impl Limiter {
    pub fn new(cfg: RateLimitConfig) -> Self {
        Self {
            unlimited: AtomicBool::new(cfg.is_unlimited()),
            active: Arc::new(AtomicU32::new(0)),
            waiting: Arc::new(AtomicU32::new(0)),
            inner: Mutex::new(LimInner {
                cfg,
                starts: VecDeque::new(),
                last_start: None,
            }),
        }
    }

    /// Change the limits; history and permits in flight are kept.
    pub fn set_config(&self, cfg: RateLimitConfig) {
        let mut inner = lock(&self.inner);
        inner.cfg = cfg;
        self.unlimited.store(cfg.is_unlimited(), Ordering::Release);
    }

    /// Requests currently holding a permit (counted only while a concurrency cap is set).
    pub fn active(&self) -> u32 {
        self.active.load(Ordering::Acquire)
    }

    /// Requests queued for a slot now.
    pub fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::Acquire)
    }

    /// Count one more request waiting for a slot, until the returned guard drops (also when
    /// the waiting request is cancelled).
    pub fn waiter(&self) -> Waiter {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        Waiter(self.waiting.clone())
    }

    /// The limits in force.
    pub fn config(&self) -> RateLimitConfig {
        lock(&self.inner).cfg
    }

    /// Start a request now, or learn when to try again.
    pub fn try_acquire(&self, now: Millis) -> Result<Permit, Wait> {
        if self.unlimited.load(Ordering::Acquire) {
            return Ok(Permit { slot: None });
        }
        let mut inner = lock(&self.inner);
        let cfg = inner.cfg;
        let mut earliest = None::<Millis>;
        let mut later = |t: Millis| earliest = Some(earliest.map_or(t, |e| e.max(t)));
        let max_conc = cfg.max_concurrent.filter(|m| *m > 0);
        if let Some(max) = max_conc {
            if self.active.load(Ordering::Acquire) >= max {
                later(now.saturating_add(CONCURRENCY_POLL_MS));
            }
        }
        if let (Some(gap), Some(last)) = (cfg.min_gap_ms.filter(|g| *g > 0), inner.last_start) {
            // A start "in the future" means the clock went back: do not block on it.
            if last <= now && now - last < gap {
                later(last + gap);
            }
        }
        let rpm = cfg.rpm.filter(|r| *r > 0).map(|r| r as usize);
        if let Some(rpm) = rpm {
            while inner.starts.front().is_some_and(|t| {
                t.saturating_add(RPM_WINDOW_MS) <= now || *t > now.saturating_add(RPM_WINDOW_MS)
            }) {
                inner.starts.pop_front();
            }
            while inner.starts.len() > rpm {
                inner.starts.pop_front();
            }
            if inner.starts.len() >= rpm {
                let oldest = inner.starts[inner.starts.len() - rpm];
                later(oldest.saturating_add(RPM_WINDOW_MS));
            }
        }
        if let Some(earliest) = earliest {
            return Err(Wait { earliest });
        }
        if rpm.is_some() {
            inner.starts.push_back(now);
        }
        inner.last_start = Some(now);
        let slot = max_conc.map(|_| {
            self.active.fetch_add(1, Ordering::AcqRel);
            self.active.clone()
        });
        Ok(Permit { slot })
    }
}

// ---------------------------------------------------------------------------------------------
// TargetHealth

/// Health tuning of one target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    pub breaker: BreakerConfig,
    pub cooldown: CooldownConfig,
    pub rate_limit: RateLimitConfig,
}

/// The result of one attempt, for [`Attempt::finish`].
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub outcome: Outcome,
    /// From [`crate::classify::Classification::scope`].
    pub scope: CooldownScope,
    /// The upstream model (for per-model cooldowns).
    pub model: Option<&'a str>,
    /// `Retry-After` / reset-header duration parsed by the caller.
    pub retry_after: Option<Millis>,
    /// Measured latency (first byte); `now - started` when absent.
    pub latency_ms: Option<u64>,
}

impl<'a> Report<'a> {
    /// A report from a classification.
    pub fn new(outcome: Outcome, scope: CooldownScope, model: Option<&'a str>) -> Self {
        Self {
            outcome,
            scope,
            model,
            retry_after: None,
            latency_ms: None,
        }
    }
}

/// The health of one target (a connection): breaker, cooldowns, stats, limiter.
#[derive(Debug)]
pub struct TargetHealth {
    id: String,
    pub breaker: Breaker,
    pub cooldown: Cooldown,
    pub stats: Stats,
    pub limiter: Limiter,
}

impl TargetHealth {
    pub fn new(id: impl Into<String>, cfg: &HealthConfig) -> Self {
        Self {
            id: id.into(),
            breaker: Breaker::new(cfg.breaker),
            cooldown: Cooldown::new(cfg.cooldown),
            stats: Stats::default(),
            limiter: Limiter::new(cfg.rate_limit),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Apply new tuning, keeping the state.
    pub fn set_config(&self, cfg: &HealthConfig) {
        self.breaker.set_config(cfg.breaker);
        self.cooldown.set_config(cfg.cooldown);
        self.limiter.set_config(cfg.rate_limit);
    }

    /// Until when this target cannot take a request for `model` (breaker open or probe out,
    /// cooling); `None` when it can. Atomic loads only when healthy.
    pub fn unavailable_until(&self, now: Millis, model: Option<&str>) -> Option<Millis> {
        match (
            self.breaker.blocked_until(now),
            self.cooldown.is_cooling(now, model),
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// P2C score (lower is better): [`Stats::score`], plus a penalty while the breaker is not
    /// closed (a half-open target is only worth its probe).
    pub fn score(&self, now: Millis) -> f64 {
        let s = self.stats.score(now);
        if self.breaker.state.load(Ordering::Acquire) == CLOSED {
            s
        } else {
            s + FAILURE_PENALTY_MS
        }
    }

    /// Begin an attempt for `model`: rejected (with the time to retry) while cooling or while
    /// the breaker rejects. The returned [`Attempt`] must be finished; dropping it unfinished
    /// releases a half-open probe and the in-flight count.
    pub fn try_begin(
        self: &Arc<Self>,
        now: Millis,
        model: Option<&str>,
    ) -> Result<Attempt, Millis> {
        if let Some(until) = self.cooldown.is_cooling(now, model) {
            return Err(until);
        }
        self.begin_past_cooldown(now)
    }

    /// Like [`TargetHealth::try_begin`] but ignoring cooldowns (only the breaker decides): for
    /// a target that is the only one able to serve a request, where the upstream's own answer
    /// (e.g. its 429 with `Retry-After`) tells the client more than a gateway-made refusal.
    pub fn begin_past_cooldown(self: &Arc<Self>, now: Millis) -> Result<Attempt, Millis> {
        match self.breaker.admit(now) {
            Admission::Rejected { until } => Err(until),
            admission => {
                self.stats.start(now);
                Ok(Attempt {
                    target: self.clone(),
                    admission,
                    started: now,
                    done: false,
                })
            }
        }
    }

    /// Reset breaker and cooldowns.
    pub fn reset(&self) {
        self.breaker.reset();
        self.cooldown.clear();
    }
}

/// One admitted attempt on a target. Call [`Attempt::finish`] with its result.
#[derive(Debug)]
#[must_use = "finish the attempt with its result"]
pub struct Attempt {
    target: Arc<TargetHealth>,
    admission: Admission,
    started: Millis,
    done: bool,
}

impl Attempt {
    pub fn admission(&self) -> Admission {
        self.admission
    }
    pub fn is_probe(&self) -> bool {
        matches!(self.admission, Admission::Probe { .. })
    }
    pub fn target(&self) -> &Arc<TargetHealth> {
        &self.target
    }

    /// Apply the attempt's result: stats, breaker (outcomes that count; stale ones ignored),
    /// cooldown (per the outcome's policy and the report's scope; a cooldown makes the
    /// breaker's outstanding admissions stale). Returns the cooldown's end when one was set.
    pub fn finish(
        mut self,
        now: Millis,
        report: &Report<'_>,
        rng: &mut impl Rng,
    ) -> Option<Millis> {
        self.done = true;
        let t = &self.target;
        let policy = report.outcome.policy();
        let target_fault = policy.counts_for_breaker || policy.cooldown != CooldownRule::None;
        let latency = report
            .latency_ms
            .or(Some(now.saturating_sub(self.started)))
            .filter(|_| report.outcome == Outcome::Success);
        t.stats.finish(!target_fault, latency);
        if policy.counts_for_breaker {
            t.breaker.on_failure(now, self.admission);
        } else {
            // The target answered: for the breaker that is a sign of life.
            t.breaker.on_success(now, self.admission);
        }
        let model = match report.scope {
            CooldownScope::Model => report.model,
            CooldownScope::Connection => None,
        };
        if report.outcome == Outcome::Success {
            t.cooldown.on_success(now, report.model);
        }
        let hint = match policy.cooldown {
            CooldownRule::None => return None,
            CooldownRule::Backoff => report.retry_after,
            CooldownRule::Fixed(d) => report.retry_after.or(Some(d)),
        };
        let until = t.cooldown.set_inner(
            now,
            Some(self.started),
            report.outcome.as_str(),
            hint,
            model,
            rng,
        );
        t.breaker.bump_epoch();
        Some(until)
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.done {
            self.target.breaker.abandon(self.admission);
            let _ = self.target.stats.in_flight.fetch_update(
                Ordering::AcqRel,
                Ordering::Acquire,
                |n| Some(n.saturating_sub(1)),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Registry

/// What a persisted entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersistedKind {
    Target,
    Provider,
}

/// Persisted health of one target or provider (only non-trivial state is exported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedState {
    pub kind: PersistedKind,
    pub id: String,
    /// Absent when closed.
    pub breaker: Option<BreakerSnapshot>,
    #[serde(default)]
    pub cooldowns: Vec<CooldownEntry>,
}

/// All targets' health by id, plus provider-level breakers. Entries survive configuration
/// reloads (the server keeps the `Arc`s in its snapshot; lookups happen on reload only).
#[derive(Debug, Default)]
pub struct Registry {
    targets: Mutex<HashMap<String, Arc<TargetHealth>>>,
    providers: Mutex<HashMap<String, Arc<Breaker>>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// The target's health, created on first use; an existing entry gets `cfg` applied.
    pub fn get_or_insert(&self, id: &str, cfg: &HealthConfig) -> Arc<TargetHealth> {
        let mut map = lock(&self.targets);
        if let Some(t) = map.get(id) {
            t.set_config(cfg);
            return t.clone();
        }
        let t = Arc::new(TargetHealth::new(id, cfg));
        map.insert(id.to_string(), t.clone());
        t
    }

    pub fn get(&self, id: &str) -> Option<Arc<TargetHealth>> {
        lock(&self.targets).get(id).cloned()
    }

    /// The provider-level breaker, created on first use; an existing one gets `cfg` applied.
    pub fn provider_breaker(&self, provider_id: &str, cfg: BreakerConfig) -> Arc<Breaker> {
        let mut map = lock(&self.providers);
        if let Some(b) = map.get(provider_id) {
            b.set_config(cfg);
            return b.clone();
        }
        let b = Arc::new(Breaker::new(cfg));
        map.insert(provider_id.to_string(), b.clone());
        b
    }

    /// Every target, sorted by id.
    pub fn targets(&self) -> Vec<Arc<TargetHealth>> {
        let mut v: Vec<_> = lock(&self.targets).values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Every provider breaker, sorted by provider id.
    pub fn provider_breakers(&self) -> Vec<(String, Arc<Breaker>)> {
        let mut v: Vec<_> = lock(&self.providers)
            .iter()
            .map(|(k, b)| (k.clone(), b.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Forget targets whose id fails `keep` (e.g. deleted connections).
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) {
        lock(&self.targets).retain(|k, _| keep(k));
    }

    /// Reset every breaker and cooldown.
    pub fn reset_all(&self) {
        for t in lock(&self.targets).values() {
            t.reset();
        }
        for b in lock(&self.providers).values() {
            b.reset();
        }
    }

    /// The non-trivial state (breakers not closed, running cooldowns) for persistence, sorted.
    pub fn export(&self, now: Millis) -> Vec<PersistedState> {
        let mut out = Vec::new();
        for t in self.targets() {
            let b = t.breaker.state(now);
            let breaker = (b.state != BreakerState::Closed).then_some(b);
            let cooldowns = t.cooldown.entries(now);
            if breaker.is_some() || !cooldowns.is_empty() {
                out.push(PersistedState {
                    kind: PersistedKind::Target,
                    id: t.id.clone(),
                    breaker,
                    cooldowns,
                });
            }
        }
        for (id, b) in self.provider_breakers() {
            let s = b.state(now);
            if s.state != BreakerState::Closed {
                out.push(PersistedState {
                    kind: PersistedKind::Provider,
                    id,
                    breaker: Some(s),
                    cooldowns: Vec::new(),
                });
            }
        }
        out
    }

    /// Load persisted state (entries are created with default tuning when missing; the next
    /// `get_or_insert` applies the real one). Expired breakers and cooldowns are dropped.
    pub fn import(&self, states: Vec<PersistedState>, now: Millis) {
        let default = HealthConfig::default();
        for s in states {
            let breaker = s.breaker.filter(|b| match b.state {
                BreakerState::Closed => false,
                BreakerState::Open => b.until.is_some_and(|u| u > now),
                BreakerState::HalfOpen => true,
            });
            let cooldowns: Vec<_> = s.cooldowns.into_iter().filter(|c| c.until > now).collect();
            if breaker.is_none() && cooldowns.is_empty() {
                continue;
            }
            match s.kind {
                PersistedKind::Target => {
                    let t = self.get_or_insert_default(&s.id, &default);
                    if let Some(b) = breaker {
                        t.breaker.restore(&b, now);
                    }
                    t.cooldown.restore(&cooldowns, now);
                }
                PersistedKind::Provider => {
                    if let Some(b) = breaker {
                        let mut map = lock(&self.providers);
                        let br = map
                            .entry(s.id.clone())
                            .or_insert_with(|| Arc::new(Breaker::default()));
                        br.restore(&b, now);
                    }
                }
            }
        }
    }

    fn get_or_insert_default(&self, id: &str, cfg: &HealthConfig) -> Arc<TargetHealth> {
        let mut map = lock(&self.targets);
        map.entry(id.to_string())
            .or_insert_with(|| Arc::new(TargetHealth::new(id, cfg)))
            .clone()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    fn cfg(threshold: u32) -> BreakerConfig {
        BreakerConfig {
            failure_threshold: threshold,
            window_ms: 10_000,
            open_ms: 5_000,
        }
    }

    #[test]
    fn breaker_opens_after_threshold_within_window() {
        let b = Breaker::new(cfg(3));
        let mut now = 1_000;
        for _ in 0..2 {
            let a = b.admit(now);
            assert!(b.on_failure(now, a));
            now += 1_000;
        }
        // The window slides: the first two failures expire.
        now += 20_000;
        let a = b.admit(now);
        assert!(b.on_failure(now, a));
        assert_eq!(b.state(now).state, BreakerState::Closed);
        assert_eq!(b.state(now).failures, 1);
        for _ in 0..2 {
            let a = b.admit(now);
            b.on_failure(now, a);
        }
        let s = b.state(now);
        assert_eq!(s.state, BreakerState::Open);
        assert_eq!(s.until, Some(now + 5_000));
        assert_eq!(
            b.admit(now + 4_999),
            Admission::Rejected { until: now + 5_000 }
        );
        assert_eq!(b.blocked_until(now + 1), Some(now + 5_000));
        assert_eq!(b.blocked_until(now + 5_000), None);
        assert_eq!(b.state(now + 5_000).state, BreakerState::HalfOpen);
    }

    #[test]
    fn half_open_admits_one_probe_then_closes_or_reopens() {
        let b = Breaker::new(cfg(1));
        let a = b.admit(0);
        b.on_failure(0, a);
        let probe = b.admit(5_000);
        assert!(matches!(probe, Admission::Probe { .. }));
        // Concurrent callers are rejected while the probe is out.
        assert_eq!(b.admit(5_001), Admission::Rejected { until: 10_000 });
        assert_eq!(b.blocked_until(5_001), Some(10_000));
        // Probe fails: open again with a fresh open period.
        assert!(b.on_failure(6_000, probe));
        assert_eq!(b.state(6_000).state, BreakerState::Open);
        assert_eq!(b.state(6_000).until, Some(11_000));
        let probe = b.admit(11_000);
        assert!(matches!(probe, Admission::Probe { .. }));
        b.on_success(11_500, probe);
        assert_eq!(b.state(11_500).state, BreakerState::Closed);
        assert!(matches!(b.admit(11_500), Admission::Allowed { .. }));
    }

    #[test]
    fn lost_probe_times_out_or_is_released() {
        let b = Breaker::new(cfg(1));
        let a = b.admit(0);
        b.on_failure(0, a);
        let lost = b.admit(5_000);
        assert!(matches!(lost, Admission::Probe { .. }));
        // Nobody reports; after open_ms a new probe is issued.
        let second = b.admit(10_000);
        assert!(matches!(second, Admission::Probe { .. }));
        assert_ne!(lost, second);
        // The lost probe's late result is stale.
        b.on_success(10_001, lost);
        assert_eq!(b.state(10_001).state, BreakerState::HalfOpen);
        assert!(!b.on_failure(10_001, lost));
        // Abandoning frees the slot at once.
        b.abandon(second);
        assert!(matches!(b.admit(10_002), Admission::Probe { .. }));
    }

    #[test]
    fn stale_failures_do_not_stampede() {
        let b = Breaker::new(cfg(2));
        // ten requests in flight together fail together: one incident, counted once
        let burst: Vec<_> = (0..10).map(|_| b.admit(0)).collect();
        let counted = burst.iter().filter(|a| b.on_failure(1, **a)).count();
        assert_eq!(counted, 1, "concurrent failures count once");
        assert_eq!(b.state(1).state, BreakerState::Closed);
        // a later, separate failure counts again and opens it
        let next = b.admit(2);
        assert!(b.on_failure(2, next));
        assert_eq!(b.state(2).state, BreakerState::Open);
        // A bump (cooldown set) makes outstanding admissions stale too.
        b.reset();
        let a = b.admit(2);
        b.bump_epoch();
        assert!(!b.on_failure(3, a));
        assert_eq!(b.state(3).failures, 0);
        // Rejected admissions never count.
        assert!(!b.on_failure(3, Admission::Rejected { until: 9 }));
    }

    #[test]
    fn breaker_snapshot_restore_and_reset() {
        let b = Breaker::new(cfg(1));
        let a = b.admit(100);
        b.on_failure(100, a);
        let snap = b.state(200);
        let json = serde_json::to_string(&snap).unwrap();
        assert!(json.contains("\"open\""), "{json}");
        let restored = Breaker::new(cfg(1));
        restored.restore(&serde_json::from_str(&json).unwrap(), 300);
        assert_eq!(restored.state(300), snap);
        assert!(matches!(
            restored.admit(300),
            Admission::Rejected { until: 5_100 }
        ));
        // A persisted `until` beyond open_ms from now is capped (clock skew, edited file).
        let far = BreakerSnapshot {
            state: BreakerState::Open,
            failures: 0,
            opened_at: Some(0),
            until: Some(1_000_000),
        };
        restored.restore(&far, 300);
        assert_eq!(restored.blocked_until(300), Some(5_300));
        // Half-open restores as "probe now".
        let half = BreakerSnapshot {
            state: BreakerState::HalfOpen,
            ..far
        };
        restored.restore(&half, 300);
        assert!(matches!(restored.admit(300), Admission::Probe { .. }));
        restored.reset();
        assert_eq!(restored.state(300).state, BreakerState::Closed);
        let zero = Breaker::new(cfg(0));
        for i in 0..100 {
            let a = zero.admit(i);
            zero.on_failure(i, a);
        }
        assert_eq!(zero.state(100).state, BreakerState::Closed);
    }

    #[test]
    fn cooldown_backoff_doubles_with_jitter_and_cap() {
        let c = Cooldown::new(CooldownConfig {
            cap_ms: 10_000,
            ..Default::default()
        });
        let mut r = rng();
        let mut now = 0;
        let mut durations = Vec::new();
        for _ in 0..6 {
            let until = c.set(now, "rate_limited", None, None, &mut r);
            durations.push(until - now);
            now = until;
        }
        let expect = [1_000u64, 2_000, 4_000, 8_000, 10_000, 10_000];
        for (d, e) in durations.iter().zip(expect) {
            assert!(
                *d as f64 >= e as f64 * 0.8 && *d <= (e as f64 * 1.2) as u64 && *d <= 10_000,
                "{durations:?}"
            );
        }
        assert_eq!(c.entries(now - 1)[0].level, 6);
        // Success resets the level.
        c.on_success(now, None);
        let until = c.set(now, "rate_limited", None, None, &mut r);
        assert!(until - now <= 1_200);
    }

    #[test]
    fn cooldown_retry_after_models_and_expiry() {
        let c = Cooldown::default();
        let mut r = rng();
        let until = c.set(
            1_000,
            "quota_exhausted",
            Some(60_000),
            Some("gemini-2.5-pro"),
            &mut r,
        );
        assert_eq!(until, 61_000);
        assert_eq!(c.is_cooling(2_000, Some("gemini-2.5-pro")), Some(61_000));
        assert_eq!(c.is_cooling(2_000, Some("gemini-2.5-flash")), None);
        assert_eq!(c.is_cooling(2_000, None), None);
        // Expired entries are simply not cooling.
        assert_eq!(c.is_cooling(61_000, Some("gemini-2.5-pro")), None);
        // A connection-wide cooldown covers every model.
        c.set(70_000, "auth_failed", Some(1_000), None, &mut r);
        assert_eq!(c.is_cooling(70_500, Some("x")), Some(71_000));
        // A shorter hint never shortens a running cooldown.
        c.set(70_100, "rate_limited", Some(10), None, &mut r);
        assert_eq!(c.is_cooling(70_500, None), Some(71_000));
        // Hints are capped.
        let c2 = Cooldown::new(CooldownConfig {
            max_hint_ms: 5_000,
            ..Default::default()
        });
        assert_eq!(c2.set(0, "q", Some(u64::MAX), None, &mut r), 5_000);
        let listed = c.entries(70_500);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].scope, CooldownScope::Connection);
        assert_eq!(listed[0].reason, "rate_limited");
        c.set(70_500, "q", Some(5_000), Some("m"), &mut r);
        c.clear_model(None);
        assert_eq!(c.is_cooling(70_600, None), None);
        assert_eq!(c.is_cooling(70_600, Some("m")), Some(75_500));
        c.clear();
        assert_eq!(c.is_cooling(70_600, Some("m")), None);
        assert!(c.entries(0).is_empty());
    }

    #[test]
    fn cooldown_restore_drops_expired_and_caps() {
        let c = Cooldown::new(CooldownConfig {
            max_hint_ms: 10_000,
            ..Default::default()
        });
        let entries = vec![
            CooldownEntry {
                scope: CooldownScope::Model,
                model: Some("m".into()),
                reason: "q".into(),
                until: 500,
                level: 1,
            },
            CooldownEntry {
                scope: CooldownScope::Connection,
                model: None,
                reason: "auth_failed".into(),
                until: 1_000_000,
                level: 2,
            },
        ];
        let json = serde_json::to_string(&entries).unwrap();
        c.restore(
            &serde_json::from_str::<Vec<CooldownEntry>>(&json).unwrap(),
            1_000,
        );
        assert_eq!(c.is_cooling(1_000, Some("m")), Some(11_000));
        assert_eq!(c.entries(1_000).len(), 1);
        assert_eq!(c.is_cooling(11_000, None), None);
    }

    #[test]
    fn stats_ewma_and_score() {
        let s = Stats::default();
        assert_eq!(s.score(0), 0.0);
        s.start(10);
        assert_eq!(s.in_flight(), 1);
        s.finish(true, Some(100));
        assert_eq!(s.latency_ms(), 100.0);
        s.start(20);
        s.finish(true, Some(200));
        assert!((s.latency_ms() - 120.0).abs() < 1e-9);
        s.start(30);
        s.finish(false, None);
        assert!((s.success_rate() - 0.8).abs() < 1e-9);
        assert_eq!((s.successes(), s.failures(), s.last_used()), (2, 1, 30));
        let fresh = s.score(30);
        assert!((fresh - (120.0 + 2_000.0)).abs() < 1e-6, "{fresh}");
        // The failure part decays with idleness.
        assert!((s.score(60_030) - (120.0 + 1_000.0)).abs() < 1e-6);
        s.start(40);
        assert!(s.score(40) > fresh);
        let snap = s.snapshot();
        assert_eq!(snap.in_flight, 1);
    }

    #[test]
    fn limiter_counts_its_queue() {
        let l = Limiter::new(RateLimitConfig {
            rpm: Some(1),
            ..Default::default()
        });
        assert_eq!(l.waiting(), 0);
        let a = l.waiter();
        let b = l.waiter();
        assert_eq!(l.waiting(), 2);
        drop(a);
        assert_eq!(l.waiting(), 1);
        drop(b);
        assert_eq!(l.waiting(), 0);
        assert_eq!(l.config().rpm, Some(1));
    }

    #[test]
    fn limiter_rpm_sliding_window() {
        let l = Limiter::new(RateLimitConfig {
            rpm: Some(3),
            ..Default::default()
        });
        let permits: Vec<_> = [0, 10_000, 20_000]
            .iter()
            .map(|t| l.try_acquire(*t).unwrap())
            .collect();
        assert_eq!(
            l.try_acquire(30_000).unwrap_err(),
            Wait { earliest: 60_000 }
        );
        assert_eq!(
            l.try_acquire(59_999).unwrap_err(),
            Wait { earliest: 60_000 }
        );
        let _p = l.try_acquire(60_000).unwrap();
        assert_eq!(
            l.try_acquire(60_001).unwrap_err(),
            Wait { earliest: 70_000 }
        );
        drop(permits);
        assert_eq!(l.active(), 0);
    }

    #[test]
    fn limiter_min_gap_and_concurrency() {
        let l = Limiter::new(RateLimitConfig {
            min_gap_ms: Some(500),
            max_concurrent: Some(2),
            ..Default::default()
        });
        let a = l.try_acquire(0).unwrap();
        assert_eq!(l.try_acquire(100).unwrap_err(), Wait { earliest: 500 });
        let b = l.try_acquire(500).unwrap();
        assert_eq!(l.active(), 2);
        // Full: poll shortly (the gap is over).
        assert_eq!(
            l.try_acquire(1_000).unwrap_err(),
            Wait {
                earliest: 1_000 + CONCURRENCY_POLL_MS
            }
        );
        // Both limits: the later time.
        assert_eq!(l.try_acquire(510).unwrap_err(), Wait { earliest: 1_000 });
        drop(a);
        let c = l.try_acquire(1_000).unwrap();
        drop((b, c));
        assert_eq!(l.active(), 0);
        // Unlimited, and config changes.
        let u = Limiter::default();
        for t in 0..100 {
            drop(u.try_acquire(t).unwrap());
        }
        u.set_config(RateLimitConfig {
            max_concurrent: Some(1),
            ..Default::default()
        });
        let p = u.try_acquire(0).unwrap();
        assert!(u.try_acquire(0).is_err());
        drop(p);
        assert!(u.try_acquire(0).is_ok());
        let cfg: RateLimitConfig = serde_json::from_str(r#"{"rpm":60}"#).unwrap();
        assert_eq!(cfg.rpm, Some(60));
        assert!(serde_json::from_str::<RateLimitConfig>(r#"{"rps":1}"#).is_err());
    }

    fn health(threshold: u32) -> Arc<TargetHealth> {
        Arc::new(TargetHealth::new(
            "conn-1",
            &HealthConfig {
                breaker: cfg(threshold),
                ..Default::default()
            },
        ))
    }

    #[test]
    fn attempts_drive_breaker_cooldown_and_stats() {
        let t = health(2);
        let mut r = rng();
        let a = t.try_begin(0, Some("m")).unwrap();
        assert_eq!(t.stats.in_flight(), 1);
        let rep = Report {
            latency_ms: Some(300),
            ..Report::new(Outcome::Success, CooldownScope::Connection, Some("m"))
        };
        assert_eq!(a.finish(300, &rep, &mut r), None);
        assert_eq!((t.stats.in_flight(), t.stats.latency_ms()), (0, 300.0));
        // A 429 with Retry-After: cooldown on the connection; in-flight failures are stale.
        let inflight = t.try_begin(400, Some("m")).unwrap();
        let a = t.try_begin(400, Some("m")).unwrap();
        let rep = Report {
            retry_after: Some(2_000),
            ..Report::new(Outcome::RateLimited, CooldownScope::Connection, Some("m"))
        };
        assert_eq!(a.finish(500, &rep, &mut r), Some(2_500));
        assert_eq!(t.try_begin(600, Some("m")).unwrap_err(), 2_500);
        assert_eq!(t.unavailable_until(600, None), Some(2_500));
        let rep5xx = Report::new(Outcome::ServerError, CooldownScope::Connection, Some("m"));
        assert_eq!(inflight.finish(700, &rep5xx, &mut r), None);
        assert_eq!(t.breaker.state(700).failures, 0, "stale failure ignored");
        // Two fresh server errors open the breaker.
        for now in [3_000, 3_100] {
            let a = t.try_begin(now, None).unwrap();
            a.finish(now, &rep5xx, &mut r);
        }
        assert_eq!(t.breaker.state(3_100).state, BreakerState::Open);
        assert_eq!(t.try_begin(3_200, None).unwrap_err(), 8_100);
        // A per-model quota cools only that model.
        let probe = t.try_begin(8_100, Some("a")).unwrap();
        assert!(probe.is_probe());
        let quota = Report::new(Outcome::QuotaExhausted, CooldownScope::Model, Some("a"));
        let until = probe.finish(8_200, &quota, &mut r).unwrap();
        assert_eq!(until, 8_200 + crate::classify::QUOTA_COOLDOWN_MS);
        assert_eq!(
            t.breaker.state(8_200).state,
            BreakerState::Closed,
            "the probe got an answer"
        );
        assert!(t.try_begin(8_300, Some("a")).is_err());
        let b = t.try_begin(8_300, Some("b")).unwrap();
        // Dropped unfinished: in-flight released.
        drop(b);
        assert_eq!(t.stats.in_flight(), 0);
        assert!(t.score(8_300) > 0.0);
    }

    #[test]
    fn dropped_probe_is_released() {
        let t = health(1);
        let mut r = rng();
        let a = t.try_begin(0, None).unwrap();
        a.finish(
            0,
            &Report::new(Outcome::Timeout, CooldownScope::Connection, None),
            &mut r,
        );
        let probe = t.try_begin(5_000, None).unwrap();
        assert!(probe.is_probe());
        assert!(t.try_begin(5_001, None).is_err());
        drop(probe);
        assert!(t.try_begin(5_002, None).unwrap().is_probe());
    }

    #[test]
    fn stampede_of_429s_escalates_once() {
        let t = health(5);
        let mut r = rng();
        let attempts: Vec<_> = (0..5).map(|_| t.try_begin(0, None).unwrap()).collect();
        let rep = Report::new(Outcome::RateLimited, CooldownScope::Connection, None);
        let untils: Vec<_> = attempts
            .into_iter()
            .map(|a| a.finish(10, &rep, &mut r).unwrap())
            .collect();
        assert!(untils.iter().all(|u| *u == untils[0]));
        assert_eq!(t.cooldown.entries(11)[0].level, 1);
    }

    #[test]
    fn registry_survives_reload_and_persists() {
        let reg = Registry::new();
        let mut r = rng();
        let a = reg.get_or_insert("c1", &HealthConfig::default());
        let again = reg.get_or_insert(
            "c1",
            &HealthConfig {
                breaker: cfg(1),
                ..Default::default()
            },
        );
        assert!(Arc::ptr_eq(&a, &again));
        let att = a.try_begin(0, None).unwrap();
        att.finish(
            0,
            &Report::new(Outcome::ConnectError, CooldownScope::Connection, None),
            &mut r,
        );
        assert_eq!(
            a.breaker.state(1).state,
            BreakerState::Open,
            "new config applied"
        );
        a.cooldown
            .set(0, "auth_failed", Some(60_000), Some("m"), &mut r);
        let pb = reg.provider_breaker("openai", cfg(1));
        let adm = pb.admit(0);
        pb.on_failure(0, adm);
        reg.get_or_insert("healthy", &HealthConfig::default());

        let exported = reg.export(10);
        assert_eq!(exported.len(), 2, "{exported:?}");
        let json = serde_json::to_string(&exported).unwrap();
        let fresh = Registry::new();
        fresh.import(serde_json::from_str(&json).unwrap(), 20);
        let c1 = fresh.get("c1").unwrap();
        assert_eq!(c1.breaker.state(20).state, BreakerState::Open);
        assert_eq!(c1.cooldown.is_cooling(20, Some("m")), Some(60_000));
        assert_eq!(fresh.provider_breakers().len(), 1);
        assert!(fresh.get("healthy").is_none());
        // Expired on import: dropped.
        let later = Registry::new();
        later.import(exported, 100_000);
        assert!(later.targets().is_empty());
        assert!(later.provider_breakers().is_empty());

        fresh.reset_all();
        assert_eq!(c1.cooldown.is_cooling(20, Some("m")), None);
        assert_eq!(c1.breaker.state(20).state, BreakerState::Closed);
        fresh.retain(|id| id != "c1");
        assert!(fresh.targets().is_empty());
        assert_eq!(reg.targets().len(), 2);
    }
}
