//! Fault injection for the reliability suites: per verb and resource, an error status,
//! added latency or a dropped connection, at a rate drawn from a seeded RNG (so a run is
//! reproducible for a given seed and request order).
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
    /// Probability in [0, 1] that a matching request gets the fault.
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
}

impl FaultConfig {
    /// The reliability suite's mix: answers 500 and 429 and dropped connections, each on
    /// 1/15 of all requests — 20 % in all.
    pub fn twenty_percent(seed: u64) -> FaultConfig {
        let rule = |action| FaultRule {
            rate: 0.2 / 3.0,
            ..FaultRule::new(action)
        };
        let error = |code| FaultAction::Error {
            code,
            message: None,
        };
        FaultConfig {
            seed,
            rules: vec![rule(error(500)), rule(error(429)), rule(FaultAction::Drop)],
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
        let base = resource.split('/').next().unwrap_or(resource);
        (self.verbs.is_empty() || self.verbs.iter().any(|v| v == verb || v == "*"))
            && (self.resources.is_empty()
                || self
                    .resources
                    .iter()
                    .any(|r| r == "*" || r == resource || (r == base && !resource.contains('/'))))
            && self.namespace.as_deref().is_none_or(|n| Some(n) == ns)
    }
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
    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What to do with one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    pub latency: Duration,
    pub error: Option<(u16, Option<String>)>,
    pub drop: bool,
}

#[derive(Debug, Default)]
pub struct Faults {
    config: FaultConfig,
    rng: Option<Rng>,
    fired: Vec<u64>,
}

impl Faults {
    pub fn set(&mut self, config: FaultConfig) {
        self.rng = Some(Rng::new(config.seed));
        self.fired = vec![0; config.rules.len()];
        self.config = config;
    }

    /// How many times each rule fired, in rule order.
    pub fn fired(&self) -> &[u64] {
        &self.fired
    }

    /// `resource` is `deployments` or `deployments/scale`. Every matching rule draws once;
    /// latencies add up, the first error or drop wins.
    pub fn decide(&mut self, verb: &str, resource: &str, ns: Option<&str>) -> Decision {
        let mut d = Decision::default();
        let Some(rng) = self.rng.as_mut() else {
            return d;
        };
        for (i, rule) in self.config.rules.iter().enumerate() {
            if !rule.matches(verb, resource, ns) {
                continue;
            }
            if rule.max_count.is_some_and(|m| self.fired[i] >= m) {
                continue;
            }
            if rng.next_f64() >= rule.rate {
                continue;
            }
            match &rule.action {
                FaultAction::Latency { ms } => d.latency += Duration::from_millis(*ms),
                FaultAction::Error { code, message } if d.error.is_none() && !d.drop => {
                    d.error = Some((*code, message.clone()))
                }
                FaultAction::Drop if d.error.is_none() => d.drop = true,
                _ => continue,
            }
            self.fired[i] += 1;
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_deterministic_and_roughly_right() {
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
        assert!((230..370).contains(&n), "{n}");
        let mut f = Faults::default();
        f.set(cfg);
        assert_eq!(f.decide("list", "pods", None), Decision::default());
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
}
