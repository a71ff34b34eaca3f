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

/// `GET /api/auth/status`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct AuthStatus {
    pub password_set: bool,
    pub must_change_password: bool,
    /// The caller holds a dashboard session.
    pub logged_in: bool,
    /// Who the caller is for the guard (`session:…`, `admin-token`, `loopback`, `anonymous`).
    pub principal: String,
    pub require_login: bool,
    /// No password yet and this caller may set it (this machine, or the admin key).
    pub setup_allowed: bool,
}

/// A successful login or first-password setup.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct LoginAnswer {
    pub logged_in: bool,
    /// The token to send as `X-CSRF-Token` on state changes (also in the `omniroute_csrf` cookie).
    pub csrf_token: String,
    pub expires_at: i64,
    pub must_change_password: bool,
}

/// A live dashboard session (`GET /api/auth/sessions`).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct SessionInfo {
    /// The first characters of the session id's hash (what `DELETE …/sessions/{id}` takes).
    pub id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The caller's own session.
    pub current: bool,
}

/// A gateway key just created or rotated: the record and, this once, the key.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub record: omniroute_store::ApiKey,
    /// The secret itself: shown only in this answer.
    pub key: String,
    pub note: String,
}

/// `GET /api/cache`: the counters and the switches.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct CacheView {
    #[serde(flatten)]
    pub stats: crate::cache::CacheStats,
    pub enabled: bool,
    pub semantic_enabled: bool,
}

/// `POST /api/translate`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct TranslateAnswer {
    /// `request` or `response`.
    pub kind: String,
    pub from: String,
    /// `from` was detected rather than given.
    pub detected: bool,
    pub to: String,
    #[ts(type = "unknown")]
    pub body: Value,
    /// What the encoder dropped or rewrote (requests).
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
    /// The usage the response reported (responses).
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageView>,
}

/// Token counts of a translated response.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct UsageView {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
}

/// `POST /api/translator/chat`: a round trip and every stage of it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ChatAnswer {
    pub request_id: String,
    pub format: String,
    /// The request as the client format sends it.
    #[ts(type = "unknown")]
    pub client_request: Value,
    pub status: u16,
    pub latency_ms: u64,
    /// The gateway's `x-omniroute-*` and `x-request-id` answer headers.
    pub headers: std::collections::BTreeMap<String, String>,
    pub attempts: Vec<crate::proxy::TapAttempt>,
    /// The answer the client got (JSON, or the text when it was not JSON).
    #[ts(type = "unknown")]
    pub response: Value,
}

/// `GET /api/cli-tools`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct CliToolsView {
    /// The dashboard is on the gateway's machine: files can be written.
    pub local: bool,
    pub home: Option<String>,
    pub tools: Vec<CliToolInfo>,
}

/// A coding tool whose configuration file the gateway can write.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct CliToolInfo {
    pub id: String,
    pub name: String,
    pub path: Option<String>,
    pub exists: bool,
}

/// `GET /api/health`: the process, its store, routing state and log.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct HealthView {
    /// `ok`, or `degraded` while a connection's breaker is not closed.
    pub status: String,
    pub version: String,
    pub uptime_s: u64,
    pub data_dir: String,
    pub memory: MemoryView,
    pub database: DatabaseView,
    /// Providers known (catalog and custom nodes).
    pub providers: u32,
    /// Providers with at least one connection.
    pub connected_providers: u32,
    pub connections: u32,
    pub breakers: BreakersSummary,
    pub cooldowns: Vec<ActiveCooldown>,
    /// Connections with requests holding a rate-limit slot.
    pub in_flight: Vec<InFlight>,
    pub cache: crate::cache::CacheStats,
    pub log_rows_dropped: u64,
    pub trace_export: Option<crate::otel::ExportStats>,
    pub request_log: RequestLogView,
    pub live_listeners: LiveListeners,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct MemoryView {
    /// Resident set size, when the platform tells it.
    pub rss_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct DatabaseView {
    /// The database file with its WAL and shared-memory files.
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct BreakersSummary {
    pub open_connections: u32,
    pub providers: Vec<ProviderBreaker>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct InFlight {
    pub id: String,
    pub name: String,
    pub in_flight: u32,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct RequestLogView {
    pub rows: i64,
    pub bytes_estimate: i64,
    pub dropped: u64,
    pub retention: omniroute_store::Retention,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct LiveListeners {
    pub requests: bool,
    pub console: bool,
}

/// A gateway key as `GET /api/keys` lists it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct KeyView {
    #[serde(flatten)]
    pub record: omniroute_store::ApiKey,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    /// No model patterns: every model is allowed.
    pub allow_all: bool,
}

/// `GET /api/settings`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct SettingsView {
    pub settings: omniroute_config::GatewaySettings,
    /// Settings the environment forces, whatever is stored.
    pub env_overrides: EnvOverrides,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct EnvOverrides {
    /// `REQUIRE_API_KEY` when set (it wins over the stored setting).
    pub require_api_key: Option<bool>,
}

/// `POST /api/config/reload`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ReloadAnswer {
    pub reloaded: bool,
    pub config_file: Option<String>,
    /// What was applied; null when no config file is in use.
    pub applied: Option<omniroute_config::apply::ApplySummary>,
}

/// `GET /api/logs`: a page of the request log (newest first, no bodies).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct LogsPage {
    pub logs: Vec<omniroute_store::RequestLog>,
    /// Rows the writer dropped since start (a full queue).
    pub dropped: u64,
}

/// `GET /api/audit`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct AuditPage {
    pub entries: Vec<omniroute_store::AuditEntry>,
}

/// `GET /api/analytics`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct AnalyticsView {
    pub query: omniroute_store::AnalyticsQuery,
    pub rows: Vec<omniroute_store::AnalyticsRow>,
}

/// One upstream call in the proxy log.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ProxyCall {
    pub request_id: String,
    pub ts: i64,
    /// 1 for the first attempt of the request.
    pub attempt: u32,
    pub provider: String,
    pub connection: Option<String>,
    pub model: String,
    /// `direct` or the outbound proxy used.
    pub route: Option<String>,
    pub remote: Option<String>,
    pub egress: Option<String>,
    pub outcome: String,
    pub status: Option<u16>,
    pub latency_ms: i64,
}

/// `GET /api/logs/proxy`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ProxyPage {
    pub calls: Vec<ProxyCall>,
    /// `before_id` for the next page.
    pub next_before_id: Option<i64>,
}

/// `GET /api/models/catalog`: a provider and its models.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct CatalogProvider {
    pub provider: String,
    pub alias: String,
    pub name: String,
    pub format: String,
    pub custom_node: bool,
    pub enabled: bool,
    /// It has a usable connection.
    pub connected: bool,
    pub models: Vec<CatalogModel>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct CatalogModel {
    pub id: String,
    /// `alias/id`, the name clients send.
    pub model: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Added by the owner (not from the catalog).
    pub custom: bool,
}

/// An address locked out of the dashboard login (`GET /api/auth/lockouts`).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct LockoutView {
    pub ip: String,
    pub seconds_left: u64,
}

/// The envelope of `GET /api/auth/lockouts`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct LockoutsView {
    pub lockouts: Vec<LockoutView>,
}
