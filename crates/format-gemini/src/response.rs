//! Gemini `GenerateContentResponse` bodies to and from the IR, plus the pieces the stream codec
//! shares: model parts → IR parts, finish reasons and `usageMetadata` both ways.
//!
//! `decode_response` reads the common shape of a response (one object) through typed structs;
//! a body outside it (an error, a JSON array of chunks, numbers as strings, duplicate keys, ...)
//! is decoded by the `Value` reader `decode_response_value`, so both give the same result for
//! every body. `encode_response_bytes` writes the `encode_response` object without a `Value`.

use omniroute_ir::{make_call_id, ChatResponse, CodecError, FinishReason, Part, Usage};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::util::{as_u64, get, get_obj, get_str, now_secs, ObjectOnly};

/// Decode the parts of a model `Content` into IR parts: text, thought text (`Reasoning`),
/// `thoughtSignature` (on a thought part → its signature; on a function call → the call's; on
/// anything else → an empty `Reasoning` carrying it, placed before the part), function calls
/// (ids kept, else derived from the response id, the call's position, name and arguments).
/// Parts the IR cannot hold (inline data, code execution) are skipped.
pub(crate) fn decode_model_parts(
    parts: &[Value],
    response_id: &str,
    call_index: &mut usize,
) -> Vec<Part> {
    let mut out = Vec::new();
    for p in parts.iter().filter_map(Value::as_object) {
        let sig = get_str(p, "thoughtSignature")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if let Some(t) = get(p, "text") {
            let text = t.as_str().unwrap_or("").to_string();
            if get(p, "thought").and_then(Value::as_bool) == Some(true) {
                if !text.is_empty() || sig.is_some() {
                    out.push(reasoning(text, sig));
                }
            } else {
                if let Some(s) = sig {
                    out.push(reasoning(String::new(), Some(s)));
                }
                if !text.is_empty() {
                    out.push(Part::Text { text });
                }
            }
        } else if let Some(fc) = get_obj(p, "functionCall") {
            let name = get_str(fc, "name").unwrap_or("").to_string();
            let args = get(fc, "args")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new()))
                .to_string();
            let id = match get_str(fc, "id").filter(|s| !s.is_empty()) {
                Some(id) => id.to_string(),
                None => make_call_id(
                    "call_",
                    &format!("{response_id}:{}:{name}:{args}", *call_index),
                ),
            };
            *call_index += 1;
            out.push(Part::ToolCall {
                id,
                name,
                arguments: args,
                signature: sig,
            });
        } else if let Some(s) = sig {
            out.push(reasoning(String::new(), Some(s)));
        }
    }
    out
}

fn reasoning(text: String, signature: Option<String>) -> Part {
    Part::Reasoning {
        text,
        signature,
        redacted: None,
        encrypted: None,
        id: None,
    }
}

/// Gemini `finishReason` → IR. `STOP` with function calls is `ToolCalls`.
pub(crate) fn finish_from_gemini(reason: &str, has_calls: bool) -> FinishReason {
    match reason {
        "STOP" if has_calls => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

/// IR finish reason → Gemini `finishReason` (a Gemini-looking `Other` word passes through).
pub(crate) fn finish_to_gemini(reason: &FinishReason) -> String {
    match reason {
        FinishReason::Stop | FinishReason::ToolCalls => "STOP".into(),
        FinishReason::Length => "MAX_TOKENS".into(),
        FinishReason::ContentFilter => "SAFETY".into(),
        FinishReason::Other(s) => {
            let gemini_like =
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
            if gemini_like {
                s.clone()
            } else {
                "OTHER".into()
            }
        }
    }
}

/// `usageMetadata` → IR usage. `output_tokens` counts thoughts too (as OpenAI does), and only
/// when `candidatesTokenCount` is reported.
pub(crate) fn usage_from_gemini(u: &Map<String, Value>) -> Usage {
    let thoughts = get(u, "thoughtsTokenCount").and_then(as_u64);
    Usage {
        input_tokens: get(u, "promptTokenCount").and_then(as_u64),
        output_tokens: get(u, "candidatesTokenCount")
            .and_then(as_u64)
            .map(|c| c.saturating_add(thoughts.unwrap_or(0))),
        cached_tokens: get(u, "cachedContentTokenCount").and_then(as_u64),
        cache_creation_tokens: None,
        reasoning_tokens: thoughts,
    }
}

/// IR usage → `usageMetadata` with the known values only (`None` when nothing is known).
pub(crate) fn usage_to_gemini(u: &Usage) -> Option<Value> {
    if u.is_empty() {
        return None;
    }
    let mut m = Map::new();
    if let Some(i) = u.input_tokens {
        m.insert("promptTokenCount".into(), i.into());
    }
    if let Some(o) = u.output_tokens {
        let candidates = o.saturating_sub(u.reasoning_tokens.unwrap_or(0));
        m.insert("candidatesTokenCount".into(), candidates.into());
    }
    if let (Some(i), Some(o)) = (u.input_tokens, u.output_tokens) {
        m.insert("totalTokenCount".into(), i.saturating_add(o).into());
    }
    if let Some(r) = u.reasoning_tokens {
        m.insert("thoughtsTokenCount".into(), r.into());
    }
    if let Some(c) = u.cached_tokens {
        m.insert("cachedContentTokenCount".into(), c.into());
    }
    Some(Value::Object(m))
}

/// The message of a Gemini `error` object.
pub(crate) fn error_message(err: &Value) -> String {
    match err {
        Value::Object(e) => {
            let msg = get_str(e, "message").unwrap_or("");
            let status = get_str(e, "status").unwrap_or("");
            match (msg.is_empty(), status.is_empty()) {
                (false, true) => msg.to_string(),
                (false, false) => format!("{status}: {msg}"),
                _ => err.to_string(),
            }
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Merge adjacent text parts, and a reasoning text with the next reasoning text when the first
/// is unsigned (chunks of one response); a signature-only part stays where it is.
fn consolidate(parts: Vec<Part>) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::with_capacity(parts.len());
    for p in parts {
        match (out.last_mut(), p) {
            (Some(Part::Text { text: a }), Part::Text { text: b }) => a.push_str(&b),
            (
                Some(Part::Reasoning {
                    text: a,
                    signature: sa @ None,
                    redacted: None,
                    encrypted: None,
                    id: None,
                }),
                Part::Reasoning {
                    text: b,
                    signature: sb,
                    redacted: None,
                    encrypted: None,
                    id: None,
                },
            ) if !b.is_empty() => {
                a.push_str(&b);
                *sa = sb;
            }
            (_, p) => out.push(p),
        }
    }
    out
}

pub(crate) fn decode_response(body: &[u8]) -> Result<ChatResponse, CodecError> {
    match decode_typed(body) {
        Some(resp) => Ok(resp),
        None => decode_response_value(body),
    }
}

// The typed view of one response object: exactly the fields `decode_response_value` reads
// (camelCase, or the snake_case alias), each with the one JSON type it uses (`Option`: absent
// or null). Anything else (both spellings at once included) fails and falls back.

#[derive(Deserialize)]
struct ResponseIn {
    error: Option<IgnoredAny>,
    #[serde(rename = "responseId", alias = "response_id")]
    response_id: Option<String>,
    #[serde(rename = "modelVersion", alias = "model_version")]
    model_version: Option<String>,
    candidates: Option<Vec<ObjectOnly<CandidateIn>>>,
    #[serde(rename = "promptFeedback", alias = "prompt_feedback")]
    prompt_feedback: Option<ObjectOnly<FeedbackIn>>,
    #[serde(rename = "usageMetadata", alias = "usage_metadata")]
    usage_metadata: Option<ObjectOnly<UsageIn>>,
}

#[derive(Deserialize)]
struct CandidateIn {
    content: Option<ObjectOnly<ContentIn>>,
    #[serde(rename = "finishReason", alias = "finish_reason")]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ContentIn {
    parts: Option<Vec<ObjectOnly<PartIn>>>,
}

#[derive(Deserialize)]
struct PartIn {
    text: Option<String>,
    thought: Option<bool>,
    #[serde(rename = "thoughtSignature", alias = "thought_signature")]
    thought_signature: Option<String>,
    #[serde(rename = "functionCall", alias = "function_call")]
    function_call: Option<ObjectOnly<CallIn>>,
}

#[derive(Deserialize)]
struct CallIn {
    name: Option<String>,
    args: Option<Value>,
    id: Option<String>,
}

#[derive(Deserialize)]
struct FeedbackIn {
    #[serde(rename = "blockReason", alias = "block_reason")]
    block_reason: Option<String>,
}

#[derive(Deserialize)]
struct UsageIn {
    #[serde(rename = "promptTokenCount", alias = "prompt_token_count")]
    prompt: Option<u64>,
    #[serde(rename = "candidatesTokenCount", alias = "candidates_token_count")]
    candidates: Option<u64>,
    #[serde(rename = "thoughtsTokenCount", alias = "thoughts_token_count")]
    thoughts: Option<u64>,
    #[serde(
        rename = "cachedContentTokenCount",
        alias = "cached_content_token_count"
    )]
    cached: Option<u64>,
}

/// `decode_model_parts` for typed parts.
fn typed_model_parts(parts: Vec<ObjectOnly<PartIn>>, response_id: &str) -> Vec<Part> {
    let mut out = Vec::with_capacity(parts.len());
    let mut call_index = 0usize;
    for ObjectOnly(p) in parts {
        let sig = p.thought_signature.filter(|s| !s.is_empty());
        if let Some(text) = p.text {
            if p.thought == Some(true) {
                if !text.is_empty() || sig.is_some() {
                    out.push(reasoning(text, sig));
                }
            } else {
                if let Some(s) = sig {
                    out.push(reasoning(String::new(), Some(s)));
                }
                if !text.is_empty() {
                    out.push(Part::Text { text });
                }
            }
        } else if let Some(ObjectOnly(fc)) = p.function_call {
            let name = fc.name.unwrap_or_default();
            let args = match fc.args {
                Some(a) => a.to_string(),
                None => "{}".to_string(),
            };
            let id = match fc.id.filter(|s| !s.is_empty()) {
                Some(id) => id,
                None => make_call_id(
                    "call_",
                    &format!("{response_id}:{call_index}:{name}:{args}"),
                ),
            };
            call_index += 1;
            out.push(Part::ToolCall {
                id,
                name,
                arguments: args,
                signature: sig,
            });
        } else if let Some(s) = sig {
            out.push(reasoning(String::new(), Some(s)));
        }
    }
    out
}

/// `decode_response_value` for a single object in the typed view; `None` (decode it as a
/// `Value`) for anything else, errors included.
fn decode_typed(body: &[u8]) -> Option<ChatResponse> {
    let o = serde_json::from_slice::<ObjectOnly<ResponseIn>>(body)
        .ok()?
        .0;
    if o.error.is_some() {
        return None;
    }
    let id = o.response_id.unwrap_or_default();
    let mut parts = Vec::new();
    let mut finish = None;
    let mut saw_candidates = false;
    if let Some(ObjectOnly(c)) = o.candidates.and_then(|c| c.into_iter().next()) {
        saw_candidates = true;
        if let Some(ps) = c.content.and_then(|content| content.0.parts) {
            parts = typed_model_parts(ps, &id);
        }
        finish = c.finish_reason;
    }
    let blocked = o
        .prompt_feedback
        .is_some_and(|pf| pf.0.block_reason.is_some());
    let usage = o
        .usage_metadata
        .map_or_else(Usage::default, |ObjectOnly(u)| Usage {
            input_tokens: u.prompt,
            output_tokens: u
                .candidates
                .map(|c| c.saturating_add(u.thoughts.unwrap_or(0))),
            cached_tokens: u.cached,
            cache_creation_tokens: None,
            reasoning_tokens: u.thoughts,
        });
    if !saw_candidates && !blocked && usage.is_empty() {
        return None;
    }
    let content = consolidate(parts);
    let has_calls = content.iter().any(|p| matches!(p, Part::ToolCall { .. }));
    let finish = match finish {
        Some(f) => finish_from_gemini(&f, has_calls),
        None if blocked && !saw_candidates => FinishReason::ContentFilter,
        None if has_calls => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    };
    Some(ChatResponse {
        id,
        model: o.model_version.unwrap_or_default(),
        content,
        finish,
        usage,
        created: now_secs(),
    })
}

/// Decode an upstream response (an object, or a JSON array of chunks) through
/// `serde_json::Value` (every shape).
pub(crate) fn decode_response_value(body: &[u8]) -> Result<ChatResponse, CodecError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| CodecError::new(format!("response body is not valid JSON: {e}")))?;
    // A non-SSE stream collected whole is a JSON array of chunks.
    let chunks: Vec<&Map<String, Value>> = match &v {
        Value::Object(o) => vec![o],
        Value::Array(a) => a.iter().filter_map(Value::as_object).collect(),
        _ => return Err(CodecError::new("response body must be a JSON object")),
    };
    let mut id = String::new();
    let mut model = String::new();
    let mut parts: Vec<Part> = Vec::new();
    let mut finish: Option<String> = None;
    let mut blocked = false;
    let mut usage = Usage::default();
    let mut call_index = 0usize;
    let mut saw_candidates = false;

    for o in &chunks {
        if let Some(err) = get(o, "error") {
            return Err(CodecError::new(format!(
                "upstream error: {}",
                error_message(err)
            )));
        }
        if id.is_empty() {
            if let Some(r) = get_str(o, "responseId") {
                id = r.to_string();
            }
        }
        if model.is_empty() {
            if let Some(m) = get_str(o, "modelVersion") {
                model = m.to_string();
            }
        }
        if let Some(Value::Array(cands)) = get(o, "candidates") {
            if let Some(c) = cands.first().and_then(Value::as_object) {
                saw_candidates = true;
                if let Some(Value::Array(ps)) =
                    get_obj(c, "content").and_then(|content| get(content, "parts"))
                {
                    parts.extend(decode_model_parts(ps, &id, &mut call_index));
                }
                if let Some(f) = get_str(c, "finishReason") {
                    finish = Some(f.to_string());
                }
            }
        }
        if let Some(pf) = get_obj(o, "promptFeedback") {
            if get_str(pf, "blockReason").is_some() {
                blocked = true;
            }
        }
        if let Some(u) = get_obj(o, "usageMetadata") {
            usage.merge(&usage_from_gemini(u));
        }
    }
    if chunks.is_empty() {
        return Err(CodecError::new("response body has no candidates"));
    }
    if !saw_candidates && !blocked && usage.is_empty() {
        return Err(CodecError::new("response body has no candidates"));
    }
    let content = consolidate(parts);
    let has_calls = content.iter().any(|p| matches!(p, Part::ToolCall { .. }));
    let finish = match finish {
        Some(f) => finish_from_gemini(&f, has_calls),
        None if blocked && !saw_candidates => FinishReason::ContentFilter,
        None if has_calls => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    };
    Ok(ChatResponse {
        id,
        model,
        content,
        finish,
        usage,
        created: now_secs(),
    })
}

/// IR parts → Gemini model parts. Reasoning becomes a thought part carrying its signature; a
/// signature with no reasoning text rides on the next part (as Gemini sends it), else stands
/// alone.
pub(crate) fn encode_model_parts(content: &[Part]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut pending: Option<&str> = None;
    let flush = |out: &mut Vec<Value>, pending: &mut Option<&str>| {
        if let Some(s) = pending.take() {
            out.push(json!({ "thoughtSignature": s }));
        }
    };
    for p in content {
        let mut part = match p {
            Part::Text { text } => json!({ "text": text }),
            Part::Reasoning {
                text, signature, ..
            } => {
                let sig = signature.as_deref().filter(|s| !s.is_empty());
                if text.is_empty() {
                    if let Some(s) = sig {
                        flush(&mut out, &mut pending);
                        pending = Some(s);
                    }
                    continue;
                }
                let mut m = json!({ "text": text, "thought": true });
                if let (Some(s), Value::Object(o)) = (sig, &mut m) {
                    o.insert("thoughtSignature".into(), s.into());
                }
                m
            }
            Part::ToolCall {
                id,
                name,
                arguments,
                signature,
            } => {
                let mut fc = Map::new();
                fc.insert("name".into(), name.as_str().into());
                fc.insert("args".into(), omniroute_ir::arguments_object(arguments));
                if !id.is_empty() {
                    fc.insert("id".into(), id.as_str().into());
                }
                let mut m = json!({ "functionCall": Value::Object(fc) });
                if let (Some(s), Value::Object(o)) =
                    (signature.as_deref().filter(|s| !s.is_empty()), &mut m)
                {
                    o.insert("thoughtSignature".into(), s.into());
                }
                m
            }
            Part::Image { .. } | Part::ToolResult { .. } => continue,
        };
        if let Value::Object(o) = &mut part {
            if !o.contains_key("thoughtSignature") {
                if let Some(s) = pending.take() {
                    o.insert("thoughtSignature".into(), s.into());
                }
            }
        }
        flush(&mut out, &mut pending);
        out.push(part);
    }
    flush(&mut out, &mut pending);
    out
}

pub(crate) fn encode_response(resp: &ChatResponse, model: &str) -> Value {
    let parts = encode_model_parts(&resp.content);
    let mut root = Map::new();
    root.insert(
        "candidates".into(),
        json!([{
            "content": {"role": "model", "parts": parts},
            "finishReason": finish_to_gemini(&resp.finish),
            "index": 0
        }]),
    );
    if let Some(u) = usage_to_gemini(&resp.usage) {
        root.insert("usageMetadata".into(), u);
    }
    root.insert("modelVersion".into(), model.into());
    if !resp.id.is_empty() {
        root.insert("responseId".into(), resp.id.as_str().into());
    }
    Value::Object(root)
}

/// One model part of `encode_model_parts`, typed: the fields in the order the `Value` objects
/// get them (`thoughtSignature` last).
#[derive(Serialize)]
struct PartOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought: Option<bool>,
    #[serde(rename = "functionCall", skip_serializing_if = "Option::is_none")]
    function_call: Option<CallOut<'a>>,
    #[serde(rename = "thoughtSignature", skip_serializing_if = "Option::is_none")]
    thought_signature: Option<&'a str>,
}

impl<'a> PartOut<'a> {
    fn signature(s: &'a str) -> Self {
        PartOut {
            text: None,
            thought: None,
            function_call: None,
            thought_signature: Some(s),
        }
    }
}

#[derive(Serialize)]
struct CallOut<'a> {
    name: &'a str,
    args: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

/// `encode_model_parts`, typed.
fn model_parts_out(content: &[Part]) -> Vec<PartOut<'_>> {
    let mut out: Vec<PartOut<'_>> = Vec::with_capacity(content.len());
    let mut pending: Option<&str> = None;
    for p in content {
        let mut part = match p {
            Part::Text { text } => PartOut {
                text: Some(text),
                thought: None,
                function_call: None,
                thought_signature: None,
            },
            Part::Reasoning {
                text, signature, ..
            } => {
                let sig = signature.as_deref().filter(|s| !s.is_empty());
                if text.is_empty() {
                    if let Some(s) = sig {
                        if let Some(prev) = pending.take() {
                            out.push(PartOut::signature(prev));
                        }
                        pending = Some(s);
                    }
                    continue;
                }
                PartOut {
                    text: Some(text),
                    thought: Some(true),
                    function_call: None,
                    thought_signature: sig,
                }
            }
            Part::ToolCall {
                id,
                name,
                arguments,
                signature,
            } => PartOut {
                text: None,
                thought: None,
                function_call: Some(CallOut {
                    name,
                    args: omniroute_ir::arguments_object(arguments),
                    id: (!id.is_empty()).then_some(id.as_str()),
                }),
                thought_signature: signature.as_deref().filter(|s| !s.is_empty()),
            },
            Part::Image { .. } | Part::ToolResult { .. } => continue,
        };
        if part.thought_signature.is_none() {
            part.thought_signature = pending.take();
        }
        if let Some(prev) = pending.take() {
            out.push(PartOut::signature(prev));
        }
        out.push(part);
    }
    if let Some(prev) = pending.take() {
        out.push(PartOut::signature(prev));
    }
    out
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    candidates: [CandidateOut<'a>; 1],
    #[serde(rename = "usageMetadata", skip_serializing_if = "Option::is_none")]
    usage_metadata: Option<UsageOut>,
    #[serde(rename = "modelVersion")]
    model_version: &'a str,
    #[serde(rename = "responseId", skip_serializing_if = "Option::is_none")]
    response_id: Option<&'a str>,
}

#[derive(Serialize)]
struct CandidateOut<'a> {
    content: ContentOut<'a>,
    #[serde(rename = "finishReason")]
    finish_reason: String,
    index: u32,
}

#[derive(Serialize)]
struct ContentOut<'a> {
    role: &'static str,
    parts: Vec<PartOut<'a>>,
}

/// `usage_to_gemini`, typed.
#[derive(Serialize)]
struct UsageOut {
    #[serde(rename = "promptTokenCount", skip_serializing_if = "Option::is_none")]
    prompt: Option<u64>,
    #[serde(
        rename = "candidatesTokenCount",
        skip_serializing_if = "Option::is_none"
    )]
    candidates: Option<u64>,
    #[serde(rename = "totalTokenCount", skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    #[serde(rename = "thoughtsTokenCount", skip_serializing_if = "Option::is_none")]
    thoughts: Option<u64>,
    #[serde(
        rename = "cachedContentTokenCount",
        skip_serializing_if = "Option::is_none"
    )]
    cached: Option<u64>,
}

fn usage_out(u: &Usage) -> Option<UsageOut> {
    if u.is_empty() {
        return None;
    }
    Some(UsageOut {
        prompt: u.input_tokens,
        candidates: u
            .output_tokens
            .map(|o| o.saturating_sub(u.reasoning_tokens.unwrap_or(0))),
        total: match (u.input_tokens, u.output_tokens) {
            (Some(i), Some(o)) => Some(i.saturating_add(o)),
            _ => None,
        },
        thoughts: u.reasoning_tokens,
        cached: u.cached_tokens,
    })
}

/// `encode_response` written straight to JSON bytes: the same text `serde_json::to_vec` of its
/// `Value` gives, without building the `Value` (tool arguments are still parsed, so `args`
/// objects come out normalized the same way).
pub(crate) fn encode_response_bytes(resp: &ChatResponse, model: &str) -> Vec<u8> {
    let out = ResponseOut {
        candidates: [CandidateOut {
            content: ContentOut {
                role: "model",
                parts: model_parts_out(&resp.content),
            },
            finish_reason: finish_to_gemini(&resp.finish),
            index: 0,
        }],
        usage_metadata: usage_out(&resp.usage),
        model_version: model,
        response_id: (!resp.id.is_empty()).then_some(resp.id.as_str()),
    };
    // Serializing these borrowed structs into a Vec cannot fail.
    serde_json::to_vec(&out).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// The common shapes take the typed path (equality with `decode_response_value` over every
    /// body is tested in omniroute-translate's `nonstream_bytes`).
    #[test]
    fn typed_path_takes_the_common_shapes() {
        let body = serde_json::to_vec(&json!({"candidates": [{"content": {"role": "model",
            "parts": [{"text": "t", "thought": true}, {"text": "Hi"}, {"functionCall":
            {"name": "f", "args": {"a": 1}}, "thoughtSignature": "s"}]}, "finishReason": "STOP",
            "index": 0}], "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2},
            "modelVersion": "g", "responseId": "r"}))
        .unwrap();
        let mut typed = decode_typed(&body).unwrap();
        let value = decode_response_value(&body).unwrap();
        typed.created = value.created;
        assert_eq!(typed, value);
        assert!(decode_typed(br#"[{"candidates": []}]"#).is_none());
        assert!(decode_typed(br#"{"error": {"code": 400}}"#).is_none());
        assert!(decode_typed(br#"{}"#).is_none());
    }

    #[test]
    fn finish_reasons_both_ways() {
        assert_eq!(finish_from_gemini("STOP", true), FinishReason::ToolCalls);
        assert_eq!(
            finish_from_gemini("SPII", false),
            FinishReason::ContentFilter
        );
        assert_eq!(
            finish_from_gemini("MALFORMED_FUNCTION_CALL", false),
            FinishReason::Other("MALFORMED_FUNCTION_CALL".into())
        );
        assert_eq!(finish_to_gemini(&FinishReason::ToolCalls), "STOP");
        assert_eq!(
            finish_to_gemini(&FinishReason::Other("MALFORMED_FUNCTION_CALL".into())),
            "MALFORMED_FUNCTION_CALL"
        );
        assert_eq!(
            finish_to_gemini(&FinishReason::Other("error".into())),
            "OTHER"
        );
    }

    #[test]
    fn usage_counts_thoughts_as_output() {
        let u = usage_from_gemini(
            json!({"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 7,
                   "cachedContentTokenCount": 3, "totalTokenCount": 22})
            .as_object()
            .unwrap(),
        );
        assert_eq!(u.output_tokens, Some(12));
        assert_eq!(u.reasoning_tokens, Some(7));
        let back = usage_to_gemini(&u).unwrap();
        assert_eq!(back["candidatesTokenCount"], 5);
        assert_eq!(back["totalTokenCount"], 22);
        let partial = usage_from_gemini(json!({"promptTokenCount": 4}).as_object().unwrap());
        assert_eq!(partial.output_tokens, None);
        assert_eq!(
            usage_to_gemini(&partial).unwrap(),
            json!({"promptTokenCount": 4})
        );
    }
}
