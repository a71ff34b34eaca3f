//! Spending budgets, tracked live: per gateway key (a key over budget is refused with a 429 in
//! the client's format until the period resets) and per combo step (a step over budget is
//! skipped, so the request falls to the next tier). Periods are calendar UTC days, ISO weeks
//! (from Monday) and months. Spend is seeded from the request log's aggregates when budgets are
//! loaded and then counted in memory from each request's cost; nothing on the request path
//! touches the store.

use omniroute_store::{Budget as StoredBudget, Store, StoreError};
use serde::Serialize;
use std::sync::{Arc, Mutex, RwLock};

const DAY_MS: i64 = 86_400_000;

/// A budget period.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" | "daily" => Some(Period::Day),
            "week" | "weekly" => Some(Period::Week),
            "month" | "monthly" => Some(Period::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// Start of the period containing `now` and start of the next one (epoch ms, UTC).
    pub fn bounds(self, now: i64) -> (i64, i64) {
        let day = now.div_euclid(DAY_MS);
        match self {
            Period::Day => (day * DAY_MS, (day + 1) * DAY_MS),
            Period::Week => {
                // 1970-01-01 was a Thursday: Monday-based weeks start 3 days "before" it
                let monday = day - (day + 3).rem_euclid(7);
                (monday * DAY_MS, (monday + 7) * DAY_MS)
            }
            Period::Month => {
                let (y, m, _) = civil_from_days(day);
                let start = days_from_civil(y, m, 1);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (start * DAY_MS, days_from_civil(ny, nm, 1) * DAY_MS)
            }
        }
    }
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What a budget limits.
#[derive(ts_rs::TS)]
#[ts(export)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Scope {
    /// A gateway key (by id).
    Key { key_id: String },
    /// One step of a combo: requests of `combo` served by `step` (`provider/model`).
    ComboStep { combo: String, step: String },
}

/// One live budget.
#[derive(Debug)]
pub struct Budget {
    pub id: String,
    pub scope: Scope,
    pub limit_usd: f64,
    pub period: Period,
    /// (spend in the current period, that period's start).
    spent: Mutex<(f64, i64)>,
}

impl Budget {
    /// Spend in the period containing `now` (a new period starts at zero).
    pub fn spent(&self, now: i64) -> f64 {
        let (start, _) = self.period.bounds(now);
        let mut s = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        if s.1 != start {
            *s = (0.0, start);
        }
        s.0
    }

    fn add(&self, cost: f64, now: i64) {
        let (start, _) = self.period.bounds(now);
        let mut s = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        if s.1 != start {
            *s = (0.0, start);
        }
        s.0 += cost;
    }

    /// Over budget at `now`: the moment it resets.
    pub fn exceeded(&self, now: i64) -> Option<i64> {
        (self.spent(now) >= self.limit_usd).then(|| self.period.bounds(now).1)
    }

    /// The API view.
    pub fn view(&self, now: i64) -> crate::views::BudgetView {
        let (start, reset) = self.period.bounds(now);
        let spent = self.spent(now);
        crate::views::BudgetView {
            id: self.id.clone(),
            scope: self.scope.clone(),
            limit_usd: self.limit_usd,
            period: self.period,
            spent_usd: spent,
            remaining_usd: (self.limit_usd - spent).max(0.0),
            period_start_ms: start,
            resets_at_ms: reset,
            exceeded: spent >= self.limit_usd,
        }
    }
}

/// Every budget; swapped whole when budgets change.
#[derive(Debug, Default)]
pub struct Budgets {
    list: RwLock<Arc<Vec<Arc<Budget>>>>,
}

impl Budgets {
    fn all(&self) -> Arc<Vec<Arc<Budget>>> {
        self.list.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn list(&self) -> Vec<Arc<Budget>> {
        self.all().to_vec()
    }

    /// (Re)load from the store, seeding each budget's spend in its current period from the
    /// request log's aggregates. Spend counted live since the last load is kept when larger.
    pub async fn load(&self, store: &Store) -> Result<(), StoreError> {
        let now = omniroute_store::now_ms();
        let old = self.all();
        let mut next = Vec::new();
        for b in store.list_budgets().await? {
            let Some(period) = Period::parse(&b.period) else {
                continue;
            };
            let scope = match (&b.key_id, &b.combo, &b.step) {
                (Some(k), _, _) => Scope::Key { key_id: k.clone() },
                (None, Some(c), Some(s)) => Scope::ComboStep {
                    combo: c.clone(),
                    step: s.clone(),
                },
                _ => continue,
            };
            let (start, _) = period.bounds(now);
            let seeded = match &scope {
                Scope::Key { key_id } => store.spend(Some(key_id), None, start).await?,
                Scope::ComboStep { combo, step } => {
                    store.spend(None, Some((combo, step)), start).await?
                }
            };
            let live = old
                .iter()
                .find(|o| o.scope == scope && o.period == period)
                .map(|o| o.spent(now))
                .unwrap_or(0.0);
            next.push(Arc::new(Budget {
                id: b.id,
                scope,
                limit_usd: b.limit_usd,
                period,
                spent: Mutex::new((seeded.max(live), start)),
            }));
        }
        *self.list.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        Ok(())
    }

    /// The key's exceeded budget, if any: (budget, reset time).
    pub fn key_exceeded(&self, key_id: &str, now: i64) -> Option<(Arc<Budget>, i64)> {
        let all = self.all();
        all.iter().find_map(|b| match &b.scope {
            Scope::Key { key_id: k } if k == key_id => b.exceeded(now).map(|r| (b.clone(), r)),
            _ => None,
        })
    }

    /// Whether a combo step is over budget.
    pub fn step_exceeded(&self, combo: &str, step: &str, now: i64) -> bool {
        let all = self.all();
        all.iter().any(|b| match &b.scope {
            Scope::ComboStep { combo: c, step: s } => {
                c == combo && s == step && b.exceeded(now).is_some()
            }
            _ => false,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.all().is_empty()
    }

    /// Count a finished request's cost against the budgets it falls under.
    pub fn charge(&self, key_id: Option<&str>, combo: Option<&str>, step: &str, cost: f64) {
        if cost <= 0.0 {
            return;
        }
        let all = self.all();
        if all.is_empty() {
            return;
        }
        let now = omniroute_store::now_ms();
        for b in all.iter() {
            let hit = match &b.scope {
                Scope::Key { key_id: k } => Some(k.as_str()) == key_id,
                Scope::ComboStep { combo: c, step: s } => Some(c.as_str()) == combo && s == step,
            };
            if hit {
                b.add(cost, now);
            }
        }
    }
}

/// A budget as stored (re-exported for the API).
pub type Stored = StoredBudget;

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i64, m: i64, d: i64) -> i64 {
        days_from_civil(y, m, d) * DAY_MS
    }

    #[test]
    fn calendar_periods() {
        let now = ms(2026, 11, 22) + 5 * 3_600_000; // a Sunday, 05:00 UTC
        assert_eq!(
            Period::Day.bounds(now),
            (ms(2026, 11, 22), ms(2026, 11, 23))
        );
        assert_eq!(
            Period::Week.bounds(now),
            (ms(2026, 11, 16), ms(2026, 11, 23)),
            "Monday to Monday"
        );
        assert_eq!(
            Period::Month.bounds(now),
            (ms(2026, 11, 1), ms(2026, 12, 1))
        );
        assert_eq!(
            Period::Month.bounds(ms(2026, 12, 31)),
            (ms(2026, 12, 1), ms(2027, 1, 1))
        );
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(Period::parse("Monthly"), Some(Period::Month));
        assert_eq!(Period::parse("hourly"), None);
    }

    #[test]
    fn spend_resets_with_the_period_and_charges_match_scope() {
        let b = Budget {
            id: "b".into(),
            scope: Scope::Key { key_id: "k".into() },
            limit_usd: 1.0,
            period: Period::Day,
            spent: Mutex::new((0.0, 0)),
        };
        let t = ms(2026, 11, 22);
        b.add(0.6, t);
        assert!(b.exceeded(t).is_none());
        b.add(0.5, t + 1000);
        assert_eq!(b.exceeded(t + 2000), Some(ms(2026, 11, 23)));
        assert!(
            b.exceeded(ms(2026, 11, 23) + 1).is_none(),
            "a new day starts at zero"
        );
        let all = Budgets::default();
        *all.list.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(vec![
            Arc::new(b),
            Arc::new(Budget {
                id: "s".into(),
                scope: Scope::ComboStep {
                    combo: "c".into(),
                    step: "p/m".into(),
                },
                limit_usd: 0.1,
                period: Period::Month,
                spent: Mutex::new((0.0, 0)),
            }),
        ]);
        all.charge(None, Some("c"), "p/m", 0.2);
        let now = omniroute_store::now_ms();
        assert!(all.step_exceeded("c", "p/m", now));
        assert!(!all.step_exceeded("c", "p/other", now));
        all.charge(Some("other-key"), None, "p/m", 5.0);
        assert!(all.key_exceeded("k", now).is_none());
        all.charge(Some("k"), None, "p/m", 5.0);
        assert!(all.key_exceeded("k", now).is_some());
    }
}
