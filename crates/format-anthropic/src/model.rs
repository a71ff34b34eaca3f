//! What an upstream Claude model accepts, guessed from its id, so encoded requests are not
//! rejected: thinking shape (`enabled` + `budget_tokens` vs `adaptive`), `output_config.effort`
//! levels, and sampling parameters. Ids that are not recognizably Claude (custom names,
//! Anthropic-compatible third parties) get `UNKNOWN`: the request is encoded as the IR asks.
//!
//! Facts (Anthropic docs and migration notes): Opus 4.7 and later reject `thinking.type:
//! enabled` (adaptive only) and sampling parameters; Opus 4.6 / Sonnet 4.6 accept both thinking
//! shapes; older models only `enabled`. `effort` exists on Opus 4.5 (low/medium/high), 4.6
//! models (+max), Opus 4.7+ and generation 5 (+xhigh). Claude 4.x models reject `temperature`
//! and `top_p` together.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThinkingStyle {
    /// Only `{type: enabled, budget_tokens}`.
    BudgetOnly,
    /// Both shapes.
    Both,
    /// Only `{type: adaptive}` (+ `output_config.effort`).
    AdaptiveOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ModelCaps {
    pub thinking: ThinkingStyle,
    /// `output_config.effort` accepted at all.
    pub effort: bool,
    pub effort_max: bool,
    pub effort_xhigh: bool,
    /// `temperature`, `top_p` and `top_k` are rejected.
    pub no_sampling: bool,
    /// `temperature` and `top_p` may not both be set.
    pub temperature_xor_top_p: bool,
}

pub(crate) const UNKNOWN: ModelCaps = ModelCaps {
    thinking: ThinkingStyle::Both,
    effort: true,
    effort_max: true,
    effort_xhigh: true,
    no_sampling: false,
    temperature_xor_top_p: false,
};

const LEGACY: ModelCaps = ModelCaps {
    thinking: ThinkingStyle::BudgetOnly,
    effort: false,
    effort_max: false,
    effort_xhigh: false,
    no_sampling: false,
    temperature_xor_top_p: false,
};

const NEWEST: ModelCaps = ModelCaps {
    thinking: ThinkingStyle::AdaptiveOnly,
    effort: true,
    effort_max: true,
    effort_xhigh: true,
    no_sampling: true,
    temperature_xor_top_p: true,
};

/// Capabilities of `model` (`claude-opus-4-8`, `claude-sonnet-4-5-20250929`,
/// `anthropic/claude-3-7-sonnet-latest`, `us.anthropic.claude-opus-4-6-v1:0`, ...).
pub(crate) fn caps(model: &str) -> ModelCaps {
    let lower = model.to_ascii_lowercase();
    let Some(pos) = lower.find("claude-") else {
        return UNKNOWN;
    };
    let rest = &lower[pos + "claude-".len()..];
    let mut tokens = rest
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty());
    let Some(first) = tokens.next() else {
        return UNKNOWN;
    };
    // `claude-3-5-sonnet-…`, `claude-3-opus-…`, `claude-2.1`: the generation comes first.
    if first.bytes().all(|b| b.is_ascii_digit()) {
        return LEGACY;
    }
    let family = first;
    // Version numbers are short; an 8-digit date or `v1`/`latest` ends them.
    let mut nums = tokens.map_while(|t| {
        (t.len() <= 2 && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<u32>().ok())
            .flatten()
    });
    let major = nums.next();
    let minor = nums.next().unwrap_or(0);
    match (family, major) {
        (_, Some(m)) if m >= 5 => NEWEST,
        ("opus" | "sonnet" | "haiku", Some(4)) => match (family, minor) {
            ("opus", 0 | 1) | ("sonnet", 0..=5) | ("haiku", _) => ModelCaps {
                temperature_xor_top_p: minor >= 1,
                ..LEGACY
            },
            ("opus", 5) => ModelCaps {
                effort: true,
                temperature_xor_top_p: true,
                ..LEGACY
            },
            (_, 6) => ModelCaps {
                thinking: ThinkingStyle::Both,
                effort: true,
                effort_max: true,
                effort_xhigh: false,
                no_sampling: false,
                temperature_xor_top_p: true,
            },
            _ => NEWEST,
        },
        ("opus" | "sonnet" | "haiku", None) => UNKNOWN,
        // Before generation 5 (`claude-instant-1`, `claude-sonnet-3`).
        (_, Some(_)) => LEGACY,
        // New families without a number (`claude-mythos-preview`) are newer than all above.
        (_, None) => NEWEST,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_model_generations() {
        assert_eq!(caps("gw/custom-model"), UNKNOWN);
        assert_eq!(caps("glm-4.6"), UNKNOWN);
        assert_eq!(caps("claude-3-7-sonnet-20250219"), LEGACY);
        assert_eq!(
            caps("claude-3-5-haiku-latest").thinking,
            ThinkingStyle::BudgetOnly
        );
        let s45 = caps("claude-sonnet-4-5-20250929");
        assert_eq!(s45.thinking, ThinkingStyle::BudgetOnly);
        assert!(!s45.effort);
        assert!(s45.temperature_xor_top_p);
        assert!(!caps("claude-sonnet-4-20250514").temperature_xor_top_p);
        assert!(caps("claude-opus-4-1").temperature_xor_top_p);
        let o45 = caps("claude-opus-4-5-20251101");
        assert!(o45.effort && !o45.effort_max);
        let o46 = caps("us.anthropic.claude-opus-4-6-v1:0");
        assert_eq!(o46.thinking, ThinkingStyle::Both);
        assert!(o46.effort_max && !o46.effort_xhigh);
        assert_eq!(caps("claude-sonnet-4-6").thinking, ThinkingStyle::Both);
        assert_eq!(
            caps("claude-opus-4-7").thinking,
            ThinkingStyle::AdaptiveOnly
        );
        assert_eq!(
            caps("anthropic/claude-opus-4-8").thinking,
            ThinkingStyle::AdaptiveOnly
        );
        assert!(caps("claude-opus-4-8").no_sampling);
        assert_eq!(
            caps("claude-sonnet-5").thinking,
            ThinkingStyle::AdaptiveOnly
        );
        assert_eq!(caps("claude-fable-5").thinking, ThinkingStyle::AdaptiveOnly);
        assert_eq!(caps("claude-haiku-4-5").thinking, ThinkingStyle::BudgetOnly);
        assert_eq!(caps("claude-mythos-preview"), NEWEST);
        assert_eq!(caps("claude-instant-1.2"), LEGACY);
    }
}
