//! Candidate ordering: the routing strategies (priority, round-robin with stickiness, weighted,
//! random, least-used, cost-optimized, power-of-two-choices), unavailable candidates last, and
//! session affinity (a bounded, expiring session → candidate map).

use crate::health::TargetHealth;
use crate::Millis;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// How a group (a combo's steps, a provider's accounts) is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The given order (`fill_first`: use the first until it fails).
    #[default]
    #[serde(alias = "fill_first")]
    Priority,
    /// Rotate the starting point every `sticky_limit` calls.
    RoundRobin,
    /// Weighted random first pick, then the rest by weight (heaviest first).
    Weighted,
    /// Uniform shuffle.
    Random,
    /// Oldest last use first.
    LeastUsed,
    /// Lowest cost first (unknown cost last), then lowest priority value.
    CostOptimized,
    /// Power of two choices: the healthier of two random picks, then the rest by health.
    #[serde(rename = "p2c", alias = "power_of_two")]
    P2C,
}

impl Strategy {
    pub const ALL: [Strategy; 7] = [
        Strategy::Priority,
        Strategy::RoundRobin,
        Strategy::Weighted,
        Strategy::Random,
        Strategy::LeastUsed,
        Strategy::CostOptimized,
        Strategy::P2C,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Priority => "priority",
            Strategy::RoundRobin => "round_robin",
            Strategy::Weighted => "weighted",
            Strategy::Random => "random",
            Strategy::LeastUsed => "least_used",
            Strategy::CostOptimized => "cost_optimized",
            Strategy::P2C => "p2c",
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown strategy name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown strategy `{0}` (expected one of priority, fill_first, round_robin, weighted, random, least_used, cost_optimized, p2c, power_of_two)")]
pub struct UnknownStrategy(pub String);

impl std::str::FromStr for Strategy {
    type Err = UnknownStrategy;

    /// Case-insensitive; `-` is accepted for `_`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Ok(match norm.as_str() {
            "priority" | "fill_first" => Strategy::Priority,
            "round_robin" => Strategy::RoundRobin,
            "weighted" => Strategy::Weighted,
            "random" => Strategy::Random,
            "least_used" => Strategy::LeastUsed,
            "cost_optimized" => Strategy::CostOptimized,
            "p2c" | "power_of_two" => Strategy::P2C,
            _ => return Err(UnknownStrategy(s.to_string())),
        })
    }
}

/// A stable 64-bit key for a string (FNV-1a): candidate keys, group ids, session hashes.
pub fn stable_key(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One candidate to order (a combo step or an account).
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Stable identity (e.g. [`stable_key`] of the connection id): the affinity target.
    pub key: u64,
    /// For [`Strategy::Weighted`]; 0 = only after every positive weight.
    pub weight: u32,
    /// Cost per million tokens; `None` = unknown (ordered last by cost).
    pub cost_per_mtok: Option<f64>,
    /// Lower is preferred (account priority).
    pub priority: i64,
    /// The target's health; `None` = always available, neutral score.
    pub health: Option<&'a TargetHealth>,
    /// The model, for per-model cooldown checks.
    pub model: Option<&'a str>,
    /// Last use (ms) for [`Strategy::LeastUsed`].
    pub last_used: Millis,
    /// Unavailable for a reason the caller knows (e.g. the provider's breaker is open).
    pub blocked: bool,
}

impl<'a> Candidate<'a> {
    /// Weight 1, unknown cost, priority 0, `last_used` taken from the health stats.
    pub fn new(key: u64, health: Option<&'a TargetHealth>) -> Self {
        Self {
            key,
            weight: 1,
            cost_per_mtok: None,
            priority: 0,
            health,
            model: None,
            last_used: health.map_or(0, |h| h.stats.last_used()),
            blocked: false,
        }
    }

    /// Whether the candidate can take a request now.
    pub fn available(&self, now: Millis) -> bool {
        !self.blocked
            && self
                .health
                .is_none_or(|h| h.unavailable_until(now, self.model).is_none())
    }
}

/// Default sticky limit for accounts: each account serves this many calls in a row.
pub const DEFAULT_ACCOUNT_STICKY: u32 = 3;
/// Default sticky limit for combo steps.
pub const DEFAULT_COMBO_STICKY: u32 = 1;

/// Per-group rotation state for [`Strategy::RoundRobin`]: one atomic call counter; the cursor
/// is `calls / sticky_limit`.
#[derive(Debug)]
pub struct RotationState {
    calls: AtomicU64,
    sticky_limit: AtomicU32,
}

impl RotationState {
    /// `sticky_limit` 0 is treated as 1.
    pub fn new(sticky_limit: u32) -> Self {
        Self {
            calls: AtomicU64::new(0),
            sticky_limit: AtomicU32::new(sticky_limit.max(1)),
        }
    }

    pub fn set_sticky_limit(&self, sticky_limit: u32) {
        self.sticky_limit
            .store(sticky_limit.max(1), Ordering::Relaxed);
    }

    pub fn sticky_limit(&self) -> u32 {
        self.sticky_limit.load(Ordering::Relaxed)
    }

    /// Count one call; the cursor to use for it.
    fn next_cursor(&self) -> u64 {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        call / u64::from(self.sticky_limit())
    }
}

impl Default for RotationState {
    fn default() -> Self {
        Self::new(DEFAULT_ACCOUNT_STICKY)
    }
}

/// Availability flags without allocating for up to 128 candidates.
struct Flags {
    small: u128,
    big: Vec<bool>,
}

impl Flags {
    fn new(cands: &[Candidate<'_>], now: Millis) -> Self {
        let mut f = Flags {
            small: 0,
            big: Vec::new(),
        };
        if cands.len() <= 128 {
            for (i, c) in cands.iter().enumerate() {
                if c.available(now) {
                    f.small |= 1 << i;
                }
            }
        } else {
            f.big = cands.iter().map(|c| c.available(now)).collect();
        }
        f
    }

    fn get(&self, i: usize) -> bool {
        if self.big.is_empty() {
            i < 128 && self.small & (1 << i) != 0
        } else {
            self.big.get(i).copied().unwrap_or(false)
        }
    }

    fn count(&self) -> usize {
        if self.big.is_empty() {
            self.small.count_ones() as usize
        } else {
            self.big.iter().filter(|b| **b).count()
        }
    }
}

/// The full attempt order over `cands` (indices, first choice first). Available candidates
/// come first in the strategy's order, then the unavailable ones (so a fully unavailable group
/// still has an order; the caller skips what it cannot use). `affinity` (a candidate key from
/// [`Affinity::lookup`]) goes first when that candidate is available.
pub fn order(
    strategy: Strategy,
    cands: &[Candidate<'_>],
    rot: &RotationState,
    affinity: Option<u64>,
    now: Millis,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let n = cands.len();
    let mut out: Vec<usize> = (0..n).collect();
    if n == 0 {
        return out;
    }
    let avail = Flags::new(cands, now);
    match strategy {
        Strategy::Priority => {}
        Strategy::RoundRobin => {
            let cursor = rot.next_cursor();
            stable_partition(&mut out, &avail);
            let live = avail.count();
            if live > 0 {
                out[..live].rotate_left((cursor % live as u64) as usize);
            }
        }
        Strategy::Weighted => weighted_shuffle(&mut out, cands, rng),
        Strategy::Random => out.shuffle(rng),
        Strategy::LeastUsed => out.sort_by_key(|i| cands[*i].last_used),
        Strategy::CostOptimized => out.sort_by(|a, b| {
            let (ca, cb) = (&cands[*a], &cands[*b]);
            let cost = match (ca.cost_per_mtok, cb.cost_per_mtok) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            cost.then(ca.priority.cmp(&cb.priority))
        }),
        Strategy::P2C => p2c(&mut out, cands, &avail, now, rng),
    }
    stable_partition(&mut out, &avail);
    if let Some(key) = affinity {
        if let Some(pos) = out
            .iter()
            .position(|i| cands[*i].key == key && avail.get(*i))
        {
            out[..=pos].rotate_right(1);
        }
    }
    out
}

/// Available first, keeping relative order (a stable sort: no allocation up to 20 elements).
fn stable_partition(out: &mut [usize], avail: &Flags) {
    out.sort_by_key(|i| !avail.get(*i));
}

/// One weighted draw for the first slot, then the rest by weight, heaviest first (stable).
/// Zero weights are never drawn: they come after every positive weight.
fn weighted_shuffle(out: &mut [usize], cands: &[Candidate<'_>], rng: &mut impl Rng) {
    out.sort_by_key(|i| std::cmp::Reverse(cands[*i].weight));
    let total: u64 = out.iter().map(|i| u64::from(cands[*i].weight)).sum();
    if total == 0 {
        return;
    }
    let mut r = rng.gen_range(0..total);
    let mut pick = 0;
    for (j, i) in out.iter().enumerate() {
        let w = u64::from(cands[*i].weight);
        if r < w {
            pick = j;
            break;
        }
        r -= w;
    }
    out[..=pick].rotate_right(1);
}

/// Health order, with the first slot decided by two random available picks.
fn p2c(out: &mut [usize], cands: &[Candidate<'_>], avail: &Flags, now: Millis, rng: &mut impl Rng) {
    let scores: Vec<f64> = cands
        .iter()
        .map(|c| c.health.map_or(0.0, |h| h.score(now)))
        .collect();
    out.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    stable_partition(out, avail);
    let live = avail.count();
    if live >= 2 {
        let a = rng.gen_range(0..live);
        let mut b = rng.gen_range(0..live - 1);
        if b >= a {
            b += 1;
        }
        let winner = if scores[out[b]] < scores[out[a]] {
            b
        } else {
            a
        };
        out[..=winner].rotate_right(1);
    }
}

// ---------------------------------------------------------------------------------------------
// Affinity

const SHARDS: usize = 16;

/// (session, group) → (candidate key, last remembered).
type Shard = HashMap<(u64, u64), (u64, Millis)>;

/// Session affinity: (session key, group id) → the candidate key that served it, bounded
/// (`capacity` entries, oldest evicted first) and expiring after `ttl_ms` since the last
/// `remember`. Sharded: 16 small mutexes, no global lock.
#[derive(Debug)]
pub struct Affinity {
    shards: [Mutex<Shard>; SHARDS],
    cap_per_shard: usize,
    ttl_ms: Millis,
}

impl Default for Affinity {
    /// 10 000 entries, one hour.
    fn default() -> Self {
        Self::new(10_000, 60 * 60 * 1000)
    }
}

impl Affinity {
    pub fn new(capacity: usize, ttl_ms: Millis) -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            cap_per_shard: capacity.div_ceil(SHARDS).max(1),
            ttl_ms,
        }
    }

    fn shard(&self, session: u64, group: u64) -> MutexGuard<'_, Shard> {
        let i = ((session ^ group.rotate_left(17)) % SHARDS as u64) as usize;
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The candidate key remembered for this session in this group, if not expired.
    pub fn lookup(&self, session: u64, group: u64, now: Millis) -> Option<u64> {
        let map = self.shard(session, group);
        map.get(&(session, group))
            .filter(|(_, at)| now < at.saturating_add(self.ttl_ms))
            .map(|(key, _)| *key)
    }

    /// Remember (or refresh) that `key` served this session in this group.
    pub fn remember(&self, session: u64, group: u64, key: u64, now: Millis) {
        let mut map = self.shard(session, group);
        if map.len() >= self.cap_per_shard && !map.contains_key(&(session, group)) {
            let ttl = self.ttl_ms;
            map.retain(|_, (_, at)| now < at.saturating_add(ttl));
            if map.len() >= self.cap_per_shard {
                // Evict the oldest eighth at once so eviction stays rare.
                let mut ages: Vec<Millis> = map.values().map(|(_, at)| *at).collect();
                let k = (ages.len() / 8).max(1) - 1;
                let (_, cutoff, _) = ages.select_nth_unstable(k);
                let cutoff = *cutoff;
                map.retain(|_, (_, at)| *at > cutoff);
            }
        }
        map.insert((session, group), (key, now));
    }

    /// Forget a session in a group (e.g. after its candidate was removed).
    pub fn forget(&self, session: u64, group: u64) {
        self.shard(session, group).remove(&(session, group));
    }

    /// Entries held (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::classify::{CooldownScope, Outcome};
    use crate::health::{BreakerConfig, HealthConfig, Report};
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::sync::Arc;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(42)
    }

    fn plain(n: usize) -> Vec<Candidate<'static>> {
        (0..n)
            .map(|i| Candidate::new(i as u64 + 100, None))
            .collect()
    }

    fn ord(s: Strategy, c: &[Candidate<'_>], rot: &RotationState, r: &mut StdRng) -> Vec<usize> {
        order(s, c, rot, None, 1_000, r)
    }

    #[test]
    fn names_parse_and_print() {
        for s in Strategy::ALL {
            assert_eq!(s.to_string().parse::<Strategy>().unwrap(), s);
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<Strategy>(&json).unwrap(), s);
        }
        for (name, s) in [
            ("\"fill_first\"", Strategy::Priority),
            ("\"power_of_two\"", Strategy::P2C),
            ("\"round_robin\"", Strategy::RoundRobin),
            ("\"cost_optimized\"", Strategy::CostOptimized),
        ] {
            assert_eq!(serde_json::from_str::<Strategy>(name).unwrap(), s);
        }
        assert_eq!(
            "Fill-First".parse::<Strategy>().unwrap(),
            Strategy::Priority
        );
        assert_eq!("power-of-two".parse::<Strategy>().unwrap(), Strategy::P2C);
        assert!("fastest".parse::<Strategy>().is_err());
        assert!(serde_json::from_str::<Strategy>("\"fastest\"").is_err());
    }

    #[test]
    fn priority_and_round_robin_with_stickiness() {
        let c = plain(3);
        let mut r = rng();
        let rot = RotationState::new(2);
        assert_eq!(ord(Strategy::Priority, &c, &rot, &mut r), vec![0, 1, 2]);
        let firsts: Vec<_> = (0..7)
            .map(|_| ord(Strategy::RoundRobin, &c, &rot, &mut r))
            .collect();
        assert_eq!(firsts[0], vec![0, 1, 2]);
        assert_eq!(firsts[1], vec![0, 1, 2]);
        assert_eq!(firsts[2], vec![1, 2, 0]);
        assert_eq!(firsts[3], vec![1, 2, 0]);
        assert_eq!(firsts[4], vec![2, 0, 1]);
        assert_eq!(firsts[6], vec![0, 1, 2]);
        // Sticky 1: every call advances.
        let rot = RotationState::new(1);
        let heads: Vec<_> = (0..4)
            .map(|_| ord(Strategy::RoundRobin, &c, &rot, &mut r)[0])
            .collect();
        assert_eq!(heads, vec![0, 1, 2, 0]);
    }

    #[test]
    fn weighted_follows_weights() {
        let mut c = plain(3);
        c[0].weight = 1;
        c[1].weight = 3;
        c[2].weight = 0;
        let mut r = rng();
        let rot = RotationState::default();
        let mut firsts = [0u32; 3];
        for _ in 0..4_000 {
            let o = ord(Strategy::Weighted, &c, &rot, &mut r);
            assert_eq!(o[2], 2, "zero weight last");
            assert_eq!(&o[..2], if o[0] == 0 { &[0, 1] } else { &[1, 0] });
            firsts[o[0]] += 1;
        }
        assert_eq!(firsts[2], 0);
        let share = f64::from(firsts[1]) / 4_000.0;
        assert!((0.72..0.78).contains(&share), "{firsts:?}");
    }

    #[test]
    fn random_is_a_permutation_and_covers_all() {
        let c = plain(5);
        let mut r = rng();
        let rot = RotationState::default();
        let mut seen = [false; 5];
        for _ in 0..200 {
            let mut o = ord(Strategy::Random, &c, &rot, &mut r);
            seen[o[0]] = true;
            o.sort();
            assert_eq!(o, vec![0, 1, 2, 3, 4]);
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn least_used_and_cost() {
        let mut c = plain(4);
        for (i, t) in [500, 100, 300, 100].iter().enumerate() {
            c[i].last_used = *t;
        }
        let mut r = rng();
        let rot = RotationState::default();
        assert_eq!(ord(Strategy::LeastUsed, &c, &rot, &mut r), vec![1, 3, 2, 0]);
        c[0].cost_per_mtok = Some(3.0);
        c[1].cost_per_mtok = None;
        c[2].cost_per_mtok = Some(0.5);
        c[3].cost_per_mtok = Some(3.0);
        c[3].priority = -1;
        assert_eq!(
            ord(Strategy::CostOptimized, &c, &rot, &mut r),
            vec![2, 3, 0, 1]
        );
        // Accounts (no cost): lowest priority value first.
        let mut a = plain(3);
        a[0].priority = 5;
        a[1].priority = 1;
        a[2].priority = 3;
        assert_eq!(
            ord(Strategy::CostOptimized, &a, &rot, &mut r),
            vec![1, 2, 0]
        );
    }

    fn targets(n: usize) -> Vec<Arc<TargetHealth>> {
        let cfg = HealthConfig {
            breaker: BreakerConfig {
                failure_threshold: 1,
                window_ms: 10_000,
                open_ms: 60_000,
            },
            ..Default::default()
        };
        (0..n)
            .map(|i| Arc::new(TargetHealth::new(format!("c{i}"), &cfg)))
            .collect()
    }

    fn fail(t: &Arc<TargetHealth>, outcome: Outcome, now: Millis, r: &mut StdRng) {
        let a = t.try_begin(now, None).unwrap();
        let rep = Report {
            retry_after: Some(60_000),
            ..Report::new(outcome, CooldownScope::Connection, None)
        };
        a.finish(now, &rep, r);
    }

    #[test]
    fn unavailable_candidates_go_last_for_every_strategy() {
        let t = targets(4);
        let mut r = rng();
        fail(&t[0], Outcome::ServerError, 900, &mut r); // breaker open
        fail(&t[2], Outcome::RateLimited, 900, &mut r); // cooling
        let c: Vec<_> = t
            .iter()
            .enumerate()
            .map(|(i, h)| Candidate::new(i as u64, Some(h)))
            .collect();
        let rot = RotationState::new(1);
        for s in Strategy::ALL {
            for _ in 0..20 {
                let o = ord(s, &c, &rot, &mut r);
                let mut head = o[..2].to_vec();
                head.sort();
                assert_eq!(head, vec![1, 3], "{s}: {o:?}");
            }
        }
        // Fully unavailable: still an order.
        let mut blocked = plain(3);
        for b in &mut blocked {
            b.blocked = true;
        }
        for s in Strategy::ALL {
            let mut o = ord(s, &blocked, &rot, &mut r);
            o.sort();
            assert_eq!(o, vec![0, 1, 2]);
        }
        assert!(ord(Strategy::P2C, &[], &rot, &mut r).is_empty());
    }

    #[test]
    fn round_robin_spreads_over_available_only() {
        let t = targets(3);
        let mut r = rng();
        fail(&t[1], Outcome::ServerError, 900, &mut r);
        let c: Vec<_> = t
            .iter()
            .enumerate()
            .map(|(i, h)| Candidate::new(i as u64, Some(h)))
            .collect();
        let rot = RotationState::new(1);
        let heads: Vec<_> = (0..4)
            .map(|_| ord(Strategy::RoundRobin, &c, &rot, &mut r))
            .collect();
        assert_eq!(heads[0], vec![0, 2, 1]);
        assert_eq!(heads[1], vec![2, 0, 1]);
        assert_eq!(heads[2], vec![0, 2, 1]);
    }

    #[test]
    fn p2c_prefers_the_healthier() {
        let t = targets(3);
        // c0 slow, c1 fast, c2 failing.
        t[0].stats.record(true, Some(2_000));
        t[1].stats.record(true, Some(100));
        t[2].stats.record(true, Some(100));
        for _ in 0..5 {
            t[2].stats.record(false, None);
        }
        let c: Vec<_> = t
            .iter()
            .enumerate()
            .map(|(i, h)| Candidate::new(i as u64, Some(h)))
            .collect();
        let mut r = rng();
        let rot = RotationState::default();
        let mut firsts = [0u32; 3];
        for _ in 0..300 {
            let o = ord(Strategy::P2C, &c, &rot, &mut r);
            firsts[o[0]] += 1;
            if o[0] != 1 {
                // The healthiest is then first of the rest.
                assert_eq!(o[1], 1, "{o:?}");
            }
        }
        // c1 wins every pair it is in (2/3), c0 beats c2 otherwise.
        assert_eq!(firsts[2], 0, "{firsts:?}");
        assert!(firsts[1] > 170 && firsts[0] > 70, "{firsts:?}");
    }

    #[test]
    fn affinity_hit_goes_first_when_healthy() {
        let t = targets(3);
        let mut r = rng();
        let c: Vec<_> = t
            .iter()
            .enumerate()
            .map(|(i, h)| Candidate::new(i as u64 + 10, Some(h)))
            .collect();
        let rot = RotationState::default();
        let o = order(Strategy::Priority, &c, &rot, Some(12), 1_000, &mut r);
        assert_eq!(o, vec![2, 0, 1]);
        fail(&t[2], Outcome::ServerError, 1_000, &mut r);
        let o = order(Strategy::Priority, &c, &rot, Some(12), 1_001, &mut r);
        assert_eq!(o, vec![0, 1, 2]);
        let o = order(Strategy::Priority, &c, &rot, Some(999), 1_001, &mut r);
        assert_eq!(o, vec![0, 1, 2]);
    }

    #[test]
    fn affinity_map_expires_and_is_bounded() {
        let a = Affinity::new(32, 1_000);
        let s = stable_key("session-1");
        let g = stable_key("combo:fast");
        assert_eq!(a.lookup(s, g, 0), None);
        a.remember(s, g, 7, 0);
        assert_eq!(a.lookup(s, g, 999), Some(7));
        assert_eq!(a.lookup(s, g, 1_000), None);
        assert_eq!(a.lookup(s, stable_key("other"), 10), None);
        a.remember(s, g, 8, 2_000);
        assert_eq!(a.lookup(s, g, 2_500), Some(8));
        for i in 0..10_000u64 {
            a.remember(i, g, i, 3_000 + i);
        }
        assert!(a.len() <= 32, "{}", a.len());
        // The newest survive.
        assert_eq!(a.lookup(9_999, g, 13_000), Some(9_999));
        a.forget(9_999, g);
        assert_eq!(a.lookup(9_999, g, 13_000), None);
        assert!(!a.is_empty());
    }

    #[test]
    fn stable_key_is_fnv1a() {
        assert_eq!(stable_key(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_key("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(stable_key("conn-1"), stable_key("conn-2"));
    }

    /// Rough cost check: `cargo test -p omniroute-routing --release -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bench_order() {
        let t = targets(10);
        let c: Vec<_> = t
            .iter()
            .enumerate()
            .map(|(i, h)| Candidate::new(i as u64, Some(h)))
            .collect();
        let steps = plain(5);
        let rot = RotationState::default();
        let mut r = rng();
        for s in Strategy::ALL {
            let start = std::time::Instant::now();
            let iters = 200_000;
            let mut sink = 0;
            for _ in 0..iters {
                sink += order(s, &steps, &rot, None, 1_000, &mut r)[0];
                sink += order(s, &c, &rot, Some(3), 1_000, &mut r)[0];
            }
            let per = start.elapsed().as_nanos() as f64 / f64::from(iters);
            println!("{s}: {per:.0} ns per 5-step + 10-account ordering ({sink})");
        }
    }
}
