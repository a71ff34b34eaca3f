//! Persistence: the embedded SQLite store (a PostgreSQL backend slots in behind the same API; all
//! SQL is written with portable `$N` placeholders), migrations, secret encryption and key hashing.
//! Never called synchronously on the request hot path: handlers read the live snapshot and the
//! request log goes through a bounded channel to a batch writer.

pub mod analytics;
pub mod crypto;
mod logblock;
mod logdb;
pub mod logs;
mod migrations;
pub mod records;
mod requests;
mod store;

pub use analytics::{AnalyticsQuery, AnalyticsRow, Bucket, GroupBy, KeyUsage};
pub use crypto::{hash_api_key, Cipher, Secret};
pub use logdb::LOG_ROW_OVERHEAD;
pub use logs::{AttemptLog, LogWriter, RequestLog, Retention, USER_AGENT_MAX_CHARS};
pub use records::*;
pub use requests::LogQuery;
pub use store::{masked, Store};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("secret encryption error: {0}")]
    Crypto(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("invalid data: {0}")]
    Invalid(String),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new random id with a readable prefix (`conn_3f2a...`).
pub fn new_id(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 17);
    s.push_str(prefix);
    s.push('_');
    s.push_str(&uuid::Uuid::new_v4().simple().to_string()[..16]);
    s
}
