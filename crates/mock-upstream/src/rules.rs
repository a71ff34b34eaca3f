//! Server-side scripting rules (`/__mock/rules`) and request counters (`/__mock/stats`).

use std::collections::BTreeMap;

use crate::script::Script;

/// A directive script applied to matching requests without the request carrying it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MockRule {
    /// Directives, as in `x-mock` (`status=429;retry-after=2`).
    pub script: String,
    /// Only requests whose credential (Bearer token, `x-api-key`,
    /// `x-goog-api-key` or `?key=`) equals this.
    pub key: Option<String>,
    /// Only requests for this model (body `model` or the Gemini URL).
    pub model: Option<String>,
    /// Apply to the next N matching requests, then expire (`None`: until removed).
    pub times: Option<u64>,
}

impl MockRule {
    /// A rule applying `script` to every request until removed.
    pub fn new(script: impl Into<String>) -> Self {
        Self {
            script: script.into(),
            ..Self::default()
        }
    }

    /// Only requests authenticated with `key`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Only requests for `model`.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, key: Option<&str>, model: Option<&str>) -> bool {
        let ok = |want: &Option<String>, got: Option<&str>| {
            want.as_deref().is_none_or(|w| got == Some(w))
        };
        ok(&self.key, key) && ok(&self.model, model)
    }
}

/// A live rule as listed by [`crate::MockState::rules`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveRule {
    pub id: u64,
    pub rule: MockRule,
    /// Matching requests it still applies to (`None`: unlimited).
    pub remaining: Option<u64>,
}

#[derive(Debug)]
struct Stored {
    active: ActiveRule,
    script: Script,
}

/// The live rules, in insertion order.
#[derive(Debug)]
pub(crate) struct Rules {
    next_id: u64,
    list: Vec<Stored>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            next_id: 1,
            list: Vec::new(),
        }
    }
}

impl Rules {
    /// Add a rule; returns its id. A rule with `times: Some(0)` is already
    /// expired: it gets an id but is not kept.
    pub(crate) fn add(&mut self, rule: MockRule) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if rule.times != Some(0) {
            let mut script = Script::default();
            script.parse(&rule.script);
            self.list.push(Stored {
                active: ActiveRule {
                    id,
                    remaining: rule.times,
                    rule,
                },
                script,
            });
        }
        id
    }

    pub(crate) fn list(&self) -> Vec<ActiveRule> {
        self.list.iter().map(|s| s.active.clone()).collect()
    }

    /// Remove every rule; returns how many there were.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.list.len();
        self.list.clear();
        n
    }

    /// Remove one rule; false if there is no live rule with that id.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let before = self.list.len();
        self.list.retain(|s| s.active.id != id);
        self.list.len() != before
    }

    /// The script of the first live rule matching the request, consuming one
    /// of its `times` (the rule is dropped when that was the last).
    pub(crate) fn take(&mut self, key: Option<&str>, model: Option<&str>) -> Option<Script> {
        let idx = self
            .list
            .iter()
            .position(|s| s.active.rule.matches(key, model))?;
        let stored = self.list.get_mut(idx)?;
        let script = stored.script.clone();
        if let Some(left) = stored.active.remaining.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.list.remove(idx);
            }
        }
        Some(script)
    }
}

/// Request counters (every API request, `/__mock/*` and health checks excluded).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MockStats {
    pub total: u64,
    /// By credential (requests without one are only in `total`).
    pub by_key: BTreeMap<String, u64>,
    /// By model (body `model` or Gemini URL; requests without one are only in `total`).
    pub by_model: BTreeMap<String, u64>,
}

impl MockStats {
    pub(crate) fn count(&mut self, key: Option<&str>, model: Option<&str>) {
        self.total += 1;
        bump(&mut self.by_key, key);
        bump(&mut self.by_model, model);
    }
}

fn bump(map: &mut BTreeMap<String, u64>, name: Option<&str>) {
    let Some(name) = name else { return };
    match map.get_mut(name) {
        Some(n) => *n += 1,
        None => {
            map.insert(name.to_owned(), 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_live_match_and_expiry() {
        let mut rules = Rules::default();
        let a = rules.add(MockRule::new("status=429").key("sk-a").times(2));
        let b = rules.add(MockRule::new("status=500").model("m"));
        assert_eq!(rules.add(MockRule::new("x").times(0)), b + 1);
        assert_eq!(rules.list().len(), 2);
        let status = |s: Option<Script>| s.and_then(|s| s.status);
        assert_eq!(status(rules.take(Some("sk-a"), Some("m"))), Some(429));
        assert_eq!(rules.list()[0].remaining, Some(1));
        assert_eq!(status(rules.take(Some("sk-b"), Some("m"))), Some(500));
        assert_eq!(status(rules.take(Some("sk-a"), None)), Some(429));
        // `a` expired; `b` still applies to model m only.
        assert_eq!(rules.list().len(), 1);
        assert_eq!(status(rules.take(Some("sk-a"), Some("m"))), Some(500));
        assert!(rules.take(Some("sk-a"), Some("other")).is_none());
        assert!(rules.take(None, None).is_none());
        assert!(!rules.remove(a));
        assert!(rules.remove(b));
        assert_eq!(rules.clear(), 0);
    }

    #[test]
    fn stats_count() {
        let mut s = MockStats::default();
        s.count(Some("k"), Some("m"));
        s.count(Some("k"), None);
        s.count(None, Some("n"));
        assert_eq!(s.total, 3);
        assert_eq!(s.by_key.get("k"), Some(&2));
        assert_eq!(s.by_model.get("m"), Some(&1));
        assert_eq!(s.by_model.get("n"), Some(&1));
    }
}
