//! Default prices of catalog models (the embedded `pricing.toml`, USD per million tokens, each
//! with where it was published). The owner's own entries override them.

use serde::Deserialize;

/// One model's published price.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultPrice {
    /// `provider-id/model-id` as in the catalog.
    pub model: String,
    pub input: f64,
    pub output: f64,
    /// Cache reads; `None` = priced as input.
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Reasoning tokens; `None` = priced as output.
    #[serde(default)]
    pub reasoning: Option<f64>,
    /// Where the figure was published.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PricingFile {
    #[serde(default)]
    price: Vec<DefaultPrice>,
}

const BUILTIN: &str = include_str!("../pricing.toml");

/// The built-in default prices. The file is checked by this crate's tests (parses, every model
/// in the catalog, prices finite and not negative), so a parse failure here cannot ship; it
/// still yields an empty table rather than a panic.
pub fn default_prices() -> Vec<DefaultPrice> {
    match toml::from_str::<PricingFile>(BUILTIN) {
        Ok(f) => f.price,
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::Catalog;
    use std::collections::HashSet;

    #[test]
    fn every_default_price_is_a_catalog_model_with_sane_figures() {
        let file: PricingFile = toml::from_str(BUILTIN).expect("pricing.toml parses");
        let catalog = Catalog::builtin().unwrap();
        let mut seen = HashSet::new();
        for p in &file.price {
            assert!(seen.insert(p.model.as_str()), "{} twice", p.model);
            let (provider, model) = p.model.split_once('/').expect("provider/model");
            let spec = catalog
                .get(provider)
                .unwrap_or_else(|| panic!("{}: no provider {provider}", p.model));
            assert!(
                spec.models.iter().any(|m| m.id == model),
                "{}: not a model of {provider} in the catalog",
                p.model
            );
            for v in [Some(p.input), Some(p.output), p.cached_input, p.reasoning]
                .into_iter()
                .flatten()
            {
                assert!(
                    v.is_finite() && (0.0..=1000.0).contains(&v),
                    "{}: {v}",
                    p.model
                );
            }
            assert!(!p.source.trim().is_empty(), "{}: no source", p.model);
        }
        assert_eq!(default_prices().len(), file.price.len());
    }
}
