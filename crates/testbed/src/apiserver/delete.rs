//! Deletion: grace periods for pods, finalizers, namespaces, preconditions, orphaning,
//! collections, and what removing a CRD takes with it.
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::handlers::{get, output, selectors};
use super::registry::ResourceType;
use super::routes::Query;
use super::state::State;
use super::status::{ApiError, ApiResult};
use super::util::{at, fmt_time, is_terminating, name_of, namespace_of, str_at};

pub(super) fn check_preconditions(
    state: &State,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    opts: &Value,
) -> ApiResult<()> {
    let cur = get(state, rt, ns, name)?;
    let pre = &opts["preconditions"];
    if let Some(uid) = pre["uid"].as_str()
        && uid != str_at(&cur, &["metadata", "uid"])
    {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.resource,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                str_at(&cur, &["metadata", "uid"])
            ),
        ));
    }
    if let Some(rv) = pre["resourceVersion"].as_str()
        && rv != str_at(&cur, &["metadata", "resourceVersion"])
    {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.resource,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                str_at(&cur, &["metadata", "resourceVersion"])
            ),
        ));
    }
    Ok(())
}

/// Deletes an object the way the real server does for its kind: pods that are running
/// terminate over their grace period (the simulation removes them when it has passed);
/// objects with finalizers and namespaces get a deletionTimestamp; the rest go at once.
pub fn delete(
    state: &mut State,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    grace: Option<i64>,
    now: Timestamp,
) -> ApiResult<Value> {
    let gr = rt.gr();
    let obj = state
        .store
        .get(&gr, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.resource, name))?;
    let has_finalizers = obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if gr == "pods" {
        let grace = grace
            .or_else(|| obj["spec"]["terminationGracePeriodSeconds"].as_i64())
            .unwrap_or(30)
            .max(0);
        let phase = str_at(&obj, &["status", "phase"]);
        let unscheduled = str_at(&obj, &["spec", "nodeName"]).is_empty();
        let immediate = grace == 0 || unscheduled || phase == "Succeeded" || phase == "Failed";
        if !immediate || has_finalizers {
            let deadline = now + SignedDuration::from_secs(if immediate { 0 } else { grace });
            let mut o = obj.clone();
            let current = at(&o, &["metadata", "deletionTimestamp"])
                .and_then(Value::as_str)
                .and_then(super::util::parse_time);
            // A second delete may shorten the grace period, never extend it.
            if current.is_none_or(|c| deadline < c) {
                o["metadata"]["deletionTimestamp"] = json!(fmt_time(deadline));
                o["metadata"]["deletionGracePeriodSeconds"] =
                    json!(if immediate { 0 } else { grace });
            }
            if !is_terminating(&obj) {
                let g = o["metadata"]["generation"].as_i64().unwrap_or(0);
                o["metadata"]["generation"] = json!(g + 1);
            }
            return Ok(state.store.update(&gr, o));
        }
    } else if has_finalizers || gr == "namespaces" {
        if is_terminating(&obj) {
            return Ok(obj);
        }
        let mut o = obj.clone();
        o["metadata"]["deletionTimestamp"] = json!(fmt_time(now));
        o["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if gr == "namespaces" {
            o["status"]["phase"] = json!("Terminating");
        }
        return Ok(state.store.update(&gr, o));
    }
    let gone = state.store.delete(&gr, ns, name).expect("checked above");
    after_delete(state, rt, &gone);
    Ok(gone)
}

/// Removing a CRD removes its resource type and every custom resource of it.
pub(super) fn after_delete(state: &mut State, rt: &ResourceType, obj: &Value) {
    if rt.gr() == "customresourcedefinitions.apiextensions.k8s.io" {
        let name = name_of(obj).to_string();
        if let Some(crt) = state
            .registry
            .all()
            .iter()
            .find(|t| t.crd.as_ref().is_some_and(|c| c.crd_name == name))
            .cloned()
        {
            for o in state.store.list_owned(&crt.gr(), None) {
                state.store.delete(&crt.gr(), namespace_of(&o), name_of(&o));
            }
        }
        state.registry.unregister_crd(&name);
    }
}

pub(super) fn orphan_dependents(state: &mut State, uid: &str) {
    for gr in state.store.group_resources() {
        for o in state.store.list_owned(&gr, None) {
            let refs = o["metadata"]["ownerReferences"].as_array();
            if refs.is_some_and(|r| r.iter().any(|r| r["uid"] == uid)) {
                let mut o = o.clone();
                let kept: Vec<Value> = refs
                    .into_iter()
                    .flatten()
                    .filter(|r| r["uid"] != uid)
                    .cloned()
                    .collect();
                o["metadata"]["ownerReferences"] = json!(kept);
                state.store.update(&gr, o);
            }
        }
    }
}

pub(super) fn delete_collection(
    state: &mut State,
    rt: &ResourceType,
    version: &str,
    ns: Option<&str>,
    q: &Query,
    now: Timestamp,
) -> ApiResult<Value> {
    let (label, field) = selectors(rt, q)?;
    let grace = q.get("gracePeriodSeconds").and_then(|g| g.parse().ok());
    let victims: Vec<Value> = state
        .store
        .list(&rt.gr(), ns)
        .into_iter()
        .filter(|o| label.matches(o) && field.matches(o))
        .cloned()
        .collect();
    let mut items = Vec::new();
    for v in victims {
        items.push(output(
            rt,
            version,
            delete(state, rt, namespace_of(&v), name_of(&v), grace, now)?,
        ));
    }
    Ok(
        json!({"apiVersion": rt.api_version(version), "kind": rt.list_kind, "metadata": {"resourceVersion": state.store.resource_version().to_string()}, "items": items}),
    )
}
