//! The cluster simulation, run under the server's lock after every write, on clock advances
//! and from a background ticker. Each controller is a level-triggered pass over the store:
//!
//! - terminating pods disappear when their grace period has passed (sim clock); pods bound
//!   to a node that no longer exists are deleted (pod GC);
//! - a deleted namespace takes its contents with it; dependents whose owners are all gone
//!   are garbage-collected (background propagation);
//! - Deployment → one ReplicaSet per pod template (older ones scaled to 0: a "Recreate"
//!   rollout) → pods; StatefulSets → `<name>-<ordinal>` pods; DaemonSets → one pod per
//!   eligible node;
//! - the scheduler binds Pending pods to Ready, schedulable nodes whose taints they tolerate,
//!   whose labels match their nodeSelector and whose allocatable cpu/memory/pods fit the sum
//!   of requests; otherwise PodScheduled=False/Unschedulable with the real message shape;
//! - the kubelet turns a bound pod Running and Ready at once (annotation
//!   `testbed.k8s.io/ready: "false"` keeps it unready; a NotReady node makes its pods unready);
//! - PodDisruptionBudget status is kept current.
use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::eviction::{pod_ready, refresh_pdbs};
use super::handlers;
use super::nodes::{
    allocatable, blocking_taints, node_ready, requests, selector_matches, tolerates,
};
use super::selectors::Selector;
use super::state::State;
use super::util::{
    controller_of, fmt_time, fnv1a, is_terminating, labels_of, name_of, namespace_of, parse_time,
    str_at, uid_of,
};

const RS: &str = "replicasets.apps";
const DEPLOY: &str = "deployments.apps";
const STS: &str = "statefulsets.apps";
const DS: &str = "daemonsets.apps";
pub const READY_ANNOTATION: &str = "testbed.k8s.io/ready";

/// Runs every controller until nothing changes (bounded).
pub fn reconcile(state: &mut State, now: Timestamp) {
    run_controllers(state, now);
    state.settled_rv = Some(state.store.resource_version());
}

/// The ticker's pass: only time can have changed since the last reconcile (every simulated
/// write reconciles itself), so a full pass is needed only when a grace period has ended
/// or a write skipped its pass. Keeps an idle stand-in with thousands of objects from
/// holding the lock every tick.
pub fn tick(state: &mut State, now: Timestamp) {
    let settled = state.settled_rv == Some(state.store.resource_version());
    let due = state.store.list("pods", None).into_iter().any(|p| {
        let due = str_at(p, &["metadata", "deletionTimestamp"]);
        !due.is_empty() && parse_time(due).is_none_or(|t| t <= now)
    });
    if !settled || due {
        reconcile(state, now);
    }
}

fn run_controllers(state: &mut State, now: Timestamp) {
    for _ in 0..10 {
        let before = state.store.resource_version();
        finish_pods(state, now);
        namespaces(state);
        garbage_collect(state, now);
        deployments(state, now);
        replicasets(state, now);
        statefulsets(state, now);
        daemonsets(state, now);
        schedule(state, now);
        kubelet(state, now);
        refresh_pdbs(state, now);
        if state.store.resource_version() == before {
            break;
        }
    }
}

fn finish_pods(state: &mut State, now: Timestamp) {
    let done: Vec<(String, String)> = state
        .store
        .list("pods", None)
        .into_iter()
        .filter(|p| {
            let node = str_at(p, &["spec", "nodeName"]);
            let orphaned = !node.is_empty() && state.store.get("nodes", "", node).is_none();
            let due = str_at(p, &["metadata", "deletionTimestamp"]);
            let expired = !due.is_empty() && parse_time(due).is_none_or(|t| t <= now);
            let finalizers = p["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty());
            orphaned || (expired && !finalizers)
        })
        .map(|p| (namespace_of(p).to_string(), name_of(p).to_string()))
        .collect();
    for (ns, name) in done {
        state.store.delete("pods", &ns, &name);
    }
}

fn namespaces(state: &mut State) {
    for ns in state.store.list_owned("namespaces", None) {
        if !is_terminating(&ns) {
            continue;
        }
        let name = name_of(&ns);
        for gr in state.store.group_resources() {
            if gr == "namespaces" {
                continue;
            }
            for o in state.store.list_owned(&gr, Some(name)) {
                state.store.delete(&gr, name, name_of(&o));
            }
        }
        state.store.delete("namespaces", "", name);
    }
}

fn garbage_collect(state: &mut State, now: Timestamp) {
    // Owners go away only by removal, so nothing new can be orphaned unless one happened
    // since the last collection (its own deletes count: they may orphan the next level).
    // An object created with an owner that never existed waits for the next removal.
    let removals = state.store.removals;
    if state.collected_at == Some(removals) {
        return;
    }
    state.collected_at = Some(removals);
    let grs = state.store.group_resources();
    let mut uids = std::collections::HashSet::new();
    for gr in &grs {
        for o in state.store.list(gr, None) {
            uids.insert(uid_of(o));
        }
    }
    // Dependents none of whose owners exist any more (collected by reference: this runs
    // after every write).
    let mut orphans: Vec<(String, String, String)> = Vec::new();
    for gr in &grs {
        for o in state.store.list(gr, None) {
            let Some(refs) = o["metadata"]["ownerReferences"]
                .as_array()
                .filter(|r| !r.is_empty())
            else {
                continue;
            };
            if !is_terminating(o) && !refs.iter().any(|r| uids.contains(str_at(r, &["uid"]))) {
                orphans.push((
                    gr.clone(),
                    namespace_of(o).to_string(),
                    name_of(o).to_string(),
                ));
            }
        }
    }
    for (gr, ns, name) in orphans {
        if let Ok(rt) = state.rt(&gr) {
            let _ = handlers::delete(state, &rt, &ns, &name, None, now);
        }
    }
}

fn owner_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name_of(owner), "uid": uid_of(owner),
           "controller": true, "blockOwnerDeletion": true})
}

type Key = (String, String);

/// The objects of `gr` by their controller's uid, as (namespace, name): one pass over `gr`
/// per controller run instead of one per owner (this runs after every write, and a scan per
/// owner made 500 Deployments quadratic).
fn children(state: &State, gr: &str) -> HashMap<String, Vec<Key>> {
    let mut by_owner: HashMap<String, Vec<Key>> = HashMap::new();
    for o in state.store.list(gr, None) {
        if let Some(uid) = controller_of(o).and_then(|c| c["uid"].as_str()) {
            by_owner
                .entry(uid.to_string())
                .or_default()
                .push((namespace_of(o).to_string(), name_of(o).to_string()));
        }
    }
    by_owner
}

/// The objects behind `keys` as they are now (deleted ones left out).
fn current(state: &State, gr: &str, keys: &[Key]) -> Vec<Value> {
    keys.iter()
        .filter_map(|(ns, name)| state.store.get(gr, ns, name).cloned())
        .collect()
}

/// Writes a controller's status when it changed (no-op writes would churn resourceVersion);
/// the object is cloned only then (the controllers run after every write over every
/// object, so clones are the cost).
fn write_status_at(state: &mut State, gr: &str, (ns, name): &Key, status: Value) {
    let Some(obj) = state.store.get(gr, ns, name) else {
        return;
    };
    if obj["status"] != status {
        let mut o = obj.clone();
        o["status"] = status;
        state.store.update(gr, o);
    }
}

/// The resourceVersions a controller's pass over `owner` reads: the owner's and its
/// children's. A pass is a function of those objects (the clock only stamps transitions),
/// so when they are as they were at the owner's last pass that wrote nothing, it is
/// skipped — the incremental shape of a real controller's work queue, without which every
/// write costs a pass over every object.
fn inputs(state: &State, owner: &Value, child_gr: &str, children: &[Key]) -> u64 {
    let mut seen = String::from(str_at(owner, &["metadata", "resourceVersion"]));
    for (ns, name) in children {
        seen.push('/');
        if let Some(c) = state.store.get(child_gr, ns, name) {
            seen.push_str(str_at(c, &["metadata", "resourceVersion"]));
        }
    }
    fnv1a(seen.as_bytes())
}

/// Whether `owner`'s pass would read what its last no-op pass read.
fn unchanged(state: &State, owner: &Value, fingerprint: u64) -> bool {
    state.settled_inputs.get(uid_of(owner)) == Some(&fingerprint)
}

/// Records a no-op pass (`before`: the store's resourceVersion when it began).
fn settle(state: &mut State, uid: String, before: u64, fingerprint: u64) {
    if state.store.resource_version() == before {
        state.settled_inputs.insert(uid, fingerprint);
    }
}

/// Every (namespace, name) of `gr`.
fn keys_of(state: &State, gr: &str) -> Vec<Key> {
    state
        .store
        .list(gr, None)
        .into_iter()
        .map(|o| (namespace_of(o).to_string(), name_of(o).to_string()))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn new_pod(
    state: &mut State,
    now: Timestamp,
    owner: &Value,
    owner_ref: Value,
    name: String,
    template: &Value,
    node: Option<&str>,
    extra_labels: &[(&str, String)],
) -> Key {
    let ns = namespace_of(owner).to_string();
    let mut meta = template["metadata"].clone();
    if !meta.is_object() {
        meta = json!({});
    }
    meta["name"] = json!(name);
    meta["namespace"] = json!(ns);
    meta["ownerReferences"] = json!([owner_ref]);
    for (k, v) in extra_labels {
        meta["labels"][*k] = json!(v);
    }
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"].clone()});
    if let Some(n) = node {
        pod["spec"]["nodeName"] = json!(n);
    }
    if let Ok(rt) = state.rt("pods") {
        handlers::prepare_create(&rt, &mut pod);
    }
    let key = (ns, name_of(&pod).to_string());
    if state.store.get("pods", &key.0, &key.1).is_none() {
        state.store.create("pods", pod, &fmt_time(now));
    }
    key
}

fn template_hash(template: &Value) -> String {
    const A: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = fnv1a(template.to_string().as_bytes());
    (0..10)
        .map(|_| {
            let c = A[(h % A.len() as u64) as usize] as char;
            h /= A.len() as u64;
            c
        })
        .collect()
}

fn set_spec_replicas(state: &mut State, gr: &str, (ns, name): &Key, n: i64) {
    let Some(obj) = state.store.get(gr, ns, name) else {
        return;
    };
    if obj["spec"]["replicas"].as_i64() != Some(n) {
        let mut o = obj.clone();
        o["spec"]["replicas"] = json!(n);
        let g = o["metadata"]["generation"].as_i64().unwrap_or(1);
        o["metadata"]["generation"] = json!(g + 1);
        state.store.update(gr, o);
    }
}

/// What the Deployment controller does for one Deployment, decided on borrowed state.
struct DeploymentPass {
    /// The ReplicaSet of the current template, when it does not exist yet.
    create: Option<Value>,
    /// (ReplicaSet, replicas it should have).
    resize: Vec<(Key, i64)>,
    status: Value,
}

fn deployments(state: &mut State, now: Timestamp) {
    let mut replica_sets = children(state, RS);
    for key in keys_of(state, DEPLOY) {
        let Some(d) = state.store.get(DEPLOY, &key.0, &key.1) else {
            continue;
        };
        if is_terminating(d) {
            continue;
        }
        let uid = uid_of(d).to_string();
        let keys = replica_sets.entry(uid.clone()).or_default();
        let fingerprint = inputs(state, d, RS, keys);
        if unchanged(state, d, fingerprint) {
            continue;
        }
        let before = state.store.resource_version();
        let pass = deployment_pass(state, d, keys, now);
        if let Some(rs) = pass.create {
            keys.push((key.0.clone(), name_of(&rs).to_string()));
            state.store.create(RS, rs, &fmt_time(now));
        }
        for (rs, n) in &pass.resize {
            set_spec_replicas(state, RS, rs, *n);
        }
        write_status_at(state, DEPLOY, &key, pass.status);
        settle(state, uid, before, fingerprint);
    }
}

fn deployment_pass(state: &State, d: &Value, rs_keys: &[Key], now: Timestamp) -> DeploymentPass {
    let ns = namespace_of(d);
    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let hash = template_hash(&d["spec"]["template"]);
    let rs_name = format!("{}-{hash}", name_of(d));
    let rss: Vec<&Value> = rs_keys
        .iter()
        .filter_map(|(n, name)| state.store.get(RS, n, name))
        .collect();
    let mut create = None;
    let mut resize = Vec::new();
    match rss.iter().find(|r| name_of(r) == rs_name) {
        Some(_) => resize.push(((ns.to_string(), rs_name.clone()), replicas)),
        None if state.store.get(RS, ns, &rs_name).is_none() => {
            let mut template = d["spec"]["template"].clone();
            template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let mut selector = d["spec"]["selector"].clone();
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let revision = rss.len() + 1;
            create = Some(json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": ns, "labels": template["metadata"]["labels"],
                    "annotations": {"deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                                    "deployment.kubernetes.io/revision": revision.to_string()},
                    "ownerReferences": [owner_ref(d, "apps/v1", "Deployment")]},
                "spec": {"replicas": replicas, "selector": selector, "template": template},
                "status": {"replicas": 0}
            }));
        }
        None => {}
    }
    for old in rss.iter().filter(|r| name_of(r) != rs_name) {
        resize.push(((ns.to_string(), name_of(old).to_string()), 0));
    }
    // Status from the ReplicaSets' status as it is (resizing them changes only their spec;
    // a ReplicaSet created now has no replicas yet).
    let sum = |k: &str| -> i64 {
        rss.iter()
            .map(|r| r["status"][k].as_i64().unwrap_or(0))
            .sum()
    };
    let updated = rss
        .iter()
        .find(|r| name_of(r) == rs_name)
        .map(|r| r["status"]["replicas"].as_i64().unwrap_or(0))
        .unwrap_or(0);
    let available = sum("availableReplicas");
    let total = sum("replicas");
    let old_conds = &d["status"]["conditions"];
    let cond = |t: &str, ok: bool, reason: &str, msg: String| {
        let status = if ok { "True" } else { "False" };
        let since = old_conds
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == t && c["status"] == status))
            .map(|c| c["lastTransitionTime"].clone())
            .unwrap_or_else(|| json!(fmt_time(now)));
        json!({"type": t, "status": status, "reason": reason, "message": msg,
               "lastUpdateTime": since, "lastTransitionTime": since})
    };
    let is_available = available >= replicas;
    let complete = updated == replicas && total == replicas && available == replicas;
    let status = json!({
        "observedGeneration": d["metadata"]["generation"],
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": sum("readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": (total - available).max(0),
        "conditions": [
            cond("Available", is_available,
                 if is_available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                 if is_available { "Deployment has minimum availability.".into() } else { "Deployment does not have minimum availability.".into() }),
            cond("Progressing", true,
                 if complete { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" },
                 format!("ReplicaSet \"{rs_name}\" {}", if complete { "has successfully progressed." } else { "is progressing." })),
        ],
    });
    DeploymentPass {
        create,
        resize,
        status,
    }
}

/// Which pods a controller removes first: unscheduled, then pending, then unready, then
/// the newest (as the ReplicaSet controller ranks them).
fn deletion_rank(p: &Value) -> (u8, u8, u8, std::cmp::Reverse<String>) {
    (
        u8::from(!str_at(p, &["spec", "nodeName"]).is_empty()),
        u8::from(str_at(p, &["status", "phase"]) == "Running"),
        u8::from(pod_ready(p)),
        std::cmp::Reverse(str_at(p, &["metadata", "creationTimestamp"]).to_string()),
    )
}

fn replica_status(pods: &[&Value], generation: &Value) -> Value {
    let ready = pods.iter().filter(|p| pod_ready(p)).count();
    json!({
        "replicas": pods.len(),
        "fullyLabeledReplicas": pods.len(),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": generation,
    })
}

fn replicasets(state: &mut State, now: Timestamp) {
    let Ok(pods_rt) = state.rt("pods") else {
        return;
    };
    let mut pods_of = children(state, "pods");
    for key in keys_of(state, RS) {
        let Some(rs) = state.store.get(RS, &key.0, &key.1) else {
            continue;
        };
        if is_terminating(rs) {
            continue;
        }
        let want = rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
        let uid = uid_of(rs).to_string();
        let keys = pods_of.entry(uid.clone()).or_default();
        let fingerprint = inputs(state, rs, "pods", keys);
        if unchanged(state, rs, fingerprint) {
            continue;
        }
        let before = state.store.resource_version();
        let mut active: Vec<&Value> = keys
            .iter()
            .filter_map(|(ns, name)| state.store.get("pods", ns, name))
            .filter(|p| !is_terminating(p))
            .collect();
        if active.len() < want {
            let rs = rs.clone();
            for _ in active.len()..want {
                let name = format!("{}-{}", name_of(&rs), state.store.rng.suffix(5));
                keys.push(new_pod(
                    state,
                    now,
                    &rs,
                    owner_ref(&rs, "apps/v1", "ReplicaSet"),
                    name,
                    &rs["spec"]["template"],
                    None,
                    &[],
                ));
            }
        } else if active.len() > want {
            active.sort_by_key(|p| deletion_rank(p));
            let doomed: Vec<Key> = active[..active.len() - want]
                .iter()
                .map(|p| (namespace_of(p).to_string(), name_of(p).to_string()))
                .collect();
            for (ns, name) in doomed {
                let _ = handlers::delete(state, &pods_rt, &ns, &name, None, now);
            }
        }
        let Some(rs) = state.store.get(RS, &key.0, &key.1) else {
            continue;
        };
        let live: Vec<&Value> = keys
            .iter()
            .filter_map(|(ns, name)| state.store.get("pods", ns, name))
            .filter(|p| !is_terminating(p))
            .collect();
        let status = replica_status(&live, &rs["metadata"]["generation"]);
        write_status_at(state, RS, &key, status);
        settle(state, uid, before, fingerprint);
    }
}

fn statefulsets(state: &mut State, now: Timestamp) {
    let Ok(pods_rt) = state.rt("pods") else {
        return;
    };
    let mut pods_of = children(state, "pods");
    for sts in state.store.list_owned(STS, None) {
        if is_terminating(&sts) {
            continue;
        }
        let keys = pods_of.entry(uid_of(&sts).to_string()).or_default();
        let ns = namespace_of(&sts).to_string();
        let want = sts["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
        for i in 0..want {
            let name = format!("{}-{i}", name_of(&sts));
            if state.store.get("pods", &ns, &name).is_none() {
                let labels = [
                    ("statefulset.kubernetes.io/pod-name", name.clone()),
                    ("apps.kubernetes.io/pod-index", i.to_string()),
                ];
                keys.push(new_pod(
                    state,
                    now,
                    &sts,
                    owner_ref(&sts, "apps/v1", "StatefulSet"),
                    name,
                    &sts["spec"]["template"],
                    None,
                    &labels,
                ));
            }
        }
        for p in current(state, "pods", keys) {
            let ordinal = name_of(&p)
                .rsplit('-')
                .next()
                .and_then(|o| o.parse::<i64>().ok())
                .unwrap_or(i64::MAX);
            if ordinal >= want && !is_terminating(&p) {
                let _ = handlers::delete(state, &pods_rt, &ns, name_of(&p), None, now);
            }
        }
        let pods = current(state, "pods", keys);
        let live: Vec<&Value> = pods.iter().filter(|p| !is_terminating(p)).collect();
        let mut status = replica_status(&live, &sts["metadata"]["generation"]);
        status["currentReplicas"] = json!(live.len());
        status["updatedReplicas"] = json!(live.len());
        if let Some(m) = status.as_object_mut() {
            m.remove("fullyLabeledReplicas");
        }
        write_status_at(state, STS, &(ns, name_of(&sts).to_string()), status);
    }
}

/// Taints every DaemonSet pod tolerates (added by the DaemonSet controller).
fn daemon_tolerates(template: &Value, taint: &Value) -> bool {
    const AUTO: &[&str] = &[
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/unschedulable",
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/network-unavailable",
    ];
    AUTO.contains(&str_at(taint, &["key"])) || tolerates(&template["spec"]["tolerations"], taint)
}

fn daemonsets(state: &mut State, now: Timestamp) {
    let Ok(pods_rt) = state.rt("pods") else {
        return;
    };
    let nodes = state.store.list_owned("nodes", None);
    let mut pods_of = children(state, "pods");
    for ds in state.store.list_owned(DS, None) {
        if is_terminating(&ds) {
            continue;
        }
        let keys = pods_of.entry(uid_of(&ds).to_string()).or_default();
        let template = &ds["spec"]["template"];
        let eligible: Vec<&Value> = nodes
            .iter()
            .filter(|n| !is_terminating(n))
            .filter(|n| selector_matches(&template["spec"]["nodeSelector"], n))
            .filter(|n| {
                blocking_taints(n)
                    .iter()
                    .all(|t| daemon_tolerates(template, t))
            })
            .collect();
        let pods = current(state, "pods", keys);
        for n in &eligible {
            let node = name_of(n);
            if !pods
                .iter()
                .any(|p| str_at(p, &["spec", "nodeName"]) == node && !is_terminating(p))
            {
                let name = format!("{}-{}", name_of(&ds), state.store.rng.suffix(5));
                keys.push(new_pod(
                    state,
                    now,
                    &ds,
                    owner_ref(&ds, "apps/v1", "DaemonSet"),
                    name,
                    template,
                    Some(node),
                    &[],
                ));
            }
        }
        for p in &pods {
            let node = str_at(p, &["spec", "nodeName"]);
            if !is_terminating(p) && !eligible.iter().any(|n| name_of(n) == node) {
                let _ = handlers::delete(state, &pods_rt, namespace_of(p), name_of(p), None, now);
            }
        }
        let pods = current(state, "pods", keys);
        let live: Vec<&Value> = pods.iter().filter(|p| !is_terminating(p)).collect();
        let ready = live.iter().filter(|p| pod_ready(p)).count();
        let status = json!({
            "desiredNumberScheduled": eligible.len(),
            "currentNumberScheduled": live.len(),
            "updatedNumberScheduled": live.len(),
            "numberReady": ready,
            "numberAvailable": ready,
            "numberUnavailable": eligible.len().saturating_sub(ready),
            "numberMisscheduled": 0,
            "observedGeneration": ds["metadata"]["generation"],
        });
        let key = (namespace_of(&ds).to_string(), name_of(&ds).to_string());
        write_status_at(state, DS, &key, status);
    }
}

fn set_condition(pod: &mut Value, cond: Value) {
    let conds = pod["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out: Vec<Value> = Vec::new();
    let mut placed = false;
    for c in conds {
        if c["type"] == cond["type"] {
            // Keep the transition time when the status did not change.
            let mut n = cond.clone();
            if c["status"] == cond["status"] {
                n["lastTransitionTime"] = c["lastTransitionTime"].clone();
            }
            out.push(n);
            placed = true;
        } else {
            out.push(c);
        }
    }
    if !placed {
        out.push(cond);
    }
    pod["status"]["conditions"] = json!(out);
}

fn schedule(state: &mut State, now: Timestamp) {
    // (creationTimestamp, namespace, name): the order the scheduler takes them in.
    let mut pending: Vec<(String, String, String)> = state
        .store
        .list("pods", None)
        .into_iter()
        .filter(|p| {
            str_at(p, &["spec", "nodeName"]).is_empty()
                && !is_terminating(p)
                && str_at(p, &["status", "phase"]) == "Pending"
                && matches!(
                    str_at(p, &["spec", "schedulerName"]),
                    "" | "default-scheduler"
                )
        })
        .map(|p| {
            (
                str_at(p, &["metadata", "creationTimestamp"]).to_string(),
                namespace_of(p).to_string(),
                name_of(p).to_string(),
            )
        })
        .collect();
    if pending.is_empty() {
        return;
    }
    pending.sort_by(|a, b| (&a.0, &a.2).cmp(&(&b.0, &b.2)));
    let nodes = state.store.list_owned("nodes", None);
    // Requests already placed on each node (terminating pods hold theirs until gone).
    let mut by_node: HashMap<&str, (f64, f64, f64)> = HashMap::new();
    for p in state.store.list("pods", None) {
        let node = str_at(p, &["spec", "nodeName"]);
        if node.is_empty() || matches!(str_at(p, &["status", "phase"]), "Succeeded" | "Failed") {
            continue;
        }
        let (c, m) = requests(p);
        let u = by_node.entry(node).or_default();
        *u = (u.0 + c, u.1 + m, u.2 + 1.0);
    }
    let mut used: Vec<(f64, f64, f64)> = nodes
        .iter()
        .map(|n| by_node.get(name_of(n)).copied().unwrap_or_default())
        .collect();
    let ts = fmt_time(now);
    for (_, ns, name) in pending {
        let Some(pod) = state.store.get("pods", &ns, &name) else {
            continue;
        };
        let (cpu, mem) = requests(pod);
        let mut reasons: Vec<(String, usize)> = Vec::new();
        let mut note = |r: String| match reasons.iter_mut().find(|(k, _)| *k == r) {
            Some(e) => e.1 += 1,
            None => reasons.push((r, 1)),
        };
        let mut best: Option<(usize, f64)> = None;
        for (i, n) in nodes.iter().enumerate() {
            if is_terminating(n) {
                note("node(s) were being deleted".into());
                continue;
            }
            if let Some(t) = blocking_taints(n)
                .into_iter()
                .find(|t| !tolerates(&pod["spec"]["tolerations"], t))
            {
                let key = str_at(&t, &["key"]);
                note(match key {
                    "node.kubernetes.io/unschedulable" => "node(s) were unschedulable".into(),
                    _ => format!(
                        "node(s) had untolerated taint {{{key}: {}}}",
                        str_at(&t, &["value"])
                    ),
                });
                continue;
            }
            if !selector_matches(&pod["spec"]["nodeSelector"], n) {
                note("node(s) didn't match Pod's node affinity/selector".into());
                continue;
            }
            let (acpu, amem, apods) = allocatable(n);
            let (ucpu, umem, upods) = used[i];
            let mut fits = true;
            if ucpu + cpu > acpu + 1e-9 {
                note("Insufficient cpu".into());
                fits = false;
            }
            if umem + mem > amem {
                note("Insufficient memory".into());
                fits = false;
            }
            if upods + 1.0 > apods {
                note("Too many pods".into());
                fits = false;
            }
            if fits {
                // LeastAllocated: the node with the most cpu left wins; ties go by name order.
                let free = if acpu > 0.0 {
                    (acpu - ucpu - cpu) / acpu
                } else {
                    0.0
                };
                if best.is_none_or(|(_, f)| free > f + 1e-12) {
                    best = Some((i, free));
                }
            }
        }
        match best {
            Some((i, _)) => {
                used[i].0 += cpu;
                used[i].1 += mem;
                used[i].2 += 1.0;
                let mut pod = pod.clone();
                pod["spec"]["nodeName"] = json!(name_of(&nodes[i]));
                set_condition(
                    &mut pod,
                    json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": ts}),
                );
                state.store.update("pods", pod);
            }
            None => {
                let detail: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
                let msg = format!(
                    "0/{} nodes are available: {}. preemption: 0/{} nodes are available: {} Preemption is not helpful for scheduling.",
                    nodes.len(),
                    if detail.is_empty() {
                        "no nodes available to schedule pods".to_string()
                    } else {
                        detail.join(", ")
                    },
                    nodes.len(),
                    nodes.len()
                );
                // Cloned only when the condition says something new: every unschedulable
                // pod is looked at on every pass.
                let said = pod["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["type"] == "PodScheduled"
                            && c["status"] == "False"
                            && c["reason"] == "Unschedulable"
                            && c["message"] == msg.as_str()
                            && c["lastProbeTime"].is_null()
                    })
                });
                if !said {
                    let mut pod = pod.clone();
                    set_condition(
                        &mut pod,
                        json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                        "message": msg, "lastProbeTime": null, "lastTransitionTime": ts}),
                    );
                    state.store.update("pods", pod);
                }
            }
        }
    }
}

fn kubelet(state: &mut State, now: Timestamp) {
    let ts = fmt_time(now);
    let want = |p: &Value, node: &Value| {
        node_ready(node) && p["metadata"]["annotations"][READY_ANNOTATION].as_str() != Some("false")
    };
    // Pods already Running with the readiness they should have need nothing (fast path:
    // this runs after every write).
    let todo: Vec<Value> = state
        .store
        .list("pods", None)
        .into_iter()
        .filter(|p| {
            let node_name = str_at(p, &["spec", "nodeName"]);
            if node_name.is_empty() || is_terminating(p) {
                return false;
            }
            let Some(node) = state.store.get("nodes", "", node_name) else {
                return false;
            };
            let settled = str_at(p, &["status", "phase"]) == "Running"
                && pod_ready(p) == want(p, node)
                && p["status"]["containerStatuses"].as_array().map(Vec::len)
                    == p["spec"]["containers"].as_array().map(Vec::len);
            !settled
        })
        .cloned()
        .collect();
    for p in todo {
        let node_name = str_at(&p, &["spec", "nodeName"]);
        let Some(node) = state.store.get("nodes", "", node_name).cloned() else {
            continue;
        };
        let mut pod = p.clone();
        let want_ready = want(&p, &node);
        if str_at(&p, &["status", "phase"]) == "Pending" {
            if !node_ready(&node) {
                continue;
            }
            state.next_ip += 1;
            let ip = format!("10.42.{}.{}", state.next_ip / 250, state.next_ip % 250 + 2);
            let host_ip = node["status"]["addresses"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
                .map(|a| a["address"].clone())
                .unwrap_or(Value::Null);
            pod["status"]["phase"] = json!("Running");
            pod["status"]["hostIP"] = host_ip.clone();
            pod["status"]["hostIPs"] = json!([{"ip": host_ip}]);
            pod["status"]["podIP"] = json!(ip);
            pod["status"]["podIPs"] = json!([{"ip": ip}]);
            pod["status"]["startTime"] = json!(ts);
            for t in ["PodReadyToStartContainers", "Initialized"] {
                set_condition(
                    &mut pod,
                    json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": ts}),
                );
            }
        }
        let st = if want_ready { "True" } else { "False" };
        for t in ["ContainersReady", "Ready"] {
            set_condition(
                &mut pod,
                json!({"type": t, "status": st, "lastProbeTime": null, "lastTransitionTime": ts}),
            );
        }
        let started = pod["status"]["startTime"].clone();
        pod["status"]["containerStatuses"] = json!(
            p["spec"]["containers"].as_array().into_iter().flatten().map(|c| json!({
                "name": c["name"], "image": c["image"], "imageID": "", "ready": want_ready, "started": true,
                "restartCount": 0, "containerID": format!("containerd://{}", fnv1a(format!("{}{}", uid_of(&p), c["name"]).as_bytes())),
                "state": {"running": {"startedAt": started}}
            })).collect::<Vec<_>>()
        );
        if pod != p {
            state.store.update("pods", pod);
        }
    }
}

/// Pods a label selector picks in a namespace (used by tests and the admin API).
pub fn pods_matching(state: &State, ns: &str, selector: &Selector) -> Vec<Value> {
    state
        .store
        .list("pods", Some(ns))
        .into_iter()
        .filter(|p| selector.matches_labels(labels_of(p)))
        .cloned()
        .collect()
}
