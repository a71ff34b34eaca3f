//! Management endpoints for runtime state and routing data: breakers, cooldowns, connection
//! health and the cache (`/api/resilience`, `/api/cache`) with reset, force-unlock and clear
//! actions; the model pricing table (`/api/pricing`).

use super::{ApiResult, St};
use crate::error::HttpError;
use crate::resilience::{now, view};
use axum::extract::{Path, Query, State};
use axum::Json;
use omniroute_protocol::ApiError;
use serde_json::{json, Value};
use std::collections::HashMap;

/// `GET /api/resilience`: every connection's breaker, cooldowns, stats and rate-limit use; the
/// provider breakers; the active cooldowns.
pub(super) async fn get_state(State(st): St) -> ApiResult {
    let snap = st.snapshot.load();
    Ok(Json(serde_json::json!(view(
        &st.resilience,
        &snap.connection_names,
        now()
    ))))
}

/// `POST /api/resilience/reset` with an optional `{"id": connection id or provider id}`: close
/// the breakers and clear the cooldowns of one target, or of everything without a body.
pub(super) async fn reset(State(st): St, body: axum::body::Bytes) -> ApiResult {
    let id = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| HttpError::openai(ApiError::invalid(format!("invalid JSON: {e}"))))?;
        match v.get("id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(HttpError::openai(ApiError::invalid(
                    "`id` must be a connection or provider id",
                )))
            }
        }
    };
    let res = &st.resilience;
    match id {
        None => res.registry.reset_all(),
        Some(id) => {
            if let Some(t) = res.registry.get(&id) {
                t.reset();
                // the provider's breaker aggregates its connections: give the provider another
                // chance too, or a reset connection would stay unreachable behind it
                let snap = st.snapshot.load();
                if let Some((provider, _)) = snap.connection_names.get(&id) {
                    if let Some(b) = snap.provider_breakers.get(provider) {
                        b.reset();
                    }
                }
            } else if let Some((_, b)) = res
                .registry
                .provider_breakers()
                .into_iter()
                .find(|(p, _)| *p == id)
            {
                b.reset();
            } else {
                return Err(HttpError::openai(
                    ApiError::not_found(format!("no connection or provider `{id}`"))
                        .with_code("not_found"),
                ));
            }
        }
    }
    res.flush(&st.store).await;
    Ok(Json(json!({"reset": true})))
}

/// `DELETE /api/resilience/cooldowns/{id}[?model=M]`: force-unlock a connection (every model,
/// or only the cooldown of model `M`).
pub(super) async fn unlock(
    State(st): St,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let Some(t) = st.resilience.registry.get(&id) else {
        return Err(HttpError::openai(
            ApiError::not_found(format!("no connection `{id}`")).with_code("not_found"),
        ));
    };
    match q.get("model") {
        Some(m) => t.cooldown.clear_model(Some(m)),
        None => t.cooldown.clear(),
    }
    st.resilience.flush(&st.store).await;
    Ok(Json(json!({"unlocked": id})))
}

/// `GET /api/cache`: entries, bytes, hits, misses, evictions, semantic hits.
pub(super) async fn cache_stats(State(st): St) -> ApiResult {
    let snap = st.snapshot.load();
    Ok(Json(json!(crate::views::CacheView {
        stats: snap.cache.stats(),
        enabled: snap.settings.cache_enabled,
        semantic_enabled: snap.settings.semantic_cache_enabled,
    })))
}

/// `DELETE /api/cache`: drop every cached response (the counters are kept).
pub(super) async fn cache_clear(State(st): St) -> ApiResult {
    st.snapshot.load().cache.clear();
    Ok(Json(json!({"cleared": true})))
}

/// `GET /api/pricing`: every priced model (USD per million tokens): the owner's entries
/// (`source` `api` or `config`) and the defaults they do not override (`default`, with the
/// `reference` they were published at). `?source=` filters.
pub(super) async fn list_pricing(
    State(st): St,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let snap = st.snapshot.load();
    let mut all: Vec<&omniroute_store::ModelPrice> = snap
        .pricing
        .values()
        .filter(|p| q.get("source").is_none_or(|s| *s == p.source))
        .collect();
    all.sort_by(|a, b| a.model.cmp(&b.model));
    Ok(Json(json!({ "pricing": all })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PriceBody {
    input_per_m: f64,
    output_per_m: f64,
    #[serde(default)]
    cached_input_per_m: Option<f64>,
    #[serde(default)]
    reasoning_per_m: Option<f64>,
}

/// `PUT /api/pricing/{model}` (`provider/model` or a bare model id): set a model's price.
pub(super) async fn put_pricing(
    State(st): St,
    Path(model): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    let b: PriceBody = serde_json::from_slice(&body)
        .map_err(|e| HttpError::openai(ApiError::invalid(format!("invalid price: {e}"))))?;
    let prices = [
        Some(b.input_per_m),
        Some(b.output_per_m),
        b.cached_input_per_m,
        b.reasoning_per_m,
    ];
    if prices.iter().flatten().any(|p| !p.is_finite() || *p < 0.0) {
        return Err(HttpError::openai(ApiError::invalid(
            "prices must be finite and not negative",
        )));
    }
    let model = model.trim().to_string();
    if model.is_empty() {
        return Err(HttpError::openai(ApiError::invalid("a model is required")));
    }
    let p = omniroute_store::ModelPrice {
        model,
        input_per_m: b.input_per_m,
        output_per_m: b.output_per_m,
        cached_input_per_m: b.cached_input_per_m,
        reasoning_per_m: b.reasoning_per_m,
        source: omniroute_store::SOURCE_API.into(),
        reference: None,
    };
    st.store.upsert_pricing(&p).await?;
    st.refresh().await?;
    Ok(Json(json!(p)))
}

/// `DELETE /api/pricing/{model}`: remove the owner's entry (a default price underneath, if any,
/// applies again; defaults themselves are overridden, not deleted).
pub(super) async fn delete_pricing(State(st): St, Path(model): Path<String>) -> ApiResult {
    st.store.delete_pricing(&model).await?;
    st.refresh().await?;
    Ok(Json(json!({"deleted": model})))
}

/// `GET /api/telemetry?window=1m|5m|1h`: latency and TTFT percentiles, success rate and
/// throughput per provider, model and connection.
pub(super) async fn telemetry(
    State(st): St,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let window = match q.get("window") {
        None => crate::telemetry::Window::FiveMinutes,
        Some(w) => crate::telemetry::Window::parse(w)
            .ok_or_else(|| HttpError::openai(ApiError::invalid("`window` must be 1m, 5m or 1h")))?,
    };
    Ok(Json(st.telemetry.snapshot(window, now())))
}

/// `GET /metrics`: Prometheus text exposition (requests, latency and TTFT histograms, tokens,
/// cost, upstream errors by class, breaker states, cooldowns, cache, dropped log rows).
pub async fn metrics(State(st): St) -> axum::response::Response {
    use crate::telemetry::Gauge;
    let snap = st.snapshot.load();
    let now = now();
    let mut extra = Vec::new();
    let state_num = |s: omniroute_routing::BreakerState| match s {
        omniroute_routing::BreakerState::Closed => 0.0,
        omniroute_routing::BreakerState::HalfOpen => 1.0,
        omniroute_routing::BreakerState::Open => 2.0,
    };
    const BREAKER: &str = "Circuit breaker state: 0 closed, 1 half-open, 2 open.";
    for t in st.resilience.registry.targets() {
        let (provider, _) = snap
            .connection_names
            .get(t.id())
            .cloned()
            .unwrap_or_default();
        extra.push(
            Gauge::new(
                "omniroute_circuit_state",
                BREAKER,
                state_num(t.breaker.state(now).state),
            )
            .label("kind", "connection".to_string())
            .label("target", t.id().to_string())
            .label("provider", provider),
        );
        extra.push(
            Gauge::new(
                "omniroute_cooldowns_active",
                "Active cooldowns (per connection, per model).",
                t.cooldown.entries(now).len() as f64,
            )
            .label("connection", t.id().to_string()),
        );
        extra.push(
            Gauge::new(
                "omniroute_connection_in_flight",
                "Requests in flight per connection.",
                f64::from(t.limiter.active()),
            )
            .label("connection", t.id().to_string()),
        );
    }
    for (id, b) in st.resilience.registry.provider_breakers() {
        extra.push(
            Gauge::new(
                "omniroute_circuit_state",
                BREAKER,
                state_num(b.state(now).state),
            )
            .label("kind", "provider".to_string())
            .label("target", id.clone())
            .label("provider", id),
        );
    }
    let cache = snap.cache.stats();
    extra.push(Gauge::counter(
        "omniroute_cache_hits_total",
        "Responses served from the cache (exact and semantic).",
        (cache.hits + cache.semantic_hits) as f64,
    ));
    extra.push(Gauge::counter(
        "omniroute_cache_misses_total",
        "Cacheable requests not found in the cache.",
        cache.misses as f64,
    ));
    extra.push(Gauge::new(
        "omniroute_cache_bytes",
        "Bytes held by the response cache.",
        cache.bytes as f64,
    ));
    extra.push(Gauge::counter(
        "omniroute_log_rows_dropped_total",
        "Request-log rows dropped because the writer's queue was full.",
        st.logs.dropped() as f64,
    ));
    let mut out = String::with_capacity(16 * 1024);
    st.telemetry.render_prometheus(&mut out, &extra);
    let mut r = axum::response::Response::new(axum::body::Body::from(out));
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BudgetBody {
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default)]
    combo: Option<String>,
    /// `provider/model` of the combo step.
    #[serde(default)]
    step: Option<String>,
    limit_usd: f64,
    period: String,
}

/// `POST /api/usage/budget`: set a budget for a gateway key (`key_id`) or a combo step (`combo`
/// and `step` as `provider/model`), per `day`, `week` or `month`; a budget with the same scope
/// and period is replaced.
pub(super) async fn set_budget(State(st): St, body: axum::body::Bytes) -> ApiResult {
    let b: BudgetBody = serde_json::from_slice(&body)
        .map_err(|e| HttpError::openai(ApiError::invalid(format!("invalid budget: {e}"))))?;
    let bad = |m: &str| HttpError::openai(ApiError::invalid(m.to_string()));
    let Some(period) = crate::budgets::Period::parse(&b.period) else {
        return Err(bad("`period` must be day, week or month"));
    };
    if !b.limit_usd.is_finite() || b.limit_usd < 0.0 {
        return Err(bad("`limit_usd` must be a number of dollars, 0 or more"));
    }
    match (&b.key_id, &b.combo, &b.step) {
        (Some(k), None, None) => {
            if !st
                .snapshot
                .load()
                .keys
                .values()
                .any(|info| &*info.id == k.as_str())
            {
                return Err(HttpError::openai(
                    ApiError::not_found(format!("no active gateway key `{k}`"))
                        .with_code("not_found"),
                ));
            }
        }
        (None, Some(c), Some(s)) => {
            if st.snapshot.load().resolver.combo(c).is_none() {
                return Err(HttpError::openai(
                    ApiError::not_found(format!("no combo `{c}`")).with_code("not_found"),
                ));
            }
            if !s.contains('/') {
                return Err(bad("`step` is the step's `provider/model`"));
            }
        }
        _ => return Err(bad("give either `key_id`, or `combo` and `step`")),
    }
    let id = st
        .store
        .upsert_budget(&omniroute_store::Budget {
            id: String::new(),
            key_id: b.key_id,
            combo: b.combo,
            step: b.step,
            limit_usd: b.limit_usd,
            period: period.as_str().into(),
        })
        .await?;
    st.budgets.load(&st.store).await?;
    let now = omniroute_store::now_ms();
    let view = st
        .budgets
        .list()
        .iter()
        .find(|x| x.id == id)
        .map(|x| json!(x.view(now)))
        .unwrap_or(Value::Null);
    Ok(Json(view))
}

/// `GET /api/usage/budget`: every budget with its spend, limit and reset time.
pub(super) async fn list_budgets(State(st): St) -> ApiResult {
    let now = omniroute_store::now_ms();
    let list: Vec<crate::views::BudgetView> =
        st.budgets.list().iter().map(|b| b.view(now)).collect();
    Ok(Json(json!({ "budgets": list })))
}

/// `DELETE /api/usage/budget/{id}`.
pub(super) async fn delete_budget(State(st): St, Path(id): Path<String>) -> ApiResult {
    st.store.delete_budget(&id).await?;
    st.budgets.load(&st.store).await?;
    Ok(Json(json!({"deleted": id})))
}
