//! Applying a parsed config file to the store: validate everything first (nothing is written when
//! any entry is wrong), then upsert each entry and remove rows an earlier apply created that the
//! file no longer lists. Rows created through the API or dashboard are never touched.

use crate::file::ConfigFile;
use crate::{ConfigError, GatewaySettings};
use omniroute_protocol::ApiFormat;
use omniroute_providers::{validate_spec_url, AuthStyle, Catalog, ModelType};
use omniroute_store::{
    Combo, ConnectionInput, ProviderModel, ProviderNode, ProviderSetting, Secret, Store,
    SOURCE_CONFIG,
};
use serde_json::Value;
use std::collections::HashSet;

/// Combo strategies the router understands (`-` and `_` are interchangeable).
pub use crate::settings::COMBO_STRATEGIES as STRATEGIES;

/// A strategy name in its canonical form (`round-robin` → `round_robin`), if it is known.
pub fn combo_strategy(name: &str) -> Option<String> {
    let n = name.trim().to_ascii_lowercase().replace('-', "_");
    let n = if n == "fill_first" {
        "priority".to_string()
    } else {
        n
    };
    STRATEGIES.contains(&n.as_str()).then_some(n)
}

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ApplySummary {
    pub settings: usize,
    pub providers: usize,
    pub nodes: usize,
    pub models: usize,
    pub connections: usize,
    pub combos: usize,
    pub keys: usize,
    pub removed: usize,
}

fn resolve_secret(
    value: &str,
    path: &str,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Secret, ConfigError> {
    match value.strip_prefix("env:") {
        Some(var) => env(var.trim())
            .filter(|v| !v.is_empty())
            .map(Secret::new)
            .ok_or_else(|| {
                ConfigError::at(
                    path,
                    format!("environment variable `{}` is not set", var.trim()),
                )
            }),
        None => Ok(Secret::new(value)),
    }
}

fn check_url(url: &str, path: &str) -> Result<String, ConfigError> {
    validate_spec_url(url).map_err(|m| ConfigError::at(path, m))?;
    Ok(url.trim_end_matches('/').to_string())
}

fn check_ident(s: &str, path: &str) -> Result<(), ConfigError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::at(
            path,
            format!("`{s}` must be 1-64 characters of [A-Za-z0-9._-]"),
        ))
    }
}

fn parse_auth(s: &str, path: &str) -> Result<AuthStyle, ConfigError> {
    serde_json::from_value(Value::String(s.to_string())).map_err(|_| {
        ConfigError::at(
            path,
            format!("unknown auth `{s}` (bearer, x-api-key, x-goog-api-key, token, none)"),
        )
    })
}

fn auth_name(a: AuthStyle) -> String {
    match serde_json::to_value(a) {
        Ok(Value::String(s)) => s,
        _ => "bearer".into(),
    }
}

/// Validate `cfg` completely, then write it. `env` looks up `env:VAR` references.
pub async fn apply(
    cfg: &ConfigFile,
    store: &Store,
    catalog: &Catalog,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<ApplySummary, ConfigError> {
    // ------------------------------------------------------------ prepare (no writes)
    let settings = cfg
        .settings
        .as_ref()
        .map(|s| s.entries())
        .unwrap_or_default();
    for (k, v) in &settings {
        GatewaySettings::validate_entry(k, v)
            .map_err(|e| ConfigError::at(format!("settings.{k}"), e))?;
    }

    let mut overrides = Vec::new();
    for (id, o) in &cfg.providers {
        let path = format!("providers.{id}");
        let spec = catalog
            .get(id)
            .ok_or_else(|| ConfigError::at(&path, format!("unknown provider `{id}`")))?;
        let base_url = o
            .base_url
            .as_deref()
            .map(|u| check_url(u, &format!("{path}.base_url")))
            .transpose()?;
        overrides.push(ProviderSetting {
            provider: spec.id.clone(),
            enabled: o.enabled,
            base_url,
            source: SOURCE_CONFIG.into(),
        });
    }

    let stored_nodes = store.list_nodes().await?;
    let mut nodes = Vec::new();
    let mut node_conns = Vec::new();
    let mut models = Vec::new();
    let mut prefixes = HashSet::new();
    for (i, n) in cfg.nodes.iter().enumerate() {
        let path = format!("nodes[{i}]");
        check_ident(&n.id, &format!("{path}.id"))?;
        let prefix = n.prefix.clone().unwrap_or_else(|| n.id.clone());
        check_ident(&prefix, &format!("{path}.prefix"))?;
        if catalog.get(&prefix).is_some() || catalog.get(&n.id).is_some() {
            return Err(ConfigError::at(
                &path,
                format!("`{prefix}` is already a built-in provider"),
            ));
        }
        if !prefixes.insert(prefix.clone()) {
            return Err(ConfigError::at(
                format!("{path}.prefix"),
                format!("duplicate prefix `{prefix}`"),
            ));
        }
        let format: ApiFormat = n
            .format
            .parse()
            .map_err(|e: String| ConfigError::at(format!("{path}.format"), e))?;
        let auth = match &n.auth {
            Some(a) => parse_auth(a, &format!("{path}.auth"))?,
            None => AuthStyle::default_for(format),
        };
        let base_url = check_url(&n.base_url, &format!("{path}.base_url"))?;
        nodes.push(ProviderNode {
            id: n.id.clone(),
            prefix,
            name: n.name.clone().unwrap_or_else(|| n.id.clone()),
            format: format.as_str().into(),
            base_url,
            auth: auth_name(auth),
            headers: serde_json::to_value(&n.headers).unwrap_or(Value::Null),
            source: SOURCE_CONFIG.into(),
        });
        let secret = n
            .api_key
            .as_deref()
            .map(|k| resolve_secret(k, &format!("{path}.api_key"), env))
            .transpose()?;
        // `api_key` is shorthand for a connection named `default`; without one the node's
        // connections are listed separately (or it is keyless and gets an implicit one)
        if secret.is_some() {
            node_conns.push(ConnectionInput {
                provider: n.id.clone(),
                name: "default".into(),
                priority: 0,
                enabled: true,
                secret,
                base_url: None,
                settings: Value::Object(Default::default()),
            });
        }
        for (j, m) in n.models.iter().enumerate() {
            if m.trim().is_empty() {
                return Err(ConfigError::at(
                    format!("{path}.models[{j}]"),
                    "empty model id",
                ));
            }
            models.push(ProviderModel {
                provider: n.id.clone(),
                model: m.clone(),
                kind: "chat".into(),
                source: SOURCE_CONFIG.into(),
            });
        }
    }

    // provider ids known after this apply: built-ins, nodes in the file, nodes created by the API
    let provider_id = |name: &str| -> Option<String> {
        if let Some(p) = catalog.get(name) {
            return Some(p.id.clone());
        }
        nodes
            .iter()
            .find(|n| n.id == name || n.prefix == name)
            .or_else(|| {
                stored_nodes
                    .iter()
                    .find(|n| n.source != SOURCE_CONFIG && (n.id == name || n.prefix == name))
            })
            .map(|n| n.id.clone())
    };

    for (i, m) in cfg.models.iter().enumerate() {
        let path = format!("models[{i}]");
        let provider = provider_id(&m.provider).ok_or_else(|| {
            ConfigError::at(
                format!("{path}.provider"),
                format!("unknown provider `{}`", m.provider),
            )
        })?;
        if ModelType::parse(&m.kind).is_none() {
            return Err(ConfigError::at(
                format!("{path}.type"),
                format!("unknown model type `{}`", m.kind),
            ));
        }
        if m.id.trim().is_empty() {
            return Err(ConfigError::at(format!("{path}.id"), "empty model id"));
        }
        models.push(ProviderModel {
            provider,
            model: m.id.clone(),
            kind: m.kind.clone(),
            source: SOURCE_CONFIG.into(),
        });
    }

    let mut conns = node_conns;
    for (i, c) in cfg.connections.iter().enumerate() {
        let path = format!("connections[{i}]");
        let provider = provider_id(&c.provider).ok_or_else(|| {
            ConfigError::at(
                format!("{path}.provider"),
                format!("unknown provider `{}`", c.provider),
            )
        })?;
        if c.name.trim().is_empty() {
            return Err(ConfigError::at(format!("{path}.name"), "empty name"));
        }
        if conns
            .iter()
            .any(|o| o.provider == provider && o.name == c.name)
        {
            return Err(ConfigError::at(
                format!("{path}.name"),
                format!("duplicate connection `{}`", c.name),
            ));
        }
        let secret = c
            .api_key
            .as_deref()
            .map(|k| resolve_secret(k, &format!("{path}.api_key"), env))
            .transpose()?;
        let base_url = c
            .base_url
            .as_deref()
            .map(|u| check_url(u, &format!("{path}.base_url")))
            .transpose()?;
        conns.push(ConnectionInput {
            provider,
            name: c.name.clone(),
            priority: c.priority,
            enabled: c.enabled,
            secret,
            base_url,
            settings: serde_json::to_value(&c.settings).unwrap_or(Value::Null),
        });
    }

    let mut combos = Vec::new();
    for (i, c) in cfg.combos.iter().enumerate() {
        let path = format!("combos[{i}]");
        check_ident(&c.name, &format!("{path}.name"))?;
        if c.models.is_empty() {
            return Err(ConfigError::at(
                format!("{path}.models"),
                "a combo needs at least one model",
            ));
        }
        let Some(strategy) = combo_strategy(&c.strategy) else {
            return Err(ConfigError::at(
                format!("{path}.strategy"),
                format!(
                    "unknown strategy `{}` (one of {})",
                    c.strategy,
                    STRATEGIES.join(", ")
                ),
            ));
        };
        if !c.weights.is_empty() && c.weights.len() != c.models.len() {
            return Err(ConfigError::at(
                format!("{path}.weights"),
                "`weights` must have one entry per model",
            ));
        }
        combos.push(Combo {
            id: String::new(),
            name: c.name.clone(),
            strategy,
            enabled: c.enabled,
            models: c.models.clone(),
            weights: c.weights.clone(),
            source: SOURCE_CONFIG.into(),
        });
    }

    let defs: Vec<omniroute_routing::ComboDef> = combos
        .iter()
        .map(|c| omniroute_routing::ComboDef::new(c.name.clone(), c.models.clone()))
        .collect();
    if let Some(path) = omniroute_routing::find_cycle(&defs) {
        return Err(ConfigError::at(
            "combos",
            format!("combos form a cycle: {}", path.join(" → ")),
        ));
    }

    let mut keys = Vec::new();
    for (i, k) in cfg.keys.iter().enumerate() {
        let path = format!("keys[{i}]");
        let value = resolve_secret(&k.key, &format!("{path}.key"), env)?;
        if value.expose().len() < 16 {
            return Err(ConfigError::at(
                format!("{path}.key"),
                "a gateway key must be at least 16 characters",
            ));
        }
        keys.push((k.name.clone(), value));
    }

    // ------------------------------------------------------------ write
    let mut s = ApplySummary::default();
    let stored_settings = store.settings().await?;
    for (k, v) in &settings {
        store.set_setting(k, v, SOURCE_CONFIG).await?;
        s.settings += 1;
    }
    for (k, (_, source)) in &stored_settings {
        if source == SOURCE_CONFIG && !settings.iter().any(|(n, _)| n == k) {
            store.delete_setting(k).await?;
            s.removed += 1;
        }
    }

    for o in &overrides {
        store.upsert_provider_setting(o).await?;
        s.providers += 1;
    }
    for o in store.list_provider_settings().await? {
        if o.source == SOURCE_CONFIG && !overrides.iter().any(|n| n.provider == o.provider) {
            store.delete_provider_setting(&o.provider).await?;
            s.removed += 1;
        }
    }

    for n in &nodes {
        store.upsert_node(n).await?;
        s.nodes += 1;
    }
    for n in &stored_nodes {
        if n.source == SOURCE_CONFIG && !nodes.iter().any(|m| m.id == n.id) {
            store.delete_node(&n.id).await?;
            s.removed += 1;
        }
    }

    for m in &models {
        store.upsert_model(m).await?;
        s.models += 1;
    }
    for m in store.list_models().await? {
        if m.source == SOURCE_CONFIG
            && !models
                .iter()
                .any(|n| n.provider == m.provider && n.model == m.model)
        {
            store.delete_model(&m.provider, &m.model).await?;
            s.removed += 1;
        }
    }

    for c in &conns {
        store.upsert_connection(c.clone(), SOURCE_CONFIG).await?;
        s.connections += 1;
    }
    for c in store.list_connections().await? {
        if c.source == SOURCE_CONFIG
            && !conns
                .iter()
                .any(|n| n.provider == c.provider && n.name == c.name)
        {
            store.delete_connection(&c.id).await?;
            s.removed += 1;
        }
    }

    for c in &combos {
        store.upsert_combo(c).await?;
        s.combos += 1;
    }
    for c in store.list_combos().await? {
        if c.source == SOURCE_CONFIG && !combos.iter().any(|n| n.name == c.name) {
            store.delete_combo(&c.id).await?;
            s.removed += 1;
        }
    }

    for (name, value) in &keys {
        store
            .import_key(name, value.expose(), SOURCE_CONFIG)
            .await?;
        s.keys += 1;
    }
    for k in store.list_keys().await? {
        if k.source == SOURCE_CONFIG && !keys.iter().any(|(n, _)| *n == k.name) {
            store.delete_key(&k.id).await?;
            s.removed += 1;
        }
    }
    Ok(s)
}
