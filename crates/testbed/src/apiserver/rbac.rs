//! Kubernetes RBAC authorization (rbac.authorization.k8s.io/v1), following
//! `plugin/pkg/auth/authorizer/rbac` of kube-apiserver:
//!
//! - `system:masters` may do anything (the real server allows it before RBAC).
//! - ClusterRoleBindings are visited first, then, for a namespaced request, the
//!   RoleBindings of that namespace. A binding applies when one of its subjects matches:
//!   `User` by name, `Group` by membership, `ServiceAccount` by the username
//!   `system:serviceaccount:<ns>:<name>` (a subject without namespace takes the
//!   RoleBinding's). A user named `system:serviceaccount:<ns>:<name>` is also in the groups
//!   `system:serviceaccounts` and `system:serviceaccounts:<ns>`.
//! - A RoleBinding may reference a Role of its namespace or a ClusterRole (then granted in
//!   that namespace only). Non-resource URLs are granted by ClusterRoleBindings only.
//! - A rule allows a resource request when verbs (`*`), apiGroups (`*`) and resources match
//!   (`*` matches everything, `pods/eviction` the subresource, `*/scale` that subresource of
//!   any resource; `deployments` alone does *not* match `deployments/scale`), and
//!   resourceNames is empty or names the object (so never a create on a collection or a
//!   list/watch without a name). A non-resource request matches `nonResourceURLs` exactly or
//!   by a trailing `*` prefix.
//! - ClusterRoles with an `aggregationRule` get the rules of the ClusterRoles their label
//!   selectors match (matchLabels, and matchExpressions with In/NotIn/Exists/DoesNotExist),
//!   as the aggregation controller would fill them.
//! - The bootstrap roles every cluster has are built in when no object of that name exists
//!   (the real server re-creates them at start): `system:discovery`, `system:basic-user` and
//!   `system:public-info-viewer` bound to `system:authenticated` (and the last to
//!   `system:unauthenticated`).
//!
//! A denial is `Err(reason)` where reason is what the real authorizer says after the
//! standard message: empty, or `RBAC: <errors>` when an applicable binding references a role
//! that does not exist (e.g. `RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`).
use std::collections::BTreeMap;

use serde_json::Value;

use super::authn::UserInfo;

/// What the authorizer is asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestAttributes {
    pub verb: String,
    pub api_group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub path: String,
    pub is_resource: bool,
}

/// One PolicyRule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectKind {
    User,
    Group,
    ServiceAccount,
    Other(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub kind: SubjectKind,
    pub name: String,
    pub namespace: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub name: String,
    /// "" for a ClusterRoleBinding.
    pub namespace: String,
    /// `Role` or `ClusterRole` (anything else is an error when the binding applies).
    pub role_kind: String,
    pub role_name: String,
    pub subjects: Vec<Subject>,
}

/// The RBAC objects, parsed once per change of any of them.
#[derive(Clone, Debug, Default)]
pub struct RbacSnapshot {
    /// (namespace, name) → rules.
    roles: BTreeMap<(String, String), Vec<Rule>>,
    cluster_roles: BTreeMap<String, Vec<Rule>>,
    role_bindings: Vec<Binding>,
    cluster_role_bindings: Vec<Binding>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn parse_rules(obj: &Value) -> Vec<Rule> {
    obj["rules"]
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .map(|r| Rule {
                    verbs: strings(&r["verbs"]),
                    api_groups: strings(&r["apiGroups"]),
                    resources: strings(&r["resources"]),
                    resource_names: strings(&r["resourceNames"]),
                    non_resource_urls: strings(&r["nonResourceURLs"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn parse_binding(obj: &Value) -> Binding {
    let namespace = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let subjects = obj["subjects"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| Subject {
                    kind: match s["kind"].as_str().unwrap_or("") {
                        "User" => SubjectKind::User,
                        "Group" => SubjectKind::Group,
                        "ServiceAccount" => SubjectKind::ServiceAccount,
                        other => SubjectKind::Other(other.to_string()),
                    },
                    name: s["name"].as_str().unwrap_or("").to_string(),
                    namespace: s["namespace"].as_str().unwrap_or("").to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    Binding {
        name: obj["metadata"]["name"].as_str().unwrap_or("").to_string(),
        namespace,
        role_kind: obj["roleRef"]["kind"].as_str().unwrap_or("").to_string(),
        role_name: obj["roleRef"]["name"].as_str().unwrap_or("").to_string(),
        subjects,
    }
}

/// A metav1.LabelSelector against labels (matchLabels and matchExpressions).
fn selector_matches(sel: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    if let Some(ml) = sel["matchLabels"].as_object()
        && !ml.iter().all(|(k, v)| label(k) == v.as_str())
    {
        return false;
    }
    if let Some(exprs) = sel["matchExpressions"].as_array() {
        for e in exprs {
            let key = e["key"].as_str().unwrap_or("");
            let values = strings(&e["values"]);
            let ok = match e["operator"].as_str().unwrap_or("") {
                "In" => label(key).is_some_and(|v| values.iter().any(|x| x == v)),
                "NotIn" => label(key).is_none_or(|v| !values.iter().any(|x| x == v)),
                "Exists" => label(key).is_some(),
                "DoesNotExist" => label(key).is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    // An empty selector matches nothing in aggregation (the controller skips it).
    sel["matchLabels"]
        .as_object()
        .is_some_and(|m| !m.is_empty())
        || sel["matchExpressions"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
}

const DISCOVERY_URLS: [&str; 9] = [
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/openapi",
    "/openapi/*",
    "/readyz",
];

fn bootstrap_cluster_roles() -> Vec<(&'static str, Vec<Rule>)> {
    let nr = |urls: &[&str]| Rule {
        verbs: vec!["get".into()],
        non_resource_urls: urls.iter().map(|s| s.to_string()).collect(),
        ..Rule::default()
    };
    let mut discovery = DISCOVERY_URLS.to_vec();
    discovery.extend(["/version", "/version/"]);
    vec![
        ("system:discovery", vec![nr(&discovery)]),
        (
            "system:basic-user",
            vec![
                Rule {
                    verbs: vec!["create".into()],
                    api_groups: vec!["authorization.k8s.io".into()],
                    resources: vec![
                        "selfsubjectaccessreviews".into(),
                        "selfsubjectrulesreviews".into(),
                    ],
                    ..Rule::default()
                },
                Rule {
                    verbs: vec!["create".into()],
                    api_groups: vec!["authentication.k8s.io".into()],
                    resources: vec!["selfsubjectreviews".into()],
                    ..Rule::default()
                },
            ],
        ),
        (
            "system:public-info-viewer",
            vec![nr(&[
                "/healthz",
                "/livez",
                "/readyz",
                "/version",
                "/version/",
            ])],
        ),
    ]
}

fn bootstrap_binding(name: &str, groups: &[&str]) -> Binding {
    Binding {
        name: name.into(),
        namespace: String::new(),
        role_kind: "ClusterRole".into(),
        role_name: name.into(),
        subjects: groups
            .iter()
            .map(|g| Subject {
                kind: SubjectKind::Group,
                name: g.to_string(),
                namespace: String::new(),
            })
            .collect(),
    }
}

impl RbacSnapshot {
    pub fn from_objects(
        roles: &[Value],
        cluster_roles: &[Value],
        role_bindings: &[Value],
        cluster_role_bindings: &[Value],
    ) -> Self {
        let mut snap = RbacSnapshot::default();
        for r in roles {
            let ns = r["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let name = r["metadata"]["name"].as_str().unwrap_or("").to_string();
            snap.roles.insert((ns, name), parse_rules(r));
        }
        for cr in cluster_roles {
            let name = cr["metadata"]["name"].as_str().unwrap_or("").to_string();
            let mut rules = parse_rules(cr);
            if let Some(selectors) = cr["aggregationRule"]["clusterRoleSelectors"].as_array() {
                for other in cluster_roles {
                    let other_name = other["metadata"]["name"].as_str().unwrap_or("");
                    if other_name == name {
                        continue;
                    }
                    let empty = serde_json::Map::new();
                    let labels = other["metadata"]["labels"].as_object().unwrap_or(&empty);
                    if selectors.iter().any(|s| selector_matches(s, labels)) {
                        for rule in parse_rules(other) {
                            if !rules.contains(&rule) {
                                rules.push(rule);
                            }
                        }
                    }
                }
            }
            snap.cluster_roles.insert(name, rules);
        }
        snap.role_bindings = role_bindings.iter().map(parse_binding).collect();
        snap.cluster_role_bindings = cluster_role_bindings.iter().map(parse_binding).collect();

        for (name, rules) in bootstrap_cluster_roles() {
            snap.cluster_roles.entry(name.to_string()).or_insert(rules);
        }
        let defaults = [
            ("system:discovery", &["system:authenticated"][..]),
            ("system:basic-user", &["system:authenticated"][..]),
            (
                "system:public-info-viewer",
                &["system:authenticated", "system:unauthenticated"][..],
            ),
        ];
        for (name, groups) in defaults {
            if !snap.cluster_role_bindings.iter().any(|b| b.name == name) {
                snap.cluster_role_bindings
                    .push(bootstrap_binding(name, groups));
            }
        }
        snap
    }

    /// The rules a binding grants, or the error the real resolver reports.
    fn rules_for(&self, b: &Binding) -> Result<&[Rule], String> {
        match b.role_kind.as_str() {
            "ClusterRole" => self
                .cluster_roles
                .get(&b.role_name)
                .map(Vec::as_slice)
                .ok_or_else(|| {
                    format!(
                        "clusterrole.rbac.authorization.k8s.io \"{}\" not found",
                        b.role_name
                    )
                }),
            "Role" if !b.namespace.is_empty() => self
                .roles
                .get(&(b.namespace.clone(), b.role_name.clone()))
                .map(Vec::as_slice)
                .ok_or_else(|| {
                    format!(
                        "role.rbac.authorization.k8s.io \"{}\" not found",
                        b.role_name
                    )
                }),
            other => Err(format!("unsupported role reference kind: {other:?}")),
        }
    }
}

/// `system:serviceaccount:<ns>:<name>` → (ns, name).
fn service_account(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    if ns.is_empty() || name.is_empty() || name.contains(':') {
        return None;
    }
    Some((ns, name))
}

fn applies(subject: &Subject, user: &str, groups: &[String], binding_ns: &str) -> bool {
    match subject.kind {
        SubjectKind::User => subject.name == user,
        SubjectKind::Group => groups.contains(&subject.name),
        SubjectKind::ServiceAccount => {
            let ns = if subject.namespace.is_empty() {
                binding_ns
            } else {
                &subject.namespace
            };
            !ns.is_empty() && service_account(user) == Some((ns, subject.name.as_str()))
        }
        SubjectKind::Other(_) => false,
    }
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

fn resource_matches(rule: &Rule, a: &RequestAttributes) -> bool {
    let combined = match &a.subresource {
        Some(s) => format!("{}/{s}", a.resource),
        None => a.resource.clone(),
    };
    rule.resources.iter().any(|r| {
        r == "*"
            || *r == combined
            || a.subresource
                .as_deref()
                .is_some_and(|s| r.strip_prefix("*/").is_some_and(|rs| rs == s))
    })
}

fn non_resource_url_matches(rule: &Rule, path: &str) -> bool {
    rule.non_resource_urls.iter().any(|u| {
        u == "*"
            || u == path
            || u.strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}

/// Does a rule allow the request? (`RuleAllows` of the real authorizer.)
pub fn rule_allows(rule: &Rule, a: &RequestAttributes) -> bool {
    if a.is_resource {
        has(&rule.verbs, &a.verb)
            && has(&rule.api_groups, &a.api_group)
            && resource_matches(rule, a)
            && (rule.resource_names.is_empty()
                || a.name
                    .as_deref()
                    .is_some_and(|n| !n.is_empty() && rule.resource_names.iter().any(|x| x == n)))
    } else {
        has(&rule.verbs, &a.verb) && non_resource_url_matches(rule, &a.path)
    }
}

/// `Ok` if allowed; `Err(reason)`: the reason the real authorizer gives (often empty).
pub fn authorize(
    user: &UserInfo,
    attrs: &RequestAttributes,
    rbac: &RbacSnapshot,
) -> Result<(), String> {
    let mut groups = user.groups.clone();
    if groups.iter().any(|g| g == "system:masters") {
        return Ok(());
    }
    if let Some((ns, _)) = service_account(&user.username) {
        for g in [
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{ns}"),
        ] {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    let mut errors: Vec<String> = Vec::new();
    let mut visit = |b: &Binding| -> bool {
        if !b
            .subjects
            .iter()
            .any(|s| applies(s, &user.username, &groups, &b.namespace))
        {
            return false;
        }
        match rbac.rules_for(b) {
            Ok(rules) => rules.iter().any(|r| rule_allows(r, attrs)),
            Err(e) => {
                errors.push(e);
                false
            }
        }
    };
    if rbac.cluster_role_bindings.iter().any(&mut visit) {
        return Ok(());
    }
    if attrs.is_resource
        && let Some(ns) = attrs.namespace.as_deref().filter(|n| !n.is_empty())
        && rbac
            .role_bindings
            .iter()
            .filter(|b| b.namespace == ns)
            .any(&mut visit)
    {
        return Ok(());
    }
    Err(match errors.len() {
        0 => String::new(),
        1 => format!("RBAC: {}", errors[0]),
        _ => format!("RBAC: [{}]", errors.join(", ")),
    })
}

#[cfg(test)]
mod tests;
