//! `/api/cli-tools`: which coding tools' configuration files the gateway can write, and writing
//! one (merged into the existing file after a backup). Writing is for a dashboard on the
//! gateway's own machine only: the files are that machine's user's.

use super::{bad, parse_body, ApiResult, St};
use crate::clitools::{self, Settings, TOOLS};
use crate::error::HttpError;
use crate::middleware::is_local;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use bytes::Bytes;
use omniroute_protocol::{ApiError, ErrorKind};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

/// `GET /api/cli-tools`: the tools, their file, whether it exists, and whether this caller may
/// have them written.
pub(super) async fn list(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult {
    let home = clitools::home();
    let tools = TOOLS
        .iter()
        .map(|t| {
            let path = home.as_ref().map(|h| h.join(t.path));
            crate::views::CliToolInfo {
                id: t.id.into(),
                name: t.name.into(),
                path: path.as_ref().map(|p| p.display().to_string()),
                exists: path.as_ref().is_some_and(|p| p.exists()),
            }
        })
        .collect();
    Ok(Json(json!(crate::views::CliToolsView {
        local: is_local(peer, &headers) && home.is_some(),
        home: home.map(|h| h.display().to_string()),
        tools,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApplyBody {
    /// The gateway key the tool will send.
    key: String,
    /// The model it will ask for (optional).
    #[serde(default)]
    model: String,
}

/// `POST /api/cli-tools/{id}/apply {key, model}`: write the tool's configuration.
pub(super) async fn apply(
    State(_st): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    if !is_local(peer, &headers) {
        return Err(HttpError::openai(
            ApiError::new(
                ErrorKind::PermissionDenied,
                "configuration files are written only for a dashboard opened on the gateway's own machine; copy the configuration instead",
            )
            .with_code("not_local"),
        ));
    }
    let b: ApplyBody = parse_body(&body)?;
    let key = b.key.trim();
    if key.is_empty() || key.len() > 512 || key.chars().any(|c| c.is_control() || c == '"') {
        return Err(bad("`key`: a gateway key is required"));
    }
    let model = b.model.trim();
    if model.len() > 256 || model.chars().any(|c| c.is_control() || c == '"') {
        return Err(bad("`model` is not a model name"));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| bad("no Host header"))?;
    let root = format!("http://{host}");
    let home = clitools::home().ok_or_else(|| bad("the gateway's user has no home directory"))?;
    let (key, model) = (key.to_string(), model.to_string());
    let applied = tokio::task::spawn_blocking(move || {
        let s = Settings {
            root: &root,
            key: &key,
            model: &model,
        };
        clitools::apply(&home, &id, &s)
    })
    .await
    .map_err(|e| HttpError::openai(ApiError::internal(e.to_string())))?
    .map_err(bad)?;
    Ok(Json(json!(applied)))
}
