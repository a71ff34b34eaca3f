//! Pieces shared by the request, response and stream halves: finish reasons, usage objects,
//! `chatcmpl-` ids, timestamps and small JSON accessors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use std::fmt;
use std::marker::PhantomData;

use omniroute_ir::{make_call_id, FinishReason, Usage};
use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};

/// An OpenAI `finish_reason` (plus the words other OpenAI-compatible upstreams use) → IR.
pub(crate) fn finish_from_wire(reason: &str) -> FinishReason {
    match reason {
        "stop" | "end_turn" | "stop_sequence" | "eos" => FinishReason::Stop,
        "length" | "max_tokens" | "model_length" => FinishReason::Length,
        "tool_calls" | "function_call" | "tool_use" => FinishReason::ToolCalls,
        "content_filter" | "refusal" | "safety" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

/// IR → the four values OpenAI clients know. A `Stop` after tool calls is reported as
/// `tool_calls` (clients run tools only then); unknown reasons become `stop`.
pub(crate) fn finish_to_wire(reason: &FinishReason, had_tool_calls: bool) -> &'static str {
    match reason {
        FinishReason::Length => "length",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::Stop | FinishReason::Other(_) if had_tool_calls => "tool_calls",
        FinishReason::Stop | FinishReason::Other(_) => "stop",
    }
}

/// An OpenAI `usage` object → IR, taking only the numbers present.
pub(crate) fn usage_from_wire(v: &Value) -> Usage {
    let num = |v: Option<&Value>| v.and_then(Value::as_u64);
    let cached = num(v.pointer("/prompt_tokens_details/cached_tokens"))
        // DeepSeek reports cache hits at the top level.
        .or_else(|| num(v.get("prompt_cache_hit_tokens")));
    Usage {
        input_tokens: num(v.get("prompt_tokens")),
        output_tokens: num(v.get("completion_tokens")),
        cached_tokens: cached,
        cache_creation_tokens: None,
        reasoning_tokens: num(v.pointer("/completion_tokens_details/reasoning_tokens")),
    }
}

/// IR → an OpenAI `usage` object, only when both input and output counts are known (a partial
/// usage object would make clients compute wrong totals). Detail objects only when reported.
pub(crate) fn usage_to_wire(u: &Usage) -> Option<Value> {
    let (input, output) = (u.input_tokens?, u.output_tokens?);
    let mut m = Map::new();
    m.insert("prompt_tokens".into(), json!(input));
    m.insert("completion_tokens".into(), json!(output));
    m.insert("total_tokens".into(), json!(input.saturating_add(output)));
    if let Some(cached) = u.cached_tokens {
        m.insert(
            "prompt_tokens_details".into(),
            json!({ "cached_tokens": cached }),
        );
    }
    if let Some(reasoning) = u.reasoning_tokens {
        m.insert(
            "completion_tokens_details".into(),
            json!({ "reasoning_tokens": reasoning }),
        );
    }
    Some(Value::Object(m))
}

/// [`usage_to_wire`] as a serializable struct: the same JSON text without building a `Value`.
#[derive(Debug, Serialize)]
pub(crate) struct WireUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens_details: Option<CachedTokens>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_tokens_details: Option<ReasoningTokens>,
}

#[derive(Debug, Serialize)]
struct CachedTokens {
    cached_tokens: u64,
}

#[derive(Debug, Serialize)]
struct ReasoningTokens {
    reasoning_tokens: u64,
}

/// [`usage_to_wire`], typed.
pub(crate) fn wire_usage(u: &Usage) -> Option<WireUsage> {
    let (input, output) = (u.input_tokens?, u.output_tokens?);
    Some(WireUsage {
        prompt_tokens: input,
        completion_tokens: output,
        total_tokens: input.saturating_add(output),
        prompt_tokens_details: u
            .cached_tokens
            .map(|cached_tokens| CachedTokens { cached_tokens }),
        completion_tokens_details: u
            .reasoning_tokens
            .map(|reasoning_tokens| ReasoningTokens { reasoning_tokens }),
    })
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

/// Unix seconds now.
pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A `chatcmpl-…` id for the client: the upstream id kept (prefixed when it is not already a
/// chat completion id), or a fresh one when the upstream gave none.
pub(crate) fn chat_id(upstream: Option<&str>) -> String {
    match upstream.map(str::trim) {
        Some(id) if id.starts_with("chatcmpl-") => id.to_string(),
        Some(id) if !id.is_empty() => format!("chatcmpl-{id}"),
        _ => fresh_id("chatcmpl-"),
    }
}

/// A process-unique id with `prefix` (time and a counter hashed, no randomness needed).
pub(crate) fn fresh_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    make_call_id(prefix, &format!("{nanos}:{n}:{}", std::process::id()))
}

/// Tool arguments as a JSON text: strings verbatim, objects (sent by some providers and
/// clients) serialized, absent/null as empty.
pub(crate) fn arguments_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A non-empty string field.
pub(crate) fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A short description of a JSON value's type for error messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
