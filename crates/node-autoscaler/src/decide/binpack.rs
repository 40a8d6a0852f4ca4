//! How many new workers the unschedulable pods need: first-fit-decreasing onto copies of the
//! worker template, as Cluster Autoscaler's binpacking estimator does (its
//! `DecreasingPodOrderer`: largest first by CPU / allocatable CPU + memory / allocatable
//! memory; each pod onto the first opened node it fits, else onto a new one). A pod that
//! does not fit an empty template — too big, a node selector or required affinity the
//! template's labels do not meet, a taint it does not tolerate — is left out with the reason:
//! it triggers nothing.
use std::collections::BTreeMap;

/// What one new worker offers: learnt from a Ready worker's node, else configured.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pub cpu_milli: u64,
    pub memory_bytes: u64,
    /// Its allocatable pods (`PODS_PER_NODE` wins when set).
    pub pods: u32,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    /// `NoSchedule`, `NoExecute` or `PreferNoSchedule` (which never keeps a pod off).
    pub effect: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    /// `None`: with `exists`, every key.
    pub key: Option<String>,
    /// Operator `Exists` (any value); else `Equal` to `value`.
    pub exists: bool,
    pub value: String,
    /// `None`: every effect.
    pub effect: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

/// What the scheduler needs of a node for one pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodNeeds {
    pub cpu_milli: u64,
    pub memory_bytes: u64,
    pub node_selector: BTreeMap<String, String>,
    /// Required node affinity: any term whose requirements all hold; `None`: no affinity.
    pub affinity: Option<Vec<Vec<Requirement>>>,
    pub tolerations: Vec<Toleration>,
    /// A constraint this estimator does not model (`matchFields`, `Gt`/`Lt`): the pod is
    /// taken as never fitting, with this as the reason, rather than guessed at.
    pub unsupported: Option<String>,
}

/// First-fit-decreasing's answer, by index into the pods given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estimate {
    /// Workers to launch beyond the joining ones.
    pub new_nodes: u32,
    /// Pods that a joining or new worker would host.
    pub placed: Vec<usize>,
    /// Pods no worker of the template could ever host, with why.
    pub never: Vec<(usize, String)>,
    /// (CPU, memory, pods) the placed pods use on each joining and new worker: their room
    /// left is what headroom counts.
    pub used: Vec<(u64, u64, u32)>,
}

impl Requirement {
    fn holds(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl Toleration {
    fn tolerates(&self, t: &Taint) -> bool {
        let effect = self.effect.as_ref().is_none_or(|e| *e == t.effect);
        let key = match &self.key {
            None => self.exists,
            Some(k) => *k == t.key && (self.exists || self.value == t.value),
        };
        effect && key
    }
}

/// Why no worker of `t` could ever host `pod`; `None`: an empty one would.
pub fn never_fits(t: &Template, pod: &PodNeeds, pods_per_node: u32) -> Option<String> {
    if let Some(why) = &pod.unsupported {
        return Some(why.clone());
    }
    if pod.cpu_milli > t.cpu_milli {
        return Some(format!(
            "Insufficient cpu: requests {}m, a worker has {}m allocatable",
            pod.cpu_milli, t.cpu_milli
        ));
    }
    if pod.memory_bytes > t.memory_bytes {
        return Some(format!(
            "Insufficient memory: requests {} MiB, a worker has {} MiB allocatable",
            pod.memory_bytes >> 20,
            t.memory_bytes >> 20
        ));
    }
    if pods_per_node == 0 {
        return Some("Too many pods: a worker holds none".into());
    }
    if let Some((k, v)) = pod
        .node_selector
        .iter()
        .find(|(k, v)| t.labels.get(*k) != Some(*v))
    {
        return Some(format!(
            "node selector {k}={v} does not match the worker template's labels"
        ));
    }
    if let Some(terms) = &pod.affinity
        && !terms
            .iter()
            .any(|term| !term.is_empty() && term.iter().all(|r| r.holds(&t.labels)))
    {
        return Some("required node affinity does not match the worker template's labels".into());
    }
    let blocking = |taint: &&Taint| taint.effect == "NoSchedule" || taint.effect == "NoExecute";
    if let Some(taint) = t
        .taints
        .iter()
        .filter(blocking)
        .find(|taint| !pod.tolerations.iter().any(|tol| tol.tolerates(taint)))
    {
        return Some(format!(
            "the worker template's taint {}={}:{} is not tolerated",
            taint.key, taint.value, taint.effect
        ));
    }
    None
}

/// Packs `pods` first-fit-decreasing onto `joining` empty workers first, then onto as many
/// new copies of `t` as they need, at most `pods_per_node` pods each.
pub fn estimate(t: &Template, pods_per_node: u32, pods: &[&PodNeeds], joining: u32) -> Estimate {
    let mut out = Estimate::default();
    let mut order: Vec<(usize, f64)> = Vec::new();
    for (i, pod) in pods.iter().enumerate() {
        match never_fits(t, pod, pods_per_node) {
            Some(why) => out.never.push((i, why)),
            None => order.push((i, score(t, pod))),
        }
    }
    // Stable: equal scores keep the given order, so the result is reproducible.
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    // (CPU, memory, pods) used on each node opened, joining ones first.
    let mut nodes: Vec<(u64, u64, u32)> = vec![(0, 0, 0); joining as usize];
    for (i, _) in order {
        let pod = pods[i];
        let fits = |n: &&mut (u64, u64, u32)| {
            n.0 + pod.cpu_milli <= t.cpu_milli
                && n.1 + pod.memory_bytes <= t.memory_bytes
                && n.2 < pods_per_node
        };
        match nodes.iter_mut().find(fits) {
            Some(n) => *n = (n.0 + pod.cpu_milli, n.1 + pod.memory_bytes, n.2 + 1),
            None => nodes.push((pod.cpu_milli, pod.memory_bytes, 1)),
        }
        out.placed.push(i);
    }
    out.placed.sort_unstable();
    out.new_nodes = (nodes.len() as u32).saturating_sub(joining);
    out.used = nodes;
    out
}

/// Cluster Autoscaler's pod score: CPU and memory as fractions of the template's.
fn score(t: &Template, pod: &PodNeeds) -> f64 {
    let part = |need: u64, has: u64| {
        if has == 0 {
            0.0
        } else {
            need as f64 / has as f64
        }
    };
    part(pod.cpu_milli, t.cpu_milli) + part(pod.memory_bytes, t.memory_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    pub(crate) fn template() -> Template {
        Template {
            cpu_milli: 2000,
            memory_bytes: 4 * GIB,
            pods: 110,
            labels: [("kubernetes.io/os", "linux"), ("pool", "general")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
            taints: vec![Taint {
                key: "dedicated".into(),
                value: "batch".into(),
                effect: "NoSchedule".into(),
            }],
        }
    }

    fn tolerate_all() -> Toleration {
        Toleration {
            key: None,
            exists: true,
            value: String::new(),
            effect: None,
        }
    }

    fn pod(cpu_milli: u64, mem_mib: u64) -> PodNeeds {
        PodNeeds {
            cpu_milli,
            memory_bytes: mem_mib << 20,
            tolerations: vec![tolerate_all()],
            ..PodNeeds::default()
        }
    }

    fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn with(f: impl FnOnce(&mut PodNeeds)) -> PodNeeds {
        let mut p = pod(100, 100);
        f(&mut p);
        p
    }

    #[test]
    fn first_fit_decreasing_counts_workers() {
        // (case, pods, PODS_PER_NODE, joining, new workers)
        let table: Vec<(&str, Vec<PodNeeds>, u32, u32, u32)> = vec![
            ("nothing pending", vec![], 110, 0, 0),
            ("one small pod", vec![pod(100, 100)], 110, 0, 1),
            (
                "4 × 500m on 2-CPU workers: 1",
                vec![pod(500, 0); 4],
                110,
                0,
                1,
            ),
            (
                "5 × 1500m: one per worker",
                vec![pod(1500, 0); 5],
                110,
                0,
                5,
            ),
            (
                "memory binds: 3 × 3 GiB on 4 GiB workers",
                vec![pod(100, 3072); 3],
                110,
                0,
                3,
            ),
            (
                // Largest first: 1500 | 1500 | 500+500 … first fit puts the 500s beside the
                // 1500s: 2 workers, where the given order (500, 500, 1500, 1500) would
                // first-fit onto 3.
                "decreasing order packs tighter than the given one",
                vec![pod(500, 0), pod(500, 0), pod(1500, 0), pod(1500, 0)],
                110,
                0,
                2,
            ),
            (
                "CPU and memory both bind",
                vec![pod(1000, 512), pod(200, 3584), pod(1000, 512)],
                110,
                0,
                2,
            ),
            (
                "pods per node bind: 25 tiny pods, 10 each",
                vec![pod(0, 0); 25],
                10,
                0,
                3,
            ),
            (
                "joining workers' room first",
                vec![pod(1500, 0); 4],
                110,
                3,
                1,
            ),
            (
                "all fit on joining workers",
                vec![pod(500, 0); 4],
                110,
                2,
                0,
            ),
        ];
        for (name, pods, per, joining, want) in table {
            let refs: Vec<&PodNeeds> = pods.iter().collect();
            let e = estimate(&template(), per, &refs, joining);
            assert_eq!(e.new_nodes, want, "{name}: {e:?}");
            assert_eq!(e.placed.len(), pods.len(), "{name}");
            assert!(e.never.is_empty(), "{name}");
        }
    }

    #[test]
    fn pods_no_worker_can_host_are_left_out_with_the_reason() {
        use Operator::*;
        let untolerated = PodNeeds {
            tolerations: vec![],
            ..pod(100, 100)
        };
        let wrong_key_toleration = PodNeeds {
            tolerations: vec![Toleration {
                key: Some("other".into()),
                exists: true,
                value: String::new(),
                effect: None,
            }],
            ..pod(100, 100)
        };
        let wrong_value_toleration = PodNeeds {
            tolerations: vec![Toleration {
                key: Some("dedicated".into()),
                exists: false,
                value: "web".into(),
                effect: Some("NoSchedule".into()),
            }],
            ..pod(100, 100)
        };
        let right_toleration = PodNeeds {
            tolerations: vec![Toleration {
                key: Some("dedicated".into()),
                exists: false,
                value: "batch".into(),
                effect: Some("NoSchedule".into()),
            }],
            ..pod(100, 100)
        };
        let table: Vec<(&str, PodNeeds, Option<&str>)> = vec![
            ("fits", pod(2000, 4096), None),
            ("too much CPU", pod(2001, 0), Some("Insufficient cpu")),
            ("too much memory", pod(0, 4097), Some("Insufficient memory")),
            (
                "selector matched",
                with(|p| {
                    p.node_selector.insert("pool".into(), "general".into());
                }),
                None,
            ),
            (
                "selector no template has",
                with(|p| {
                    p.node_selector.insert("pool".into(), "gpu".into());
                }),
                Some("node selector pool=gpu"),
            ),
            (
                "affinity In holds",
                with(|p| p.affinity = Some(vec![vec![req("pool", In, &["x", "general"])]])),
                None,
            ),
            (
                "affinity In fails",
                with(|p| p.affinity = Some(vec![vec![req("pool", In, &["gpu"])]])),
                Some("required node affinity"),
            ),
            (
                "affinity NotIn holds (and on a missing label)",
                with(|p| {
                    p.affinity = Some(vec![vec![
                        req("pool", NotIn, &["gpu"]),
                        req("zone", NotIn, &["a"]),
                    ]])
                }),
                None,
            ),
            (
                "affinity NotIn fails",
                with(|p| p.affinity = Some(vec![vec![req("pool", NotIn, &["general"])]])),
                Some("required node affinity"),
            ),
            (
                "affinity Exists / DoesNotExist hold",
                with(|p| {
                    p.affinity = Some(vec![vec![
                        req("pool", Exists, &[]),
                        req("gpu", DoesNotExist, &[]),
                    ]])
                }),
                None,
            ),
            (
                "affinity Exists fails",
                with(|p| p.affinity = Some(vec![vec![req("gpu", Exists, &[])]])),
                Some("required node affinity"),
            ),
            (
                "affinity DoesNotExist fails",
                with(|p| p.affinity = Some(vec![vec![req("pool", DoesNotExist, &[])]])),
                Some("required node affinity"),
            ),
            (
                "affinity terms are ORed: the second holds",
                with(|p| {
                    p.affinity = Some(vec![
                        vec![req("pool", In, &["gpu"])],
                        vec![req("pool", In, &["general"])],
                    ])
                }),
                None,
            ),
            (
                "an empty term matches nothing",
                with(|p| p.affinity = Some(vec![vec![]])),
                Some("required node affinity"),
            ),
            (
                "unsupported constraint",
                with(|p| p.unsupported = Some("matchFields is not modelled".into())),
                Some("matchFields"),
            ),
            (
                "taint not tolerated",
                untolerated,
                Some("taint dedicated=batch:NoSchedule"),
            ),
            (
                "toleration of another key",
                wrong_key_toleration,
                Some("taint"),
            ),
            (
                "toleration of another value",
                wrong_value_toleration,
                Some("taint"),
            ),
            ("toleration of the taint", right_toleration, None),
        ];
        for (name, p, want) in table {
            let got = never_fits(&template(), &p, 110);
            match want {
                None => assert_eq!(got, None, "{name}"),
                Some(part) => assert!(
                    got.as_deref().is_some_and(|g| g.contains(part)),
                    "{name}: {got:?}"
                ),
            }
        }
        // PreferNoSchedule never keeps a pod off.
        let mut soft = template();
        soft.taints[0].effect = "PreferNoSchedule".into();
        assert_eq!(never_fits(&soft, &pod(1, 1), 110), None);
        assert!(never_fits(&template(), &pod(1, 1), 0).is_some());
    }

    #[test]
    fn a_pod_that_never_fits_opens_no_worker() {
        let big = pod(3000, 0);
        let small = pod(500, 0);
        let e = estimate(&template(), 110, &[&big, &small, &big], 0);
        assert_eq!(e.new_nodes, 1);
        assert_eq!(e.placed, [1]);
        assert_eq!(e.never.iter().map(|n| n.0).collect::<Vec<_>>(), [0, 2]);
        let alone = estimate(&template(), 110, &[&big], 0);
        assert_eq!((alone.new_nodes, alone.placed.len()), (0, 0));
    }
}
