//! Client request → IR: an Anthropic Messages body (as Claude Code, OpenCode, Qwen Code and the
//! SDKs send it) decoded tolerantly into a `ChatRequest`. Unknown fields are ignored; blocks and
//! tools the IR cannot carry are dropped with a warning.

use std::collections::HashMap;

use omniroute_ir::{
    ChatRequest, CodecError, ImageSource, Message, Part, Reasoning, ResponseFormat, Role, Tool,
    ToolChoice,
};
use serde_json::{json, Value};

use crate::common::{field, opt_bool, opt_f64, opt_obj, opt_str, opt_u64, req_str, Obj};

pub(crate) fn decode_request(body: &[u8]) -> Result<ChatRequest, CodecError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| CodecError::new(format!("request body is not valid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| CodecError::new("request body must be a JSON object"))?;
    let mut req = ChatRequest {
        model: opt_str(obj, "model", "")?.unwrap_or_default().to_string(),
        ..Default::default()
    };

    decode_system(obj, &mut req)?;
    decode_messages(obj, &mut req)?;
    decode_tools(obj, &mut req)?;
    decode_tool_choice(obj, &mut req)?;
    decode_reasoning(obj, &mut req)?;

    req.max_tokens = opt_u64(obj, "max_tokens", "")?;
    req.temperature = opt_f64(obj, "temperature", "")?;
    req.top_p = opt_f64(obj, "top_p", "")?;
    req.top_k = opt_u64(obj, "top_k", "")?;
    req.stream = opt_bool(obj, "stream", "")?.unwrap_or(false);
    if let Some(stops) = field(obj, "stop_sequences") {
        let arr = stops
            .as_array()
            .ok_or_else(|| CodecError::new("`stop_sequences` must be an array of strings"))?;
        for (i, s) in arr.iter().enumerate() {
            let s = s.as_str().ok_or_else(|| {
                CodecError::new(format!("`stop_sequences[{i}]` must be a string"))
            })?;
            req.stop.push(s.to_string());
        }
    }
    if let Some(meta) = opt_obj(obj, "metadata", "")? {
        req.user = opt_str(meta, "user_id", "metadata.")?.map(str::to_string);
    }
    for key in ["context_management", "container", "mcp_servers"] {
        if field(obj, key).is_some() {
            req.warnings
                .push(format!("`{key}` ignored (not translatable)"));
        }
    }
    Ok(req)
}

fn decode_system(obj: &Obj, req: &mut ChatRequest) -> Result<(), CodecError> {
    match field(obj, "system") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => req.system.push(s.clone()),
        Some(Value::Array(blocks)) => {
            for (i, b) in blocks.iter().enumerate() {
                let path = format!("system[{i}]");
                match block_text(b, &path)? {
                    Some(t) => req.system.push(t.to_string()),
                    None => req.warnings.push(format!(
                        "`{path}`: `{}` block dropped (only text is supported)",
                        block_type(b)
                    )),
                }
            }
        }
        Some(_) => {
            return Err(CodecError::new(
                "`system` must be a string or an array of text blocks",
            ))
        }
    }
    Ok(())
}

fn block_type(b: &Value) -> &str {
    b.get("type").and_then(Value::as_str).unwrap_or("?")
}

/// The text of a `{type: text, text}` block; `None` for other block types.
fn block_text<'a>(b: &'a Value, path: &str) -> Result<Option<&'a str>, CodecError> {
    let o = b
        .as_object()
        .ok_or_else(|| CodecError::new(format!("`{path}` must be an object")))?;
    if opt_str(o, "type", &format!("{path}."))? != Some("text") {
        return Ok(None);
    }
    req_str(o, "text", &format!("{path}.")).map(Some)
}

fn decode_messages(obj: &Obj, req: &mut ChatRequest) -> Result<(), CodecError> {
    let msgs = match field(obj, "messages") {
        None => return Err(CodecError::new("missing field `messages`")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(CodecError::new("`messages` must be an array")),
    };
    // tool_use id → name, so tool results carry the tool's name (Gemini needs it).
    let mut names: HashMap<String, String> = HashMap::new();
    for (i, m) in msgs.iter().enumerate() {
        let path = format!("messages[{i}]");
        let mo = m
            .as_object()
            .ok_or_else(|| CodecError::new(format!("`{path}` must be an object")))?;
        let role = req_str(mo, "role", &format!("{path}."))?;
        let content = field(mo, "content");
        match role {
            "user" | "assistant" => {
                let role = if role == "user" {
                    Role::User
                } else {
                    Role::Assistant
                };
                let content = decode_content(content, &path, &mut names, &mut req.warnings)?;
                req.messages.push(Message { role, content });
            }
            // Claude Code sends `role: system` messages mid-conversation (beta
            // `mid-conversation-system`). The IR has no positional system message: the text
            // joins the system prompt.
            "system" | "developer" => {
                let before = req.system.len();
                match content {
                    Some(Value::String(s)) => req.system.push(s.clone()),
                    Some(Value::Array(blocks)) => {
                        for (j, b) in blocks.iter().enumerate() {
                            if let Some(t) = block_text(b, &format!("{path}.content[{j}]"))? {
                                req.system.push(t.to_string());
                            }
                        }
                    }
                    _ => {
                        return Err(CodecError::new(format!(
                            "`{path}.content` must be a string or an array"
                        )))
                    }
                }
                if req.system.len() > before {
                    req.warnings.push(format!(
                        "`{path}`: `{role}` message moved to the end of the system prompt"
                    ));
                }
            }
            other => {
                return Err(CodecError::new(format!(
                    "`{path}.role` must be `user` or `assistant`, got `{other}`"
                )))
            }
        }
    }
    Ok(())
}

fn decode_content(
    content: Option<&Value>,
    path: &str,
    names: &mut HashMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Part>, CodecError> {
    let blocks = match content {
        Some(Value::String(s)) => return Ok(vec![Part::Text { text: s.clone() }]),
        Some(Value::Array(a)) => a,
        None => return Err(CodecError::new(format!("missing field `{path}.content`"))),
        Some(_) => {
            return Err(CodecError::new(format!(
                "`{path}.content` must be a string or an array of content blocks"
            )))
        }
    };
    let mut parts = Vec::with_capacity(blocks.len());
    for (j, b) in blocks.iter().enumerate() {
        let bpath = format!("{path}.content[{j}]");
        if let Some(p) = decode_block(b, &bpath, names, warnings)? {
            parts.push(p);
        }
    }
    Ok(parts)
}

fn decode_block(
    b: &Value,
    path: &str,
    names: &mut HashMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Option<Part>, CodecError> {
    let o = b
        .as_object()
        .ok_or_else(|| CodecError::new(format!("`{path}` must be an object")))?;
    let p = format!("{path}.");
    let ty = req_str(o, "type", &p)?;
    let part = match ty {
        "text" => Part::Text {
            text: req_str(o, "text", &p)?.to_string(),
        },
        "image" => match decode_image(o, &p)? {
            Some(source) => Part::Image { source },
            None => {
                warnings.push(format!(
                    "`{path}`: image with an unsupported source dropped"
                ));
                return Ok(None);
            }
        },
        "tool_use" => {
            let id = req_str(o, "id", &p)?.to_string();
            let name = req_str(o, "name", &p)?.to_string();
            let arguments = match field(o, "input") {
                None => "{}".to_string(),
                Some(v) => v.to_string(),
            };
            names.insert(id.clone(), name.clone());
            Part::ToolCall {
                id,
                name,
                arguments,
                signature: None,
            }
        }
        "tool_result" => {
            let call_id = req_str(o, "tool_use_id", &p)?.to_string();
            let content = match field(o, "content") {
                None => Vec::new(),
                Some(Value::String(s)) => vec![Part::Text { text: s.clone() }],
                Some(Value::Array(items)) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (k, item) in items.iter().enumerate() {
                        let ipath = format!("{p}content[{k}]");
                        let io = item.as_object().ok_or_else(|| {
                            CodecError::new(format!("`{ipath}` must be an object"))
                        })?;
                        let ip = format!("{ipath}.");
                        match req_str(io, "type", &ip)? {
                            "text" => out.push(Part::Text {
                                text: req_str(io, "text", &ip)?.to_string(),
                            }),
                            "image" => match decode_image(io, &ip)? {
                                Some(source) => out.push(Part::Image { source }),
                                None => warnings.push(format!(
                                    "`{ipath}`: image with an unsupported source dropped"
                                )),
                            },
                            other => warnings.push(format!(
                                "`{ipath}`: `{other}` block in a tool result dropped"
                            )),
                        }
                    }
                    out
                }
                Some(_) => {
                    return Err(CodecError::new(format!(
                        "`{p}content` must be a string or an array"
                    )))
                }
            };
            Part::ToolResult {
                name: names.get(&call_id).cloned(),
                call_id,
                content,
                is_error: opt_bool(o, "is_error", &p)?.unwrap_or(false),
            }
        }
        "thinking" => Part::Reasoning {
            text: opt_str(o, "thinking", &p)?.unwrap_or_default().to_string(),
            // An empty signature is no signature (a gateway answer without one echoed back).
            signature: opt_str(o, "signature", &p)?
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            redacted: None,
            encrypted: None,
            id: None,
        },
        "redacted_thinking" => Part::Reasoning {
            text: String::new(),
            signature: None,
            redacted: Some(req_str(o, "data", &p)?.to_string()),
            encrypted: None,
            id: None,
        },
        other => {
            warnings.push(format!(
                "`{path}`: `{other}` block dropped (not translatable)"
            ));
            return Ok(None);
        }
    };
    Ok(Some(part))
}

fn decode_image(o: &Obj, p: &str) -> Result<Option<ImageSource>, CodecError> {
    let Some(src) = opt_obj(o, "source", p)? else {
        return Err(CodecError::new(format!("missing field `{p}source`")));
    };
    let sp = format!("{p}source.");
    Ok(match opt_str(src, "type", &sp)? {
        Some("base64") => Some(ImageSource::Base64 {
            media_type: req_str(src, "media_type", &sp)?.to_string(),
            data: req_str(src, "data", &sp)?.to_string(),
        }),
        Some("url") => Some(ImageSource::Url {
            url: req_str(src, "url", &sp)?.to_string(),
            detail: None,
        }),
        _ => None,
    })
}

fn decode_tools(obj: &Obj, req: &mut ChatRequest) -> Result<(), CodecError> {
    let tools = match field(obj, "tools") {
        None => return Ok(()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(CodecError::new("`tools` must be an array")),
    };
    for (i, t) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        let o = t
            .as_object()
            .ok_or_else(|| CodecError::new(format!("`{path}` must be an object")))?;
        let p = format!("{path}.");
        // Server tools (web_search_20250305, bash_*, text_editor_*, computer_*,
        // code_execution_*, ...) and MCP toolsets carry a `type`; custom tools have none or
        // `custom`.
        match opt_str(o, "type", &p)? {
            None | Some("custom") => {}
            Some(ty) => {
                let name = opt_str(o, "name", &p)?.unwrap_or("?");
                req.warnings.push(format!(
                    "`{path}`: server tool `{name}` ({ty}) dropped (not translatable)"
                ));
                continue;
            }
        }
        let parameters = match field(o, "input_schema") {
            None => json!({"type": "object", "properties": {}}),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => {
                return Err(CodecError::new(format!(
                    "`{p}input_schema` must be an object"
                )))
            }
        };
        req.tools.push(Tool {
            name: req_str(o, "name", &p)?.to_string(),
            description: opt_str(o, "description", &p)?.map(str::to_string),
            parameters,
            strict: opt_bool(o, "strict", &p)?,
        });
    }
    Ok(())
}

fn decode_tool_choice(obj: &Obj, req: &mut ChatRequest) -> Result<(), CodecError> {
    let Some(tc) = opt_obj(obj, "tool_choice", "")? else {
        return Ok(());
    };
    let p = "tool_choice.";
    req.tool_choice = match req_str(tc, "type", p)? {
        "auto" => Some(ToolChoice::Auto),
        "any" => Some(ToolChoice::Required),
        "none" => Some(ToolChoice::None),
        "tool" => Some(ToolChoice::Tool {
            name: req_str(tc, "name", p)?.to_string(),
        }),
        other => {
            req.warnings
                .push(format!("`tool_choice.type` `{other}` ignored (unknown)"));
            None
        }
    };
    if opt_bool(tc, "disable_parallel_tool_use", p)? == Some(true) {
        req.parallel_tool_calls = Some(false);
    }
    Ok(())
}

fn decode_reasoning(obj: &Obj, req: &mut ChatRequest) -> Result<(), CodecError> {
    let mut reasoning: Option<Reasoning> = None;
    if let Some(th) = opt_obj(obj, "thinking", "")? {
        let p = "thinking.";
        let r = reasoning.get_or_insert_with(Reasoning::default);
        match req_str(th, "type", p)? {
            // Qwen Code may send a budget above max_tokens: kept; encoders clamp.
            "enabled" => r.budget_tokens = opt_u64(th, "budget_tokens", p)?,
            "adaptive" => r.adaptive = true,
            "disabled" => r.disabled = true,
            other => req
                .warnings
                .push(format!("`thinking.type` `{other}` ignored (unknown)")),
        }
    }
    if let Some(oc) = opt_obj(obj, "output_config", "")? {
        let p = "output_config.";
        if let Some(effort) = opt_str(oc, "effort", p)? {
            reasoning.get_or_insert_with(Reasoning::default).effort = Some(effort.to_string());
        }
        if let Some(fmt) = opt_obj(oc, "format", p)? {
            req.response_format = decode_format(fmt, "output_config.format.", &mut req.warnings)?;
        }
    }
    // The structured-outputs beta shape, still accepted by the API (`output_config.format` is
    // the current one).
    if let Some(fmt) = opt_obj(obj, "output_format", "")? {
        if req.response_format.is_none() {
            req.response_format = decode_format(fmt, "output_format.", &mut req.warnings)?;
        }
    }
    req.reasoning = reasoning;
    Ok(())
}

fn decode_format(
    fmt: &Obj,
    p: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<ResponseFormat>, CodecError> {
    match req_str(fmt, "type", p)? {
        "json_schema" => {
            let schema = match field(fmt, "schema") {
                Some(v @ Value::Object(_)) => v.clone(),
                _ => return Err(CodecError::new(format!("`{p}schema` must be an object"))),
            };
            Ok(Some(ResponseFormat::JsonSchema {
                // Anthropic formats are unnamed; other formats need a name.
                name: "response".to_string(),
                schema,
                strict: None,
            }))
        }
        other => {
            warnings.push(format!("`{p}type` `{other}` ignored (unknown)"));
            Ok(None)
        }
    }
}
