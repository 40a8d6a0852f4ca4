//! The Kubernetes side: nodes with their instance ids, what the pods request, the pods the
//! scheduler could not place ([`crate::pending`]), and the safe-to-evict review of each node
//! (`k8s_ops::evictable`).
use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_ops::evictable::review_node;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use crate::decide::binpack::Taint;
use crate::decide::{NodeDetail, PendingPod, Resident, Template};
use crate::{pending, quantity};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    /// `metadata.uid`: Events about the node name it (`kubectl describe node` finds them by
    /// it).
    pub uid: String,
    /// From `spec.providerID` (`aws:///<zone>/<instance id>`).
    pub instance_id: Option<String>,
    pub internal_ip: Option<String>,
    pub ready: bool,
    /// Not Ready, and not since it registered: its Ready condition last changed within a
    /// minute of the Node's creation (or it has none). A kubelet that joined and never came
    /// up, as opposed to a node that was Ready and failed later.
    pub never_ready: bool,
    pub unschedulable: bool,
    pub allocatable_cpu_milli: u64,
    pub allocatable_memory_bytes: u64,
    /// `None`: the node does not say.
    pub allocatable_pods: Option<u32>,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub requested_cpu_milli: u64,
    pub requested_memory_bytes: u64,
    /// Its pods as scale-down by simulation sees them (needs, whether they move, PDBs).
    pub residents: Vec<Resident>,
    /// Why the node may not be removed (safe-to-evict review); `None` = removable.
    pub blocked: Option<String>,
    pub pods: usize,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterView {
    pub nodes: Vec<NodeInfo>,
    /// Pods the scheduler could not place.
    pub unschedulable: Vec<PendingPod>,
    /// Each PDB's (`namespace/name`) `status.disruptionsAllowed` (negative read as 0).
    pub disruptions_allowed: BTreeMap<String, u32>,
}

/// Labels a new worker will not share with the node it is learnt from: its own name, and
/// its zone (launches are spread over the zones, never aimed at one, so a pod that requires
/// a zone is taken as one no new worker is sure to host).
const NODE_OWN_LABELS: [&str; 4] = [
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/zone",
    "node.kubernetes.io/instance-id",
];

/// Taints a node carries for its state, not by design (cordoned, not ready, unreachable…),
/// under these prefixes: not the template's.
const STATE_TAINT_PREFIXES: [&str; 3] = [
    "node.kubernetes.io/",
    "node.cloudprovider.kubernetes.io/",
    "ToBeDeletedByClusterAutoscaler",
];

impl NodeInfo {
    /// What scale-down by simulation reads of a worker's node.
    pub fn detail(&self) -> NodeDetail {
        NodeDetail {
            allocatable_memory_bytes: self.allocatable_memory_bytes,
            allocatable_pods: self.allocatable_pods.unwrap_or(0),
            requested_memory_bytes: self.requested_memory_bytes,
            labels: self.labels.clone(),
            taints: self.taints.clone(),
            unschedulable: self.unschedulable,
            pods: self.residents.clone(),
        }
    }

    /// This node as the template of a new worker.
    pub fn template(&self) -> Template {
        Template {
            cpu_milli: self.allocatable_cpu_milli,
            memory_bytes: self.allocatable_memory_bytes,
            pods: self
                .allocatable_pods
                .unwrap_or(crate::decide::up::DEFAULT_MAX_PODS),
            labels: self
                .labels
                .iter()
                .filter(|(k, _)| !NODE_OWN_LABELS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            taints: self
                .taints
                .iter()
                .filter(|t| !STATE_TAINT_PREFIXES.iter().any(|p| t.key.starts_with(p)))
                .cloned()
                .collect(),
        }
    }
}

impl ClusterView {
    /// The node of an EC2 instance: by provider id, else by private IP or DNS name.
    pub fn node_of(&self, instance: &crate::ec2::Instance) -> Option<&NodeInfo> {
        self.nodes
            .iter()
            .find(|n| n.instance_id.as_deref() == Some(&instance.id))
            .or_else(|| {
                self.nodes.iter().find(|n| {
                    n.instance_id.is_none()
                        && (instance.private_ip.is_some() && n.internal_ip == instance.private_ip
                            || instance.private_dns.as_deref().is_some_and(|d| {
                                !d.is_empty() && d.split('.').next() == Some(&n.name)
                            }))
                })
            })
    }
}

pub fn instance_id(provider_id: &str) -> Option<String> {
    let id = provider_id.strip_prefix("aws://")?.rsplit('/').next()?;
    id.starts_with("i-").then(|| id.to_owned())
}

/// (CPU millicores, memory bytes) a pod requests: its containers' sum, or its largest init
/// container's if larger (as the scheduler counts).
pub fn requests(pod: &Pod) -> (u64, u64) {
    let Some(spec) = &pod.spec else { return (0, 0) };
    let of = |c: &k8s_openapi::api::core::v1::Container| {
        let r = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        let get = |k: &str| r.and_then(|r| r.get(k)).map(|q| q.0.as_str());
        (
            get("cpu").and_then(quantity::cpu_milli).unwrap_or(0),
            get("memory").and_then(quantity::bytes).unwrap_or(0),
        )
    };
    let (mut cpu, mut mem) = spec
        .containers
        .iter()
        .map(of)
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    for init in spec.init_containers.iter().flatten() {
        let (c, m) = of(init);
        cpu = cpu.max(c);
        mem = mem.max(m);
    }
    (cpu, mem)
}

fn finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Builds the view from listed objects (pure, so the benchmark can time it apart).
pub fn view(nodes: Vec<Node>, pods: Vec<Pod>, pdbs: &[PodDisruptionBudget]) -> ClusterView {
    let mut by_node: HashMap<String, Vec<Pod>> = HashMap::new();
    let mut out = ClusterView {
        disruptions_allowed: pdbs.iter().map(|b| (pdb_key(b), allowed(b))).collect(),
        ..ClusterView::default()
    };
    for pod in pods {
        if finished(&pod) || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        match pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
            Some(node) => by_node.entry(node).or_default().push(pod),
            None => out.unschedulable.extend(pending::unschedulable(&pod)),
        }
    }
    for node in nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let pods = by_node.remove(&name).unwrap_or_default();
        let review = review_node(&node, &pods, pdbs);
        let spec = node.spec.as_ref();
        let status = node.status.as_ref();
        let alloc = |k: &str| {
            status
                .and_then(|s| s.allocatable.as_ref())
                .and_then(|a| a.get(k))
                .map(|q| q.0.clone())
        };
        out.nodes.push(NodeInfo {
            uid: node.metadata.uid.clone().unwrap_or_default(),
            instance_id: spec
                .and_then(|s| s.provider_id.as_deref())
                .and_then(instance_id),
            internal_ip: status
                .and_then(|s| s.addresses.as_ref())
                .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
                .map(|a| a.address.clone()),
            ready: ready_condition(&node).is_some_and(|c| c.status == "True"),
            never_ready: never_ready(&node),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            allocatable_cpu_milli: alloc("cpu")
                .and_then(|q| quantity::cpu_milli(&q))
                .unwrap_or(0),
            allocatable_memory_bytes: alloc("memory")
                .and_then(|q| quantity::bytes(&q))
                .unwrap_or(0),
            allocatable_pods: alloc("pods").and_then(|q| q.parse().ok()),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: spec
                .and_then(|s| s.taints.as_ref())
                .into_iter()
                .flatten()
                .map(|t| Taint {
                    key: t.key.clone(),
                    value: t.value.clone().unwrap_or_default(),
                    effect: t.effect.clone(),
                })
                .collect(),
            requested_cpu_milli: pods.iter().map(|p| requests(p).0).sum(),
            requested_memory_bytes: pods.iter().map(|p| requests(p).1).sum(),
            residents: pods.iter().map(|p| resident(p, pdbs)).collect(),
            blocked: (!review.removable()).then(|| {
                review
                    .blockers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
            pods: pods.len(),
            name,
        });
    }
    out
}

fn pdb_key(b: &PodDisruptionBudget) -> String {
    let m = &b.metadata;
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default()
    )
}

fn allowed(b: &PodDisruptionBudget) -> u32 {
    let n = b.status.as_ref().map_or(0, |s| s.disruptions_allowed);
    u32::try_from(n).unwrap_or(0)
}

/// A bound pod for scale-down: what it needs, whether a drain moves it (not a DaemonSet or
/// mirror pod), the PDBs that select it.
fn resident(pod: &Pod, pdbs: &[PodDisruptionBudget]) -> Resident {
    Resident {
        needs: pending::needs(pod),
        moves: k8s_ops::evictable::skip_reason(pod).is_none(),
        pdbs: pdbs
            .iter()
            .filter(|b| k8s_ops::evictable::pdb_selects(b, pod))
            .map(pdb_key)
            .collect(),
    }
}

/// Lists nodes, pods and PodDisruptionBudgets (3 calls) and builds the view.
pub async fn observe(client: &kube::Client) -> Result<ClusterView, kube::Error> {
    let lp = ListParams::default();
    let (nodes, pods, pdbs) = (
        Api::<Node>::all(client.clone()),
        Api::<Pod>::all(client.clone()),
        Api::<PodDisruptionBudget>::all(client.clone()),
    );
    let (nodes, pods, pdbs) =
        futures_util::try_join!(nodes.list(&lp), pods.list(&lp), pdbs.list(&lp))?;
    Ok(view(nodes.items, pods.items, &pdbs.items))
}

fn ready_condition(node: &Node) -> Option<&k8s_openapi::api::core::v1::NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

fn never_ready(node: &Node) -> bool {
    let Some(c) = ready_condition(node) else {
        return true;
    };
    if c.status == "True" {
        return false;
    }
    match (&c.last_transition_time, &node.metadata.creation_timestamp) {
        (Some(changed), Some(created)) => {
            changed.0.as_second() - created.0.as_second() < NEVER_READY_SLACK_SEC
        }
        _ => true,
    }
}

/// How long after registering a kubelet may post its first NotReady and still count as
/// never having been Ready.
const NEVER_READY_SLACK_SEC: i64 = 60;

/// Deletes the Node object of a terminated instance (k3s without a cloud provider leaves
/// it NotReady forever); a missing node is fine.
pub async fn delete_node(client: &kube::Client, name: &str) -> Result<(), kube::Error> {
    match Api::<Node>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn provider_ids() {
        assert_eq!(
            instance_id("aws:///us-east-1a/i-0abc").as_deref(),
            Some("i-0abc")
        );
        assert_eq!(instance_id("k3s://ip-10-0-0-1"), None);
    }

    #[test]
    fn pending_requests_and_node_usage() {
        let pod = |name: &str, node: Option<&str>, cpu: &str, mem: &str| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default",
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": true}]},
                "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]},
                "status": {"phase": if node.is_some() { "Running" } else { "Pending" },
                           "conditions": if name == "b" { json!([{"type": "PodScheduled", "status": "False",
                               "reason": "Unschedulable", "lastTransitionTime": "2027-01-01T00:00:00Z"}]) } else { json!([]) }}
            }))
            .unwrap()
        };
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {"pool": "general", "kubernetes.io/hostname": "n1",
                                                  "topology.kubernetes.io/zone": "us-east-1a"}},
            "spec": {"providerID": "aws:///us-east-1a/i-1",
                     "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"},
                                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "58"},
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}
        }))
        .unwrap();
        let v = view(
            vec![node],
            vec![
                pod("a", Some("n1"), "500m", "1Gi"),
                pod("b", None, "1500m", "2Gi"),
                pod("c", None, "1", "512Mi"),
            ],
            &[],
        );
        // `c` is Pending but the scheduler has not said it is unschedulable: not demand.
        let names: Vec<&str> = v.unschedulable.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["b"]);
        let n = &v.nodes[0];
        let t = n.template();
        assert_eq!((t.cpu_milli, t.memory_bytes, t.pods), (2000, 4 << 30, 58));
        assert_eq!(
            t.labels,
            BTreeMap::from([("pool".to_owned(), "general".to_owned())]),
            "its name and zone are its own"
        );
        assert_eq!(
            t.taints,
            [Taint {
                key: "dedicated".into(),
                value: "web".into(),
                effect: "NoSchedule".into()
            }],
            "the cordon's taint is its state"
        );
        assert_eq!(n.instance_id.as_deref(), Some("i-1"));
        assert!(n.ready && n.blocked.is_none());
        assert_eq!(
            (
                n.allocatable_cpu_milli,
                n.requested_cpu_milli,
                n.internal_ip.as_deref()
            ),
            (2000, 500, Some("10.0.0.5"))
        );
    }
}
