//! The status ConfigMap `kube-system/node-autoscaler-status`, pure: what a run observed and
//! decided, in the shape of Cluster Autoscaler's `cluster-autoscaler-status` (its
//! `clusterstate/api` types: `time`, `autoscalerStatus`, `clusterWide` {health, scaleUp,
//! scaleDown}, `nodeGroups`), so the tools and habits that read that one read this one. The
//! function is stateless: a condition's `lastTransitionTime` is carried over from the previous
//! ConfigMap while its status stays the same.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub const NAME: &str = "node-autoscaler-status";
pub const NAMESPACE: &str = "kube-system";
/// The data key Cluster Autoscaler writes its YAML under.
pub const DATA_KEY: &str = "status";
/// The suite's ownership mark: a ConfigMap of that name without it is someone else's, and
/// is never overwritten.
pub const OWNER_LABEL: (&str, &str) = ("k8s-lambda.dev/managed-by", "node-autoscaler");
/// The one node group: this cluster's EC2 workers.
pub const NODE_GROUP: &str = "workers";
/// Cluster Autoscaler's defaults for calling a cluster unhealthy
/// (`--ok-total-unready-count`, `--max-total-unready-percentage`).
const OK_TOTAL_UNREADY: u32 = 3;
const MAX_TOTAL_UNREADY_PERCENT: f64 = 45.0;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// As Cluster Autoscaler writes it: `2006-01-02 15:04:05 +0000 UTC`.
    pub time: String,
    pub autoscaler_status: String,
    pub cluster_wide: ClusterWide,
    #[serde(default)]
    pub node_groups: Vec<NodeGroup>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterWide {
    pub health: Health,
    pub scale_up: Condition,
    pub scale_down: ScaleDown,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub status: String,
    pub node_counts: NodeCounts,
    /// Node groups only: the instances wanted (pending or running) and the bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_provider_target: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u32>,
    pub last_probe_time: String,
    pub last_transition_time: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCounts {
    pub registered: Registered,
    pub long_unregistered: u32,
    pub unregistered: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    pub total: u32,
    pub ready: u32,
    pub not_started: u32,
    #[serde(default)]
    pub being_deleted: u32,
    pub unready: Unready,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unready {
    pub total: u32,
    /// Always 0 here: no resource (GPU) the nodes wait for is tracked.
    pub resource_unready: u32,
}

/// A scale-up condition: `InProgress`, `NoActivity` or `Backoff`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_info: Option<BackoffInfo>,
    pub last_probe_time: String,
    pub last_transition_time: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackoffInfo {
    pub error_code: String,
    pub error_message: String,
}

/// `CandidatesPresent` (with their number) or `NoCandidates`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleDown {
    pub status: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub candidates: u32,
    pub last_probe_time: String,
    pub last_transition_time: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeGroup {
    pub name: String,
    pub health: Health,
    pub scale_up: Condition,
    pub scale_down: ScaleDown,
}

/// One node or instance, as the counts see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    /// A registered Node: Ready; not Ready since it registered (still starting); or not
    /// Ready after having been. `leaving`: a removal is recorded for it.
    Registered { state: Readiness, leaving: bool },
    /// A worker instance with no Node yet; `overdue`: past `JOIN_TIMEOUT_SEC`.
    Unregistered { overdue: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotStarted,
    Unready,
}

/// The counts of `members`.
pub fn count(members: impl IntoIterator<Item = Member>) -> NodeCounts {
    let mut c = NodeCounts::default();
    for m in members {
        match m {
            Member::Registered { state, leaving } => {
                let r = &mut c.registered;
                r.total += 1;
                r.being_deleted += u32::from(leaving);
                match state {
                    Readiness::Ready => r.ready += 1,
                    Readiness::NotStarted => r.not_started += 1,
                    Readiness::Unready => r.unready.total += 1,
                }
            }
            Member::Unregistered { overdue: true } => c.long_unregistered += 1,
            Member::Unregistered { overdue: false } => c.unregistered += 1,
        }
    }
    c
}

/// What the run saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// Every Node of the cluster (the control plane's too), and the workers not yet
    /// registered.
    pub cluster: NodeCounts,
    /// This cluster's worker instances (pending or running) and their Nodes.
    pub workers: NodeCounts,
    /// Worker instances pending or running.
    pub target: u32,
    pub min: u32,
    pub max: u32,
}

/// What the run decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub scale_up: ScaleUp,
    /// Workers chosen for removal; `None` when this run did not look (an EC2 event): the
    /// previous condition stands.
    pub scale_down_candidates: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleUp {
    /// The run launched workers.
    Launched,
    /// It tried and nothing launched: `Backoff`, with why.
    Failed(String),
    /// No launch this run.
    None,
}

/// The status after a run: `prev` the ConfigMap's (if any, and readable).
pub fn render(
    prev: Option<&Status>,
    observed: &Observed,
    outcome: &Outcome,
    now: Timestamp,
) -> Status {
    let probe = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let prev_group = prev.and_then(|p| p.node_groups.iter().find(|g| g.name == NODE_GROUP));
    let since = |old: Option<(&str, &str)>, status: &str| match old {
        Some((s, t)) if s == status && !t.is_empty() => t.to_owned(),
        _ => probe.clone(),
    };
    let health = |counts: &NodeCounts, old: Option<&Health>| {
        let status = health_status(counts);
        Health {
            status: status.to_owned(),
            node_counts: counts.clone(),
            cloud_provider_target: None,
            min_size: None,
            max_size: None,
            last_probe_time: probe.clone(),
            last_transition_time: since(
                old.map(|h| (h.status.as_str(), h.last_transition_time.as_str())),
                status,
            ),
        }
    };
    let scale_up = |old: Option<&Condition>| {
        let (status, backoff_info) = match &outcome.scale_up {
            ScaleUp::Failed(why) => (
                "Backoff",
                Some(BackoffInfo {
                    error_code: "cloudProviderError".into(),
                    error_message: why.clone(),
                }),
            ),
            // Workers launched now, or still on their way (no Node, or not yet Ready).
            ScaleUp::Launched => ("InProgress", None),
            ScaleUp::None if upcoming(&observed.workers) => ("InProgress", None),
            ScaleUp::None => ("NoActivity", None),
        };
        Condition {
            status: status.to_owned(),
            backoff_info,
            last_probe_time: probe.clone(),
            last_transition_time: since(
                old.map(|c| (c.status.as_str(), c.last_transition_time.as_str())),
                status,
            ),
        }
    };
    let scale_down = |old: Option<&ScaleDown>| match (outcome.scale_down_candidates, old) {
        (None, Some(old)) => old.clone(),
        (n, old) => {
            let candidates = n.unwrap_or(0);
            let status = if candidates > 0 {
                "CandidatesPresent"
            } else {
                "NoCandidates"
            };
            ScaleDown {
                status: status.to_owned(),
                candidates,
                last_probe_time: probe.clone(),
                last_transition_time: since(
                    old.map(|d| (d.status.as_str(), d.last_transition_time.as_str())),
                    status,
                ),
            }
        }
    };
    let mut group_health = health(&observed.workers, prev_group.map(|g| &g.health));
    group_health.cloud_provider_target = Some(observed.target);
    group_health.min_size = Some(observed.min);
    group_health.max_size = Some(observed.max);
    Status {
        time: format!("{} +0000 UTC", now.strftime("%Y-%m-%d %H:%M:%S")),
        autoscaler_status: "Running".into(),
        cluster_wide: ClusterWide {
            health: health(&observed.cluster, prev.map(|p| &p.cluster_wide.health)),
            scale_up: scale_up(prev.map(|p| &p.cluster_wide.scale_up)),
            scale_down: scale_down(prev.map(|p| &p.cluster_wide.scale_down)),
        },
        node_groups: vec![NodeGroup {
            name: NODE_GROUP.into(),
            health: group_health,
            scale_up: scale_up(prev_group.map(|g| &g.scale_up)),
            scale_down: scale_down(prev_group.map(|g| &g.scale_down)),
        }],
    }
}

/// Workers on their way: launched and not registered yet, or registered and not yet Ready.
fn upcoming(workers: &NodeCounts) -> bool {
    workers.unregistered > 0 || workers.registered.not_started > 0
}

/// Cluster Autoscaler's rule: unhealthy when more than `OK_TOTAL_UNREADY` nodes, and more
/// than `MAX_TOTAL_UNREADY_PERCENT` of them, are unready.
fn health_status(c: &NodeCounts) -> &'static str {
    let unready = c.registered.unready.total;
    let total = f64::from(c.registered.total);
    if unready > OK_TOTAL_UNREADY && f64::from(unready) > MAX_TOTAL_UNREADY_PERCENT / 100.0 * total
    {
        "Unhealthy"
    } else {
        "Healthy"
    }
}

/// The YAML under [`DATA_KEY`].
pub fn to_yaml(status: &Status) -> String {
    serde_saphyr::to_string(status).expect("a status serializes")
}

/// A previous ConfigMap's status; `None` when it does not read as one (then every
/// transition time starts afresh).
pub fn from_yaml(text: &str) -> Option<Status> {
    serde_saphyr::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(T0 + s).unwrap()
    }

    fn probe(s: i64) -> String {
        at(s).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    fn observed(workers: &[Member]) -> Observed {
        let master = Member::Registered {
            state: Readiness::Ready,
            leaving: false,
        };
        Observed {
            cluster: count(std::iter::once(master).chain(workers.iter().copied())),
            workers: count(workers.iter().copied()),
            target: workers.len() as u32,
            min: 1,
            max: 5,
        }
    }

    fn ready() -> Member {
        Member::Registered {
            state: Readiness::Ready,
            leaving: false,
        }
    }

    fn outcome(scale_up: ScaleUp, candidates: Option<u32>) -> Outcome {
        Outcome {
            scale_up,
            scale_down_candidates: candidates,
        }
    }

    #[test]
    fn members_are_counted_as_cluster_autoscaler_counts_them() {
        use Readiness::*;
        let members = [
            ready(),
            Member::Registered {
                state: Ready,
                leaving: true,
            },
            Member::Registered {
                state: NotStarted,
                leaving: false,
            },
            Member::Registered {
                state: Unready,
                leaving: false,
            },
            Member::Unregistered { overdue: false },
            Member::Unregistered { overdue: true },
        ];
        let c = count(members);
        assert_eq!(
            c,
            NodeCounts {
                registered: Registered {
                    total: 4,
                    ready: 2,
                    not_started: 1,
                    being_deleted: 1,
                    unready: super::Unready {
                        total: 1,
                        resource_unready: 0
                    },
                },
                long_unregistered: 1,
                unregistered: 1,
            }
        );
    }

    /// A scale-up, then the worker on its way, then Ready: InProgress twice (its transition
    /// time kept), then NoActivity (a new transition); health Healthy throughout, its
    /// transition time the first run's.
    #[test]
    fn transition_times_are_kept_while_the_status_stays() {
        let joining = Member::Unregistered { overdue: false };
        let first = render(
            None,
            &observed(&[ready()]),
            &outcome(ScaleUp::Launched, Some(0)),
            at(0),
        );
        let up = &first.cluster_wide.scale_up;
        assert_eq!(
            (up.status.as_str(), up.last_transition_time.clone()),
            ("InProgress", probe(0))
        );
        assert_eq!(first.time, "2027-01-15 08:00:00 +0000 UTC");
        assert_eq!(first.autoscaler_status, "Running");

        let second = render(
            Some(&first),
            &observed(&[ready(), joining]),
            &outcome(ScaleUp::None, Some(0)),
            at(60),
        );
        let up = &second.cluster_wide.scale_up;
        assert_eq!(up.status, "InProgress", "a worker still joining");
        assert_eq!(
            (up.last_probe_time.clone(), up.last_transition_time.clone()),
            (probe(60), probe(0))
        );
        assert_eq!(second.node_groups[0].health.node_counts.unregistered, 1);
        assert_eq!(
            second.node_groups[0].scale_up.last_transition_time,
            probe(0)
        );

        let third = render(
            Some(&second),
            &observed(&[ready(), ready()]),
            &outcome(ScaleUp::None, Some(0)),
            at(120),
        );
        let up = &third.cluster_wide.scale_up;
        assert_eq!(
            (up.status.as_str(), up.last_transition_time.clone()),
            ("NoActivity", probe(120))
        );
        let health = &third.cluster_wide.health;
        assert_eq!(
            (health.status.as_str(), health.last_transition_time.clone()),
            ("Healthy", probe(0))
        );
        assert_eq!(health.last_probe_time, probe(120));
        assert_eq!(
            health.node_counts.registered.ready, 3,
            "the control plane's node too"
        );
        let group = &third.node_groups[0];
        assert_eq!(group.name, NODE_GROUP);
        assert_eq!(
            (
                group.health.cloud_provider_target,
                group.health.min_size,
                group.health.max_size
            ),
            (Some(2), Some(1), Some(5))
        );
        assert_eq!(
            health.cloud_provider_target, None,
            "cluster-wide has no target"
        );
    }

    #[test]
    fn a_failed_launch_is_backoff_with_why() {
        let s = render(
            None,
            &observed(&[ready()]),
            &outcome(
                ScaleUp::Failed("InsufficientInstanceCapacity".into()),
                Some(0),
            ),
            at(0),
        );
        let up = &s.node_groups[0].scale_up;
        assert_eq!(up.status, "Backoff");
        let info = up.backoff_info.as_ref().unwrap();
        assert_eq!(info.error_message, "InsufficientInstanceCapacity");
        assert_eq!(info.error_code, "cloudProviderError");
    }

    /// Scale-down candidates present, then none: a transition each time; an EC2 event's run
    /// (not looked) keeps the previous condition as it was, probe time included.
    #[test]
    fn scale_down_candidates_and_runs_that_did_not_look() {
        let o = observed(&[ready(), ready()]);
        let first = render(None, &o, &outcome(ScaleUp::None, Some(1)), at(0));
        let down = &first.cluster_wide.scale_down;
        assert_eq!(
            (down.status.as_str(), down.candidates),
            ("CandidatesPresent", 1)
        );
        let event = render(Some(&first), &o, &outcome(ScaleUp::None, None), at(30));
        assert_eq!(event.cluster_wide.scale_down, first.cluster_wide.scale_down);
        assert_eq!(
            event.node_groups[0].scale_down,
            first.node_groups[0].scale_down
        );
        let none = render(Some(&event), &o, &outcome(ScaleUp::None, Some(0)), at(60));
        let down = &none.cluster_wide.scale_down;
        assert_eq!(
            (
                down.status.as_str(),
                down.candidates,
                down.last_transition_time.clone()
            ),
            ("NoCandidates", 0, probe(60))
        );
        // No previous ConfigMap and nothing looked at: NoCandidates, probed now.
        let fresh = render(None, &o, &outcome(ScaleUp::None, None), at(90));
        assert_eq!(fresh.cluster_wide.scale_down.status, "NoCandidates");
    }

    /// Cluster Autoscaler's defaults: more than 3 unready and more than 45% of the nodes.
    #[test]
    fn unhealthy_as_cluster_autoscaler_judges_it() {
        let unready = Member::Registered {
            state: Readiness::Unready,
            leaving: false,
        };
        let table = [
            (vec![unready; 3], "Healthy"),
            (vec![unready; 4], "Unhealthy"),
            ([vec![unready; 4], vec![ready(); 5]].concat(), "Healthy"),
            ([vec![unready; 4], vec![ready(); 4]].concat(), "Unhealthy"),
        ];
        for (members, want) in table {
            let c = count(members.iter().copied());
            assert_eq!(health_status(&c), want, "{c:?}");
        }
    }

    /// The YAML reads back, names its fields as Cluster Autoscaler does, and a ConfigMap that
    /// is not a status reads as none.
    #[test]
    fn the_yaml_round_trips_in_cluster_autoscalers_field_names() {
        let s = render(
            None,
            &observed(&[ready()]),
            &outcome(ScaleUp::None, Some(0)),
            at(0),
        );
        let yaml = to_yaml(&s);
        for field in [
            "autoscalerStatus: Running",
            "clusterWide:",
            "nodeCounts:",
            "notStarted: 0",
            "longUnregistered: 0",
            "resourceUnready: 0",
            "lastProbeTime:",
            "lastTransitionTime:",
            "scaleUp:",
            "status: NoActivity",
            "scaleDown:",
            "status: NoCandidates",
            "nodeGroups:",
            "cloudProviderTarget: 1",
            "maxSize: 5",
        ] {
            assert!(yaml.contains(field), "{field} in:\n{yaml}");
        }
        assert!(
            !yaml.contains("candidates"),
            "0 candidates left out:\n{yaml}"
        );
        assert_eq!(from_yaml(&yaml), Some(s));
        assert_eq!(from_yaml("just: text"), None);
    }
}
