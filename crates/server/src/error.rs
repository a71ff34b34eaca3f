//! Turning an [`ApiError`] into an HTTP response in the client's format: the one place errors are
//! rendered.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use omniroute_protocol::{ApiError, ApiFormat, ErrorKind};
use omniroute_store::StoreError;

/// An error bound to the format the client speaks.
#[derive(Debug)]
pub struct HttpError(pub ApiError, pub ApiFormat);

impl HttpError {
    pub fn openai(e: ApiError) -> Self {
        Self(e, ApiFormat::Openai)
    }
}

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        Self(e, ApiFormat::Openai)
    }
}

impl From<StoreError> for HttpError {
    fn from(e: StoreError) -> Self {
        Self::openai(store_error(e))
    }
}

/// Map a storage error to its API error.
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
        StoreError::Conflict(what) => ApiError::invalid(format!("{what} already exists"))
            .with_status(409)
            .with_code("conflict"),
        StoreError::Invalid(m) => ApiError::invalid(m),
        other => {
            tracing::error!(error = %other, "storage failure");
            ApiError::internal("internal storage error")
        }
    }
}

/// Render `err` for `format`.
pub fn render(err: &ApiError, format: ApiFormat) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, axum::Json(err.body(format))).into_response();
    if let Some(ra) = err
        .retry_after
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, ra);
    }
    if err.kind == ErrorKind::Authentication && format == ApiFormat::Openai {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        render(&self.0, self.1)
    }
}
