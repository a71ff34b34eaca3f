//! The four API formats the gateway speaks, on the client side and the upstream side.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An LLM API wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiFormat {
    /// OpenAI Chat Completions (`/chat/completions`).
    Openai,
    /// Anthropic Messages (`/messages`).
    Anthropic,
    /// Google Gemini (`/models/{m}:generateContent`).
    Gemini,
    /// OpenAI Responses (`/responses`).
    Responses,
}

impl ApiFormat {
    pub const ALL: [ApiFormat; 4] = [Self::Openai, Self::Anthropic, Self::Gemini, Self::Responses];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Responses => "responses",
        }
    }
}

impl fmt::Display for ApiFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApiFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "openai" | "openai-compatible" | "chat" => Ok(Self::Openai),
            "anthropic" | "anthropic-compatible" | "claude" => Ok(Self::Anthropic),
            "gemini" | "gemini-compatible" | "google" => Ok(Self::Gemini),
            "responses" | "responses-compatible" | "openai-responses" => Ok(Self::Responses),
            other => Err(format!(
                "unknown API format `{other}` (expected openai, anthropic, gemini or responses)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_aliases() {
        for f in ApiFormat::ALL {
            assert_eq!(f.as_str().parse::<ApiFormat>(), Ok(f));
        }
        assert_eq!("openai-compatible".parse(), Ok(ApiFormat::Openai));
        assert!("soap".parse::<ApiFormat>().is_err());
    }
}
