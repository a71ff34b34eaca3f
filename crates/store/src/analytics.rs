//! Analytics over the request log: requests, errors, tokens, cost and latency per time bucket
//! and group, usage per gateway key, and spend (to seed live budget counters).
//!
//! Scanning and sorting a million log rows takes seconds in SQLite (measured by
//! `examples/analytics_bench.rs`: ~2 s for 30 days by day and provider, 1.4 s with a covering
//! index), so the log is also aggregated as it is written: `request_stats` holds one row per
//! hour and dimension value (total, provider, model, gateway key, combo, connection, combo step),
//! upserted in the same transaction as the batch of rows. Hour and day buckets, usage and spend
//! read it (`GROUP BY hour_ms / bucket_ms` over a few thousand rows); minute buckets, and the
//! part of a usage or spend window before its first whole hour, read the log itself (the blocks
//! whose time range overlaps the window, decoded and summed here). The aggregates outlive log retention (they
//! have their own, `Retention::stats_max_age_ms`): analytics and budgets still see requests
//! whose rows were pruned. Percentiles are not kept (only sums and counts merge across hours);
//! live p50/p95/p99 come from the server's in-memory telemetry.
//! Times are epoch milliseconds; buckets are aligned on UTC.

use crate::logblock::RowRef;
use crate::logs::RequestLog;
use crate::requests::blocking;
use crate::{Result, Store};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

pub(crate) const HOUR_MS: i64 = 3_600_000;

const DIM_TOTAL: &str = "";
const DIM_PROVIDER: &str = "provider";
const DIM_MODEL: &str = "model";
const DIM_API_KEY: &str = "api_key";
const DIM_COMBO: &str = "combo";
const DIM_CONNECTION: &str = "connection";
/// `combo \t provider/upstream_model`, for rows served through a combo.
const DIM_COMBO_STEP: &str = "combo_step";

/// Width of an analytics bucket.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Minute,
    #[default]
    Hour,
    Day,
}

impl Bucket {
    pub fn millis(self) -> i64 {
        match self {
            Bucket::Minute => 60_000,
            Bucket::Hour => 3_600_000,
            Bucket::Day => 86_400_000,
        }
    }
}

/// What analytics rows are split by within a bucket.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    #[default]
    None,
    Provider,
    /// The model that served (`upstream_model`), or the requested model when none did.
    Model,
    ApiKey,
    Combo,
    Connection,
}

impl GroupBy {
    /// The group of a log row (`None` for no grouping, or when the row has none).
    fn value_of<'a>(self, r: &RowRef<'a>) -> Option<&'a str> {
        match self {
            GroupBy::None => None,
            GroupBy::Provider => r.provider(),
            GroupBy::Model => r.upstream_model().or(r.model()),
            GroupBy::ApiKey => r.api_key_id(),
            GroupBy::Combo => r.combo(),
            GroupBy::Connection => r.connection_id(),
        }
        .filter(|v| !v.is_empty())
    }

    /// The dimension in `request_stats`.
    fn dim(self) -> &'static str {
        match self {
            GroupBy::None => DIM_TOTAL,
            GroupBy::Provider => DIM_PROVIDER,
            GroupBy::Model => DIM_MODEL,
            GroupBy::ApiKey => DIM_API_KEY,
            GroupBy::Combo => DIM_COMBO,
            GroupBy::Connection => DIM_CONNECTION,
        }
    }
}

/// Rows of the whole buckets covering `since_ms <= ts < until_ms` (`since_ms` is rounded down
/// and `until_ms` up to the bucket width), per bucket and group.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyticsQuery {
    pub since_ms: i64,
    pub until_ms: i64,
    #[serde(default)]
    pub bucket: Bucket,
    #[serde(default)]
    pub group_by: GroupBy,
}

/// One bucket (and group) of analytics. Token and cost sums count the rows that reported them.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsRow {
    pub bucket_start_ms: i64,
    /// The group's value; `None` without grouping, or for rows without one (no provider, no key,
    /// not a combo...).
    pub group: Option<String>,
    pub requests: i64,
    /// Rows with status >= 400.
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
    pub cost_usd: f64,
    pub avg_latency_ms: f64,
    /// Mean time to first token over the rows that have one.
    pub avg_ttft_ms: Option<f64>,
}

/// Usage of one gateway key (`None`: requests made without a key).
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyUsage {
    pub api_key_id: Option<String>,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    pub last_used_ms: i64,
}

/// Sums over some rows: what `request_stats` stores per hour and dimension value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Agg {
    pub(crate) requests: i64,
    pub(crate) errors: i64,
    pub(crate) input_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) cached_tokens: i64,
    pub(crate) reasoning_tokens: i64,
    pub(crate) cost_usd: f64,
    pub(crate) latency_sum: i64,
    pub(crate) ttft_sum: i64,
    pub(crate) ttft_count: i64,
    pub(crate) last_ts: i64,
}

impl Agg {
    fn add_row(&mut self, r: &RequestLog) {
        self.add_ref(&RowRef::of(r, r.id, None, None, 0));
    }

    fn add_ref(&mut self, r: &RowRef<'_>) {
        self.requests += 1;
        self.errors += i64::from(r.status >= 400);
        self.input_tokens += r.input_tokens.unwrap_or(0);
        self.output_tokens += r.output_tokens.unwrap_or(0);
        self.cached_tokens += r.cached_tokens.unwrap_or(0);
        self.reasoning_tokens += r.reasoning_tokens.unwrap_or(0);
        self.cost_usd += r.cost_usd.unwrap_or(0.0);
        self.latency_sum += r.latency_ms;
        if let Some(t) = r.ttfb_ms {
            self.ttft_sum += t;
            self.ttft_count += 1;
        }
        self.last_ts = self.last_ts.max(r.ts);
    }

    fn merge(&mut self, o: &Agg) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cached_tokens += o.cached_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
        self.cost_usd += o.cost_usd;
        self.latency_sum += o.latency_sum;
        self.ttft_sum += o.ttft_sum;
        self.ttft_count += o.ttft_count;
        self.last_ts = self.last_ts.max(o.last_ts);
    }

    /// From a row selected with [`AGG_STATS`].
    fn from_row(r: &SqliteRow) -> Result<Agg> {
        Ok(Agg {
            requests: r.try_get("requests")?,
            errors: r.try_get("errors")?,
            input_tokens: r.try_get("input_tokens")?,
            output_tokens: r.try_get("output_tokens")?,
            cached_tokens: r.try_get("cached_tokens")?,
            reasoning_tokens: r.try_get("reasoning_tokens")?,
            cost_usd: r.try_get("cost_usd")?,
            latency_sum: r.try_get("latency_sum")?,
            ttft_sum: r.try_get("ttft_sum")?,
            ttft_count: r.try_get("ttft_count")?,
            last_ts: r.try_get("last_ts")?,
        })
    }

    fn row(&self, bucket_start_ms: i64, group: Option<String>) -> AnalyticsRow {
        AnalyticsRow {
            bucket_start_ms,
            group,
            requests: self.requests,
            errors: self.errors,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cached_tokens: self.cached_tokens,
            reasoning_tokens: self.reasoning_tokens,
            cost_usd: self.cost_usd,
            avg_latency_ms: if self.requests > 0 {
                self.latency_sum as f64 / self.requests as f64
            } else {
                0.0
            },
            avg_ttft_ms: (self.ttft_count > 0)
                .then(|| self.ttft_sum as f64 / self.ttft_count as f64),
        }
    }
}

/// The aggregates of `request_stats` rows, named as [`Agg::from_row`] reads them.
const AGG_STATS: &str = "SUM(requests) AS requests, SUM(errors) AS errors, \
     SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, \
     SUM(cached_tokens) AS cached_tokens, SUM(reasoning_tokens) AS reasoning_tokens, \
     SUM(cost_usd) AS cost_usd, SUM(latency_sum) AS latency_sum, \
     SUM(ttft_sum) AS ttft_sum, SUM(ttft_count) AS ttft_count, MAX(last_ts) AS last_ts";

/// A `request_stats` key: (dimension, hour, value).
pub(crate) type StatKey<'a> = (&'static str, i64, Cow<'a, str>);

/// The hourly aggregates of a batch of rows, per (dimension, hour, value).
pub(crate) fn stats_of<R: std::borrow::Borrow<RequestLog>>(
    rows: &[R],
) -> HashMap<StatKey<'_>, Agg> {
    // First per row signature (the hour and every dimension's value), which the rows of a batch
    // mostly share (runs of the same one are the rule: one lookup is skipped per repeat), then
    // per (dimension, hour, value): a hash lookup per signature instead of seven per row.
    type Sig<'a> = (
        i64,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let mut sigs: Vec<(Sig<'_>, Agg)> = Vec::new();
    let mut index: HashMap<Sig<'_>, usize> = HashMap::new();
    let mut last: Option<usize> = None;
    for r in rows {
        let r: &RequestLog = r.borrow();
        let model = if r.upstream_model.is_some() {
            &r.upstream_model
        } else {
            &r.model
        };
        let sig: Sig<'_> = (
            r.ts.div_euclid(HOUR_MS) * HOUR_MS,
            r.provider.as_deref(),
            model.as_deref(),
            r.api_key_id.as_deref(),
            r.combo.as_deref(),
            r.connection_id.as_deref(),
            r.upstream_model.as_deref(),
        );
        let at = match last.filter(|&i| sigs[i].0 == sig) {
            Some(i) => i,
            None => *index.entry(sig).or_insert_with(|| {
                sigs.push((sig, Agg::default()));
                sigs.len() - 1
            }),
        };
        sigs[at].1.add_row(r);
        last = Some(at);
    }
    let mut out: HashMap<StatKey<'_>, Agg> = HashMap::with_capacity(sigs.len() * 7);
    for ((hour, provider, model, key, combo, connection, upstream), agg) in sigs {
        let keys = [
            (DIM_TOTAL, Cow::Borrowed("")),
            (DIM_PROVIDER, Cow::Borrowed(provider.unwrap_or(""))),
            (DIM_MODEL, Cow::Borrowed(model.unwrap_or(""))),
            (DIM_API_KEY, Cow::Borrowed(key.unwrap_or(""))),
            (DIM_COMBO, Cow::Borrowed(combo.unwrap_or(""))),
            (DIM_CONNECTION, Cow::Borrowed(connection.unwrap_or(""))),
        ];
        for (dim, value) in keys {
            out.entry((dim, hour, value)).or_default().merge(&agg);
        }
        if let (Some(combo), Some(provider), Some(model)) = (combo, provider, upstream) {
            let value = combo_step_value(combo, &format!("{provider}/{model}"));
            out.entry((DIM_COMBO_STEP, hour, Cow::Owned(value)))
                .or_default()
                .merge(&agg);
        }
    }
    out
}

fn combo_step_value(combo: &str, step: &str) -> String {
    format!("{combo}\t{step}")
}

fn floor_to(t: i64, step: i64) -> i64 {
    t.div_euclid(step) * step
}

fn ceil_to(t: i64, step: i64) -> i64 {
    floor_to(t, step) + if t.rem_euclid(step) == 0 { 0 } else { step }
}

/// `''` (how `request_stats` stores "none") and NULL are both "no group".
fn group_of(r: &SqliteRow) -> Result<Option<String>> {
    Ok(r.try_get::<Option<String>, _>("grp")?
        .filter(|s| !s.is_empty()))
}

/// Sums of the log rows in `[since, until)` matching optional key and combo-step filters, per
/// group.
async fn log_sums(
    store: &Store,
    group: GroupBy,
    since: i64,
    until: i64,
    api_key_id: Option<&str>,
    combo_step: Option<(&str, &str)>,
) -> Result<Vec<(Option<String>, Agg)>> {
    let db = store.log_db.clone();
    let key = api_key_id.map(str::to_string);
    let step = combo_step.map(|(combo, step)| {
        let (provider, model) = step.split_once('/').unwrap_or((step, ""));
        (combo.to_string(), provider.to_string(), model.to_string())
    });
    blocking(move || {
        let mut sums: BTreeMap<Option<String>, Agg> = BTreeMap::new();
        db.scan(None, Some(since), Some(until), |r| {
            let keep = key.as_deref().is_none_or(|k| r.api_key_id() == Some(k))
                && step.as_ref().is_none_or(|(c, p, m)| {
                    r.combo() == Some(c.as_str())
                        && r.provider() == Some(p.as_str())
                        && r.upstream_model() == Some(m.as_str())
                });
            if keep {
                let g = group.value_of(r).map(str::to_string);
                sums.entry(g).or_default().add_ref(r);
            }
            true
        })?;
        Ok(sums.into_iter().collect())
    })
    .await
}

/// Sums of `request_stats` for `dim` (and `value` when given) over the hours
/// `since <= hour_ms < until`, per value.
async fn stat_sums(
    store: &Store,
    dim: &str,
    value: Option<&str>,
    since: i64,
    until: i64,
) -> Result<Vec<(Option<String>, Agg)>> {
    let mut qb = QueryBuilder::<Sqlite>::new(format!(
        "SELECT value AS grp, {AGG_STATS} FROM request_stats WHERE dim = "
    ));
    qb.push_bind(dim.to_string())
        .push(" AND hour_ms >= ")
        .push_bind(since)
        .push(" AND hour_ms < ")
        .push_bind(until);
    if let Some(v) = value {
        qb.push(" AND value = ").push_bind(v.to_string());
    }
    qb.push(" GROUP BY value");
    qb.build()
        .fetch_all(&store.pool)
        .await?
        .iter()
        .map(|r| Ok((group_of(r)?, Agg::from_row(r)?)))
        .collect()
}

impl Store {
    /// Requests, errors, tokens, cost and latency per bucket and group, ordered by bucket then
    /// group (`None` first). Hour and day buckets come from the hourly aggregates, minute
    /// buckets from the log rows.
    pub async fn analytics(&self, q: &AnalyticsQuery) -> Result<Vec<AnalyticsRow>> {
        let width = q.bucket.millis();
        let since = floor_to(q.since_ms, width);
        let until = ceil_to(q.until_ms, width);
        if until <= since {
            return Ok(Vec::new());
        }
        if q.bucket == Bucket::Minute {
            let db = self.log_db.clone();
            let group = q.group_by;
            return blocking(move || {
                let mut sums: BTreeMap<(i64, Option<String>), Agg> = BTreeMap::new();
                db.scan(None, Some(since), Some(until), |r| {
                    let bucket = floor_to(r.ts, width);
                    let g = group.value_of(r).map(str::to_string);
                    sums.entry((bucket, g)).or_default().add_ref(r);
                    true
                })?;
                Ok(sums
                    .into_iter()
                    .map(|((bucket, g), a)| a.row(bucket, g))
                    .collect())
            })
            .await;
        }
        let sql = format!(
            "SELECT (hour_ms / $3) * $3 AS bucket, value AS grp, {AGG_STATS} FROM request_stats \
             WHERE hour_ms >= $1 AND hour_ms < $2 AND dim = $4 GROUP BY 1, 2 ORDER BY 1, 2"
        );
        sqlx::query(&sql)
            .bind(since)
            .bind(until)
            .bind(width)
            .bind(q.group_by.dim())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(Agg::from_row(r)?.row(r.try_get("bucket")?, group_of(r)?)))
            .collect()
    }

    /// Requests, tokens, cost and last use per gateway key since `since_ms` (`None`: requests
    /// made without a key), most requests first. Whole hours come from the hourly aggregates,
    /// the part before the first whole hour from the log.
    pub async fn usage_by_key(&self, since_ms: i64) -> Result<Vec<KeyUsage>> {
        let hour = ceil_to(since_ms, HOUR_MS);
        let mut parts = stat_sums(self, DIM_API_KEY, None, hour, i64::MAX).await?;
        if since_ms < hour {
            parts.extend(log_sums(self, GroupBy::ApiKey, since_ms, hour, None, None).await?);
        }
        let mut per_key: BTreeMap<Option<String>, Agg> = BTreeMap::new();
        for (key, a) in parts {
            per_key.entry(key).or_default().merge(&a);
        }
        let mut out: Vec<KeyUsage> = per_key
            .into_iter()
            .map(|(api_key_id, a)| KeyUsage {
                api_key_id,
                requests: a.requests,
                input_tokens: a.input_tokens,
                output_tokens: a.output_tokens,
                cost_usd: a.cost_usd,
                last_used_ms: a.last_ts,
            })
            .collect();
        out.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then_with(|| a.api_key_id.cmp(&b.api_key_id))
        });
        Ok(out)
    }

    /// Total cost in USD since `since_ms`, of one gateway key and/or of one combo step:
    /// `(combo name, "provider/model")` with the provider id and upstream model id as logged.
    /// `None` for both = every request. Read from the hourly aggregates (so it counts requests
    /// whose rows were pruned) and the log before the first whole hour; with both a key and a
    /// step, from the log rows alone.
    pub async fn spend(
        &self,
        api_key_id: Option<&str>,
        combo_step: Option<(&str, &str)>,
        since_ms: i64,
    ) -> Result<f64> {
        let stats_value = match (api_key_id, combo_step) {
            (None, None) => Some((DIM_TOTAL, String::new())),
            (Some(key), None) => Some((DIM_API_KEY, key.to_string())),
            (None, Some((combo, step))) => Some((DIM_COMBO_STEP, combo_step_value(combo, step))),
            (Some(_), Some(_)) => None,
        };
        let hour = match stats_value {
            Some(_) => ceil_to(since_ms, HOUR_MS),
            None => i64::MAX,
        };
        let mut total = 0.0;
        if let Some((dim, value)) = &stats_value {
            for (_, a) in stat_sums(self, dim, Some(value), hour, i64::MAX).await? {
                total += a.cost_usd;
            }
        }
        if since_ms < hour {
            for (_, a) in
                log_sums(self, GroupBy::None, since_ms, hour, api_key_id, combo_step).await?
            {
                total += a.cost_usd;
            }
        }
        Ok(total)
    }
}
