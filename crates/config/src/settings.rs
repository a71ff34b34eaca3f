//! Typed gateway settings: defaults, then the store's key/value rows, then environment overrides.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Every runtime setting the gateway reads. Stored as key/value rows; unknown keys are refused.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// A valid gateway key is mandatory on `/v1/*`.
    pub require_api_key: bool,
    /// With `require_api_key`, `GET /v1/models` (and the Gemini model list) needs a key too.
    /// Off: model lists answer without one (some tools list models before asking for a key).
    pub models_require_key: bool,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: u64,
    /// TCP+TLS connect timeout towards upstreams.
    pub connect_timeout_ms: u64,
    /// Time allowed until the upstream's response headers arrive.
    pub first_byte_timeout_ms: u64,
    /// Longest silence allowed between two chunks of an upstream body.
    pub idle_timeout_ms: u64,
    /// Longest a committed stream may last before the gateway ends it with an error event.
    pub max_stream_duration_ms: u64,
    /// Largest a streamed response may grow before the gateway ends it with an error event.
    pub max_stream_bytes: u64,
    /// Write a request-log row for every request (metadata; bodies are `request_bodies`).
    /// Off only to measure what logging costs, or for a gateway that must keep nothing.
    pub request_log: bool,
    /// Request-log rows kept in the database.
    pub request_log_retention: i64,
    /// Request-log rows older than this many days are deleted (0 = no age limit).
    pub request_log_max_age_days: u32,
    /// Estimated size the request log may take, in MiB (0 = no size limit).
    pub request_log_max_mb: u64,
    /// Keep request and response bodies in the request log (secrets redacted, capped);
    /// `ENABLE_REQUEST_LOGS=true` turns it on too.
    pub request_bodies: bool,
    /// Largest body kept per request and per response, in bytes.
    pub request_body_max_bytes: u64,

    // ---- routing and fallback
    /// Upper bound of upstream calls per combo step (each step has its own budget).
    pub max_attempts: u32,
    /// Deadline for getting a response started, across every attempt (a stream that has
    /// started is bounded by the idle timeout, not by this).
    pub total_timeout_ms: u64,
    /// How a provider's connections are chosen: `fill_first`, `round_robin`, `p2c`, `random`,
    /// `least_used`, `cost_optimized`.
    pub account_strategy: String,
    /// Per-provider override of `account_strategy` (provider id → strategy).
    pub provider_strategies: BTreeMap<String, String>,
    /// Default combo strategy: `priority`, `round_robin`, `weighted`, `random`, `least_used`,
    /// `cost_optimized`, `p2c`.
    pub combo_strategy: String,
    /// Round-robin: calls kept on one account before moving on.
    pub sticky_limit: u32,
    /// Wildcard aliases, tried in order: `claude-sonnet-*` → `cc/claude-sonnet-4-5`
    /// (`*` any characters, `?` one); a target `provider/*` sends the name unchanged there.
    pub model_aliases: Vec<ModelAlias>,
    /// Models tried, in order, when a requested model resolves to nothing else.
    pub fallback_models: Vec<String>,

    // ---- resilience
    /// Failures within `breaker_window_ms` that open a circuit.
    pub breaker_failure_threshold: u32,
    pub breaker_window_ms: u64,
    /// Time an open circuit waits before letting one probe through.
    pub breaker_open_ms: u64,
    /// First backoff step of a connection cooldown without `Retry-After` (doubles per failure).
    pub cooldown_base_ms: u64,
    /// Longest cooldown from backoff (a provider's own `Retry-After` may be longer).
    pub cooldown_max_ms: u64,
    /// Default per-connection rate limit (a connection's `settings.rate_limit` overrides it).
    pub rate_limit: RateLimitSetting,
    /// How long a request waits for a rate-limit slot before moving to the next account.
    pub rate_limit_wait_ms: u64,
    /// Window in which requests with the same `Idempotency-Key` are executed once (0 = off).
    pub idempotency_window_ms: u64,

    // ---- cache
    /// Exact cache of deterministic (temperature 0) non-stream responses.
    pub cache_enabled: bool,
    pub cache_ttl_ms: u64,
    pub cache_max_entries: u64,
    pub cache_max_bytes: u64,
    /// Semantic tier: similar prompts by embedding similarity through `semantic_cache_model`.
    pub semantic_cache_enabled: bool,
    /// Embeddings model used by the semantic tier (`provider/model`).
    pub semantic_cache_model: String,
    /// Cosine similarity needed for a semantic hit.
    pub semantic_cache_threshold: f64,

    // ---- global behaviour
    /// A system prompt added to every request (after the client's own, so its prompt cache
    /// prefix is unchanged). Empty = none.
    pub system_prompt: String,
    /// Thinking-budget policy: `passthrough`, `auto`, `custom`, `adaptive`.
    pub thinking_policy: String,
    /// Budget (tokens) for the `custom` policy.
    pub thinking_budget: u32,
    /// OpenTelemetry trace export (OTLP over HTTP, JSON): the collector's base URL
    /// (`http://host:4318`, `/v1/traces` is appended) or its full traces URL; empty = off. The
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` environment variables
    /// apply when this is empty; `OTEL_EXPORTER_OTLP_HEADERS` adds headers (credentials stay out
    /// of the settings).
    pub otel_endpoint: String,
    /// Outbound proxy for upstream calls (`http://`, `https://`, `socks5://`, `socks5h://`;
    /// empty = direct). A connection's own `settings.proxy` takes precedence. Stored and
    /// validated now; applied once outbound proxy support lands (calls go direct until then,
    /// and the proxy log says so).
    pub outbound_proxy: String,
    /// Every `/api` call needs a dashboard session or an admin key. Off: calls from this machine
    /// (loopback, no proxy headers) get in without one, as before login existed.
    pub require_login: bool,
    /// How long a dashboard session lasts.
    pub session_ttl_hours: u64,
    /// Addresses or CIDR ranges allowed to connect (empty = everyone). This machine is always
    /// allowed.
    pub ip_allowlist: Vec<String>,
    /// Addresses or CIDR ranges refused (this machine included, if listed).
    pub ip_blocklist: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` / `X-Real-IP` is believed for the client's address.
    pub trusted_proxies: Vec<String>,
    /// Requests per client address per window (0 requests = off).
    pub ip_rate_limit: IpRateLimit,
    /// Prompt-injection guard: `off`, `log`, `warn` or `block`.
    pub injection_guard: String,
    /// Its patterns (case-insensitive regular expressions); empty = the built-in set.
    pub injection_patterns: Vec<String>,
}

/// One wildcard alias.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelAlias {
    pub pattern: String,
    pub target: String,
}

/// A per-connection rate limit; absent fields are unlimited.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSetting {
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Smallest gap between two request starts.
    pub min_gap_ms: Option<u64>,
    /// Requests in flight at once.
    pub max_concurrent: Option<u32>,
}

/// A per-address request limit.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpRateLimit {
    /// Requests allowed per window (0 = no limit).
    pub requests: u32,
    pub window_ms: u64,
}

impl Default for IpRateLimit {
    fn default() -> Self {
        IpRateLimit {
            requests: 0,
            window_ms: 60_000,
        }
    }
}

/// Account selection strategies.
pub const ACCOUNT_STRATEGIES: &[&str] = &[
    "fill_first",
    "round_robin",
    "p2c",
    "random",
    "least_used",
    "cost_optimized",
];
/// Combo strategies.
pub const COMBO_STRATEGIES: &[&str] = &[
    "priority",
    "round_robin",
    "weighted",
    "random",
    "least_used",
    "cost_optimized",
    "p2c",
];
/// Prompt-injection guard modes.
pub const INJECTION_MODES: &[&str] = &["off", "log", "warn", "block"];
/// Thinking-budget policies.
pub const THINKING_POLICIES: &[&str] = &["passthrough", "auto", "custom", "adaptive"];

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            require_api_key: false,
            models_require_key: true,
            max_body_bytes: 32 * 1024 * 1024,
            connect_timeout_ms: 10_000,
            first_byte_timeout_ms: 300_000,
            idle_timeout_ms: 120_000,
            max_stream_duration_ms: 3_600_000,
            max_stream_bytes: 256 * 1024 * 1024,
            request_log: true,
            request_log_retention: 100_000,
            request_log_max_age_days: 30,
            request_log_max_mb: 512,
            request_bodies: false,
            request_body_max_bytes: 64 * 1024,
            max_attempts: 8,
            total_timeout_ms: 600_000,
            account_strategy: "fill_first".into(),
            provider_strategies: BTreeMap::new(),
            combo_strategy: "priority".into(),
            sticky_limit: 3,
            model_aliases: Vec::new(),
            fallback_models: Vec::new(),
            breaker_failure_threshold: 5,
            breaker_window_ms: 60_000,
            breaker_open_ms: 30_000,
            cooldown_base_ms: 1_000,
            cooldown_max_ms: 300_000,
            rate_limit: RateLimitSetting::default(),
            rate_limit_wait_ms: 2_000,
            idempotency_window_ms: 5_000,
            cache_enabled: true,
            cache_ttl_ms: 3_600_000,
            cache_max_entries: 1_000,
            cache_max_bytes: 64 * 1024 * 1024,
            semantic_cache_enabled: false,
            semantic_cache_model: String::new(),
            semantic_cache_threshold: 0.95,
            system_prompt: String::new(),
            thinking_policy: "passthrough".into(),
            thinking_budget: 8_192,
            otel_endpoint: String::new(),
            outbound_proxy: String::new(),
            require_login: true,
            session_ttl_hours: 168,
            ip_allowlist: Vec::new(),
            ip_blocklist: Vec::new(),
            trusted_proxies: Vec::new(),
            ip_rate_limit: IpRateLimit::default(),
            injection_guard: "off".into(),
            injection_patterns: Vec::new(),
        }
    }
}

impl GatewaySettings {
    /// The names of every setting.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(Self::default()) {
            Ok(Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Check one key/value pair; the error says what is wrong.
    pub fn validate_entry(key: &str, value: &Value) -> Result<(), String> {
        let mut m = Map::new();
        m.insert(key.to_string(), value.clone());
        let s = serde_json::from_value::<GatewaySettings>(Value::Object(m))
            .map_err(|e| e.to_string())?;
        let one_of = |v: &str, list: &[&str]| {
            if list.contains(&v) {
                Ok(())
            } else {
                Err(format!("`{v}` is not one of {}", list.join(", ")))
            }
        };
        match key {
            "account_strategy" => one_of(&s.account_strategy, ACCOUNT_STRATEGIES),
            "provider_strategies" => s
                .provider_strategies
                .values()
                .try_for_each(|v| one_of(v, ACCOUNT_STRATEGIES)),
            "combo_strategy" => one_of(&s.combo_strategy, COMBO_STRATEGIES),
            "thinking_policy" => one_of(&s.thinking_policy, THINKING_POLICIES),
            "injection_guard" => one_of(&s.injection_guard, INJECTION_MODES),
            "injection_patterns" => s.injection_patterns.iter().try_for_each(|p| {
                regex::RegexBuilder::new(p)
                    .case_insensitive(true)
                    .size_limit(1 << 20)
                    .build()
                    .map(|_| ())
                    .map_err(|e| format!("pattern `{p}`: {e}"))
            }),
            "semantic_cache_threshold" if !(0.0..=1.0).contains(&s.semantic_cache_threshold) => {
                Err("must be between 0 and 1".into())
            }
            "ip_allowlist" | "ip_blocklist" | "trusted_proxies" => {
                let list = match key {
                    "ip_allowlist" => &s.ip_allowlist,
                    "ip_blocklist" => &s.ip_blocklist,
                    _ => &s.trusted_proxies,
                };
                list.iter().try_for_each(|e| {
                    let e = e.trim();
                    e.parse::<ipnet::IpNet>()
                        .map(|_| ())
                        .or_else(|_| e.parse::<std::net::IpAddr>().map(|_| ()))
                        .map_err(|_| format!("`{e}` is not an IP address or CIDR range"))
                })
            }
            "ip_rate_limit" if s.ip_rate_limit.requests > 0 && s.ip_rate_limit.window_ms == 0 => {
                Err("`window_ms` must be positive".into())
            }
            "max_stream_duration_ms" | "max_stream_bytes"
                if s.max_stream_duration_ms == 0 || s.max_stream_bytes == 0 =>
            {
                Err("must be positive".into())
            }
            "session_ttl_hours" if s.session_ttl_hours == 0 || s.session_ttl_hours > 24 * 366 => {
                Err("must be between 1 hour and a year".into())
            }
            "otel_endpoint"
                if !s.otel_endpoint.is_empty()
                    && !s.otel_endpoint.starts_with("http://")
                    && !s.otel_endpoint.starts_with("https://") =>
            {
                Err("must be an http:// or https:// URL (or empty to turn export off)".into())
            }
            "outbound_proxy"
                if !s.outbound_proxy.is_empty()
                    && !["http://", "https://", "socks5://", "socks5h://"]
                        .iter()
                        .any(|p| s.outbound_proxy.starts_with(p)) =>
            {
                Err("must be an http://, https://, socks5:// or socks5h:// URL (or empty)".into())
            }
            "model_aliases" => s.model_aliases.iter().try_for_each(|a| {
                if a.pattern.trim().is_empty() || a.target.trim().is_empty() {
                    Err("an alias needs a pattern and a target".to_string())
                } else {
                    Ok(())
                }
            }),
            _ => Ok(()),
        }
    }

    /// Defaults overlaid with `entries` (invalid entries are skipped with a warning), then the
    /// `REQUIRE_API_KEY` environment variable when set.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a String, &'a Value)>,
        env_require_key: Option<bool>,
    ) -> Self {
        let mut base = match serde_json::to_value(Self::default()) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for (k, v) in entries {
            match Self::validate_entry(k, v) {
                Ok(()) => {
                    base.insert(k.clone(), v.clone());
                }
                Err(e) => {
                    tracing::warn!(setting = %k, error = %e, "ignoring invalid stored setting")
                }
            }
        }
        let mut s: GatewaySettings =
            serde_json::from_value(Value::Object(base)).unwrap_or_default();
        if let Some(on) = std::env::var("ENABLE_REQUEST_LOGS")
            .ok()
            .and_then(|v| parse_bool(&v))
        {
            s.request_bodies = on;
        }
        if let Some(req) = env_require_key {
            s.require_api_key = req;
        }
        s
    }
}

/// Parse a boolean environment value (`true/false/1/0/yes/no/on/off`).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overlay_and_validation() {
        let entries = [
            ("max_body_bytes".to_string(), json!(1024)),
            ("require_api_key".to_string(), json!("nope")),
        ];
        let s = GatewaySettings::from_entries(entries.iter().map(|(k, v)| (k, v)), None);
        assert_eq!(s.max_body_bytes, 1024);
        assert!(!s.require_api_key, "invalid entry skipped");
        let s = GatewaySettings::from_entries(std::iter::empty(), Some(true));
        assert!(s.require_api_key);
        assert!(GatewaySettings::validate_entry("colour", &json!(1)).is_err());
        assert!(GatewaySettings::validate_entry("idle_timeout_ms", &json!(-1)).is_err());
        assert!(GatewaySettings::keys().contains(&"idle_timeout_ms".to_string()));
        assert_eq!(parse_bool("On"), Some(true));
        assert_eq!(parse_bool("maybe"), None);
    }
}
