//! Discovery documents (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`)
//! from the registry. Aggregated discovery is not served: kubectl asks for it in `Accept`
//! but falls back to these legacy documents when the answer is plain `application/json`.
use serde_json::{Value, json};

use super::registry::{Registry, ResourceType};

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "emulationMajor": "1", "emulationMinor": "33",
        "gitVersion": "v1.33.1-eks-testbed", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2025-05-15T00:00:00Z", "goVersion": "go1.24.2",
        "compiler": "gc", "platform": "linux/amd64"
    })
}

pub fn api_versions(server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs[0]})
}

pub fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, v)| group_doc(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(reg: &Registry, name: &str) -> Option<Value> {
    let (g, v) = reg
        .groups()
        .into_iter()
        .find(|(g, _)| g == name && !g.is_empty())?;
    let mut d = group_doc(&g, &v);
    d["kind"] = json!("APIGroup");
    d["apiVersion"] = json!("v1");
    Some(d)
}

fn sub(
    rt: &ResourceType,
    name: &str,
    kind: &str,
    verbs: &[&str],
    gv: Option<(&str, &str)>,
) -> Value {
    let mut r = json!({"name": format!("{}/{name}", rt.resource), "singularName": "", "namespaced": rt.namespaced,
                       "kind": kind, "verbs": verbs});
    if let Some((g, v)) = gv {
        r["group"] = json!(g);
        r["version"] = json!(v);
    }
    r
}

pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    let types: Vec<&ResourceType> = reg
        .all()
        .iter()
        .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
        .collect();
    if types.is_empty() {
        return None;
    }
    for rt in types {
        let mut r = json!({"name": rt.resource, "singularName": rt.singular, "namespaced": rt.namespaced,
                           "kind": rt.kind, "verbs": VERBS});
        if !rt.short_names.is_empty() {
            r["shortNames"] = json!(rt.short_names);
        }
        if !rt.categories.is_empty() {
            r["categories"] = json!(rt.categories);
        }
        resources.push(r);
        if rt.status {
            resources.push(sub(
                rt,
                "status",
                &rt.kind,
                &["get", "patch", "update"],
                None,
            ));
        }
        if rt.scale.is_some() {
            resources.push(sub(
                rt,
                "scale",
                "Scale",
                &["get", "patch", "update"],
                Some(("autoscaling", "v1")),
            ));
        }
        if rt.group.is_empty() && rt.resource == "pods" {
            // kubectl drain finds the Eviction API version here.
            resources.push(sub(
                rt,
                "eviction",
                "Eviction",
                &["create"],
                Some(("policy", "v1")),
            ));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// `/openapi/v3`: the index of per-group-version documents. kubectl reads it to learn that
/// the server validates fields itself (`fieldValidation`), so `kubectl create/apply -f`
/// work without `--validate=false`; the documents carry no schemas.
pub fn openapi_v3_root(reg: &Registry) -> Value {
    let mut paths = serde_json::Map::new();
    for (g, versions) in reg.groups() {
        for v in versions {
            let key = if g.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{g}/{v}")
            };
            let hash = format!(
                "{:016X}",
                super::util::fnv1a(
                    resource_list(reg, &g, &v)
                        .unwrap_or_default()
                        .to_string()
                        .as_bytes()
                )
            );
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// `/openapi/v3/apis/<g>/<v>`: a PATCH and a POST operation per resource, each with its
/// group-version-kind and the `fieldValidation` query parameter.
pub fn openapi_v3_group_version(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut paths = serde_json::Map::new();
    let params = json!([
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}}
    ]);
    let mut any = false;
    for rt in reg
        .all()
        .iter()
        .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
    {
        any = true;
        let gvk = json!({"group": group, "version": version, "kind": rt.kind});
        let base = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", rt.resource)
        } else {
            format!("{prefix}/{}", rt.resource)
        };
        let op = |action: &str| json!({"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk, "parameters": params, "responses": {}});
        paths.insert(base.clone(), json!({"post": op("post")}));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"patch": op("patch"), "put": op("put")}),
        );
    }
    any.then(|| {
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.1"},
               "paths": paths, "components": {"schemas": {}}})
    })
}
