//! The provider catalog as data (embedded `catalog.toml` plus user-defined custom nodes) and the
//! pure parts of talking to a provider: endpoint URLs and authentication headers. No IO, no routing.

pub mod catalog;
pub mod pricing;
pub mod upstream;

pub use catalog::{
    validate_spec, validate_spec_url, AuthStyle, Catalog, CatalogError, ModelSpec, ModelType,
    ProviderSpec,
};
pub use pricing::{default_prices, DefaultPrice};
