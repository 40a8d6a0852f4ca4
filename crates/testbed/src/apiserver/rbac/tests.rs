use serde_json::{Value, json};

use super::*;

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        username: name.into(),
        uid: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        extra_arn: None,
    }
}

fn meta(name: &str, ns: Option<&str>) -> Value {
    match ns {
        Some(ns) => json!({"name": name, "namespace": ns}),
        None => json!({"name": name}),
    }
}

fn role(ns: &str, name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(name, Some(ns)), "rules": rules})
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(name, None), "rules": rules})
}

fn binding(ns: Option<&str>, name: &str, kind: &str, role: &str, subjects: Value) -> Value {
    json!({"metadata": meta(name, ns), "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role}, "subjects": subjects})
}

fn res(
    verb: &str,
    group: &str,
    resource: &str,
    sub: Option<&str>,
    ns: Option<&str>,
    name: Option<&str>,
) -> RequestAttributes {
    RequestAttributes {
        verb: verb.into(),
        api_group: group.into(),
        resource: resource.into(),
        subresource: sub.map(str::to_string),
        namespace: ns.map(str::to_string),
        name: name.map(str::to_string),
        path: "/".into(),
        is_resource: true,
    }
}

fn non_res(verb: &str, path: &str) -> RequestAttributes {
    RequestAttributes {
        verb: verb.into(),
        path: path.into(),
        is_resource: false,
        ..RequestAttributes::default()
    }
}

/// The fixture: what the suite's functions look like in RBAC.
fn snapshot() -> RbacSnapshot {
    let roles = [
        role(
            "apps-ns",
            "scaler",
            json!([
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "patch", "update"]},
            ]),
        ),
        role(
            "kube-system",
            "aws-auth-editor",
            json!([
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["aws-auth"], "verbs": ["get", "update", "patch", "list", "create"]},
            ]),
        ),
        role(
            "apps-ns",
            "sa-reader",
            json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]),
        ),
    ];
    let cluster_roles = [
        cluster_role(
            "drainer",
            json!([
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch"]},
                {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
                {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["get"]},
            ]),
        ),
        cluster_role(
            "everything-in-apps",
            json!([{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]}]),
        ),
        cluster_role(
            "event-writer",
            json!([{"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}]),
        ),
        cluster_role(
            "metrics-url",
            json!([{"nonResourceURLs": ["/metrics", "/logs/*"], "verbs": ["get"]}]),
        ),
        // nonResourceURLs in a Role bound by a RoleBinding grant nothing.
        cluster_role(
            "ns-metrics",
            json!([{"nonResourceURLs": ["/ns-metrics"], "verbs": ["get"]}]),
        ),
        json!({"metadata": {"name": "aggregate", "labels": {}}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "yes"}}]}, "rules": []}),
        json!({"metadata": {"name": "agg-part", "labels": {"agg": "yes"}}, "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["list"]}]}),
        json!({"metadata": {"name": "agg-expr", "labels": {"tier": "x"}}, "rules": [{"apiGroups": ["batch"], "resources": ["cronjobs"], "verbs": ["list"]}]}),
        json!({"metadata": {"name": "aggregate-expr"}, "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]}]}]}}),
    ];
    let role_bindings = [
        binding(
            Some("apps-ns"),
            "scaler",
            "Role",
            "scaler",
            json!([{"kind": "User", "name": "scaler-user"}]),
        ),
        binding(
            Some("kube-system"),
            "iam-sync",
            "Role",
            "aws-auth-editor",
            json!([{"kind": "Group", "name": "iam-sync"}]),
        ),
        // A RoleBinding granting a ClusterRole in one namespace only.
        binding(
            Some("apps-ns"),
            "apps-admin",
            "ClusterRole",
            "everything-in-apps",
            json!([{"kind": "Group", "name": "apps-admins"}]),
        ),
        // ServiceAccount subject without namespace: the binding's namespace.
        binding(
            Some("apps-ns"),
            "sa",
            "Role",
            "sa-reader",
            json!([{"kind": "ServiceAccount", "name": "reader"}]),
        ),
        binding(
            Some("apps-ns"),
            "all-sas",
            "ClusterRole",
            "event-writer",
            json!([{"kind": "Group", "name": "system:serviceaccounts:apps-ns"}]),
        ),
        binding(
            Some("apps-ns"),
            "ns-metrics",
            "ClusterRole",
            "ns-metrics",
            json!([{"kind": "User", "name": "metrics-user"}]),
        ),
        binding(
            Some("apps-ns"),
            "dangling",
            "Role",
            "missing-role",
            json!([{"kind": "User", "name": "dangling-user"}]),
        ),
    ];
    let cluster_role_bindings = [
        binding(
            None,
            "drainer",
            "ClusterRole",
            "drainer",
            json!([
                {"kind": "User", "name": "drainer-user"},
                {"kind": "ServiceAccount", "name": "autoscaler", "namespace": "kube-system"},
            ]),
        ),
        binding(
            None,
            "metrics",
            "ClusterRole",
            "metrics-url",
            json!([{"kind": "User", "name": "metrics-user"}]),
        ),
        binding(
            None,
            "agg",
            "ClusterRole",
            "aggregate",
            json!([{"kind": "User", "name": "agg-user"}]),
        ),
        binding(
            None,
            "agg-expr",
            "ClusterRole",
            "aggregate-expr",
            json!([{"kind": "User", "name": "agg-user"}]),
        ),
        binding(
            None,
            "gone",
            "ClusterRole",
            "no-such-clusterrole",
            json!([{"kind": "User", "name": "dangling-user"}]),
        ),
    ];
    RbacSnapshot::from_objects(
        &roles,
        &cluster_roles,
        &role_bindings,
        &cluster_role_bindings,
    )
}

#[test]
fn allow_and_deny_table() {
    let rbac = snapshot();
    let auth = ["system:authenticated"];
    let scaler = user("scaler-user", &auth);
    let drainer = user("drainer-user", &auth);
    let iam_sync = user("arn:x", &["iam-sync", "system:authenticated"]);
    let apps_admin = user("bob", &["apps-admins", "system:authenticated"]);
    let sa_reader = user("system:serviceaccount:apps-ns:reader", &auth);
    let sa_other_ns = user("system:serviceaccount:other:reader", &auth);
    let sa_autoscaler = user("system:serviceaccount:kube-system:autoscaler", &auth);
    let metrics = user("metrics-user", &auth);
    let agg = user("agg-user", &auth);
    let nobody = user("nobody", &auth);
    let anon = user("anon", &[]);
    let master = user("root", &["system:masters"]);
    let ns = Some("apps-ns");
    let ks = Some("kube-system");
    let web = Some("web");

    let cases: Vec<(&str, &UserInfo, RequestAttributes, bool)> = vec![
        // namespaced Role via RoleBinding
        (
            "role: list deployments",
            &scaler,
            res("list", "apps", "deployments", None, ns, None),
            true,
        ),
        (
            "role: patch scale",
            &scaler,
            res("patch", "apps", "deployments", Some("scale"), ns, web),
            true,
        ),
        (
            "role: not in another namespace",
            &scaler,
            res("list", "apps", "deployments", None, Some("default"), None),
            false,
        ),
        (
            "role: not cluster-wide",
            &scaler,
            res("list", "apps", "deployments", None, None, None),
            false,
        ),
        (
            "role: deployments does not cover deployments/scale for update... patch main resource",
            &scaler,
            res("patch", "apps", "deployments", None, ns, web),
            false,
        ),
        (
            "role: scale rule does not cover the main resource",
            &scaler,
            res("get", "apps", "deployments", Some("status"), ns, web),
            false,
        ),
        (
            "role: wrong group",
            &scaler,
            res("list", "extensions", "deployments", None, ns, None),
            false,
        ),
        (
            "role: wrong verb",
            &scaler,
            res("delete", "apps", "deployments", None, ns, web),
            false,
        ),
        // resourceNames
        (
            "names: get named",
            &iam_sync,
            res("get", "", "configmaps", None, ks, Some("aws-auth")),
            true,
        ),
        (
            "names: patch named",
            &iam_sync,
            res("patch", "", "configmaps", None, ks, Some("aws-auth")),
            true,
        ),
        (
            "names: other name",
            &iam_sync,
            res("get", "", "configmaps", None, ks, Some("coredns")),
            false,
        ),
        (
            "names: list has no name",
            &iam_sync,
            res("list", "", "configmaps", None, ks, None),
            false,
        ),
        (
            "names: create has no name",
            &iam_sync,
            res("create", "", "configmaps", None, ks, None),
            false,
        ),
        (
            "names: list narrowed by fieldSelector name",
            &iam_sync,
            res("list", "", "configmaps", None, ks, Some("aws-auth")),
            true,
        ),
        // ClusterRole via ClusterRoleBinding
        (
            "cluster: nodes cluster-scoped",
            &drainer,
            res("patch", "", "nodes", None, None, Some("n1")),
            true,
        ),
        (
            "cluster: eviction in any namespace",
            &drainer,
            res(
                "create",
                "",
                "pods",
                Some("eviction"),
                Some("default"),
                Some("p"),
            ),
            true,
        ),
        (
            "cluster: eviction is not pods",
            &drainer,
            res("create", "", "pods", None, Some("default"), None),
            false,
        ),
        (
            "cluster: delete pods denied",
            &drainer,
            res("delete", "", "pods", None, Some("default"), Some("p")),
            false,
        ),
        (
            "cluster: */status any group",
            &drainer,
            res("get", "apps", "deployments", Some("status"), ns, web),
            true,
        ),
        (
            "cluster: */status is not */scale",
            &drainer,
            res("get", "apps", "deployments", Some("scale"), ns, web),
            false,
        ),
        (
            "cluster: */status is not the main resource",
            &drainer,
            res("get", "apps", "deployments", None, ns, web),
            false,
        ),
        // ClusterRole via RoleBinding: only in that namespace; "*" covers subresources
        (
            "rb-cr: in namespace",
            &apps_admin,
            res("delete", "apps", "deployments", None, ns, web),
            true,
        ),
        (
            "rb-cr: * covers subresources",
            &apps_admin,
            res("update", "apps", "deployments", Some("scale"), ns, web),
            true,
        ),
        (
            "rb-cr: not elsewhere",
            &apps_admin,
            res("delete", "apps", "deployments", None, Some("default"), web),
            false,
        ),
        (
            "rb-cr: not cluster-scoped",
            &apps_admin,
            res("list", "apps", "deployments", None, None, None),
            false,
        ),
        (
            "rb-cr: not another group",
            &apps_admin,
            res("list", "", "pods", None, ns, None),
            false,
        ),
        // service accounts
        (
            "sa: namespace defaulted from binding",
            &sa_reader,
            res("list", "", "pods", None, ns, None),
            true,
        ),
        (
            "sa: same name other namespace",
            &sa_other_ns,
            res("list", "", "pods", None, ns, None),
            false,
        ),
        (
            "sa: implied group system:serviceaccounts:<ns>",
            &sa_reader,
            res("create", "events.k8s.io", "events", None, ns, None),
            true,
        ),
        (
            "sa: implied group is per namespace",
            &sa_other_ns,
            res("create", "", "events", None, ns, None),
            false,
        ),
        (
            "sa: cluster binding with namespace",
            &sa_autoscaler,
            res("list", "", "nodes", None, None, None),
            true,
        ),
        // aggregation
        (
            "agg: matchLabels",
            &agg,
            res("list", "batch", "jobs", None, ns, None),
            true,
        ),
        (
            "agg: matchExpressions In",
            &agg,
            res("list", "batch", "cronjobs", None, ns, None),
            true,
        ),
        (
            "agg: nothing else",
            &agg,
            res("delete", "batch", "jobs", None, ns, Some("j")),
            false,
        ),
        // non-resource URLs
        ("nr: exact", &metrics, non_res("get", "/metrics"), true),
        (
            "nr: prefix star",
            &metrics,
            non_res("get", "/logs/kube.log"),
            true,
        ),
        ("nr: verb", &metrics, non_res("post", "/metrics"), false),
        (
            "nr: not a prefix of metricsx",
            &metrics,
            non_res("get", "/metricsx"),
            false,
        ),
        (
            "nr: via RoleBinding grants nothing",
            &metrics,
            non_res("get", "/ns-metrics"),
            false,
        ),
        (
            "nr: discovery for everyone authenticated",
            &nobody,
            non_res("get", "/apis"),
            true,
        ),
        ("nr: /api", &nobody, non_res("get", "/api"), true),
        (
            "nr: /apis/apps/v1",
            &nobody,
            non_res("get", "/apis/apps/v1"),
            true,
        ),
        ("nr: /version", &nobody, non_res("get", "/version"), true),
        (
            "nr: /openapi/v2",
            &nobody,
            non_res("get", "/openapi/v2"),
            true,
        ),
        (
            "nr: discovery is get only",
            &nobody,
            non_res("post", "/apis"),
            false,
        ),
        (
            "nr: not without system:authenticated",
            &anon,
            non_res("get", "/apis"),
            false,
        ),
        (
            "basic-user: selfsubjectaccessreviews",
            &nobody,
            res(
                "create",
                "authorization.k8s.io",
                "selfsubjectaccessreviews",
                None,
                None,
                None,
            ),
            true,
        ),
        // nobody / masters
        (
            "nobody: pods",
            &nobody,
            res("list", "", "pods", None, ns, None),
            false,
        ),
        (
            "masters: anything",
            &master,
            res("delete", "", "namespaces", None, None, Some("kube-system")),
            true,
        ),
        (
            "masters: any path",
            &master,
            non_res("delete", "/whatever"),
            true,
        ),
    ];
    for (name, u, attrs, allowed) in cases {
        let got = authorize(u, &attrs, &rbac);
        assert_eq!(got.is_ok(), allowed, "{name}: {got:?}");
    }
}

#[test]
fn deny_reasons_are_the_real_authorizers() {
    let rbac = snapshot();
    let nobody = user("nobody", &["system:authenticated"]);
    assert_eq!(
        authorize(
            &nobody,
            &res("list", "", "pods", None, Some("apps-ns"), None),
            &rbac
        ),
        Err(String::new())
    );
    let dangling = user("dangling-user", &["system:authenticated"]);
    // Cluster-scoped: only the ClusterRoleBinding is visited.
    assert_eq!(
        authorize(
            &dangling,
            &res("list", "", "nodes", None, None, None),
            &rbac
        ),
        Err("RBAC: clusterrole.rbac.authorization.k8s.io \"no-such-clusterrole\" not found".into())
    );
    // Namespaced: the ClusterRoleBinding, then the RoleBinding of that namespace.
    assert_eq!(
        authorize(&dangling, &res("list", "", "pods", None, Some("apps-ns"), None), &rbac),
        Err("RBAC: [clusterrole.rbac.authorization.k8s.io \"no-such-clusterrole\" not found, role.rbac.authorization.k8s.io \"missing-role\" not found]".into())
    );
}

#[test]
fn bootstrap_roles_yield_to_stored_objects() {
    // A stored system:discovery without /version replaces the built-in one.
    let cr = [cluster_role(
        "system:discovery",
        json!([{"nonResourceURLs": ["/apis"], "verbs": ["get"]}]),
    )];
    let crb = [binding(
        None,
        "system:discovery",
        "ClusterRole",
        "system:discovery",
        json!([{"kind": "Group", "name": "system:authenticated"}]),
    )];
    let rbac = RbacSnapshot::from_objects(&[], &cr, &[], &crb);
    let u = user("u", &["system:authenticated"]);
    assert!(authorize(&u, &non_res("get", "/apis"), &rbac).is_ok());
    assert!(authorize(&u, &non_res("get", "/api"), &rbac).is_err());
    // /version is still public through system:public-info-viewer.
    assert!(authorize(&u, &non_res("get", "/version"), &rbac).is_ok());
    // An empty snapshot still has discovery.
    assert!(
        authorize(&u, &non_res("get", "/api/v1"), &RbacSnapshot::default()).is_err(),
        "Default has no bootstrap"
    );
    assert!(
        authorize(
            &u,
            &non_res("get", "/api/v1"),
            &RbacSnapshot::from_objects(&[], &[], &[], &[])
        )
        .is_ok()
    );
}

#[test]
fn rules_match_like_kubernetes() {
    let r = |resources: &[&str]| Rule {
        verbs: vec!["get".into()],
        api_groups: vec!["apps".into()],
        resources: resources.iter().map(|s| s.to_string()).collect(),
        ..Rule::default()
    };
    let scale = res(
        "get",
        "apps",
        "deployments",
        Some("scale"),
        Some("n"),
        Some("d"),
    );
    assert!(rule_allows(&r(&["deployments/scale"]), &scale));
    assert!(rule_allows(&r(&["*/scale"]), &scale));
    assert!(rule_allows(&r(&["*"]), &scale));
    assert!(!rule_allows(&r(&["deployments"]), &scale));
    assert!(
        !rule_allows(&r(&["deployments/*"]), &scale),
        "no such wildcard in RBAC"
    );
    assert!(!rule_allows(
        &r(&["*/scale"]),
        &res("get", "apps", "deployments", None, Some("n"), Some("d"))
    ));
    let mut named = r(&["deployments"]);
    named.resource_names = vec!["d".into()];
    assert!(rule_allows(
        &named,
        &res("get", "apps", "deployments", None, Some("n"), Some("d"))
    ));
    assert!(!rule_allows(
        &named,
        &res("get", "apps", "deployments", None, Some("n"), Some(""))
    ));
}
