//! IR → upstream chat completions body: one leading `system` message, tool results as `tool`
//! messages, assistant tool calls, tools and tool choice, `max_tokens` or
//! `max_completion_tokens` by model family, `reasoning_effort`, and `stream_options` so usage
//! is always reported.

use omniroute_ir::{
    ChatRequest, CodecError, ImageSource, Message, Part, Reasoning, ResponseFormat, Role,
    ToolChoice,
};
use serde_json::{json, Map, Value};

/// OpenAI accepts at most this many stop sequences.
const MAX_STOP: usize = 4;

/// The model id without a provider/namespace prefix (`openai/o3` → `o3`), lowercased.
fn base_model(model: &str) -> String {
    model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase()
}

/// Reasoning model families that reject `max_tokens` (they want `max_completion_tokens`) and
/// sampling parameters other than the defaults.
pub fn uses_max_completion_tokens(model: &str) -> bool {
    let m = base_model(model);
    ["o1", "o3", "o4", "gpt-5"].iter().any(|p| m.starts_with(p))
}

/// Known chat models that reject `reasoning_effort`.
fn rejects_reasoning_effort(model: &str) -> bool {
    let m = base_model(model);
    ["gpt-4", "gpt-3.5", "chatgpt-"]
        .iter()
        .any(|p| m.starts_with(p))
}

/// GPT-5 chat variants take sampling parameters like older chat models.
fn rejects_sampling(model: &str) -> bool {
    uses_max_completion_tokens(model) && !base_model(model).contains("-chat")
}

/// The `reasoning_effort` for a reasoning configuration: the effort as given, else from the
/// budget (≤ 2048 low, ≤ 8192 medium, else high), `medium` for adaptive, none when disabled.
pub fn effort_for(r: &Reasoning) -> Option<String> {
    if r.disabled {
        return None;
    }
    if let Some(effort) = r.effort.as_deref().filter(|e| !e.is_empty()) {
        return Some(effort.to_string());
    }
    match r.budget_tokens {
        Some(0) => None,
        Some(b) if b <= 2048 => Some("low".into()),
        Some(b) if b <= 8192 => Some("medium".into()),
        Some(_) => Some("high".into()),
        None if r.adaptive => Some("medium".into()),
        None => None,
    }
}

/// Encode `req` for an upstream chat completions endpoint serving `model`.
pub fn encode(
    req: &ChatRequest,
    model: &str,
    warnings: &mut Vec<String>,
) -> Result<Value, CodecError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));

    let mut enc = Messages::default();
    if !req.system.is_empty() {
        enc.out
            .push(json!({"role": "system", "content": req.system.join("\n\n")}));
    }
    for m in &req.messages {
        match m.role {
            Role::User => enc.user(m),
            Role::Assistant => enc.assistant(m),
        }
    }
    warnings.append(&mut enc.warnings);
    if enc.out.is_empty() {
        return Err(CodecError::new(
            "messages: the request has no messages to send",
        ));
    }
    body.insert("messages".into(), Value::Array(enc.out));

    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = Map::new();
                f.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    f.insert("description".into(), json!(d));
                }
                f.insert("parameters".into(), t.parameters.clone());
                if let Some(s) = t.strict {
                    f.insert("strict".into(), json!(s));
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = &req.tool_choice {
            let v = match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Tool { name } => {
                    json!({"type": "function", "function": {"name": name}})
                }
            };
            body.insert("tool_choice".into(), v);
        }
        if let Some(p) = req.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), json!(p));
        }
    } else if matches!(
        req.tool_choice,
        Some(ToolChoice::Required | ToolChoice::Tool { .. })
    ) {
        warnings.push("tool_choice dropped: the request has no tools".into());
    }

    if let Some(max) = req.max_tokens {
        let key = if uses_max_completion_tokens(model) {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body.insert(key.into(), json!(max));
    }

    let no_sampling = rejects_sampling(model);
    let mut sampling = |key: &str, v: Option<f64>, default: f64| {
        let Some(v) = v else { return };
        if no_sampling && v != default {
            warnings.push(format!(
                "{key} {v} dropped: {model} accepts only the default"
            ));
        } else {
            body.insert(key.into(), json!(v));
        }
    };
    sampling("temperature", req.temperature, 1.0);
    sampling("top_p", req.top_p, 1.0);
    sampling("presence_penalty", req.presence_penalty, 0.0);
    sampling("frequency_penalty", req.frequency_penalty, 0.0);
    if let Some(k) = req.top_k {
        warnings.push(format!("top_k {k} dropped: not an OpenAI chat parameter"));
    }
    if !req.stop.is_empty() {
        if req.stop.len() > MAX_STOP {
            warnings.push(format!(
                "{} stop sequences given, only the first {MAX_STOP} sent",
                req.stop.len()
            ));
        }
        let stop: Vec<&String> = req.stop.iter().take(MAX_STOP).collect();
        body.insert("stop".into(), json!(stop));
    }
    if let Some(seed) = req.seed {
        body.insert("seed".into(), json!(seed));
    }
    if let Some(rf) = &req.response_format {
        let v = match rf {
            ResponseFormat::Text => json!({"type": "text"}),
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => {
                let mut js = Map::new();
                js.insert("name".into(), json!(name));
                js.insert("schema".into(), schema.clone());
                if let Some(s) = strict {
                    js.insert("strict".into(), json!(s));
                }
                json!({"type": "json_schema", "json_schema": js})
            }
        };
        body.insert("response_format".into(), v);
    }
    if let Some(effort) = req.reasoning.as_ref().and_then(effort_for) {
        if rejects_reasoning_effort(model) {
            warnings.push(format!(
                "reasoning effort {effort:?} dropped: {model} is not a reasoning model"
            ));
        } else {
            body.insert("reasoning_effort".into(), json!(effort));
        }
    }
    if let Some(user) = &req.user {
        body.insert("user".into(), json!(user));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(Value::Object(body))
}

/// The message list being built.
#[derive(Default)]
struct Messages {
    out: Vec<Value>,
    warnings: Vec<String>,
    warned_reasoning: bool,
    warned_signature: bool,
}

fn image_url(source: &ImageSource) -> Value {
    match source {
        ImageSource::Url { url, detail } => match detail {
            Some(d) => json!({"url": url, "detail": d}),
            None => json!({"url": url}),
        },
        ImageSource::Base64 { media_type, data } => {
            json!({"url": format!("data:{media_type};base64,{data}")})
        }
    }
}

/// User content: a plain string when it is only text, else an array of parts.
fn user_content(parts: &[&Part]) -> Value {
    if parts.iter().all(|p| matches!(p, Part::Text { .. })) {
        let texts: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .filter(|t| !t.is_empty())
            .collect();
        return json!(texts.join("\n\n"));
    }
    let items: Vec<Value> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text } => Some(json!({"type": "text", "text": text})),
            Part::Image { source } => {
                Some(json!({"type": "image_url", "image_url": image_url(source)}))
            }
            _ => None,
        })
        .collect();
    Value::Array(items)
}

impl Messages {
    fn user(&mut self, m: &Message) {
        let mut result_images: Vec<&Part> = Vec::new();
        let mut rest: Vec<&Part> = Vec::new();
        for p in &m.content {
            match p {
                Part::ToolResult {
                    call_id, content, ..
                } => {
                    let mut texts = Vec::new();
                    for c in content {
                        match c {
                            Part::Text { text } => texts.push(text.as_str()),
                            img @ Part::Image { .. } => result_images.push(img),
                            _ => {}
                        }
                    }
                    self.out.push(json!({
                        "role": "tool",
                        "tool_call_id": call_id,
                        "content": texts.join("\n"),
                    }));
                }
                Part::Text { .. } | Part::Image { .. } => rest.push(p),
                Part::Reasoning { .. } | Part::ToolCall { .. } => self
                    .warnings
                    .push("reasoning/tool call inside a user message dropped".into()),
            }
        }
        if !result_images.is_empty() {
            self.warnings.push(format!(
                "{} image(s) from tool results sent in a following user message",
                result_images.len()
            ));
        }
        result_images.extend(rest);
        if !result_images.is_empty() {
            self.out
                .push(json!({"role": "user", "content": user_content(&result_images)}));
        } else if m.content.is_empty() {
            self.warnings.push("empty user message dropped".into());
        }
    }

    fn assistant(&mut self, m: &Message) {
        let mut texts: Vec<&str> = Vec::new();
        let mut calls: Vec<Value> = Vec::new();
        for p in &m.content {
            match p {
                Part::Text { text } => texts.push(text),
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                    signature,
                } => {
                    if signature.is_some() && !self.warned_signature {
                        self.warned_signature = true;
                        self.warnings
                            .push("tool call thought signatures are not sent to OpenAI".into());
                    }
                    let args = if arguments.trim().is_empty() {
                        "{}"
                    } else {
                        arguments.as_str()
                    };
                    calls.push(json!({
                        "id": id,
                        "type": "function",
                        "function": {"name": name, "arguments": args},
                    }));
                }
                Part::Reasoning { .. } => {
                    if !self.warned_reasoning {
                        self.warned_reasoning = true;
                        self.warnings
                            .push("reasoning in assistant history is not sent to OpenAI".into());
                    }
                }
                Part::Image { .. } => self
                    .warnings
                    .push("image in an assistant message dropped".into()),
                Part::ToolResult { .. } => self
                    .warnings
                    .push("tool result inside an assistant message dropped".into()),
            }
        }
        let text = texts.concat();
        if text.is_empty() && calls.is_empty() {
            // Nothing OpenAI can carry (e.g. reasoning only): keep the turn structure with an
            // empty answer rather than two user messages in a row.
            self.out.push(json!({"role": "assistant", "content": ""}));
            return;
        }
        let mut msg = Map::new();
        msg.insert("role".into(), json!("assistant"));
        msg.insert(
            "content".into(),
            if text.is_empty() {
                Value::Null
            } else {
                json!(text)
            },
        );
        if !calls.is_empty() {
            msg.insert("tool_calls".into(), Value::Array(calls));
        }
        self.out.push(Value::Object(msg));
    }
}
