//! Gemini `generateContent` request bodies to and from the IR: `contents`, `systemInstruction`,
//! `tools`, `toolConfig` and `generationConfig` (including `thinkingConfig`).

use std::collections::HashMap;

use omniroute_ir::{
    arguments_object, make_call_id, ChatRequest, CodecError, ImageSource, Message, Part, Reasoning,
    ResponseFormat, Role, Tool, ToolChoice,
};
use serde_json::{json, Map, Value};

use crate::schema::{normalize_schema, to_json_schema};
use crate::util::{
    as_f64, as_i64, as_u64, get, get_obj, get_str, guess_image_mime, parse_data_url,
};

/// Google's documented value that makes Gemini 3 accept a replayed `functionCall` that has no
/// signature (history produced by another model or rebuilt by a client).
pub(crate) const SKIP_SIGNATURE_VALIDATOR: &str = "skip_thought_signature_validator";

// =============================================================================== decode

/// A tool call seen while decoding, for matching `functionResponse`s to it.
struct CallRef {
    /// Index of the IR message holding the call (may be the message being built).
    msg: usize,
    /// Index of the part within that message.
    part: usize,
    id: String,
    name: String,
    /// The id was made by us (the client sent none), so the client's response id may replace it.
    generated: bool,
    answered: bool,
}

pub(crate) fn decode_request(body: &[u8]) -> Result<ChatRequest, CodecError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| CodecError::new(format!("request body is not valid JSON: {e}")))?;
    let Value::Object(o) = &v else {
        return Err(CodecError::new("request body must be a JSON object"));
    };
    let mut req = ChatRequest::default();

    if let Some(si) = get(o, "systemInstruction") {
        decode_system(si, &mut req);
    }
    let contents = match get(o, "contents") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(CodecError::new("contents must be an array")),
        None => return Err(CodecError::new("contents is required")),
    };
    decode_contents(contents, &mut req)?;

    match get(o, "tools") {
        Some(Value::Array(tools)) => decode_tools(tools, &mut req),
        Some(_) => return Err(CodecError::new("tools must be an array")),
        None => {}
    }
    if let Some(tc) = get_obj(o, "toolConfig") {
        decode_tool_config(tc, &mut req);
    }
    match get(o, "generationConfig") {
        Some(Value::Object(gc)) => decode_generation_config(gc, &mut req)?,
        Some(_) => return Err(CodecError::new("generationConfig must be an object")),
        None => {}
    }
    for (key, what) in [
        ("safetySettings", "safetySettings"),
        ("cachedContent", "cachedContent"),
    ] {
        if get(o, key).is_some() {
            req.warnings.push(format!(
                "gemini: {what} dropped (no equivalent in translation)"
            ));
        }
    }
    Ok(req)
}

fn decode_system(si: &Value, req: &mut ChatRequest) {
    match si {
        Value::String(s) => {
            if !s.is_empty() {
                req.system.push(s.clone());
            }
        }
        Value::Object(o) => match get(o, "parts") {
            Some(Value::Array(parts)) => system_parts(parts, req),
            _ => {
                if let Some(t) = get_str(o, "text") {
                    if !t.is_empty() {
                        req.system.push(t.to_string());
                    }
                }
            }
        },
        Value::Array(parts) => system_parts(parts, req),
        _ => req
            .warnings
            .push("gemini: systemInstruction of an unexpected type dropped".into()),
    }
}

fn system_parts(parts: &[Value], req: &mut ChatRequest) {
    for p in parts {
        match p {
            Value::String(s) if !s.is_empty() => req.system.push(s.clone()),
            Value::Object(po) => match get_str(po, "text") {
                Some(t) if !t.is_empty() => req.system.push(t.to_string()),
                Some(_) => {}
                None => req
                    .warnings
                    .push("gemini: non-text systemInstruction part dropped".into()),
            },
            _ => {}
        }
    }
}

fn image_from_inline(d: &Map<String, Value>, warnings: &mut Vec<String>) -> Option<Part> {
    let mime = get_str(d, "mimeType").unwrap_or("");
    let data = get_str(d, "data").unwrap_or("");
    if !mime.starts_with("image/") {
        warnings.push(format!(
            "gemini: inlineData of type {:?} dropped (only images are translated)",
            mime
        ));
        return None;
    }
    Some(Part::Image {
        source: ImageSource::Base64 {
            media_type: mime.to_string(),
            data: data.to_string(),
        },
    })
}

fn image_from_file(d: &Map<String, Value>, warnings: &mut Vec<String>) -> Option<Part> {
    let uri = get_str(d, "fileUri").unwrap_or("");
    let mime = get_str(d, "mimeType")
        .map(str::to_string)
        .or_else(|| guess_image_mime(uri).map(str::to_string))
        .unwrap_or_default();
    if uri.is_empty() || !mime.starts_with("image/") {
        warnings.push(format!(
            "gemini: fileData {uri:?} of type {mime:?} dropped (only images are translated)"
        ));
        return None;
    }
    Some(Part::Image {
        source: ImageSource::Url {
            url: uri.to_string(),
            detail: None,
        },
    })
}

/// The text of a `functionResponse.response`: a lone `output`/`content`/`result` string is
/// unwrapped, a lone `error` string marks an error, anything else is kept as JSON text.
fn response_text(resp: Option<&Value>) -> (String, bool) {
    match resp {
        None => (String::new(), false),
        Some(Value::String(s)) => (s.clone(), false),
        Some(Value::Object(m)) if m.len() == 1 => match m.iter().next() {
            Some((k, Value::String(s)))
                if matches!(k.as_str(), "output" | "content" | "result") =>
            {
                (s.clone(), false)
            }
            Some((k, Value::String(s))) if k == "error" => (s.clone(), true),
            _ => (Value::Object(m.clone()).to_string(), false),
        },
        Some(other) => (other.to_string(), false),
    }
}

fn decode_contents(contents: &[Value], req: &mut ChatRequest) -> Result<(), CodecError> {
    let mut calls: Vec<CallRef> = Vec::new();
    for (turn, c) in contents.iter().enumerate() {
        let Value::Object(c) = c else {
            return Err(CodecError::new(format!(
                "contents[{turn}] must be an object"
            )));
        };
        let role = match get_str(c, "role") {
            Some("model") | Some("assistant") => Role::Assistant,
            Some("user") | Some("function") | Some("tool") | None => Role::User,
            Some(other) => {
                req.warnings.push(format!(
                    "gemini: contents[{turn}] role {other:?} treated as user"
                ));
                Role::User
            }
        };
        let parts: &[Value] = match get(c, "parts") {
            Some(Value::Array(a)) => a,
            None => &[],
            Some(_) => {
                return Err(CodecError::new(format!(
                    "contents[{turn}].parts must be an array"
                )))
            }
        };
        let msg_index = req.messages.len();
        let mut content: Vec<Part> = Vec::new();
        // Tool results found in a model turn go to a user message after it.
        let mut results: Vec<Part> = Vec::new();
        let mut n_calls = 0usize;

        for (pi, p) in parts.iter().enumerate() {
            let Value::Object(p) = p else {
                req.warnings.push(format!(
                    "gemini: contents[{turn}].parts[{pi}] is not an object; dropped"
                ));
                continue;
            };
            let sig = get_str(p, "thoughtSignature")
                .filter(|s| !s.is_empty())
                .map(str::to_string);

            if let Some(t) = get(p, "text") {
                let text = t.as_str().unwrap_or("").to_string();
                if get(p, "thought").and_then(Value::as_bool) == Some(true) {
                    content.push(Part::Reasoning {
                        text,
                        signature: sig,
                        redacted: None,
                        encrypted: None,
                        id: None,
                    });
                } else {
                    if let Some(s) = sig {
                        content.push(signature_only(s));
                    }
                    if !text.is_empty() {
                        content.push(Part::Text { text });
                    }
                }
            } else if let Some(fc) = get_obj(p, "functionCall") {
                let name = get_str(fc, "name").unwrap_or("").to_string();
                let args = get(fc, "args")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Map::new()));
                let given = get_str(fc, "id").filter(|s| !s.is_empty());
                let id = match given {
                    Some(id) => id.to_string(),
                    None => make_call_id("call_", &format!("{turn}:{n_calls}:{name}")),
                };
                n_calls += 1;
                calls.push(CallRef {
                    msg: msg_index,
                    part: content.len(),
                    id: id.clone(),
                    name: name.clone(),
                    generated: given.is_none(),
                    answered: false,
                });
                content.push(Part::ToolCall {
                    id,
                    name,
                    arguments: args.to_string(),
                    signature: sig,
                });
            } else if let Some(fr) = get_obj(p, "functionResponse") {
                let name = get_str(fr, "name").unwrap_or("").to_string();
                let given = get_str(fr, "id").filter(|s| !s.is_empty());
                let call_id = match_call(&mut calls, given, &name, msg_index, req, turn, pi);
                let (text, is_error) = response_text(get(fr, "response"));
                let mut parts = Vec::new();
                if !text.is_empty() {
                    parts.push(Part::Text { text });
                }
                if let Some(Value::Array(extra)) = get(fr, "parts") {
                    for e in extra.iter().filter_map(Value::as_object) {
                        if let Some(d) = get_obj(e, "inlineData") {
                            parts.extend(image_from_inline(d, &mut req.warnings));
                        } else if let Some(d) = get_obj(e, "fileData") {
                            parts.extend(image_from_file(d, &mut req.warnings));
                        }
                    }
                }
                let part = Part::ToolResult {
                    call_id,
                    name: (!name.is_empty()).then_some(name),
                    content: parts,
                    is_error,
                };
                if role == Role::Assistant {
                    results.push(part);
                } else {
                    content.push(part);
                }
            } else if let Some(d) = get_obj(p, "inlineData") {
                if let Some(s) = sig {
                    content.push(signature_only(s));
                }
                content.extend(image_from_inline(d, &mut req.warnings));
            } else if let Some(d) = get_obj(p, "fileData") {
                if let Some(s) = sig {
                    content.push(signature_only(s));
                }
                content.extend(image_from_file(d, &mut req.warnings));
            } else if get(p, "executableCode").is_some() || get(p, "codeExecutionResult").is_some()
            {
                req.warnings.push(format!(
                    "gemini: contents[{turn}].parts[{pi}] code execution part dropped"
                ));
            } else if let Some(s) = sig {
                content.push(signature_only(s));
            } else {
                let keys: Vec<&str> = p.keys().map(String::as_str).collect();
                req.warnings.push(format!(
                    "gemini: contents[{turn}].parts[{pi}] unsupported part {keys:?} dropped"
                ));
            }
        }
        if !content.is_empty() {
            req.messages.push(Message { role, content });
        }
        if !results.is_empty() {
            req.warnings.push(format!(
                "gemini: contents[{turn}] functionResponse in a model turn moved to a user turn"
            ));
            req.messages.push(Message {
                role: Role::User,
                content: results,
            });
        }
    }
    Ok(())
}

fn signature_only(signature: String) -> Part {
    Part::Reasoning {
        text: String::new(),
        signature: Some(signature),
        redacted: None,
        encrypted: None,
        id: None,
    }
}

/// The call id a `functionResponse` answers: its own id when a call has it; else the earliest
/// unanswered call with the same name (whose made-up id takes the client's response id, so the
/// pair stays consistent); else the response's own id (or a derived one).
fn match_call(
    calls: &mut [CallRef],
    given: Option<&str>,
    name: &str,
    current_msg: usize,
    req: &mut ChatRequest,
    turn: usize,
    pi: usize,
) -> String {
    if let Some(id) = given {
        if let Some(c) = calls
            .iter_mut()
            .filter(|c| c.id == id)
            .min_by_key(|c| c.answered)
        {
            c.answered = true;
            return id.to_string();
        }
    }
    if let Some(c) = calls.iter_mut().find(|c| !c.answered && c.name == name) {
        c.answered = true;
        match given {
            Some(id) if c.generated && c.msg < current_msg => {
                if let Some(Part::ToolCall { id: call_id, .. }) = req
                    .messages
                    .get_mut(c.msg)
                    .and_then(|m| m.content.get_mut(c.part))
                {
                    *call_id = id.to_string();
                }
                c.id = id.to_string();
                return c.id.clone();
            }
            Some(id) => {
                req.warnings.push(format!(
                    "gemini: functionResponse id {id:?} matches no call; paired with {name:?} call {:?}",
                    c.id
                ));
            }
            None => {}
        }
        return c.id.clone();
    }
    match given {
        Some(id) => id.to_string(),
        None => {
            req.warnings.push(format!(
                "gemini: functionResponse {name:?} answers no known call"
            ));
            make_call_id("call_", &format!("{turn}:{pi}:{name}:response"))
        }
    }
}

fn decode_tools(tools: &[Value], req: &mut ChatRequest) {
    for t in tools {
        let Value::Object(t) = t else {
            req.warnings
                .push("gemini: tools entry that is not an object dropped".into());
            continue;
        };
        for (key, val) in t {
            if key != "functionDeclarations" && key != "function_declarations" {
                req.warnings
                    .push(format!("gemini: server tool {key:?} dropped"));
                continue;
            }
            let Value::Array(decls) = val else {
                continue;
            };
            for d in decls {
                let Value::Object(d) = d else {
                    continue;
                };
                let Some(name) = get_str(d, "name").filter(|n| !n.is_empty()) else {
                    req.warnings
                        .push("gemini: function declaration without a name dropped".into());
                    continue;
                };
                let params = get(d, "parametersJsonSchema")
                    .or_else(|| get(d, "parameters"))
                    .map(to_json_schema)
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                req.tools.push(Tool {
                    name: name.to_string(),
                    description: get_str(d, "description").map(str::to_string),
                    parameters: params,
                    strict: None,
                });
            }
        }
    }
}

fn decode_tool_config(tc: &Map<String, Value>, req: &mut ChatRequest) {
    let Some(fc) = get_obj(tc, "functionCallingConfig") else {
        return;
    };
    let allowed: Vec<&str> = match get(fc, "allowedFunctionNames") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mode = get_str(fc, "mode").unwrap_or("").to_ascii_uppercase();
    req.tool_choice = match mode.as_str() {
        "AUTO" | "VALIDATED" => Some(ToolChoice::Auto),
        "NONE" => Some(ToolChoice::None),
        "ANY" => {
            if allowed.len() == 1 {
                Some(ToolChoice::Tool {
                    name: allowed[0].to_string(),
                })
            } else {
                Some(ToolChoice::Required)
            }
        }
        _ => None,
    };
    if allowed.len() > 1 {
        req.warnings.push(format!(
            "gemini: allowedFunctionNames {allowed:?} not translated (any tool may be called)"
        ));
    }
}

fn decode_generation_config(
    gc: &Map<String, Value>,
    req: &mut ChatRequest,
) -> Result<(), CodecError> {
    if let Some(n) = get(gc, "candidateCount").and_then(as_u64) {
        if n > 1 {
            return Err(CodecError::new(
                "generationConfig.candidateCount > 1 is not supported",
            ));
        }
    }
    req.max_tokens = get(gc, "maxOutputTokens").and_then(as_u64);
    req.temperature = get(gc, "temperature").and_then(as_f64);
    req.top_p = get(gc, "topP").and_then(as_f64);
    req.top_k = get(gc, "topK").and_then(as_u64);
    req.seed = get(gc, "seed").and_then(as_i64);
    req.presence_penalty = get(gc, "presencePenalty").and_then(as_f64);
    req.frequency_penalty = get(gc, "frequencyPenalty").and_then(as_f64);
    match get(gc, "stopSequences") {
        Some(Value::Array(a)) => {
            req.stop = a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        }
        Some(Value::String(s)) => req.stop = vec![s.clone()],
        _ => {}
    }

    let mime = get_str(gc, "responseMimeType").unwrap_or("");
    let schema = get(gc, "responseJsonSchema").or_else(|| get(gc, "responseSchema"));
    if mime.eq_ignore_ascii_case("application/json") {
        req.response_format = Some(match schema {
            Some(s) => ResponseFormat::JsonSchema {
                name: "response".into(),
                schema: to_json_schema(s),
                strict: None,
            },
            None => ResponseFormat::JsonObject,
        });
    } else if !mime.is_empty() && !mime.eq_ignore_ascii_case("text/plain") {
        req.warnings
            .push(format!("gemini: responseMimeType {mime:?} not translated"));
    }

    if let Some(tc) = get_obj(gc, "thinkingConfig") {
        let mut r = Reasoning::default();
        match get(tc, "thinkingBudget").and_then(as_i64) {
            Some(0) => r.disabled = true,
            Some(b) if b < 0 => r.adaptive = true,
            Some(b) => r.budget_tokens = Some(b as u64),
            None => {}
        }
        if let Some(level) = get_str(tc, "thinkingLevel") {
            let l = level.to_ascii_lowercase();
            if !l.is_empty() && l != "thinking_level_unspecified" {
                r.effort = Some(l);
            }
        }
        r.include_thoughts = get(tc, "includeThoughts").and_then(Value::as_bool);
        req.reasoning = Some(r);
    }
    Ok(())
}

// =============================================================================== encode

/// The major version of a Gemini model id (`gemini-3-pro-preview` → 3), any path prefix
/// (`models/`, `google/`) ignored.
fn gemini_major(model: &str) -> Option<u32> {
    let m = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let rest = m.strip_prefix("gemini-")?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Gemini 3 and later take `thinkingLevel` and require signatures on replayed calls.
fn is_level_model(model: &str) -> bool {
    gemini_major(model).is_some_and(|v| v >= 3)
}

fn image_part(src: &ImageSource, warnings: &mut Vec<String>) -> Option<Value> {
    match src {
        ImageSource::Base64 { media_type, data } => Some(json!({
            "inlineData": {"mimeType": media_type, "data": data}
        })),
        ImageSource::Url { url, .. } => {
            if url.starts_with("data:") {
                let parsed = parse_data_url(url);
                if parsed.is_none() {
                    warnings.push("gemini: non-base64 data: URL image dropped".into());
                }
                let (mime, data) = parsed?;
                Some(json!({"inlineData": {"mimeType": mime, "data": data}}))
            } else {
                let mime = guess_image_mime(url).unwrap_or("image/jpeg");
                warnings.push(format!(
                    "gemini: image URL sent as fileData (Gemini fetches it), mimeType {mime} guessed"
                ));
                Some(json!({"fileData": {"mimeType": mime, "fileUri": url}}))
            }
        }
    }
}

fn tool_result_parts(
    call_id: &str,
    name: Option<&str>,
    content: &[Part],
    is_error: bool,
    call_names: &HashMap<&str, &str>,
    warnings: &mut Vec<String>,
) -> Vec<Value> {
    let name = match name
        .filter(|n| !n.is_empty())
        .or_else(|| call_names.get(call_id).copied())
    {
        Some(n) => n,
        None => {
            warnings.push(format!(
                "gemini: tool result {call_id:?} matches no call; sent as \"unknown_tool\""
            ));
            "unknown_tool"
        }
    };
    let mut texts: Vec<&str> = Vec::new();
    let mut images: Vec<Value> = Vec::new();
    for p in content {
        match p {
            Part::Text { text } => texts.push(text),
            Part::Image { source } => images.extend(image_part(source, warnings)),
            _ => {}
        }
    }
    let text = texts.join("\n");
    let response = if is_error {
        json!({ "error": text })
    } else {
        match serde_json::from_str::<Value>(text.trim()) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({ "result": text }),
        }
    };
    let mut fr = Map::new();
    fr.insert("name".into(), name.into());
    if !call_id.is_empty() {
        fr.insert("id".into(), call_id.into());
    }
    fr.insert("response".into(), response);
    let mut out = vec![json!({ "functionResponse": Value::Object(fr) })];
    out.extend(images);
    out
}

fn encode_contents(req: &ChatRequest, warnings: &mut Vec<String>) -> Vec<Value> {
    let call_names: HashMap<&str, &str> = req
        .messages
        .iter()
        .flat_map(|m| m.content.iter())
        .filter_map(|p| match p {
            Part::ToolCall { id, name, .. } => Some((id.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    let sentinel = is_level_model(&req.model);
    let mut dropped_sigs = 0usize;

    let mut contents: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        let mut parts: Vec<Value> = Vec::new();
        let mut pending_sig: Option<&str> = None;
        for p in &m.content {
            let (mut new_parts, own_sig): (Vec<Value>, Option<&str>) = match p {
                Part::Reasoning { signature, .. } => {
                    if let Some(s) = signature.as_deref().filter(|s| !s.is_empty()) {
                        if pending_sig.replace(s).is_some() {
                            dropped_sigs += 1;
                        }
                    }
                    continue;
                }
                Part::Text { text } => {
                    if text.is_empty() {
                        continue;
                    }
                    (vec![json!({ "text": text })], None)
                }
                Part::Image { source } => {
                    (image_part(source, warnings).into_iter().collect(), None)
                }
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                    signature,
                } => {
                    let mut fc = Map::new();
                    fc.insert("name".into(), name.as_str().into());
                    fc.insert("args".into(), arguments_object(arguments));
                    if !id.is_empty() {
                        fc.insert("id".into(), id.as_str().into());
                    }
                    (
                        vec![json!({ "functionCall": Value::Object(fc) })],
                        signature.as_deref().filter(|s| !s.is_empty()),
                    )
                }
                Part::ToolResult {
                    call_id,
                    name,
                    content,
                    is_error,
                } => (
                    tool_result_parts(
                        call_id,
                        name.as_deref(),
                        content,
                        *is_error,
                        &call_names,
                        warnings,
                    ),
                    None,
                ),
            };
            if new_parts.is_empty() {
                continue;
            }
            // A call's own signature wins; a pending one is spent on the next part either way.
            let pending = pending_sig.take();
            if own_sig.is_some() && pending.is_some() {
                dropped_sigs += 1;
            }
            if let (Some(s), Some(Value::Object(first))) =
                (own_sig.or(pending), new_parts.first_mut())
            {
                first.insert("thoughtSignature".into(), s.into());
            }
            parts.append(&mut new_parts);
        }
        if pending_sig.is_some() {
            dropped_sigs += 1;
        }
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some((r, existing)) if *r == role => existing.append(&mut parts),
            _ => contents.push((role, parts)),
        }
    }
    if dropped_sigs > 0 {
        warnings.push(format!(
            "gemini: {dropped_sigs} reasoning signature(s) with no part to carry them dropped"
        ));
    }

    if sentinel {
        // Gemini 3 rejects a replayed model step whose first call has no signature; Google
        // documents this value for history it did not produce.
        let mut bypassed = 0usize;
        for (_, parts) in contents.iter_mut().filter(|(r, _)| *r == "model") {
            if let Some(Value::Object(first_call)) =
                parts.iter_mut().find(|p| p.get("functionCall").is_some())
            {
                if !first_call.contains_key("thoughtSignature") {
                    first_call.insert("thoughtSignature".into(), SKIP_SIGNATURE_VALIDATOR.into());
                    bypassed += 1;
                }
            }
        }
        if bypassed > 0 {
            warnings.push(format!(
                "gemini: {bypassed} replayed function call(s) without a thought signature sent with {SKIP_SIGNATURE_VALIDATOR:?}"
            ));
        }
    }

    contents
        .into_iter()
        .map(|(role, parts)| json!({ "role": role, "parts": parts }))
        .collect()
}

/// The function-declaration parameters: normalized, with an object root.
fn parameters_schema(params: &Value) -> Value {
    let mut n = normalize_schema(params);
    let is_object = n.get("type").and_then(Value::as_str) == Some("object");
    if !is_object {
        n = json!({ "type": "object", "properties": {} });
    } else if let Value::Object(m) = &mut n {
        m.entry("properties").or_insert_with(|| json!({}));
    }
    n
}

fn effort_budget(effort: &str) -> Option<u64> {
    Some(match effort {
        "minimal" => 512,
        "low" => 2048,
        "medium" => 8192,
        "high" => 16384,
        "xhigh" | "max" => 24576,
        _ => return None,
    })
}

fn effort_level(effort: &str) -> Option<&'static str> {
    Some(match effort {
        "minimal" | "low" => "low",
        "medium" | "high" | "xhigh" | "max" => "high",
        _ => return None,
    })
}

/// Gemini's accepted budget range for the model family, then strictly below `maxOutputTokens`.
fn clamp_budget(budget: u64, model: &str, max_tokens: Option<u64>) -> u64 {
    let m = model.to_ascii_lowercase();
    let (lo, hi) = if m.contains("flash-lite") {
        (512, 24576)
    } else if m.contains("flash") {
        (1, 24576)
    } else if m.contains("pro") {
        (128, 32768)
    } else {
        (1, 32768)
    };
    let mut b = budget.clamp(lo, hi);
    if let Some(max) = max_tokens {
        if b >= max {
            b = max.saturating_sub(1).max(1);
        }
    }
    b
}

fn budget_value(b: u64, req: &ChatRequest, warnings: &mut Vec<String>) -> Value {
    let c = clamp_budget(b, &req.model, req.max_tokens);
    if c != b {
        warnings.push(format!("gemini: thinking budget {b} clamped to {c}"));
    }
    c.into()
}

fn thinking_config(req: &ChatRequest, warnings: &mut Vec<String>) -> Option<Value> {
    let r = req.reasoning.as_ref()?;
    let model = req.model.as_str();
    let level_model = is_level_model(model);
    let effort = r.effort.as_deref().map(str::to_ascii_lowercase);
    let disabled = r.disabled || effort.as_deref() == Some("none");
    let mut cfg = Map::new();
    if disabled {
        if level_model {
            warnings.push(
                "gemini: thinking cannot be disabled on Gemini 3; thinkingLevel low sent".into(),
            );
            cfg.insert("thinkingLevel".into(), "low".into());
        } else if model.to_ascii_lowercase().contains("pro") {
            warnings
                .push("gemini: thinking cannot be disabled on this Pro model; default kept".into());
            return None;
        } else {
            cfg.insert("thinkingBudget".into(), 0.into());
        }
        return Some(Value::Object(cfg));
    }
    let level = effort.as_deref().and_then(effort_level);
    if let (true, Some(level)) = (level_model, level) {
        cfg.insert("thinkingLevel".into(), level.into());
    } else if let Some(b) = r.budget_tokens.filter(|b| *b > 0) {
        cfg.insert("thinkingBudget".into(), budget_value(b, req, warnings));
    } else if let Some(b) = effort.as_deref().and_then(effort_budget) {
        cfg.insert("thinkingBudget".into(), budget_value(b, req, warnings));
    } else if r.adaptive {
        cfg.insert("thinkingBudget".into(), (-1).into());
    }
    cfg.insert("includeThoughts".into(), true.into());
    Some(Value::Object(cfg))
}

/// IR → Gemini request body, with what was dropped or rewritten.
pub(crate) fn encode_request(req: &ChatRequest) -> Result<(Value, Vec<String>), CodecError> {
    let mut warnings = Vec::new();
    let mut body = Map::new();
    body.insert(
        "contents".into(),
        Value::Array(encode_contents(req, &mut warnings)),
    );

    let system: Vec<Value> = req
        .system
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| json!({ "text": s }))
        .collect();
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({ "parts": system }));
    }

    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut d = Map::new();
                d.insert("name".into(), t.name.as_str().into());
                if let Some(desc) = t.description.as_deref().filter(|d| !d.is_empty()) {
                    d.insert("description".into(), desc.into());
                }
                d.insert("parameters".into(), parameters_schema(&t.parameters));
                Value::Object(d)
            })
            .collect();
        body.insert("tools".into(), json!([{ "functionDeclarations": decls }]));
        if let Some(tc) = &req.tool_choice {
            let fc = match tc {
                ToolChoice::Auto => json!({"mode": "AUTO"}),
                ToolChoice::None => json!({"mode": "NONE"}),
                ToolChoice::Required => json!({"mode": "ANY"}),
                ToolChoice::Tool { name } => {
                    json!({"mode": "ANY", "allowedFunctionNames": [name]})
                }
            };
            body.insert("toolConfig".into(), json!({ "functionCallingConfig": fc }));
        }
        if req.parallel_tool_calls == Some(false) {
            warnings.push("gemini: parallel_tool_calls=false has no Gemini equivalent".into());
        }
    }

    let mut gc = Map::new();
    if let Some(n) = req.max_tokens {
        gc.insert("maxOutputTokens".into(), n.into());
    }
    if let Some(t) = req.temperature {
        gc.insert("temperature".into(), t.into());
    }
    if let Some(t) = req.top_p {
        gc.insert("topP".into(), t.into());
    }
    if let Some(k) = req.top_k {
        gc.insert("topK".into(), k.into());
    }
    if !req.stop.is_empty() {
        gc.insert("stopSequences".into(), req.stop.clone().into());
    }
    if let Some(s) = req.seed {
        gc.insert("seed".into(), s.into());
    }
    if req.presence_penalty.is_some() || req.frequency_penalty.is_some() {
        // Several Gemini models reject the penalties outright (400).
        warnings.push("gemini: presence/frequency penalty dropped".into());
    }
    match &req.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            gc.insert("responseMimeType".into(), "application/json".into());
            gc.insert("responseSchema".into(), normalize_schema(schema));
        }
        Some(ResponseFormat::JsonObject) => {
            gc.insert("responseMimeType".into(), "application/json".into());
        }
        Some(ResponseFormat::Text) | None => {}
    }
    if let Some(tc) = thinking_config(req, &mut warnings) {
        gc.insert("thinkingConfig".into(), tc);
    }
    if !gc.is_empty() {
        body.insert("generationConfig".into(), Value::Object(gc));
    }
    Ok((Value::Object(body), warnings))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn model_versions() {
        assert_eq!(gemini_major("gemini-3-pro-preview"), Some(3));
        assert_eq!(gemini_major("models/gemini-3.5-flash"), Some(3));
        assert_eq!(gemini_major("gemini-2.5-pro"), Some(2));
        assert_eq!(gemini_major("gpt-4o"), None);
        assert!(is_level_model("google/gemini-3.8-flash"));
        assert!(!is_level_model("gemini-2.5-flash"));
    }

    #[test]
    fn budgets_are_clamped() {
        assert_eq!(clamp_budget(50_000, "gemini-2.5-pro", None), 32768);
        assert_eq!(clamp_budget(10, "gemini-2.5-pro", None), 128);
        assert_eq!(clamp_budget(8192, "gemini-2.5-flash", Some(4096)), 4095);
    }

    #[test]
    fn response_text_unwraps_lone_strings() {
        assert_eq!(
            response_text(Some(&json!({"output": "x"}))),
            ("x".into(), false)
        );
        assert_eq!(
            response_text(Some(&json!({"error": "boom"}))),
            ("boom".into(), true)
        );
        assert_eq!(
            response_text(Some(&json!({"a": 1, "b": 2}))),
            (r#"{"a":1,"b":2}"#.into(), false)
        );
    }
}
