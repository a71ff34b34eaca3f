//! IR → upstream Anthropic Messages request. Produces a body the API accepts: alternating roles
//! starting with `user`, tool results first in user turns, signed thinking first in assistant
//! turns, valid tool ids, a required `max_tokens`, and a thinking / effort / sampling
//! combination the target model supports (`crate::model`). Everything dropped or rewritten is
//! reported as a warning.

use omniroute_ir::{
    arguments_object, ChatRequest, CodecError, ImageSource, Message, Part, ResponseFormat, Role,
    ToolChoice,
};
use serde_json::{json, Value};

use crate::common::{sanitize_tool_id, Obj};
use crate::model::{self, ModelCaps, ThinkingStyle};

/// `max_tokens` when the IR has none (Anthropic requires it).
pub(crate) const DEFAULT_MAX_TOKENS: u64 = 8192;
/// `max_tokens` when the IR has none but thinking is on: room for thinking and the answer,
/// within every thinking-capable Claude model's output limit.
const THINKING_MAX_TOKENS: u64 = 32000;
/// Anthropic's minimum thinking budget.
const MIN_BUDGET: u64 = 1024;
/// The system line that stands in for `json_object` mode (Anthropic has no such switch).
pub(crate) const JSON_OBJECT_INSTRUCTION: &str =
    "Respond with a single JSON object and nothing else: no prose, no code fences.";

pub(crate) fn encode_request(
    req: &ChatRequest,
    model: &str,
) -> Result<(Value, Vec<String>), CodecError> {
    let caps = model::caps(model);
    let mut w: Vec<String> = Vec::new();

    let mut turns = build_turns(&req.messages, &mut w);
    if turns.is_empty() {
        return Err(CodecError::new(
            "`messages`: nothing an Anthropic upstream can accept (no non-empty content)",
        ));
    }
    if turns[0].role == Role::Assistant {
        w.push("conversation starts with an assistant message: a user message \"(continue)\" was put before it".into());
        turns.insert(
            0,
            Turn {
                role: Role::User,
                blocks: vec![json!({"type": "text", "text": "(continue)"})],
            },
        );
    }
    trim_final_assistant(&mut turns);

    let (thinking, effort, max_tokens) = plan_thinking(req, &caps, &turns, &mut w);

    let mut body = Obj::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(max_tokens));

    let mut system: Vec<&str> = req
        .system
        .iter()
        .map(String::as_str)
        .filter(|s| !s.trim().is_empty())
        .collect();
    if req.response_format == Some(ResponseFormat::JsonObject) {
        system.push(JSON_OBJECT_INSTRUCTION);
    }
    match system.as_slice() {
        [] => {}
        [one] => {
            body.insert("system".into(), json!(one));
        }
        many => {
            let blocks: Vec<Value> = many
                .iter()
                .map(|t| json!({"type": "text", "text": t}))
                .collect();
            body.insert("system".into(), Value::Array(blocks));
        }
    }

    let messages: Vec<Value> = turns
        .into_iter()
        .map(|t| {
            let role = match t.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({"role": role, "content": t.blocks})
        })
        .collect();
    body.insert("messages".into(), Value::Array(messages));

    if !req.tools.is_empty() {
        let tools: Vec<Value> = req.tools.iter().map(encode_tool).collect();
        body.insert("tools".into(), Value::Array(tools));
        if let Some(tc) = encode_tool_choice(req) {
            body.insert("tool_choice".into(), tc);
        }
    } else if matches!(
        req.tool_choice,
        Some(ToolChoice::Required | ToolChoice::Tool { .. })
    ) {
        w.push("`tool_choice` dropped: the request has no tools".into());
    }

    let thinking_on = matches!(thinking, Thinking::Budget(_) | Thinking::Adaptive);
    match thinking {
        Thinking::Off => {}
        Thinking::Disabled => {
            body.insert("thinking".into(), json!({"type": "disabled"}));
        }
        Thinking::Budget(b) => {
            body.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": b}),
            );
        }
        Thinking::Adaptive => {
            body.insert("thinking".into(), json!({"type": "adaptive"}));
        }
    }

    let mut output_config = Obj::new();
    if let Some(e) = effort {
        output_config.insert("effort".into(), json!(e));
    }
    if let Some(ResponseFormat::JsonSchema { schema, .. }) = &req.response_format {
        output_config.insert(
            "format".into(),
            json!({"type": "json_schema", "schema": schema}),
        );
    }
    if !output_config.is_empty() {
        body.insert("output_config".into(), Value::Object(output_config));
    }

    encode_sampling(req, &caps, thinking_on, &mut body, &mut w);

    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if let Some(user) = &req.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    for (set, name) in [
        (req.seed.is_some(), "seed"),
        (req.presence_penalty.is_some(), "presence_penalty"),
        (req.frequency_penalty.is_some(), "frequency_penalty"),
    ] {
        if set {
            w.push(format!("`{name}` dropped: Anthropic has no such parameter"));
        }
    }
    Ok((Value::Object(body), w))
}

// ----------------------------------------------------------------------------- messages

struct Turn {
    role: Role,
    blocks: Vec<Value>,
}

fn push_block(turns: &mut Vec<Turn>, role: Role, block: Value) {
    match turns.last_mut() {
        Some(t) if t.role == role => t.blocks.push(block),
        _ => turns.push(Turn {
            role,
            blocks: vec![block],
        }),
    }
}

fn block_type(b: &Value) -> &str {
    b.get("type").and_then(Value::as_str).unwrap_or("")
}

fn is_thinking(b: &Value) -> bool {
    matches!(block_type(b), "thinking" | "redacted_thinking")
}

/// IR messages → alternating Anthropic turns. Each part goes to the role Anthropic wants it in
/// (tool results in user turns, tool calls and reasoning in assistant turns); consecutive
/// same-role content is merged; empty text and unsigned reasoning are dropped.
fn build_turns(messages: &[Message], w: &mut Vec<String>) -> Vec<Turn> {
    let mut turns: Vec<Turn> = Vec::new();
    let mut unsigned = 0usize;
    for (i, m) in messages.iter().enumerate() {
        for part in &m.content {
            match part {
                Part::Text { text } => {
                    if !text.trim().is_empty() {
                        push_block(&mut turns, m.role, json!({"type": "text", "text": text}));
                    }
                }
                Part::Image { source } => {
                    if m.role == Role::Assistant {
                        w.push(format!(
                            "messages[{i}]: image in an assistant message dropped"
                        ));
                    } else if let Some(b) = image_block(source) {
                        push_block(&mut turns, Role::User, b);
                    } else {
                        w.push(format!("messages[{i}]: image with an unusable URL dropped"));
                    }
                }
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                    ..
                } => push_block(
                    &mut turns,
                    Role::Assistant,
                    json!({
                        "type": "tool_use",
                        "id": sanitize_tool_id(id),
                        "name": name,
                        "input": arguments_object(arguments),
                    }),
                ),
                Part::ToolResult {
                    call_id,
                    content,
                    is_error,
                    ..
                } => {
                    let mut b = Obj::new();
                    b.insert("type".into(), json!("tool_result"));
                    b.insert("tool_use_id".into(), json!(sanitize_tool_id(call_id)));
                    if let Some(c) = tool_result_content(content, i, w) {
                        b.insert("content".into(), c);
                    }
                    if *is_error {
                        b.insert("is_error".into(), json!(true));
                    }
                    push_block(&mut turns, Role::User, Value::Object(b));
                }
                Part::Reasoning {
                    text,
                    signature,
                    redacted,
                    ..
                } => {
                    if let Some(data) = redacted {
                        push_block(
                            &mut turns,
                            Role::Assistant,
                            json!({"type": "redacted_thinking", "data": data}),
                        );
                    } else if let Some(sig) = signature.as_deref().filter(|s| !s.is_empty()) {
                        push_block(
                            &mut turns,
                            Role::Assistant,
                            json!({"type": "thinking", "thinking": text, "signature": sig}),
                        );
                    } else {
                        // Anthropic verifies signatures: never fabricate one.
                        unsigned += 1;
                    }
                }
            }
        }
    }
    if unsigned > 0 {
        w.push(format!(
            "{unsigned} reasoning part(s) without an Anthropic signature dropped"
        ));
    }
    for t in &mut turns {
        match t.role {
            // Tool results must open a user turn; any text follows them.
            Role::User => t
                .blocks
                .sort_by_key(|b| u8::from(block_type(b) != "tool_result")),
            // Thinking must open an assistant turn. A turn that already starts with thinking
            // keeps its order (interleaved thinking is valid there).
            Role::Assistant => {
                if t.blocks.iter().any(is_thinking) && !t.blocks.first().is_some_and(is_thinking) {
                    t.blocks.sort_by_key(|b| u8::from(!is_thinking(b)));
                }
            }
        }
    }
    turns
}

fn image_block(source: &ImageSource) -> Option<Value> {
    match source {
        ImageSource::Base64 { media_type, data } => Some(json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        })),
        ImageSource::Url { url, .. } => {
            if let Some(rest) = url.strip_prefix("data:") {
                // data:<media type>;base64,<data>
                let (meta, data) = rest.split_once(',')?;
                let media_type = meta.strip_suffix(";base64")?;
                Some(json!({
                    "type": "image",
                    "source": {"type": "base64", "media_type": media_type, "data": data},
                }))
            } else {
                Some(json!({"type": "image", "source": {"type": "url", "url": url}}))
            }
        }
    }
}

/// A tool result's content: a string when it is a single text, blocks otherwise, `None` when
/// empty (Anthropic allows omitting it).
fn tool_result_content(content: &[Part], i: usize, w: &mut Vec<String>) -> Option<Value> {
    let mut blocks = Vec::with_capacity(content.len());
    for p in content {
        match p {
            Part::Text { text } => {
                if !text.is_empty() {
                    blocks.push(json!({"type": "text", "text": text}));
                }
            }
            Part::Image { source } => match image_block(source) {
                Some(b) => blocks.push(b),
                None => w.push(format!(
                    "messages[{i}]: image with an unusable URL in a tool result dropped"
                )),
            },
            _ => w.push(format!(
                "messages[{i}]: non-text, non-image part in a tool result dropped"
            )),
        }
    }
    match blocks.as_slice() {
        [] => None,
        [one] if block_type(one) == "text" => one.get("text").cloned(),
        _ => Some(Value::Array(blocks)),
    }
}

/// A final assistant turn is a prefill, which may not end with whitespace.
fn trim_final_assistant(turns: &mut Vec<Turn>) {
    let Some(last) = turns.last_mut() else {
        return;
    };
    if last.role != Role::Assistant {
        return;
    }
    if let Some(b) = last.blocks.last_mut() {
        if block_type(b) == "text" {
            let trimmed = b
                .get("text")
                .and_then(Value::as_str)
                .map(|t| t.trim_end().to_string());
            match trimmed {
                Some(t) if t.is_empty() => {
                    last.blocks.pop();
                }
                Some(t) => b["text"] = json!(t),
                None => {}
            }
        }
    }
    if last.blocks.is_empty() {
        turns.pop();
    }
}

// ----------------------------------------------------------------------------- tools

fn encode_tool(t: &omniroute_ir::Tool) -> Value {
    let mut schema = match &t.parameters {
        Value::Object(o) => o.clone(),
        _ => Obj::new(),
    };
    // Anthropic requires an object schema with a `type`.
    if !schema.contains_key("type") {
        schema.insert("type".into(), json!("object"));
        if !schema.contains_key("properties") {
            schema.insert("properties".into(), json!({}));
        }
    }
    let mut o = Obj::new();
    o.insert("name".into(), json!(t.name));
    if let Some(d) = &t.description {
        o.insert("description".into(), json!(d));
    }
    o.insert("input_schema".into(), Value::Object(schema));
    if t.strict == Some(true) {
        o.insert("strict".into(), json!(true));
    }
    Value::Object(o)
}

fn encode_tool_choice(req: &ChatRequest) -> Option<Value> {
    let no_parallel = req.parallel_tool_calls == Some(false);
    let mut tc = match &req.tool_choice {
        Some(ToolChoice::None) => return Some(json!({"type": "none"})),
        Some(ToolChoice::Auto) => json!({"type": "auto"}),
        Some(ToolChoice::Required) => json!({"type": "any"}),
        Some(ToolChoice::Tool { name }) => json!({"type": "tool", "name": name}),
        None if no_parallel => json!({"type": "auto"}),
        None => return None,
    };
    if no_parallel {
        tc["disable_parallel_tool_use"] = json!(true);
    }
    Some(tc)
}

// ----------------------------------------------------------------------------- thinking

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Thinking {
    /// No `thinking` field.
    Off,
    Disabled,
    Budget(u64),
    Adaptive,
}

fn budget_for_effort(effort: &str) -> u64 {
    match effort {
        "low" => 2048,
        "medium" => 8192,
        "high" => 16384,
        _ => 32768, // xhigh, max
    }
}

fn effort_for_budget(budget: u64) -> &'static str {
    match budget {
        0..=2048 => "low",
        2049..=8192 => "medium",
        _ => "high",
    }
}

/// IR effort → an Anthropic effort level (`None` for `none` and unknown words).
fn normalize_effort(effort: &str, w: &mut Vec<String>) -> Option<&'static str> {
    match effort {
        "low" => Some("low"),
        "minimal" => {
            w.push("effort `minimal` sent as `low`".into());
            Some("low")
        }
        "medium" => Some("medium"),
        "high" => Some("high"),
        "xhigh" => Some("xhigh"),
        "max" => Some("max"),
        "none" => None,
        other => {
            w.push(format!("effort `{other}` ignored (unknown)"));
            None
        }
    }
}

/// Decide `thinking`, `output_config.effort` and `max_tokens` together.
fn plan_thinking(
    req: &ChatRequest,
    caps: &ModelCaps,
    turns: &[Turn],
    w: &mut Vec<String>,
) -> (Thinking, Option<&'static str>, u64) {
    let r = req.reasoning.as_ref();
    let raw_effort = r.and_then(|r| r.effort.as_deref());
    let mut effort = raw_effort.and_then(|e| normalize_effort(e, w));
    let mut thinking = match r {
        None => Thinking::Off,
        Some(r) if r.disabled || raw_effort == Some("none") => Thinking::Disabled,
        Some(r) if r.adaptive => Thinking::Adaptive,
        Some(r) => match r.budget_tokens.or_else(|| effort.map(budget_for_effort)) {
            Some(0) => Thinking::Disabled,
            Some(b) => Thinking::Budget(b),
            None => Thinking::Off,
        },
    };

    match (thinking, caps.thinking) {
        (Thinking::Budget(b), ThinkingStyle::AdaptiveOnly) => {
            thinking = Thinking::Adaptive;
            let e = *effort.get_or_insert(effort_for_budget(b));
            w.push(format!(
                "thinking budget {b} sent as adaptive thinking with effort `{e}` (the model accepts only adaptive thinking)"
            ));
        }
        (Thinking::Adaptive, ThinkingStyle::BudgetOnly) => {
            let b = budget_for_effort(effort.unwrap_or("medium"));
            thinking = Thinking::Budget(b);
            w.push(format!(
                "adaptive thinking sent as a thinking budget of {b} (the model has no adaptive thinking)"
            ));
        }
        _ => {}
    }

    let max_tokens = match (req.max_tokens, thinking) {
        (Some(m), _) => m,
        (None, Thinking::Budget(b)) => b
            .max(MIN_BUDGET)
            .saturating_add(DEFAULT_MAX_TOKENS)
            .min(THINKING_MAX_TOKENS),
        (None, Thinking::Adaptive) => THINKING_MAX_TOKENS,
        (None, _) => DEFAULT_MAX_TOKENS,
    };

    if let Thinking::Budget(b) = thinking {
        if max_tokens <= MIN_BUDGET {
            thinking = Thinking::Off;
            w.push(format!(
                "thinking omitted: max_tokens {max_tokens} leaves no room for the minimum budget of {MIN_BUDGET}"
            ));
        } else {
            let clamped = b.clamp(MIN_BUDGET, max_tokens - 1);
            if clamped != b {
                w.push(format!(
                    "thinking budget {b} clamped to {clamped} (at least {MIN_BUDGET}, below max_tokens {max_tokens})"
                ));
            }
            thinking = Thinking::Budget(clamped);
        }
    }

    if matches!(thinking, Thinking::Budget(_) | Thinking::Adaptive) {
        let forced = !req.tools.is_empty()
            && matches!(
                req.tool_choice,
                Some(ToolChoice::Required | ToolChoice::Tool { .. })
            );
        if forced {
            thinking = Thinking::Off;
            w.push(
                "thinking omitted: Anthropic does not allow thinking with a forced tool choice"
                    .into(),
            );
        } else if tool_loop_without_thinking(turns) {
            thinking = Thinking::Off;
            w.push("thinking omitted: the assistant turn being continued has tool calls but no signed thinking (Anthropic requires it to start with a thinking block)".into());
        }
    }

    if let Some(e) = effort {
        if !caps.effort {
            w.push(format!(
                "output_config.effort `{e}` dropped: the model does not support effort"
            ));
            effort = None;
        } else if (e == "max" && !caps.effort_max) || (e == "xhigh" && !caps.effort_xhigh) {
            w.push(format!(
                "effort `{e}` sent as `high` (not supported by the model)"
            ));
            effort = Some("high");
        }
    }
    (thinking, effort, max_tokens)
}

/// The conversation continues a tool loop (it ends with tool results answering an assistant
/// turn with tool calls) and that assistant turn does not start with thinking: Anthropic
/// rejects thinking-enabled requests in that state.
fn tool_loop_without_thinking(turns: &[Turn]) -> bool {
    let [.., assistant, user] = turns else {
        return false;
    };
    user.role == Role::User
        && user
            .blocks
            .first()
            .is_some_and(|b| block_type(b) == "tool_result")
        && assistant.role == Role::Assistant
        && assistant.blocks.iter().any(|b| block_type(b) == "tool_use")
        && !assistant.blocks.first().is_some_and(is_thinking)
}

fn encode_sampling(
    req: &ChatRequest,
    caps: &ModelCaps,
    thinking_on: bool,
    body: &mut Obj,
    w: &mut Vec<String>,
) {
    let mut temperature = req.temperature;
    let mut top_p = req.top_p;
    let mut top_k = req.top_k;
    if caps.no_sampling {
        for (set, name) in [
            (temperature.is_some(), "temperature"),
            (top_p.is_some(), "top_p"),
            (top_k.is_some(), "top_k"),
        ] {
            if set {
                w.push(format!(
                    "`{name}` dropped: the model does not accept sampling parameters"
                ));
            }
        }
        return;
    }
    if thinking_on {
        if let Some(t) = temperature.filter(|t| *t != 1.0) {
            w.push(format!(
                "`temperature` {t} dropped: thinking requires temperature 1"
            ));
            temperature = None;
        }
        if top_k.take().is_some() {
            w.push("`top_k` dropped: not allowed with thinking".into());
        }
        if let Some(p) = top_p.filter(|p| *p < 0.95) {
            w.push(format!(
                "`top_p` {p} dropped: thinking requires top_p ≥ 0.95"
            ));
            top_p = None;
        }
    }
    if caps.temperature_xor_top_p && temperature.is_some() && top_p.is_some() {
        w.push("`top_p` dropped: the model does not accept temperature and top_p together".into());
        top_p = None;
    }
    if let Some(t) = temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(k) = top_k {
        body.insert("top_k".into(), json!(k));
    }
}
