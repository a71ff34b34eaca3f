//! Helpers shared by the request, response and stream halves: typed field access with errors
//! that name the field, stop-reason and usage mapping, tool-id sanitizing, message ids.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use std::fmt;
use std::marker::PhantomData;

use omniroute_ir::{make_call_id, CodecError, FinishReason, Usage};
use serde::de::value::MapAccessDeserializer;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};

pub(crate) type Obj = Map<String, Value>;

/// `obj[key]`, with JSON `null` treated as absent.
pub(crate) fn field<'a>(obj: &'a Obj, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

pub(crate) fn opt_str<'a>(
    obj: &'a Obj,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, CodecError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(CodecError::new(format!("`{path}{key}` must be a string"))),
    }
}

pub(crate) fn req_str<'a>(obj: &'a Obj, key: &str, path: &str) -> Result<&'a str, CodecError> {
    opt_str(obj, key, path)?.ok_or_else(|| CodecError::new(format!("missing field `{path}{key}`")))
}

pub(crate) fn opt_f64(obj: &Obj, key: &str, path: &str) -> Result<Option<f64>, CodecError> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| CodecError::new(format!("`{path}{key}` must be a number"))),
    }
}

/// A non-negative integer (integral floats such as `1024.0` are accepted).
pub(crate) fn opt_u64(obj: &Obj, key: &str, path: &str) -> Result<Option<u64>, CodecError> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) => {
            if let Some(n) = v.as_u64() {
                return Ok(Some(n));
            }
            match v.as_f64() {
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => {
                    Ok(Some(f as u64))
                }
                _ => Err(CodecError::new(format!(
                    "`{path}{key}` must be a non-negative integer"
                ))),
            }
        }
    }
}

pub(crate) fn opt_bool(obj: &Obj, key: &str, path: &str) -> Result<Option<bool>, CodecError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(CodecError::new(format!("`{path}{key}` must be a boolean"))),
    }
}

pub(crate) fn opt_obj<'a>(
    obj: &'a Obj,
    key: &str,
    path: &str,
) -> Result<Option<&'a Obj>, CodecError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(CodecError::new(format!("`{path}{key}` must be an object"))),
    }
}

/// Anthropic `stop_reason` → IR.
pub(crate) fn stop_reason_to_ir(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

/// IR → Anthropic `stop_reason` (a value outside Anthropic's set becomes `end_turn`).
pub(crate) fn stop_reason_from_ir(reason: &FinishReason) -> &str {
    match reason {
        FinishReason::Stop => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
        FinishReason::Other(s) => match s.as_str() {
            "end_turn"
            | "max_tokens"
            | "stop_sequence"
            | "tool_use"
            | "pause_turn"
            | "refusal"
            | "model_context_window_exceeded" => s,
            _ => "end_turn",
        },
    }
}

/// Anthropic `usage` → IR: only the numbers present (and not `null`) are set. Anthropic's
/// `input_tokens` excludes cache reads and writes while the IR's counts every prompt token (the
/// OpenAI/Gemini convention), so the cache counts are added to it here and subtracted again in
/// `usage_to_json`: the same tokens, counted the way each side expects.
pub(crate) fn usage_from_json(v: &Value) -> Usage {
    let get = |k: &str| v.get(k).and_then(Value::as_u64);
    let cache = get("cache_read_input_tokens")
        .unwrap_or(0)
        .saturating_add(get("cache_creation_input_tokens").unwrap_or(0));
    Usage {
        input_tokens: get("input_tokens").map(|n| n.saturating_add(cache)),
        output_tokens: get("output_tokens"),
        cached_tokens: get("cache_read_input_tokens"),
        cache_creation_tokens: get("cache_creation_input_tokens"),
        reasoning_tokens: None,
    }
}

/// IR usage → Anthropic `usage`. Anthropic's schema requires `input_tokens` and
/// `output_tokens`, so a number the upstream did not report is sent as 0 (clients would reject
/// a missing or null field); the cache fields are optional and appear only when known.
pub(crate) fn usage_to_json(u: &Usage) -> Value {
    let mut m = Obj::new();
    let cache = u
        .cached_tokens
        .unwrap_or(0)
        .saturating_add(u.cache_creation_tokens.unwrap_or(0));
    m.insert(
        "input_tokens".into(),
        json!(u.input_tokens.unwrap_or(0).saturating_sub(cache)),
    );
    if let Some(n) = u.cache_creation_tokens {
        m.insert("cache_creation_input_tokens".into(), json!(n));
    }
    if let Some(n) = u.cached_tokens {
        m.insert("cache_read_input_tokens".into(), json!(n));
    }
    m.insert("output_tokens".into(), json!(u.output_tokens.unwrap_or(0)));
    Value::Object(m)
}

/// [`usage_to_json`] as a serializable struct: the same JSON text without building a `Value`.
#[derive(Debug, Serialize)]
pub(crate) struct UsageOut {
    input_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_creation_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_read_input_tokens: Option<u64>,
    output_tokens: u64,
}

/// [`usage_to_json`], typed.
pub(crate) fn usage_out(u: &Usage) -> UsageOut {
    let cache = u
        .cached_tokens
        .unwrap_or(0)
        .saturating_add(u.cache_creation_tokens.unwrap_or(0));
    UsageOut {
        input_tokens: u.input_tokens.unwrap_or(0).saturating_sub(cache),
        cache_creation_input_tokens: u.cache_creation_tokens,
        cache_read_input_tokens: u.cached_tokens,
        output_tokens: u.output_tokens.unwrap_or(0),
    }
}

/// A `T` read from a JSON object only. Derived struct deserializers also accept an array
/// (fields by position), which the `Value` decoders read differently; typed fast paths wrap
/// every struct in this so such a body fails and falls back to the `Value` decoder.
#[derive(Debug)]
pub(crate) struct ObjectOnly<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(PhantomData)).map(ObjectOnly)
    }
}

/// Whether a field is present at all, `null` included (use with `#[serde(default)]`).
#[derive(Debug, Default)]
pub(crate) struct Present(pub bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

fn valid_tool_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// A tool-use id Anthropic accepts (`^[a-zA-Z0-9_-]+$`). Valid ids are kept verbatim; others
/// get invalid characters replaced by `_` plus a short hash of the original, so the mapping is
/// deterministic (the same for `tool_use` and `tool_result`) and distinct ids stay distinct.
pub(crate) fn sanitize_tool_id(id: &str) -> String {
    if !id.is_empty() && id.bytes().all(valid_tool_id_byte) {
        return id.to_string();
    }
    let cleaned: String = id
        .chars()
        .map(|c| {
            if c.is_ascii() && valid_tool_id_byte(c as u8) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let hash = make_call_id("", id);
    let short = hash.get(..12).unwrap_or(&hash);
    if cleaned.is_empty() {
        format!("toolu_{short}")
    } else {
        format!("{cleaned}_{short}")
    }
}

/// A fresh `msg_…` id for responses whose upstream gave none.
pub(crate) fn new_message_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    make_call_id("msg_", &format!("{nanos}:{n}"))
}

/// The client-facing message id: kept when it already looks like one, else prefixed.
pub(crate) fn message_id(id: Option<&str>) -> String {
    match id {
        Some(id) if id.starts_with("msg_") => id.to_string(),
        Some(id) if !id.is_empty() => format!("msg_{id}"),
        _ => new_message_id(),
    }
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `"type: message"` of an Anthropic error object (`{"type","message"}`), for error texts.
pub(crate) fn error_text(err: &Value) -> String {
    let ty = err.get("type").and_then(Value::as_str);
    let msg = err.get("message").and_then(Value::as_str);
    match (ty, msg) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (None, Some(m)) => m.to_string(),
        (Some(t), None) => t.to_string(),
        (None, None) => err.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn tool_ids_are_sanitized_deterministically() {
        assert_eq!(sanitize_tool_id("toolu_01-AbC"), "toolu_01-AbC");
        let a = sanitize_tool_id("call.1:x");
        assert_eq!(a, sanitize_tool_id("call.1:x"));
        assert!(a.starts_with("call_1_x_"));
        assert!(a.bytes().all(valid_tool_id_byte));
        assert_ne!(sanitize_tool_id("a.b"), sanitize_tool_id("a:b"));
        assert_ne!(sanitize_tool_id("a.b"), "a_b");
        assert!(sanitize_tool_id("").starts_with("toolu_"));
        assert!(sanitize_tool_id("日本").bytes().all(valid_tool_id_byte));
    }

    #[test]
    fn stop_reasons_map_both_ways() {
        for (s, r) in [
            ("end_turn", FinishReason::Stop),
            ("max_tokens", FinishReason::Length),
            ("tool_use", FinishReason::ToolCalls),
            ("refusal", FinishReason::ContentFilter),
        ] {
            assert_eq!(stop_reason_to_ir(s), r);
            assert_eq!(stop_reason_from_ir(&r), s);
        }
        assert_eq!(stop_reason_to_ir("stop_sequence"), FinishReason::Stop);
        assert_eq!(
            stop_reason_to_ir("pause_turn"),
            FinishReason::Other("pause_turn".into())
        );
        assert_eq!(
            stop_reason_from_ir(&FinishReason::Other("pause_turn".into())),
            "pause_turn"
        );
        assert_eq!(
            stop_reason_from_ir(&FinishReason::Other("weird".into())),
            "end_turn"
        );
    }

    #[test]
    fn usage_keeps_unreported_fields_empty() {
        let u = usage_from_json(&json!({"input_tokens": 5, "cache_read_input_tokens": null}));
        assert_eq!(u.input_tokens, Some(5));
        assert_eq!(u.cached_tokens, None);
        assert_eq!(
            usage_to_json(&Usage::default()),
            json!({"input_tokens": 0, "output_tokens": 0})
        );
    }
}
