//! Declarative configuration (`omniroute.toml` or `.yaml`) and the typed gateway settings:
//! strict parsing (unknown keys are errors naming their path), `env:VAR` secret references,
//! validation before anything is written, and an idempotent apply to the store.

pub mod apply;
mod file;
pub mod settings;

pub use apply::{apply, ApplySummary};
pub use file::{load, parse, ConfigFile, Format};
pub use settings::{GatewaySettings, IpRateLimit, ModelAlias, RateLimitSetting};

/// A configuration problem, always naming where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("cannot read config file {0}: {1}")]
    Io(String, std::io::Error),
    #[error("store error while applying config: {0}")]
    Store(#[from] omniroute_store::StoreError),
}

impl ConfigError {
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}
