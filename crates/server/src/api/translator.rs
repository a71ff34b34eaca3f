//! The dashboard's translator: the playground (`POST /api/translate`: a request or a response
//! in one API format, detected when not given, rewritten into another by the same codecs the
//! proxy uses) and the chat tester (`POST /api/translator/chat`: a real round trip through the
//! pipeline that also returns the translated request and the raw upstream answer).

use super::{bad, parse_body, ApiResult, St};
use crate::middleware::{new_request_id, RequestId};
use axum::extract::State;
use axum::Json;
use bytes::Bytes;
use omniroute_protocol::ApiFormat;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Instant;

const FORMATS: &str = "`openai`, `anthropic`, `gemini` or `responses`";

fn format_of(name: &str) -> Result<ApiFormat, crate::error::HttpError> {
    name.parse()
        .map_err(|_| bad(format!("unknown format `{name}`: expected {FORMATS}")))
}

fn has_block(v: &Value, types: &[&str]) -> bool {
    v.get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten()
        .filter_map(|b| b.get("type").and_then(Value::as_str))
        .any(|t| types.contains(&t))
}

/// The client format a request body is written in, from the fields only that format has.
pub fn detect_request(v: &Value) -> ApiFormat {
    if v.get("contents").is_some() || v.get("generationConfig").is_some() {
        return ApiFormat::Gemini;
    }
    if v.get("messages").is_none() && (v.get("input").is_some() || v.get("instructions").is_some())
    {
        return ApiFormat::Responses;
    }
    let anthropic_tools = v
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|t| t.get("input_schema").is_some()));
    if v.get("system").is_some()
        || v.get("anthropic_version").is_some()
        || v.get("stop_sequences").is_some()
        || v.get("thinking").is_some()
        || anthropic_tools
        || has_block(v, &["tool_use", "tool_result", "thinking", "document"])
    {
        return ApiFormat::Anthropic;
    }
    ApiFormat::Openai
}

/// The format a (non-stream) response body is written in.
pub fn detect_response(v: &Value) -> ApiFormat {
    if v.get("choices").is_some() {
        ApiFormat::Openai
    } else if v.get("candidates").is_some() || v.get("usageMetadata").is_some() {
        ApiFormat::Gemini
    } else if v.get("object").and_then(Value::as_str) == Some("response")
        || v.get("output").is_some()
    {
        ApiFormat::Responses
    } else {
        ApiFormat::Anthropic
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TranslateBody {
    /// The body's format; absent or `auto`: detected.
    #[serde(default)]
    from: Option<String>,
    to: String,
    /// `request` (default) or `response`.
    #[serde(default)]
    kind: Option<String>,
    body: Value,
    /// The model to write into the result (Gemini requests carry none in their body).
    #[serde(default)]
    model: Option<String>,
}

/// `POST /api/translate {from?, to, kind?, body, model?}`.
pub(super) async fn translate(body: Bytes) -> ApiResult {
    let b: TranslateBody = parse_body(&body)?;
    let response = match b.kind.as_deref().unwrap_or("request") {
        "request" => false,
        "response" => true,
        other => {
            return Err(bad(format!(
                "unknown kind `{other}`: expected `request` or `response`"
            )))
        }
    };
    if !b.body.is_object() {
        return Err(bad("`body` must be a JSON object"));
    }
    let (from, detected) = match b.from.as_deref() {
        None | Some("auto") | Some("") => (
            if response {
                detect_response(&b.body)
            } else {
                detect_request(&b.body)
            },
            true,
        ),
        Some(f) => (format_of(f)?, false),
    };
    let to = format_of(&b.to)?;
    let raw = serde_json::to_vec(&b.body).map_err(|e| bad(e.to_string()))?;
    if response {
        let model = b.model.as_deref().unwrap_or("");
        let (out, usage) = omniroute_translate::translate_response(from, to, &raw, model)
            .map_err(|e| bad(format!("not a valid {from} response: {e}")))?;
        return Ok(Json(json!(crate::views::TranslateAnswer {
            kind: "response".into(),
            from: from.as_str().into(),
            detected,
            to: to.as_str().into(),
            body: out,
            warnings: None,
            usage: Some(crate::views::UsageView {
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                cached_tokens: usage.cached_tokens,
                reasoning_tokens: usage.reasoning_tokens,
            }),
        })));
    }
    let mut ir = omniroute_translate::decode_request(from, &raw, b.model.as_deref())
        .map_err(|e| bad(format!("not a valid {from} request: {e}")))?;
    let model = b.model.clone().unwrap_or_else(|| ir.model.clone());
    let (out, mut warnings) = omniroute_translate::encode_request(to, &mut ir, &model)
        .map_err(|e| bad(format!("cannot be written as a {to} request: {e}")))?;
    let mut all: Vec<String> = ir.warnings.clone();
    all.append(&mut warnings);
    Ok(Json(json!(crate::views::TranslateAnswer {
        kind: "request".into(),
        from: from.as_str().into(),
        detected,
        to: to.as_str().into(),
        body: out,
        warnings: Some(all),
        usage: None,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChatBody {
    /// The client format to speak (default `openai`).
    #[serde(default)]
    format: Option<String>,
    /// A model, alias or combo name.
    model: String,
    /// The request as a client would send it; absent: built from `prompt`.
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    prompt: Option<String>,
}

/// A minimal request in `format` asking `prompt`.
fn request_for(format: ApiFormat, model: &str, prompt: &str) -> Value {
    match format {
        ApiFormat::Openai => {
            json!({"model": model, "messages": [{"role": "user", "content": prompt}]})
        }
        ApiFormat::Anthropic => json!({"model": model, "max_tokens": 1024,
            "messages": [{"role": "user", "content": prompt}]}),
        ApiFormat::Responses => json!({"model": model, "input": prompt}),
        ApiFormat::Gemini => json!({"contents": [{"role": "user", "parts": [{"text": prompt}]}]}),
    }
}

/// `POST /api/translator/chat {format?, model, body? | prompt?}`: the round trip, non-stream.
pub(super) async fn chat(State(st): St, body: Bytes) -> ApiResult {
    let b: ChatBody = parse_body(&body)?;
    let format = format_of(b.format.as_deref().unwrap_or("openai"))?;
    let model = b.model.trim();
    if model.is_empty() {
        return Err(bad("`model` is required"));
    }
    let mut req = match b.body {
        Some(v) if v.is_object() => v,
        Some(_) => return Err(bad("`body` must be a JSON object")),
        None => request_for(format, model, b.prompt.as_deref().unwrap_or("Say hello.")),
    };
    if format != ApiFormat::Gemini {
        req["model"] = json!(model);
        req["stream"] = json!(false);
    }
    let bytes = Bytes::from(serde_json::to_vec(&req).map_err(|e| bad(e.to_string()))?);
    let rid = new_request_id();
    let started = Instant::now();
    let (resp, attempts) = crate::proxy::tester(
        st,
        RequestId(rid.as_str().into(), None),
        format,
        model,
        bytes,
    )
    .await;
    let status = resp.status().as_u16();
    let headers: std::collections::BTreeMap<String, String> = resp
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-omniroute") || k.as_str() == "x-request-id")
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let raw = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .unwrap_or_default();
    let answer: Value = serde_json::from_slice(&raw)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
    Ok(Json(json!(crate::views::ChatAnswer {
        request_id: rid,
        format: format.as_str().into(),
        client_request: req,
        status,
        latency_ms: started.elapsed().as_millis() as u64,
        headers,
        attempts,
        response: answer,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_request_formats() {
        let cases = [
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
                ApiFormat::Openai,
            ),
            (
                json!({"model": "m", "max_tokens": 5, "system": "s", "messages": []}),
                ApiFormat::Anthropic,
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t", "content": "x"}]}]}),
                ApiFormat::Anthropic,
            ),
            (
                json!({"contents": [{"parts": [{"text": "hi"}]}]}),
                ApiFormat::Gemini,
            ),
            (json!({"model": "m", "input": "hi"}), ApiFormat::Responses),
        ];
        for (v, want) in cases {
            assert_eq!(detect_request(&v), want, "{v}");
        }
        assert_eq!(detect_response(&json!({"choices": []})), ApiFormat::Openai);
        assert_eq!(
            detect_response(&json!({"candidates": []})),
            ApiFormat::Gemini
        );
        assert_eq!(
            detect_response(&json!({"object": "response", "output": []})),
            ApiFormat::Responses
        );
        assert_eq!(
            detect_response(&json!({"type": "message", "content": []})),
            ApiFormat::Anthropic
        );
    }
}
