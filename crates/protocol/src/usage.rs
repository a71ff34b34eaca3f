//! Token usage as reported by any format, extracted from a JSON body or a stream event, in one
//! meaning: `input_tokens` counts every prompt token (cache reads and writes included, as OpenAI
//! and Gemini count them; Anthropic's separate cache counters are added in), `cached_tokens` the
//! part read from a cache, `reasoning_tokens` the part of `output_tokens` spent thinking.

use serde::Serialize;
use serde_json::Value;

/// Token counts of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Input tokens read from a prompt cache.
    pub cached_tokens: u64,
    /// Input tokens written to a prompt cache (Anthropic).
    pub cache_creation_tokens: u64,
    /// Output tokens spent reasoning (included in `output_tokens`).
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Reads `usage` (OpenAI chat / Responses / Anthropic) or `usageMetadata` (Gemini) from a
    /// response body or stream event; `None` when the value carries no usage.
    pub fn from_value(v: &Value) -> Option<Usage> {
        if let Some(u) = v.get("usage").and_then(Self::from_usage) {
            return Some(u);
        }
        if let Some(u) = v.get("usageMetadata").filter(|u| u.is_object()) {
            let get = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
            let thoughts = get("thoughtsTokenCount");
            return Some(Usage {
                input_tokens: get("promptTokenCount"),
                output_tokens: get("candidatesTokenCount") + thoughts,
                cached_tokens: get("cachedContentTokenCount"),
                cache_creation_tokens: 0,
                reasoning_tokens: thoughts,
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
        let at = |p: &str| u.pointer(p).and_then(Value::as_u64);
        let input = get("prompt_tokens").or_else(|| get("input_tokens"));
        let output = get("completion_tokens").or_else(|| get("output_tokens"));
        // Anthropic counts cache reads and writes apart from `input_tokens`
        let cache_read = get("cache_read_input_tokens");
        let cache_write = get("cache_creation_input_tokens");
        if input.is_none() && output.is_none() && cache_read.is_none() {
            return None;
        }
        let (cache_read, cache_write) = (cache_read.unwrap_or(0), cache_write.unwrap_or(0));
        let cached = at("/prompt_tokens_details/cached_tokens")
            .or_else(|| at("/input_tokens_details/cached_tokens"))
            .unwrap_or(cache_read);
        let reasoning = at("/completion_tokens_details/reasoning_tokens")
            .or_else(|| at("/output_tokens_details/reasoning_tokens"))
            .unwrap_or(0);
        Some(Usage {
            input_tokens: input.unwrap_or(0) + cache_read + cache_write,
            output_tokens: output.unwrap_or(0),
            cached_tokens: cached,
            cache_creation_tokens: cache_write,
            reasoning_tokens: reasoning,
        })
    }

    /// Merge a later report into this one (stream events report partial usage: Anthropic's
    /// `message_start` the input, `message_delta` the running output).
    pub fn merge(&mut self, other: Usage) {
        if other.input_tokens > 0 {
            self.input_tokens = other.input_tokens;
            self.cached_tokens = other.cached_tokens;
            self.cache_creation_tokens = other.cache_creation_tokens;
        }
        if other.output_tokens > 0 {
            self.output_tokens = other.output_tokens;
        }
        if other.reasoning_tokens > 0 {
            self.reasoning_tokens = other.reasoning_tokens;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn io(i: u64, o: u64) -> Usage {
        Usage {
            input_tokens: i,
            output_tokens: o,
            ..Default::default()
        }
    }

    #[test]
    fn reads_every_format() {
        let o = json!({"usage": {"prompt_tokens": 3, "completion_tokens": 5}});
        assert_eq!(Usage::from_value(&o), Some(io(3, 5)));
        let a = json!({"type": "message_start", "message": {"usage": {"input_tokens": 9, "output_tokens": 1}}});
        assert_eq!(Usage::from_value(&a), Some(io(9, 1)));
        let g = json!({"usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 4}});
        assert_eq!(Usage::from_value(&g), Some(io(2, 4)));
        assert_eq!(Usage::from_value(&json!({"choices": []})), None);
        assert_eq!(Usage::from_value(&json!({"usage": null})), None);
    }

    #[test]
    fn cached_and_reasoning_tokens_in_one_meaning() {
        let o = json!({"usage": {"prompt_tokens": 100, "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 80},
            "completion_tokens_details": {"reasoning_tokens": 30}}});
        let u = Usage::from_value(&o).unwrap_or_default();
        assert_eq!(
            (u.input_tokens, u.cached_tokens, u.reasoning_tokens),
            (100, 80, 30)
        );
        let r = json!({"usage": {"input_tokens": 100, "output_tokens": 50,
            "input_tokens_details": {"cached_tokens": 60},
            "output_tokens_details": {"reasoning_tokens": 20}}});
        let u = Usage::from_value(&r).unwrap_or_default();
        assert_eq!(
            (u.input_tokens, u.cached_tokens, u.reasoning_tokens),
            (100, 60, 20)
        );
        // Anthropic: 10 new + 80 read + 5 written = 95 prompt tokens
        let a = json!({"usage": {"input_tokens": 10, "output_tokens": 7,
            "cache_read_input_tokens": 80, "cache_creation_input_tokens": 5}});
        let u = Usage::from_value(&a).unwrap_or_default();
        assert_eq!(
            (u.input_tokens, u.cached_tokens, u.cache_creation_tokens),
            (95, 80, 5)
        );
        let g = json!({"usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 4,
            "thoughtsTokenCount": 6, "cachedContentTokenCount": 32}});
        let u = Usage::from_value(&g).unwrap_or_default();
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cached_tokens,
                u.reasoning_tokens
            ),
            (40, 10, 32, 6)
        );
        // a stream's pieces merge
        let mut s = Usage::from_value(&a).unwrap_or_default();
        s.merge(io(0, 42));
        assert_eq!(
            (s.input_tokens, s.output_tokens, s.cached_tokens),
            (95, 42, 80)
        );
    }
}
