//! Row types returned and accepted by the store.

use crate::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a row came from: the management API/dashboard, or the declarative config file.
pub const SOURCE_API: &str = "api";
pub const SOURCE_CONFIG: &str = "config";
/// A default price shipped with the catalog (not stored).
pub const SOURCE_DEFAULT: &str = "default";

/// One account or key of a provider.
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    pub id: String,
    pub provider: String,
    pub name: String,
    pub priority: i64,
    pub enabled: bool,
    #[serde(skip)]
    pub secret: Option<Secret>,
    pub base_url: Option<String>,
    pub settings: Value,
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Fields to create or replace a connection.
#[derive(Debug, Clone, Default)]
pub struct ConnectionInput {
    pub provider: String,
    pub name: String,
    pub priority: i64,
    pub enabled: bool,
    pub secret: Option<Secret>,
    pub base_url: Option<String>,
    pub settings: Value,
}

/// A partial update; `None` leaves a field as it is. `secret: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ConnectionPatch {
    pub name: Option<String>,
    pub priority: Option<i64>,
    pub enabled: Option<bool>,
    pub secret: Option<Option<Secret>>,
    pub base_url: Option<Option<String>>,
    pub settings: Option<Value>,
}

/// A user-defined provider at any base URL.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProviderNode {
    pub id: String,
    pub prefix: String,
    pub name: String,
    pub format: String,
    pub base_url: String,
    pub auth: String,
    pub headers: Value,
    #[serde(default = "default_source")]
    pub source: String,
}

/// A model id added to a provider at run time.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProviderModel {
    pub provider: String,
    pub model: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default = "default_source")]
    pub source: String,
}

/// The price of a model in USD per million tokens. `model` is `provider/model` or a bare model
/// id (matching that id at every provider).
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelPrice {
    pub model: String,
    pub input_per_m: f64,
    pub output_per_m: f64,
    /// Cache reads; `None` = priced as input.
    #[serde(default)]
    pub cached_input_per_m: Option<f64>,
    /// Reasoning tokens; `None` = priced as output.
    #[serde(default)]
    pub reasoning_per_m: Option<f64>,
    /// `api`, `config` or `default` (a published price shipped with the catalog).
    #[serde(default = "default_source")]
    pub source: String,
    /// Where a default price was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A spending budget: per gateway key (`key_id`) or per combo step (`combo` + `step`, the
/// step as `provider/model`), over a `day`, `week` or `month`.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Budget {
    pub id: String,
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub combo: Option<String>,
    #[serde(default)]
    pub step: Option<String>,
    pub limit_usd: f64,
    pub period: String,
}

/// One management action, as the audit log keeps it.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEntry {
    #[serde(default)]
    pub id: i64,
    pub ts: i64,
    /// Who acted: `session:<id>`, `admin-token`, `admin-key:<id>`, `loopback` (with
    /// `require_login` off), or `anonymous` for a login attempt.
    pub actor: String,
    pub ip: Option<String>,
    /// `POST`, `PUT`, `PATCH`, `DELETE`.
    pub action: String,
    /// The API path acted on.
    pub target: String,
    pub status: u16,
    pub detail: Option<String>,
}

/// A user override of a built-in provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProviderSetting {
    pub provider: String,
    pub enabled: bool,
    pub base_url: Option<String>,
    #[serde(default = "default_source")]
    pub source: String,
}

/// A named, ordered list of models usable as one model name.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Combo {
    pub id: String,
    pub name: String,
    pub strategy: String,
    pub enabled: bool,
    pub models: Vec<String>,
    /// Weights parallel to `models` (`weighted` strategy); empty = equal.
    #[serde(default)]
    pub weights: Vec<u32>,
    #[serde(default = "default_source")]
    pub source: String,
}

/// A gateway API key as listed (never the key itself).
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub key_hash: String,
    /// `sk-or-ab…wxyz`
    pub masked: String,
    pub source: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub request_count: i64,
    /// After this time (ms) the key is refused.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Model patterns the key may use (`openai/*`, `cc/claude-*`, a combo name); `None` = all.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// Requests per minute the key may make; `None` = unlimited.
    #[serde(default)]
    pub rpm: Option<u32>,
    /// When the secret was last replaced.
    #[serde(default)]
    pub rotated_at: Option<i64>,
    /// `gateway` (for `/v1`) or `admin` (for `/api`, automation).
    pub kind: String,
}

/// What a key may do besides existing: expiry, model patterns, rate limit.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLimits {
    pub expires_at: Option<i64>,
    pub models: Option<Vec<String>>,
    pub rpm: Option<u32>,
}

fn default_source() -> String {
    SOURCE_API.to_string()
}

/// The dashboard password (an Argon2id PHC string) and whether it must be changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRecord {
    pub password_hash: String,
    pub must_change: bool,
    pub updated_at: i64,
}

/// A dashboard session as stored: the hash of its id (the id itself only travels in the signed
/// cookie), its lifetime and where it was opened.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}
