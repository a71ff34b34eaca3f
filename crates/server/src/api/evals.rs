//! Eval sets and runs (`/api/evals/...`): the built-in set plus saved ones, and runs of a set
//! against models or combos, kept with their results (see [`crate::evals`]).

use super::{bad, parse_body, ApiResult, St};
use crate::error::HttpError;
use crate::evals::{self, EvalRun, EvalSet, BUILTIN_ID, MAX_TARGETS};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;
use omniroute_protocol::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};

fn not_found(what: &str) -> HttpError {
    HttpError::openai(ApiError::not_found(what.to_string()))
}

fn parse_doc<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, HttpError> {
    serde_json::from_str(s)
        .map_err(|e| HttpError::openai(ApiError::internal(format!("stored eval document: {e}"))))
}

async fn load_set(st: &crate::AppState, id: &str) -> Result<EvalSet, HttpError> {
    if id == BUILTIN_ID {
        return Ok(evals::builtin());
    }
    match st.store.get_eval_set(id).await? {
        Some(doc) => parse_doc(&doc),
        None => Err(not_found(&format!("no eval set `{id}`"))),
    }
}

/// `GET /api/evals/sets`: the built-in set first, then the saved ones.
pub(super) async fn list_sets(State(st): St) -> ApiResult {
    let mut sets = vec![evals::builtin()];
    for doc in st.store.list_eval_sets().await? {
        sets.push(parse_doc(&doc)?);
    }
    Ok(Json(json!({ "sets": sets })))
}

fn checked(body: &[u8], id: String) -> Result<EvalSet, HttpError> {
    let mut set: EvalSet = parse_body(body)?;
    set.id = id;
    set.builtin = false;
    evals::validate(&set).map_err(bad)?;
    Ok(set)
}

/// `POST /api/evals/sets`: save a new set (an id is given to it).
pub(super) async fn create_set(
    State(st): St,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let set = checked(&body, format!("set-{}", uuid::Uuid::new_v4().simple()))?;
    let doc = serde_json::to_string(&set).map_err(|e| bad(e.to_string()))?;
    st.store.put_eval_set(&set.id, &set.name, &doc).await?;
    Ok((StatusCode::CREATED, Json(json!(set))))
}

/// `PUT /api/evals/sets/{id}`: replace a saved set (the built-in one is read-only).
pub(super) async fn update_set(State(st): St, Path(id): Path<String>, body: Bytes) -> ApiResult {
    if id == BUILTIN_ID {
        return Err(bad("the built-in set is read-only: save a copy instead"));
    }
    if st.store.get_eval_set(&id).await?.is_none() {
        return Err(not_found(&format!("no eval set `{id}`")));
    }
    let set = checked(&body, id)?;
    let doc = serde_json::to_string(&set).map_err(|e| bad(e.to_string()))?;
    st.store.put_eval_set(&set.id, &set.name, &doc).await?;
    Ok(Json(json!(set)))
}

pub(super) async fn delete_set(
    State(st): St,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    if id == BUILTIN_ID {
        return Err(bad("the built-in set cannot be deleted"));
    }
    st.store.delete_eval_set(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RunBody {
    set_id: String,
    /// Models, aliases or combo names.
    targets: Vec<String>,
}

/// `POST /api/evals/runs {set_id, targets}`: start a run; answers at once with the run
/// (`running`), whose results fill in as cases finish.
pub(super) async fn start_run(
    State(st): St,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let b: RunBody = parse_body(&body)?;
    let mut targets: Vec<String> = Vec::new();
    for t in b.targets.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if !targets.iter().any(|x| x == t) {
            targets.push(t.to_string());
        }
    }
    if targets.is_empty() || targets.len() > MAX_TARGETS {
        return Err(bad(format!(
            "`targets`: 1 to {MAX_TARGETS} models or combos"
        )));
    }
    let set = load_set(&st, &b.set_id).await?;
    let run = evals::start(st.clone(), set, targets).await;
    Ok((StatusCode::ACCEPTED, Json(json!(run))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RunsParams {
    limit: Option<i64>,
}

/// `GET /api/evals/runs?limit=`: runs, newest first.
pub(super) async fn list_runs(State(st): St, Query(p): Query<RunsParams>) -> ApiResult {
    let limit = p.limit.unwrap_or(50).clamp(1, 200);
    let runs: Vec<EvalRun> = st
        .store
        .list_eval_runs(limit)
        .await?
        .iter()
        .map(|d| parse_doc(d))
        .collect::<Result<_, _>>()?;
    Ok(Json(json!({ "runs": runs })))
}

pub(super) async fn get_run(State(st): St, Path(id): Path<String>) -> ApiResult {
    match st.store.get_eval_run(&id).await? {
        Some(doc) => Ok(Json(json!(parse_doc::<EvalRun>(&doc)?))),
        None => Err(not_found(&format!("no eval run `{id}`"))),
    }
}

pub(super) async fn delete_run(
    State(st): St,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    st.store.delete_eval_run(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
