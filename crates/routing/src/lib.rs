//! Routing decisions as pure logic: model-name resolution (combo, prefix, wildcard alias, bare
//! id, fallback chain, nested-combo expansion), candidate ordering strategies with session
//! affinity, per-target health (circuit breaker, cooldowns, stats, rate limits, persistence)
//! and upstream outcome classification. No IO; time (`now: Millis`) and randomness
//! (`&mut impl Rng`) are injected.

pub mod classify;
pub mod health;
pub mod resolve;
pub mod strategy;

/// Wall-clock time in epoch milliseconds (persistable: state expires correctly after a restart).
pub type Millis = u64;

pub use classify::{
    classify, classify_detailed, gemini_retry_delay, Action, Classification, CooldownRule,
    CooldownScope, HeaderLookup, Outcome, Policy, RULES,
};
pub use health::{
    Admission, Attempt, Breaker, BreakerConfig, BreakerSnapshot, BreakerState, Cooldown,
    CooldownConfig, CooldownEntry, HealthConfig, Limiter, Permit, PersistedKind, PersistedState,
    RateLimitConfig, Registry, Report, Stats, StatsSnapshot, TargetHealth, Wait, Waiter,
};
pub use resolve::{
    find_cycle, glob, ComboDef, Expansion, Resolution, ResolveError, Resolver, SkipReason, Skipped,
    Step, FALLBACK_COMBO,
};
pub use strategy::{
    order, stable_key, Affinity, Candidate, RotationState, Strategy, UnknownStrategy,
    DEFAULT_ACCOUNT_STICKY, DEFAULT_COMBO_STICKY,
};
