//! From a model name to a served response: the plan (combo steps in the order of the combo's
//! strategy; each step's accounts ordered only when the loop reaches it) and the attempt loop
//! (breakers, cooldowns and rate-limit slots checked before each upstream call, the outcome
//! classified after it, next account / next step / return decided from the routing crate's
//! policy table). Nothing here waits on the store.

use super::failure::{FailKind, Failure};
use super::{attempt, resolve_error, Ctx, Exchange};
use crate::state::{KeyInfo, LiveConnection, Snapshot};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use omniroute_protocol::{ApiError, ApiFormat, ErrorKind};
use omniroute_providers::ProviderSpec;
use omniroute_routing::{
    order, stable_key, Action, Admission, Breaker, Candidate as Cand, CooldownScope, Outcome,
    Report, Step, Strategy,
};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One upstream attempt candidate: a provider, the model id it gets, and a connection.
pub(crate) struct Candidate<'a> {
    pub provider: &'a Arc<ProviderSpec>,
    pub model: &'a str,
    pub conn: &'a Arc<LiveConnection>,
}

/// The steps of a request, in the order they are tried.
pub(super) struct Plan {
    steps: Arc<Vec<Step>>,
    order: Vec<usize>,
    /// The combo the model named (or the fallback chain), for the log.
    combo: Option<String>,
}

impl Plan {
    fn iter(&self) -> impl Iterator<Item = &Step> {
        self.order.iter().filter_map(|i| self.steps.get(*i))
    }

    fn is_single_account(&self, snap: &Snapshot) -> bool {
        self.order.len() == 1
            && self
                .iter()
                .next()
                .and_then(|s| snap.connections.get(&s.provider.id))
                .is_some_and(|c| c.len() == 1)
    }
}

/// The plan for `model`: a combo's steps come precomputed with the snapshot; anything else is
/// resolved now (a single step, or the fallback chain).
pub(super) fn plan(
    snap: &Snapshot,
    model: &str,
    rid: &str,
    key: Option<&KeyInfo>,
) -> Result<Plan, ApiError> {
    let precomputed = snap
        .combo_steps
        .get(model)
        .filter(|_| !snap.resolver.has_alias(model));
    let (steps, combo) = match precomputed {
        Some(steps) => (steps.clone(), Some(model.to_string())),
        None => {
            let exp = snap
                .resolver
                .expand(model, |p| snap.usable(p))
                .map_err(resolve_error)?;
            for sk in &exp.skipped {
                tracing::warn!(request_id = rid, step = %sk.step, reason = ?sk.reason, "combo step skipped");
            }
            let combo = exp.steps.first().and_then(|s| s.path.first()).cloned();
            (Arc::new(exp.steps), combo)
        }
    };
    // a key limited to some models: the name it asked for may be allowed as a whole (a combo
    // the owner listed), else only the steps whose `provider/model` it may reach remain
    // the name counts only for a combo the owner made (an alias or the global fallback chain
    // must not take a key past its patterns)
    let named_combo = precomputed.is_some() && key.is_some_and(|k| k.allows_name(model));
    let steps = match key {
        Some(k) if k.models.is_some() && !named_combo => {
            let allowed: Vec<Step> = steps
                .iter()
                .filter(|s| k.allows_target(&s.provider, &s.model))
                .cloned()
                .collect();
            if allowed.is_empty() {
                return Err(ApiError::new(
                    ErrorKind::PermissionDenied,
                    format!("this gateway key may not use `{model}`"),
                )
                .with_code("model_not_allowed"));
            }
            Arc::new(allowed)
        }
        _ => steps,
    };
    finish_plan(snap, steps, combo.as_deref(), model)
}

fn finish_plan(
    snap: &Snapshot,
    steps: Arc<Vec<Step>>,
    combo: Option<&str>,
    model: &str,
) -> Result<Plan, ApiError> {
    if steps.is_empty() {
        return Err(ApiError::invalid(format!(
            "`{model}` has no routable step: every step is unknown or disabled"
        ))
        .with_code("no_routable_step"));
    }
    if !steps.iter().any(|s| snap.usable(&s.provider.id)) {
        // a configuration problem, not a transient one: 400 so clients do not retry forever
        let first = &steps[0].provider.id;
        return Err(ApiError::invalid(format!(
            "provider `{first}` has no enabled connection: add one with POST /api/connections or in the config file"
        ))
        .with_code("provider_not_configured"));
    }
    let strategy = combo
        .and_then(|c| snap.resolver.combo(c))
        .and_then(|c| c.strategy)
        .unwrap_or(snap.combo_strategy);
    let rotation = combo.and_then(|c| snap.combo_rotations.get(c));
    let order = match (steps.len(), strategy, rotation) {
        (1, ..) | (_, Strategy::Priority, _) | (_, _, None) => (0..steps.len()).collect(),
        (_, strategy, Some(rot)) => {
            let cands: Vec<Cand> = steps
                .iter()
                .map(|st| {
                    // a step is as healthy as its healthiest account
                    let health = snap.connections.get(&st.provider.id).and_then(|c| {
                        c.iter()
                            .map(|c| c.health.as_ref())
                            .min_by(|a, b| a.score(0).total_cmp(&b.score(0)))
                    });
                    let mut c = Cand::new(stable_key(&st.model), health);
                    c.weight = st.weight;
                    c.priority = st.entry as i64;
                    c.model = Some(st.model.as_str());
                    // cost-optimized: input + output price per million tokens (unpriced last)
                    c.cost_per_mtok = snap
                        .price(&st.provider, &st.model)
                        .map(|p| p.input_per_m + p.output_per_m);
                    c
                })
                .collect();
            order(
                strategy,
                &cands,
                rot,
                None,
                crate::resilience::now(),
                &mut rand::thread_rng(),
            )
        }
    };
    Ok(Plan {
        steps,
        order,
        combo: combo.map(str::to_string),
    })
}

/// The first candidate for `model` (count_tokens asks the upstream only once).
pub(super) fn first_candidate(
    snap: &Snapshot,
    model: &str,
    rid: &str,
    key: Option<&KeyInfo>,
) -> Result<(Arc<ProviderSpec>, String, Arc<LiveConnection>), ApiError> {
    let p = plan(snap, model, rid, key)?;
    let found = p.iter().find_map(|st| {
        let conn = snap.connections.get(&st.provider.id)?.first()?;
        Some((st.provider.clone(), st.model.clone(), conn.clone()))
    });
    found.ok_or_else(|| ApiError::internal("empty plan"))
}

/// The order in which a step's accounts are tried.
fn account_order(
    snap: &Snapshot,
    res: &crate::resilience::Resilience,
    step: &Step,
    conns: &[Arc<LiveConnection>],
    session: Option<u64>,
) -> Vec<usize> {
    let strategy = snap.account_strategy(&step.provider.id);
    let now = crate::resilience::now();
    let sticky = session.and_then(|s| res.affinity.lookup(s, stable_key(&step.provider.id), now));
    let rot = snap.account_rotations.get(&step.provider.id);
    match (conns.len(), strategy, sticky, rot) {
        (1, ..) | (_, Strategy::Priority, None, _) | (_, _, _, None) => (0..conns.len()).collect(),
        (_, strategy, sticky, Some(rot)) => {
            let cands: Vec<Cand> = conns
                .iter()
                .map(|c| {
                    let mut k = Cand::new(c.key, Some(c.health.as_ref()));
                    k.priority = c.priority;
                    k.model = Some(step.model.as_str());
                    k
                })
                .collect();
            order(strategy, &cands, rot, sticky, now, &mut rand::thread_rng())
        }
    }
}

/// The provider breaker's admission, abandoned on drop unless reported (a request that goes
/// away mid-attempt must not leave the provider's half-open probe taken).
struct ProviderAdmission<'a> {
    breaker: Option<&'a Breaker>,
    adm: Option<Admission>,
}

impl ProviderAdmission<'_> {
    fn report(mut self, now: u64, counts: bool, ok: bool) {
        if let (Some(b), Some(a)) = (self.breaker, self.adm.take()) {
            if ok || !counts {
                b.on_success(now, a);
            } else {
                b.on_failure(now, a);
            }
        }
    }
}

impl Drop for ProviderAdmission<'_> {
    fn drop(&mut self) {
        if let (Some(b), Some(a)) = (self.breaker, self.adm.take()) {
            b.abandon(a);
        }
    }
}

/// What the loop has learned so far.
#[derive(Default)]
struct LoopState {
    attempts: usize,
    last: Option<Failure>,
    /// The earliest moment a skipped (cooling, open-circuit) candidate becomes available.
    blocked_until: Option<u64>,
    /// A skipped candidate had an open circuit (else they were all cooling down).
    circuit_open: bool,
    /// A candidate was skipped because its rate-limit slots were taken.
    local_limited: bool,
    /// A combo step was skipped because its budget is spent.
    budget_spent: bool,
}

impl LoopState {
    fn blocked(&mut self, until: u64) {
        self.blocked_until = Some(self.blocked_until.map_or(until, |b| b.min(until)));
    }
}

/// What one candidate led to.
enum Flow {
    /// A response for the client (success, or an error that must not fall back).
    Done(Response),
    /// An upstream call failed: go on with the next account.
    Next(Exchange),
    /// Skip the rest of this step.
    NextStep(Exchange),
    /// Not tried: its rate-limit slots are taken (may be retried with a wait).
    Busy(Exchange),
    /// Not tried: cooling down or circuit open.
    Skipped(Exchange),
}

/// Everything the loop needs besides the exchange.
pub(super) struct Run<'a> {
    pub ctx: Ctx<'a>,
    pub res: &'a crate::resilience::Resilience,
    pub res_budgets: Arc<crate::budgets::Budgets>,
    pub session: Option<u64>,
    pub progress: Option<tokio::sync::mpsc::Sender<Bytes>>,
}

impl Run<'_> {
    async fn progress(&self, ev: Value) {
        if let Some(tx) = &self.progress {
            let _ = tx
                .send(omniroute_protocol::sse::encode(
                    Some("progress"),
                    &ev.to_string(),
                ))
                .await;
        }
    }
}

/// Try the plan until a response is due.
pub(super) async fn run(mut ex: Exchange, r: &Run<'_>, plan: &Plan) -> Response {
    let snap = r.ctx.snap;
    let settings = &snap.settings;
    // accounts tried per step; each step gets its own budget so exhausted accounts of one step
    // never starve the next step
    let per_step = settings.max_attempts.max(1) as usize;
    let deadline = Instant::now() + Duration::from_millis(settings.total_timeout_ms);
    let slot_wait = Duration::from_millis(settings.rate_limit_wait_ms);
    let alone = plan.is_single_account(snap);
    let mut st = LoopState::default();
    ex.row.combo = plan.combo.clone();
    let budgets = &r.res_budgets;
    'steps: for step in plan.iter() {
        let Some(conns) = snap.connections.get(&step.provider.id) else {
            continue;
        };
        // a step over its budget is skipped: the request falls to the next tier
        if let Some(combo) = plan.combo.as_deref().filter(|_| !budgets.is_empty()) {
            let key = format!("{}/{}", step.provider.id, step.model);
            if budgets.step_exceeded(combo, &key, omniroute_store::now_ms()) {
                tracing::info!(request_id = %r.ctx.rid.0, combo, step = %key, "combo step over budget: skipped");
                st.budget_spent = true;
                continue;
            }
        }
        let order = account_order(snap, r.res, step, conns, r.session);
        let mut busy: Vec<usize> = Vec::new();
        let mut tried = 0usize;
        // first pass without waiting for rate-limit slots; then wait for the busy ones
        let mut list = order;
        for pass in 0..2 {
            for ci in std::mem::take(&mut list) {
                if tried >= per_step {
                    continue 'steps;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break 'steps;
                }
                let Some(conn) = conns.get(ci) else { continue };
                let cand = Candidate {
                    provider: &step.provider,
                    model: &step.model,
                    conn,
                };
                let wait = if pass == 0 {
                    Duration::ZERO
                } else {
                    slot_wait.min(left)
                };
                match one(ex, r, &cand, &mut st, alone, wait, left).await {
                    Flow::Done(resp) => return resp,
                    Flow::Next(e) => {
                        ex = e;
                        tried += 1;
                    }
                    Flow::NextStep(e) => {
                        ex = e;
                        continue 'steps;
                    }
                    Flow::Busy(e) => {
                        ex = e;
                        busy.push(ci);
                    }
                    Flow::Skipped(e) => ex = e,
                }
            }
            if busy.is_empty() || pass == 1 {
                break;
            }
            list = std::mem::take(&mut busy);
        }
        if !busy.is_empty() {
            st.local_limited = true;
        }
    }
    let model = r.ctx.model;
    let err = match (st.last, st.blocked_until) {
        (Some(f), _) => f.err,
        (None, Some(until)) => {
            let secs = until
                .saturating_sub(crate::resilience::now())
                .div_ceil(1000)
                .max(1);
            if st.circuit_open {
                ApiError::new(
                    ErrorKind::Unavailable,
                    format!("every provider that can serve `{model}` is failing (circuit open); retry in {secs} s"),
                )
                .with_code("no_available_connection")
            } else {
                ApiError::new(
                    ErrorKind::RateLimited,
                    format!("every account that can serve `{model}` is cooling down after rate limits or quota errors; retry in {secs} s"),
                )
                .with_code("rate_limit_exceeded")
            }
            .with_retry_after(Some(secs.to_string()))
        }
        (None, None) if st.budget_spent => ApiError::new(
            ErrorKind::RateLimited,
            format!("every step of `{model}` that could serve is over its budget"),
        )
        .with_code("budget_exceeded"),
        (None, None) if st.local_limited => ApiError::new(
            ErrorKind::RateLimited,
            format!("every connection that can serve `{model}` is at its configured rate limit"),
        )
        .with_code("rate_limit_exceeded")
        .with_retry_after(Some("1".into())),
        (None, None) => ApiError::new(
            ErrorKind::Unavailable,
            format!("no connection can serve `{model}` right now"),
        )
        .with_code("no_available_connection"),
    };
    let mut resp = ex.fail(err);
    outcome_headers(resp.headers_mut(), None, st.attempts);
    resp
}

/// One candidate: gates (breakers, cooldown, rate-limit slot), the attempt, the bookkeeping.
async fn one(
    mut ex: Exchange,
    r: &Run<'_>,
    cand: &Candidate<'_>,
    st: &mut LoopState,
    alone: bool,
    slot_wait: Duration,
    left: Duration,
) -> Flow {
    let snap = r.ctx.snap;
    let now = crate::resilience::now();
    let breaker = snap
        .provider_breakers
        .get(&cand.provider.id)
        .map(Arc::as_ref);
    let adm = breaker.map(|b| b.admit(now));
    if let Some(Admission::Rejected { until }) = adm {
        st.circuit_open = true;
        st.blocked(until);
        return Flow::Skipped(ex);
    }
    let padm = ProviderAdmission { breaker, adm };
    let health = &cand.conn.health;
    // with no alternative, a cooldown would only hide the upstream's own answer
    let begun = if alone {
        health.begin_past_cooldown(now)
    } else {
        health.try_begin(now, Some(cand.model))
    };
    let att = match begun {
        Ok(a) => a,
        Err(until) => {
            if health.breaker.blocked_until(now).is_some() {
                st.circuit_open = true;
            }
            st.blocked(until);
            return Flow::Skipped(ex);
        }
    };
    let Some(permit) = acquire_slot(&health.limiter, slot_wait).await else {
        if !slot_wait.is_zero() {
            tracing::info!(request_id = %r.ctx.rid.0, connection = %cand.conn.id, "connection at its rate limit: trying the next one");
        }
        return Flow::Busy(ex);
    };
    st.attempts += 1;
    let n = st.attempts;
    r.progress(json!({"type": "progress", "attempt": n, "provider": cand.provider.id, "model": cand.model, "status": "trying"})).await;
    ex.row.attempts = n as i64;
    ex.row.provider = Some(cand.provider.id.clone());
    ex.row.connection_id = Some(cand.conn.id.clone());
    ex.row.upstream_model = Some(cand.model.to_string());
    ex.permit = Some(permit);
    // recorded as served; a failure below rewrites its outcome
    ex.row.attempts_detail.push(omniroute_store::AttemptLog {
        provider: cand.provider.id.clone(),
        connection: Some(cand.conn.id.clone()),
        model: cand.model.to_string(),
        outcome: "ok".into(),
        status: Some(200),
        latency_ms: 0,
        route: Some("direct".into()),
        ..Default::default()
    });
    ex.attempt_times.push(crate::otel::AttemptTiming {
        start: ex.start.elapsed(),
        end: None,
    });
    let started = Instant::now();
    let result = attempt(ex, &r.ctx, cand, left).await;
    let now = crate::resilience::now();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let latency = Some(elapsed_ms);
    match result {
        Ok(mut resp) => {
            let report = Report {
                latency_ms: latency,
                ..Report::new(
                    Outcome::Success,
                    CooldownScope::Connection,
                    Some(cand.model),
                )
            };
            att.finish(now, &report, &mut rand::thread_rng());
            padm.report(now, false, true);
            if let Some(s) = r.session {
                let group = stable_key(&cand.provider.id);
                r.res.affinity.remember(s, group, cand.conn.key, now);
            }
            r.progress(json!({"type": "progress", "attempt": n, "provider": cand.provider.id, "model": cand.model, "connection": cand.conn.id, "status": "streaming"})).await;
            outcome_headers(resp.headers_mut(), Some(cand), n);
            Flow::Done(resp)
        }
        Err((mut back, failure)) => {
            back.permit = None;
            let at = back.start.elapsed();
            if let Some(t) = back.attempt_times.last_mut() {
                t.end = Some(at);
            }
            let class = failure.classify(&cand.provider.id);
            if let Some(a) = back.row.attempts_detail.last_mut() {
                a.outcome = class.outcome.as_str().to_string();
                a.status = match &failure.kind {
                    FailKind::Status { status, .. } => Some(*status),
                    FailKind::Timeout | FailKind::Connect | FailKind::Broken => None,
                    _ => Some(200),
                };
                a.latency_ms = elapsed_ms as i64;
            }
            let report = Report {
                retry_after: class.retry_after_ms,
                latency_ms: latency,
                ..Report::new(class.outcome, class.scope, Some(cand.model))
            };
            let policy = class.outcome.policy();
            let cooled = att.finish(now, &report, &mut rand::thread_rng());
            padm.report(now, policy.counts_for_breaker, false);
            r.progress(json!({"type": "progress", "attempt": n, "provider": cand.provider.id, "model": cand.model, "status": "failed", "outcome": class.outcome.as_str()})).await;
            let action = if matches!(failure.kind, FailKind::Untranslatable) {
                Action::NextStep
            } else {
                policy.action
            };
            tracing::warn!(
                request_id = %r.ctx.rid.0,
                provider = %cand.provider.id,
                connection = %cand.conn.id,
                model = %cand.model,
                attempt = n,
                outcome = %class.outcome,
                cooldown_until = cooled,
                error = %failure.err.message,
                ?action,
                "attempt failed"
            );
            match action {
                Action::Return => {
                    let mut resp = back.fail(failure.err);
                    outcome_headers(resp.headers_mut(), Some(cand), n);
                    Flow::Done(resp)
                }
                Action::NextStep => {
                    st.last = Some(failure);
                    Flow::NextStep(back)
                }
                Action::NextAccount => {
                    st.last = Some(failure);
                    Flow::Next(back)
                }
            }
        }
    }
}

/// Wait at most `wait` for a rate-limit slot of a connection (immediate when it has no limit).
async fn acquire_slot(
    limiter: &omniroute_routing::Limiter,
    wait: Duration,
) -> Option<omniroute_routing::Permit> {
    let give_up = crate::resilience::now() + wait.as_millis() as u64;
    // counted in the Health page's queue while it waits (dropped with this future)
    let mut queued = None;
    loop {
        let now = crate::resilience::now();
        match limiter.try_acquire(now) {
            Ok(p) => return Some(p),
            Err(w) => {
                if w.earliest > give_up {
                    return None;
                }
                queued.get_or_insert_with(|| limiter.waiter());
                let nap = w.earliest.saturating_sub(now).max(1);
                tokio::time::sleep(Duration::from_millis(nap)).await;
            }
        }
    }
}

/// The session a request belongs to, for account affinity: `X-Session-Id`, else the body's
/// prompt-cache key (`prompt_cache_key`, Anthropic `metadata.user_id`).
pub(super) fn session_key(
    headers: &HeaderMap,
    req: &super::RawObject,
    format: ApiFormat,
) -> Option<u64> {
    if let Some(v) = headers.get("x-session-id").and_then(|v| v.to_str().ok()) {
        return Some(stable_key(v));
    }
    let raw = match format {
        ApiFormat::Openai | ApiFormat::Responses => req.get("prompt_cache_key")?,
        ApiFormat::Anthropic => req.get("metadata")?,
        ApiFormat::Gemini => return None,
    };
    let v: Value = serde_json::from_str(raw.get()).ok()?;
    let s = match format {
        ApiFormat::Anthropic => v.get("user_id")?.as_str()?.to_string(),
        _ => v.as_str()?.to_string(),
    };
    (!s.is_empty()).then(|| stable_key(&s))
}

/// `X-OmniRoute-*` headers: who served the request and after how many attempts.
fn outcome_headers(h: &mut HeaderMap, cand: Option<&Candidate<'_>>, attempts: usize) {
    if let Some(c) = cand {
        for (name, value) in [
            ("x-omniroute-provider", c.provider.id.as_str()),
            ("x-omniroute-model", c.model),
            ("x-omniroute-connection", c.conn.id.as_str()),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        }
    }
    h.insert("x-omniroute-attempts", HeaderValue::from(attempts));
}
