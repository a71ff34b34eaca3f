//! The management API under `/api` (JSON): connections (secrets write-only, masked on read),
//! custom nodes, custom models, the model catalog, combos, gateway keys, settings, config reload,
//! request logs and connection tests. Every change refreshes the live snapshot before returning.

use crate::error::{store_error, HttpError};
use crate::state::AppState;
use crate::upstream::{self, SendError};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use omniroute_config::apply::{combo_strategy, STRATEGIES};
use omniroute_config::GatewaySettings;
use omniroute_protocol::{ApiError, ApiFormat};
use omniroute_providers::upstream::{auth_headers, endpoint_url, models_url, Operation};
use omniroute_providers::{validate_spec_url, AuthStyle, ModelType};
use omniroute_store::{
    masked, Combo, Connection, ConnectionInput, ConnectionPatch, ProviderModel, ProviderNode,
    Secret, SOURCE_API,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

mod auth;
mod clitools;
mod evals;
mod runtime;
mod translator;
pub use runtime::metrics;

type ApiResult<T = Json<Value>> = Result<T, HttpError>;
type St = State<Arc<AppState>>;

/// The `/api` routes (mounted behind the admin guard).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/status", get(auth::status))
        .route("/auth/login", post(auth::login))
        .route("/auth/setup", post(auth::setup))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/password", post(auth::change_password))
        .route("/auth/sessions", get(auth::sessions))
        .route(
            "/auth/sessions/{id}",
            axum::routing::delete(auth::end_session),
        )
        .route("/auth/lockouts", get(auth::lockouts))
        .route("/auth/lockouts/{ip}", axum::routing::delete(auth::unlock))
        .route("/providers", get(list_providers))
        .route("/providers/{id}", axum::routing::patch(patch_provider))
        .route(
            "/connections",
            get(list_connections).post(create_connection),
        )
        .route(
            "/connections/{id}",
            get(get_connection)
                .patch(update_connection)
                .put(update_connection)
                .delete(delete_connection),
        )
        .route("/connections/test", post(test_credentials))
        .route("/connections/{id}/test", post(test_connection))
        .route("/provider-nodes", get(list_nodes).post(create_node))
        .route(
            "/provider-nodes/{id}",
            axum::routing::put(update_node).delete(delete_node),
        )
        .route(
            "/provider-models",
            get(list_models).post(add_model).delete(delete_model),
        )
        .route("/models/catalog", get(catalog))
        .route("/combos", get(list_combos).post(create_combo))
        .route(
            "/combos/{id}",
            get(get_combo).put(update_combo).delete(delete_combo),
        )
        .route("/keys", get(list_keys).post(create_key))
        .route(
            "/keys/{id}",
            axum::routing::delete(revoke_key).patch(update_key),
        )
        .route("/keys/{id}/rotate", post(rotate_key))
        .route(
            "/settings",
            get(get_settings).patch(patch_settings).put(patch_settings),
        )
        .route("/settings/{key}", axum::routing::delete(reset_setting))
        .route("/config/reload", post(reload_config))
        .route(
            "/security/rotate-encryption-key",
            post(rotate_encryption_key),
        )
        .route("/logs", get(logs))
        .route("/logs/proxy", get(proxy_log))
        .route("/logs/{id}", get(log_entry))
        .route("/analytics", get(analytics))
        .route("/audit", get(audit))
        .route("/usage", get(usage))
        .route(
            "/usage/budget",
            get(runtime::list_budgets).post(runtime::set_budget),
        )
        .route(
            "/usage/budget/{id}",
            axum::routing::delete(runtime::delete_budget),
        )
        .route("/health", get(health))
        .route("/cli-tools", get(clitools::list))
        .route("/cli-tools/{id}/apply", post(clitools::apply))
        .route("/evals/sets", get(evals::list_sets).post(evals::create_set))
        .route(
            "/evals/sets/{id}",
            axum::routing::put(evals::update_set).delete(evals::delete_set),
        )
        .route("/evals/runs", get(evals::list_runs).post(evals::start_run))
        .route(
            "/evals/runs/{id}",
            get(evals::get_run).delete(evals::delete_run),
        )
        .route("/translate", post(translator::translate))
        .route("/translator/chat", post(translator::chat))
        .route("/live/requests", get(crate::live::requests))
        .route("/live/console", get(crate::live::console))
        .route("/resilience", get(runtime::get_state))
        .route("/resilience/reset", post(runtime::reset))
        .route(
            "/resilience/cooldowns/{id}",
            axum::routing::delete(runtime::unlock),
        )
        .route(
            "/cache",
            get(runtime::cache_stats).delete(runtime::cache_clear),
        )
        .route("/pricing", get(runtime::list_pricing))
        .route("/telemetry", get(runtime::telemetry))
        .route(
            "/pricing/{*model}",
            axum::routing::put(runtime::put_pricing).delete(runtime::delete_pricing),
        )
}

fn bad(msg: impl Into<String>) -> HttpError {
    HttpError::openai(ApiError::invalid(msg))
}

async fn refresh(st: &AppState) -> Result<(), HttpError> {
    st.refresh()
        .await
        .map_err(|e| HttpError::openai(store_error(e)))
}

/// Parse a JSON body with a clear 400 in OpenAI error format (instead of axum's plain-text one).
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, HttpError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid request body: {e}")))
}

// ------------------------------------------------------------------ providers

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderPatch {
    /// `false` blocks the provider: nothing routes to it until it is enabled again.
    enabled: bool,
}

/// `PATCH /api/providers/{id} {"enabled"}`: block or unblock a provider (its connections stay).
async fn patch_provider(State(st): St, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let b: ProviderPatch = parse_body(&body)?;
    let id = provider_id(&st, &id)?;
    let existing = st
        .store
        .list_provider_settings()
        .await?
        .into_iter()
        .find(|s| s.provider == id);
    st.store
        .upsert_provider_setting(&omniroute_store::ProviderSetting {
            provider: id.clone(),
            enabled: b.enabled,
            base_url: existing.and_then(|s| s.base_url),
            source: SOURCE_API.into(),
        })
        .await?;
    refresh(&st).await?;
    Ok(Json(json!({"id": id, "enabled": b.enabled})))
}

async fn list_providers(State(st): St) -> ApiResult {
    let snap = st.snapshot.load();
    let list: Vec<crate::views::ProviderView> = snap
        .resolver
        .providers()
        .iter()
        .map(|p| crate::views::ProviderView {
            id: p.id.clone(),
            alias: p.alias.clone(),
            name: p.name.clone(),
            format: p.format.as_str().to_string(),
            base_url: p.base_url.clone(),
            auth: serde_json::to_value(p.auth)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            custom: p.custom,
            enabled: !snap.resolver.is_disabled(&p.id),
            connections: snap.connections.get(&p.id).map_or(0, Vec::len) as u32,
            models: p.models.len() as u32,
            website: p.website.clone(),
        })
        .collect();
    Ok(Json(json!({ "providers": list })))
}

// ------------------------------------------------------------------ connections

fn connection_json(c: &Connection) -> crate::views::ConnectionView {
    crate::views::ConnectionView {
        id: c.id.clone(),
        provider: c.provider.clone(),
        name: c.name.clone(),
        priority: c.priority,
        enabled: c.enabled,
        api_key: masked(&c.secret),
        has_api_key: c.secret.is_some(),
        base_url: c.base_url.clone(),
        settings: c.settings.clone(),
        source: c.source.clone(),
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionBody {
    provider: Option<String>,
    name: Option<String>,
    priority: Option<i64>,
    enabled: Option<bool>,
    #[serde(alias = "apiKey", alias = "token")]
    api_key: Option<Option<String>>,
    base_url: Option<Option<String>>,
    settings: Option<Value>,
}

fn provider_id(st: &AppState, name: &str) -> Result<String, HttpError> {
    st.snapshot
        .load()
        .resolver
        .provider(name)
        .map(|p| p.id.clone())
        .ok_or_else(|| bad(format!("unknown provider `{name}`")))
}

fn check_base_url(u: &Option<String>) -> Result<Option<String>, HttpError> {
    match u {
        None => Ok(None),
        Some(u) if u.trim().is_empty() => Ok(None),
        Some(u) => {
            validate_spec_url(u).map_err(bad)?;
            Ok(Some(u.trim_end_matches('/').to_string()))
        }
    }
}

async fn list_connections(State(st): St) -> ApiResult {
    let list = st.store.list_connections().await?;
    Ok(Json(
        json!({ "connections": list.iter().map(connection_json).collect::<Vec<_>>() }),
    ))
}

async fn get_connection(State(st): St, Path(id): Path<String>) -> ApiResult {
    Ok(Json(json!(connection_json(
        &st.store.get_connection(&id).await?
    ))))
}

async fn create_connection(
    State(st): St,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let b: ConnectionBody = parse_body(&body)?;
    let provider = provider_id(
        &st,
        b.provider
            .as_deref()
            .ok_or_else(|| bad("`provider` is required"))?,
    )?;
    let name = b.name.unwrap_or_else(|| "default".into());
    if name.trim().is_empty() {
        return Err(bad("`name` must not be empty"));
    }
    let settings = b.settings.unwrap_or_else(|| json!({}));
    if !settings.is_object() {
        return Err(bad("`settings` must be an object"));
    }
    let input = ConnectionInput {
        provider,
        name,
        priority: b.priority.unwrap_or(0),
        enabled: b.enabled.unwrap_or(true),
        secret: b
            .api_key
            .flatten()
            .filter(|k| !k.is_empty())
            .map(Secret::new),
        base_url: check_base_url(&b.base_url.flatten())?,
        settings,
    };
    let c = st.store.create_connection(input, SOURCE_API).await?;
    refresh(&st).await?;
    Ok((StatusCode::CREATED, Json(json!(connection_json(&c)))))
}

async fn update_connection(
    State(st): St,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    let b: ConnectionBody = parse_body(&body)?;
    if b.provider.is_some() {
        return Err(bad(
            "a connection's provider cannot be changed; create a new connection",
        ));
    }
    if matches!(&b.settings, Some(s) if !s.is_object()) {
        return Err(bad("`settings` must be an object"));
    }
    let patch = ConnectionPatch {
        name: b.name,
        priority: b.priority,
        enabled: b.enabled,
        secret: b
            .api_key
            .map(|k| k.filter(|k| !k.is_empty()).map(Secret::new)),
        base_url: match b.base_url {
            None => None,
            Some(u) => Some(check_base_url(&u)?),
        },
        settings: b.settings,
    };
    let c = st.store.update_connection(&id, patch).await?;
    refresh(&st).await?;
    Ok(Json(json!(connection_json(&c))))
}

async fn delete_connection(State(st): St, Path(id): Path<String>) -> Result<StatusCode, HttpError> {
    st.store.delete_connection(&id).await?;
    refresh(&st).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Check a saved connection against its upstream (see [`probe`]).
async fn test_connection(State(st): St, Path(id): Path<String>) -> ApiResult {
    let c = st.store.get_connection(&id).await?;
    let snap = st.snapshot.load_full();
    let spec = snap
        .resolver
        .provider(&c.provider)
        .cloned()
        .ok_or_else(|| bad(format!("provider `{}` no longer exists", c.provider)))?;
    let base = c.base_url.clone().unwrap_or_else(|| spec.base_url.clone());
    let secret = c.secret.as_ref().map(|s| s.expose());
    Ok(Json(probe(&snap, &spec, &base, secret).await))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestBody {
    provider: String,
    #[serde(default, alias = "apiKey", alias = "token")]
    api_key: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
}

/// `POST /api/connections/test {provider, api_key, base_url}`: check credentials before they
/// are saved (the dashboard's "test before saving"). Nothing is stored.
async fn test_credentials(State(st): St, body: axum::body::Bytes) -> ApiResult {
    let b: TestBody = parse_body(&body)?;
    let snap = st.snapshot.load_full();
    let id = provider_id(&st, &b.provider)?;
    let spec = snap
        .resolver
        .provider(&id)
        .cloned()
        .ok_or_else(|| bad(format!("unknown provider `{}`", b.provider)))?;
    let base = check_base_url(&b.base_url.filter(|u| !u.trim().is_empty()))?
        .unwrap_or_else(|| spec.base_url.clone());
    let secret = b.api_key.as_deref().filter(|k| !k.is_empty());
    Ok(Json(probe(&snap, &spec, &base, secret).await))
}

/// Call an upstream with a credential: its model list when the provider has one, else a
/// one-token completion in the provider's native format. The answer says whether it worked,
/// how, how fast, and the upstream's own error message when it did not.
async fn probe(
    snap: &crate::state::Snapshot,
    spec: &omniroute_providers::ProviderSpec,
    base: &str,
    secret: Option<&str>,
) -> Value {
    let started = std::time::Instant::now();
    let (method, mut builder, body) = if let Some(url) = models_url(spec, base) {
        ("models", http::Request::get(url), Bytes::new())
    } else {
        let model = spec
            .models
            .iter()
            .find(|m| m.kind == ModelType::Chat)
            .map(|m| m.id.clone())
            .unwrap_or_default();
        let body = match spec.format {
            ApiFormat::Openai | ApiFormat::Anthropic => {
                json!({"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]})
            }
            ApiFormat::Gemini => {
                json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 1}})
            }
            ApiFormat::Responses => json!({"model": model, "max_output_tokens": 16, "input": "hi"}),
        };
        let url = endpoint_url(
            spec.format,
            base,
            &model,
            Operation::Generate { stream: false },
        );
        let req = http::Request::post(url).header(http::header::CONTENT_TYPE, "application/json");
        ("completion", req, Bytes::from(body.to_string()))
    };
    if let Some((k, v)) = auth_headers(spec.auth, secret) {
        builder = builder.header(k, v);
    }
    for (k, v) in &spec.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let timeout = Duration::from_secs(20);
    let sent = match builder.body(http_body_util::Full::new(body)) {
        Ok(req) => upstream::send(&snap.http, req, timeout)
            .await
            .map_err(|e| match e {
                SendError::Timeout => "timed out",
                SendError::Connect => "unreachable",
                SendError::Other => "request failed",
            }),
        Err(_) => Err("invalid URL, header or credential"),
    };
    let mut result = match sent {
        Err(e) => crate::views::TestResult {
            ok: false,
            method: method.into(),
            error: Some(e.into()),
            ..Default::default()
        },
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = upstream::read_limited(resp.into_body(), 4 * 1024 * 1024, timeout)
                .await
                .unwrap_or_default();
            let ok = (200..300).contains(&status);
            let mut out = crate::views::TestResult {
                ok,
                method: method.into(),
                status: Some(status),
                ..Default::default()
            };
            if ok && method == "models" {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                out.models = v
                    .get("data")
                    .or_else(|| v.get("models"))
                    .and_then(Value::as_array)
                    .map(|a| a.len() as u32);
            }
            if !ok {
                out.error = Some(
                    ApiError::upstream_message(&body).unwrap_or_else(|| format!("HTTP {status}")),
                );
            }
            out
        }
    };
    result.latency_ms = started.elapsed().as_millis() as u64;
    json!(result)
}

// ------------------------------------------------------------------ custom nodes

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeBody {
    id: Option<String>,
    prefix: Option<String>,
    name: Option<String>,
    format: String,
    base_url: String,
    auth: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn node_from_body(b: NodeBody, id: Option<String>) -> Result<ProviderNode, HttpError> {
    let id = id.or(b.id).ok_or_else(|| bad("`id` is required"))?;
    let ok_ident = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let prefix = b.prefix.unwrap_or_else(|| id.clone());
    if !ok_ident(&id) || !ok_ident(&prefix) {
        return Err(bad(
            "`id` and `prefix` must be 1-64 characters of [A-Za-z0-9._-]",
        ));
    }
    let format: ApiFormat = b.format.parse().map_err(bad)?;
    let auth = match b.auth {
        Some(a) => serde_json::from_value::<AuthStyle>(Value::String(a.clone()))
            .map_err(|_| bad(format!("unknown auth `{a}`")))?,
        None => AuthStyle::default_for(format),
    };
    validate_spec_url(&b.base_url).map_err(bad)?;
    Ok(ProviderNode {
        name: b.name.unwrap_or_else(|| id.clone()),
        id,
        prefix,
        format: format.as_str().into(),
        base_url: b.base_url.trim_end_matches('/').to_string(),
        auth: serde_json::to_value(auth)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        headers: serde_json::to_value(b.headers).unwrap_or(Value::Null),
        source: SOURCE_API.into(),
    })
}

async fn list_nodes(State(st): St) -> ApiResult {
    Ok(Json(json!({ "nodes": st.store.list_nodes().await? })))
}

async fn create_node(
    State(st): St,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let node = node_from_body(parse_body(&body)?, None)?;
    if st.catalog.get(&node.prefix).is_some() || st.catalog.get(&node.id).is_some() {
        return Err(bad(format!(
            "`{}` is already a built-in provider",
            node.prefix
        )));
    }
    if st.store.list_nodes().await?.iter().any(|n| n.id == node.id) {
        return Err(HttpError::openai(store_error(
            omniroute_store::StoreError::Conflict(format!("custom node `{}`", node.id)),
        )));
    }
    st.store.upsert_node(&node).await?;
    refresh(&st).await?;
    Ok((StatusCode::CREATED, Json(json!(node))))
}

async fn update_node(State(st): St, Path(id): Path<String>, body: axum::body::Bytes) -> ApiResult {
    let node = node_from_body(parse_body(&body)?, Some(id.clone()))?;
    if !st.store.list_nodes().await?.iter().any(|n| n.id == id) {
        return Err(HttpError::openai(ApiError::not_found(format!(
            "custom node `{id}` not found"
        ))));
    }
    if st.catalog.get(&node.prefix).is_some() {
        return Err(bad(format!(
            "`{}` is already a built-in provider",
            node.prefix
        )));
    }
    st.store.upsert_node(&node).await?;
    refresh(&st).await?;
    Ok(Json(json!(node)))
}

async fn delete_node(State(st): St, Path(id): Path<String>) -> Result<StatusCode, HttpError> {
    st.store.delete_node(&id).await?;
    refresh(&st).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ custom models

#[derive(Deserialize)]
struct ModelQuery {
    provider: Option<String>,
    model: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelBody {
    provider: String,
    #[serde(alias = "id")]
    model: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

async fn list_models(State(st): St, Query(q): Query<ModelQuery>) -> ApiResult {
    let filter = match &q.provider {
        Some(p) => Some(provider_id(&st, p)?),
        None => None,
    };
    let list: Vec<ProviderModel> = st
        .store
        .list_models()
        .await?
        .into_iter()
        .filter(|m| filter.as_ref().is_none_or(|p| &m.provider == p))
        .collect();
    Ok(Json(json!({ "models": list })))
}

async fn add_model(
    State(st): St,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let b: ModelBody = parse_body(&body)?;
    let provider = provider_id(&st, &b.provider)?;
    let kind = b.kind.unwrap_or_else(|| "chat".into());
    if ModelType::parse(&kind).is_none() {
        return Err(bad(format!("unknown model type `{kind}`")));
    }
    if b.model.trim().is_empty() {
        return Err(bad("`model` must not be empty"));
    }
    let m = ProviderModel {
        provider,
        model: b.model.trim().to_string(),
        kind,
        source: SOURCE_API.into(),
    };
    st.store.upsert_model(&m).await?;
    refresh(&st).await?;
    Ok((StatusCode::CREATED, Json(json!(m))))
}

async fn delete_model(State(st): St, Query(q): Query<ModelQuery>) -> Result<StatusCode, HttpError> {
    let (Some(p), Some(m)) = (q.provider, q.model) else {
        return Err(bad("`provider` and `model` query parameters are required"));
    };
    st.store.delete_model(&provider_id(&st, &p)?, &m).await?;
    refresh(&st).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/models/catalog`: models grouped by provider with their type.
async fn catalog(State(st): St) -> ApiResult {
    let snap = st.snapshot.load();
    let custom = st.store.list_models().await?;
    let providers: Vec<crate::views::CatalogProvider> = snap
        .resolver
        .providers()
        .iter()
        .map(|p| crate::views::CatalogProvider {
            provider: p.id.clone(),
            alias: p.alias.clone(),
            name: p.name.clone(),
            format: p.format.as_str().into(),
            custom_node: p.custom,
            enabled: !snap.resolver.is_disabled(&p.id),
            connected: snap.usable(&p.id),
            models: p
                .models
                .iter()
                .map(|m| crate::views::CatalogModel {
                    id: m.id.clone(),
                    model: format!("{}/{}", p.alias, m.id),
                    kind: m.kind.as_str().into(),
                    custom: custom.iter().any(|c| c.provider == p.id && c.model == m.id),
                })
                .collect(),
        })
        .collect();
    Ok(Json(json!({ "providers": providers })))
}

// ------------------------------------------------------------------ combos

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComboBody {
    name: String,
    models: Vec<String>,
    strategy: Option<String>,
    enabled: Option<bool>,
    #[serde(default)]
    weights: Vec<u32>,
}

fn combo_from_body(b: ComboBody, id: String) -> Result<Combo, HttpError> {
    if b.name.is_empty() || b.name.contains('/') || b.name.len() > 64 {
        return Err(bad("`name` must be 1-64 characters without '/'"));
    }
    if b.models.is_empty() || b.models.iter().any(|m| m.trim().is_empty()) {
        return Err(bad("`models` must list at least one model"));
    }
    let raw = b.strategy.unwrap_or_else(|| "priority".into());
    let Some(strategy) = combo_strategy(&raw) else {
        return Err(bad(format!(
            "unknown strategy `{raw}` (one of {})",
            STRATEGIES.join(", ")
        )));
    };
    if !b.weights.is_empty() && b.weights.len() != b.models.len() {
        return Err(bad("`weights` must have one entry per model"));
    }
    Ok(Combo {
        id,
        name: b.name,
        strategy,
        enabled: b.enabled.unwrap_or(true),
        models: b.models,
        weights: b.weights,
        source: SOURCE_API.into(),
    })
}

/// Refuse a combo that would make combos reference each other in a loop.
async fn check_combo_cycles(
    st: &AppState,
    c: &Combo,
    replacing: Option<&str>,
) -> Result<(), HttpError> {
    let mut defs: Vec<omniroute_routing::ComboDef> = st
        .store
        .list_combos()
        .await?
        .into_iter()
        .filter(|x| Some(x.id.as_str()) != replacing && x.name != c.name)
        .map(|x| omniroute_routing::ComboDef::new(x.name, x.models))
        .collect();
    defs.push(omniroute_routing::ComboDef::new(
        c.name.clone(),
        c.models.clone(),
    ));
    match omniroute_routing::find_cycle(&defs) {
        Some(path) => Err(bad(format!(
            "combos would form a cycle: {}",
            path.join(" → ")
        ))),
        None => Ok(()),
    }
}

async fn list_combos(State(st): St) -> ApiResult {
    Ok(Json(json!({ "combos": st.store.list_combos().await? })))
}

async fn get_combo(State(st): St, Path(id): Path<String>) -> ApiResult {
    Ok(Json(json!(st.store.get_combo(&id).await?)))
}

async fn create_combo(
    State(st): St,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let c = combo_from_body(parse_body(&body)?, omniroute_store::new_id("combo"))?;
    check_combo_cycles(&st, &c, None).await?;
    if st
        .store
        .list_combos()
        .await?
        .iter()
        .any(|x| x.name == c.name)
    {
        return Err(HttpError::openai(store_error(
            omniroute_store::StoreError::Conflict(format!("combo `{}`", c.name)),
        )));
    }
    let c = st.store.upsert_combo(&c).await?;
    refresh(&st).await?;
    Ok((StatusCode::CREATED, Json(json!(c))))
}

async fn update_combo(State(st): St, Path(id): Path<String>, body: axum::body::Bytes) -> ApiResult {
    let current = st.store.get_combo(&id).await?;
    let c = combo_from_body(parse_body(&body)?, current.id.clone())?;
    check_combo_cycles(&st, &c, Some(&current.id)).await?;
    let c = st.store.update_combo(&current.id, &c).await?;
    refresh(&st).await?;
    // its step budgets followed a rename
    st.budgets.load(&st.store).await?;
    Ok(Json(json!(c)))
}

async fn delete_combo(State(st): St, Path(id): Path<String>) -> Result<StatusCode, HttpError> {
    st.store.delete_combo(&id).await?;
    refresh(&st).await?;
    st.budgets.load(&st.store).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ gateway keys

/// A key's fields in `POST /api/keys` and `PATCH /api/keys/{id}`. In a PATCH an absent field is
/// left as it is and `null` clears it (`models: null` = every model).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<i64>>,
    /// Days from now, instead of `expires_at`.
    expires_in_days: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    models: Option<Option<Vec<String>>>,
    /// `true` clears `models` (every model allowed).
    allow_all: Option<bool>,
    /// `gateway` (default: for `/v1`) or `admin` (for `/api`: automation); set at creation.
    kind: Option<String>,
    #[serde(default, deserialize_with = "present")]
    rpm: Option<Option<u32>>,
}

/// Tells a field sent as `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl KeyBody {
    /// Apply to `limits`; the error names the field.
    fn apply(&self, limits: &mut omniroute_store::KeyLimits) -> Result<(), HttpError> {
        if let Some(e) = self.expires_at {
            limits.expires_at = e;
        }
        if let Some(days) = self.expires_in_days {
            if !(days.is_finite() && days > 0.0 && days <= 3660.0) {
                return Err(bad("`expires_in_days` must be between 0 and 3660"));
            }
            limits.expires_at = Some(omniroute_store::now_ms() + (days * 86_400_000.0) as i64);
        }
        if let Some(m) = &self.models {
            if let Some(list) = m {
                if list.is_empty() || list.iter().any(|p| p.trim().is_empty() || p.len() > 200) {
                    return Err(bad(
                        "`models` is a non-empty list of patterns such as `openai/*` or `cc/claude-*` (use `allow_all: true` for every model)",
                    ));
                }
            }
            limits.models = m.clone();
        }
        if self.allow_all == Some(true) {
            limits.models = None;
        }
        if let Some(r) = self.rpm {
            if r == Some(0) {
                return Err(bad("`rpm` must be at least 1 (or null for no limit)"));
            }
            limits.rpm = r;
        }
        Ok(())
    }
}

async fn list_keys(State(st): St) -> ApiResult {
    let now = omniroute_store::now_ms();
    let keys: Vec<crate::views::KeyView> = st
        .store
        .list_keys()
        .await?
        .into_iter()
        .map(|k| {
            let status = if k.revoked_at.is_some() {
                "revoked"
            } else if k.expires_at.is_some_and(|t| t <= now) {
                "expired"
            } else {
                "active"
            };
            crate::views::KeyView {
                status: status.into(),
                allow_all: k.models.is_none(),
                record: k,
            }
        })
        .collect();
    Ok(Json(json!({ "keys": keys })))
}

async fn create_key(
    State(st): St,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let b: KeyBody = if body.is_empty() {
        KeyBody::default()
    } else {
        parse_body(&body)?
    };
    let mut limits = omniroute_store::KeyLimits::default();
    b.apply(&mut limits)?;
    let name = b.name.clone().unwrap_or_else(|| "default".into());
    let kind = b.kind.as_deref().unwrap_or("gateway");
    if !matches!(kind, "gateway" | "admin") {
        return Err(bad("`kind` is `gateway` or `admin`"));
    }
    let (mut rec, key) = st.store.create_key_with(&name, &limits).await?;
    if kind == "admin" {
        rec = st.store.set_key_kind(&rec.id, "admin").await?;
    }
    refresh(&st).await?;
    let v = json!(crate::views::CreatedKey {
        record: rec,
        key: key.expose().to_string(),
        note: "this is the only time the key is shown; store it now".into(),
    });
    Ok((StatusCode::CREATED, Json(v)))
}

/// `PATCH /api/keys/{id}`: rename, set or clear the expiry, the model patterns, the rate limit.
async fn update_key(State(st): St, Path(id): Path<String>, body: axum::body::Bytes) -> ApiResult {
    let b: KeyBody = parse_body(&body)?;
    if b.kind.is_some() {
        return Err(bad("a key's `kind` is chosen when it is created"));
    }
    let cur = st.store.get_key(&id).await?;
    let mut limits = omniroute_store::KeyLimits {
        expires_at: cur.expires_at,
        models: cur.models.clone(),
        rpm: cur.rpm,
    };
    b.apply(&mut limits)?;
    let name = b.name.clone().unwrap_or(cur.name);
    let rec = st.store.update_key(&id, &name, &limits).await?;
    refresh(&st).await?;
    Ok(Json(json!(rec)))
}

/// `POST /api/keys/{id}/rotate`: a new secret for the same key (limits and usage kept); the old
/// one stops working at once. The new key is shown once.
async fn rotate_key(State(st): St, Path(id): Path<String>) -> ApiResult {
    let (rec, key) = st.store.rotate_key(&id).await?;
    refresh(&st).await?;
    Ok(Json(json!(crate::views::CreatedKey {
        record: rec,
        key: key.expose().to_string(),
        note: "this is the only time the new key is shown; the old one no longer works".into(),
    })))
}

async fn revoke_key(State(st): St, Path(id): Path<String>) -> Result<StatusCode, HttpError> {
    st.store.revoke_key(&id).await?;
    refresh(&st).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/security/rotate-encryption-key`: re-encrypt every provider secret under a new
/// random key (crash-safe; see `Store::rotate_encryption_key`). Refused when the key comes from
/// `STORAGE_ENCRYPTION_KEY`: the environment is the owner's to change.
async fn rotate_encryption_key(State(st): St) -> ApiResult {
    let Some(file) = &st.encryption_key_file else {
        return Err(HttpError::openai(
            ApiError::invalid(
                "the encryption key comes from STORAGE_ENCRYPTION_KEY: set a new value there (re-encrypting needs both keys, so export the connections first)",
            )
            .with_status(409)
            .with_code("key_from_environment"),
        ));
    };
    let n = st.store.rotate_encryption_key(file).await?;
    refresh(&st).await?;
    Ok(Json(json!({"rotated": true, "secrets_reencrypted": n})))
}

// ------------------------------------------------------------------ settings

async fn get_settings(State(st): St) -> ApiResult {
    let snap = st.snapshot.load();
    Ok(Json(json!(crate::views::SettingsView {
        settings: snap.settings.clone(),
        env_overrides: crate::views::EnvOverrides {
            require_api_key: st.env_require_key,
        },
    })))
}

async fn patch_settings(State(st): St, body: axum::body::Bytes) -> ApiResult {
    let v: Value = parse_body(&body)?;
    let Value::Object(map) = v else {
        return Err(bad("the body must be an object of settings"));
    };
    for (k, v) in &map {
        GatewaySettings::validate_entry(k, v).map_err(|e| bad(format!("setting `{k}`: {e}")))?;
    }
    for (k, v) in &map {
        st.store.set_setting(k, v, SOURCE_API).await?;
    }
    refresh(&st).await?;
    get_settings(State(st)).await
}

async fn reset_setting(State(st): St, Path(key): Path<String>) -> Result<StatusCode, HttpError> {
    if !GatewaySettings::keys().contains(&key) {
        return Err(HttpError::openai(ApiError::not_found(format!(
            "unknown setting `{key}`"
        ))));
    }
    st.store.delete_setting(&key).await?;
    refresh(&st).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reload_config(State(st): St) -> ApiResult {
    match st.reload_config().await {
        Ok(summary) => Ok(Json(json!(crate::views::ReloadAnswer {
            reloaded: true,
            config_file: st.config_path.as_ref().map(|p| p.display().to_string()),
            applied: summary,
        }))),
        Err(e) => Err(HttpError::openai(
            ApiError::invalid(format!("config not applied: {e}")).with_code("invalid_config"),
        )),
    }
}

// ------------------------------------------------------------------ logs & health

/// `GET /api/logs?limit=&before_id=&provider=&model=&api_key_id=&combo=&connection_id=`
/// `&status_min=&status_max=&since_ms=&until_ms=&search=`: newest first, without bodies; page
/// with `before_id` (the last row's `id`).
async fn logs(State(st): St, Query(mut q): Query<omniroute_store::LogQuery>) -> ApiResult {
    q.limit = Some(q.limit.unwrap_or(100).clamp(1, 1000));
    Ok(Json(json!(crate::views::LogsPage {
        logs: st.store.query_logs(&q).await?,
        dropped: st.logs.dropped(),
    })))
}

/// `GET /api/logs/proxy`: the proxy log, every upstream call of the requests the same filters
/// select (newest request first): which route it took (`direct` or the proxy), the upstream
/// address it reached and the egress address it left from, its outcome and latency.
/// `next_before_id` pages on.
async fn proxy_log(State(st): St, Query(mut q): Query<omniroute_store::LogQuery>) -> ApiResult {
    q.limit = Some(q.limit.unwrap_or(100).clamp(1, 1000));
    let rows = st.store.query_logs(&q).await?;
    let mut calls = Vec::new();
    for r in &rows {
        for (n, a) in r.attempts_detail.iter().enumerate() {
            calls.push(crate::views::ProxyCall {
                request_id: r.request_id.clone(),
                ts: r.ts,
                attempt: n as u32 + 1,
                provider: a.provider.clone(),
                connection: a.connection.clone(),
                model: a.model.clone(),
                route: a.route.clone(),
                remote: a.remote.clone(),
                egress: a.egress.clone(),
                outcome: a.outcome.clone(),
                status: a.status,
                latency_ms: a.latency_ms,
            });
        }
    }
    Ok(Json(json!(crate::views::ProxyPage {
        calls,
        next_before_id: rows.last().map(|r| r.id),
    })))
}

/// `GET /api/logs/{request_id}`: one request with every attempt (and bodies when logged).
async fn log_entry(State(st): St, Path(id): Path<String>) -> ApiResult {
    match st.store.get_log(&id).await? {
        Some(row) => Ok(Json(json!(row))),
        None => Err(HttpError::openai(
            ApiError::not_found(format!("no request `{id}` in the log")).with_code("not_found"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyticsParams {
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    #[serde(default)]
    bucket: omniroute_store::Bucket,
    #[serde(default)]
    group_by: omniroute_store::GroupBy,
}

/// `GET /api/analytics?since_ms=&until_ms=&bucket=minute|hour|day&group_by=provider|model|api_key|combo|connection`:
/// requests, errors, tokens, cost and latency per bucket (default: the last 24 h by hour).
async fn analytics(State(st): St, Query(p): Query<AnalyticsParams>) -> ApiResult {
    let until = p.until_ms.unwrap_or_else(omniroute_store::now_ms);
    let since = p.since_ms.unwrap_or(until - 24 * 3_600_000);
    if since >= until {
        return Err(bad("`since_ms` must be before `until_ms`"));
    }
    // minute buckets read the raw log: keep their range to a day
    if p.bucket == omniroute_store::Bucket::Minute && until - since > 24 * 3_600_000 {
        return Err(bad("minute buckets cover at most 24 hours"));
    }
    let q = omniroute_store::AnalyticsQuery {
        since_ms: since,
        until_ms: until,
        bucket: p.bucket,
        group_by: p.group_by,
    };
    Ok(Json(json!(crate::views::AnalyticsView {
        rows: st.store.analytics(&q).await?,
        query: q,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    limit: Option<i64>,
    before_id: Option<i64>,
}

/// `GET /api/audit?limit=&before_id=`: configuration changes, newest first.
async fn audit(State(st): St, Query(p): Query<AuditParams>) -> ApiResult {
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(json!(crate::views::AuditPage {
        entries: st.store.audit_log(limit, p.before_id).await?,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageParams {
    since_ms: Option<i64>,
}

/// `GET /api/usage?since_ms=`: requests, tokens, cost and last use per gateway key (default 30 days).
async fn usage(State(st): St, Query(p): Query<UsageParams>) -> ApiResult {
    let since = p
        .since_ms
        .unwrap_or_else(|| omniroute_store::now_ms() - 30 * 86_400_000);
    Ok(Json(
        json!({"since_ms": since, "keys": st.store.usage_by_key(since).await?}),
    ))
}

async fn health(State(st): St) -> ApiResult {
    use crate::views::{
        BreakersSummary, DatabaseView, HealthView, InFlight, LiveListeners, MemoryView,
        RequestLogView,
    };
    let snap = st.snapshot.load();
    let now = crate::resilience::now();
    let state = crate::resilience::view(&st.resilience, &snap.connection_names, now);
    let db_bytes: u64 = ["omniroute.db", "omniroute.db-wal", "omniroute.db-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(st.data_dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    let open = state
        .connections
        .iter()
        .filter(|c| c.breaker.state != omniroute_routing::BreakerState::Closed)
        .count();
    let in_flight = state
        .connections
        .iter()
        .filter(|c| c.in_use > 0)
        .map(|c| InFlight {
            id: c.id.clone(),
            name: c.name.clone(),
            in_flight: c.in_use,
        })
        .collect();
    Ok(Json(json!(HealthView {
        status: if open == 0 { "ok" } else { "degraded" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_s: st.started.elapsed().as_secs(),
        data_dir: st.data_dir.display().to_string(),
        memory: MemoryView {
            rss_bytes: rss_bytes(),
        },
        database: DatabaseView { bytes: db_bytes },
        providers: snap.resolver.providers().len() as u32,
        connected_providers: snap.connections.len() as u32,
        connections: snap.connections.values().map(Vec::len).sum::<usize>() as u32,
        breakers: BreakersSummary {
            open_connections: open as u32,
            providers: state.providers,
        },
        cooldowns: state.cooldowns,
        in_flight,
        cache: snap.cache.stats(),
        log_rows_dropped: st.logs.dropped(),
        trace_export: snap.otel.as_ref().map(|o| o.stats()),
        request_log: RequestLogView {
            rows: st.store.log_rows().await?,
            bytes_estimate: st.store.log_bytes().await?,
            dropped: st.logs.dropped(),
            retention: st.logs.retention(),
        },
        live_listeners: LiveListeners {
            requests: crate::live::watching_requests(),
            console: crate::live::watching_console(),
        },
    })))
}

/// Resident memory of this process (Linux `/proc`; `None` elsewhere).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
