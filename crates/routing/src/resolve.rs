//! Model-name resolution: `alias/model` or `id/model` (custom node prefixes included), a bare model
//! id listed by exactly one configured provider, or a combo name.

use omniroute_providers::{ModelType, ProviderSpec};
use std::collections::HashMap;
use std::sync::Arc;

/// A combo as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComboDef {
    pub name: String,
    pub enabled: bool,
    pub models: Vec<String>,
}

/// Where a model name leads.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// One provider and the model id to send it.
    Provider {
        provider: Arc<ProviderSpec>,
        model: String,
    },
    /// A combo: its ordered steps, each itself a model name.
    Combo { name: String, steps: Vec<String> },
}

/// Why a model name did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("the `model` field is empty")]
    Empty,
    #[error("model `{0}` is not routable: no provider has prefix `{1}`; use `provider/model` (GET /v1/models lists what is routable)")]
    UnknownProvider(String, String),
    #[error(
        "model `{0}` is not routable: use `provider/model` (GET /v1/models lists what is routable)"
    )]
    UnknownModel(String),
    #[error("model `{0}` is ambiguous: it is served by {1}; use `provider/model`")]
    Ambiguous(String, String),
    #[error("combo `{0}` is disabled")]
    ComboDisabled(String),
    #[error("provider `{0}` is disabled")]
    ProviderDisabled(String),
}

/// An immutable index over providers (built-ins, custom nodes, custom models) and combos.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    providers: Vec<Arc<ProviderSpec>>,
    by_prefix: HashMap<String, usize>,
    bare: HashMap<String, Vec<usize>>,
    combos: HashMap<String, ComboDef>,
    disabled: Vec<bool>,
}

impl Resolver {
    /// `providers` are in precedence order: when an alias of one equals the id of another, the
    /// first wins. `disabled` lists provider ids switched off by the user.
    pub fn new(providers: Vec<ProviderSpec>, combos: Vec<ComboDef>, disabled: &[String]) -> Self {
        let providers: Vec<Arc<ProviderSpec>> = providers.into_iter().map(Arc::new).collect();
        let mut by_prefix = HashMap::new();
        let mut bare: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, p) in providers.iter().enumerate() {
            by_prefix.entry(p.alias.clone()).or_insert(i);
            by_prefix.entry(p.id.clone()).or_insert(i);
            for m in &p.models {
                let list = bare.entry(m.id.clone()).or_default();
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }
        let disabled = providers.iter().map(|p| disabled.contains(&p.id)).collect();
        let combos = combos.into_iter().map(|c| (c.name.clone(), c)).collect();
        Self {
            providers,
            by_prefix,
            bare,
            combos,
            disabled,
        }
    }

    pub fn providers(&self) -> &[Arc<ProviderSpec>] {
        &self.providers
    }

    pub fn provider(&self, id_or_alias: &str) -> Option<&Arc<ProviderSpec>> {
        self.by_prefix.get(id_or_alias).map(|i| &self.providers[*i])
    }

    pub fn is_disabled(&self, provider_id: &str) -> bool {
        self.providers
            .iter()
            .position(|p| p.id == provider_id)
            .map(|i| self.disabled[i])
            .unwrap_or(false)
    }

    pub fn combos(&self) -> impl Iterator<Item = &ComboDef> {
        self.combos.values()
    }

    /// Resolve `model`. `usable(provider_id)` says whether a provider can serve now (has an
    /// enabled connection); it breaks ties for bare model ids.
    pub fn resolve(
        &self,
        model: &str,
        usable: impl Fn(&str) -> bool,
    ) -> Result<Resolution, ResolveError> {
        let model = model.trim();
        if model.is_empty() {
            return Err(ResolveError::Empty);
        }
        if let Some(combo) = self.combos.get(model) {
            if !combo.enabled {
                return Err(ResolveError::ComboDisabled(combo.name.clone()));
            }
            return Ok(Resolution::Combo {
                name: combo.name.clone(),
                steps: combo.models.clone(),
            });
        }
        if let Some((prefix, rest)) = model.split_once('/') {
            if let Some(&i) = self.by_prefix.get(prefix) {
                if rest.is_empty() {
                    return Err(ResolveError::UnknownModel(model.to_string()));
                }
                return self.provider_resolution(i, rest);
            }
        }
        match self.bare.get(model).map(Vec::as_slice) {
            Some([i]) => self.provider_resolution(*i, model),
            Some(list) if !list.is_empty() => {
                let live: Vec<usize> = list
                    .iter()
                    .copied()
                    .filter(|i| !self.disabled[*i] && usable(&self.providers[*i].id))
                    .collect();
                match live.as_slice() {
                    [i] => self.provider_resolution(*i, model),
                    [] => self.provider_resolution(list[0], model),
                    many => Err(ResolveError::Ambiguous(
                        model.to_string(),
                        many.iter()
                            .map(|i| self.providers[*i].alias.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    )),
                }
            }
            _ => match model.split_once('/') {
                Some((prefix, _)) => Err(ResolveError::UnknownProvider(
                    model.to_string(),
                    prefix.to_string(),
                )),
                None => Err(ResolveError::UnknownModel(model.to_string())),
            },
        }
    }

    fn provider_resolution(&self, i: usize, model: &str) -> Result<Resolution, ResolveError> {
        if self.disabled[i] {
            return Err(ResolveError::ProviderDisabled(self.providers[i].id.clone()));
        }
        Ok(Resolution::Provider {
            provider: self.providers[i].clone(),
            model: model.to_string(),
        })
    }

    /// Every routable `(provider, model id, type)` triple plus combos, for model lists.
    pub fn routable_models(&self) -> impl Iterator<Item = (&ProviderSpec, &str, ModelType)> {
        self.providers
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.disabled[*i])
            .flat_map(|(_, p)| {
                p.models
                    .iter()
                    .map(move |m| (p.as_ref(), m.id.as_str(), m.kind))
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use omniroute_protocol::ApiFormat;
    use omniroute_providers::{AuthStyle, ModelSpec};

    fn spec(id: &str, alias: &str, models: &[&str]) -> ProviderSpec {
        ProviderSpec {
            id: id.into(),
            alias: alias.into(),
            name: id.into(),
            format: ApiFormat::Openai,
            base_url: "http://x".into(),
            auth: AuthStyle::Bearer,
            models_path: None,
            headers: Default::default(),
            website: None,
            models: models
                .iter()
                .map(|m| ModelSpec {
                    id: m.to_string(),
                    kind: ModelType::Chat,
                })
                .collect(),
            normalize: false,
            system_as_user: false,
            custom: false,
        }
    }

    fn resolver(disabled: &[String]) -> Resolver {
        Resolver::new(
            vec![
                spec("openai", "openai", &["gpt-4o"]),
                spec("deepseek", "ds", &["deepseek-chat"]),
                spec(
                    "openrouter",
                    "openrouter",
                    &["gpt-4o", "anthropic/claude-sonnet-4"],
                ),
            ],
            vec![ComboDef {
                name: "fast".into(),
                enabled: true,
                models: vec!["ds/deepseek-chat".into()],
            }],
            disabled,
        )
    }

    fn target(r: Result<Resolution, ResolveError>) -> (String, String) {
        match r.unwrap() {
            Resolution::Provider { provider, model } => (provider.id.clone(), model),
            other => panic!("not a provider: {other:?}"),
        }
    }

    #[test]
    fn prefix_alias_and_id() {
        let r = resolver(&[]);
        assert_eq!(
            target(r.resolve("ds/deepseek-chat", |_| true)),
            ("deepseek".into(), "deepseek-chat".into())
        );
        assert_eq!(
            target(r.resolve("deepseek/whatever", |_| true)),
            ("deepseek".into(), "whatever".into())
        );
        assert_eq!(
            target(r.resolve("openrouter/anthropic/claude-sonnet-4", |_| true)),
            ("openrouter".into(), "anthropic/claude-sonnet-4".into())
        );
    }

    #[test]
    fn bare_ids_use_the_usable_provider_or_report_ambiguity() {
        let r = resolver(&[]);
        assert_eq!(target(r.resolve("deepseek-chat", |_| false)).0, "deepseek");
        assert_eq!(
            target(r.resolve("gpt-4o", |p| p == "openrouter")).0,
            "openrouter"
        );
        assert!(matches!(
            r.resolve("gpt-4o", |_| true),
            Err(ResolveError::Ambiguous(..))
        ));
        assert_eq!(
            target(r.resolve("anthropic/claude-sonnet-4", |_| true)).0,
            "openrouter"
        );
    }

    #[test]
    fn errors_and_combos() {
        let r = resolver(&["deepseek".to_string()]);
        assert_eq!(r.resolve(" ", |_| true), Err(ResolveError::Empty));
        assert!(
            matches!(r.resolve("nope/x", |_| true), Err(ResolveError::UnknownProvider(_, p)) if p == "nope")
        );
        assert!(matches!(
            r.resolve("mystery", |_| true),
            Err(ResolveError::UnknownModel(_))
        ));
        assert!(matches!(
            r.resolve("ds/deepseek-chat", |_| true),
            Err(ResolveError::ProviderDisabled(_))
        ));
        assert!(
            matches!(r.resolve("fast", |_| true), Ok(Resolution::Combo { steps, .. }) if steps.len() == 1)
        );
        assert_eq!(
            r.routable_models()
                .filter(|(p, ..)| p.id == "deepseek")
                .count(),
            0
        );
    }
}
