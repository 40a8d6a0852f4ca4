//! The status ConfigMap end to end (`kube-system/node-autoscaler-status`, Cluster
//! Autoscaler's `cluster-autoscaler-status` shape): after a scale-up run it says InProgress
//! with the counts (the launched worker unregistered, the target one more); once the worker
//! has joined, NoActivity, a new transition; a later run keeps that transition time (and the
//! health's from the first run) while the probe times move. A ConfigMap of that name without
//! the ownership label is never overwritten: the run logs why and leaves it as it is. Each
//! of the Role's grants is needed (`every_status_grant_is_needed`).
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use testbed::harness::{eventually, rbac};
use testbed::world::k3s::{FUNCTION, K3s, SETTLE, steady_metrics};
use testbed::world::{at, scheduled, t0};

use crate::support::DUE_AT_T0;

const NAME: &str = "node-autoscaler-status";

fn configmaps(w: &K3s) -> Api<ConfigMap> {
    Api::namespaced(w.admin.clone(), "kube-system")
}

/// The ConfigMap and its `status`, parsed.
async fn status(w: &K3s) -> Option<(ConfigMap, Value)> {
    let cm = configmaps(w).get_opt(NAME).await.unwrap()?;
    let yaml = cm.data.as_ref().and_then(|d| d.get("status")).cloned()?;
    let parsed: Value = serde_saphyr::from_str(&yaml).expect("YAML");
    Some((cm, parsed))
}

fn rfc3339(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_scale_up_in_progress_then_no_activity_transition_times_kept() {
    let w = K3s::start(&steady_metrics(0.5, 0)).await;
    w.worker(0, "worker-a").await;
    // 2 × 1.5 CPU on one 2-CPU worker: one runs, one waits for a new worker.
    w.deployment("web", 2, "1500m", 0);
    let mut function = w.spawn(FUNCTION, &[DUE_AT_T0]);
    let t0 = t0();

    let out = w.invoke(FUNCTION, &scheduled(t0)).expect("scale-up run");
    assert_eq!(out["decision"], "scale_up", "{out}");
    let launched: Vec<String> = serde_json::from_value(out["launched"].clone()).unwrap();
    assert_eq!(launched.len(), 1, "{out}");
    let (cm, s) = status(&w).await.expect("written");
    let labels = cm.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("k8s-lambda.dev/managed-by").map(String::as_str),
        Some("node-autoscaler")
    );
    let wide = &s["clusterWide"];
    assert_eq!(wide["scaleUp"]["status"], "InProgress", "{s}");
    assert_eq!(wide["scaleUp"]["lastTransitionTime"], rfc3339(t0), "{s}");
    assert_eq!(wide["health"]["status"], "Healthy", "{s}");
    let counts = &wide["health"]["nodeCounts"];
    assert_eq!(
        (
            &counts["registered"]["total"],
            &counts["registered"]["ready"],
            &counts["unregistered"]
        ),
        (&json!(2), &json!(2), &json!(1)),
        "the control plane, worker-a, the launched one: {s}"
    );
    let group = &s["nodeGroups"][0];
    assert_eq!(group["name"], "workers", "{s}");
    assert_eq!(group["health"]["cloudProviderTarget"], 2, "{s}");
    assert_eq!(
        group["health"]["nodeCounts"]["registered"]["total"], 1,
        "{s}"
    );
    assert_eq!(group["scaleUp"]["status"], "InProgress", "{s}");

    // The worker joins and takes the waiting pod: no activity from the next run on.
    w.join(&launched[0], "worker-new").await;
    eventually("the waiting pod placed", SETTLE, async || {
        let pods = w.pods_by_node("web");
        (pods.len() == 2 && pods.iter().all(|(_, n)| !n.is_empty())).then_some(())
    })
    .await;
    let t1 = at(t0, 60);
    w.invoke(FUNCTION, &scheduled(t1)).expect("second run");
    let (_, s) = status(&w).await.unwrap();
    let wide = &s["clusterWide"];
    assert_eq!(wide["scaleUp"]["status"], "NoActivity", "{s}");
    assert_eq!(wide["scaleUp"]["lastTransitionTime"], rfc3339(t1), "{s}");
    assert_eq!(
        wide["health"]["lastTransitionTime"],
        rfc3339(t0),
        "kept: {s}"
    );
    assert_eq!(wide["health"]["lastProbeTime"], rfc3339(t1), "{s}");
    assert_eq!(
        wide["health"]["nodeCounts"]["registered"]["ready"], 3,
        "{s}"
    );

    let t2 = at(t0, 120);
    w.invoke(FUNCTION, &scheduled(t2)).expect("third run");
    let (_, s) = status(&w).await.unwrap();
    let up = &s["clusterWide"]["scaleUp"];
    assert_eq!(
        (
            &up["status"],
            &up["lastTransitionTime"],
            &up["lastProbeTime"]
        ),
        (
            &json!("NoActivity"),
            &json!(rfc3339(t1)),
            &json!(rfc3339(t2))
        ),
        "{s}"
    );
    assert_eq!(
        s["nodeGroups"][0]["scaleUp"]["lastTransitionTime"],
        rfc3339(t1),
        "{s}"
    );

    // Someone else's ConfigMap of that name (no ownership label): left as it is, and why
    // is logged.
    let unlabel = json!({"metadata": {"labels": {"k8s-lambda.dev/managed-by": null}}});
    configmaps(&w)
        .patch(NAME, &PatchParams::default(), &Patch::Merge(&unlabel))
        .await
        .unwrap();
    let (before, _) = status(&w).await.unwrap();
    w.invoke(FUNCTION, &scheduled(at(t0, 180)))
        .expect("a run still succeeds");
    let line = function
        .wait_for_json(Duration::from_secs(10), |v| {
            v["fields"]["message"] == "status ConfigMap not written"
        })
        .expect("logged");
    let error = line["fields"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("not ours"), "{line}");
    let (after, _) = status(&w).await.unwrap();
    assert_eq!(after.data, before.data);
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
}

/// The Role's rules, as shipped.
async fn role_rules(w: &K3s) -> Vec<PolicyRule> {
    let roles = Api::<Role>::namespaced(w.admin.clone(), "kube-system");
    roles.get(FUNCTION).await.unwrap().rules.unwrap_or_default()
}

async fn set_role_rules(w: &K3s, rules: Vec<PolicyRule>) {
    let roles = Api::<Role>::namespaced(w.admin.clone(), "kube-system");
    let mut role = roles.get(FUNCTION).await.unwrap();
    role.rules = Some(rules);
    roles
        .replace(FUNCTION, &Default::default(), &role)
        .await
        .unwrap();
}

/// The Role's rules without the `k`th grant.
fn all_but(grants: &[rbac::Grant], k: usize) -> Vec<PolicyRule> {
    serde_json::from_value(rbac::all_but(grants, k)).expect("policy rules")
}

/// Waits until the API server authorizes (`allowed`) or refuses the function's `verb` on
/// the status ConfigMap: the RBAC authorizer reads roles from its informer cache, so a
/// change takes effect a moment after it is written. Asked as the function itself.
async fn until_allowed(w: &K3s, verb: &str, allowed: bool) {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let reviews =
        Api::<SelfSubjectAccessReview>::all(w.cluster.kube_client_with_token(&w.api_token));
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some("kube-system".into()),
                resource: Some("configmaps".into()),
                // `create` is asked without a name, as the API server asks it.
                name: (verb != "create").then(|| NAME.to_owned()),
                verb: Some(verb.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    eventually(
        &format!("{verb} configmaps: {allowed}"),
        SETTLE,
        async || {
            let r = reviews.create(&Default::default(), &review).await.ok()?;
            (r.status.is_some_and(|s| s.allowed) == allowed).then_some(())
        },
    )
    .await;
}

/// Each of the Role's grants — create configmaps; get and update the status ConfigMap — is
/// needed: without it the run's write is refused (403, logged with the denial), the run
/// still succeeds, and the ConfigMap is not created or not changed. With all of them the
/// next run writes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_grant_is_needed() {
    let w = K3s::start(&steady_metrics(0.5, 0)).await;
    w.worker(0, "worker-a").await;
    let mut function = w.spawn(FUNCTION, &[]);
    let shipped = role_rules(&w).await;
    let rules: Vec<Value> = shipped
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    let grants = rbac::grants(&rules);
    let described: Vec<String> = grants.iter().map(|g| g.describe()).collect();
    assert_eq!(
        described,
        [
            "create configmaps (core)",
            "get configmaps (core)",
            "update configmaps (core)"
        ]
    );
    let t0 = t0();
    // `create` first, while there is no ConfigMap to update.
    for (k, grant) in grants.iter().enumerate() {
        let less = all_but(&grants, k);
        set_role_rules(&w, less).await;
        if grant.is("update", "configmaps") {
            // Made by a run with every grant but `update`: there is one to update.
            set_role_rules(&w, shipped.clone()).await;
            until_allowed(&w, "update", true).await;
            eventually("the status written", SETTLE, async || {
                w.invoke(FUNCTION, &scheduled(at(t0, 60 * k as i64 - 30)))
                    .ok()?;
                status(&w).await
            })
            .await;
            let less = all_but(&grants, k);
            set_role_rules(&w, less).await;
        }
        let before = status(&w).await.map(|(cm, _)| cm.data);
        let what = grant.describe();
        until_allowed(&w, &grant.verb, false).await;
        let out = w.invoke(FUNCTION, &scheduled(at(t0, 60 * k as i64)));
        let out = out.unwrap_or_else(|e| panic!("{what}: the run fails: {e}"));
        assert_eq!(out["decision"], "hold", "{what}: {out}");
        let line = function
            .wait_for_json(Duration::from_secs(10), |v| {
                v["fields"]["message"] == "status ConfigMap not written"
            })
            .unwrap_or_else(|e| panic!("{what}: nothing logged: {e}"));
        let error = line["fields"]["error"].as_str().unwrap_or_default();
        assert!(grant.denied_in(error), "{what}: {line}");
        assert_eq!(status(&w).await.map(|(cm, _)| cm.data), before, "{what}");
    }
    set_role_rules(&w, shipped).await;
    until_allowed(&w, "update", true).await;
    eventually("the status written with every grant", SETTLE, async || {
        w.invoke(FUNCTION, &scheduled(at(t0, 600))).ok()?;
        let (_, s) = status(&w).await?;
        (s["clusterWide"]["health"]["lastProbeTime"] == rfc3339(at(t0, 600))).then_some(())
    })
    .await;
}
