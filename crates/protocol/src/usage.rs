//! Token usage as reported by any format, extracted from a JSON body or a stream event.

use serde::Serialize;
use serde_json::Value;

/// Token counts of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    /// Reads `usage` (OpenAI chat / Responses / Anthropic) or `usageMetadata` (Gemini) from a
    /// response body or stream event; `None` when the value carries no usage.
    pub fn from_value(v: &Value) -> Option<Usage> {
        if let Some(u) = v.get("usage").and_then(Self::from_usage) {
            return Some(u);
        }
        if let Some(u) = v.get("usageMetadata") {
            let get = |k: &str| u.get(k).and_then(Value::as_u64);
            return Some(Usage {
                input_tokens: get("promptTokenCount").unwrap_or(0),
                output_tokens: get("candidatesTokenCount").unwrap_or(0)
                    + get("thoughtsTokenCount").unwrap_or(0),
            });
        }
        // Anthropic stream: usage nested in message_start.message / response.completed.response
        for key in ["message", "response"] {
            if let Some(inner) = v.get(key).filter(|m| m.is_object()) {
                if let Some(u) = Self::from_value(inner) {
                    return Some(u);
                }
            }
        }
        None
    }

    /// Reads a `usage` object itself (OpenAI chat, Responses or Anthropic field names).
    pub fn from_usage(u: &Value) -> Option<Usage> {
        if !u.is_object() {
            return None;
        }
        let get = |k: &str| u.get(k).and_then(Value::as_u64);
        let input = get("prompt_tokens").or_else(|| get("input_tokens"));
        let output = get("completion_tokens").or_else(|| get("output_tokens"));
        (input.is_some() || output.is_some()).then(|| Usage {
            input_tokens: input.unwrap_or(0),
            output_tokens: output.unwrap_or(0),
        })
    }

    /// Merge a later report into this one (stream events report partial usage).
    pub fn merge(&mut self, other: Usage) {
        if other.input_tokens > 0 {
            self.input_tokens = other.input_tokens;
        }
        if other.output_tokens > 0 {
            self.output_tokens = other.output_tokens;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_every_format() {
        let o = json!({"usage": {"prompt_tokens": 3, "completion_tokens": 5}});
        assert_eq!(
            Usage::from_value(&o),
            Some(Usage {
                input_tokens: 3,
                output_tokens: 5
            })
        );
        let a = json!({"type": "message_start", "message": {"usage": {"input_tokens": 9, "output_tokens": 1}}});
        assert_eq!(
            Usage::from_value(&a),
            Some(Usage {
                input_tokens: 9,
                output_tokens: 1
            })
        );
        let g = json!({"usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 4}});
        assert_eq!(
            Usage::from_value(&g),
            Some(Usage {
                input_tokens: 2,
                output_tokens: 4
            })
        );
        assert_eq!(Usage::from_value(&json!({"choices": []})), None);
        assert_eq!(Usage::from_value(&json!({"usage": null})), None);
    }
}
