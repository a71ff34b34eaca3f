//! What went wrong in one upstream attempt and what it means: the failure kinds the attempt
//! code reports, their classification through the routing crate's rules (status, body wording,
//! provider; errors inside an HTTP 200 classified by the status they name), the cooldown hint
//! (`Retry-After`, provider reset headers, Gemini `retryDelay`) and the client-facing error of an
//! upstream error status.

use crate::upstream::SendError;
use axum::http::HeaderMap;
use bytes::Bytes;
use omniroute_protocol::{ApiError, ErrorKind};
use serde_json::Value;
use std::time::Duration;

/// What went wrong in one attempt, as the fallback decision needs it.
#[derive(Debug)]
pub(crate) enum FailKind {
    /// The upstream answered with an error status.
    Status {
        status: u16,
        body: Bytes,
        retry_after: Option<String>,
        /// The provider's rate-limit reset hint (ms from now), when it sent one.
        reset_ms: Option<u64>,
    },
    /// No answer (or no next chunk) in time.
    Timeout,
    /// The connection could not be established.
    Connect,
    /// The connection broke.
    Broken,
    /// HTTP 200 carrying an error (body or stream event).
    ErrorInBody(Bytes),
    /// A stream that ended without content.
    EmptyStream,
    /// Not valid JSON / not the expected shape.
    Invalid,
    /// The client's request itself is invalid.
    Client,
    /// The request cannot be expressed in this provider's format.
    Untranslatable,
    /// Our own failure preparing this attempt.
    Local,
}

/// A failure's classification.
pub(crate) struct Classified {
    pub outcome: omniroute_routing::Outcome,
    pub scope: omniroute_routing::CooldownScope,
    pub retry_after_ms: Option<u64>,
}

/// `Retry-After`: delta seconds or an HTTP date, as milliseconds from now.
pub(crate) fn parse_retry_after(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs >= 0.0).then_some((secs * 1000.0) as u64);
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let ms = at
        .duration_since(std::time::SystemTime::now())
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Some(ms)
}

/// A provider's rate-limit reset header as milliseconds from now: OpenAI durations (`1m30s`,
/// `6s`, `250ms`), Anthropic RFC 3339 timestamps, epoch seconds or epoch milliseconds
/// (OpenRouter), or plain seconds.
pub(crate) fn parse_reset(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(n) = v.parse::<u64>() {
        let now = crate::resilience::now();
        return Some(if n > 1_000_000_000_000 {
            n.saturating_sub(now)
        } else if n > 1_000_000_000 {
            n.saturating_sub(now / 1000).saturating_mul(1000)
        } else {
            n.saturating_mul(1000)
        });
    }
    if v.contains('T') {
        let at = parse_rfc3339_ms(v)?;
        return Some(at.saturating_sub(crate::resilience::now()));
    }
    // Go-style durations: sequences of <number><unit>
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = v.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        let unit_ms = match c {
            'h' => 3_600_000.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1.0
            }
            'm' => 60_000.0,
            's' => 1000.0,
            _ => return None,
        };
        total += n * unit_ms;
        any = true;
    }
    (any && num.is_empty()).then_some(total as u64)
}

/// The longest reset hint among the provider's rate-limit headers (a request limit and a token
/// limit may both be exhausted; the later reset is the one that frees the account).
pub(crate) fn rate_limit_reset(h: &HeaderMap) -> Option<u64> {
    [
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-input-tokens-reset",
        "anthropic-ratelimit-output-tokens-reset",
        "x-ratelimit-reset",
    ]
    .iter()
    .filter_map(|name| h.get(*name).and_then(|v| v.to_str().ok()))
    .filter_map(parse_reset)
    .max()
}

/// `2026-11-22T01:02:03Z` / with fraction / with `+hh:mm` offset → epoch milliseconds.
pub(crate) fn parse_rfc3339_ms(v: &str) -> Option<u64> {
    let (date, time) = v.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, mo, da) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (clock, offset_s) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0i64)
    } else if let Some(pos) = time.rfind(['+', '-']) {
        let (c, off) = time.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let mut parts = off[1..].split(':').map(|x| x.parse::<i64>());
        let (oh, om) = (parts.next()?.ok()?, parts.next().unwrap_or(Ok(0)).ok()?);
        (c, sign * (oh * 3600 + om * 60))
    } else {
        (time, 0)
    };
    let mut t = clock.split(':');
    let (h, mi) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    // days from civil (Howard Hinnant's algorithm)
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 - offset_s;
    let ms = secs as f64 * 1000.0 + sec * 1000.0;
    (ms >= 0.0).then_some(ms as u64)
}

pub(crate) struct Failure {
    pub err: ApiError,
    pub kind: FailKind,
}

impl Failure {
    pub(crate) fn new(err: ApiError, kind: FailKind) -> Self {
        Self { err, kind }
    }

    pub(crate) fn local(err: ApiError) -> Self {
        Self::new(err, FailKind::Local)
    }

    /// What this failure means for fallback and for the target's health.
    pub(crate) fn classify(&self, provider: &str) -> Classified {
        use omniroute_routing::{classify_detailed, CooldownScope, Outcome};
        let simple = |outcome| Classified {
            outcome,
            scope: CooldownScope::Connection,
            retry_after_ms: None,
        };
        match &self.kind {
            FailKind::Status {
                status,
                body,
                retry_after,
                reset_ms,
            } => {
                let mut h: Vec<(&str, &str)> = Vec::new();
                if let Some(r) = retry_after {
                    h.push(("retry-after", r.as_str()));
                }
                let c = classify_detailed(provider, Some(*status), h.as_slice(), body);
                let hint = retry_after
                    .as_deref()
                    .and_then(parse_retry_after)
                    .or_else(|| window_hint(c.outcome, *reset_ms, body));
                Classified {
                    outcome: c.outcome,
                    scope: c.scope,
                    retry_after_ms: hint,
                }
            }
            FailKind::Timeout => simple(Outcome::Timeout),
            FailKind::Connect => simple(Outcome::ConnectError),
            FailKind::Broken | FailKind::Local => simple(Outcome::ServerError),
            FailKind::ErrorInBody(body) => match status_in_body(body) {
                // an error object inside an HTTP 200 that names its status is that status
                Some(status) => {
                    let c = classify_detailed(provider, Some(status), &[][..], body);
                    let outcome = match c.outcome {
                        // a 2xx-looking or unknown code: still an error in a 200
                        Outcome::Success | Outcome::EmptyStream => Outcome::ErrorInBody,
                        o => o,
                    };
                    Classified {
                        outcome,
                        scope: c.scope,
                        retry_after_ms: window_hint(outcome, None, body),
                    }
                }
                None => {
                    let c = classify_detailed(provider, Some(429), &[][..], body);
                    if c.outcome == Outcome::QuotaExhausted {
                        Classified {
                            outcome: c.outcome,
                            scope: c.scope,
                            retry_after_ms: None,
                        }
                    } else {
                        simple(Outcome::ErrorInBody)
                    }
                }
            },
            FailKind::Invalid => simple(Outcome::ErrorInBody),
            FailKind::EmptyStream => simple(Outcome::EmptyStream),
            FailKind::Client | FailKind::Untranslatable => simple(Outcome::ClientError),
        }
    }
}

/// Reset headers and Gemini's `retryDelay` describe a short rate-limit window: they set the
/// cooldown of a rate limit or an overload, never shorten a quota or credential lockout.
fn window_hint(
    outcome: omniroute_routing::Outcome,
    reset_ms: Option<u64>,
    body: &[u8],
) -> Option<u64> {
    use omniroute_routing::Outcome;
    match outcome {
        Outcome::RateLimited | Outcome::Overloaded => {
            reset_ms.or_else(|| omniroute_routing::classify::gemini_retry_delay(body))
        }
        _ => None,
    }
}

/// The HTTP status an error object names (`error.code: 429`, `error.status: "RESOURCE_EXHAUSTED"`,
/// `error.type: "overloaded_error"`), for errors delivered inside an HTTP 200 or a stream event.
pub(crate) fn status_in_body(body: &[u8]) -> Option<u16> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error").unwrap_or(&v);
    if let Some(n) = e.get("code").and_then(Value::as_u64) {
        if (400..600).contains(&n) {
            return Some(n as u16);
        }
    }
    let named = |s: &str| -> Option<u16> {
        Some(match s {
            "RESOURCE_EXHAUSTED"
            | "rate_limit_error"
            | "rate_limit_exceeded"
            | "insufficient_quota" => 429,
            "UNAVAILABLE" | "overloaded_error" => 529,
            "UNAUTHENTICATED" | "authentication_error" | "invalid_api_key" => 401,
            "PERMISSION_DENIED" | "permission_error" => 403,
            "NOT_FOUND" | "not_found_error" | "model_not_found" => 404,
            "INVALID_ARGUMENT" | "invalid_request_error" => 400,
            "DEADLINE_EXCEEDED" => 504,
            "INTERNAL" | "api_error" | "server_error" => 500,
            _ => return None,
        })
    };
    ["status", "type", "code"]
        .iter()
        .filter_map(|k| e.get(*k).and_then(Value::as_str))
        .find_map(named)
}

pub(crate) fn invalid_json(provider: &str) -> Failure {
    Failure::new(
        ApiError::new(
            ErrorKind::BadGateway,
            format!("provider `{provider}` returned a response that is not valid JSON"),
        )
        .with_code("upstream_invalid_response"),
        FailKind::Invalid,
    )
}

pub(crate) fn send_failure(e: SendError, provider: &str, first_byte: Duration) -> Failure {
    match e {
        SendError::Timeout => Failure::new(
            ApiError::new(
                ErrorKind::Timeout,
                format!(
                    "provider `{provider}` did not answer within {} ms",
                    first_byte.as_millis()
                ),
            )
            .with_code("upstream_timeout"),
            FailKind::Timeout,
        ),
        SendError::Connect => Failure::new(
            ApiError::new(
                ErrorKind::BadGateway,
                format!("provider `{provider}` is unreachable"),
            )
            .with_code("upstream_unreachable"),
            FailKind::Connect,
        ),
        SendError::Other => Failure::new(
            ApiError::new(
                ErrorKind::BadGateway,
                format!("request to provider `{provider}` failed"),
            )
            .with_code("upstream_error"),
            FailKind::Broken,
        ),
    }
}

/// The client-facing error for an upstream error status.
pub fn upstream_status_error(
    provider: &str,
    status: u16,
    body: &[u8],
    retry_after: Option<String>,
) -> ApiError {
    let detail = ApiError::upstream_message(body).unwrap_or_else(|| {
        String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_string()
    });
    let detail = if detail.is_empty() {
        "no detail".to_string()
    } else {
        detail
    };
    match status {
        // the provider rejected *our* credentials: not the client's auth problem
        401 | 403 => ApiError::new(
            ErrorKind::BadGateway,
            format!(
                "provider `{provider}` rejected the connection's credentials ({status}): {detail}"
            ),
        )
        .with_code("upstream_auth_failed"),
        429 => ApiError::new(
            ErrorKind::RateLimited,
            format!("provider `{provider}` is rate limiting: {detail}"),
        )
        .with_code("rate_limit_exceeded")
        .with_retry_after(retry_after),
        _ => {
            let mut e = ApiError::new(
                ErrorKind::Upstream,
                format!("provider `{provider}` returned {status}: {detail}"),
            )
            .with_status(if (400..600).contains(&status) {
                status
            } else {
                502
            })
            .with_retry_after(retry_after);
            e.upstream = status >= 500;
            e.code = Some(if status >= 500 {
                "upstream_error".into()
            } else {
                "upstream_rejected".into()
            });
            e
        }
    }
}
