//! Can this node be removed? Cluster Autoscaler's scale-down rules, as a pure function over
//! the node, the pods bound to it and the cluster's PodDisruptionBudgets (no I/O).
//!
//! Each pod lands in exactly one of [`NodeReview::evict`] (must move before the node goes)
//! or [`NodeReview::skip`] (goes down with the node: DaemonSet pods, mirror pods, finished
//! pods). [`NodeReview::blockers`] says why the node must stay; an empty list means the
//! node may be drained and removed.
//!
//! Rules, per pod, first match wins (Cluster Autoscaler FAQ, "What types of pods can
//! prevent CA from removing a node?"):
//!
//! | pod                                                         | outcome                     |
//! |-------------------------------------------------------------|-----------------------------|
//! | annotation `kubernetes.io/config.mirror` (static pod)       | skip                        |
//! | phase `Succeeded` or `Failed`                               | skip                        |
//! | controller ownerReference of kind `DaemonSet`               | skip                        |
//! | `cluster-autoscaler.kubernetes.io/safe-to-evict: "false"`   | evict, blocks (annotation)  |
//! | `cluster-autoscaler.kubernetes.io/safe-to-evict: "true"`    | evict (next three rules off)|
//! | no controller ownerReference                                | evict, blocks (no controller)|
//! | namespace `kube-system` and no PDB selects it               | evict, blocks (kube-system) |
//! | hostPath or disk-backed emptyDir volume not listed in `cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes` | evict, blocks (local storage) |
//! | otherwise                                                   | evict                       |
//!
//! Then, over every pod to evict, PodDisruptionBudgets: a budget selecting more of this
//! node's pods than its `status.disruptionsAllowed` blocks for each pod beyond the allowance
//! (so `disruptionsAllowed: 0` blocks every pod it selects), as Cluster Autoscaler's
//! remaining-PDB tracker does. Node annotation
//! `cluster-autoscaler.kubernetes.io/scale-down-disabled: "true"` blocks the whole node.
//!
//! As in Cluster Autoscaler, an emptyDir with `medium: Memory` is not local storage. Not
//! checked here (they need I/O or flags): that the controller still exists, and the
//! `--skip-nodes-with-custom-controller-pods` flag (any controller counts).
use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};

pub const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";
pub const SAFE_TO_EVICT_LOCAL_VOLUMES: &str =
    "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes";
pub const SCALE_DOWN_DISABLED: &str = "cluster-autoscaler.kubernetes.io/scale-down-disabled";
pub const MIRROR: &str = "kubernetes.io/config.mirror";

/// A pod by namespace and name; displays as `namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
}

impl PodRef {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        PodRef {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    pub fn of(pod: &Pod) -> Self {
        PodRef {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
        }
    }
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Why a node cannot be removed. `pod` is `namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    NotSafeToEvictAnnotation { pod: String },
    LocalStorage { pod: String },
    NoController { pod: String },
    KubeSystemWithoutPdb { pod: String },
    PdbAllowsNoDisruption { pod: String, pdb: String },
    NodeScaleDownDisabled,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::NotSafeToEvictAnnotation { pod } => {
                write!(f, "pod {pod} is annotated {SAFE_TO_EVICT}=false")
            }
            Blocker::LocalStorage { pod } => write!(
                f,
                "pod {pod} has local storage (hostPath/emptyDir) not listed in {SAFE_TO_EVICT_LOCAL_VOLUMES}"
            ),
            Blocker::NoController { pod } => {
                write!(f, "pod {pod} has no controller ownerReference")
            }
            Blocker::KubeSystemWithoutPdb { pod } => {
                write!(
                    f,
                    "pod {pod} is in kube-system and no PodDisruptionBudget selects it"
                )
            }
            Blocker::PdbAllowsNoDisruption { pod, pdb } => {
                write!(
                    f,
                    "pod {pod}: PodDisruptionBudget {pdb} allows no (further) disruption"
                )
            }
            Blocker::NodeScaleDownDisabled => {
                write!(f, "node is annotated {SCALE_DOWN_DISABLED}=true")
            }
        }
    }
}

/// The verdict on one node: see the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeReview {
    /// Pods that must be evicted before the node goes.
    pub evict: Vec<PodRef>,
    /// DaemonSet, mirror and finished pods: they go with the node.
    pub skip: Vec<PodRef>,
    /// Why the node must stay; empty = removable.
    pub blockers: Vec<Blocker>,
}

impl NodeReview {
    /// No blocker: the node may be drained and removed.
    pub fn removable(&self) -> bool {
        self.blockers.is_empty()
    }
}

/// Why a pod is left alone by a drain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// A static pod the kubelet runs from a file; the API object cannot be evicted.
    Mirror,
    /// `Succeeded` or `Failed`: nothing runs.
    Finished,
    /// The DaemonSet controller would put it right back (and tolerates the cordon).
    DaemonSet,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::Mirror => "mirror pod",
            SkipReason::Finished => "finished pod",
            SkipReason::DaemonSet => "DaemonSet pod",
        })
    }
}

/// `Some` for pods a drain leaves alone (and that do not keep a node alive).
pub fn skip_reason(pod: &Pod) -> Option<SkipReason> {
    if annotation(pod, MIRROR).is_some() {
        return Some(SkipReason::Mirror);
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return Some(SkipReason::Finished);
    }
    if controller(pod).is_some_and(|c| c.kind == "DaemonSet") {
        return Some(SkipReason::DaemonSet);
    }
    None
}

/// Applies the rules of the module documentation.
pub fn review_node(node: &Node, pods_on_node: &[Pod], pdbs: &[PodDisruptionBudget]) -> NodeReview {
    let mut review = NodeReview::default();
    let node_annotations = node.metadata.annotations.as_ref();
    if node_annotations
        .and_then(|a| a.get(SCALE_DOWN_DISABLED))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        review.blockers.push(Blocker::NodeScaleDownDisabled);
    }
    let mut to_evict: Vec<&Pod> = Vec::new();
    for pod in pods_on_node {
        let r = PodRef::of(pod);
        if skip_reason(pod).is_some() {
            review.skip.push(r);
            continue;
        }
        if let Some(blocker) = pod_blocker(pod, pdbs) {
            review.blockers.push(blocker);
        }
        review.evict.push(r);
        to_evict.push(pod);
    }
    // Disruption budgets over everything that has to move: each PDB's allowance is spent
    // pod by pod, in the order the pods were given.
    let mut spent: BTreeMap<(String, String), i32> = BTreeMap::new();
    for pod in to_evict {
        for pdb in pdbs.iter().filter(|b| pdb_selects(b, pod)) {
            let key = (
                pdb.metadata.namespace.clone().unwrap_or_default(),
                pdb.metadata.name.clone().unwrap_or_default(),
            );
            let allowed = pdb
                .status
                .as_ref()
                .map(|s| s.disruptions_allowed)
                .unwrap_or(0);
            let used = spent.entry(key.clone()).or_insert(0);
            if *used >= allowed {
                review.blockers.push(Blocker::PdbAllowsNoDisruption {
                    pod: PodRef::of(pod).to_string(),
                    pdb: format!("{}/{}", key.0, key.1),
                });
            } else {
                *used += 1;
            }
        }
    }
    review
}

/// The per-pod rules after the skip rules (PDB allowances are counted by the caller).
fn pod_blocker(pod: &Pod, pdbs: &[PodDisruptionBudget]) -> Option<Blocker> {
    let pod_name = || PodRef::of(pod).to_string();
    match annotation(pod, SAFE_TO_EVICT)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("false") => return Some(Blocker::NotSafeToEvictAnnotation { pod: pod_name() }),
        Some("true") => return None,
        _ => {}
    }
    if controller(pod).is_none() {
        return Some(Blocker::NoController { pod: pod_name() });
    }
    if pod.metadata.namespace.as_deref() == Some("kube-system")
        && !pdbs.iter().any(|b| pdb_selects(b, pod))
    {
        return Some(Blocker::KubeSystemWithoutPdb { pod: pod_name() });
    }
    if has_unlisted_local_storage(pod) {
        return Some(Blocker::LocalStorage { pod: pod_name() });
    }
    None
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// The ownerReference with `controller: true`.
pub fn controller(pod: &Pod) -> Option<&OwnerReference> {
    pod.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
}

fn has_unlisted_local_storage(pod: &Pod) -> bool {
    let listed: Vec<&str> = annotation(pod, SAFE_TO_EVICT_LOCAL_VOLUMES)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter(|v| {
            v.host_path.is_some()
                || v.empty_dir
                    .as_ref()
                    .is_some_and(|e| e.medium.as_deref() != Some("Memory"))
        })
        .any(|v| !listed.contains(&v.name.as_str()))
}

/// policy/v1: a PDB selects pods of its own namespace; an empty selector selects all of
/// them, a missing one none.
pub fn pdb_selects(pdb: &PodDisruptionBudget, pod: &Pod) -> bool {
    if pdb.metadata.namespace != pod.metadata.namespace {
        return false;
    }
    let Some(selector) = pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    selector_matches(selector, pod.metadata.labels.as_ref())
}

/// metav1.LabelSelector semantics (matchLabels AND every matchExpression).
pub fn selector_matches(
    selector: &LabelSelector,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            // An unknown operator matches nothing, as the API server would refuse it.
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// A running pod `ns/name` owned by ReplicaSet `web-1`, labelled `app=web`; `extra` is
    /// merged over it (objects merge, anything else replaces).
    fn pod(ns: &str, name: &str, extra: Value) -> Pod {
        let mut v = json!({
            "metadata": {"namespace": ns, "name": name, "labels": {"app": "web"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web-1", "uid": "u1", "controller": true}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running"},
        });
        merge(&mut v, extra);
        serde_json::from_value(v).expect("pod")
    }

    fn merge(into: &mut Value, from: Value) {
        match (into, from) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
            (slot, v) => *slot = v,
        }
    }

    fn pdb(ns: &str, name: &str, selector: Value, allowed: i32) -> PodDisruptionBudget {
        serde_json::from_value(json!({
            "metadata": {"namespace": ns, "name": name},
            "spec": {"selector": selector},
            "status": {"disruptionsAllowed": allowed, "currentHealthy": 0,
                "desiredHealthy": 0, "expectedPods": 0},
        }))
        .expect("pdb")
    }

    fn node(annotations: Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": "n1", "annotations": annotations}}))
            .expect("node")
    }

    fn names(refs: &[PodRef]) -> Vec<String> {
        refs.iter().map(ToString::to_string).collect()
    }

    fn no_owner() -> Value {
        json!({"metadata": {"ownerReferences": []}})
    }
    fn annotated(key: &str, value: &str) -> Value {
        json!({"metadata": {"annotations": {key: value}}})
    }
    fn volumes(v: Value) -> Value {
        json!({"spec": {"volumes": v}})
    }
    fn with(a: Value, b: Value) -> Value {
        let mut a = a;
        merge(&mut a, b);
        a
    }

    const NS: &str = "default";

    fn b_no_controller(p: &str) -> Blocker {
        Blocker::NoController { pod: p.into() }
    }
    fn b_local(p: &str) -> Blocker {
        Blocker::LocalStorage { pod: p.into() }
    }
    fn b_annot(p: &str) -> Blocker {
        Blocker::NotSafeToEvictAnnotation { pod: p.into() }
    }
    fn b_kube_system(p: &str) -> Blocker {
        Blocker::KubeSystemWithoutPdb { pod: p.into() }
    }
    fn b_pdb(p: &str, pdb: &str) -> Blocker {
        Blocker::PdbAllowsNoDisruption {
            pod: p.into(),
            pdb: pdb.into(),
        }
    }

    struct Case {
        name: &'static str,
        node: Value,
        pods: Vec<Pod>,
        pdbs: Vec<PodDisruptionBudget>,
        evict: &'static [&'static str],
        skip: &'static [&'static str],
        blockers: Vec<Blocker>,
    }

    fn case(name: &'static str, pods: Vec<Pod>) -> Case {
        Case {
            name,
            node: json!({}),
            pods,
            pdbs: vec![],
            evict: &[],
            skip: &[],
            blockers: vec![],
        }
    }

    impl Case {
        fn evict(mut self, e: &'static [&'static str]) -> Self {
            self.evict = e;
            self
        }
        fn skip(mut self, s: &'static [&'static str]) -> Self {
            self.skip = s;
            self
        }
        fn blocked(mut self, b: Vec<Blocker>) -> Self {
            self.blockers = b;
            self
        }
        fn pdbs(mut self, p: Vec<PodDisruptionBudget>) -> Self {
            self.pdbs = p;
            self
        }
        fn node(mut self, annotations: Value) -> Self {
            self.node = annotations;
            self
        }
    }

    #[test]
    fn scale_down_rules() {
        let ds_owner = json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1",
            "kind": "DaemonSet", "name": "agent", "uid": "d", "controller": true}]}});
        let empty_dir = volumes(json!([{"name": "scratch", "emptyDir": {}}]));
        let host_path = volumes(json!([{"name": "logs", "hostPath": {"path": "/var/log"}}]));
        let both = volumes(json!([{"name": "scratch", "emptyDir": {}},
            {"name": "logs", "hostPath": {"path": "/var/log"}}]));
        let app_web = json!({"matchLabels": {"app": "web"}});
        let cases = vec![
            case("empty node", vec![]),
            case("replicated pod is evicted", vec![pod(NS, "a", json!({}))]).evict(&["default/a"]),
            case(
                "DaemonSet pod is skipped, even without safe-to-evict",
                vec![pod(NS, "ds", ds_owner.clone())],
            )
            .skip(&["default/ds"]),
            case(
                "mirror pod is skipped although it has no controller",
                vec![pod(NS, "m", with(no_owner(), annotated(MIRROR, "abc")))],
            )
            .skip(&["default/m"]),
            case(
                "Succeeded and Failed pods are skipped, even bare and with local storage",
                vec![
                    pod(
                        NS,
                        "done",
                        with(no_owner(), json!({"status": {"phase": "Succeeded"}})),
                    ),
                    pod(
                        NS,
                        "failed",
                        with(empty_dir.clone(), json!({"status": {"phase": "Failed"}})),
                    ),
                ],
            )
            .skip(&["default/done", "default/failed"]),
            case("bare pod blocks", vec![pod(NS, "bare", no_owner())])
                .evict(&["default/bare"])
                .blocked(vec![b_no_controller("default/bare")]),
            case(
                "a non-controller ownerReference is not a controller",
                vec![pod(
                    NS,
                    "owned",
                    json!({"metadata": {"ownerReferences": [{"apiVersion": "v1",
                    "kind": "ConfigMap", "name": "x", "uid": "c"}]}}),
                )],
            )
            .evict(&["default/owned"])
            .blocked(vec![b_no_controller("default/owned")]),
            case(
                "a Job or a custom controller counts as a controller",
                vec![pod(
                    NS,
                    "job",
                    json!({"metadata": {"ownerReferences": [{"apiVersion": "batch/v1",
                    "kind": "Job", "name": "j", "uid": "j", "controller": true}]}}),
                )],
            )
            .evict(&["default/job"]),
            case("emptyDir blocks", vec![pod(NS, "e", empty_dir.clone())])
                .evict(&["default/e"])
                .blocked(vec![b_local("default/e")]),
            case("hostPath blocks", vec![pod(NS, "h", host_path.clone())])
                .evict(&["default/h"])
                .blocked(vec![b_local("default/h")]),
            case(
                "memory-backed emptyDir is not local storage",
                vec![pod(
                    NS,
                    "mem",
                    volumes(json!([{"name": "tmp", "emptyDir": {"medium": "Memory"}}])),
                )],
            )
            .evict(&["default/mem"]),
            case(
                "configMap and PVC volumes are not local storage",
                vec![pod(
                    NS,
                    "cm",
                    volumes(json!([{"name": "c", "configMap": {"name": "x"}},
                    {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}])),
                )],
            )
            .evict(&["default/cm"]),
            case(
                "safe-to-evict-local-volumes listing every local volume unblocks",
                vec![pod(
                    NS,
                    "l",
                    with(
                        both.clone(),
                        annotated(SAFE_TO_EVICT_LOCAL_VOLUMES, "scratch, logs"),
                    ),
                )],
            )
            .evict(&["default/l"]),
            case(
                "safe-to-evict-local-volumes listing only some still blocks",
                vec![pod(
                    NS,
                    "l",
                    with(
                        both.clone(),
                        annotated(SAFE_TO_EVICT_LOCAL_VOLUMES, "scratch"),
                    ),
                )],
            )
            .evict(&["default/l"])
            .blocked(vec![b_local("default/l")]),
            case(
                "safe-to-evict=false blocks a replicated pod",
                vec![pod(NS, "p", annotated(SAFE_TO_EVICT, "false"))],
            )
            .evict(&["default/p"])
            .blocked(vec![b_annot("default/p")]),
            case(
                "safe-to-evict=false wins over everything else about the pod",
                vec![pod(
                    NS,
                    "p",
                    with(
                        with(no_owner(), empty_dir.clone()),
                        annotated(SAFE_TO_EVICT, "false"),
                    ),
                )],
            )
            .evict(&["default/p"])
            .blocked(vec![b_annot("default/p")]),
            case(
                "safe-to-evict=false does not keep a DaemonSet pod (skipped)",
                vec![pod(
                    NS,
                    "ds",
                    with(ds_owner.clone(), annotated(SAFE_TO_EVICT, "false")),
                )],
            )
            .skip(&["default/ds"]),
            case(
                "safe-to-evict=true overrides no controller",
                vec![pod(
                    NS,
                    "bare",
                    with(no_owner(), annotated(SAFE_TO_EVICT, "true")),
                )],
            )
            .evict(&["default/bare"]),
            case(
                "safe-to-evict=true overrides local storage",
                vec![pod(
                    NS,
                    "e",
                    with(both.clone(), annotated(SAFE_TO_EVICT, "true")),
                )],
            )
            .evict(&["default/e"]),
            case(
                "safe-to-evict=true overrides kube-system without PDB",
                vec![pod("kube-system", "dns", annotated(SAFE_TO_EVICT, "true"))],
            )
            .evict(&["kube-system/dns"]),
            case(
                "safe-to-evict=true does not override a PDB with no disruption left",
                vec![pod(NS, "a", annotated(SAFE_TO_EVICT, "true"))],
            )
            .pdbs(vec![pdb(NS, "web", app_web.clone(), 0)])
            .evict(&["default/a"])
            .blocked(vec![b_pdb("default/a", "default/web")]),
            case(
                "safe-to-evict with another value is ignored",
                vec![pod(
                    NS,
                    "bare",
                    with(no_owner(), annotated(SAFE_TO_EVICT, "yes")),
                )],
            )
            .evict(&["default/bare"])
            .blocked(vec![b_no_controller("default/bare")]),
            case(
                "kube-system pod without PDB blocks",
                vec![pod("kube-system", "dns", json!({}))],
            )
            .evict(&["kube-system/dns"])
            .blocked(vec![b_kube_system("kube-system/dns")]),
            case(
                "kube-system pod with a PDB that allows a disruption is evicted",
                vec![pod("kube-system", "dns", json!({}))],
            )
            .pdbs(vec![pdb("kube-system", "dns", app_web.clone(), 1)])
            .evict(&["kube-system/dns"]),
            case(
                "a PDB in another namespace does not cover a kube-system pod",
                vec![pod("kube-system", "dns", json!({}))],
            )
            .pdbs(vec![pdb(NS, "web", app_web.clone(), 1)])
            .evict(&["kube-system/dns"])
            .blocked(vec![b_kube_system("kube-system/dns")]),
            case(
                "kube-system pod whose PDB allows nothing is blocked by the PDB",
                vec![pod("kube-system", "dns", json!({}))],
            )
            .pdbs(vec![pdb("kube-system", "dns", app_web.clone(), 0)])
            .evict(&["kube-system/dns"])
            .blocked(vec![b_pdb("kube-system/dns", "kube-system/dns")]),
            case(
                "PDB with disruptionsAllowed 0 blocks",
                vec![pod(NS, "a", json!({}))],
            )
            .pdbs(vec![pdb(NS, "web", app_web.clone(), 0)])
            .evict(&["default/a"])
            .blocked(vec![b_pdb("default/a", "default/web")]),
            case(
                "PDB allowing 1 with two of its pods on the node blocks the second",
                vec![pod(NS, "a", json!({})), pod(NS, "b", json!({}))],
            )
            .pdbs(vec![pdb(NS, "web", app_web.clone(), 1)])
            .evict(&["default/a", "default/b"])
            .blocked(vec![b_pdb("default/b", "default/web")]),
            case(
                "PDB allowing 2 covers two pods",
                vec![pod(NS, "a", json!({})), pod(NS, "b", json!({}))],
            )
            .pdbs(vec![pdb(NS, "web", app_web.clone(), 2)])
            .evict(&["default/a", "default/b"]),
            case(
                "PDB without status counts as allowing nothing",
                vec![pod(NS, "a", json!({}))],
            )
            .pdbs(vec![
                serde_json::from_value(json!({"metadata": {"namespace": NS, "name": "new"},
                "spec": {"selector": {}}}))
                .unwrap(),
            ])
            .evict(&["default/a"])
            .blocked(vec![b_pdb("default/a", "default/new")]),
            case(
                "PDB whose labels do not match, or in another namespace, is ignored",
                vec![pod(NS, "a", json!({}))],
            )
            .pdbs(vec![
                pdb(NS, "db", json!({"matchLabels": {"app": "db"}}), 0),
                pdb("other", "web", app_web.clone(), 0),
            ])
            .evict(&["default/a"]),
            case(
                "PDB without selector selects nothing",
                vec![pod(NS, "a", json!({}))],
            )
            .pdbs(vec![
                serde_json::from_value(json!({"metadata": {"namespace": NS, "name": "none"},
                "spec": {}, "status": {"disruptionsAllowed": 0, "currentHealthy": 0,
                "desiredHealthy": 0, "expectedPods": 0}}))
                .unwrap(),
            ])
            .evict(&["default/a"]),
            case(
                "PDB with an empty selector selects every pod of its namespace",
                vec![pod(NS, "a", json!({}))],
            )
            .pdbs(vec![pdb(NS, "all", json!({}), 0)])
            .evict(&["default/a"])
            .blocked(vec![b_pdb("default/a", "default/all")]),
            case(
                "a DaemonSet pod does not spend a PDB's allowance",
                vec![pod(NS, "ds", ds_owner.clone()), pod(NS, "a", json!({}))],
            )
            .pdbs(vec![pdb(NS, "web", app_web.clone(), 1)])
            .evict(&["default/a"])
            .skip(&["default/ds"]),
            case(
                "scale-down-disabled on the node blocks an empty node",
                vec![],
            )
            .node(json!({SCALE_DOWN_DISABLED: "true"}))
            .blocked(vec![Blocker::NodeScaleDownDisabled]),
            case(
                "scale-down-disabled=false does not block",
                vec![pod(NS, "a", json!({}))],
            )
            .node(json!({SCALE_DOWN_DISABLED: "false"}))
            .evict(&["default/a"]),
            case(
                "every blocker is reported, node first",
                vec![
                    pod(NS, "bare", no_owner()),
                    pod(NS, "e", host_path.clone()),
                    pod(NS, "ds", ds_owner.clone()),
                    pod(NS, "ok", json!({})),
                ],
            )
            .node(json!({SCALE_DOWN_DISABLED: "true"}))
            .evict(&["default/bare", "default/e", "default/ok"])
            .skip(&["default/ds"])
            .blocked(vec![
                Blocker::NodeScaleDownDisabled,
                b_no_controller("default/bare"),
                b_local("default/e"),
            ]),
        ];
        let mut failures = Vec::new();
        for c in cases {
            let got = review_node(&node(c.node.clone()), &c.pods, &c.pdbs);
            let want = (
                c.evict.iter().map(ToString::to_string).collect::<Vec<_>>(),
                c.skip.iter().map(ToString::to_string).collect::<Vec<_>>(),
                c.blockers.clone(),
            );
            let have = (names(&got.evict), names(&got.skip), got.blockers.clone());
            if have != want {
                failures.push(format!("{}:\n  want {want:?}\n  got  {have:?}", c.name));
            }
            assert_eq!(got.removable(), c.blockers.is_empty(), "{}", c.name);
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn label_selector_expressions() {
        let labels: BTreeMap<String, String> = [("app", "web"), ("tier", "front")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let table = [
            (json!({}), true),
            (json!({"matchLabels": {"app": "web"}}), true),
            (
                json!({"matchLabels": {"app": "web", "tier": "back"}}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["api"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}),
                true,
            ),
            (
                json!({"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["back"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "Bogus"}]}),
                false,
            ),
        ];
        for (selector, want) in table {
            let s: LabelSelector = serde_json::from_value(selector.clone()).unwrap();
            assert_eq!(selector_matches(&s, Some(&labels)), want, "{selector}");
        }
    }

    #[test]
    fn skip_reasons_and_display() {
        let mirror = pod(NS, "m", annotated(MIRROR, "x"));
        assert_eq!(skip_reason(&mirror), Some(SkipReason::Mirror));
        assert_eq!(skip_reason(&pod(NS, "a", json!({}))), None);
        assert_eq!(PodRef::of(&mirror).to_string(), "default/m");
        assert_eq!(
            b_pdb("default/a", "default/web").to_string(),
            "pod default/a: PodDisruptionBudget default/web allows no (further) disruption"
        );
    }
}
