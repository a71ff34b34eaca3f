//! Runtime resilience state that outlives configuration snapshots: per-connection health
//! (breaker, cooldowns, stats, rate limiter) and per-provider breakers from the routing crate's
//! `Registry`, rotation cursors, session affinity; its persistence (a background task writes the
//! non-trivial state to the store when it changed, and at shutdown; it is restored at start, with
//! expired entries dropped) and its view for the management API.

use omniroute_config::GatewaySettings;
use omniroute_routing::health::PersistedState;
use omniroute_routing::{
    Affinity, BreakerConfig, CooldownConfig, HealthConfig, Millis, RateLimitConfig, Registry,
    RotationState,
};
use omniroute_store::Store;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The store key of the persisted state.
const STATE_KEY: &str = "resilience";

/// Wall-clock now in epoch milliseconds.
pub fn now() -> Millis {
    omniroute_store::now_ms().max(0) as Millis
}

/// Everything resilience-related that must survive a snapshot rebuild.
#[derive(Default)]
pub struct Resilience {
    pub registry: Registry,
    pub affinity: Affinity,
    rotations: Mutex<HashMap<String, Arc<RotationState>>>,
    /// The JSON last written, to skip writes when nothing changed.
    saved: tokio::sync::Mutex<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Resilience {
    pub fn new() -> Self {
        Self::default()
    }

    /// The rotation cursor of a group (`p:{provider}` or `c:{combo}`), kept across snapshots.
    pub fn rotation(&self, group: &str, sticky_limit: u32) -> Arc<RotationState> {
        let mut map = lock(&self.rotations);
        if let Some(r) = map.get(group) {
            r.set_sticky_limit(sticky_limit);
            return r.clone();
        }
        let r = Arc::new(RotationState::new(sticky_limit));
        map.insert(group.to_string(), r.clone());
        r
    }

    /// Load the persisted state (expired entries are dropped by the registry).
    pub async fn load(&self, store: &Store) {
        match store.runtime_state(STATE_KEY).await {
            Ok(Some(v)) => match serde_json::from_value::<Vec<PersistedState>>(v) {
                Ok(list) => {
                    let n = list.len();
                    self.registry.import(list, now());
                    tracing::info!(entries = n, "restored breaker and cooldown state");
                }
                Err(e) => tracing::warn!(error = %e, "ignoring unreadable resilience state"),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read resilience state"),
        }
    }

    /// Write the state when it changed since the last write.
    pub async fn flush(&self, store: &Store) {
        let list = self.registry.export(now());
        let text = match serde_json::to_string(&list) {
            Ok(t) => t,
            Err(_) => return,
        };
        let mut saved = self.saved.lock().await;
        if *saved == text {
            return;
        }
        let value = serde_json::to_value(&list).unwrap_or(Value::Null);
        match store.set_runtime_state(STATE_KEY, &value).await {
            Ok(()) => *saved = text,
            Err(e) => tracing::warn!(error = %e, "cannot persist resilience state"),
        }
    }

    /// Flush every `every` until the process ends (off the request path).
    pub fn spawn_persist(self: &Arc<Self>, store: Store, every: Duration) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                me.flush(&store).await;
            }
        });
    }
}

/// The health tuning of one connection: the global settings, with the connection's own
/// `settings.rate_limit` (if any) overriding the default rate limit.
pub fn health_config(s: &GatewaySettings, conn_settings: &Value) -> HealthConfig {
    let mut rate_limit = RateLimitConfig {
        rpm: s.rate_limit.rpm,
        min_gap_ms: s.rate_limit.min_gap_ms,
        max_concurrent: s.rate_limit.max_concurrent,
    };
    if let Some(own) = conn_settings.get("rate_limit") {
        match serde_json::from_value::<RateLimitConfig>(own.clone()) {
            Ok(r) => rate_limit = r,
            Err(e) => tracing::warn!(error = %e, "ignoring an invalid connection rate_limit"),
        }
    }
    HealthConfig {
        breaker: breaker_config(s),
        cooldown: CooldownConfig {
            base_ms: s.cooldown_base_ms.max(1),
            cap_ms: s.cooldown_max_ms.max(1),
            ..CooldownConfig::default()
        },
        rate_limit,
    }
}

pub fn breaker_config(s: &GatewaySettings) -> BreakerConfig {
    BreakerConfig {
        failure_threshold: s.breaker_failure_threshold,
        window_ms: s.breaker_window_ms,
        open_ms: s.breaker_open_ms,
    }
}

/// The management view: every connection's breaker, cooldowns, stats and limiter; provider
/// breakers; a flat list of active cooldowns.
pub fn view(
    res: &Resilience,
    names: &HashMap<String, (String, String)>,
    now: Millis,
) -> crate::views::ResilienceView {
    use crate::views::{ActiveCooldown, ConnectionHealth, ProviderBreaker, ResilienceView};
    let mut connections = Vec::new();
    let mut cooldowns = Vec::new();
    for t in res.registry.targets() {
        let (provider, name) = names
            .get(t.id())
            .cloned()
            .unwrap_or_else(|| (String::new(), String::new()));
        let entries = t.cooldown.entries(now);
        for e in &entries {
            cooldowns.push(ActiveCooldown {
                connection_id: t.id().to_string(),
                connection_name: name.clone(),
                provider: provider.clone(),
                scope: e.scope,
                model: e.model.clone(),
                reason: e.reason.clone(),
                until: e.until,
                remaining_ms: e.until.saturating_sub(now),
                level: e.level,
            });
        }
        connections.push(ConnectionHealth {
            id: t.id().to_string(),
            provider,
            name,
            breaker: t.breaker.state(now),
            cooldowns: entries,
            stats: t.stats.snapshot(),
            in_use: t.limiter.active(),
            waiting: t.limiter.waiting(),
            limits: t.limiter.config(),
            available: t.unavailable_until(now, None).is_none(),
        });
    }
    let providers = res
        .registry
        .provider_breakers()
        .into_iter()
        .map(|(id, b)| ProviderBreaker {
            provider: id.to_string(),
            breaker: b.state(now),
        })
        .collect();
    ResilienceView {
        now,
        connections,
        providers,
        cooldowns,
    }
}
