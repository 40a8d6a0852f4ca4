//! The verbs on resources: get, list, watch, create, update, patch, delete, deletecollection,
//! and the `status` and `scale` subresources. Synchronous functions over [`State`]: the
//! server calls them under its lock, and the simulation runs right after each write.
use jiff::Timestamp;
use serde_json::{Value, json};

pub use super::defaults::{pod_defaults, prepare_create};
pub use super::delete::delete;
use super::delete::{after_delete, check_preconditions, delete_collection, orphan_dependents};
use super::patch;
use super::registry::ResourceType;
use super::routes::Query;
use super::scale::scale;
use super::selectors::{FieldSelector, Selector};
use super::state::State;
use super::status::{ApiError, ApiResult};
use super::table;
use super::util::{at, fmt_time, is_terminating, name_of, namespace_of, str_at};
use super::validate;
use super::watch::WatchSpec;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// A request on a resource, parsed from the URL.
#[derive(Clone, Debug)]
pub struct Target {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

pub enum Reply {
    Json(u16, Value),
    Watch(Box<WatchSpec>),
}

pub struct Request<'a> {
    pub method: &'a http::Method,
    pub target: &'a Target,
    pub query: &'a Query,
    pub body: &'a [u8],
    pub content_type: &'a str,
    /// The client asked for a `meta.k8s.io` Table (kubectl get).
    pub as_table: bool,
}

/// Sets apiVersion and kind for the version the client asked for. Objects are stored at
/// their preferred version; other served versions of a CRD are the same JSON (no conversion).
pub fn output(rt: &ResourceType, version: &str, mut obj: Value) -> Value {
    obj["apiVersion"] = json!(rt.api_version(version));
    obj["kind"] = json!(rt.kind);
    obj
}

pub(super) fn parse_body(req: &Request) -> ApiResult<Value> {
    serde_json::from_slice(req.body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

pub fn dispatch(state: &mut State, now: Timestamp, req: &Request) -> ApiResult<Reply> {
    let t = req.target;
    let rt = state
        .registry
        .find(&t.group, &t.version, &t.resource)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        })?;
    if t.namespace.is_some() && !rt.namespaced {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let ns = t.namespace.as_deref();
    let m = req.method.as_str();
    match (t.name.as_deref(), t.subresource.as_deref(), m) {
        (None, None, "GET") if req.query.flag("watch") => {
            watch(state, &rt, t, req.query).map(|w| Reply::Watch(Box::new(w)))
        }
        (None, None, "GET") => {
            let list = list(state, &rt, &t.version, ns, req.query)?;
            Ok(Reply::Json(
                200,
                if req.as_table {
                    table::from_list(&rt, &list, now)
                } else {
                    list
                },
            ))
        }
        (None, None, "POST") => {
            create(state, &rt, &t.version, ns, parse_body(req)?, req.query, now)
                .map(|o| Reply::Json(201, o))
        }
        (None, None, "DELETE") => delete_collection(state, &rt, &t.version, ns, req.query, now)
            .map(|o| Reply::Json(200, o)),
        (Some(name), None, "GET") => {
            let obj = output(&rt, &t.version, get(state, &rt, ns, name)?);
            Ok(Reply::Json(
                200,
                if req.as_table {
                    table::from_list(&rt, &json!({"items": [obj]}), now)
                } else {
                    obj
                },
            ))
        }
        (Some(name), sub @ (None | Some("status")), "PUT") => {
            check_sub(&rt, sub)?;
            let body = parse_body(req)?;
            check_body_name(&body, name)?;
            update(state, &rt, ns, name, body, sub.is_some(), now)
                .map(|o| Reply::Json(200, output(&rt, &t.version, o)))
        }
        (Some(name), sub @ (None | Some("status")), "PATCH") => {
            check_sub(&rt, sub)?;
            let (code, o) = patch(state, &rt, ns, name, req, sub.is_some(), now)?;
            Ok(Reply::Json(code, output(&rt, &t.version, o)))
        }
        (Some(name), Some("status"), "GET") => {
            check_sub(&rt, Some("status"))?;
            Ok(Reply::Json(
                200,
                output(&rt, &t.version, get(state, &rt, ns, name)?),
            ))
        }
        (Some(name), None, "DELETE") => {
            let opts = if req.body.is_empty() {
                json!({})
            } else {
                parse_body(req)?
            };
            let grace = req
                .query
                .get("gracePeriodSeconds")
                .and_then(|g| g.parse().ok())
                .or_else(|| opts["gracePeriodSeconds"].as_i64());
            check_preconditions(state, &rt, ns, name, &opts)?;
            let deleted = delete(state, &rt, ns.unwrap_or(""), name, grace, now)?;
            if opts["propagationPolicy"].as_str() == Some("Orphan")
                || req.query.get("propagationPolicy") == Some("Orphan")
            {
                orphan_dependents(state, str_at(&deleted, &["metadata", "uid"]));
            }
            Ok(Reply::Json(200, output(&rt, &t.version, deleted)))
        }
        (Some(name), Some("scale"), "GET" | "PUT" | "PATCH") => {
            let paths = rt.scale.clone().ok_or_else(|| {
                ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )
            })?;
            scale(state, &rt, &paths, ns, name, req, now).map(|o| Reply::Json(200, o))
        }
        (Some(name), Some("eviction"), "POST") if rt.gr() == "pods" => {
            super::eviction::evict(state, now, ns.unwrap_or(""), name, &parse_body(req)?)
                .map(|o| Reply::Json(201, o))
        }
        (_, Some(_), _) | (None, _, _) | (Some(_), None, _) => Err(ApiError::method_not_allowed()),
    }
}

fn check_sub(rt: &ResourceType, sub: Option<&str>) -> ApiResult<()> {
    if sub == Some("status") && !rt.status {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    Ok(())
}

pub(super) fn check_body_name(body: &Value, name: &str) -> ApiResult<()> {
    let got = name_of(body);
    if !got.is_empty() && got != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({got}) does not match the name on the URL ({name})"
        )));
    }
    Ok(())
}

pub fn get(state: &State, rt: &ResourceType, ns: Option<&str>, name: &str) -> ApiResult<Value> {
    state
        .store
        .get(&rt.gr(), ns.unwrap_or(""), name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.resource, name))
}

pub(super) fn selectors(rt: &ResourceType, q: &Query) -> ApiResult<(Selector, FieldSelector)> {
    let label = Selector::parse(q.get("labelSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let field = FieldSelector::parse(&rt.gr(), q.get("fieldSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    Ok((label, field))
}

/// Opaque continue token: the last returned key, so the next page starts after it.
fn continue_token(ns: &str, name: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{ns}/{name}"))
}

pub fn list(
    state: &State,
    rt: &ResourceType,
    version: &str,
    ns: Option<&str>,
    q: &Query,
) -> ApiResult<Value> {
    let (label, field) = selectors(rt, q)?;
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    let after = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(c) => {
            let raw = URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    s.split_once('/')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                })
                .ok_or_else(|| {
                    ApiError::bad_request("continue key is not valid: illegal base64 data")
                })?;
            Some(raw)
        }
        None => None,
    };
    let gr = rt.gr();
    let matching: Vec<&Value> = state
        .store
        .list(&gr, ns)
        .into_iter()
        .filter(|o| {
            after.as_ref().is_none_or(|(ans, aname)| {
                (namespace_of(o), name_of(o)) > (ans.as_str(), aname.as_str())
            })
        })
        .filter(|o| label.matches(o) && field.matches(o))
        .collect();
    let total = matching.len();
    let take = if limit == 0 { total } else { limit.min(total) };
    let items: Vec<Value> = matching[..take]
        .iter()
        .map(|o| output(rt, version, (*o).clone()))
        .collect();
    let mut meta = json!({"resourceVersion": state.store.resource_version().to_string()});
    if take < total {
        let last = matching[take - 1];
        meta["continue"] = json!(continue_token(namespace_of(last), name_of(last)));
        meta["remainingItemCount"] = json!(total - take);
    }
    Ok(json!({
        "apiVersion": rt.api_version(version),
        "kind": rt.list_kind,
        "metadata": meta,
        "items": items,
    }))
}

fn watch(state: &State, rt: &ResourceType, t: &Target, q: &Query) -> ApiResult<WatchSpec> {
    let (label, field) = selectors(rt, q)?;
    let rv_param = q.get("resourceVersion").unwrap_or("");
    let send_initial = q.flag("sendInitialEvents");
    // No resourceVersion (or "0"): the real server first sends the current objects as ADDED.
    let (from, initial) = if rv_param.is_empty() || rv_param == "0" || send_initial {
        let objs: Vec<Value> = state
            .store
            .list(&rt.gr(), t.namespace.as_deref())
            .into_iter()
            .filter(|o| label.matches(o) && field.matches(o))
            .map(|o| output(rt, &t.version, o.clone()))
            .collect();
        (state.store.resource_version(), objs)
    } else {
        let rv = rv_param
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv_param}")))?;
        (rv, Vec::new())
    };
    let stream = state.store.watch_from(from);
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1800u64);
    Ok(WatchSpec {
        rt: rt.clone(),
        version: t.version.clone(),
        namespace: t.namespace.clone(),
        label,
        field,
        initial,
        stream,
        timeout: std::time::Duration::from_secs(timeout),
        bookmark_rv: send_initial.then(|| state.store.resource_version()),
    })
}

fn namespace_usable(state: &State, ns: &str) -> ApiResult<()> {
    match state.store.get("namespaces", "", ns) {
        None => Err(ApiError::not_found("", "namespaces", ns)),
        Some(n) if is_terminating(n) => Err(ApiError::forbidden(format!(
            "unable to create new content in namespace {ns} because it is being terminated"
        ))),
        Some(_) => Ok(()),
    }
}

/// Decode, default, prune and validate: what every write goes through before it is stored.
fn admit(rt: &ResourceType, obj: Value, name: &str) -> ApiResult<Value> {
    let mut obj = if rt.is_custom() {
        obj
    } else {
        validate::decode(&rt.gr(), &obj).map_err(|e| {
            ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: {e}",
                rt.kind,
                rt.preferred_version(),
                rt.kind
            ))
        })?
    };
    if let Some(crd) = &rt.crd {
        let version = str_at(&obj, &["apiVersion"])
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        if let Some(schema) = crd.schemas.get(&version) {
            validate::prune_and_default(&mut obj, schema, true);
        }
    }
    if rt.gr() == "secrets" {
        merge_string_data(&mut obj);
    }
    let causes = validate::object(rt, &obj);
    if !causes.is_empty() {
        return Err(ApiError::invalid(&rt.group, &rt.kind, name, &causes));
    }
    Ok(obj)
}

/// Secrets: `stringData` is write-only sugar for base64 `data`.
fn merge_string_data(obj: &mut Value) {
    let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else {
        return;
    };
    for (k, v) in sd {
        obj["data"][k] = json!(STANDARD.encode(v.as_str().unwrap_or("")));
    }
}

pub fn create(
    state: &mut State,
    rt: &ResourceType,
    version: &str,
    ns: Option<&str>,
    mut obj: Value,
    q: &Query,
    now: Timestamp,
) -> ApiResult<Value> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let want_av = rt.api_version(version);
    let (av, kind) = (
        str_at(&obj, &["apiVersion"]).to_string(),
        str_at(&obj, &["kind"]).to_string(),
    );
    if (!av.is_empty() && av != want_av) || (!kind.is_empty() && kind != rt.kind) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({want_av})"
        )));
    }
    obj = output(rt, rt.preferred_version(), obj);
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if rt.namespaced {
        let path_ns = ns.unwrap_or("");
        let body_ns = namespace_of(&obj).to_string();
        if !body_ns.is_empty() && body_ns != path_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        obj["metadata"]["namespace"] = json!(path_ns);
        namespace_usable(state, path_ns)?;
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    if name_of(&obj).is_empty() {
        let prefix = str_at(&obj, &["metadata", "generateName"]).to_string();
        if prefix.is_empty() {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                "",
                &[(
                    "metadata.name".into(),
                    "Required value: name or generateName is required".into(),
                )],
            ));
        }
        obj["metadata"]["name"] = json!(format!("{prefix}{}", state.store.rng.suffix(5)));
    }
    let name = name_of(&obj).to_string();
    if let Some(cause) = validate::name(rt, &name) {
        return Err(ApiError::invalid(&rt.group, &rt.kind, &name, &[cause]));
    }
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "managedFields",
    ] {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove(k);
        }
    }
    prepare_create(rt, &mut obj);
    let obj = admit(rt, obj, &name)?;
    let gr = rt.gr();
    if state.store.get(&gr, ns.unwrap_or(""), &name).is_some() {
        return Err(ApiError::already_exists(&rt.group, &rt.resource, &name));
    }
    if q.dry_run() {
        return Ok(output(rt, version, obj));
    }
    let stored = state.store.create(&gr, obj, &fmt_time(now));
    after_write(state, rt, &stored);
    Ok(output(rt, version, stored))
}

/// Side effects of a write on the registry (CRDs).
fn after_write(state: &mut State, rt: &ResourceType, obj: &Value) {
    if rt.gr() == "customresourcedefinitions.apiextensions.k8s.io" {
        state.registry.register_crd(obj);
    }
}

/// Everything but metadata and (when the type has a status subresource) status: a change
/// there bumps `metadata.generation`.
fn spec_part(rt: &ResourceType, obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if rt.status {
            m.remove("status");
        }
    }
    o
}

/// The common path of PUT and PATCH: preconditions, subresource rules, admission, generation.
pub fn update(
    state: &mut State,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    mut new: Value,
    status_only: bool,
    now: Timestamp,
) -> ApiResult<Value> {
    let old = get(state, rt, ns, name)?;
    if !new.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let rv = str_at(&new, &["metadata", "resourceVersion"]);
    if !rv.is_empty() && rv != str_at(&old, &["metadata", "resourceVersion"]) {
        return Err(ApiError::stale(&rt.group, &rt.resource, name));
    }
    if status_only {
        // The status endpoint changes status and nothing else.
        let status = new.get("status").cloned().unwrap_or(Value::Null);
        new = old.clone();
        match status {
            Value::Null => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
            s => new["status"] = s,
        }
    } else if rt.status {
        // The main endpoint ignores status.
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    new = output(rt, rt.preferred_version(), new);
    if !new["metadata"].is_object() {
        new["metadata"] = json!({});
    }
    for k in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old["metadata"].get(k) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
    let mut new = admit(rt, new, name)?;
    if spec_part(rt, &new) != spec_part(rt, &old) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
        new["metadata"]["generation"] = json!(g + 1);
    }
    // A terminating object whose last finalizer was removed goes away now.
    if is_terminating(&old)
        && new["metadata"]["finalizers"]
            .as_array()
            .is_none_or(Vec::is_empty)
    {
        let gr = rt.gr();
        if rt.gr() == "pods" && !pod_terminated_now(&old, now) {
            // A pod also waits for its grace period.
        } else {
            let stored = state.store.update(&gr, new);
            let gone = state
                .store
                .delete(&gr, ns.unwrap_or(""), name)
                .unwrap_or(stored);
            after_delete(state, rt, &gone);
            return Ok(gone);
        }
    }
    let stored = state.store.update(&rt.gr(), new);
    after_write(state, rt, &stored);
    Ok(stored)
}

fn pod_terminated_now(pod: &Value, now: Timestamp) -> bool {
    at(pod, &["metadata", "deletionTimestamp"])
        .and_then(Value::as_str)
        .and_then(super::util::parse_time)
        .is_none_or(|t| t <= now)
}

fn patch(
    state: &mut State,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    req: &Request,
    status_only: bool,
    now: Timestamp,
) -> ApiResult<(u16, Value)> {
    let ct = req.content_type.split(';').next().unwrap_or("").trim();
    let body_value = || -> ApiResult<Value> {
        if ct == "application/apply-patch+yaml" {
            let text =
                std::str::from_utf8(req.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
            serde_saphyr::from_str(text)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
        } else {
            serde_json::from_slice(req.body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
        }
    };
    let p = body_value()?;
    let gr = rt.gr();
    let existing = state.store.get(&gr, ns.unwrap_or(""), name).cloned();
    if ct == "application/apply-patch+yaml" {
        if req.query.get("fieldManager").is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        check_body_name(&p, name)?;
        let Some(old) = existing else {
            if status_only {
                return Err(ApiError::not_found(&rt.group, &rt.resource, name));
            }
            let mut obj = p;
            obj["metadata"]["name"] = json!(name);
            let created = create(state, rt, &req.target.version, ns, obj, req.query, now)?;
            return Ok((201, created));
        };
        let mut merged = old.clone();
        patch::apply(&mut merged, &p).map_err(ApiError::bad_request)?;
        // Apply carries no resourceVersion precondition unless the config sets one.
        if p["metadata"].get("resourceVersion").is_none() {
            merged["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        }
        return finish_patch(state, rt, ns, name, merged, status_only, req.query, now);
    }
    let Some(old) = existing else {
        return Err(ApiError::not_found(&rt.group, &rt.resource, name));
    };
    let mut new = old.clone();
    match ct {
        "application/merge-patch+json" => patch::merge_patch(&mut new, &p),
        "application/json-patch+json" => {
            patch::json_patch(&mut new, &p).map_err(|e| ApiError::new(422, "Invalid", e))?
        }
        "application/strategic-merge-patch+json" => {
            if rt.is_custom() {
                return Err(ApiError::unsupported_media(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                ));
            }
            patch::strategic_merge(&mut new, &p).map_err(ApiError::bad_request)?
        }
        other => {
            return Err(ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
            )));
        }
    }
    finish_patch(state, rt, ns, name, new, status_only, req.query, now)
}

#[allow(clippy::too_many_arguments)]
fn finish_patch(
    state: &mut State,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    new: Value,
    status_only: bool,
    q: &Query,
    now: Timestamp,
) -> ApiResult<(u16, Value)> {
    if q.dry_run() {
        return Ok((200, new));
    }
    update(state, rt, ns, name, new, status_only, now).map(|o| (200, o))
}
