//! The one gateway error type: it knows its HTTP status, whether it is retryable and who caused
//! it, and it is rendered in the client's own API format in exactly one place ([`ApiError::body`]).

use crate::ApiFormat;
use serde_json::{json, Value};

/// What went wrong, independent of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request is malformed or semantically invalid.
    InvalidRequest,
    /// 401: missing or invalid gateway key.
    Authentication,
    /// 403: authenticated but not allowed.
    PermissionDenied,
    /// 404: unknown model, provider or resource.
    NotFound,
    /// 413: body over the configured limit.
    PayloadTooLarge,
    /// 415: not JSON.
    UnsupportedMediaType,
    /// 429: rate limited (by the upstream or the gateway).
    RateLimited,
    /// 500: a bug or an internal failure.
    Internal,
    /// 502: the upstream failed or answered garbage.
    BadGateway,
    /// 503: nothing available to serve the request.
    Unavailable,
    /// 504: the upstream did not answer in time.
    Timeout,
    /// Upstream answered with an error status that we pass on as is (status kept verbatim).
    Upstream,
}

impl ErrorKind {
    pub fn default_status(self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::Authentication => 401,
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::BadGateway | Self::Upstream => 502,
            Self::Unavailable => 503,
            Self::Timeout => 504,
        }
    }
}

/// A gateway error, ready to be rendered for any client format.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub status: u16,
    pub message: String,
    /// Machine-readable code (`model_not_found`, `invalid_api_key`, ...).
    pub code: Option<String>,
    /// Seconds the client should wait (from the upstream's `Retry-After`).
    pub retry_after: Option<String>,
    /// True when the upstream caused it (the request itself was fine).
    pub upstream: bool,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: kind.default_status(),
            message: message.into(),
            code: None,
            retry_after: None,
            upstream: matches!(
                kind,
                ErrorKind::BadGateway | ErrorKind::Timeout | ErrorKind::Upstream
            ),
        }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn with_retry_after(mut self, retry_after: Option<String>) -> Self {
        self.retry_after = retry_after;
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// True when trying again (elsewhere or later) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.status, 408 | 409 | 429 | 500..=599) || self.kind == ErrorKind::Timeout
    }

    /// OpenAI `error.type` for this error.
    fn openai_type(&self) -> &'static str {
        match self.status {
            400 | 404 | 409 | 413 | 415 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            500..=599 if self.upstream => "upstream_error",
            _ => "server_error",
        }
    }

    /// Anthropic `error.type` for this error.
    fn anthropic_type(&self) -> &'static str {
        match self.status {
            400 | 409 | 413 | 415 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            _ => "api_error",
        }
    }

    /// Google RPC status name for this error.
    fn google_status(&self) -> &'static str {
        match self.status {
            400 | 413 | 415 | 422 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            409 => "ABORTED",
            429 => "RESOURCE_EXHAUSTED",
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "INTERNAL",
        }
    }

    /// The error body in the client's own format.
    pub fn body(&self, format: ApiFormat) -> Value {
        match format {
            ApiFormat::Openai | ApiFormat::Responses => json!({
                "error": {
                    "message": self.message,
                    "type": self.openai_type(),
                    "param": Value::Null,
                    "code": self.code,
                }
            }),
            ApiFormat::Anthropic => json!({
                "type": "error",
                "error": { "type": self.anthropic_type(), "message": self.message }
            }),
            ApiFormat::Gemini => json!({
                "error": {
                    "code": self.status,
                    "message": self.message,
                    "status": self.google_status(),
                }
            }),
        }
    }

    /// Best-effort extraction of a human message from an upstream error body of any format.
    pub fn upstream_message(body: &[u8]) -> Option<String> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let err = v.get("error").unwrap_or(&v);
        if let Some(m) = err.get("message").and_then(Value::as_str) {
            return Some(m.to_string());
        }
        if let Some(s) = err.as_str() {
            return Some(s.to_string());
        }
        v.get("detail")
            .and_then(Value::as_str)
            .or_else(|| v.get("message").and_then(Value::as_str))
            .map(str::to_string)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_format() {
        let e = ApiError::not_found("model `x` not found").with_code("model_not_found");
        let o = e.body(ApiFormat::Openai);
        assert_eq!(o["error"]["type"], "invalid_request_error");
        assert_eq!(o["error"]["code"], "model_not_found");
        let a = e.body(ApiFormat::Anthropic);
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "not_found_error");
        let g = e.body(ApiFormat::Gemini);
        assert_eq!(g["error"]["code"], 404);
        assert_eq!(g["error"]["status"], "NOT_FOUND");
    }

    #[test]
    fn retryable_statuses() {
        assert!(ApiError::new(ErrorKind::RateLimited, "x").is_retryable());
        assert!(ApiError::new(ErrorKind::Upstream, "x")
            .with_status(503)
            .is_retryable());
        assert!(!ApiError::invalid("x").is_retryable());
    }

    #[test]
    fn extracts_upstream_messages() {
        let m = ApiError::upstream_message(br#"{"error":{"message":"bad key"}}"#);
        assert_eq!(m.as_deref(), Some("bad key"));
        let m = ApiError::upstream_message(
            br#"{"type":"error","error":{"type":"x","message":"over"}}"#,
        );
        assert_eq!(m.as_deref(), Some("over"));
        assert_eq!(ApiError::upstream_message(b"<html>"), None);
    }
}
