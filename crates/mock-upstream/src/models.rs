//! Model listings in the OpenAI, Anthropic and Gemini shapes.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use crate::handler::{error_response, json_response, Format};
use crate::text::CREATED;

/// The models the mock knows: (id, display name).
pub const MODELS: [(&str, &str); 3] = [
    ("mock-small", "Mock Small"),
    ("mock-large", "Mock Large"),
    ("mock-embed", "Mock Embed"),
];

/// Which provider's listing shape to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Flavor {
    pub(crate) fn error_format(self) -> Format {
        match self {
            Flavor::OpenAi => Format::OpenAi,
            Flavor::Anthropic => Format::Anthropic,
            Flavor::Gemini => Format::Gemini,
        }
    }
}

/// Gemini for `v1beta` paths or Google auth (`x-goog-api-key`, `?key=`),
/// Anthropic when an `anthropic-version` header is present, else OpenAI.
pub(crate) fn flavor(path: &str, query: Option<&str>, headers: &HeaderMap) -> Flavor {
    let google_key = query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("key=")));
    if path.contains("v1beta") || headers.contains_key("x-goog-api-key") || google_key {
        Flavor::Gemini
    } else if headers.contains_key("anthropic-version") {
        Flavor::Anthropic
    } else {
        Flavor::OpenAi
    }
}

fn entry(flavor: Flavor, id: &str, name: &str) -> Value {
    match flavor {
        Flavor::OpenAi => {
            json!({"id": id, "object": "model", "created": CREATED, "owned_by": "mock"})
        }
        Flavor::Anthropic => json!({
            "type": "model", "id": id, "display_name": name, "created_at": "2023-11-14T22:13:20Z",
        }),
        Flavor::Gemini => {
            let methods: &[&str] = if id.ends_with("embed") {
                &["embedContent", "batchEmbedContents"]
            } else {
                &["generateContent", "streamGenerateContent", "countTokens"]
            };
            json!({
                "name": format!("models/{id}"),
                "version": "001",
                "displayName": name,
                "description": "mock-upstream model",
                "inputTokenLimit": 128_000,
                "outputTokenLimit": 8_192,
                "supportedGenerationMethods": methods,
            })
        }
    }
}

/// `GET .../models`.
pub(crate) fn list(flavor: Flavor) -> Response {
    let data: Vec<Value> = MODELS.iter().map(|(id, n)| entry(flavor, id, n)).collect();
    let body = match flavor {
        Flavor::OpenAi => json!({"object": "list", "data": data}),
        Flavor::Anthropic => json!({
            "data": data,
            "has_more": false,
            "first_id": MODELS[0].0,
            "last_id": MODELS[MODELS.len() - 1].0,
        }),
        Flavor::Gemini => json!({"models": data}),
    };
    json_response(StatusCode::OK, &body)
}

/// `GET .../models/{id}`.
pub(crate) fn get(flavor: Flavor, id: &str) -> Response {
    match MODELS.iter().find(|(m, _)| *m == id) {
        Some((id, name)) => json_response(StatusCode::OK, &entry(flavor, id, name)),
        None => error_response(
            flavor.error_format(),
            404,
            &format!("mock-upstream: model {id} not found"),
            None,
        ),
    }
}
