//! Objects tests and the demo apply, written once with what differs between them as
//! arguments: a Deployment ([`deployment`]) and a role bound to one subject ([`grant`]). Each
//! is JSON, which [`Cluster::load_yaml`](super::Cluster::load_yaml) takes as it is (JSON is
//! YAML) and `serde_json::from_value` makes a typed object of.
use serde_json::{Value, json};

/// Deployment `namespace/name` of `replicas` pods labelled `app: <name>`, each running
/// `container` (a container spec: `{"name": .., "image": .., "resources": ..}`).
pub fn deployment(namespace: &str, name: &str, replicas: i32, container: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container]}
            }
        }
    })
}

/// Who a binding grants a role to.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    /// A group, as aws-auth or an access entry maps an IAM identity to.
    Group(&'a str),
    ServiceAccount {
        namespace: &'a str,
        name: &'a str,
    },
}

impl Subject<'_> {
    fn name(&self) -> &str {
        match self {
            Subject::Group(name) | Subject::ServiceAccount { name, .. } => name,
        }
    }

    fn to_json(self) -> Value {
        match self {
            Subject::Group(name) => {
                json!({"kind": "Group", "name": name, "apiGroup": "rbac.authorization.k8s.io"})
            }
            Subject::ServiceAccount { namespace, name } => {
                json!({"kind": "ServiceAccount", "name": name, "namespace": namespace})
            }
        }
    }
}

/// Role `role` granting `rules` (a JSON array of policy rules) and its binding to `subject`
/// (named `<role>-<subject>`, so that one role may be granted to several), as two documents
/// for `load_yaml`: cluster-wide (a ClusterRole and a ClusterRoleBinding) when `namespace`
/// is `None`, else a Role and a RoleBinding in it.
pub fn grant(namespace: Option<&str>, role: &str, rules: Value, subject: Subject) -> String {
    let (role_kind, binding_kind) = match namespace {
        None => ("ClusterRole", "ClusterRoleBinding"),
        Some(_) => ("Role", "RoleBinding"),
    };
    let metadata = |name: &str| match namespace {
        None => json!({"name": name}),
        Some(ns) => json!({"name": name, "namespace": ns}),
    };
    let rbac = "rbac.authorization.k8s.io/v1";
    let role_doc = json!({
        "apiVersion": rbac, "kind": role_kind, "metadata": metadata(role), "rules": rules
    });
    let binding_doc = json!({
        "apiVersion": rbac,
        "kind": binding_kind,
        "metadata": metadata(&format!("{role}-{}", subject.name())),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [subject.to_json()]
    });
    format!("{role_doc}\n---\n{binding_doc}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespaced_grant_is_a_role_and_its_binding_in_the_namespace() {
        let rules = json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]);
        let text = grant(Some("qa"), "cm-editor", rules.clone(), Subject::Group("qa"));
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["kind"], "Role");
        assert_eq!(
            docs[0]["metadata"],
            json!({"name": "cm-editor", "namespace": "qa"})
        );
        assert_eq!(docs[0]["rules"], rules);
        assert_eq!(docs[1]["kind"], "RoleBinding");
        assert_eq!(
            docs[1]["metadata"],
            json!({"name": "cm-editor-qa", "namespace": "qa"})
        );
        assert_eq!(docs[1]["roleRef"]["kind"], "Role");
        assert_eq!(docs[1]["subjects"][0]["kind"], "Group");
    }

    #[test]
    fn a_cluster_grant_to_a_service_account() {
        let subject = Subject::ServiceAccount {
            namespace: "kube-system",
            name: "sa",
        };
        let text = grant(None, "reader", json!([]), subject);
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        assert_eq!(docs[0]["kind"], "ClusterRole");
        assert_eq!(docs[0]["metadata"], json!({"name": "reader"}));
        assert_eq!(docs[1]["kind"], "ClusterRoleBinding");
        assert_eq!(docs[1]["roleRef"]["kind"], "ClusterRole");
        assert_eq!(
            docs[1]["subjects"],
            json!([{"kind": "ServiceAccount", "name": "sa", "namespace": "kube-system"}])
        );
    }
}
