//! Pieces shared by the request, response and stream halves: namespaced tool names, ids, usage,
//! finish reasons, and the output items and response object a Responses client receives.

use omniroute_ir::{make_call_id, FinishReason, Usage};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

// ------------------------------------------------------------------------- JSON accessors

/// `v[key]` as a string.
pub(crate) fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `v[key]` as a non-negative integer (also accepts integral floats).
pub(crate) fn u64_at(v: &Value, key: &str) -> Option<u64> {
    let x = v.get(key)?;
    x.as_u64().or_else(|| {
        x.as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0)
            .map(|f| f as u64)
    })
}

/// Compact JSON text (serializing a `Value` cannot fail; an empty string if it somehow did).
pub(crate) fn to_json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

// ------------------------------------------------------------------------- namespaced names

/// Flattened names remembered at most (the table is a cache of `(namespace, name)` pairs; when
/// it is full, new pairs are not remembered and their calls go back under the flat name).
const NAMESPACE_TABLE_CAP: usize = 16_384;

fn namespace_table() -> &'static Mutex<HashMap<String, (String, String)>> {
    static TABLE: OnceLock<Mutex<HashMap<String, (String, String)>>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The single IR tool name of function `name` in namespace `namespace`: Codex's canonical flat
/// name (`namespace` without trailing `_`, then `__`, then `name` without leading `_`).
pub fn flat_tool_name(namespace: &str, name: &str) -> String {
    let ns = namespace.trim_end_matches('_');
    if ns.is_empty() {
        return name.to_string();
    }
    format!("{ns}__{}", name.trim_start_matches('_'))
}

/// Remember that `flat` stands for `name` in `namespace`, so calls can be answered with both
/// fields again. Returns the flat name.
pub fn remember_namespaced(namespace: &str, name: &str) -> String {
    let flat = flat_tool_name(namespace, name);
    if flat == name {
        return flat;
    }
    let mut table = namespace_table().lock().unwrap_or_else(|e| e.into_inner());
    if table.len() < NAMESPACE_TABLE_CAP || table.contains_key(&flat) {
        table.insert(flat.clone(), (namespace.to_string(), name.to_string()));
    }
    flat
}

/// The `(namespace, name)` a Responses client should see for the IR tool name `flat`: the
/// original pair when `flat` was made by flattening a namespace, else `(None, flat)`.
pub fn client_tool_name(flat: &str) -> (Option<String>, String) {
    if !flat.contains("__") {
        return (None, flat.to_string());
    }
    let table = namespace_table().lock().unwrap_or_else(|e| e.into_inner());
    match table.get(flat) {
        Some((ns, name)) => (Some(ns.clone()), name.clone()),
        None => (None, flat.to_string()),
    }
}

/// The IR name of a call item that may carry a `namespace` (history or upstream output).
pub(crate) fn item_tool_name(item: &Value, remember: bool) -> String {
    let name = str_at(item, "name").unwrap_or_default();
    match str_at(item, "namespace").filter(|ns| !ns.is_empty()) {
        Some(ns) if remember => remember_namespaced(ns, name),
        Some(ns) => flat_tool_name(ns, name),
        None => name.to_string(),
    }
}

// ------------------------------------------------------------------------- ids and time

/// Unix seconds now.
pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A fresh id (`prefix` + 24 hex), distinct for every call in this process.
pub(crate) fn fresh_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    make_call_id(prefix, &format!("{nanos}:{n}:{}", std::process::id()))
}

/// The client-facing response id for an upstream id: kept when it already is a `resp_` id,
/// else derived from it (fresh when there is none).
pub(crate) fn response_id(upstream: Option<&str>) -> String {
    match upstream {
        Some(id) if id.starts_with("resp_") => id.to_string(),
        Some(id) if !id.is_empty() => make_call_id("resp_", id),
        _ => fresh_id("resp_"),
    }
}

/// The id of output item `index` of response `resp_id`.
pub(crate) fn item_id(prefix: &str, resp_id: &str, index: usize) -> String {
    make_call_id(prefix, &format!("{resp_id}:{index}"))
}

// ------------------------------------------------------------------------- usage

/// Usage from a Responses `usage` object (fields it lacks stay `None`).
pub(crate) fn usage_from_json(u: &Value) -> Usage {
    Usage {
        input_tokens: u64_at(u, "input_tokens"),
        output_tokens: u64_at(u, "output_tokens"),
        cached_tokens: u
            .get("input_tokens_details")
            .and_then(|d| u64_at(d, "cached_tokens")),
        cache_creation_tokens: None,
        reasoning_tokens: u
            .get("output_tokens_details")
            .and_then(|d| u64_at(d, "reasoning_tokens")),
    }
}

/// A Responses `usage` object, or `null` when the upstream reported neither input nor output
/// tokens. The schema requires every field, so detail counts the upstream did not report are 0.
pub(crate) fn usage_to_json(u: &Usage) -> Value {
    if u.input_tokens.is_none() && u.output_tokens.is_none() {
        return Value::Null;
    }
    let input = u.input_tokens.unwrap_or(0);
    let output = u.output_tokens.unwrap_or(0);
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": u.cached_tokens.unwrap_or(0)},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens.unwrap_or(0)},
        "total_tokens": input + output,
    })
}

// ------------------------------------------------------------------------- finish reasons

/// The finish reason of a (final) response object: `completed` → `Stop` (`ToolCalls` when it
/// called functions, `ContentFilter` after a refusal); `incomplete` → `Length` for
/// `max_output_tokens`, `ContentFilter` for `content_filter`.
pub(crate) fn finish_from_response(resp: &Value, tool_calls: bool, refusal: bool) -> FinishReason {
    match str_at(resp, "status") {
        None | Some("completed") => {
            if refusal {
                FinishReason::ContentFilter
            } else if tool_calls {
                FinishReason::ToolCalls
            } else {
                FinishReason::Stop
            }
        }
        Some("incomplete") => {
            match resp
                .get("incomplete_details")
                .and_then(|d| str_at(d, "reason"))
            {
                Some("max_output_tokens") => FinishReason::Length,
                Some("content_filter") => FinishReason::ContentFilter,
                Some(other) => FinishReason::Other(other.to_string()),
                None => FinishReason::Other("incomplete".to_string()),
            }
        }
        Some(other) => FinishReason::Other(other.to_string()),
    }
}

/// The client-side `status` and `incomplete_details` for a finish reason.
pub(crate) fn status_for(reason: &FinishReason) -> (&'static str, Value) {
    match reason {
        FinishReason::Length => ("incomplete", json!({"reason": "max_output_tokens"})),
        FinishReason::ContentFilter => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

// ------------------------------------------------------------------------- output items

/// An assistant message item with one `output_text` part.
pub(crate) fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

/// Marks a reasoning signature from another format (Anthropic thinking `signature`, Gemini
/// `thoughtSignature`) carried in `encrypted_content`, the one field Responses clients echo back
/// verbatim; restored on decode and never sent to a Responses upstream.
const SIGNATURE_PREFIX: &str = "omniroute-sig:v1:";

pub(crate) fn wrap_signature(signature: &str) -> String {
    format!("{SIGNATURE_PREFIX}{signature}")
}

pub(crate) fn unwrap_signature(encrypted: &str) -> Option<&str> {
    encrypted.strip_prefix(SIGNATURE_PREFIX)
}

/// A reasoning item: the text as one `summary_text` (none when empty), `encrypted_content`
/// when known.
pub(crate) fn reasoning_item(id: &str, text: &str, encrypted: Option<&str>) -> Value {
    let summary = if text.is_empty() {
        json!([])
    } else {
        json!([{"type": "summary_text", "text": text}])
    };
    let mut item = json!({"id": id, "type": "reasoning", "summary": summary});
    if let (Some(enc), Value::Object(m)) = (encrypted, &mut item) {
        m.insert("encrypted_content".into(), Value::String(enc.to_string()));
    }
    item
}

/// A function_call item for the client (namespace restored, see [`client_tool_name`]).
pub(crate) fn function_call_item(
    id: &str,
    call_id: &str,
    flat_name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    let (namespace, name) = client_tool_name(flat_name);
    let mut m = Map::new();
    m.insert("type".into(), json!("function_call"));
    m.insert("id".into(), json!(id));
    m.insert("call_id".into(), json!(call_id));
    m.insert("name".into(), json!(name));
    if let Some(ns) = namespace {
        m.insert("namespace".into(), json!(ns));
    }
    m.insert("arguments".into(), json!(arguments));
    m.insert("status".into(), json!(status));
    Value::Object(m)
}

/// A response object with every field the OpenAI SDK's `Response` model requires.
pub(crate) struct ResponseObject<'a> {
    pub id: &'a str,
    pub created_at: i64,
    pub model: &'a str,
    pub status: &'a str,
    pub output: Vec<Value>,
    pub usage: Value,
    pub incomplete_details: Value,
    pub error: Value,
}

impl ResponseObject<'_> {
    pub(crate) fn into_json(self) -> Value {
        json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": self.status,
            "error": self.error,
            "incomplete_details": self.incomplete_details,
            "instructions": null,
            "max_output_tokens": null,
            "model": self.model,
            "output": self.output,
            "parallel_tool_calls": true,
            "previous_response_id": null,
            "reasoning": null,
            "store": false,
            "temperature": null,
            "tool_choice": "auto",
            "tools": [],
            "top_p": null,
            "usage": self.usage,
            "metadata": {},
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn flat_names_follow_codex() {
        assert_eq!(
            flat_tool_name("multi_agent_v1", "spawn_agent"),
            "multi_agent_v1__spawn_agent"
        );
        assert_eq!(
            flat_tool_name("mcp__node_repl__", "js"),
            "mcp__node_repl__js"
        );
        assert_eq!(flat_tool_name("", "x"), "x");
    }

    #[test]
    fn remembered_names_map_back_exactly() {
        let flat = remember_namespaced("mcp__unit_test_srv__", "do_it");
        assert_eq!(flat, "mcp__unit_test_srv__do_it");
        assert_eq!(
            client_tool_name(&flat),
            (
                Some("mcp__unit_test_srv__".to_string()),
                "do_it".to_string()
            )
        );
        // Unknown names with `__` are left alone.
        assert_eq!(
            client_tool_name("plain__tool_xyz"),
            (None, "plain__tool_xyz".to_string())
        );
    }

    #[test]
    fn usage_json_round_trip() {
        let u = Usage {
            input_tokens: Some(10),
            output_tokens: Some(5),
            cached_tokens: Some(2),
            reasoning_tokens: Some(1),
            ..Default::default()
        };
        let j = usage_to_json(&u);
        assert_eq!(j["total_tokens"], 15);
        assert_eq!(usage_from_json(&j), u);
        assert!(usage_to_json(&Usage::default()).is_null());
    }

    #[test]
    fn finish_reasons() {
        let done = json!({"status": "completed"});
        assert_eq!(
            finish_from_response(&done, false, false),
            FinishReason::Stop
        );
        assert_eq!(
            finish_from_response(&done, true, false),
            FinishReason::ToolCalls
        );
        let inc =
            json!({"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"}});
        assert_eq!(
            finish_from_response(&inc, true, false),
            FinishReason::Length
        );
        assert_eq!(status_for(&FinishReason::Length).0, "incomplete");
        assert_eq!(status_for(&FinishReason::ToolCalls).0, "completed");
    }
}
