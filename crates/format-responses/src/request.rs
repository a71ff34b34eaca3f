//! `POST /v1/responses` request bodies: a client's body → IR (`decode_request`) and IR → an
//! upstream body (`encode_request`).

use crate::common::{
    item_tool_name, remember_namespaced, str_at, u64_at, unwrap_signature, Carried,
};
use omniroute_ir::{
    make_call_id, ChatRequest, CodecError, ImageSource, Message, Part, Reasoning, ResponseFormat,
    Role, Tool, ToolChoice,
};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

// =============================================================================== decoding

/// Client request → IR. See the crate docs for how namespace tools are named.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, CodecError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| CodecError::new(format!("request body is not valid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| CodecError::new("request body must be a JSON object"))?;
    if obj
        .get("previous_response_id")
        .is_some_and(|p| !p.is_null())
    {
        return Err(CodecError::new(
            "previous_response_id is not supported: send the full input",
        ));
    }

    let mut b = Builder::default();
    match obj.get("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            if !s.is_empty() {
                b.system.push(s.clone());
            }
        }
        Some(Value::Array(items)) => {
            for item in items {
                b.system
                    .extend(text_blocks(item.get("content").unwrap_or(item)));
            }
        }
        Some(_) => return Err(CodecError::new("`instructions` must be a string")),
    }
    match obj.get("input") {
        None | Some(Value::Null) => return Err(CodecError::new("missing field `input`")),
        Some(Value::String(s)) => b.push(Role::User, Part::Text { text: s.clone() }),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                b.item(i, item)?;
            }
            b.finish();
        }
        Some(_) => {
            return Err(CodecError::new(
                "`input` must be a string or an array of input items",
            ))
        }
    }

    let tools = match obj.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => decode_tools(tools, &mut b.warnings),
        Some(_) => return Err(CodecError::new("`tools` must be an array")),
    };
    let tool_choice = obj
        .get("tool_choice")
        .and_then(|tc| decode_tool_choice(tc, &mut b.warnings));

    let mut reasoning = obj.get("reasoning").filter(|r| r.is_object()).map(|r| {
        let effort = str_at(r, "effort").map(str::to_string);
        let disabled = effort.as_deref() == Some("none");
        Reasoning {
            effort: effort.filter(|_| !disabled),
            disabled,
            summary: str_at(r, "summary")
                .or_else(|| str_at(r, "generate_summary"))
                .map(str::to_string),
            ..Default::default()
        }
    });
    let wants_encrypted = obj
        .get("include")
        .and_then(Value::as_array)
        .is_some_and(|inc| {
            inc.iter()
                .any(|x| x.as_str() == Some("reasoning.encrypted_content"))
        });
    if wants_encrypted {
        reasoning
            .get_or_insert_with(Reasoning::default)
            .include_thoughts = Some(true);
    }

    let response_format = obj
        .get("text")
        .and_then(|t| t.get("format"))
        .and_then(|f| decode_format(f, &mut b.warnings));

    Ok(ChatRequest {
        model: obj
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        system: b.system,
        messages: b.messages,
        tools,
        tool_choice,
        parallel_tool_calls: obj.get("parallel_tool_calls").and_then(Value::as_bool),
        max_tokens: u64_at(&v, "max_output_tokens"),
        temperature: obj.get("temperature").and_then(Value::as_f64),
        top_p: obj.get("top_p").and_then(Value::as_f64),
        response_format,
        reasoning,
        stream: obj.get("stream").and_then(Value::as_bool).unwrap_or(false),
        user: str_at(&v, "user").map(str::to_string),
        warnings: b.warnings,
        ..Default::default()
    })
}

/// Accumulates the conversation: consecutive items of one role become one IR message.
#[derive(Default)]
struct Builder {
    system: Vec<String>,
    messages: Vec<Message>,
    warnings: Vec<String>,
    /// call_id → tool name, to name tool results.
    call_names: HashMap<String, String>,
    /// A function call's signature carried by a reasoning item (input index, signature),
    /// waiting for the next `function_call` item of the same assistant turn.
    pending_call_signature: Option<(usize, String)>,
}

impl Builder {
    /// A carried call signature whose call never came is dropped (never sent as a reasoning
    /// signature, which the upstream would reject or misplace).
    fn drop_call_signature(&mut self, i: usize) {
        self.warnings.push(format!(
            "input[{i}]: function call signature without a following function_call dropped"
        ));
    }

    /// The input ended: a signature still waiting for its call is dropped.
    fn finish(&mut self) {
        if let Some((j, _)) = self.pending_call_signature.take() {
            self.drop_call_signature(j);
        }
    }

    fn push(&mut self, role: Role, part: Part) {
        // A user item ends the assistant turn a carried call signature belonged to.
        if role == Role::User {
            self.finish();
        }
        match self.messages.last_mut() {
            Some(m) if m.role == role => m.content.push(part),
            _ => self.messages.push(Message {
                role,
                content: vec![part],
            }),
        }
    }

    fn item(&mut self, i: usize, item: &Value) -> Result<(), CodecError> {
        if !item.is_object() {
            return Err(CodecError::new(format!("`input[{i}]` must be an object")));
        }
        let ty = str_at(item, "type").unwrap_or(if item.get("role").is_some() {
            "message"
        } else {
            ""
        });
        match ty {
            "message" => self.message(i, item),
            "function_call" => {
                let call_id = str_at(item, "call_id")
                    .or_else(|| str_at(item, "id"))
                    .map(str::to_string);
                let name = item_tool_name(item, true);
                if name.is_empty() {
                    return Err(CodecError::new(format!("missing field `input[{i}].name`")));
                }
                let id = call_id.unwrap_or_else(|| make_call_id("call_", &format!("{i}:{name}")));
                let arguments = match item.get("arguments") {
                    Some(Value::String(s)) => s.clone(),
                    None | Some(Value::Null) => String::new(),
                    Some(other) => other.to_string(),
                };
                self.call_names.insert(id.clone(), name.clone());
                let signature = self.pending_call_signature.take().map(|(_, sig)| sig);
                self.push(
                    Role::Assistant,
                    Part::ToolCall {
                        id,
                        name,
                        arguments,
                        signature,
                    },
                );
                Ok(())
            }
            "function_call_output" => {
                let Some(call_id) = str_at(item, "call_id") else {
                    return Err(CodecError::new(format!(
                        "missing field `input[{i}].call_id`"
                    )));
                };
                let content = match item.get("output") {
                    Some(Value::String(s)) => vec![Part::Text { text: s.clone() }],
                    Some(Value::Array(parts)) => parts
                        .iter()
                        .filter_map(|p| decode_part(p, i, &mut self.warnings))
                        .collect(),
                    None | Some(Value::Null) => Vec::new(),
                    Some(other) => vec![Part::Text {
                        text: other.to_string(),
                    }],
                };
                let name = self.call_names.get(call_id).cloned();
                self.push(
                    Role::User,
                    Part::ToolResult {
                        call_id: call_id.to_string(),
                        name,
                        content,
                        is_error: false,
                    },
                );
                Ok(())
            }
            "reasoning" => {
                let mut text = joined_texts(item.get("summary"));
                if text.is_empty() {
                    text = joined_texts(item.get("content"));
                }
                let mut encrypted = str_at(item, "encrypted_content").map(str::to_string);
                // a signature we carried for another format comes back as itself
                let mut signature = None;
                match encrypted.as_deref().map(unwrap_signature) {
                    None | Some(Carried::Encrypted) => {}
                    Some(Carried::Reasoning(sig)) => {
                        signature = Some(sig.to_string());
                        encrypted = None;
                    }
                    // the signature of the function call that follows: held for that call
                    Some(Carried::Call(sig)) => {
                        if sig.is_empty() {
                            self.warnings
                                .push(format!("input[{i}]: empty function call signature dropped"));
                        } else if let Some((j, _)) =
                            self.pending_call_signature.replace((i, sig.to_string()))
                        {
                            self.drop_call_signature(j);
                        }
                        encrypted = None;
                        if text.is_empty() {
                            return Ok(());
                        }
                    }
                }
                if text.is_empty() && encrypted.is_none() && signature.is_none() {
                    self.warnings
                        .push(format!("input[{i}]: empty reasoning item dropped"));
                    return Ok(());
                }
                self.push(
                    Role::Assistant,
                    Part::Reasoning {
                        text,
                        signature,
                        redacted: None,
                        encrypted,
                        id: str_at(item, "id").map(str::to_string),
                    },
                );
                Ok(())
            }
            other => {
                self.warnings.push(format!(
                    "input[{i}]: `{other}` item dropped (not supported by the gateway)"
                ));
                Ok(())
            }
        }
    }

    fn message(&mut self, i: usize, item: &Value) -> Result<(), CodecError> {
        let Some(role) = str_at(item, "role") else {
            return Err(CodecError::new(format!("missing field `input[{i}].role`")));
        };
        let content = item.get("content").unwrap_or(&Value::Null);
        if !matches!(content, Value::String(_) | Value::Array(_) | Value::Null) {
            return Err(CodecError::new(format!(
                "`input[{i}].content` must be a string or an array of parts"
            )));
        }
        let role = match role {
            "system" | "developer" => {
                self.system.extend(text_blocks(content));
                return Ok(());
            }
            "assistant" => Role::Assistant,
            "user" => Role::User,
            other => {
                self.warnings.push(format!(
                    "input[{i}]: unknown role `{other}` treated as user"
                ));
                Role::User
            }
        };
        let parts: Vec<Part> = match content {
            Value::String(s) => vec![Part::Text { text: s.clone() }],
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| decode_part(p, i, &mut self.warnings))
                .collect(),
            _ => Vec::new(),
        };
        for p in parts {
            self.push(role, p);
        }
        Ok(())
    }
}

/// One content part of a message or tool output.
fn decode_part(part: &Value, i: usize, warnings: &mut Vec<String>) -> Option<Part> {
    if let Value::String(s) = part {
        return Some(Part::Text { text: s.clone() });
    }
    let ty = str_at(part, "type").unwrap_or_default();
    match ty {
        "input_text" | "output_text" | "text" | "summary_text" | "reasoning_text" => {
            Some(Part::Text {
                text: str_at(part, "text").unwrap_or_default().to_string(),
            })
        }
        "refusal" => Some(Part::Text {
            text: str_at(part, "refusal").unwrap_or_default().to_string(),
        }),
        "input_image" => {
            let url = match part.get("image_url") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(obj @ Value::Object(_)) => str_at(obj, "url").map(str::to_string),
                _ => None,
            };
            match url {
                Some(url) if !url.is_empty() => Some(Part::Image {
                    source: ImageSource::Url {
                        url,
                        detail: str_at(part, "detail")
                            .filter(|d| *d != "auto")
                            .map(str::to_string),
                    },
                }),
                _ => {
                    warnings.push(format!(
                        "input[{i}]: input_image without image_url (file_id) dropped"
                    ));
                    None
                }
            }
        }
        other => {
            warnings.push(format!("input[{i}]: `{other}` content part dropped"));
            None
        }
    }
}

/// The texts of a system/developer message content (a string or text parts).
fn text_blocks(content: &Value) -> Vec<String> {
    match content {
        Value::String(s) if !s.is_empty() => vec![s.clone()],
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.clone()),
                _ => str_at(p, "text").map(str::to_string),
            })
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

/// `[{text}, ...]` joined by blank lines (reasoning summaries and contents).
fn joined_texts(parts: Option<&Value>) -> String {
    let Some(Value::Array(parts)) = parts else {
        return String::new();
    };
    parts
        .iter()
        .filter_map(|p| str_at(p, "text"))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn function_tool(t: &Value, name: String) -> Tool {
    let parameters = match t.get("parameters") {
        Some(p @ Value::Object(_)) => p.clone(),
        _ => json!({"type": "object", "properties": {}}),
    };
    Tool {
        name,
        description: str_at(t, "description")
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        parameters,
        strict: t.get("strict").and_then(Value::as_bool),
    }
}

fn decode_tools(tools: &[Value], warnings: &mut Vec<String>) -> Vec<Tool> {
    let mut out = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let ty = str_at(t, "type").unwrap_or("function");
        match ty {
            "function" => match str_at(t, "name").filter(|n| !n.is_empty()) {
                Some(name) => out.push(function_tool(t, name.to_string())),
                None => warnings.push(format!("tools[{i}]: function without a name dropped")),
            },
            "namespace" => {
                let ns = str_at(t, "name").unwrap_or_default();
                let inner = t.get("tools").and_then(Value::as_array);
                let mut flattened = 0usize;
                for inner_tool in inner.into_iter().flatten() {
                    let inner_ty = str_at(inner_tool, "type").unwrap_or("function");
                    let name = str_at(inner_tool, "name").unwrap_or_default();
                    if inner_ty != "function" || name.is_empty() {
                        warnings.push(format!(
                            "tools[{i}]: `{inner_ty}` tool `{name}` of namespace `{ns}` dropped"
                        ));
                        continue;
                    }
                    let flat = if ns.is_empty() {
                        name.to_string()
                    } else {
                        remember_namespaced(ns, name)
                    };
                    out.push(function_tool(inner_tool, flat));
                    flattened += 1;
                }
                warnings.push(format!(
                    "tools[{i}]: namespace `{ns}` flattened into {flattened} function tools \
                     named `{}__<name>`",
                    ns.trim_end_matches('_')
                ));
            }
            other => warnings.push(format!("tools[{i}]: `{other}` tool dropped (server tool)")),
        }
    }
    out
}

fn decode_tool_choice(tc: &Value, warnings: &mut Vec<String>) -> Option<ToolChoice> {
    match tc {
        Value::Null => None,
        Value::String(s) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            other => {
                warnings.push(format!("tool_choice `{other}` ignored"));
                None
            }
        },
        Value::Object(_) => match str_at(tc, "type") {
            Some("function") => {
                let name = item_tool_name(tc, true);
                (!name.is_empty()).then_some(ToolChoice::Tool { name })
            }
            Some("allowed_tools") => {
                warnings.push("tool_choice allowed_tools: the tool subset is ignored".into());
                match str_at(tc, "mode") {
                    Some("required") => Some(ToolChoice::Required),
                    _ => Some(ToolChoice::Auto),
                }
            }
            other => {
                warnings.push(format!(
                    "tool_choice of type `{}` ignored",
                    other.unwrap_or_default()
                ));
                None
            }
        },
        _ => {
            warnings.push("tool_choice of an unknown shape ignored".into());
            None
        }
    }
}

fn decode_format(f: &Value, warnings: &mut Vec<String>) -> Option<ResponseFormat> {
    match str_at(f, "type") {
        Some("text") => Some(ResponseFormat::Text),
        Some("json_object") => Some(ResponseFormat::JsonObject),
        Some("json_schema") => Some(ResponseFormat::JsonSchema {
            name: str_at(f, "name").unwrap_or("response").to_string(),
            schema: f.get("schema").cloned().unwrap_or_else(|| json!({})),
            strict: f.get("strict").and_then(Value::as_bool),
        }),
        other => {
            warnings.push(format!(
                "text.format of type `{}` ignored",
                other.unwrap_or_default()
            ));
            None
        }
    }
}

// =============================================================================== encoding

/// IR → upstream Responses request body (`store: false`, the full history every turn).
pub fn encode_request(req: &ChatRequest, model: &str) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    if !req.system.is_empty() {
        body.insert("instructions".into(), json!(req.system.join("\n\n")));
    }
    body.insert("input".into(), Value::Array(encode_input(&req.messages)));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut m = Map::new();
                m.insert("type".into(), json!("function"));
                m.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    m.insert("description".into(), json!(d));
                }
                m.insert("parameters".into(), t.parameters.clone());
                // The Responses API defaults `strict` to true, which rejects most schemas.
                m.insert("strict".into(), json!(t.strict.unwrap_or(false)));
                Value::Object(m)
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(tc) = &req.tool_choice {
        let v = match tc {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool { name } => json!({"type": "function", "name": name}),
        };
        body.insert("tool_choice".into(), v);
    }
    if let Some(p) = req.parallel_tool_calls {
        body.insert("parallel_tool_calls".into(), json!(p));
    }
    if let Some(m) = req.max_tokens {
        body.insert("max_output_tokens".into(), json!(m));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    let mut reasoning_on = false;
    if let Some(r) = req.reasoning.as_ref().filter(|r| !r.disabled) {
        let effort = r.effort.clone().or_else(|| {
            r.budget_tokens
                .map(|b| effort_from_budget(b).to_string())
                .or_else(|| r.adaptive.then(|| "medium".to_string()))
        });
        let mut m = Map::new();
        if let Some(e) = effort {
            m.insert("effort".into(), json!(e));
        }
        if let Some(s) = &r.summary {
            m.insert("summary".into(), json!(s));
        }
        if !m.is_empty() {
            body.insert("reasoning".into(), Value::Object(m));
            reasoning_on = true;
        }
        reasoning_on |= r.include_thoughts == Some(true);
    }
    if let Some(f) = &req.response_format {
        let format = match f {
            ResponseFormat::Text => json!({"type": "text"}),
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => {
                let mut m = Map::new();
                m.insert("type".into(), json!("json_schema"));
                m.insert("name".into(), json!(name));
                m.insert("schema".into(), schema.clone());
                if let Some(s) = strict {
                    m.insert("strict".into(), json!(s));
                }
                Value::Object(m)
            }
        };
        body.insert("text".into(), json!({ "format": format }));
    }
    body.insert("store".into(), json!(false));
    if reasoning_on {
        body.insert("include".into(), json!(["reasoning.encrypted_content"]));
    }
    if let Some(u) = &req.user {
        body.insert("user".into(), json!(u));
    }
    body.insert("stream".into(), json!(req.stream));
    Value::Object(body)
}

/// Effort for a thinking budget: ≤ 2048 low, ≤ 8192 medium, else high.
fn effort_from_budget(budget: u64) -> &'static str {
    match budget {
        0..=2048 => "low",
        2049..=8192 => "medium",
        _ => "high",
    }
}

/// The conversation as input items, in order.
fn encode_input(messages: &[Message]) -> Vec<Value> {
    let mut items = Vec::new();
    for m in messages {
        let (role, text_type) = match m.role {
            Role::User => ("user", "input_text"),
            Role::Assistant => ("assistant", "output_text"),
        };
        let mut content: Vec<Value> = Vec::new();
        let flush = |content: &mut Vec<Value>, items: &mut Vec<Value>| {
            if !content.is_empty() {
                items.push(json!({
                    "type": "message",
                    "role": role,
                    "content": std::mem::take(content),
                }));
            }
        };
        for part in &m.content {
            match part {
                Part::Text { text } => content.push(json!({"type": text_type, "text": text})),
                Part::Image { source } => {
                    // Assistant messages cannot carry images in the Responses input.
                    if m.role == Role::User {
                        content.push(image_part(source));
                    }
                }
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                    ..
                } => {
                    flush(&mut content, &mut items);
                    let arguments = if arguments.trim().is_empty() {
                        "{}"
                    } else {
                        arguments.as_str()
                    };
                    items.push(json!({
                        "type": "function_call",
                        "call_id": id,
                        "name": name,
                        "arguments": arguments,
                    }));
                }
                Part::ToolResult {
                    call_id,
                    content: c,
                    ..
                } => {
                    flush(&mut content, &mut items);
                    items.push(json!({
                        "type": "function_call_output",
                        "call_id": call_id,
                        "output": tool_output(c),
                    }));
                }
                Part::Reasoning {
                    text,
                    encrypted: Some(enc),
                    id,
                    ..
                } => {
                    flush(&mut content, &mut items);
                    let summary = if text.is_empty() {
                        json!([])
                    } else {
                        json!([{"type": "summary_text", "text": text}])
                    };
                    let mut r = Map::new();
                    r.insert("type".into(), json!("reasoning"));
                    if let Some(id) = id {
                        r.insert("id".into(), json!(id));
                    }
                    r.insert("summary".into(), summary);
                    r.insert("encrypted_content".into(), json!(enc));
                    items.push(Value::Object(r));
                }
                // Reasoning without encrypted content cannot be given back to the Responses API.
                Part::Reasoning { .. } => {}
            }
        }
        flush(&mut content, &mut items);
    }
    items
}

fn image_part(source: &ImageSource) -> Value {
    match source {
        ImageSource::Url { url, detail } => {
            let mut m = Map::new();
            m.insert("type".into(), json!("input_image"));
            m.insert("image_url".into(), json!(url));
            m.insert("detail".into(), json!(detail.as_deref().unwrap_or("auto")));
            Value::Object(m)
        }
        ImageSource::Base64 { media_type, data } => json!({
            "type": "input_image",
            "image_url": format!("data:{media_type};base64,{data}"),
            "detail": "auto",
        }),
    }
}

/// A tool result as `output`: a string when it is all text, else input parts.
fn tool_output(content: &[Part]) -> Value {
    if content.iter().all(|p| matches!(p, Part::Text { .. })) {
        let texts: Vec<&str> = content
            .iter()
            .filter_map(|p| match p {
                Part::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        return json!(texts.join("\n"));
    }
    let parts: Vec<Value> = content
        .iter()
        .filter_map(|p| match p {
            Part::Text { text } => Some(json!({"type": "input_text", "text": text})),
            Part::Image { source } => Some(image_part(source)),
            _ => None,
        })
        .collect();
    Value::Array(parts)
}
