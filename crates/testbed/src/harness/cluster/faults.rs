//! Fault injection for the reliability suites: per verb and resource, an error status,
//! added latency or a dropped connection, on an exact share of the matching requests (the
//! places picked by a seeded RNG, so a run is reproducible for a given seed and request
//! order); and the log of what each request got, from which a test tells whether every
//! injected fault was retried or reported ([`unaccounted`]).
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultConfig {
    pub seed: u64,
    pub rules: Vec<FaultRule>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// RBAC verbs (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`); empty = all.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Resources, optionally with a subresource (`deployments`, `deployments/scale`,
    /// `pods/eviction`); `*` or empty = all.
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    /// The share in [0, 1] of the matching requests that get the fault, exactly: they are
    /// taken in windows of the smallest size `w` for which `w × rate` is whole (5 for 0.2),
    /// and `w × rate` of each window, at places the seeded RNG picks, get it.
    #[serde(default = "one")]
    pub rate: f64,
    /// Fire at most this many times.
    #[serde(default)]
    pub max_count: Option<u64>,
    pub action: FaultAction,
}

fn one() -> f64 {
    1.0
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FaultAction {
    /// Answer with this HTTP status as a `Status` (429 carries `Retry-After: 1`).
    Error {
        code: u16,
        #[serde(default)]
        message: Option<String>,
    },
    /// Delay the request, then serve it.
    Latency { ms: u64 },
    /// Close the connection without an answer.
    Drop,
    /// Each of these in turn, one per firing.
    Each { actions: Vec<FaultAction> },
}

impl FaultAction {
    /// How the log names it: the status code, `latency` or `drop`.
    fn name(&self) -> String {
        match self {
            FaultAction::Error { code, .. } => code.to_string(),
            FaultAction::Latency { .. } => "latency".into(),
            FaultAction::Drop => "drop".into(),
            FaultAction::Each { .. } => "each".into(),
        }
    }
}

impl FaultConfig {
    /// The reliability suite's mix: exactly one request in five fails (in each five, the
    /// one the seed picks), answered 500, 429 or dropped, in turn — 20 % in all.
    pub fn twenty_percent(seed: u64) -> FaultConfig {
        let error = |code| FaultAction::Error {
            code,
            message: None,
        };
        let each = FaultAction::Each {
            actions: vec![error(500), error(429), FaultAction::Drop],
        };
        FaultConfig {
            seed,
            rules: vec![FaultRule::new(each).rate(0.2)],
        }
    }
}

impl FaultRule {
    pub fn new(action: FaultAction) -> Self {
        FaultRule {
            verbs: Vec::new(),
            resources: Vec::new(),
            namespace: None,
            rate: 1.0,
            max_count: None,
            action,
        }
    }
    pub fn verbs(mut self, v: &[&str]) -> Self {
        self.verbs = v.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn resources(mut self, r: &[&str]) -> Self {
        self.resources = r.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn rate(mut self, r: f64) -> Self {
        self.rate = r;
        self
    }
    pub fn max_count(mut self, n: u64) -> Self {
        self.max_count = Some(n);
        self
    }

    fn matches(&self, verb: &str, resource: &str, ns: Option<&str>) -> bool {
        selects(
            (&self.verbs, &self.resources, self.namespace.as_deref()),
            (verb, resource, ns),
        )
    }
}

/// Whether a selection of (verbs, resources, namespace), each empty or `None` for all,
/// takes a request (verb, resource, namespace). A resource without a subresource
/// (`deployments`) does not take the subresources (`deployments/scale`).
pub(crate) fn selects(
    (verbs, resources, namespace): (&[String], &[String], Option<&str>),
    (verb, resource, ns): (&str, &str, Option<&str>),
) -> bool {
    let base = resource.split('/').next().unwrap_or(resource);
    (verbs.is_empty() || verbs.iter().any(|v| v == verb || v == "*"))
        && (resources.is_empty()
            || resources
                .iter()
                .any(|r| r == "*" || r == resource || (r == base && !resource.contains('/'))))
        && namespace.is_none_or(|n| Some(n) == ns)
}

/// The smallest window in which `rate` of the requests is a whole number of them (at most
/// 1000).
fn window_of(rate: f64) -> u64 {
    (1..=1000)
        .find(|w| {
            let share = *w as f64 * rate;
            (share - share.round()).abs() < 1e-9
        })
        .unwrap_or(1000)
}

/// splitmix64: deterministic for a seed, which is all fault injection needs; not for
/// anything secret.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// `k` distinct places in `0..n`, in no order (a partial Fisher-Yates shuffle).
    fn places(&mut self, n: u64, k: u64) -> Vec<u64> {
        let mut all: Vec<u64> = (0..n).collect();
        for i in 0..k.min(n) as usize {
            let j = i + (self.next_u64() % (n - i as u64)) as usize;
            all.swap(i, j);
        }
        all.truncate(k as usize);
        all
    }
}

/// One request the faults looked at, and what it got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Served {
    /// The operation: `<verb> <resource>` (`patch deployments/scale`) at the cluster's
    /// front, the AWS operation (`RunInstances`) at the moto gateway.
    pub operation: String,
    /// The fault injected (`500`, `429`, `drop`, `latency` at the front; the error code,
    /// `drop` or `delay` at the gateway), if any.
    pub fault: Option<String>,
    /// The status it was answered with: 0 when the connection was dropped, `None` while
    /// unanswered.
    pub status: Option<u16>,
}

impl Served {
    /// A fault that kept the request from being served (a delay does not).
    fn failed_by_fault(&self) -> bool {
        self.fault
            .as_deref()
            .is_some_and(|f| f != "latency" && f != "delay")
    }

    /// Served by the real server, and not with a failure a caller retries (5xx, 429).
    fn went_through(&self) -> bool {
        !self.failed_by_fault() && self.status.is_some_and(|s| s != 0 && s != 429 && s < 500)
    }
}

/// The faults injected during one invocation (its requests' `log`, in arrival order) that
/// were swallowed: neither retried (a later request of the same operation went through)
/// nor reported (`reported`: the invocation failed, or its answer reports errors).
pub fn unaccounted(log: &[Served], reported: bool) -> Vec<&Served> {
    if reported {
        return Vec::new();
    }
    log.iter()
        .enumerate()
        .filter(|(_, s)| s.failed_by_fault())
        .filter(|(i, s)| {
            !log[i + 1..]
                .iter()
                .any(|later| later.operation == s.operation && later.went_through())
        })
        .map(|(_, s)| s)
        .collect()
}

/// What to do with one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    pub latency: Duration,
    pub error: Option<(u16, Option<String>)>,
    pub drop: bool,
    /// Its place in the log, for [`Faults::answered`] (`None` when no rules are set).
    pub logged: Option<usize>,
}

#[derive(Debug, Default)]
pub struct Faults {
    config: FaultConfig,
    rng: Option<Rng>,
    fired: Vec<u64>,
    /// Per rule: matching requests seen, and the places picked in the current window.
    seen: Vec<u64>,
    picked: Vec<Vec<u64>>,
    log: Vec<Served>,
    /// While paused, requests pass untouched and unlogged, and the windows wait.
    paused: bool,
}

impl Faults {
    pub fn set(&mut self, config: FaultConfig) {
        self.rng = Some(Rng::new(config.seed));
        self.fired = vec![0; config.rules.len()];
        self.seen = vec![0; config.rules.len()];
        self.picked = vec![Vec::new(); config.rules.len()];
        self.log.clear();
        self.paused = false;
        self.config = config;
    }

    /// Pauses the rules (`true`) or resumes them where they were: a test's own calls
    /// between two invocations under faults neither get faults nor shift the windows, so
    /// the share stays exact across the invocations.
    pub fn pause(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// How many times each rule fired, in rule order.
    pub fn fired(&self) -> &[u64] {
        &self.fired
    }

    /// Every request looked at since the rules were set, in arrival order.
    pub fn log(&self) -> &[Served] {
        &self.log
    }

    /// Records the status request `logged` (from its [`Decision`]) was answered with.
    pub fn answered(&mut self, logged: Option<usize>, status: u16) {
        if let Some(entry) = logged.and_then(|i| self.log.get_mut(i)) {
            entry.status = Some(status);
        }
    }

    /// Whether rule `i`'s next matching request is one its rate picks.
    fn selected(&mut self, i: usize) -> bool {
        let Some(rng) = self.rng.as_mut() else {
            return false;
        };
        let rate = self.config.rules[i].rate.clamp(0.0, 1.0);
        let window = window_of(rate);
        let n = self.seen[i];
        self.seen[i] += 1;
        if n.is_multiple_of(window) {
            self.picked[i] = rng.places(window, (window as f64 * rate).round() as u64);
        }
        self.picked[i].contains(&(n % window))
    }

    /// `resource` is `deployments` or `deployments/scale`. Every matching rule counts the
    /// request; latencies add up, the first error or drop wins.
    pub fn decide(&mut self, verb: &str, resource: &str, ns: Option<&str>) -> Decision {
        let mut d = Decision::default();
        if self.config.rules.is_empty() || self.paused {
            return d;
        }
        let mut fault = None;
        for i in 0..self.config.rules.len() {
            let rule = &self.config.rules[i];
            if !rule.matches(verb, resource, ns)
                || rule.max_count.is_some_and(|m| self.fired[i] >= m)
                || !self.selected(i)
            {
                continue;
            }
            let action = match &self.config.rules[i].action {
                FaultAction::Each { actions } if !actions.is_empty() => {
                    &actions[(self.fired[i] % actions.len() as u64) as usize]
                }
                action => action,
            };
            match action {
                FaultAction::Latency { ms } => d.latency += Duration::from_millis(*ms),
                FaultAction::Error { code, message } if d.error.is_none() && !d.drop => {
                    d.error = Some((*code, message.clone()))
                }
                FaultAction::Drop if d.error.is_none() => d.drop = true,
                _ => continue,
            }
            fault.get_or_insert(action.name());
            self.fired[i] += 1;
        }
        if d.drop || d.error.is_some() {
            // What reached the caller: the error or the drop, not a latency before it.
            fault = Some(match &d.error {
                Some((code, _)) => code.to_string(),
                None => "drop".into(),
            });
        }
        self.log.push(Served {
            operation: format!("{verb} {resource}"),
            fault,
            status: d.drop.then_some(0),
        });
        d.logged = Some(self.log.len() - 1);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_deterministic_and_exact() {
        let cfg = FaultConfig {
            seed: 7,
            rules: vec![
                FaultRule::new(FaultAction::Error {
                    code: 500,
                    message: None,
                })
                .verbs(&["get"])
                .rate(0.3),
            ],
        };
        let run = || {
            let mut f = Faults::default();
            f.set(cfg.clone());
            (0..1000)
                .filter(|_| f.decide("get", "pods", None).error.is_some())
                .count()
        };
        let n = run();
        assert_eq!(n, run(), "same seed, same faults");
        assert_eq!(n, 300, "exactly 3 in every 10");
        let mut f = Faults::default();
        f.set(cfg);
        let other = f.decide("list", "pods", None);
        assert!(other.error.is_none() && !other.drop, "{other:?}");
    }

    #[test]
    fn subresources_and_counts() {
        let mut f = Faults::default();
        f.set(FaultConfig {
            seed: 1,
            rules: vec![
                FaultRule::new(FaultAction::Drop)
                    .resources(&["deployments/scale"])
                    .max_count(1),
            ],
        });
        assert!(!f.decide("patch", "deployments", None).drop);
        assert!(f.decide("patch", "deployments/scale", None).drop);
        assert!(
            !f.decide("patch", "deployments/scale", None).drop,
            "max_count"
        );
    }

    #[test]
    fn twenty_percent_is_one_in_each_five_in_turn_and_logged() {
        let mut f = Faults::default();
        f.set(FaultConfig::twenty_percent(3));
        let mut kinds = Vec::new();
        for window in 0..20 {
            let decided: Vec<Decision> = (0..5).map(|_| f.decide("get", "pods", None)).collect();
            let hit: Vec<&Decision> = decided
                .iter()
                .filter(|d| d.drop || d.error.is_some())
                .collect();
            assert_eq!(hit.len(), 1, "window {window}: {decided:?}");
            kinds.push(hit[0].error.as_ref().map_or(0, |e| e.0));
        }
        assert_eq!(f.fired(), [20]);
        assert_eq!(&kinds[..3], [500, 429, 0], "500, 429, drop in turn");
        assert_eq!(f.log().len(), 100);
        assert_eq!(f.log().iter().filter(|s| s.fault.is_some()).count(), 20);
    }

    #[test]
    fn paused_rules_let_requests_pass_and_keep_their_windows() {
        let mut f = Faults::default();
        f.set(FaultConfig::twenty_percent(5));
        let mut hits = 0;
        for i in 0..50 {
            f.pause(i % 2 == 1);
            let d = f.decide("get", "pods", None);
            hits += usize::from(d.drop || d.error.is_some());
        }
        assert_eq!(hits, 5, "25 requests looked at: exactly 5 faults");
        assert_eq!(f.log().len(), 25, "paused requests are not logged");
    }

    #[test]
    fn a_fault_is_accounted_for_by_a_later_success_of_its_operation_or_a_report() {
        let served = |op: &str, fault: Option<&str>, status| Served {
            operation: op.into(),
            fault: fault.map(str::to_owned),
            status: Some(status),
        };
        let log = vec![
            served("get pods", Some("500"), 500),
            served("patch deployments/scale", Some("drop"), 0),
            served("get pods", None, 200),
            served("patch deployments/scale", None, 503),
        ];
        let swallowed = unaccounted(&log, false);
        assert_eq!(swallowed, [&log[1]], "the scale patch never went through");
        assert!(unaccounted(&log, true).is_empty(), "reported");
        let delayed = [served("get pods", Some("latency"), 200)];
        assert!(
            unaccounted(&delayed, false).is_empty(),
            "a delay is no failure"
        );
    }
}
