//! Gemini `GenerateContentResponse` bodies to and from the IR, plus the pieces the stream codec
//! shares: model parts → IR parts, finish reasons and `usageMetadata` both ways.

use omniroute_ir::{make_call_id, ChatResponse, CodecError, FinishReason, Part, Usage};
use serde_json::{json, Map, Value};

use crate::util::{as_u64, get, get_obj, get_str, now_secs};

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
            .map(|c| c + thoughts.unwrap_or(0)),
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
        m.insert("totalTokenCount".into(), (i + o).into());
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

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
