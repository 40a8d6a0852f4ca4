//! The resource types the server knows: built-ins and those that CRDs register at run time.
use std::collections::BTreeMap;

use serde_json::Value;

use super::status::group_resource;
use super::util::{at, str_at};

/// Where a scale subresource reads and writes (CRD `subresources.scale`, or the built-ins').
#[derive(Clone, Debug)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    /// For built-ins this is `.spec.selector`, a LabelSelector object; for CRDs a string field.
    pub label_selector: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ResourceType {
    pub group: String,
    /// Served versions; the first one is the preferred (and stored) one.
    pub versions: Vec<String>,
    pub resource: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Has a `/status` subresource: the main endpoint then ignores status changes and the
    /// status endpoint ignores everything else.
    pub status: bool,
    pub scale: Option<ScalePaths>,
    /// Set for custom resources: per-version openAPIV3Schema and printer columns.
    pub crd: Option<CrdInfo>,
}

#[derive(Clone, Debug, Default)]
pub struct CrdInfo {
    pub crd_name: String,
    pub schemas: BTreeMap<String, Value>,
    pub printer_columns: BTreeMap<String, Vec<Value>>,
}

impl ResourceType {
    /// `deployments.apps`, the key of the store and of error messages.
    pub fn gr(&self) -> String {
        group_resource(&self.group, &self.resource)
    }
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }
    pub fn preferred_version(&self) -> &str {
        &self.versions[0]
    }
    pub fn is_custom(&self) -> bool {
        self.crd.is_some()
    }
}

#[derive(Clone, Debug)]
pub struct Registry {
    types: Vec<ResourceType>,
}

#[allow(clippy::too_many_arguments)] // a table row: one argument per column
fn builtin(
    group: &str,
    version: &str,
    resource: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    status: bool,
    scale: bool,
) -> ResourceType {
    ResourceType {
        group: group.into(),
        versions: vec![version.into()],
        resource: resource.into(),
        singular: kind.to_ascii_lowercase(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        status,
        scale: scale.then(|| ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: Some(".spec.selector".into()),
        }),
        crd: None,
    }
}

impl Registry {
    pub fn builtin() -> Self {
        let mut types = vec![
            builtin(
                "",
                "v1",
                "namespaces",
                "Namespace",
                false,
                &["ns"],
                true,
                false,
            ),
            builtin("", "v1", "nodes", "Node", false, &["no"], true, false),
            builtin("", "v1", "pods", "Pod", true, &["po"], true, false),
            builtin(
                "",
                "v1",
                "configmaps",
                "ConfigMap",
                true,
                &["cm"],
                false,
                false,
            ),
            builtin("", "v1", "secrets", "Secret", true, &[], false, false),
            builtin(
                "",
                "v1",
                "serviceaccounts",
                "ServiceAccount",
                true,
                &["sa"],
                false,
                false,
            ),
            builtin("", "v1", "services", "Service", true, &["svc"], true, false),
            builtin("", "v1", "events", "Event", true, &["ev"], false, false),
            builtin(
                "apps",
                "v1",
                "deployments",
                "Deployment",
                true,
                &["deploy"],
                true,
                true,
            ),
            builtin(
                "apps",
                "v1",
                "replicasets",
                "ReplicaSet",
                true,
                &["rs"],
                true,
                true,
            ),
            builtin(
                "apps",
                "v1",
                "statefulsets",
                "StatefulSet",
                true,
                &["sts"],
                true,
                true,
            ),
            builtin(
                "apps",
                "v1",
                "daemonsets",
                "DaemonSet",
                true,
                &["ds"],
                true,
                false,
            ),
            builtin(
                "policy",
                "v1",
                "poddisruptionbudgets",
                "PodDisruptionBudget",
                true,
                &["pdb"],
                true,
                false,
            ),
            builtin(
                "events.k8s.io",
                "v1",
                "events",
                "Event",
                true,
                &["ev"],
                false,
                false,
            ),
            builtin(
                "coordination.k8s.io",
                "v1",
                "leases",
                "Lease",
                true,
                &[],
                false,
                false,
            ),
            builtin(
                "rbac.authorization.k8s.io",
                "v1",
                "roles",
                "Role",
                true,
                &[],
                false,
                false,
            ),
            builtin(
                "rbac.authorization.k8s.io",
                "v1",
                "rolebindings",
                "RoleBinding",
                true,
                &[],
                false,
                false,
            ),
            builtin(
                "rbac.authorization.k8s.io",
                "v1",
                "clusterroles",
                "ClusterRole",
                false,
                &[],
                false,
                false,
            ),
            builtin(
                "rbac.authorization.k8s.io",
                "v1",
                "clusterrolebindings",
                "ClusterRoleBinding",
                false,
                &[],
                false,
                false,
            ),
            builtin(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                false,
                &["crd", "crds"],
                true,
                false,
            ),
        ];
        for t in &mut types {
            if [
                "pods",
                "deployments",
                "replicasets",
                "statefulsets",
                "daemonsets",
                "services",
            ]
            .contains(&t.resource.as_str())
            {
                t.categories = vec!["all".into()];
            }
        }
        Registry { types }
    }

    pub fn all(&self) -> &[ResourceType] {
        &self.types
    }

    pub fn find(&self, group: &str, version: &str, resource: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| {
            t.group == group && t.resource == resource && t.versions.iter().any(|v| v == version)
        })
    }

    pub fn by_gr(&self, gr: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.gr() == gr)
    }

    /// For manifests and owner references: `apps/v1` + `Deployment`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind && t.versions.iter().any(|v| v == version))
    }

    /// Groups in registration order, each with its versions (preferred first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            let entry = match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some(e) => e,
                None => {
                    out.push((t.group.clone(), Vec::new()));
                    out.last_mut().expect("pushed")
                }
            };
            for v in &t.versions {
                if !entry.1.contains(v) {
                    entry.1.push(v.clone());
                }
            }
        }
        out
    }

    /// Registers (or re-registers) the custom resource a CRD defines.
    pub fn register_crd(&mut self, crd: &Value) {
        let name = str_at(crd, &["metadata", "name"]).to_string();
        self.unregister_crd(&name);
        let spec = &crd["spec"];
        let names = &spec["names"];
        let versions: Vec<&Value> = spec["versions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|v| v["served"].as_bool().unwrap_or(true))
                    .collect()
            })
            .unwrap_or_default();
        if versions.is_empty() {
            return;
        }
        // Preferred = the storage version; kubectl and kube-rs discovery read it from /apis.
        let mut ordered: Vec<&Value> = versions.clone();
        ordered.sort_by_key(|v| !v["storage"].as_bool().unwrap_or(false));
        // Subresources are per version; the testbed takes them from the storage version.
        let subs = &ordered[0]["subresources"];
        let scale = subs
            .get("scale")
            .filter(|s| s.is_object())
            .map(|s| ScalePaths {
                spec_replicas: str_at(s, &["specReplicasPath"]).to_string(),
                status_replicas: str_at(s, &["statusReplicasPath"]).to_string(),
                label_selector: s["labelSelectorPath"].as_str().map(String::from),
            });
        let mut info = CrdInfo {
            crd_name: name,
            ..Default::default()
        };
        for v in &ordered {
            let vn = str_at(v, &["name"]).to_string();
            if let Some(schema) = at(v, &["schema", "openAPIV3Schema"]) {
                info.schemas.insert(vn.clone(), schema.clone());
            }
            if let Some(cols) = v["additionalPrinterColumns"].as_array() {
                info.printer_columns.insert(vn, cols.clone());
            }
        }
        let kind = str_at(names, &["kind"]).to_string();
        let strs = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        self.types.push(ResourceType {
            group: str_at(spec, &["group"]).to_string(),
            versions: ordered
                .iter()
                .map(|v| str_at(v, &["name"]).to_string())
                .collect(),
            resource: str_at(names, &["plural"]).to_string(),
            singular: names["singular"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| kind.to_ascii_lowercase()),
            list_kind: names["listKind"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| format!("{kind}List")),
            kind,
            namespaced: str_at(spec, &["scope"]) != "Cluster",
            short_names: strs(&names["shortNames"]),
            categories: strs(&names["categories"]),
            status: subs.get("status").is_some_and(|s| s.is_object()),
            scale,
            crd: Some(info),
        });
    }

    pub fn unregister_crd(&mut self, crd_name: &str) {
        self.types
            .retain(|t| t.crd.as_ref().is_none_or(|c| c.crd_name != crd_name));
    }
}
