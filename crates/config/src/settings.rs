//! Typed gateway settings: defaults, then the store's key/value rows, then environment overrides.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Every runtime setting the gateway reads. Stored as key/value rows; unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// A valid gateway key is mandatory on `/v1/*`.
    pub require_api_key: bool,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: u64,
    /// TCP+TLS connect timeout towards upstreams.
    pub connect_timeout_ms: u64,
    /// Time allowed until the upstream's response headers arrive.
    pub first_byte_timeout_ms: u64,
    /// Longest silence allowed between two chunks of an upstream body.
    pub idle_timeout_ms: u64,
    /// Request-log rows kept in the database.
    pub request_log_retention: i64,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            require_api_key: false,
            max_body_bytes: 32 * 1024 * 1024,
            connect_timeout_ms: 10_000,
            first_byte_timeout_ms: 300_000,
            idle_timeout_ms: 120_000,
            request_log_retention: 100_000,
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
        serde_json::from_value::<GatewaySettings>(Value::Object(m))
            .map(|_| ())
            .map_err(|e| e.to_string())
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
