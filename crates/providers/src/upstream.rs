//! Pure upstream request building: endpoint URLs per native format and authentication headers.

use crate::{AuthStyle, ProviderSpec};
use omniroute_protocol::ApiFormat;

/// Which operation an upstream call performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A chat / messages / generateContent call.
    Generate { stream: bool },
    /// The model list.
    ListModels,
    /// Embeddings.
    Embeddings,
}

/// The URL of `op` on a provider whose native format is `format`, at `base_url`.
pub fn endpoint_url(format: ApiFormat, base_url: &str, model: &str, op: Operation) -> String {
    let base = base_url.trim_end_matches('/');
    match (format, op) {
        (ApiFormat::Openai, Operation::Generate { .. }) => format!("{base}/chat/completions"),
        (ApiFormat::Responses, Operation::Generate { .. }) => format!("{base}/responses"),
        (ApiFormat::Anthropic, Operation::Generate { .. }) => format!("{base}/messages"),
        (ApiFormat::Gemini, Operation::Generate { stream: false }) => {
            format!("{base}/models/{model}:generateContent")
        }
        (ApiFormat::Gemini, Operation::Generate { stream: true }) => {
            format!("{base}/models/{model}:streamGenerateContent?alt=sse")
        }
        (_, Operation::ListModels) => format!("{base}/models"),
        (_, Operation::Embeddings) => format!("{base}/embeddings"),
    }
}

/// The headers carrying `secret` for `style` (none when there is no secret).
pub fn auth_headers(style: AuthStyle, secret: Option<&str>) -> Option<(&'static str, String)> {
    let secret = secret.filter(|s| !s.is_empty())?;
    match style {
        AuthStyle::Bearer => Some(("authorization", format!("Bearer {secret}"))),
        AuthStyle::Token => Some(("authorization", format!("Token {secret}"))),
        AuthStyle::XApiKey => Some(("x-api-key", secret.to_string())),
        AuthStyle::XGoogApiKey => Some(("x-goog-api-key", secret.to_string())),
        AuthStyle::Raw => Some(("authorization", secret.to_string())),
        AuthStyle::XiApiKey => Some(("xi-api-key", secret.to_string())),
        AuthStyle::None => None,
    }
}

/// The model-list URL of a provider, if it has one.
pub fn models_url(spec: &ProviderSpec, base_url: &str) -> Option<String> {
    let base = base_url.trim_end_matches('/');
    match &spec.models_path {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(format!("{base}{p}")),
        None if spec.custom => Some(format!("{base}/models")),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_per_format() {
        let g = Operation::Generate { stream: false };
        assert_eq!(
            endpoint_url(ApiFormat::Openai, "https://api.x.ai/v1/", "m", g),
            "https://api.x.ai/v1/chat/completions"
        );
        assert_eq!(
            endpoint_url(ApiFormat::Anthropic, "https://api.anthropic.com/v1", "m", g),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            endpoint_url(
                ApiFormat::Gemini,
                "https://g/v1beta",
                "gemini-2.5-pro",
                Operation::Generate { stream: true }
            ),
            "https://g/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
    }

    #[test]
    fn auth_header_styles() {
        assert_eq!(
            auth_headers(AuthStyle::Bearer, Some("k")),
            Some(("authorization", "Bearer k".to_string()))
        );
        assert_eq!(
            auth_headers(AuthStyle::XApiKey, Some("k")).map(|h| h.0),
            Some("x-api-key")
        );
        assert_eq!(auth_headers(AuthStyle::Bearer, Some("")), None);
        assert_eq!(auth_headers(AuthStyle::None, Some("k")), None);
    }
}
