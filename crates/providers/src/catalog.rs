//! Provider specifications: the built-in catalog (parsed from the embedded `catalog.toml`) and the
//! types custom nodes are expressed in.

use omniroute_protocol::ApiFormat;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// How a provider expects its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthStyle {
    /// `Authorization: Bearer KEY`
    Bearer,
    /// `x-api-key: KEY`
    XApiKey,
    /// `x-goog-api-key: KEY`
    XGoogApiKey,
    /// `Authorization: Token KEY`
    Token,
    /// `Authorization: KEY` (no scheme)
    Raw,
    /// `xi-api-key: KEY`
    XiApiKey,
    /// No credential.
    None,
}

impl AuthStyle {
    /// The conventional style for a native format.
    pub fn default_for(format: ApiFormat) -> Self {
        match format {
            ApiFormat::Anthropic => Self::XApiKey,
            ApiFormat::Gemini => Self::XGoogApiKey,
            ApiFormat::Openai | ApiFormat::Responses => Self::Bearer,
        }
    }
}

/// What a model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ModelType {
    #[default]
    Chat,
    Embedding,
    Image,
    AudioTranscription,
    AudioSpeech,
    Moderation,
    Rerank,
}

impl ModelType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Embedding => "embedding",
            Self::Image => "image",
            Self::AudioTranscription => "audio-transcription",
            Self::AudioSpeech => "audio-speech",
            Self::Moderation => "moderation",
            Self::Rerank => "rerank",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

/// One model a provider serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub id: String,
    #[serde(default, rename = "type")]
    pub kind: ModelType,
}

/// One kind of upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    pub id: String,
    /// The prefix in model names (`alias/model`).
    pub alias: String,
    pub name: String,
    pub format: ApiFormat,
    pub base_url: String,
    pub auth: AuthStyle,
    #[serde(default)]
    pub models_path: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    /// Send even same-format traffic through the translator (sanitized responses, `<think>`
    /// moved to reasoning): for OpenAI-compatible providers that add non-standard fields or
    /// serve models that put their reasoning in the content.
    #[serde(default)]
    pub normalize: bool,
    /// The provider rejects the system role: the system prompt goes into the first user turn.
    #[serde(default)]
    pub system_as_user: bool,
    /// True for user-defined custom nodes.
    #[serde(default, skip_deserializing)]
    pub custom: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    provider: Vec<ProviderSpec>,
}

/// A catalog failed validation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("catalog does not parse: {0}")]
    Parse(String),
    #[error("duplicate provider id or alias `{0}`")]
    Duplicate(String),
    #[error("provider `{0}`: {1}")]
    Invalid(String, String),
}

/// The set of known providers.
#[derive(Debug, Clone)]
pub struct Catalog {
    providers: Vec<ProviderSpec>,
}

const BUILTIN: &str = include_str!("../catalog.toml");

impl Catalog {
    /// The built-in catalog shipped in the binary.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        Self::from_toml(BUILTIN)
    }

    pub fn from_toml(text: &str) -> Result<Catalog, CatalogError> {
        let file: CatalogFile =
            toml::from_str(text).map_err(|e| CatalogError::Parse(e.to_string()))?;
        let catalog = Catalog {
            providers: file.provider,
        };
        catalog.validate()?;
        Ok(catalog)
    }

    fn validate(&self) -> Result<(), CatalogError> {
        let mut seen = HashSet::new();
        for p in &self.providers {
            validate_spec(p)?;
            if !seen.insert(p.id.as_str()) {
                return Err(CatalogError::Duplicate(p.id.clone()));
            }
            if p.alias != p.id && !seen.insert(p.alias.as_str()) {
                return Err(CatalogError::Duplicate(p.alias.clone()));
            }
        }
        Ok(())
    }

    pub fn providers(&self) -> &[ProviderSpec] {
        &self.providers
    }

    pub fn get(&self, id_or_alias: &str) -> Option<&ProviderSpec> {
        self.providers
            .iter()
            .find(|p| p.id == id_or_alias || p.alias == id_or_alias)
    }
}

/// Checks what a provider spec (built-in or custom node) must satisfy.
pub fn validate_spec(p: &ProviderSpec) -> Result<(), CatalogError> {
    let bad = |m: &str| Err(CatalogError::Invalid(p.id.clone(), m.to_string()));
    let ident_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !ident_ok(&p.id) {
        return bad("id must be 1-64 characters of [A-Za-z0-9._-]");
    }
    if !ident_ok(&p.alias) {
        return bad("alias must be 1-64 characters of [A-Za-z0-9._-]");
    }
    if let Err(m) = validate_spec_url(&p.base_url) {
        return bad(&m);
    }
    if p.base_url.ends_with('/') {
        return bad("base_url must not end with '/'");
    }
    Ok(())
}

/// A base URL must be absolute http(s) with a host.
pub fn validate_spec_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("`{url}` must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("`{url}` has no host"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_is_valid_and_complete() {
        let c = Catalog::builtin().unwrap();
        for alias in [
            "openai",
            "anthropic",
            "gemini",
            "ds",
            "groq",
            "xai",
            "mistral",
            "pplx",
            "together",
            "fireworks",
            "cerebras",
            "cohere",
            "nvidia",
            "openrouter",
            "glm",
            "minimax",
            "kimi",
            "deepgram",
            "assemblyai",
        ] {
            let p = c
                .get(alias)
                .unwrap_or_else(|| panic!("missing provider {alias}"));
            assert!(!p.models.is_empty(), "{alias} has no default models");
        }
        assert_eq!(c.get("anthropic").unwrap().format, ApiFormat::Anthropic);
        assert_eq!(c.get("gemini").unwrap().auth, AuthStyle::XGoogApiKey);
        assert!(
            c.providers().len() >= 30,
            "only {} providers",
            c.providers().len()
        );
    }

    #[test]
    fn rejects_unknown_keys_and_duplicates() {
        let base = "[[provider]]\nid='a'\nalias='a'\nname='A'\nformat='openai'\nbase_url='http://x'\nauth='bearer'\n";
        assert!(Catalog::from_toml(base).is_ok());
        let unknown = format!("{base}colour='red'\n");
        assert!(matches!(
            Catalog::from_toml(&unknown),
            Err(CatalogError::Parse(_))
        ));
        let dup = format!("{base}{base}");
        assert_eq!(
            Catalog::from_toml(&dup).unwrap_err(),
            CatalogError::Duplicate("a".into())
        );
        let slash = base.replace("http://x", "http://x/");
        assert!(matches!(
            Catalog::from_toml(&slash),
            Err(CatalogError::Invalid(..))
        ));
    }
}
