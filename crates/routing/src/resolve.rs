//! Model-name resolution: combo name, `alias/model` or `id/model` (custom node prefixes
//! included), wildcard aliases (`*`/`?`, `provider/*` targets), a bare model id listed by exactly
//! one configured provider, then the global fallback chain; combo expansion (nested combos
//! flattened to leaf steps) and save-time cycle detection.

use crate::strategy::Strategy;
use omniroute_providers::{ModelType, ProviderSpec};
use std::collections::HashMap;
use std::sync::Arc;

/// The combo name under which [`Resolver::resolve`] returns the global fallback chain.
pub const FALLBACK_COMBO: &str = "fallback";

/// How many alias hops / nested combo levels resolution follows before giving up.
pub const MAX_DEPTH: usize = 8;

/// A combo as routing sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComboDef {
    pub name: String,
    pub enabled: bool,
    /// Ordered steps, each a model name (possibly another combo).
    pub models: Vec<String>,
    /// `None`: the global default strategy.
    pub strategy: Option<Strategy>,
    /// Parallel to `models`; empty (or missing entries) = 1.
    pub weights: Vec<u32>,
    /// Round-robin stickiness; `None`: [`crate::strategy::DEFAULT_COMBO_STICKY`].
    pub sticky_limit: Option<u32>,
}

impl ComboDef {
    /// An enabled combo with default strategy, weights and stickiness.
    pub fn new(name: impl Into<String>, models: Vec<String>) -> Self {
        Self {
            name: name.into(),
            enabled: true,
            models,
            ..Default::default()
        }
    }

    /// The weight of step `i` (1 when not given).
    pub fn weight(&self, i: usize) -> u32 {
        self.weights.get(i).copied().unwrap_or(1)
    }
}

/// Where a model name leads.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// One provider and the model id to send it.
    Provider {
        provider: Arc<ProviderSpec>,
        model: String,
    },
    /// A combo: its ordered steps, each itself a model name. The global fallback chain is
    /// returned as a combo named [`FALLBACK_COMBO`].
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

/// One leaf of an expanded combo.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub provider: Arc<ProviderSpec>,
    /// The upstream model id.
    pub model: String,
    /// The combo names this leaf came through, outermost first (empty for a plain model).
    pub path: Arc<[String]>,
    /// Index of the top-level combo entry this leaf came from (its own index when direct).
    pub entry: usize,
    /// That top-level entry's weight.
    pub weight: u32,
}

/// Why a combo step was left out of an expansion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    /// The step does not resolve (unknown, ambiguous, disabled provider or combo).
    #[error(transparent)]
    Unresolvable(ResolveError),
    /// The step leads back to a combo already on the path (the cycle, closed).
    #[error("combo cycle: {}", .0.join(" → "))]
    Cycle(Vec<String>),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("combos nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// A step that [`Resolver::expand`] skipped, for the caller's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The step's model name as written in its combo.
    pub step: String,
    /// The combo names leading to it, outermost first.
    pub path: Vec<String>,
    pub reason: SkipReason,
}

/// A flattened combo: leaf steps in definition order (depth first, duplicates of an earlier
/// provider + model dropped) and the skipped steps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expansion {
    pub steps: Vec<Step>,
    pub skipped: Vec<Skipped>,
}

/// An immutable index over providers (built-ins, custom nodes, custom models), combos, wildcard
/// aliases and the global fallback chain.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    providers: Vec<Arc<ProviderSpec>>,
    by_prefix: HashMap<String, usize>,
    bare: HashMap<String, Vec<usize>>,
    combos: HashMap<String, ComboDef>,
    disabled: Vec<bool>,
    aliases: Vec<(String, String)>,
    fallback: Vec<String>,
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
            aliases: Vec::new(),
            fallback: Vec::new(),
        }
    }

    /// Wildcard aliases `(pattern, target)`, tried in order after the `provider/` prefix and
    /// before bare ids. `*` matches any characters, `?` one character, against the whole name.
    /// The target is a model name resolved again (at most [`MAX_DEPTH`] hops); `provider/*`
    /// sends the requested name unchanged to that provider.
    pub fn with_aliases(mut self, aliases: Vec<(String, String)>) -> Self {
        self.aliases = aliases;
        self
    }

    /// The global fallback chain: model names used when nothing else resolves (unknown model
    /// or provider prefix; not for ambiguous names or disabled targets).
    pub fn with_fallback(mut self, fallback: Vec<String>) -> Self {
        self.fallback = fallback;
        self
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

    pub fn combo(&self, name: &str) -> Option<&ComboDef> {
        self.combos.get(name)
    }

    pub fn aliases(&self) -> &[(String, String)] {
        &self.aliases
    }

    pub fn fallback(&self) -> &[String] {
        &self.fallback
    }

    /// Resolve `model`: `provider/model` prefix → wildcard alias → combo name → bare model id →
    /// global fallback chain (as a combo named [`FALLBACK_COMBO`]). `usable(provider_id)` says
    /// whether a provider can serve now (has an enabled connection); it breaks ties for bare ids.
    pub fn resolve(
        &self,
        model: &str,
        usable: impl Fn(&str) -> bool,
    ) -> Result<Resolution, ResolveError> {
        let model = model.trim();
        if model.is_empty() {
            return Err(ResolveError::Empty);
        }
        match self.resolve_at(model, &usable, 0) {
            Err(ResolveError::UnknownModel(_) | ResolveError::UnknownProvider(..))
                if !self.fallback.is_empty() =>
            {
                Ok(Resolution::Combo {
                    name: FALLBACK_COMBO.to_string(),
                    steps: self.fallback.clone(),
                })
            }
            r => r,
        }
    }

    /// Whether a wildcard alias matches `model` (aliases take precedence over combo names).
    pub fn has_alias(&self, model: &str) -> bool {
        self.aliases.iter().any(|(p, _)| glob(p, model))
    }

    /// Resolution without the fallback chain, `depth` alias hops deep: `provider/model`
    /// (custom-node prefixes included), then a wildcard alias, then a combo name, then a bare
    /// model id.
    fn resolve_at(
        &self,
        model: &str,
        usable: &dyn Fn(&str) -> bool,
        depth: usize,
    ) -> Result<Resolution, ResolveError> {
        if let Some((prefix, rest)) = model.split_once('/') {
            if let Some(&i) = self.by_prefix.get(prefix) {
                if rest.is_empty() {
                    return Err(ResolveError::UnknownModel(model.to_string()));
                }
                return self.provider_resolution(i, rest);
            }
        }
        if let Some((_, target)) = self.aliases.iter().find(|(p, _)| glob(p, model)) {
            if depth >= MAX_DEPTH {
                return Err(ResolveError::UnknownModel(model.to_string()));
            }
            if let Some(prefix) = target.strip_suffix("/*") {
                if let Some(&i) = self.by_prefix.get(prefix) {
                    return self.provider_resolution(i, model);
                }
            }
            return self.resolve_at(target.trim(), usable, depth + 1);
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

    /// Resolve `model` and flatten it into leaf steps: a plain model gives one step; a combo
    /// (or the fallback chain) gives its steps depth first, nested combos expanded in place.
    /// Disabled providers/combos, unresolvable steps, cycles and over-deep nesting are skipped
    /// and reported in [`Expansion::skipped`]. Fails only when `model` itself does not resolve.
    pub fn expand(
        &self,
        model: &str,
        usable: impl Fn(&str) -> bool,
    ) -> Result<Expansion, ResolveError> {
        let mut out = Expansion::default();
        match self.resolve(model, &usable)? {
            Resolution::Provider { provider, model } => out.steps.push(Step {
                provider,
                model,
                path: Arc::from(Vec::new()),
                entry: 0,
                weight: 1,
            }),
            Resolution::Combo { name, steps } => {
                let mut path = vec![name];
                self.walk(&steps, &mut path, None, &usable, &mut out);
            }
        }
        Ok(out)
    }

    fn walk(
        &self,
        steps: &[String],
        path: &mut Vec<String>,
        entry: Option<(usize, u32)>,
        usable: &dyn Fn(&str) -> bool,
        out: &mut Expansion,
    ) {
        let shared: Arc<[String]> = Arc::from(path.as_slice());
        let combo = path.last().and_then(|n| self.combos.get(n));
        for (i, step) in steps.iter().enumerate() {
            let (entry, weight) = entry.unwrap_or_else(|| (i, combo.map_or(1, |c| c.weight(i))));
            let skip = |reason| Skipped {
                step: step.clone(),
                path: path.clone(),
                reason,
            };
            match self.resolve_at(step.trim(), usable, 0) {
                Ok(Resolution::Provider { provider, model }) => {
                    let dup = out
                        .steps
                        .iter()
                        .any(|s| s.provider.id == provider.id && s.model == model);
                    if !dup {
                        out.steps.push(Step {
                            provider,
                            model,
                            path: shared.clone(),
                            entry,
                            weight,
                        });
                    }
                }
                Ok(Resolution::Combo { name, steps: inner }) => {
                    if let Some(pos) = path.iter().position(|p| *p == name) {
                        let mut cycle = path[pos..].to_vec();
                        cycle.push(name);
                        let s = skip(SkipReason::Cycle(cycle));
                        out.skipped.push(s);
                    } else if path.len() >= MAX_DEPTH {
                        let s = skip(SkipReason::TooDeep);
                        out.skipped.push(s);
                    } else {
                        path.push(name);
                        self.walk(&inner, path, Some((entry, weight)), usable, out);
                        path.pop();
                    }
                }
                Err(e) => {
                    let s = skip(SkipReason::Unresolvable(e));
                    out.skipped.push(s);
                }
            }
        }
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

/// The first cycle among combos referencing combos by name (disabled ones included), as the
/// closed path (`["a", "b", "a"]`); for rejecting a save. Iterative: deep chains cannot
/// overflow the stack.
pub fn find_cycle(combos: &[ComboDef]) -> Option<Vec<String>> {
    let index: HashMap<&str, usize> = combos
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = combos
        .iter()
        .map(|c| {
            c.models
                .iter()
                .filter_map(|m| index.get(m.trim()).copied())
                .collect()
        })
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut color = vec![0u8; combos.len()];
    for root in 0..combos.len() {
        if color[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        color[root] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&child) = edges[node].get(*next) {
                *next += 1;
                match color[child] {
                    0 => {
                        color[child] = 1;
                        stack.push((child, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(n, _)| *n == child).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[from..]
                            .iter()
                            .map(|(n, _)| combos[*n].name.clone())
                            .collect();
                        cycle.push(combos[child].name.clone());
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                color[node] = 2;
                stack.pop();
            }
        }
    }
    None
}

/// Whole-string glob: `*` any characters (including none), `?` exactly one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let char_len = |b: u8| match b {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    };
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(b'?') => {
                pi += 1;
                ti += char_len(t[ti]);
            }
            Some(c) if *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    let next = st + char_len(t[st]);
                    star = Some((sp, next));
                    pi = sp + 1;
                    ti = next;
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|b| *b == b'*')
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
                ..Default::default()
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

    fn combo(name: &str, models: &[&str]) -> ComboDef {
        ComboDef::new(name, models.iter().map(|m| m.to_string()).collect())
    }

    fn full(combos: Vec<ComboDef>, disabled: &[String]) -> Resolver {
        Resolver::new(
            vec![
                spec("openai", "openai", &["gpt-4o"]),
                spec("deepseek", "ds", &["deepseek-chat"]),
                spec(
                    "openrouter",
                    "openrouter",
                    &["gpt-4o", "anthropic/claude-sonnet-4"],
                ),
                spec("anthropic", "claude", &["claude-sonnet-4"]),
            ],
            combos,
            disabled,
        )
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn glob_patterns() {
        assert!(glob("*", ""));
        assert!(glob("*", "anything"));
        assert!(glob("gpt-*", "gpt-4o"));
        assert!(!glob("gpt-*", "xgpt-4o"));
        assert!(glob("gpt-?o", "gpt-4o"));
        assert!(!glob("gpt-?o", "gpt-4oo"));
        assert!(glob("*sonnet*", "claude-3-7-sonnet-latest"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("??", "é1"));
        assert!(!glob("?", "é1"));
        assert!(glob("*é", "caféé"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(glob("**x", "x"));
    }

    #[test]
    fn wildcard_aliases_in_order_with_provider_star() {
        let r = full(vec![combo("fast", &["ds/deepseek-chat"])], &[]).with_aliases(pairs(&[
            ("gpt-*", "openrouter/*"),
            ("*sonnet*", "claude/claude-sonnet-4"),
            ("cheap", "fast"),
            ("g?", "openai/gpt-4o"),
            ("*", "ds/deepseek-chat"),
        ]));
        // `gpt-4o` is a bare id of two providers, but the alias comes first.
        assert_eq!(
            target(r.resolve("gpt-4o", |_| true)),
            ("openrouter".into(), "gpt-4o".into())
        );
        assert_eq!(
            target(r.resolve("gpt-5-mini", |_| true)),
            ("openrouter".into(), "gpt-5-mini".into())
        );
        assert_eq!(
            target(r.resolve("my-sonnet-alias", |_| true)),
            ("anthropic".into(), "claude-sonnet-4".into())
        );
        assert_eq!(target(r.resolve("g1", |_| true)).1, "gpt-4o");
        // The order: `provider/model`, then aliases, then combo names — so a catch-all
        // alias shadows combo names, and an alias pointing at a combo meets the catch-all too.
        assert_eq!(target(r.resolve("cheap", |_| true)).0, "deepseek");
        assert_eq!(target(r.resolve("fast", |_| true)).0, "deepseek");
        let narrow = full(vec![combo("fast", &["ds/deepseek-chat"])], &[])
            .with_aliases(pairs(&[("cheap", "fast")]));
        assert!(
            matches!(narrow.resolve("cheap", |_| true), Ok(Resolution::Combo { name, .. }) if name == "fast")
        );
        assert!(matches!(
            narrow.resolve("fast", |_| true),
            Ok(Resolution::Combo { .. })
        ));
        assert!(narrow.has_alias("cheap") && !narrow.has_alias("fast"));
        assert_eq!(
            target(r.resolve("openai/gpt-4o", |_| true)).0,
            "openai".to_string()
        );
        // Catch-all.
        assert_eq!(target(r.resolve("mystery", |_| true)).0, "deepseek");
        assert_eq!(r.aliases().len(), 5);
    }

    #[test]
    fn alias_loops_are_depth_limited() {
        let r = full(vec![], &[]).with_aliases(pairs(&[("a*", "ab"), ("x", "y"), ("y", "x")]));
        assert!(matches!(
            r.resolve("abc", |_| true),
            Err(ResolveError::UnknownModel(_))
        ));
        assert!(matches!(
            r.resolve("x", |_| true),
            Err(ResolveError::UnknownModel(_))
        ));
        // A disabled alias target reports the provider.
        let r = full(vec![], &["openrouter".to_string()])
            .with_aliases(pairs(&[("gpt-*", "openrouter/*")]));
        assert_eq!(
            r.resolve("gpt-4o", |_| true),
            Err(ResolveError::ProviderDisabled("openrouter".into()))
        );
    }

    #[test]
    fn fallback_chain_when_nothing_resolves() {
        let r = full(vec![], &["openai".to_string()])
            .with_fallback(vec!["ds/deepseek-chat".into(), "openai/gpt-4o".into()]);
        assert_eq!(
            r.resolve("mystery", |_| true),
            Ok(Resolution::Combo {
                name: FALLBACK_COMBO.into(),
                steps: vec!["ds/deepseek-chat".into(), "openai/gpt-4o".into()],
            })
        );
        assert!(matches!(
            r.resolve("nope/x", |_| true),
            Ok(Resolution::Combo { .. })
        ));
        // Not for explicit errors.
        assert!(matches!(
            r.resolve("openai/gpt-4o", |_| true),
            Err(ResolveError::ProviderDisabled(_))
        ));
        assert!(matches!(
            r.resolve("gpt-4o", |_| true),
            Ok(Resolution::Provider { .. })
        ));
        assert_eq!(r.resolve("", |_| true), Err(ResolveError::Empty));
        let e = r.expand("mystery", |_| true).unwrap();
        assert_eq!(e.steps.len(), 1);
        assert_eq!(&*e.steps[0].path, &["fallback".to_string()]);
        assert!(matches!(
            &e.skipped[0].reason,
            SkipReason::Unresolvable(ResolveError::ProviderDisabled(p)) if p == "openai"
        ));
        assert_eq!(r.fallback().len(), 2);
    }

    #[test]
    fn expand_nested_combos() {
        let mut outer = combo(
            "outer",
            &[
                "inner",
                "ds/deepseek-chat",
                "off",
                "nope/x",
                "loop",
                "gpt-4o",
            ],
        );
        outer.weights = vec![5, 2];
        outer.strategy = Some(Strategy::Weighted);
        let mut off = combo("off", &["openai/gpt-4o"]);
        off.enabled = false;
        let combos = vec![
            outer,
            combo(
                "inner",
                &[
                    "openai/gpt-4o",
                    "claude/claude-sonnet-4",
                    "ds/deepseek-chat",
                ],
            ),
            off,
            combo("loop", &["loop2"]),
            combo("loop2", &["loop", "openrouter/x"]),
        ];
        let r = full(combos, &["anthropic".to_string()]);
        let e = r.expand("outer", |p| p == "openai").unwrap();
        let leaves: Vec<_> = e
            .steps
            .iter()
            .map(|s| {
                (
                    s.provider.id.as_str(),
                    s.model.as_str(),
                    s.path.join(">"),
                    s.entry,
                    s.weight,
                )
            })
            .collect();
        assert_eq!(
            leaves,
            vec![
                ("openai", "gpt-4o", "outer>inner".to_string(), 0, 5),
                ("deepseek", "deepseek-chat", "outer>inner".to_string(), 0, 5),
                ("openrouter", "x", "outer>loop>loop2".to_string(), 4, 1),
            ],
            "duplicates (ds twice, gpt-4o via openai) dropped"
        );
        let reasons: Vec<_> = e
            .skipped
            .iter()
            .map(|s| (s.step.as_str(), s.reason.to_string()))
            .collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert_eq!(e.skipped[0].path, vec!["outer", "inner"]);
        assert!(matches!(
            e.skipped[0].reason,
            SkipReason::Unresolvable(ResolveError::ProviderDisabled(_))
        ));
        assert!(matches!(
            e.skipped[1].reason,
            SkipReason::Unresolvable(ResolveError::ComboDisabled(_))
        ));
        assert!(matches!(
            e.skipped[2].reason,
            SkipReason::Unresolvable(ResolveError::UnknownProvider(..))
        ));
        assert_eq!(
            e.skipped[3].reason,
            SkipReason::Cycle(vec!["loop".into(), "loop2".into(), "loop".into()])
        );
        assert_eq!(r.combo("outer").unwrap().weight(3), 1);
        // A plain model expands to itself; errors of the top level are returned.
        let one = r.expand("ds/deepseek-chat", |_| true).unwrap();
        assert_eq!((one.steps.len(), one.steps[0].path.len()), (1, 0));
        assert_eq!(
            r.expand("off", |_| true),
            Err(ResolveError::ComboDisabled("off".into()))
        );
    }

    #[test]
    fn expand_depth_limit() {
        let combos: Vec<_> = (0..12)
            .map(|i| {
                combo(
                    &format!("c{i}"),
                    &[&format!("c{}", i + 1), "ds/deepseek-chat"],
                )
            })
            .collect();
        let r = full(combos, &[]);
        let e = r.expand("c0", |_| true).unwrap();
        assert_eq!(e.steps.len(), 1);
        assert_eq!(e.skipped.len(), 1);
        assert_eq!(e.skipped[0].reason, SkipReason::TooDeep);
        assert_eq!(e.skipped[0].path.len(), MAX_DEPTH);
    }

    #[test]
    fn cycles_found_at_save_time() {
        assert_eq!(find_cycle(&[]), None);
        let ok = [
            combo("a", &["b", "ds/deepseek-chat"]),
            combo("b", &["c"]),
            combo("c", &["gpt-4o"]),
            combo("d", &["b", "c"]),
        ];
        assert_eq!(find_cycle(&ok), None);
        let bad = [
            combo("a", &["b"]),
            combo("b", &["x", "c"]),
            combo("c", &["a"]),
        ];
        assert_eq!(
            find_cycle(&bad),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert_eq!(
            find_cycle(&[combo("self", &["self"])]),
            Some(vec!["self".into(), "self".into()])
        );
        let mut off = combo("q", &["p"]);
        off.enabled = false;
        assert!(find_cycle(&[off, combo("p", &["q"])]).is_some());
        // A long chain does not overflow the stack.
        let chain: Vec<_> = (0..50_000)
            .map(|i| combo(&format!("n{i}"), &[&format!("n{}", i + 1)]))
            .collect();
        assert_eq!(find_cycle(&chain), None);
    }

    #[test]
    fn combo_def_defaults() {
        let c = ComboDef::new("x", vec!["a".into(), "b".into()]);
        assert!(c.enabled);
        assert_eq!((c.weight(0), c.weight(1)), (1, 1));
        assert_eq!((c.strategy, c.sticky_limit), (None, None));
    }
}
