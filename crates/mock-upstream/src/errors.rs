//! Scripted errors (`status`, `quota`, `context`, `error-200`): each format's
//! real error shape with the wording its provider uses.

use serde_json::{json, Value};

use crate::handler::{error_body, Format};
use crate::script::ErrorKind;

/// `Retry-After` of a 429 when `retry-after` is not given.
pub(crate) const DEFAULT_RETRY_AFTER: u64 = 7;

const OPENAI_QUOTA: &str = "You exceeded your current quota, please check your plan and billing \
                            details. For more information on this error, read the docs: \
                            https://platform.openai.com/docs/guides/error-codes/api-errors.";
const OPENAI_CONTEXT: &str = "This model's maximum context length is 128000 tokens. However, \
                              your messages resulted in 130000 tokens. Please reduce the length \
                              of the messages.";
const ANTHROPIC_QUOTA: &str = "You have reached your specified API usage limits. You will regain \
                               access on 2030-01-01 at 00:00 UTC.";
const ANTHROPIC_CONTEXT: &str = "prompt is too long: 210000 tokens > 200000 maximum";
const GEMINI_QUOTA: &str = "You exceeded your current quota, please check your plan and billing \
                            details. For more information on this error, head to: \
                            https://ai.google.dev/gemini-api/docs/rate-limits.";
const GEMINI_CONTEXT: &str = "The input token count (1200000) exceeds the maximum number of \
                              tokens allowed (1048576).";

/// The body of a scripted error with HTTP status `status` (`retry_secs` is
/// quoted by 429 messages and Gemini's `RetryInfo`).
pub(crate) fn scripted(format: Format, status: u16, kind: ErrorKind, retry_secs: u64) -> Value {
    match (format, kind) {
        (Format::OpenAi, ErrorKind::Quota) => json!({"error": {
            "message": OPENAI_QUOTA, "type": "insufficient_quota", "param": null, "code": "insufficient_quota",
        }}),
        (Format::OpenAi, ErrorKind::Context) => json!({"error": {
            "message": OPENAI_CONTEXT, "type": "invalid_request_error", "param": "messages",
            "code": "context_length_exceeded",
        }}),
        (Format::Anthropic, ErrorKind::Quota) => error_body(format, status, ANTHROPIC_QUOTA),
        (Format::Anthropic, ErrorKind::Context) => error_body(format, status, ANTHROPIC_CONTEXT),
        (Format::Gemini, ErrorKind::Quota) => {
            let mut body = error_body(format, status, GEMINI_QUOTA);
            body["error"]["details"] = json!([
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                        "quotaValue": "50",
                    }],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [{
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }],
                },
                retry_info(retry_secs),
            ]);
            body
        }
        (Format::Gemini, ErrorKind::Context) => error_body(format, status, GEMINI_CONTEXT),
        (_, ErrorKind::Plain) => {
            let mut body = error_body(format, status, &message(format, status, retry_secs));
            if format == Format::Gemini && status == 429 {
                body["error"]["details"] = json!([retry_info(retry_secs)]);
            }
            body
        }
    }
}

fn retry_info(secs: u64) -> Value {
    json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{secs}s")})
}

/// The provider's usual message for a plain error status.
fn message(format: Format, status: u16, retry_secs: u64) -> String {
    let fixed = match (format, status) {
        (Format::OpenAi, 429) => {
            return format!(
                "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. \
                 Please try again in {retry_secs}s."
            )
        }
        (Format::Anthropic, 429) => {
            "Rate limit reached: this request would exceed the rate limit for your organization \
             of 50 requests per minute. Please try again later."
        }
        (Format::Gemini, 429) => {
            return format!(
                "Rate limit reached: too many requests per minute for this model. Please retry \
                 in {retry_secs}s."
            )
        }
        (Format::OpenAi, 401) => {
            "Incorrect API key provided. You can find your API key at \
             https://platform.openai.com/account/api-keys."
        }
        (Format::Anthropic, 401) => "invalid x-api-key",
        (Format::Gemini, 401) => {
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential."
        }
        (Format::OpenAi, 403) => "You are not allowed to access this resource.",
        (Format::Anthropic, 403) => {
            "Your API key does not have permission to use the specified resource."
        }
        (Format::Gemini, 403) => "The caller does not have permission",
        (Format::OpenAi, 404) => "The model does not exist or you do not have access to it.",
        (Format::Anthropic, 404) => "The requested resource could not be found.",
        (Format::Gemini, 404) => "Requested entity was not found.",
        (Format::Gemini, 400) => "Request contains an invalid argument.",
        (Format::OpenAi, 500) => {
            "The server had an error while processing your request. Sorry about that!"
        }
        (Format::Anthropic, 500) => "Internal server error",
        (Format::Gemini, 500) => {
            "An internal error has occurred. Please retry or report in \
             https://developers.generativeai.google/guide/troubleshooting"
        }
        (Format::OpenAi, 503 | 529) => {
            "The engine is currently overloaded, please try again later."
        }
        (Format::Anthropic, 529) => "Overloaded",
        (Format::Gemini, 503 | 529) => "The model is overloaded. Please try again later.",
        _ => return format!("mock upstream error (status {status})"),
    };
    fixed.to_owned()
}
