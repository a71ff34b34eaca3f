//! The HTTP face of OmniRoute: an axum app with thin handlers for the client API (`/v1`), the
//! management API (`/api`), liveness and readiness probes, and the request-id, auth and admin
//! middleware. Business logic lives in the routing, providers and store crates.

pub mod api;
pub mod auth;
pub mod budgets;
pub mod cache;
pub mod clitools;
pub mod controls;
pub mod dashboard;
pub mod error;
pub mod evals;
pub mod guard;
pub mod idempotency;
pub mod ipfilter;
pub mod live;
pub mod middleware;
pub mod models;
pub mod openapi;
pub mod otel;
pub mod proxy;
pub mod redact;
pub mod resilience;
pub mod state;
pub mod telemetry;
pub mod upstream;
pub mod views;

pub use state::{AppState, StateOptions};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The whole application.
pub fn app(state: Arc<AppState>) -> Router {
    let auth = || axum::middleware::from_fn_with_state(state.clone(), middleware::gateway_auth);
    let v1 = Router::new()
        .route("/chat/completions", post(proxy::chat_completions))
        .route(
            "/providers/{provider}/chat/completions",
            post(proxy::pinned_chat_completions),
        )
        .route("/messages", post(proxy::messages))
        .route("/messages/count_tokens", post(proxy::count_tokens))
        .route("/responses", post(proxy::responses))
        .route("/models", get(models::list_models))
        // Gemini SDKs default to /v1/models/{model}:generateContent
        .route("/models/{*id}", get(models::get_model).post(proxy::gemini))
        .layer(auth());
    let v1beta = Router::new()
        .route("/models", get(models::gemini_list))
        .route(
            "/models/{*rest}",
            post(proxy::gemini).get(models::gemini_get),
        )
        .layer(auth());
    // management bodies are small: 4 MiB at most (the login routes answer anyone)
    let api = api::router().layer(DefaultBodyLimit::max(4 << 20)).layer(
        axum::middleware::from_fn_with_state(state.clone(), middleware::api_guard),
    );
    // Prometheus scrapes `/metrics`; it shows provider and connection ids, so it is guarded
    // like `/api` (a session or an admin key)
    let metrics = Router::new().route("/metrics", get(api::metrics)).layer(
        axum::middleware::from_fn_with_state(state.clone(), middleware::api_guard),
    );
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/openapi.json", get(openapi::serve))
        .merge(metrics)
        .nest("/v1", v1)
        .nest("/v1beta", v1beta)
        .nest("/api", api)
        .fallback(dashboard::serve)
        // the proxy enforces its own, configurable limit; the API bodies are small
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(middleware::request_id))
        // outermost: who may connect at all, and the client's address everything else uses
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ipfilter::ip_filter,
        ))
        .with_state(state)
}

/// Liveness: the process serves HTTP. No auth.
async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// Readiness: the store answers and the gateway is not draining.
async fn ready(State(st): State<Arc<AppState>>) -> impl IntoResponse {
    if !st.ready.load(Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "draining"})),
        );
    }
    match st.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "store unavailable"})),
            )
        }
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then let in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let st = state.clone();
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        st.ready.store(false, Ordering::Relaxed);
    })
    .await
}
