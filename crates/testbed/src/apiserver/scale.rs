//! The `scale` subresource (autoscaling/v1 Scale) over the paths a type declares.
use jiff::Timestamp;
use serde_json::{Value, json};

use super::handlers::{Request, check_body_name, get, parse_body, update};
use super::patch;
use super::registry::{ResourceType, ScalePaths};
use super::selectors::Selector;
use super::state::State;
use super::status::{ApiError, ApiResult};
use super::util::{at, dotted, set, str_at};

/// The label selector a scale subresource reports, as a string.
fn scale_selector(paths: &ScalePaths, obj: &Value) -> Option<String> {
    let p = paths.label_selector.as_deref()?;
    let v = at(obj, &dotted(p))?;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => Selector::from_object(Some(v))
            .ok()
            .map(|s| s.to_string_form()),
        _ => None,
    }
}

pub fn scale_of(rt: &ResourceType, paths: &ScalePaths, obj: &Value) -> Value {
    let spec = at(obj, &dotted(&paths.spec_replicas))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let status = at(obj, &dotted(&paths.status_replicas))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let m = &obj["metadata"];
    let mut meta = json!({"name": m["name"], "uid": m["uid"], "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]});
    if rt.namespaced {
        meta["namespace"] = m["namespace"].clone();
    }
    let mut s = json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta, "spec": {"replicas": spec}, "status": {"replicas": status}});
    if let Some(sel) = scale_selector(paths, obj) {
        s["status"]["selector"] = json!(sel);
    }
    s
}

pub(super) fn scale(
    state: &mut State,
    rt: &ResourceType,
    paths: &ScalePaths,
    ns: Option<&str>,
    name: &str,
    req: &Request,
    now: Timestamp,
) -> ApiResult<Value> {
    let obj = get(state, rt, ns, name)?;
    let current = scale_of(rt, paths, &obj);
    let new_scale = match req.method.as_str() {
        "GET" => return Ok(current),
        "PUT" => {
            let b = parse_body(req)?;
            check_body_name(&b, name)?;
            b
        }
        _ => {
            let p: Value = serde_json::from_slice(req.body)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let mut s = current.clone();
            match req.content_type.split(';').next().unwrap_or("").trim() {
                "application/json-patch+json" => {
                    patch::json_patch(&mut s, &p).map_err(|e| ApiError::new(422, "Invalid", e))?
                }
                "application/strategic-merge-patch+json" => {
                    patch::strategic_merge(&mut s, &p).map_err(ApiError::bad_request)?
                }
                "application/apply-patch+yaml" => {
                    patch::apply(&mut s, &p).map_err(ApiError::bad_request)?
                }
                _ => patch::merge_patch(&mut s, &p),
            }
            s
        }
    };
    let rv = str_at(&new_scale, &["metadata", "resourceVersion"]);
    if !rv.is_empty() && rv != str_at(&obj, &["metadata", "resourceVersion"]) {
        return Err(ApiError::stale(&rt.group, &rt.resource, name));
    }
    let replicas = match &new_scale["spec"]["replicas"] {
        Value::Null => 0,
        v => v
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("Scale.spec.replicas must be an integer"))?,
    };
    if replicas < 0 {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            name,
            &[(
                "spec.replicas".into(),
                format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            )],
        ));
    }
    let mut new = obj.clone();
    set(&mut new, &dotted(&paths.spec_replicas), json!(replicas));
    if req.query.dry_run() {
        return Ok(scale_of(rt, paths, &new));
    }
    let stored = update(state, rt, ns, name, new, false, now)?;
    Ok(scale_of(rt, paths, &stored))
}
