//! The glue between the request pipeline and the authn/authz modules: the static admin
//! identity, request attributes as RBAC sees them, identity sources read from the store,
//! and the real server's 403 message.
use serde_json::Value;

use super::authn::UserInfo;
use super::eks_api::EksApi;
use super::handlers::Target;
use super::identity::IdentitySources;
use super::rbac::RequestAttributes;
use super::routes::{Query, verb};
use super::state::State;
use super::status::group_resource;

pub const MASTERS: &str = "system:masters";

/// Who the static admin token is: a member of `system:masters`, which the real authorizer
/// lets do anything before RBAC is consulted.
pub fn admin_user() -> UserInfo {
    UserInfo {
        username: "testbed-admin".into(),
        uid: "testbed-admin".into(),
        groups: vec![MASTERS.into(), "system:authenticated".into()],
        extra_arn: None,
    }
}

pub fn privileged(user: &UserInfo) -> bool {
    user.groups.iter().any(|g| g == MASTERS)
}

pub fn attributes(
    method: &http::Method,
    path: &str,
    target: Option<&Target>,
    query: &Query,
) -> RequestAttributes {
    match target {
        Some(t) => RequestAttributes {
            verb: verb(method, t, query).into(),
            api_group: t.group.clone(),
            resource: t.resource.clone(),
            subresource: t.subresource.clone(),
            namespace: t.namespace.clone(),
            name: t.name.clone(),
            path: path.into(),
            is_resource: true,
        },
        None => RequestAttributes {
            verb: method.as_str().to_ascii_lowercase(),
            api_group: String::new(),
            resource: String::new(),
            subresource: None,
            namespace: None,
            name: None,
            path: path.into(),
            is_resource: false,
        },
    }
}

/// `deployments.apps "web" is forbidden: User "x" cannot patch resource "deployments/scale"
/// in API group "apps" in the namespace "default"`, and the cluster-scope and
/// non-resource variants.
pub fn forbidden_message(user: &UserInfo, a: &RequestAttributes, reason: &str) -> String {
    let mut msg = if a.is_resource {
        let gr = group_resource(&a.api_group, &a.resource);
        let subject = match &a.name {
            Some(n) => format!("{gr} \"{n}\""),
            None => gr,
        };
        let resource = match &a.subresource {
            Some(s) => format!("{}/{s}", a.resource),
            None => a.resource.clone(),
        };
        let scope = match &a.namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".into(),
        };
        format!(
            "{subject} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            user.username, a.verb, a.api_group
        )
    } else {
        format!(
            "forbidden: User \"{}\" cannot {} path \"{}\"",
            user.username, a.verb, a.path
        )
    };
    if !reason.is_empty() {
        msg.push_str(": ");
        msg.push_str(reason);
    }
    msg
}

/// What identity mapping reads: the `kube-system/aws-auth` ConfigMap and the access entries.
pub fn identity_sources(state: &State, eks: &EksApi) -> IdentitySources {
    IdentitySources {
        aws_auth: state
            .store
            .get("configmaps", "kube-system", "aws-auth")
            .cloned(),
        access_entries: eks.access_entries(),
    }
}

/// Bootstrap RBAC the real server creates: discovery for every authenticated user, and
/// cluster-admin bound to system:masters.
pub fn bootstrap_rbac() -> Vec<Value> {
    let discovery_urls = [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/readyz",
        "/openapi",
        "/openapi/*",
        "/version",
        "/version/",
    ];
    vec![
        serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]}),
        serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": MASTERS}]}),
        serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "system:discovery", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "rules": [{"nonResourceURLs": discovery_urls, "verbs": ["get"]}]}),
        serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:discovery", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:discovery"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]}),
    ]
}
