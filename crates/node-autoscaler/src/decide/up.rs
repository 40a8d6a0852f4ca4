//! Scale-up demand: the pods the scheduler could not place (PodScheduled False, reason
//! Unschedulable) for at least `PENDING_UP_SEC`, packed onto the worker template
//! ([`binpack`](super::binpack)). Pods no worker could host count for nothing.
use std::collections::BTreeMap;

use jiff::Timestamp;

use super::binpack::{self, Estimate, PodNeeds, Template};
use super::{Observed, Policy, WorkerState};

/// A pod the scheduler found no node for.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingPod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// When its PodScheduled condition became False (Unschedulable).
    pub since: Timestamp,
    pub needs: PodNeeds,
}

impl Template {
    /// A new worker as the largest Ready worker's node (most CPU, then most memory: one
    /// node's figures, never mixed, as every worker is launched alike), or `configured`
    /// (`WORKER_NODE_CPU`, `WORKER_NODE_MEMORY`, the labels k3s gives every node, no taint)
    /// while no worker is Ready to learn it from.
    pub fn learnt(ready_nodes: impl IntoIterator<Item = Template>, configured: Template) -> Self {
        ready_nodes
            .into_iter()
            .max_by_key(|t| (t.cpu_milli, t.memory_bytes))
            .unwrap_or(configured)
    }

    /// The configured template: `cpu_milli`, `memory_bytes`, 110 pods (the kubelet's
    /// default), `kubernetes.io/os=linux` and no taint — what the user data's plain
    /// `k3s agent` registers.
    pub fn configured(cpu_milli: u64, memory_bytes: u64) -> Self {
        Template {
            cpu_milli,
            memory_bytes,
            pods: DEFAULT_MAX_PODS,
            labels: BTreeMap::from([("kubernetes.io/os".to_owned(), "linux".to_owned())]),
            taints: Vec::new(),
        }
    }
}

/// The kubelet's default `maxPods`.
pub const DEFAULT_MAX_PODS: u32 = 110;

/// The pods of `o` waiting for a node for `PENDING_UP_SEC` or longer, and what
/// first-fit-decreasing makes of them after the joining workers' room (indices into the
/// pods returned).
pub fn due<'a>(policy: &Policy, o: &'a Observed) -> (Vec<&'a PendingPod>, Estimate) {
    let delay = policy.pending_up.as_secs() as i64;
    let waited = |p: &PendingPod| o.now.as_second() - p.since.as_second() >= delay;
    let pods: Vec<&PendingPod> = o.unschedulable.iter().filter(|p| waited(p)).collect();
    let needs: Vec<&PodNeeds> = pods.iter().map(|p| &p.needs).collect();
    let joining = o
        .workers
        .iter()
        .filter(|w| w.state == WorkerState::Joining)
        .count() as u32;
    let per_node = policy.pods_per_node.unwrap_or(o.template.pods);
    let estimate = binpack::estimate(&o.template, per_node, &needs, joining);
    (pods, estimate)
}

/// Workers the due pods (`pods`, packed as `e` by [`due`]) need beyond the joining ones,
/// and why; `None` when no due pod could be hosted by a worker.
pub fn need(
    policy: &Policy,
    o: &Observed,
    pods: &[&PendingPod],
    e: &Estimate,
) -> Option<(u64, String)> {
    if e.placed.is_empty() {
        return None;
    }
    let (cpu, memory) = e.placed.iter().fold((0, 0), |(c, m), &i| {
        (c + pods[i].needs.cpu_milli, m + pods[i].needs.memory_bytes)
    });
    let never = if e.never.is_empty() {
        String::new()
    } else {
        format!(", {} that no worker could host left out", e.never.len())
    };
    Some((
        e.new_nodes.into(),
        format!(
            "{} pods unschedulable for {}s requesting {cpu}m CPU and {} MiB{never}: {} new workers by first-fit-decreasing on {}m/{} MiB/{} pods",
            e.placed.len(),
            policy.pending_up.as_secs(),
            memory >> 20,
            e.new_nodes,
            o.template.cpu_milli,
            o.template.memory_bytes >> 20,
            policy.pods_per_node.unwrap_or(o.template.pods),
        ),
    ))
}

/// Whether any unschedulable pod, however recent, could run on a worker: then the cluster
/// is not idle (a pod no worker could host does not keep workers up).
pub fn hostable_waiting(policy: &Policy, o: &Observed) -> bool {
    let per_node = policy.pods_per_node.unwrap_or(o.template.pods);
    o.unschedulable
        .iter()
        .any(|p| binpack::never_fits(&o.template, &p.needs, per_node).is_none())
}
