//! Global behaviour controls applied to every request before it leaves the gateway: an injected
//! system prompt and the thinking-budget policy. Both work on the IR (translated requests) and on
//! the raw body (pass-through requests, where only the affected top-level field is rewritten so
//! everything else — `cache_control` breakpoints included — stays byte for byte).
//!
//! Placement keeps the client's prompt cache warm: the injected prompt goes *after* the client's
//! own system prompt (Anthropic: a last `system` block; OpenAI chat: a system message after the
//! leading system/developer messages; Responses: appended to `instructions`; Gemini: a last
//! `systemInstruction` part), so the cached prefix the client built is unchanged, and the
//! injection is identical on every request.
//!
//! Thinking policies (they only ever touch requests that already ask for reasoning — a policy
//! never turns thinking on for a client that did not ask):
//! - `passthrough`: untouched.
//! - `auto`: budgets are clamped below the request's max tokens; an enabled thinking request
//!   without a budget gets half of max tokens (8192 without one).
//! - `custom`: the budget becomes `thinking_budget` (clamped); effort-based formats get the
//!   matching effort (`low` ≤ 2048, `medium` ≤ 12288, else `high`).
//! - `adaptive`: the budget follows the request: 1024 for a short prompt without tools, 4096
//!   for a medium prompt or one with tools, 16384 for a long one (clamped).

use omniroute_config::GatewaySettings;
use omniroute_protocol::ApiFormat;
use omniroute_translate::ir::{ChatRequest, Reasoning};
use serde_json::{json, Value};

/// A JSON object parsed only at its top level (as the proxy holds a pass-through body).
pub type RawObject = indexmap::IndexMap<String, Box<serde_json::value::RawValue>>;

/// The thinking policy in effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThinkingPolicy {
    Passthrough,
    Auto,
    Custom(u64),
    Adaptive,
}

impl ThinkingPolicy {
    pub fn from_settings(s: &GatewaySettings) -> Self {
        match s.thinking_policy.as_str() {
            "auto" => Self::Auto,
            "custom" => Self::Custom(u64::from(s.thinking_budget)),
            "adaptive" => Self::Adaptive,
            _ => Self::Passthrough,
        }
    }
}

/// Whether anything needs doing for these settings.
pub fn active(s: &GatewaySettings) -> bool {
    !s.system_prompt.trim().is_empty() || s.thinking_policy != "passthrough"
}

/// The budget a policy gives, before clamping. `current` is the client's budget, `prompt_chars`
/// the size of the conversation, `tools` whether tools are declared.
fn budget(
    policy: ThinkingPolicy,
    current: Option<u64>,
    max_tokens: Option<u64>,
    prompt_chars: usize,
    tools: bool,
) -> Option<u64> {
    let b = match policy {
        ThinkingPolicy::Passthrough => return current,
        ThinkingPolicy::Auto => current.or(Some(max_tokens.map_or(8192, |m| m / 2))),
        ThinkingPolicy::Custom(n) => Some(n),
        ThinkingPolicy::Adaptive => Some(if prompt_chars > 8_000 {
            16_384
        } else if prompt_chars > 1_000 || tools {
            4_096
        } else {
            1_024
        }),
    }?;
    Some(clamp(b, max_tokens))
}

/// A thinking budget must stay below max tokens (Anthropic refuses `budget >= max_tokens`) and
/// at or above Anthropic's minimum of 1024 when there is room for it.
fn clamp(b: u64, max_tokens: Option<u64>) -> u64 {
    match max_tokens {
        Some(m) if b >= m => m.saturating_sub(1).max(1),
        _ => b,
    }
}

fn effort_for(budget: u64) -> &'static str {
    if budget <= 2048 {
        "low"
    } else if budget <= 12_288 {
        "medium"
    } else {
        "high"
    }
}

fn ir_prompt_chars(ir: &ChatRequest) -> usize {
    use omniroute_translate::ir::Part;
    let sys: usize = ir.system.iter().map(String::len).sum();
    let msgs: usize = ir
        .messages
        .iter()
        .flat_map(|m| m.content.iter())
        .map(|p| match p {
            Part::Text { text } => text.len(),
            Part::ToolResult { content, .. } => content
                .iter()
                .map(|c| match c {
                    Part::Text { text } => text.len(),
                    _ => 0,
                })
                .sum(),
            _ => 0,
        })
        .sum();
    sys + msgs
}

/// Apply the controls to a decoded request.
pub fn apply_ir(ir: &mut ChatRequest, s: &GatewaySettings) {
    let prompt = s.system_prompt.trim();
    if !prompt.is_empty() {
        ir.system.push(prompt.to_string());
    }
    let policy = ThinkingPolicy::from_settings(s);
    if policy == ThinkingPolicy::Passthrough {
        return;
    }
    let chars = ir_prompt_chars(ir);
    let tools = !ir.tools.is_empty();
    let max = ir.max_tokens;
    if let Some(r) = ir.reasoning.as_mut().filter(|r| !r.disabled) {
        apply_reasoning(r, policy, max, chars, tools);
    }
}

fn apply_reasoning(
    r: &mut Reasoning,
    policy: ThinkingPolicy,
    max: Option<u64>,
    chars: usize,
    tools: bool,
) {
    if let Some(b) = budget(policy, r.budget_tokens, max, chars, tools) {
        r.budget_tokens = Some(b);
        if r.effort.is_some() || policy != ThinkingPolicy::Auto {
            r.effort = Some(effort_for(b).to_string());
        }
    }
}

fn raw(v: &Value) -> Option<Box<serde_json::value::RawValue>> {
    serde_json::value::to_raw_value(v).ok()
}

fn get(req: &RawObject, k: &str) -> Option<Value> {
    req.get(k).and_then(|v| serde_json::from_str(v.get()).ok())
}

/// Rough size of the conversation in a raw body (for `adaptive`).
fn raw_prompt_chars(req: &RawObject, format: ApiFormat) -> usize {
    let field = match format {
        ApiFormat::Openai | ApiFormat::Anthropic => "messages",
        ApiFormat::Responses => "input",
        ApiFormat::Gemini => "contents",
    };
    req.get(field).map_or(0, |v| v.get().len())
}

/// Apply the controls to a pass-through body of `format`, rewriting only the fields involved.
pub fn apply_raw(req: &mut RawObject, format: ApiFormat, s: &GatewaySettings) {
    let prompt = s.system_prompt.trim();
    if !prompt.is_empty() {
        inject_system(req, format, prompt);
    }
    let policy = ThinkingPolicy::from_settings(s);
    if policy == ThinkingPolicy::Passthrough {
        return;
    }
    let chars = raw_prompt_chars(req, format);
    let tools = req.get("tools").is_some_and(|t| t.get().len() > 2);
    match format {
        ApiFormat::Anthropic => {
            let max = get(req, "max_tokens").and_then(|v| v.as_u64());
            if let Some(mut t) = get(req, "thinking") {
                if t.get("type").and_then(Value::as_str) == Some("enabled") {
                    let cur = t.get("budget_tokens").and_then(Value::as_u64);
                    if let Some(b) = budget(policy, cur, max, chars, tools) {
                        t["budget_tokens"] = json!(b);
                        if let Some(r) = raw(&t) {
                            req.insert("thinking".into(), r);
                        }
                    }
                }
            }
        }
        ApiFormat::Openai => {
            let max = get(req, "max_completion_tokens")
                .or_else(|| get(req, "max_tokens"))
                .and_then(|v| v.as_u64());
            let effort = get(req, "reasoning_effort");
            let on = effort
                .as_ref()
                .and_then(Value::as_str)
                .is_some_and(|e| e != "none");
            if on && policy != ThinkingPolicy::Auto {
                if let Some(b) = budget(policy, None, max, chars, tools) {
                    if let Some(r) = raw(&json!(effort_for(b))) {
                        req.insert("reasoning_effort".into(), r);
                    }
                }
            }
        }
        ApiFormat::Responses => {
            let max = get(req, "max_output_tokens").and_then(|v| v.as_u64());
            if let Some(mut r) = get(req, "reasoning") {
                let on = r
                    .get("effort")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e != "none");
                if on && policy != ThinkingPolicy::Auto {
                    if let Some(b) = budget(policy, None, max, chars, tools) {
                        r["effort"] = json!(effort_for(b));
                        if let Some(v) = raw(&r) {
                            req.insert("reasoning".into(), v);
                        }
                    }
                }
            }
        }
        ApiFormat::Gemini => {
            if let Some(mut g) = get(req, "generationConfig") {
                let max = g.get("maxOutputTokens").and_then(Value::as_u64);
                let cur = g
                    .pointer("/thinkingConfig/thinkingBudget")
                    .and_then(Value::as_i64);
                // 0 is off, -1 is dynamic (the model decides): only positive budgets are managed
                if let Some(cur) = cur.filter(|b| *b > 0) {
                    if let Some(b) = budget(policy, Some(cur as u64), max, chars, tools) {
                        g["thinkingConfig"]["thinkingBudget"] = json!(b);
                        if let Some(v) = raw(&g) {
                            req.insert("generationConfig".into(), v);
                        }
                    }
                }
            }
        }
    }
}

fn inject_system(req: &mut RawObject, format: ApiFormat, prompt: &str) {
    match format {
        ApiFormat::Anthropic => {
            let blocks = match get(req, "system") {
                None | Some(Value::Null) => json!(prompt),
                Some(Value::String(s)) if s.is_empty() => json!(prompt),
                Some(Value::String(s)) => {
                    json!([{"type": "text", "text": s}, {"type": "text", "text": prompt}])
                }
                Some(Value::Array(mut a)) => {
                    a.push(json!({"type": "text", "text": prompt}));
                    Value::Array(a)
                }
                Some(other) => other,
            };
            if let Some(r) = raw(&blocks) {
                req.insert("system".into(), r);
            }
        }
        ApiFormat::Openai => {
            if let Some(Value::Array(mut msgs)) = get(req, "messages") {
                let at = msgs
                    .iter()
                    .take_while(|m| {
                        matches!(
                            m.get("role").and_then(Value::as_str),
                            Some("system" | "developer")
                        )
                    })
                    .count();
                msgs.insert(at, json!({"role": "system", "content": prompt}));
                if let Some(r) = raw(&Value::Array(msgs)) {
                    req.insert("messages".into(), r);
                }
            }
        }
        ApiFormat::Responses => {
            let text = match get(req, "instructions") {
                Some(Value::String(s)) if !s.is_empty() => format!("{s}\n\n{prompt}"),
                _ => prompt.to_string(),
            };
            if let Some(r) = raw(&json!(text)) {
                req.insert("instructions".into(), r);
            }
        }
        ApiFormat::Gemini => {
            let mut si = get(req, "systemInstruction")
                .or_else(|| get(req, "system_instruction"))
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({"parts": []}));
            match si.get_mut("parts").and_then(Value::as_array_mut) {
                Some(parts) => parts.push(json!({"text": prompt})),
                None => si["parts"] = json!([{"text": prompt}]),
            }
            req.shift_remove("system_instruction");
            if let Some(r) = raw(&si) {
                req.insert("systemInstruction".into(), r);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings(prompt: &str, policy: &str, budget: u32) -> GatewaySettings {
        GatewaySettings {
            system_prompt: prompt.into(),
            thinking_policy: policy.into(),
            thinking_budget: budget,
            ..Default::default()
        }
    }

    fn obj(v: Value) -> RawObject {
        serde_json::from_value::<Value>(v)
            .map(|v| serde_json::from_str(&v.to_string()).unwrap())
            .unwrap()
    }

    fn back(r: &RawObject) -> Value {
        serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap()
    }

    #[test]
    fn anthropic_system_goes_last_and_cache_control_survives() {
        let mut r = obj(json!({
            "model": "m", "max_tokens": 100,
            "system": [{"type": "text", "text": "client", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "hi"}]
        }));
        let before_messages = r["messages"].get().to_string();
        apply_raw(
            &mut r,
            ApiFormat::Anthropic,
            &settings("be brief", "passthrough", 0),
        );
        let v = back(&r);
        assert_eq!(v["system"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(v["system"][1]["text"], "be brief");
        assert_eq!(
            r["messages"].get(),
            before_messages,
            "other fields untouched"
        );

        let mut r = obj(json!({"model": "m", "system": "client", "messages": []}));
        apply_raw(
            &mut r,
            ApiFormat::Anthropic,
            &settings("be brief", "passthrough", 0),
        );
        assert_eq!(back(&r)["system"][1]["text"], "be brief");
    }

    #[test]
    fn openai_responses_gemini_injection() {
        let mut r = obj(json!({"model": "m", "messages": [
            {"role": "system", "content": "a"}, {"role": "developer", "content": "b"},
            {"role": "user", "content": "hi"}]}));
        apply_raw(&mut r, ApiFormat::Openai, &settings("P", "passthrough", 0));
        let v = back(&r);
        assert_eq!(v["messages"][2], json!({"role": "system", "content": "P"}));
        assert_eq!(v["messages"][3]["role"], "user");

        let mut r = obj(json!({"model": "m", "instructions": "client", "input": "hi"}));
        apply_raw(
            &mut r,
            ApiFormat::Responses,
            &settings("P", "passthrough", 0),
        );
        assert_eq!(back(&r)["instructions"], "client\n\nP");

        let mut r = obj(json!({"contents": [], "system_instruction": {"parts": [{"text": "c"}]}}));
        apply_raw(&mut r, ApiFormat::Gemini, &settings("P", "passthrough", 0));
        let v = back(&r);
        assert_eq!(v["systemInstruction"]["parts"][1]["text"], "P");
        assert!(v.get("system_instruction").is_none());
    }

    #[test]
    fn thinking_policies_clamp_and_never_enable() {
        // custom budget clamped below max_tokens
        let mut r = obj(json!({"model": "m", "max_tokens": 2000,
            "thinking": {"type": "enabled", "budget_tokens": 1500}, "messages": []}));
        apply_raw(
            &mut r,
            ApiFormat::Anthropic,
            &settings("", "custom", 50_000),
        );
        assert_eq!(back(&r)["thinking"]["budget_tokens"], 1999);
        // no thinking asked: untouched
        let mut r = obj(json!({"model": "m", "max_tokens": 2000, "messages": []}));
        apply_raw(&mut r, ApiFormat::Anthropic, &settings("", "custom", 5000));
        assert!(back(&r).get("thinking").is_none());
        // adaptive: short prompt → low
        let mut r = obj(
            json!({"model": "m", "reasoning_effort": "high", "messages": [{"role": "user", "content": "hi"}]}),
        );
        apply_raw(&mut r, ApiFormat::Openai, &settings("", "adaptive", 0));
        assert_eq!(back(&r)["reasoning_effort"], "low");
        // gemini dynamic (-1) is left alone; positive budgets follow the policy
        let mut r = obj(
            json!({"contents": [], "generationConfig": {"thinkingConfig": {"thinkingBudget": -1}}}),
        );
        apply_raw(&mut r, ApiFormat::Gemini, &settings("", "custom", 3000));
        assert_eq!(
            back(&r)["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            -1
        );
        let mut r = obj(
            json!({"contents": [], "generationConfig": {"maxOutputTokens": 1000, "thinkingConfig": {"thinkingBudget": 500}}}),
        );
        apply_raw(&mut r, ApiFormat::Gemini, &settings("", "auto", 0));
        assert_eq!(
            back(&r)["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            500
        );
        apply_raw(&mut r, ApiFormat::Gemini, &settings("", "custom", 3000));
        assert_eq!(
            back(&r)["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            999
        );
    }

    #[test]
    fn ir_controls() {
        let mut ir = ChatRequest {
            system: vec!["client".into()],
            max_tokens: Some(4000),
            reasoning: Some(Reasoning {
                budget_tokens: Some(10_000),
                ..Default::default()
            }),
            ..Default::default()
        };
        apply_ir(&mut ir, &settings("P", "auto", 0));
        assert_eq!(ir.system, vec!["client".to_string(), "P".to_string()]);
        assert_eq!(ir.reasoning.as_ref().unwrap().budget_tokens, Some(3999));
        let mut ir = ChatRequest::default();
        apply_ir(&mut ir, &settings("", "custom", 2000));
        assert!(ir.reasoning.is_none(), "never turned on");
    }
}
