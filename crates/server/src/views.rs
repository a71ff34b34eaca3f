//! The shapes of management-API answers that are assembled from several records (a provider
//! with its live state, a connection with its secret masked, a budget with its spend). Each is
//! a struct, so the dashboard's TypeScript types are generated from it (ts-rs) instead of being
//! copied by hand.

use serde::Serialize;
use serde_json::Value;

/// A provider in `GET /api/providers`: the catalog entry or custom node, and its state.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ProviderView {
    pub id: String,
    /// The model-name prefix clients use (`openai/…`).
    pub alias: String,
    pub name: String,
    /// `openai`, `anthropic`, `gemini` or `responses`.
    pub format: String,
    pub base_url: String,
    /// How the credential is sent (`bearer`, `x-api-key`, `none`, …).
    pub auth: String,
    /// A custom node rather than a catalog provider.
    pub custom: bool,
    /// `false`: blocked (routing skips it).
    pub enabled: bool,
    /// Connections configured for it.
    pub connections: u32,
    /// Models the catalog lists for it.
    pub models: u32,
    pub website: Option<String>,
}

/// A connection as the API shows it (the secret masked).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ConnectionView {
    pub id: String,
    pub provider: String,
    pub name: String,
    pub priority: i64,
    pub enabled: bool,
    /// `sk-…wxyz`, or null without a secret.
    pub api_key: Option<String>,
    pub has_api_key: bool,
    pub base_url: Option<String>,
    /// Per-connection settings (`rate_limit`, `proxy`, …).
    #[ts(type = "Record<string, unknown>")]
    pub settings: Value,
    /// `api` or `config`.
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The answer of a credential or connection test.
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct TestResult {
    pub ok: bool,
    /// `models` (the model list was read) or `completion` (a one-token request).
    pub method: String,
    /// The upstream's HTTP status, when it answered.
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Models the upstream listed.
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<u32>,
    /// Why it failed (`unreachable`, `timed out`, or the upstream's own message).
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
}

/// A budget with its spend in the current period (`GET /api/usage/budget`).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct BudgetView {
    pub id: String,
    pub scope: crate::budgets::Scope,
    pub limit_usd: f64,
    pub period: crate::budgets::Period,
    pub spent_usd: f64,
    pub remaining_usd: f64,
    pub period_start_ms: i64,
    pub resets_at_ms: i64,
    pub exceeded: bool,
}

/// `GET /api/resilience`: every connection's health, provider breakers, active cooldowns.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ResilienceView {
    /// The server's clock (ms), for countdowns.
    pub now: u64,
    pub connections: Vec<ConnectionHealth>,
    pub providers: Vec<ProviderBreaker>,
    pub cooldowns: Vec<ActiveCooldown>,
}

/// One connection's breaker, cooldowns, stats and rate-limit use.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ConnectionHealth {
    pub id: String,
    pub provider: String,
    pub name: String,
    pub breaker: omniroute_routing::BreakerSnapshot,
    pub cooldowns: Vec<omniroute_routing::CooldownEntry>,
    pub stats: omniroute_routing::StatsSnapshot,
    /// Requests holding one of its rate-limit slots.
    pub in_use: u32,
    /// Requests queued for a slot.
    pub waiting: u32,
    pub limits: omniroute_routing::RateLimitConfig,
    /// Neither its breaker nor a cooldown keeps it from serving now.
    pub available: bool,
}

/// A provider-wide breaker.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ProviderBreaker {
    pub provider: String,
    pub breaker: omniroute_routing::BreakerSnapshot,
}

/// An active cooldown, with the connection it rests.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ActiveCooldown {
    pub connection_id: String,
    pub connection_name: String,
    pub provider: String,
    pub scope: omniroute_routing::CooldownScope,
    pub model: Option<String>,
    pub reason: String,
    pub until: u64,
    pub remaining_ms: u64,
    pub level: u32,
}
