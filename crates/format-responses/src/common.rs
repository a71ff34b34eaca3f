//! Pieces shared by the request, response and stream halves: namespaced tool names, ids, usage,
//! finish reasons, and the output items and response object a Responses client receives.

use omniroute_ir::{make_call_id, FinishReason, Usage};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::Value;
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

/// The Responses `usage` object, `None` (`null`) when the upstream reported neither input nor
/// output tokens. The schema requires every field, so detail counts the upstream did not report
/// are 0.
pub(crate) fn usage_json(u: &Usage) -> Option<UsageJson> {
    if u.input_tokens.is_none() && u.output_tokens.is_none() {
        return None;
    }
    let input = u.input_tokens.unwrap_or(0);
    let output = u.output_tokens.unwrap_or(0);
    Some(UsageJson {
        input_tokens: input,
        input_tokens_details: CachedTokens {
            cached_tokens: u.cached_tokens.unwrap_or(0),
        },
        output_tokens: output,
        output_tokens_details: ReasoningTokens {
            reasoning_tokens: u.reasoning_tokens.unwrap_or(0),
        },
        total_tokens: input + output,
    })
}

/// [`usage_json`] as a `Value` (`null` when nothing was reported).
#[cfg(test)]
pub(crate) fn usage_to_json(u: &Usage) -> Value {
    to_value(&usage_json(u))
}

#[derive(Debug, Serialize)]
pub(crate) struct UsageJson {
    input_tokens: u64,
    input_tokens_details: CachedTokens,
    output_tokens: u64,
    output_tokens_details: ReasoningTokens,
    total_tokens: u64,
}

#[derive(Debug, Serialize)]
struct CachedTokens {
    cached_tokens: u64,
}

#[derive(Debug, Serialize)]
struct ReasoningTokens {
    reasoning_tokens: u64,
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
pub(crate) fn status_for(reason: &FinishReason) -> (&'static str, Option<Incomplete>) {
    match reason {
        FinishReason::Length => (
            "incomplete",
            Some(Incomplete {
                reason: "max_output_tokens",
            }),
        ),
        FinishReason::ContentFilter => (
            "incomplete",
            Some(Incomplete {
                reason: "content_filter",
            }),
        ),
        _ => ("completed", None),
    }
}

/// `incomplete_details`.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Incomplete {
    reason: &'static str,
}

// ------------------------------------------------------------------------- output items
//
// The items and the response object are borrowed, serializable views: the stream encoder writes
// them straight into its output buffer, the non-stream encoder turns them into `Value`s. Field
// order is the order of the OpenAI API (and of the golden files).

/// `[]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmptyArray;

impl Serialize for EmptyArray {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_seq(Some(0))?.end()
    }
}

/// `{}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}

/// Any serializable value as a `Value` (`null` if it somehow fails; these types cannot).
pub(crate) fn to_value<T: Serialize + ?Sized>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// An `output_text` content part.
#[derive(Debug, Serialize)]
pub(crate) struct OutputText<'a> {
    r#type: &'static str,
    text: &'a str,
    annotations: EmptyArray,
}

impl<'a> OutputText<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            r#type: "output_text",
            text,
            annotations: EmptyArray,
        }
    }
}

/// A message's `content`: `[]` (just opened) or one `output_text` part.
#[derive(Debug)]
struct MessageContent<'a>(Option<&'a str>);

impl Serialize for MessageContent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(usize::from(self.0.is_some())))?;
        if let Some(text) = self.0 {
            seq.serialize_element(&OutputText::new(text))?;
        }
        seq.end()
    }
}

/// An assistant message item; `text: None` gives the empty `content` of a just-opened item.
#[derive(Debug, Serialize)]
pub(crate) struct MessageItem<'a> {
    r#type: &'static str,
    id: &'a str,
    status: &'a str,
    role: &'static str,
    content: MessageContent<'a>,
}

impl<'a> MessageItem<'a> {
    pub(crate) fn new(id: &'a str, text: Option<&'a str>, status: &'a str) -> Self {
        Self {
            r#type: "message",
            id,
            status,
            role: "assistant",
            content: MessageContent(text),
        }
    }
}

/// A `summary_text` part.
#[derive(Debug, Serialize)]
pub(crate) struct SummaryText<'a> {
    r#type: &'static str,
    text: &'a str,
}

impl<'a> SummaryText<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            r#type: "summary_text",
            text,
        }
    }
}

/// A reasoning item's `summary`: the text as one `summary_text` part, `[]` when it is empty.
#[derive(Debug)]
struct Summary<'a>(&'a str);

impl Serialize for Summary<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(usize::from(!self.0.is_empty())))?;
        if !self.0.is_empty() {
            seq.serialize_element(&SummaryText::new(self.0))?;
        }
        seq.end()
    }
}

/// A reasoning item: the text as one `summary_text` (none when empty), `encrypted_content` when
/// known.
#[derive(Debug, Serialize)]
pub(crate) struct ReasoningItem<'a> {
    id: &'a str,
    r#type: &'static str,
    summary: Summary<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encrypted_content: Option<&'a str>,
}

impl<'a> ReasoningItem<'a> {
    pub(crate) fn new(id: &'a str, text: &'a str, encrypted: Option<&'a str>) -> Self {
        Self {
            id,
            r#type: "reasoning",
            summary: Summary(text),
            encrypted_content: encrypted,
        }
    }
}

/// A function_call item for the client; `name` and `namespace` as the client named the tool
/// (see [`client_tool_name`]).
#[derive(Debug, Serialize)]
pub(crate) struct FunctionCallItem<'a> {
    r#type: &'static str,
    id: &'a str,
    call_id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    arguments: &'a str,
    status: &'a str,
}

impl<'a> FunctionCallItem<'a> {
    pub(crate) fn new(
        id: &'a str,
        call_id: &'a str,
        name: &'a str,
        namespace: Option<&'a str>,
        arguments: &'a str,
        status: &'a str,
    ) -> Self {
        Self {
            r#type: "function_call",
            id,
            call_id,
            name,
            namespace,
            arguments,
            status,
        }
    }
}

/// Marks a reasoning signature from another format (Anthropic thinking `signature`, Gemini
/// `thoughtSignature`) carried in `encrypted_content`, the one field Responses clients echo back
/// verbatim; restored on decode and never sent to a Responses upstream.
const SIGNATURE_PREFIX: &str = "omniroute-sig:v1:";

/// The origin tag after [`SIGNATURE_PREFIX`] of a signature that belongs to the function call
/// following its reasoning item (a Gemini `thoughtSignature` on a `functionCall` part), not to
/// reasoning. Signatures are base64, which has no `:`, so the tag cannot be mistaken for one.
const CALL_TAG: &str = "call:";

pub(crate) fn wrap_signature(signature: &str) -> String {
    format!("{SIGNATURE_PREFIX}{signature}")
}

/// The `encrypted_content` carrying the signature of the function call that follows.
pub(crate) fn wrap_call_signature(signature: &str) -> String {
    format!("{SIGNATURE_PREFIX}{CALL_TAG}{signature}")
}

/// What an `encrypted_content` value holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carried<'a> {
    /// A reasoning signature we wrapped ([`wrap_signature`]).
    Reasoning(&'a str),
    /// The signature of the following function call ([`wrap_call_signature`]).
    Call(&'a str),
    /// Real encrypted reasoning from a Responses upstream.
    Encrypted,
}

pub(crate) fn unwrap_signature(encrypted: &str) -> Carried<'_> {
    match encrypted.strip_prefix(SIGNATURE_PREFIX) {
        Some(rest) => match rest.strip_prefix(CALL_TAG) {
            Some(call) => Carried::Call(call),
            None => Carried::Reasoning(rest),
        },
        None => Carried::Encrypted,
    }
}

/// The response object, with every field the OpenAI SDK's `Response` model requires.
#[derive(Debug, Serialize)]
pub(crate) struct ResponseJson<'a, O> {
    pub id: &'a str,
    object: &'static str,
    pub created_at: i64,
    pub status: &'a str,
    pub error: Option<ErrorJson<'a>>,
    pub incomplete_details: Option<Incomplete>,
    instructions: Option<()>,
    max_output_tokens: Option<()>,
    pub model: &'a str,
    pub output: O,
    parallel_tool_calls: bool,
    previous_response_id: Option<()>,
    reasoning: Option<()>,
    store: bool,
    temperature: Option<()>,
    tool_choice: &'static str,
    tools: EmptyArray,
    top_p: Option<()>,
    pub usage: Option<UsageJson>,
    metadata: EmptyObject,
}

impl<'a, O> ResponseJson<'a, O> {
    /// A response without error, details or usage.
    pub(crate) fn new(
        id: &'a str,
        created_at: i64,
        model: &'a str,
        status: &'a str,
        output: O,
    ) -> Self {
        Self {
            id,
            object: "response",
            created_at,
            status,
            error: None,
            incomplete_details: None,
            instructions: None,
            max_output_tokens: None,
            model,
            output,
            parallel_tool_calls: true,
            previous_response_id: None,
            reasoning: None,
            store: false,
            temperature: None,
            tool_choice: "auto",
            tools: EmptyArray,
            top_p: None,
            usage: None,
            metadata: EmptyObject,
        }
    }
}

/// A failed response's `error`.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorJson<'a> {
    pub code: &'a str,
    pub message: &'a str,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

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
