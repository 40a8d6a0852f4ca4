//! The eviction subresource and PodDisruptionBudget status, computed as the disruption
//! controller does (expectedPods, currentHealthy, desiredHealthy, disruptionsAllowed).
use jiff::Timestamp;
use serde_json::{Value, json};

use super::handlers;
use super::selectors::Selector;
use super::state::State;
use super::status::{ApiError, ApiResult, success};
use super::util::{
    at, controller_of, dotted, fmt_time, is_terminating, name_of, namespace_of,
    scaled_int_or_percent, str_at,
};

const PDB: &str = "poddisruptionbudgets.policy";

pub fn pod_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Healthy = Ready and not terminating.
fn healthy(pod: &Value) -> bool {
    pod_ready(pod) && !is_terminating(pod)
}

/// The PDBs in the pod's namespace whose selector matches it.
fn pdbs_for(state: &State, pod: &Value) -> Vec<Value> {
    state
        .store
        .list(PDB, Some(namespace_of(pod)))
        .into_iter()
        .filter(|p| {
            Selector::from_object(at(p, &["spec", "selector"])).is_ok_and(|s| s.matches(pod))
        })
        .cloned()
        .collect()
}

/// The replicas a pod's controller wants (through a ReplicaSet to its Deployment), as the
/// disruption controller's "finders" compute it. `None` for pods without a scalable
/// controller.
fn controller_scale(state: &State, pod: &Value) -> Option<(String, i64)> {
    let owner = controller_of(pod)?;
    let ns = namespace_of(pod);
    let name = str_at(owner, &["name"]);
    let kind = str_at(owner, &["kind"]);
    let av = str_at(owner, &["apiVersion"]);
    if kind == "ReplicaSet" {
        let rs = state.store.get("replicasets.apps", ns, name)?;
        if let Some(d) = controller_of(rs).filter(|d| d["kind"] == "Deployment") {
            let dep = state
                .store
                .get("deployments.apps", ns, str_at(d, &["name"]))?;
            return Some((
                str_at(&dep["metadata"], &["uid"]).into(),
                dep["spec"]["replicas"].as_i64().unwrap_or(1),
            ));
        }
        return Some((
            str_at(rs, &["metadata", "uid"]).into(),
            rs["spec"]["replicas"].as_i64().unwrap_or(1),
        ));
    }
    let rt = state.registry.by_kind(av, kind)?;
    let paths = rt.scale.as_ref()?;
    let obj = state
        .store
        .get(&rt.gr(), if rt.namespaced { ns } else { "" }, name)?;
    Some((
        str_at(obj, &["metadata", "uid"]).into(),
        at(obj, &dotted(&paths.spec_replicas))
            .and_then(Value::as_i64)
            .unwrap_or(0),
    ))
}

/// The status the disruption controller would write for `pdb`.
pub fn pdb_status(state: &State, pdb: &Value, now: Timestamp) -> Value {
    let ns = namespace_of(pdb);
    let sel = Selector::from_object(at(pdb, &["spec", "selector"]))
        .unwrap_or_else(|_| Selector::nothing());
    let pods: Vec<&Value> = state
        .store
        .list("pods", Some(ns))
        .into_iter()
        .filter(|p| sel.matches(p))
        .collect();
    let current_healthy = pods.iter().filter(|p| healthy(p)).count() as i64;
    // expectedPods from the controllers' scale, each controller counted once.
    let scale_total = || {
        let mut seen: Vec<String> = Vec::new();
        let mut total = 0;
        for p in &pods {
            match controller_scale(state, p) {
                Some((uid, n)) => {
                    if !seen.contains(&uid) {
                        seen.push(uid);
                        total += n;
                    }
                }
                // The real controller fails the sync for bare pods; counting them is the
                // closest useful behaviour.
                None => total += 1,
            }
        }
        total
    };
    let spec = &pdb["spec"];
    let (expected, desired) = if let Some(max) = spec.get("maxUnavailable").filter(|v| !v.is_null())
    {
        let expected = scale_total();
        let max = scaled_int_or_percent(max, expected).unwrap_or(0);
        (expected, (expected - max).max(0))
    } else if let Some(min) = spec.get("minAvailable").filter(|v| !v.is_null()) {
        if min.is_string() && min.as_str().is_some_and(|s| s.ends_with('%')) {
            let expected = scale_total();
            (expected, scaled_int_or_percent(min, expected).unwrap_or(0))
        } else {
            (
                pods.len() as i64,
                scaled_int_or_percent(min, 0).unwrap_or(0),
            )
        }
    } else {
        // Neither set: the API defaults minAvailable to 1.
        (pods.len() as i64, 1)
    };
    let allowed = (current_healthy - desired).max(0);
    let generation = pdb["metadata"]["generation"].as_i64().unwrap_or(1);
    let old_cond = pdb["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "DisruptionAllowed"));
    let status_str = if allowed > 0 { "True" } else { "False" };
    let since = match old_cond {
        Some(c) if c["status"] == status_str => c["lastTransitionTime"].clone(),
        _ => json!(fmt_time(now)),
    };
    let mut status = json!({
        "observedGeneration": generation,
        "disruptionsAllowed": allowed,
        "currentHealthy": current_healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "conditions": [{
            "type": "DisruptionAllowed",
            "status": status_str,
            "reason": if allowed > 0 { "SufficientPods" } else { "InsufficientPods" },
            "message": "",
            "observedGeneration": generation,
            "lastTransitionTime": since,
        }],
    });
    if let Some(d) = pdb["status"]
        .get("disruptedPods")
        .filter(|d| d.as_object().is_some_and(|m| !m.is_empty()))
    {
        // Evicted pods stay listed until they are gone (the real controller keeps them
        // for up to two minutes).
        let kept: serde_json::Map<String, Value> = d
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, _)| {
                state
                    .store
                    .get("pods", ns, name)
                    .is_some_and(|p| !is_terminating(p))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !kept.is_empty() {
            status["disruptedPods"] = json!(kept);
        }
    }
    status
}

/// Recomputes every PDB's status; writes only those that changed.
pub fn refresh_pdbs(state: &mut State, now: Timestamp) {
    for pdb in state.store.list_owned(PDB, None) {
        let status = pdb_status(state, &pdb, now);
        if pdb["status"] != status {
            let mut p = pdb.clone();
            p["status"] = status;
            state.store.update(PDB, p);
        }
    }
}

fn too_many(msg: String) -> ApiError {
    let mut e = ApiError::new(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
    );
    e.details = Some(json!({"causes": [{"reason": "DisruptionBudget", "message": msg}]}));
    e
}

/// POST pods/{name}/eviction.
pub fn evict(
    state: &mut State,
    now: Timestamp,
    ns: &str,
    name: &str,
    body: &Value,
) -> ApiResult<Value> {
    let body_name = str_at(body, &["metadata", "name"]);
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let pods_rt = state.rt("pods")?;
    let pod = handlers::get(state, &pods_rt, Some(ns), name)?;
    let grace = body["deleteOptions"]["gracePeriodSeconds"].as_i64();
    if let Some(uid) = body["deleteOptions"]["preconditions"]["uid"].as_str()
        && uid != str_at(&pod, &["metadata", "uid"])
    {
        return Err(ApiError::conflict(
            "",
            "pods",
            name,
            "Precondition failed: UID in precondition does not match",
        ));
    }
    let phase = str_at(&pod, &["status", "phase"]);
    // Pods that are done, not started or already going need no budget.
    if is_terminating(&pod) || matches!(phase, "Succeeded" | "Failed" | "Pending") {
        handlers::delete(state, &pods_rt, ns, name, grace, now)?;
        return Ok(success(201, None));
    }
    let pdbs = pdbs_for(state, &pod);
    if pdbs.len() > 1 {
        return Err(ApiError::internal(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        ));
    }
    if let Some(pdb) = pdbs.into_iter().next() {
        let status = pdb_status(state, &pdb, now);
        let pdb_name = name_of(&pdb).to_string();
        let unhealthy_ok = !pod_ready(&pod)
            && (str_at(&pdb, &["spec", "unhealthyPodEvictionPolicy"]) == "AlwaysAllow"
                || status["currentHealthy"].as_i64() >= status["desiredHealthy"].as_i64());
        if !unhealthy_ok {
            let allowed = status["disruptionsAllowed"].as_i64().unwrap_or(0);
            if allowed <= 0 {
                return Err(too_many(format!(
                    "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                    status["desiredHealthy"], status["currentHealthy"]
                )));
            }
            let mut p = pdb.clone();
            p["status"] = status;
            p["status"]["disruptionsAllowed"] = json!(allowed - 1);
            p["status"]["disruptedPods"][name] = json!(fmt_time(now));
            state.store.update(PDB, p);
        }
    }
    handlers::delete(state, &pods_rt, ns, name, grace, now)?;
    Ok(success(201, None))
}
