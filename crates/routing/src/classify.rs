//! Upstream outcome classification as data: a rules table (status range, provider, body wording,
//! header presence → `Outcome`) and the policy of each outcome (what to try next, whether it
//! counts against the circuit breaker, what cooldown it sets).

use crate::Millis;
use serde::{Deserialize, Serialize};

/// What happened to one upstream attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// Out of credit or of a daily/monthly quota: retrying soon will not help.
    QuotaExhausted,
    /// A short-term rate limit (requests or tokens per minute).
    RateLimited,
    /// The provider is overloaded (Anthropic 529, Gemini "model is overloaded").
    Overloaded,
    /// The provider refused our credential (401/403).
    AuthFailed,
    ServerError,
    Timeout,
    ConnectError,
    /// HTTP 2xx whose body is an error object.
    ErrorInBody,
    /// A 2xx with an empty body, or a stream that ended before any content.
    EmptyStream,
    /// The prompt does not fit the model: the client must shorten it, no fallback.
    ContextTooLong,
    /// Any other client error (400, 413, 422): the request itself is wrong, no fallback.
    ClientError,
    /// The provider does not serve this model: another step may.
    ModelNotFound,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::QuotaExhausted => "quota_exhausted",
            Outcome::RateLimited => "rate_limited",
            Outcome::Overloaded => "overloaded",
            Outcome::AuthFailed => "auth_failed",
            Outcome::ServerError => "server_error",
            Outcome::Timeout => "timeout",
            Outcome::ConnectError => "connect_error",
            Outcome::ErrorInBody => "error_in_body",
            Outcome::EmptyStream => "empty_stream",
            Outcome::ContextTooLong => "context_too_long",
            Outcome::ClientError => "client_error",
            Outcome::ModelNotFound => "model_not_found",
        }
    }

    /// The policy table: what each outcome means for the retry loop and the target's health.
    pub const fn policy(self) -> Policy {
        use Action::*;
        use CooldownRule::*;
        let (action, breaker, cooldown) = match self {
            //                         action       breaker  cooldown
            Outcome::Success => (Return, false, None),
            Outcome::QuotaExhausted => (NextAccount, false, Fixed(QUOTA_COOLDOWN_MS)),
            Outcome::RateLimited => (NextAccount, false, Backoff),
            Outcome::Overloaded => (NextAccount, true, Backoff),
            Outcome::AuthFailed => (NextAccount, false, Fixed(AUTH_COOLDOWN_MS)),
            Outcome::ServerError => (NextAccount, true, None),
            Outcome::Timeout => (NextAccount, true, None),
            Outcome::ConnectError => (NextAccount, true, None),
            Outcome::ErrorInBody => (NextAccount, true, None),
            Outcome::EmptyStream => (NextAccount, true, None),
            Outcome::ModelNotFound => (NextStep, false, None),
            Outcome::ContextTooLong => (Return, false, None),
            Outcome::ClientError => (Return, false, None),
        };
        Policy {
            action,
            counts_for_breaker: breaker,
            cooldown,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Cooldown after a quota error without a `Retry-After`/reset hint: one hour.
pub const QUOTA_COOLDOWN_MS: Millis = 60 * 60 * 1000;
/// Cooldown of a connection whose credential was refused: thirty minutes (a config change clears it).
pub const AUTH_COOLDOWN_MS: Millis = 30 * 60 * 1000;

/// What the retry loop does after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Give this response (success or the client's own error) to the client.
    Return,
    /// Try the next account (connection) of the same step, then the next step.
    NextAccount,
    /// Skip the remaining accounts of this step: go to the next combo step.
    NextStep,
}

/// How an outcome cools its target down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CooldownRule {
    None,
    /// Exponential backoff with jitter (`Retry-After` wins when given).
    Backoff,
    /// A fixed duration (`Retry-After` / reset headers win when given).
    Fixed(Millis),
}

/// Whether a cooldown locks the whole connection or only the requested model on it.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CooldownScope {
    Connection,
    Model,
}

/// An outcome's consequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub action: Action,
    pub counts_for_breaker: bool,
    pub cooldown: CooldownRule,
}

/// The result of classifying a response: the outcome, the cooldown scope, the matching rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub outcome: Outcome,
    pub scope: CooldownScope,
    /// The rule's name (for logs), `"2xx"` / `"no_response"` / `"default"` outside the table.
    pub rule: &'static str,
}

impl Classification {
    pub fn policy(&self) -> Policy {
        self.outcome.policy()
    }
}

/// Header presence lookup (names are matched case-insensitively).
pub trait HeaderLookup {
    fn has(&self, name: &str) -> bool;
}

impl HeaderLookup for [(&str, &str)] {
    fn has(&self, name: &str) -> bool {
        self.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
    }
}

impl<const N: usize> HeaderLookup for [(&str, &str); N] {
    fn has(&self, name: &str) -> bool {
        self.as_slice().has(name)
    }
}

impl HeaderLookup for http::HeaderMap {
    fn has(&self, name: &str) -> bool {
        self.contains_key(name)
    }
}

/// One classification rule. Every present condition must hold; `body` is a conjunction of
/// groups, each group matching when ANY of its (lowercase) needles occurs, case-insensitively.
#[derive(Debug)]
pub struct Rule {
    pub name: &'static str,
    pub status: Option<(u16, u16)>,
    pub provider: Option<&'static str>,
    pub body: &'static [&'static [&'static str]],
    pub header: Option<&'static str>,
    pub outcome: Outcome,
    pub scope: CooldownScope,
}

const fn rule(
    name: &'static str,
    status: Option<(u16, u16)>,
    provider: Option<&'static str>,
    body: &'static [&'static [&'static str]],
    header: Option<&'static str>,
    outcome: Outcome,
    scope: CooldownScope,
) -> Rule {
    Rule {
        name,
        status,
        provider,
        body,
        header,
        outcome,
        scope,
    }
}

const S429: Option<(u16, u16)> = Some((429, 429));
const S4XX: Option<(u16, u16)> = Some((400, 499));
const S5XX: Option<(u16, u16)> = Some((500, 599));
const ANY: &[&[&str]] = &[];
const CONN: CooldownScope = CooldownScope::Connection;
const MODEL: CooldownScope = CooldownScope::Model;
const GEMINI: Option<&str> = Some("gemini");

const QUOTA_WORDS: &[&str] = &[
    "insufficient_quota",
    "exceeded your current quota",
    "quota exceeded",
    "exceeded your quota",
    "quota has been exhausted",
    "billing_hard_limit_reached",
    "credit balance is too low",
    "insufficient credits",
    "insufficient balance",
];
const CONTEXT_WORDS: &[&str] = &[
    "context length",
    "context_length_exceeded",
    "context window",
    "prompt is too long",
    "maximum context",
    "too many tokens",
    "input is too long",
    "exceeds the maximum number of tokens",
    "reduce the length",
];
const MODEL_MISSING_WORDS: &[&str] = &[
    "model_not_found",
    "does not exist",
    "not found",
    "not_found_error",
    "unknown model",
    "invalid model",
    "no such model",
    "is not supported for",
];

/// The rules, first match wins. 2xx responses and missing responses are handled before the
/// table (see [`classify_detailed`]); anything unmatched is a server error.
#[rustfmt::skip]
pub static RULES: &[Rule] = &[
    //    name                       status         provider  body                                   header             outcome                     scope
    // Gemini names its quota: per-day limits are exhausted quota, per-minute ones rate limits;
    // `...PerModel...` quota ids lock only the requested model.
    rule("gemini_daily_per_model",   S429,          GEMINI,   &[&["perday"], &["permodel"]],          None,              Outcome::QuotaExhausted,    MODEL),
    rule("gemini_minute_per_model",  S429,          GEMINI,   &[&["perminute"], &["permodel"]],       None,              Outcome::RateLimited,       MODEL),
    rule("gemini_daily",             S429,          GEMINI,   &[&["perday"]],                         None,              Outcome::QuotaExhausted,    CONN),
    rule("gemini_minute",            S429,          GEMINI,   &[&["perminute"]],                      None,              Outcome::RateLimited,       CONN),
    // Vertex's "Resource has been exhausted (e.g. check quota)." is its short-term 429.
    rule("vertex_shared_quota",      S429,          None,     &[&["e.g. check quota"]],               None,              Outcome::RateLimited,       CONN),
    rule("quota_wording",            S429,          None,     &[QUOTA_WORDS],                         None,              Outcome::QuotaExhausted,    CONN),
    rule("resource_exhausted_quota", S429,          None,     &[&["resource_exhausted"], &["quota"]], None,              Outcome::QuotaExhausted,    CONN),
    // OpenAI limits are per model ("Rate limit reached for gpt-4o in organization ...").
    rule("openai_model_rate_limit",  S429,          None,     &[&["rate limit reached for"]],         None,              Outcome::RateLimited,       MODEL),
    rule("rate_limited",             S429,          None,     ANY,                                    None,              Outcome::RateLimited,       CONN),
    // Anthropic answers an empty credit balance with a 400.
    rule("credit_exhausted_4xx",     Some((400,403)), None,   &[&["credit balance is too low", "insufficient_quota", "billing_hard_limit_reached"]], None, Outcome::QuotaExhausted, CONN),
    rule("overloaded_529",           Some((529,529)), None,   ANY,                                    None,              Outcome::Overloaded,        CONN),
    rule("overloaded_wording",       S5XX,          None,     &[&["overloaded_error", "model is overloaded", "overloaded"]], None,     Outcome::Overloaded,        CONN),
    rule("unavailable_retry_after",  Some((503,503)), None,   ANY,                                    Some("retry-after"), Outcome::Overloaded,      CONN),
    rule("payment_required",         Some((402,402)), None,   ANY,                                    None,              Outcome::QuotaExhausted,    CONN),
    // Gemini rejects a bad key with a 400 INVALID_ARGUMENT: still the credential, not the request.
    rule("gemini_bad_key",           Some((400,400)), None,   &[&["api key not valid", "api_key_invalid"]], None,        Outcome::AuthFailed,        CONN),
    rule("auth",                     Some((401,403)), None,   ANY,                                    None,              Outcome::AuthFailed,        CONN),
    rule("request_timeout",          Some((408,408)), None,   ANY,                                    None,              Outcome::Timeout,           CONN),
    rule("context_too_long",         S4XX,          None,     &[CONTEXT_WORDS],                       None,              Outcome::ContextTooLong,    CONN),
    rule("model_not_found_404",      Some((404,404)), None,   ANY,                                    None,              Outcome::ModelNotFound,     CONN),
    rule("model_not_found_400",      Some((400,400)), None,   &[&["model"], MODEL_MISSING_WORDS],     None,              Outcome::ModelNotFound,     CONN),
    rule("client_error",             S4XX,          None,     ANY,                                    None,              Outcome::ClientError,       CONN),
    rule("server_error",             S5XX,          None,     ANY,                                    None,              Outcome::ServerError,       CONN),
];

/// Classify an upstream response. `status: None` means no HTTP response arrived (connect
/// failure; the caller reports timeouts as [`Outcome::Timeout`] directly).
pub fn classify<H: HeaderLookup + ?Sized>(
    provider_id: &str,
    status: Option<u16>,
    headers: &H,
    body: &[u8],
) -> Outcome {
    classify_detailed(provider_id, status, headers, body).outcome
}

/// [`classify`] plus the cooldown scope and the name of the matching rule.
///
/// 2xx: an empty body is [`Outcome::EmptyStream`], a JSON object whose first key is `error` is
/// [`Outcome::ErrorInBody`], anything else is a success. Other statuses go through [`RULES`].
pub fn classify_detailed<H: HeaderLookup + ?Sized>(
    provider_id: &str,
    status: Option<u16>,
    headers: &H,
    body: &[u8],
) -> Classification {
    let done = |outcome, rule| Classification {
        outcome,
        scope: CooldownScope::Connection,
        rule,
    };
    let Some(status) = status else {
        return done(Outcome::ConnectError, "no_response");
    };
    if (200..300).contains(&status) {
        let trimmed = body.trim_ascii_start();
        let outcome = if body.trim_ascii().is_empty() {
            Outcome::EmptyStream
        } else if trimmed.starts_with(b"{")
            && trimmed[1..].trim_ascii_start().starts_with(b"\"error\"")
        {
            Outcome::ErrorInBody
        } else {
            Outcome::Success
        };
        return done(outcome, "2xx");
    }
    for r in RULES {
        if let Some((lo, hi)) = r.status {
            if status < lo || status > hi {
                continue;
            }
        }
        if let Some(p) = r.provider {
            if p != provider_id {
                continue;
            }
        }
        if let Some(h) = r.header {
            if !headers.has(h) {
                continue;
            }
        }
        if r.body
            .iter()
            .all(|group| group.iter().any(|needle| contains_ci(body, needle)))
        {
            return Classification {
                outcome: r.outcome,
                scope: r.scope,
                rule: r.name,
            };
        }
    }
    done(Outcome::ServerError, "default")
}

/// ASCII case-insensitive substring search; `needle` must be lowercase.
fn contains_ci(hay: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    if n.is_empty() {
        return true;
    }
    if n.len() > hay.len() {
        return false;
    }
    hay.windows(n.len()).any(|w| {
        w[0].to_ascii_lowercase() == n[0]
            && w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b)
    })
}

/// Gemini's `RetryInfo.retryDelay` (`"retryDelay": "36s"` or `"1.5s"`) from an error body, as a
/// duration in ms: a reset hint for [`crate::health::Cooldown::set`].
pub fn gemini_retry_delay(body: &[u8]) -> Option<Millis> {
    let key = b"\"retryDelay\"";
    let at = body.windows(key.len()).position(|w| w == key)?;
    let rest = &body[at + key.len()..];
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(b":")?
        .trim_ascii_start();
    let rest = rest.strip_prefix(b"\"")?;
    let end = rest.iter().position(|b| *b == b'"')?;
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    let secs: f64 = text.strip_suffix('s')?.parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some((secs * 1000.0).round() as Millis)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NO_HEADERS: [(&str, &str); 0] = [];

    fn c(provider: &str, status: u16, body: &str) -> Classification {
        classify_detailed(provider, Some(status), &NO_HEADERS[..], body.as_bytes())
    }

    fn o(provider: &str, status: u16, body: &str) -> Outcome {
        c(provider, status, body).outcome
    }

    #[test]
    fn openai_bodies() {
        let quota = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert_eq!(c("openai", 429, quota).rule, "quota_wording");
        assert_eq!(o("openai", 429, quota), Outcome::QuotaExhausted);
        let rate = r#"{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 6s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
        let r = c("openai", 429, rate);
        assert_eq!(
            (r.outcome, r.scope),
            (Outcome::RateLimited, CooldownScope::Model)
        );
        let ctx = r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        assert_eq!(o("openai", 400, ctx), Outcome::ContextTooLong);
        let missing = r#"{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#;
        assert_eq!(o("openai", 404, missing), Outcome::ModelNotFound);
        let key = r#"{"error":{"message":"Incorrect API key provided: sk-abc. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(o("openai", 401, key), Outcome::AuthFailed);
        let bad = r#"{"error":{"message":"Invalid value for 'temperature': expected a number.","type":"invalid_request_error","param":"temperature","code":null}}"#;
        assert_eq!(o("openai", 400, bad), Outcome::ClientError);
        assert_eq!(
            o(
                "openai",
                500,
                r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}"#
            ),
            Outcome::ServerError
        );
        assert_eq!(
            o("openai", 502, "<html>Bad gateway</html>"),
            Outcome::ServerError
        );
    }

    #[test]
    fn anthropic_bodies() {
        let overloaded =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(o("anthropic", 529, overloaded), Outcome::Overloaded);
        assert_eq!(c("anthropic", 529, "").rule, "overloaded_529");
        // Some proxies relay it as a 500 or 503.
        assert_eq!(o("anthropic", 500, overloaded), Outcome::Overloaded);
        let rate = r#"{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization (abc) of 50,000 input tokens per minute."}}"#;
        assert_eq!(o("anthropic", 429, rate), Outcome::RateLimited);
        let long = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208975 tokens > 200000 maximum"}}"#;
        assert_eq!(o("anthropic", 400, long), Outcome::ContextTooLong);
        let credit = r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}"#;
        assert_eq!(o("anthropic", 400, credit), Outcome::QuotaExhausted);
        let auth = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        assert_eq!(o("anthropic", 401, auth), Outcome::AuthFailed);
        let perm = r#"{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}"#;
        assert_eq!(o("anthropic", 403, perm), Outcome::AuthFailed);
        let nf =
            r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}}"#;
        assert_eq!(o("anthropic", 404, nf), Outcome::ModelNotFound);
        let big = r#"{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}"#;
        assert_eq!(o("anthropic", 413, big), Outcome::ClientError);
        let api =
            r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#;
        assert_eq!(o("anthropic", 500, api), Outcome::ServerError);
    }

    #[test]
    fn gemini_bodies() {
        let daily = r#"{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaDimensions":{"location":"global","model":"gemini-2.5-pro"},"quotaValue":"50"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"36s"}]}}"#;
        let r = c("gemini", 429, daily);
        assert_eq!(
            (r.outcome, r.scope, r.rule),
            (
                Outcome::QuotaExhausted,
                CooldownScope::Model,
                "gemini_daily_per_model"
            )
        );
        assert_eq!(gemini_retry_delay(daily.as_bytes()), Some(36_000));
        let minute = daily.replace("PerDay", "PerMinute");
        let r = c("gemini", 429, &minute);
        assert_eq!(
            (r.outcome, r.scope),
            (Outcome::RateLimited, CooldownScope::Model)
        );
        let project = daily.replace("PerDayPerProjectPerModel", "PerDayPerProject");
        let r = c("gemini", 429, &project);
        assert_eq!(
            (r.outcome, r.scope),
            (Outcome::QuotaExhausted, CooldownScope::Connection)
        );
        // The same body from another provider id is still quota, connection-wide.
        assert_eq!(c("openrouter", 429, daily).scope, CooldownScope::Connection);
        assert_eq!(o("openrouter", 429, daily), Outcome::QuotaExhausted);
        let vertex = r#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(o("gemini", 429, vertex), Outcome::RateLimited);
        let quota_only = r#"{"error":{"code":429,"message":"Quota metric exhausted for this project","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(
            c("gemini", 429, quota_only).rule,
            "resource_exhausted_quota"
        );
        let overloaded = r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#;
        assert_eq!(o("gemini", 503, overloaded), Outcome::Overloaded);
        let tokens = r#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(o("gemini", 400, tokens), Outcome::ContextTooLong);
        let nf = r#"{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.","status":"NOT_FOUND"}}"#;
        assert_eq!(o("gemini", 404, nf), Outcome::ModelNotFound);
        let key = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(c("gemini", 400, key).rule, "gemini_bad_key");
        assert_eq!(o("gemini", 400, key), Outcome::AuthFailed);
        let denied = r#"{"error":{"code":403,"message":"Method doesn't allow unregistered callers.","status":"PERMISSION_DENIED"}}"#;
        assert_eq!(o("gemini", 403, denied), Outcome::AuthFailed);
        let schema = r#"{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"foo\"","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(o("gemini", 400, schema), Outcome::ClientError);
    }

    #[test]
    fn statuses_headers_and_2xx() {
        assert_eq!(o("x", 429, ""), Outcome::RateLimited);
        assert_eq!(o("x", 422, "{}"), Outcome::ClientError);
        assert_eq!(o("x", 413, ""), Outcome::ClientError);
        assert_eq!(o("x", 402, ""), Outcome::QuotaExhausted);
        assert_eq!(
            o("x", 400, "the server is overloaded"),
            Outcome::ClientError
        );
        assert_eq!(o("x", 408, ""), Outcome::Timeout);
        assert_eq!(o("x", 404, "Not Found"), Outcome::ModelNotFound);
        assert_eq!(
            o(
                "x",
                400,
                r#"{"error":{"message":"Invalid model: foo-bar"}}"#
            ),
            Outcome::ModelNotFound
        );
        assert_eq!(o("x", 503, "upstream unavailable"), Outcome::ServerError);
        let h = [("Retry-After", "10")];
        assert_eq!(
            classify("x", Some(503), &h, b"upstream unavailable"),
            Outcome::Overloaded
        );
        let mut map = http::HeaderMap::new();
        map.insert("retry-after", http::HeaderValue::from_static("5"));
        assert_eq!(classify("x", Some(503), &map, b""), Outcome::Overloaded);
        assert_eq!(o("x", 302, ""), Outcome::ServerError);
        assert_eq!(c("x", 302, "").rule, "default");
        assert_eq!(
            classify("x", None, &NO_HEADERS[..], b""),
            Outcome::ConnectError
        );
        assert_eq!(o("x", 200, r#"{"id":"x","choices":[]}"#), Outcome::Success);
        assert_eq!(
            o("x", 200, r#" { "error": {"message":"upstream failed"}}"#),
            Outcome::ErrorInBody
        );
        assert_eq!(
            o("x", 200, r#"{"id":"1","content":"\"error\": no"}"#),
            Outcome::Success
        );
        assert_eq!(o("x", 200, "  \n"), Outcome::EmptyStream);
    }

    #[test]
    fn policy_table() {
        use Action::*;
        let expect = [
            (Outcome::Success, Return, false),
            (Outcome::QuotaExhausted, NextAccount, false),
            (Outcome::RateLimited, NextAccount, false),
            (Outcome::AuthFailed, NextAccount, false),
            (Outcome::Overloaded, NextAccount, true),
            (Outcome::ServerError, NextAccount, true),
            (Outcome::Timeout, NextAccount, true),
            (Outcome::ConnectError, NextAccount, true),
            (Outcome::ErrorInBody, NextAccount, true),
            (Outcome::EmptyStream, NextAccount, true),
            (Outcome::ModelNotFound, NextStep, false),
            (Outcome::ContextTooLong, Return, false),
            (Outcome::ClientError, Return, false),
        ];
        for (outcome, action, breaker) in expect {
            let p = outcome.policy();
            assert_eq!(
                (p.action, p.counts_for_breaker),
                (action, breaker),
                "{outcome}"
            );
        }
        assert_eq!(
            Outcome::QuotaExhausted.policy().cooldown,
            CooldownRule::Fixed(QUOTA_COOLDOWN_MS)
        );
        assert_eq!(
            Outcome::AuthFailed.policy().cooldown,
            CooldownRule::Fixed(AUTH_COOLDOWN_MS)
        );
        assert_eq!(
            Outcome::RateLimited.policy().cooldown,
            CooldownRule::Backoff
        );
        assert_eq!(Outcome::ClientError.policy().cooldown, CooldownRule::None);
        assert_eq!(
            serde_json::to_string(&Outcome::ContextTooLong).unwrap(),
            "\"context_too_long\""
        );
    }

    #[test]
    fn retry_delay_parsing() {
        assert_eq!(gemini_retry_delay(br#"{"retryDelay": "1.5s"}"#), Some(1500));
        assert_eq!(gemini_retry_delay(br#"{"retryDelay":"x"}"#), None);
        assert_eq!(gemini_retry_delay(b"{}"), None);
    }

    #[test]
    fn case_insensitive_search() {
        assert!(contains_ci(b"RESOURCE_EXHAUSTED", "resource_exhausted"));
        assert!(!contains_ci(b"abc", "abcd"));
        assert!(contains_ci(b"", ""));
    }
}
