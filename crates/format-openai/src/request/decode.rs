//! Client request → IR: messages (system/developer, user, assistant, tool, legacy function),
//! tools and legacy functions, tool choice, sampling parameters, structured output and
//! reasoning effort. Tolerant of what real clients send; everything dropped is a warning.

use std::collections::HashMap;

use omniroute_ir::{
    make_call_id, ChatRequest, CodecError, ImageSource, Message, Part, Reasoning, ResponseFormat,
    Role, Tool, ToolChoice,
};
use serde_json::{json, Map, Value};

use crate::common::{arguments_text, str_field, type_name};

/// Decode a chat completions request body.
pub fn decode(body: &[u8]) -> Result<ChatRequest, CodecError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| CodecError::new(format!("request body is not valid JSON: {e}")))?;
    let obj = v.as_object().ok_or_else(|| {
        CodecError::new(format!(
            "request body must be a JSON object, got {}",
            type_name(&v)
        ))
    })?;
    let mut req = ChatRequest {
        model: match obj.get("model") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(CodecError::new(format!(
                    "model must be a string, got {}",
                    type_name(other)
                )))
            }
        },
        ..Default::default()
    };

    if let Some(n) = obj.get("n").and_then(Value::as_u64) {
        if n > 1 {
            return Err(CodecError::new(format!(
                "n: {n} choices were requested; only n = 1 is supported"
            )));
        }
    }

    let messages = match obj.get("messages") {
        None | Some(Value::Null) => return Err(CodecError::new("messages is required")),
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(CodecError::new("messages must not be empty"))
        }
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(CodecError::new(format!(
                "messages must be an array, got {}",
                type_name(other)
            )))
        }
    };
    let mut conv = Conversation::default();
    for (i, m) in messages.iter().enumerate() {
        conv.message(i, m)?;
    }
    req.system = conv.system;
    req.messages = conv.messages;
    req.warnings = conv.warnings;

    decode_tools(obj, &mut req)?;
    decode_tool_choice(obj, &mut req);
    decode_params(obj, &mut req);
    Ok(req)
}

/// The messages being decoded, with what is needed to pair tool results with calls.
#[derive(Default)]
struct Conversation {
    system: Vec<String>,
    messages: Vec<Message>,
    warnings: Vec<String>,
    /// The last message pushed came from `tool`/`function` messages (so the next result joins it).
    last_is_results: bool,
    /// Every call made so far: id → name.
    call_names: HashMap<String, String>,
    /// Calls without a result yet, in order: (id, name).
    pending: Vec<(String, String)>,
    warned_late_system: bool,
}

impl Conversation {
    fn message(&mut self, i: usize, m: &Value) -> Result<(), CodecError> {
        let obj = m.as_object().ok_or_else(|| {
            CodecError::new(format!(
                "messages[{i}] must be an object, got {}",
                type_name(m)
            ))
        })?;
        let role = match obj.get("role") {
            Some(Value::String(r)) => r.as_str(),
            None | Some(Value::Null) => {
                return Err(CodecError::new(format!("messages[{i}].role is required")))
            }
            Some(other) => {
                return Err(CodecError::new(format!(
                    "messages[{i}].role must be a string, got {}",
                    type_name(other)
                )))
            }
        };
        let content = obj.get("content").unwrap_or(&Value::Null);
        match role {
            "system" | "developer" => self.system_message(i, content),
            "user" => {
                let parts = self.content_parts(i, content, false)?;
                if parts.is_empty() {
                    self.warnings.push(format!(
                        "messages[{i}]: user message without content dropped"
                    ));
                } else {
                    self.push(Role::User, parts);
                }
                Ok(())
            }
            "assistant" => self.assistant(i, m, content),
            "tool" => {
                let call_id = str_field(m, "tool_call_id").map(str::to_string);
                self.tool_result(i, call_id, str_field(m, "name"), content)
            }
            "function" => self.tool_result(i, None, str_field(m, "name"), content),
            other => {
                self.warnings.push(format!(
                    "messages[{i}]: message with unknown role {other:?} dropped"
                ));
                Ok(())
            }
        }
    }

    fn push(&mut self, role: Role, content: Vec<Part>) {
        self.messages.push(Message { role, content });
        self.last_is_results = false;
    }

    fn system_message(&mut self, i: usize, content: &Value) -> Result<(), CodecError> {
        if !self.messages.is_empty() && !self.warned_late_system {
            self.warned_late_system = true;
            self.warnings.push(format!(
                "messages[{i}]: system message after the conversation started moved to the system prompt"
            ));
        }
        for part in self.content_parts(i, content, false)? {
            match part {
                Part::Text { text } if !text.is_empty() => self.system.push(text),
                Part::Text { .. } => {}
                _ => self.warnings.push(format!(
                    "messages[{i}]: non-text content in a system message dropped"
                )),
            }
        }
        Ok(())
    }

    /// Content as a string, an array of parts, a single part object or null.
    fn content_parts(
        &mut self,
        i: usize,
        content: &Value,
        assistant: bool,
    ) -> Result<Vec<Part>, CodecError> {
        match content {
            Value::Null => Ok(Vec::new()),
            Value::String(s) => Ok(vec![Part::Text { text: s.clone() }]),
            Value::Array(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for (j, item) in items.iter().enumerate() {
                    if let Some(p) = self.content_part(i, j, item, assistant) {
                        parts.push(p);
                    }
                }
                Ok(parts)
            }
            Value::Object(_) => Ok(self
                .content_part(i, 0, content, assistant)
                .into_iter()
                .collect()),
            other => Err(CodecError::new(format!(
                "messages[{i}].content must be a string or an array, got {}",
                type_name(other)
            ))),
        }
    }

    fn content_part(&mut self, i: usize, j: usize, item: &Value, assistant: bool) -> Option<Part> {
        if let Value::String(s) = item {
            return Some(Part::Text { text: s.clone() });
        }
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "text" | "input_text" | "output_text" => match item.get("text") {
                Some(Value::String(t)) => Some(Part::Text { text: t.clone() }),
                // `{"type":"text","text":{"value":…}}` (Assistants-style)
                Some(Value::Object(o)) => {
                    o.get("value").and_then(Value::as_str).map(|t| Part::Text {
                        text: t.to_string(),
                    })
                }
                _ => {
                    self.warnings.push(format!(
                        "messages[{i}].content[{j}]: text part without text dropped"
                    ));
                    None
                }
            },
            "refusal" if assistant => {
                item.get("refusal")
                    .and_then(Value::as_str)
                    .map(|t| Part::Text {
                        text: t.to_string(),
                    })
            }
            "image_url" | "input_image" if !assistant => {
                let (url, detail) = match item.get("image_url") {
                    Some(Value::String(u)) => (Some(u.as_str()), str_field(item, "detail")),
                    Some(o @ Value::Object(_)) => (str_field(o, "url"), str_field(o, "detail")),
                    _ => (None, None),
                };
                match url {
                    Some(url) => Some(Part::Image {
                        source: ImageSource::Url {
                            url: url.to_string(),
                            detail: detail.map(str::to_string),
                        },
                    }),
                    None => {
                        self.warnings.push(format!(
                            "messages[{i}].content[{j}]: image part without a url dropped"
                        ));
                        None
                    }
                }
            }
            other => {
                let what = if other.is_empty() { "untyped" } else { other };
                self.warnings.push(format!(
                    "messages[{i}].content[{j}]: unsupported {what} part dropped"
                ));
                None
            }
        }
    }

    fn assistant(&mut self, i: usize, m: &Value, content: &Value) -> Result<(), CodecError> {
        let mut parts = Vec::new();
        let reasoning = str_field(m, "reasoning_content").or_else(|| str_field(m, "reasoning"));
        if let Some(text) = reasoning {
            parts.push(Part::Reasoning {
                text: text.to_string(),
                signature: None,
                redacted: None,
                encrypted: None,
                id: None,
            });
        }
        for p in self.content_parts(i, content, true)? {
            match p {
                Part::Text { text } if text.is_empty() => {}
                p => parts.push(p),
            }
        }
        if !parts.iter().any(|p| matches!(p, Part::Text { .. })) {
            if let Some(refusal) = str_field(m, "refusal") {
                parts.push(Part::Text {
                    text: refusal.to_string(),
                });
            }
        }
        match m.get("tool_calls") {
            Some(Value::Array(calls)) => {
                for (j, call) in calls.iter().enumerate() {
                    let Some(f) = call.get("function").filter(|f| f.is_object()) else {
                        let kind = call
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("untyped");
                        self.warnings.push(format!(
                            "messages[{i}].tool_calls[{j}]: {kind} tool call dropped (only function calls are supported)"
                        ));
                        continue;
                    };
                    let name = str_field(f, "name").unwrap_or_default().to_string();
                    let id = match str_field(call, "id") {
                        Some(id) => id.to_string(),
                        None => make_call_id("call_", &format!("{i}:{j}:{name}")),
                    };
                    parts.push(self.call(id, name, arguments_text(f.get("arguments"))));
                }
            }
            None | Some(Value::Null) => {}
            Some(other) => {
                return Err(CodecError::new(format!(
                    "messages[{i}].tool_calls must be an array, got {}",
                    type_name(other)
                )))
            }
        }
        if let Some(f) = m.get("function_call").filter(|f| f.is_object()) {
            let name = str_field(f, "name").unwrap_or_default().to_string();
            let id = make_call_id("call_", &format!("{i}:fc:{name}"));
            parts.push(self.call(id, name, arguments_text(f.get("arguments"))));
        }
        if parts.is_empty() {
            self.warnings
                .push(format!("messages[{i}]: empty assistant message dropped"));
            return Ok(());
        }
        self.push(Role::Assistant, parts);
        Ok(())
    }

    fn call(&mut self, id: String, name: String, arguments: String) -> Part {
        self.call_names.insert(id.clone(), name.clone());
        self.pending.push((id.clone(), name.clone()));
        Part::ToolCall {
            id,
            name,
            arguments,
            signature: None,
        }
    }

    /// A `tool` (or legacy `function`) message: matched to its call by id, else by name, else
    /// to the oldest unanswered call.
    fn tool_result(
        &mut self,
        i: usize,
        call_id: Option<String>,
        name: Option<&str>,
        content: &Value,
    ) -> Result<(), CodecError> {
        let call_id = match call_id {
            Some(id) => id,
            None => {
                let pos = match name {
                    Some(n) => self.pending.iter().position(|(_, pn)| pn == n),
                    None => (!self.pending.is_empty()).then_some(0),
                };
                match pos {
                    Some(p) => self.pending[p].0.clone(),
                    None => {
                        self.warnings.push(format!(
                            "messages[{i}]: tool result without a matching call; id made up"
                        ));
                        make_call_id("call_", &format!("{i}:result:{}", name.unwrap_or("")))
                    }
                }
            }
        };
        self.pending.retain(|(id, _)| *id != call_id);
        let name = name
            .map(str::to_string)
            .or_else(|| self.call_names.get(&call_id).cloned());
        let content: Vec<Part> = self
            .content_parts(i, content, false)?
            .into_iter()
            .filter(|p| !matches!(p, Part::Text { text } if text.is_empty()))
            .collect();
        let part = Part::ToolResult {
            call_id,
            name,
            content,
            is_error: false,
        };
        match self.messages.last_mut() {
            Some(last) if self.last_is_results => last.content.push(part),
            _ => {
                self.push(Role::User, vec![part]);
                self.last_is_results = true;
            }
        }
        Ok(())
    }
}

fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

fn decode_tools(obj: &Map<String, Value>, req: &mut ChatRequest) -> Result<(), CodecError> {
    match obj.get("tools") {
        None | Some(Value::Null) => {}
        Some(Value::Array(tools)) => {
            for (i, t) in tools.iter().enumerate() {
                let kind = t.get("type").and_then(Value::as_str).unwrap_or("function");
                if kind != "function" {
                    req.warnings.push(format!(
                        "tools[{i}]: {kind} tool dropped (only function tools are supported)"
                    ));
                    continue;
                }
                // `{type, function:{…}}`, or the flat Responses-style `{type, name, …}`.
                let f = t.get("function").filter(|f| f.is_object()).unwrap_or(t);
                match function_tool(f) {
                    Some(tool) => req.tools.push(tool),
                    None => req
                        .warnings
                        .push(format!("tools[{i}]: function tool without a name dropped")),
                }
            }
        }
        Some(other) => {
            return Err(CodecError::new(format!(
                "tools must be an array, got {}",
                type_name(other)
            )))
        }
    }
    if let Some(Value::Array(functions)) = obj.get("functions") {
        for (i, f) in functions.iter().enumerate() {
            match function_tool(f) {
                Some(tool) => req.tools.push(tool),
                None => req
                    .warnings
                    .push(format!("functions[{i}]: function without a name dropped")),
            }
        }
    }
    Ok(())
}

fn function_tool(f: &Value) -> Option<Tool> {
    let name = str_field(f, "name")?;
    Some(Tool {
        name: name.to_string(),
        description: f
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        parameters: match f.get("parameters") {
            Some(p @ Value::Object(_)) => p.clone(),
            _ => empty_schema(),
        },
        strict: f.get("strict").and_then(Value::as_bool),
    })
}

fn decode_tool_choice(obj: &Map<String, Value>, req: &mut ChatRequest) {
    let choice = match obj.get("tool_choice") {
        None | Some(Value::Null) => match obj.get("function_call") {
            None | Some(Value::Null) => return,
            Some(fc) => fc,
        },
        Some(tc) => tc,
    };
    req.tool_choice = match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" | "any" => Some(ToolChoice::Required),
            other => {
                req.warnings
                    .push(format!("tool_choice {other:?} not understood; ignored"));
                None
            }
        },
        Value::Object(_) => {
            let kind = choice
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("function");
            let name = choice
                .get("function")
                .and_then(|f| str_field(f, "name"))
                .or_else(|| str_field(choice, "name"));
            match (kind, name) {
                ("function", Some(name)) => Some(ToolChoice::Tool {
                    name: name.to_string(),
                }),
                ("allowed_tools", _) => {
                    req.warnings.push(
                        "tool_choice allowed_tools: the tool subset is not kept, only its mode"
                            .into(),
                    );
                    match choice
                        .pointer("/allowed_tools/mode")
                        .and_then(Value::as_str)
                    {
                        Some("required") => Some(ToolChoice::Required),
                        _ => Some(ToolChoice::Auto),
                    }
                }
                _ => {
                    req.warnings.push(format!(
                        "tool_choice of type {kind:?} not supported; ignored"
                    ));
                    None
                }
            }
        }
        other => {
            req.warnings.push(format!(
                "tool_choice must be a string or an object, got {}; ignored",
                type_name(other)
            ));
            None
        }
    };
}

/// An integer parameter that may arrive as `4096` or `4096.0`.
fn as_u64(v: Option<&Value>) -> Option<u64> {
    let v = v?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    })
}

fn decode_params(obj: &Map<String, Value>, req: &mut ChatRequest) {
    req.max_tokens =
        as_u64(obj.get("max_completion_tokens")).or_else(|| as_u64(obj.get("max_tokens")));
    req.temperature = obj.get("temperature").and_then(Value::as_f64);
    req.top_p = obj.get("top_p").and_then(Value::as_f64);
    req.top_k = as_u64(obj.get("top_k"));
    req.stop = match obj.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    req.seed = obj.get("seed").and_then(Value::as_i64);
    req.presence_penalty = obj.get("presence_penalty").and_then(Value::as_f64);
    req.frequency_penalty = obj.get("frequency_penalty").and_then(Value::as_f64);
    req.parallel_tool_calls = obj.get("parallel_tool_calls").and_then(Value::as_bool);
    req.user = obj.get("user").and_then(Value::as_str).map(str::to_string);
    req.stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    req.response_format = decode_response_format(obj.get("response_format"), &mut req.warnings);
    req.reasoning = decode_reasoning(obj);

    if obj.get("logprobs").and_then(Value::as_bool) == Some(true) {
        req.warnings.push("logprobs not supported; dropped".into());
    }
    if obj.get("web_search_options").is_some() {
        req.warnings
            .push("web_search_options not supported; dropped".into());
    }
    if obj.get("audio").is_some_and(|a| !a.is_null()) {
        req.warnings
            .push("audio output not supported; dropped".into());
    }
}

fn decode_response_format(v: Option<&Value>, warnings: &mut Vec<String>) -> Option<ResponseFormat> {
    let v = v.filter(|v| !v.is_null())?;
    match v.get("type").and_then(Value::as_str) {
        Some("text") => Some(ResponseFormat::Text),
        Some("json_object") => Some(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let js = v.get("json_schema").unwrap_or(&Value::Null);
            Some(ResponseFormat::JsonSchema {
                name: str_field(js, "name").unwrap_or("response").to_string(),
                schema: js
                    .get("schema")
                    .filter(|s| s.is_object())
                    .cloned()
                    .unwrap_or_else(|| json!({})),
                strict: js.get("strict").and_then(Value::as_bool),
            })
        }
        other => {
            warnings.push(format!(
                "response_format of type {:?} not supported; ignored",
                other.unwrap_or("")
            ));
            None
        }
    }
}

/// `reasoning_effort`, or OpenRouter's `reasoning: {effort, max_tokens, enabled}`.
fn decode_reasoning(obj: &Map<String, Value>) -> Option<Reasoning> {
    fn from_effort(effort: &str) -> Reasoning {
        if effort == "none" {
            Reasoning {
                disabled: true,
                ..Default::default()
            }
        } else {
            Reasoning {
                effort: Some(effort.to_string()),
                ..Default::default()
            }
        }
    }
    if let Some(effort) = obj
        .get("reasoning_effort")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
    {
        return Some(from_effort(effort));
    }
    let r = obj.get("reasoning").filter(|r| r.is_object())?;
    let mut out = match r.get("effort").and_then(Value::as_str) {
        Some(effort) => from_effort(effort),
        None => Reasoning::default(),
    };
    out.budget_tokens = as_u64(r.get("max_tokens"));
    if r.get("enabled").and_then(Value::as_bool) == Some(false) {
        out.disabled = true;
    }
    Some(out)
}
