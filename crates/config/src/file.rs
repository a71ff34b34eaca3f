//! The configuration file's schema and its strict parser (TOML or YAML).

use crate::{ConfigError, GatewaySettings};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The whole file. Every table refuses unknown keys.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Gateway settings (see [`GatewaySettings`]); only the keys given are managed by the file.
    #[serde(default)]
    pub settings: Option<SettingsSection>,
    /// Overrides of built-in providers, by provider id.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderOverride>,
    #[serde(default)]
    pub connections: Vec<ConnectionCfg>,
    #[serde(default)]
    pub nodes: Vec<NodeCfg>,
    #[serde(default)]
    pub models: Vec<ModelCfg>,
    #[serde(default)]
    pub combos: Vec<ComboCfg>,
    #[serde(default)]
    pub keys: Vec<KeyCfg>,
}

/// `[settings]`: any keys of [`GatewaySettings`]; only the keys given are managed by the file.
/// Each entry is checked when the file is parsed (unknown keys and bad values are errors that
/// name the key).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsSection(pub BTreeMap<String, serde_json::Value>);

impl<'de> Deserialize<'de> for SettingsSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let map = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        for (k, v) in &map {
            if !GatewaySettings::keys().contains(k) {
                return Err(D::Error::custom(format!("unknown setting `{k}`")));
            }
            GatewaySettings::validate_entry(k, v)
                .map_err(|e| D::Error::custom(format!("{k}: {e}")))?;
        }
        Ok(Self(map))
    }
}

impl SettingsSection {
    /// The given keys as JSON values, in the store's key/value form.
    pub fn entries(&self) -> Vec<(String, serde_json::Value)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderOverride {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub base_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectionCfg {
    /// Provider id or alias (built-in or custom node).
    pub provider: String,
    pub name: String,
    /// The key or token, inline or `env:VAR`.
    pub api_key: Option<String>,
    #[serde(default)]
    pub priority: i64,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub base_url: Option<String>,
    #[serde(default)]
    pub settings: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeCfg {
    pub id: String,
    /// Model-name prefix; defaults to the id.
    pub prefix: Option<String>,
    pub name: Option<String>,
    /// openai | anthropic | gemini | responses
    pub format: String,
    pub base_url: String,
    /// bearer | x-api-key | x-goog-api-key | token | none; defaults to the format's usual one.
    pub auth: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Shorthand: a key for this node, creating a connection named `default`.
    pub api_key: Option<String>,
    /// Model ids served by this node.
    #[serde(default)]
    pub models: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelCfg {
    pub provider: String,
    pub id: String,
    #[serde(rename = "type", default = "chat")]
    pub kind: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ComboCfg {
    pub name: String,
    pub models: Vec<String>,
    #[serde(default = "priority")]
    pub strategy: String,
    /// Weights parallel to `models` (`weighted` strategy); empty = equal.
    #[serde(default)]
    pub weights: Vec<u32>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyCfg {
    pub name: String,
    /// The key value, inline or `env:VAR` (at least 16 characters).
    pub key: String,
}

fn yes() -> bool {
    true
}
fn chat() -> String {
    "chat".into()
}
fn priority() -> String {
    "priority".into()
}

/// The syntax of a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
}

impl Format {
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Format::Yaml,
            _ => Format::Toml,
        }
    }
}

/// Parse text; errors name the offending path (`connections[1].api_key: unknown field ...`).
pub fn parse(text: &str, format: Format) -> Result<ConfigFile, ConfigError> {
    let located = |path: String, msg: String| {
        let path = if path.is_empty() || path == "." {
            "config".to_string()
        } else {
            path
        };
        // a bad `[settings]` entry names its key: report it as part of the path
        if path == "settings" {
            if let Some((key, rest)) = msg.split_once(": ") {
                if GatewaySettings::keys().iter().any(|k| k == key) {
                    return ConfigError::at(format!("settings.{key}"), rest.to_string());
                }
            }
        }
        ConfigError::at(path, msg)
    };
    match format {
        Format::Toml => {
            let de = toml::Deserializer::new(text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let path = e.path().to_string();
                let msg = e.into_inner().message().trim().to_string();
                located(path, msg)
            })
        }
        Format::Yaml => {
            if text.trim().is_empty() {
                return Ok(ConfigFile::default());
            }
            let de = serde_yaml_ng::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let path = e.path().to_string();
                located(path, e.into_inner().to_string())
            })
        }
    }
}

/// Read and parse a file (format from its extension).
pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Io(path.display().to_string(), e))?;
    parse(&text, Format::from_path(path))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_their_path() {
        let err = parse(
            "[[connections]]\nprovider='openai'\nname='a'\napi_kee='x'\n",
            Format::Toml,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("connections[0]"), "{err}");
        assert!(err.contains("api_kee"), "{err}");
        let err = parse("settings:\n  require_api_keys: true\n", Format::Yaml)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("settings"), "{err}");
        assert!(err.contains("require_api_keys"), "{err}");
        let err = parse("colour = 1\n", Format::Toml).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn example_config_parses_in_both_syntaxes() {
        let toml_text = include_str!("../../../omniroute.example.toml");
        let t = parse(toml_text, Format::Toml).unwrap();
        let yaml_text = include_str!("../../../omniroute.example.yaml");
        let y = parse(yaml_text, Format::Yaml).unwrap();
        assert_eq!(
            t, y,
            "the TOML and YAML examples must describe the same config"
        );
        assert!(!t.connections.is_empty() && !t.nodes.is_empty() && !t.combos.is_empty());
    }
}
