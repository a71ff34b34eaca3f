//! Model lists in each client family's shape: OpenAI (`GET /v1/models`), Anthropic (the same path
//! when the request carries `anthropic-version`), Gemini (`GET /v1beta/models`), plus single-model
//! lookups and the unknown-route fallback.

use crate::error::{render, HttpError};
use crate::state::{AppState, KeyInfo, Snapshot};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use omniroute_protocol::{ApiError, ApiFormat};
use omniroute_providers::ModelType;
use serde_json::{json, Value};
use std::sync::Arc;

/// `(id, owned_by, type)` of everything routable: `alias/model` of providers with a usable
/// connection, then enabled combos; for a key limited to some models, only what it may use.
fn routable(snap: &Snapshot, key: Option<&KeyInfo>) -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    for (p, model, kind) in snap.resolver.routable_models() {
        let id = format!("{}/{}", p.alias, model);
        let allowed = key.is_none_or(|k| k.allows_name(&id) || k.allows_target(p, model));
        if snap.usable(&p.id) && allowed {
            out.push((id, p.id.clone(), kind.as_str()));
        }
    }
    for c in snap.resolver.combos().filter(|c| c.enabled) {
        let allowed = key.is_none_or(|k| {
            k.allows_name(&c.name)
                || snap.combo_steps.get(&c.name).is_some_and(|steps| {
                    steps.iter().any(|s| k.allows_target(&s.provider, &s.model))
                })
        });
        if allowed {
            out.push((c.name.clone(), "combo".to_string(), "combo"));
        }
    }
    out
}

fn iso8601(unix: i64) -> String {
    // days-from-civil inverse (Howard Hinnant's algorithm), UTC
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `GET /v1/models`: OpenAI list, or the Anthropic shape for Anthropic clients.
pub async fn list_models(
    State(st): State<Arc<AppState>>,
    key: Option<Extension<KeyInfo>>,
    headers: HeaderMap,
) -> Response {
    let snap = st.snapshot.load();
    let models = routable(&snap, key.as_ref().map(|k| &k.0));
    if headers.contains_key("anthropic-version") {
        let created = iso8601(snap.created);
        let data: Vec<Value> = models
            .iter()
            .filter(|(_, _, t)| *t == "chat" || *t == "combo")
            .map(|(id, _, _)| json!({"type": "model", "id": id, "display_name": id, "created_at": created}))
            .collect();
        let first = data
            .first()
            .and_then(|m| m["id"].as_str())
            .map(str::to_string);
        let last = data
            .last()
            .and_then(|m| m["id"].as_str())
            .map(str::to_string);
        return Json(json!({"data": data, "has_more": false, "first_id": first, "last_id": last}))
            .into_response();
    }
    let data: Vec<Value> = models
        .iter()
        .map(|(id, owner, t)| json!({"id": id, "object": "model", "created": snap.created, "owned_by": owner, "type": t}))
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

/// `GET /v1/models/{id}`: one routable model or combo (ids contain `/`; `%2F` is decoded).
pub async fn get_model(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    key: Option<Extension<KeyInfo>>,
    headers: HeaderMap,
) -> Response {
    let snap = st.snapshot.load();
    match routable(&snap, key.as_ref().map(|k| &k.0)).into_iter().find(|(m, _, _)| *m == id) {
        Some((id, owner, t)) if headers.contains_key("anthropic-version") => {
            let _ = (owner, t);
            Json(json!({"type": "model", "id": id, "display_name": id, "created_at": iso8601(snap.created)})).into_response()
        }
        Some((id, owner, t)) => {
            (StatusCode::OK, Json(json!({"id": id, "object": "model", "created": snap.created, "owned_by": owner, "type": t})))
                .into_response()
        }
        None => {
            let fmt = if headers.contains_key("anthropic-version") { ApiFormat::Anthropic } else { ApiFormat::Openai };
            render(
                &ApiError::not_found(format!("model `{id}` is not routable (GET /v1/models lists what is)"))
                    .with_code("model_not_found"),
                fmt,
            )
        }
    }
}

fn gemini_model(id: &str) -> Value {
    json!({
        "name": format!("models/{id}"),
        "baseModelId": id,
        "version": "001",
        "displayName": id,
        "description": format!("{id} via OmniRoute"),
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    })
}

/// `GET /v1beta/models`: Gemini list shape.
pub async fn gemini_list(
    State(st): State<Arc<AppState>>,
    key: Option<Extension<KeyInfo>>,
) -> Response {
    let snap = st.snapshot.load();
    let models: Vec<Value> = routable(&snap, key.as_ref().map(|k| &k.0))
        .iter()
        .filter(|(_, _, t)| *t == ModelType::Chat.as_str() || *t == "combo")
        .map(|(id, _, _)| gemini_model(id))
        .collect();
    Json(json!({ "models": models })).into_response()
}

/// `GET /v1beta/models/{model}`
pub async fn gemini_get(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    key: Option<Extension<KeyInfo>>,
) -> Response {
    let snap = st.snapshot.load();
    let key = key.as_ref().map(|k| &k.0);
    let id = id.strip_prefix("models/").unwrap_or(&id).to_string();
    if routable(&snap, key).iter().any(|(m, _, _)| *m == id)
        || (key.is_none_or(|k| k.allows_name(&id))
            && snap.resolver.resolve(&id, |p| snap.usable(p)).is_ok())
    {
        return Json(gemini_model(&id)).into_response();
    }
    render(
        &ApiError::not_found(format!("model `{id}` is not routable")).with_code("model_not_found"),
        ApiFormat::Gemini,
    )
}

/// Fallback for unknown paths, in OpenAI error format (Google's under `/v1beta`).
pub async fn not_found(uri: axum::http::Uri) -> HttpError {
    let fmt = if uri.path().starts_with("/v1beta") {
        ApiFormat::Gemini
    } else {
        ApiFormat::Openai
    };
    HttpError(
        ApiError::not_found(format!("no route for {}", uri.path())).with_code("unknown_route"),
        fmt,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_dates() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso8601(1_795_299_253), "2026-11-21T22:14:13Z");
    }
}
