//! What makes a write invalid (422) or undecodable (400): names, a typed round trip for
//! built-ins (through k8s-openapi, so unknown fields are dropped and wrong types refused as
//! the real server's decoder does), a few semantic rules per kind, and CRD structural
//! schemas for custom resources (types, required, enum, bounds, defaults, pruning).
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::registry::ResourceType;
use super::selectors::Selector;
use super::util::{at, str_at};

type Causes = Vec<(String, String)>;

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns_label)
}

/// Checks `metadata.name` the way the kind's validation does.
pub fn name(rt: &ResourceType, name: &str) -> Option<(String, String)> {
    let (ok, rule) = match rt.resource.as_str() {
        "namespaces" => (
            dns_label(name),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        ),
        // RBAC and a few others only forbid what cannot be a path segment.
        "roles" | "clusterroles" | "rolebindings" | "clusterrolebindings" | "events" => (
            !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%']),
            "may not contain '/' or '%'",
        ),
        _ => (
            dns_subdomain(name),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        ),
    };
    (!ok).then(|| {
        (
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": {rule}"),
        )
    })
}

fn label_value_ok(v: &str) -> bool {
    v.len() <= 63
        && (v.is_empty()
            || (v.starts_with(|c: char| c.is_ascii_alphanumeric())
                && v.ends_with(|c: char| c.is_ascii_alphanumeric())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))))
}

fn labels(obj: &Value, path: &str, causes: &mut Causes) {
    if let Some(m) = at(obj, &["metadata", "labels"]).and_then(Value::as_object) {
        for (k, v) in m {
            let v = v.as_str().unwrap_or("");
            if !label_value_ok(v) {
                causes.push((
                    format!("{path}.labels"),
                    format!("Invalid value: \"{v}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (label {k})"),
                ));
            }
        }
    }
}

fn roundtrip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    let t: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(t).map_err(|e| e.to_string())
}

/// Decodes and re-encodes a built-in object with its k8s-openapi type. `Err` is the decode
/// error (a 400, as the real server's). Custom resources pass through unchanged.
pub fn decode(gr: &str, v: &Value) -> Result<Value, String> {
    use k8s_openapi::api::{apps::v1 as apps, coordination::v1 as coord, core::v1 as core};
    use k8s_openapi::api::{events::v1 as events, policy::v1 as policy, rbac::v1 as rbac};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
    match gr {
        "pods" => roundtrip::<core::Pod>(v),
        "nodes" => roundtrip::<core::Node>(v),
        "namespaces" => roundtrip::<core::Namespace>(v),
        "configmaps" => roundtrip::<core::ConfigMap>(v),
        "secrets" => roundtrip::<core::Secret>(v),
        "serviceaccounts" => roundtrip::<core::ServiceAccount>(v),
        "services" => roundtrip::<core::Service>(v),
        "events" => roundtrip::<core::Event>(v),
        "deployments.apps" => roundtrip::<apps::Deployment>(v),
        "replicasets.apps" => roundtrip::<apps::ReplicaSet>(v),
        "statefulsets.apps" => roundtrip::<apps::StatefulSet>(v),
        "daemonsets.apps" => roundtrip::<apps::DaemonSet>(v),
        "poddisruptionbudgets.policy" => roundtrip::<policy::PodDisruptionBudget>(v),
        "events.events.k8s.io" => roundtrip::<events::Event>(v),
        "leases.coordination.k8s.io" => roundtrip::<coord::Lease>(v),
        "roles.rbac.authorization.k8s.io" => roundtrip::<rbac::Role>(v),
        "rolebindings.rbac.authorization.k8s.io" => roundtrip::<rbac::RoleBinding>(v),
        "clusterroles.rbac.authorization.k8s.io" => roundtrip::<rbac::ClusterRole>(v),
        "clusterrolebindings.rbac.authorization.k8s.io" => roundtrip::<rbac::ClusterRoleBinding>(v),
        "customresourcedefinitions.apiextensions.k8s.io" => {
            roundtrip::<apiext::CustomResourceDefinition>(v)
        }
        _ => Ok(v.clone()),
    }
}

fn containers(spec: Option<&Value>, path: &str, causes: &mut Causes) {
    let list = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    match list {
        Some(l) if !l.is_empty() => {
            for (i, c) in l.iter().enumerate() {
                if str_at(c, &["name"]).is_empty() {
                    causes.push((
                        format!("{path}.containers[{i}].name"),
                        "Required value".into(),
                    ));
                }
                if str_at(c, &["image"]).is_empty() {
                    causes.push((
                        format!("{path}.containers[{i}].image"),
                        "Required value".into(),
                    ));
                }
            }
        }
        _ => causes.push((format!("{path}.containers"), "Required value".into())),
    }
}

fn non_negative(v: Option<&Value>, path: &str, causes: &mut Causes) {
    if let Some(n) = v.and_then(Value::as_i64)
        && n < 0
    {
        causes.push((
            path.into(),
            format!("Invalid value: {n}: must be greater than or equal to 0"),
        ));
    }
}

fn workload(obj: &Value, causes: &mut Causes) {
    non_negative(at(obj, &["spec", "replicas"]), "spec.replicas", causes);
    let sel = at(obj, &["spec", "selector"]);
    let empty = sel.is_none_or(|s| {
        s.get("matchLabels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
            && s.get("matchExpressions")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
    });
    if empty {
        causes.push(("spec.selector".into(), "Required value".into()));
    } else if let Ok(s) = Selector::from_object(sel)
        && !s.matches(&obj["spec"]["template"])
    {
        causes.push((
            "spec.template.metadata.labels".into(),
            format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                at(obj, &["spec", "template", "metadata", "labels"]).unwrap_or(&json!({}))
            ),
        ));
    }
    containers(
        at(obj, &["spec", "template", "spec"]),
        "spec.template.spec",
        causes,
    );
}

fn int_or_percent(v: &Value, path: &str, causes: &mut Causes) {
    let ok = match v {
        Value::Number(n) => n.as_i64().is_some_and(|n| n >= 0),
        Value::String(s) => s
            .strip_suffix('%')
            .unwrap_or(s)
            .parse::<u32>()
            .is_ok_and(|p| !s.ends_with('%') || p <= 100),
        _ => false,
    };
    if !ok {
        causes.push((
            path.into(),
            format!(
                "Invalid value: {v}: must be a non-negative integer or a percentage (0% to 100%)"
            ),
        ));
    }
}

/// Semantic validation of a (decoded) object. Returns the causes of a 422.
pub fn object(rt: &ResourceType, obj: &Value) -> Causes {
    let mut causes = Vec::new();
    labels(obj, "metadata", &mut causes);
    match rt.gr().as_str() {
        "pods" => containers(obj.get("spec"), "spec", &mut causes),
        "deployments.apps" | "replicasets.apps" | "statefulsets.apps" | "daemonsets.apps" => {
            workload(obj, &mut causes)
        }
        "poddisruptionbudgets.policy" => {
            let min = at(obj, &["spec", "minAvailable"]);
            let max = at(obj, &["spec", "maxUnavailable"]);
            if min.is_some() && max.is_some() {
                causes.push((
                    "spec".into(),
                    "Invalid value: \"\": minAvailable and maxUnavailable cannot be both set"
                        .into(),
                ));
            }
            if let Some(v) = min {
                int_or_percent(v, "spec.minAvailable", &mut causes);
            }
            if let Some(v) = max {
                int_or_percent(v, "spec.maxUnavailable", &mut causes);
            }
        }
        "customresourcedefinitions.apiextensions.k8s.io" => crd(obj, &mut causes),
        _ => {}
    }
    if let Some(crd) = &rt.crd {
        let version = str_at(obj, &["apiVersion"])
            .rsplit('/')
            .next()
            .unwrap_or_default();
        if let Some(schema) = crd.schemas.get(version) {
            for (k, v) in obj.as_object().into_iter().flatten() {
                if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(s) = schema["properties"].get(k) {
                    check(v, s, k, &mut causes);
                }
            }
        }
    }
    causes
}

fn crd(obj: &Value, causes: &mut Causes) {
    let spec = &obj["spec"];
    let plural = str_at(spec, &["names", "plural"]);
    let group = str_at(spec, &["group"]);
    if str_at(obj, &["metadata", "name"]) != format!("{plural}.{group}") {
        causes.push((
            "metadata.name".into(),
            format!(
                "Invalid value: \"{}\": must be spec.names.plural+\".\"+spec.group",
                str_at(obj, &["metadata", "name"])
            ),
        ));
    }
    if str_at(spec, &["names", "kind"]).is_empty() {
        causes.push(("spec.names.kind".into(), "Required value".into()));
    }
    if !matches!(str_at(spec, &["scope"]), "Namespaced" | "Cluster") {
        causes.push((
            "spec.scope".into(),
            "Unsupported value: must be \"Cluster\" or \"Namespaced\"".into(),
        ));
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let storage = versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .count();
    if versions.is_empty() || storage != 1 {
        causes.push((
            "spec.versions".into(),
            "Invalid value: must have exactly one version marked as storage version".into(),
        ));
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Structural-schema validation of one value, with the real server's message shape
/// (`spec.x: Invalid value: "string": spec.x in body must be of type integer: "string"`).
fn check(v: &Value, s: &Value, path: &str, causes: &mut Causes) {
    let got = type_name(v);
    if v.is_null() {
        if s["nullable"].as_bool() != Some(true) {
            causes.push((
                path.into(),
                format!(
                    "Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                    s["type"].as_str().unwrap_or("object")
                ),
            ));
        }
        return;
    }
    if s["x-kubernetes-int-or-string"].as_bool() == Some(true) {
        if !matches!(got, "integer" | "string") {
            causes.push((
                path.into(),
                format!(
                    "Invalid value: \"{got}\": {path} in body must be of type integer-or-string"
                ),
            ));
        }
        return;
    }
    if let Some(want) = s["type"].as_str() {
        let ok = want == got || (want == "number" && got == "integer");
        if !ok {
            causes.push((
                path.into(),
                format!(
                    "Invalid value: \"{got}\": {path} in body must be of type {want}: \"{got}\""
                ),
            ));
            return;
        }
    }
    if let Some(e) = s["enum"].as_array()
        && !e.contains(v)
    {
        let list: Vec<String> = e.iter().map(|x| x.to_string()).collect();
        causes.push((
            path.into(),
            format!(
                "Unsupported value: {v}: supported values: {}",
                list.join(", ")
            ),
        ));
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = s["minimum"].as_f64()
            && n < min
        {
            causes.push((
                path.into(),
                format!(
                    "Invalid value: {v}: {path} in body should be greater than or equal to {min}"
                ),
            ));
        }
        if let Some(max) = s["maximum"].as_f64()
            && n > max
        {
            causes.push((
                path.into(),
                format!("Invalid value: {v}: {path} in body should be less than or equal to {max}"),
            ));
        }
    }
    if let Some(st) = v.as_str() {
        let len = st.chars().count() as u64;
        if s["minLength"].as_u64().is_some_and(|m| len < m) {
            causes.push((
                path.into(),
                format!(
                    "Invalid value: {v}: {path} in body should be at least {} chars long",
                    s["minLength"]
                ),
            ));
        }
        if s["maxLength"].as_u64().is_some_and(|m| len > m) {
            causes.push((
                path.into(),
                format!("Too long: may not be more than {} bytes", s["maxLength"]),
            ));
        }
    }
    match v {
        Value::Object(m) => {
            for r in s["required"].as_array().into_iter().flatten() {
                if let Some(r) = r.as_str()
                    && !m.contains_key(r)
                {
                    causes.push((format!("{path}.{r}"), "Required value".into()));
                }
            }
            for (k, child) in m {
                let cs = s["properties"]
                    .get(k)
                    .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()));
                if let Some(cs) = cs {
                    check(child, cs, &format!("{path}.{k}"), causes);
                }
            }
        }
        Value::Array(a) => {
            if s["minItems"].as_u64().is_some_and(|m| (a.len() as u64) < m) {
                causes.push((
                    path.into(),
                    format!(
                        "Invalid value: {}: {path} in body should have at least {} items",
                        a.len(),
                        s["minItems"]
                    ),
                ));
            }
            if s["maxItems"].as_u64().is_some_and(|m| (a.len() as u64) > m) {
                causes.push((
                    path.into(),
                    format!(
                        "Too many: {}: must have at most {} items",
                        a.len(),
                        s["maxItems"]
                    ),
                ));
            }
            if let Some(items) = s.get("items").filter(|i| i.is_object()) {
                for (i, child) in a.iter().enumerate() {
                    check(child, items, &format!("{path}[{i}]"), causes);
                }
            }
        }
        _ => {}
    }
}

/// Drops fields a structural schema does not declare (unless it preserves unknown fields)
/// and fills in `default`s, as the real server does on every write of a custom resource.
pub fn prune_and_default(v: &mut Value, s: &Value, root: bool) {
    if s["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true)
        && s.get("properties").is_none()
    {
        return;
    }
    match v {
        Value::Object(m) => {
            let props = s["properties"].as_object();
            let additional = s.get("additionalProperties").filter(|a| a.is_object());
            let preserve = s["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true)
                || s["additionalProperties"].as_bool() == Some(true);
            if let Some(props) = props {
                for (k, ps) in props {
                    if !m.contains_key(k)
                        && let Some(d) = ps.get("default")
                    {
                        m.insert(k.clone(), d.clone());
                    }
                }
            }
            m.retain(|k, _| {
                (root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                    || preserve
                    || additional.is_some()
                    || props.is_some_and(|p| p.contains_key(k))
            });
            for (k, child) in m.iter_mut() {
                if root && k == "metadata" {
                    continue;
                }
                let cs = props.and_then(|p| p.get(k)).or(additional);
                if let Some(cs) = cs {
                    prune_and_default(child, cs, false);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.get("items").filter(|i| i.is_object()) {
                for child in a {
                    prune_and_default(child, items, false);
                }
            }
        }
        _ => {}
    }
}
