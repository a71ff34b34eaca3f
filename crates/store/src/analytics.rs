//! Analytics over the request log: requests, errors, tokens, cost and latency per time bucket
//! and group, usage per gateway key, and spend (to seed live budget counters).
//!
//! Scanning and sorting a million log rows takes seconds in SQLite (measured by
//! `examples/analytics_bench.rs`: ~2 s for 30 days by day and provider, 1.4 s with a covering
//! index), so the log is also aggregated as it is written: `request_stats` holds one row per
//! hour and dimension value (total, provider, model, gateway key, combo, connection, combo step),
//! upserted in the same transaction as the batch of rows. Hour and day buckets, usage and spend
//! read it (`GROUP BY hour_ms / bucket_ms` over a few thousand rows); minute buckets, and the
//! part of a usage or spend window before its first whole hour, read the log itself
//! (`GROUP BY ts / bucket_ms` on the `ts` index). The aggregates outlive log retention (they
//! have their own, `Retention::stats_max_age_ms`): analytics and budgets still see requests
//! whose rows were pruned. Percentiles are not kept (only sums and counts merge across hours);
//! live p50/p95/p99 come from the server's in-memory telemetry.
//! Times are epoch milliseconds; buckets are aligned on UTC.

use crate::logs::RequestLog;
use crate::{Result, Store};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
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
    /// The SQL expression of the group in the log (`NULL` for no grouping).
    fn column(self) -> &'static str {
        match self {
            GroupBy::None => "NULL",
            GroupBy::Provider => "provider",
            GroupBy::Model => "COALESCE(upstream_model, model)",
            GroupBy::ApiKey => "api_key_id",
            GroupBy::Combo => "combo",
            GroupBy::Connection => "connection_id",
        }
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
    requests: i64,
    errors: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    reasoning_tokens: i64,
    cost_usd: f64,
    latency_sum: i64,
    ttft_sum: i64,
    ttft_count: i64,
    last_ts: i64,
}

impl Agg {
    fn add_row(&mut self, r: &RequestLog) {
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

    /// From a row selected with [`AGG_LOG`] or [`AGG_STATS`].
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

/// The aggregates of log rows, named as [`Agg::from_row`] reads them.
const AGG_LOG: &str = "COUNT(*) AS requests, COUNT(CASE WHEN status >= 400 THEN 1 END) AS errors, \
     COALESCE(SUM(input_tokens), 0) AS input_tokens, COALESCE(SUM(output_tokens), 0) AS output_tokens, \
     COALESCE(SUM(cached_tokens), 0) AS cached_tokens, COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens, \
     COALESCE(SUM(cost_usd), 0.0) AS cost_usd, COALESCE(SUM(latency_ms), 0) AS latency_sum, \
     COALESCE(SUM(ttfb_ms), 0) AS ttft_sum, COUNT(ttfb_ms) AS ttft_count, COALESCE(MAX(ts), 0) AS last_ts";

/// The same over `request_stats` rows.
const AGG_STATS: &str = "SUM(requests) AS requests, SUM(errors) AS errors, \
     SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, \
     SUM(cached_tokens) AS cached_tokens, SUM(reasoning_tokens) AS reasoning_tokens, \
     SUM(cost_usd) AS cost_usd, SUM(latency_sum) AS latency_sum, \
     SUM(ttft_sum) AS ttft_sum, SUM(ttft_count) AS ttft_count, MAX(last_ts) AS last_ts";

/// A `request_stats` key: (dimension, hour, value).
pub(crate) type StatKey<'a> = (&'static str, i64, Cow<'a, str>);

/// The hourly aggregates of a batch of rows, per (dimension, hour, value).
pub(crate) fn stats_of(rows: &[RequestLog]) -> HashMap<StatKey<'_>, Agg> {
    fn text(s: &Option<String>) -> Cow<'_, str> {
        Cow::Borrowed(s.as_deref().unwrap_or(""))
    }
    let mut out: HashMap<StatKey<'_>, Agg> = HashMap::with_capacity(64);
    for r in rows {
        let hour = r.ts.div_euclid(HOUR_MS) * HOUR_MS;
        let model = if r.upstream_model.is_some() {
            &r.upstream_model
        } else {
            &r.model
        };
        let keys = [
            (DIM_TOTAL, Cow::Borrowed("")),
            (DIM_PROVIDER, text(&r.provider)),
            (DIM_MODEL, text(model)),
            (DIM_API_KEY, text(&r.api_key_id)),
            (DIM_COMBO, text(&r.combo)),
            (DIM_CONNECTION, text(&r.connection_id)),
        ];
        for (dim, value) in keys {
            out.entry((dim, hour, value)).or_default().add_row(r);
        }
        if let (Some(combo), Some(provider), Some(model)) =
            (&r.combo, &r.provider, &r.upstream_model)
        {
            let value = combo_step_value(combo, &format!("{provider}/{model}"));
            out.entry((DIM_COMBO_STEP, hour, Cow::Owned(value)))
                .or_default()
                .add_row(r);
        }
    }
    out
}

fn combo_step_value(combo: &str, step: &str) -> String {
    format!("{combo}\t{step}")
}

/// Add a batch's aggregates to `request_stats` (inside the batch's transaction): multi-row
/// upserts of 32, 8 and 1 rows (three cached statements; a batch has ~10-100 keys).
pub(crate) async fn write_stats(
    conn: &mut SqliteConnection,
    stats: &HashMap<StatKey<'_>, Agg>,
) -> Result<()> {
    let entries: Vec<_> = stats.iter().collect();
    let mut rest = &entries[..];
    let mut chunks = Vec::new();
    for size in [32, 8, 1] {
        while rest.len() >= size {
            let (chunk, tail) = rest.split_at(size);
            chunks.push(chunk);
            rest = tail;
        }
    }
    for chunk in chunks {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO request_stats (dim, value, hour_ms, requests, errors, input_tokens, output_tokens, \
             cached_tokens, reasoning_tokens, cost_usd, latency_sum, ttft_sum, ttft_count, last_ts) ",
        );
        qb.push_values(chunk, |mut b, ((dim, hour, value), a)| {
            b.push_bind(*dim)
                .push_bind(value.as_ref())
                .push_bind(*hour)
                .push_bind(a.requests)
                .push_bind(a.errors)
                .push_bind(a.input_tokens)
                .push_bind(a.output_tokens)
                .push_bind(a.cached_tokens)
                .push_bind(a.reasoning_tokens)
                .push_bind(a.cost_usd)
                .push_bind(a.latency_sum)
                .push_bind(a.ttft_sum)
                .push_bind(a.ttft_count)
                .push_bind(a.last_ts);
        });
        qb.push(
            " ON CONFLICT (dim, hour_ms, value) DO UPDATE SET requests = request_stats.requests + excluded.requests, \
             errors = request_stats.errors + excluded.errors, \
             input_tokens = request_stats.input_tokens + excluded.input_tokens, \
             output_tokens = request_stats.output_tokens + excluded.output_tokens, \
             cached_tokens = request_stats.cached_tokens + excluded.cached_tokens, \
             reasoning_tokens = request_stats.reasoning_tokens + excluded.reasoning_tokens, \
             cost_usd = request_stats.cost_usd + excluded.cost_usd, \
             latency_sum = request_stats.latency_sum + excluded.latency_sum, \
             ttft_sum = request_stats.ttft_sum + excluded.ttft_sum, \
             ttft_count = request_stats.ttft_count + excluded.ttft_count, \
             last_ts = CASE WHEN excluded.last_ts > request_stats.last_ts THEN excluded.last_ts ELSE request_stats.last_ts END",
        );
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
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
/// group expression (`group` SQL, selected as `grp`).
async fn log_sums(
    store: &Store,
    group: &str,
    since: i64,
    until: i64,
    api_key_id: Option<&str>,
    combo_step: Option<(&str, &str)>,
) -> Result<Vec<(Option<String>, Agg)>> {
    let mut qb = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {group} AS grp, {AGG_LOG} FROM request_logs WHERE ts >= "
    ));
    qb.push_bind(since).push(" AND ts < ").push_bind(until);
    if let Some(key) = api_key_id {
        qb.push(" AND api_key_id = ").push_bind(key.to_string());
    }
    if let Some((combo, step)) = combo_step {
        let (provider, model) = step.split_once('/').unwrap_or((step, ""));
        qb.push(" AND combo = ")
            .push_bind(combo.to_string())
            .push(" AND provider = ")
            .push_bind(provider.to_string())
            .push(" AND upstream_model = ")
            .push_bind(model.to_string());
    }
    qb.push(" GROUP BY 1");
    qb.build()
        .fetch_all(&store.pool)
        .await?
        .iter()
        .map(|r| Ok((group_of(r)?, Agg::from_row(r)?)))
        .collect()
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
        let (sql, dim) = match q.bucket {
            Bucket::Minute => (
                format!(
                    "SELECT (ts / $3) * $3 AS bucket, {g} AS grp, {AGG_LOG} FROM request_logs \
                     WHERE ts >= $1 AND ts < $2 GROUP BY 1, 2 ORDER BY 1, 2",
                    g = q.group_by.column()
                ),
                None,
            ),
            Bucket::Hour | Bucket::Day => (
                format!(
                    "SELECT (hour_ms / $3) * $3 AS bucket, value AS grp, {AGG_STATS} FROM request_stats \
                     WHERE hour_ms >= $1 AND hour_ms < $2 AND dim = $4 GROUP BY 1, 2 ORDER BY 1, 2"
                ),
                Some(q.group_by.dim()),
            ),
        };
        let mut query = sqlx::query(&sql).bind(since).bind(until).bind(width);
        if let Some(dim) = dim {
            query = query.bind(dim);
        }
        query
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
            parts.extend(log_sums(self, "api_key_id", since_ms, hour, None, None).await?);
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
            for (_, a) in log_sums(self, "NULL", since_ms, hour, api_key_id, combo_step).await? {
                total += a.cost_usd;
            }
        }
        Ok(total)
    }
}
