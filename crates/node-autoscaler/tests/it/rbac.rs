//! node-autoscaler's shipped RBAC is minimal: the real binary under the Lambda emulator,
//! moto for EC2, DynamoDB and SSM, real PromQL over an idle cluster's series, the real
//! control plane (RBAC authorizer) authorizing the function's service-account token with the
//! ClusterRole of `infra/k8s/rbac/node-autoscaler.yaml` less one grant at a time. (The
//! Role's grants, for the status ConfigMap in kube-system: `status::every_status_grant_is_needed`.)
use std::collections::BTreeMap;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};
use testbed::harness::{eventually, rbac};
use testbed::world::k3s::{FUNCTION, K3s, SETTLE, steady_metrics};
use testbed::world::{at, repo, scheduled, t0};

use crate::support::Scenarios;

const ROLE: &str = "node-autoscaler";

/// What a scale-down may change: the live workers, each worker node's presence and cordon,
/// where the `web` pods run, the recorded actions.
async fn snapshot(w: &K3s, nodes: &BTreeMap<String, String>) -> Value {
    let actions: Vec<String> = w
        .items()
        .await
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("action#"))
        .collect();
    json!({
        "workers": w.live_workers().await,
        "nodes": nodes.values().map(|n| json!([n, w.node(n).is_some(), w.cordoned(n)])).collect::<Vec<_>>(),
        "web": w.pods_by_node("web"),
        "actions": actions,
    })
}

/// Waits until the API server authorizes the function's service account as the ClusterRole
/// now says: every grant allowed but `missing` (the RBAC authorizer reads roles from its
/// informer cache, so a change takes effect a moment after it is written). Asked as the
/// function itself (SelfSubjectAccessReview, which every authenticated user may create).
pub(crate) async fn in_effect(w: &K3s, grants: &[rbac::Grant], missing: Option<usize>) {
    let reviews =
        Api::<SelfSubjectAccessReview>::all(w.cluster.kube_client_with_token(&w.api_token));
    eventually("the ClusterRole's rules in effect", SETTLE, async || {
        for (j, g) in grants.iter().enumerate() {
            let (resource, subresource) = match g.resource.split_once('/') {
                Some((r, s)) => (r.to_owned(), Some(s.to_owned())),
                None => (g.resource.clone(), None),
            };
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        group: g.api_groups.first().cloned(),
                        resource: Some(resource),
                        subresource,
                        verb: Some(g.verb.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            let allowed = match reviews.create(&PostParams::default(), &review).await {
                Ok(r) => r.status.is_some_and(|s| s.allowed),
                Err(_) => return None,
            };
            if allowed != (Some(j) != missing) {
                return None;
            }
        }
        Some(())
    })
    .await;
}

/// Each grant — one verb on one resource — is needed: with the ClusterRole holding every
/// grant but that one, a periodic run over an idle cluster (a scale-down: list nodes, pods
/// and PodDisruptionBudgets; cordon; evict; terminate; delete the Node) fails on exactly that
/// grant, as the function's failure behaviour says (the run fails; or the drain aborts, the
/// node uncordoned and the instance kept, and the run's summary says why), and changes
/// nothing it should not. With every grant back, the run that follows completes the
/// scale-down left half done and then removes one more worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rbac_grant_is_needed() {
    // 10% CPU, nothing pending, for the whole window: every run wants one worker fewer.
    let w = K3s::start(&steady_metrics(0.1, 0)).await;
    let mut nodes = BTreeMap::new();
    for (zone, node) in [(0, "worker-a"), (1, "worker-b"), (0, "worker-c")] {
        nodes.insert(w.worker(zone, node).await, node.to_owned());
    }
    // One pod per worker (the scheduler spreads them): each drain has a pod to evict.
    w.deployment("web", 3, "300m", 0);
    eventually("one web pod per worker", SETTLE, async || {
        let on: std::collections::BTreeSet<String> =
            w.pods_by_node("web").into_iter().map(|(_, n)| n).collect();
        (on.len() == 3 && nodes.values().all(|n| on.contains(n))).then_some(())
    })
    .await;
    // No cooldown between the runs: each is a scale-down.
    let _function = w.spawn(
        FUNCTION,
        &[("COOLDOWN_DOWN_SEC", "0"), ("SCALE_DOWN_UNNEEDED_SEC", "0")],
    );
    let grants =
        rbac::grants(&rbac::rules_of(repo("infra/k8s/rbac/node-autoscaler.yaml")).unwrap());
    assert_eq!(grants.len(), 7, "{grants:?}");
    // Without `delete nodes` the scale-down stops after terminating the instance: run it
    // last, where nothing depends on the workers it leaves; without `patch nodes` an action
    // may be left for the next run to resume: run it just before.
    // `create events` is for the Events on unschedulable pods, a scale-up's flow: shown
    // needed by `unschedulable::pods_no_worker_could_host_and_bound_pending_pods_…`.
    let mut order: Vec<usize> = (0..grants.len())
        .filter(|&i| !grants[i].is("create", "events"))
        .collect();
    order.sort_by_key(|&i| {
        (
            grants[i].is("delete", "nodes"),
            grants[i].is("patch", "nodes"),
        )
    });
    let t0 = t0();
    let mut left_half_done = None;

    for (k, &i) in order.iter().enumerate() {
        let grant = &grants[i];
        let what = grant.describe();
        rbac::set_rules(&w.admin, ROLE, rbac::all_but(&grants, i))
            .await
            .unwrap();
        in_effect(&w, &grants, Some(i)).await;
        let before = snapshot(&w, &nodes).await;
        let result = w.invoke(FUNCTION, &scheduled(at(t0, 60 * k as i64)));
        match (grant.verb.as_str(), grant.resource.as_str()) {
            // The cluster cannot be observed: the run fails before deciding anything.
            ("list", "nodes" | "pods" | "poddisruptionbudgets") => {
                let err = result.expect_err(&what);
                assert!(grant.denied_in(&err), "{what}: {err}");
                assert_eq!(snapshot(&w, &nodes).await, before, "{what}");
            }
            // The drain cannot evict: by design the scale-down is rolled back (node
            // uncordoned, instance kept, record gone) and the summary says why.
            ("create", "pods/eviction") => {
                let out = result.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(out["decision"], "scale_down", "{what}: {out}");
                assert_eq!(out["terminated"], json!([]), "{what}: {out}");
                let victim = out["victims"][0].as_str().unwrap();
                assert_eq!(out["aborted"][0]["instance"], victim, "{what}: {out}");
                let why = out["aborted"][0]["why"].as_str().unwrap_or_default();
                assert!(
                    rbac::mentions(why, "eviction refused (403)") && grant.denied_in(why),
                    "{what}: {out}"
                );
                assert_eq!(snapshot(&w, &nodes).await, before, "{what}");
                // As Cluster Autoscaler says so on the node.
                let said = w.events_about("Node", &nodes[victim]);
                assert!(
                    said.iter()
                        .any(|(reason, kind, message)| reason == "ScaleDownFailed"
                            && kind == "Warning"
                            && message.contains("eviction refused (403)")),
                    "{what}: {said:?}"
                );
            }
            // The drain cannot cordon, nor uncordon after that: no pod is evicted, nothing
            // is terminated, the node stays schedulable. Whether the action is then dropped
            // (the scale-down aborted, the summary says why) or kept for the next run to
            // resume (the run fails) is the function's rollback policy, pinned by its own
            // tests; either way the flow breaks on the missing grant. A kept action is
            // resumed by the next experiment's run.
            ("patch", "nodes") => {
                let mut after = snapshot(&w, &nodes).await;
                let actions = after["actions"].take();
                let mut expected = before.clone();
                expected["actions"] = Value::Null;
                assert_eq!(after, expected, "{what}");
                match result {
                    Ok(out) => {
                        assert_eq!(out["decision"], "scale_down", "{what}: {out}");
                        assert_eq!(out["terminated"], json!([]), "{what}: {out}");
                        let why = out["aborted"][0]["why"].as_str().unwrap_or_default();
                        assert!(
                            rbac::mentions(why, "cordon node") && grant.denied_in(why),
                            "{what}: {out}"
                        );
                        assert_eq!(actions, json!([]), "{what}");
                    }
                    Err(err) => {
                        assert!(
                            rbac::mentions(&err, "cordon node") && grant.denied_in(&err),
                            "{what}: {err}"
                        );
                        let kept = w.items().await;
                        let kept: Vec<&Value> = kept
                            .iter()
                            .filter(|(k, _)| k.starts_with("action#"))
                            .map(|(_, a)| a)
                            .collect();
                        assert!(
                            kept.len() == 1 && kept[0]["step"] == "draining",
                            "{what}: {kept:?}"
                        );
                    }
                }
            }
            // Drained and terminated, but the Node cannot be deleted: the run fails and the
            // action stays recorded at its last step, for the next run to finish.
            ("delete", "nodes") => {
                let err = result.expect_err(&what);
                assert!(grant.denied_in(&err), "{what}: {err}");
                let items = w.items().await;
                let (key, action) = items
                    .iter()
                    .find(|(k, _)| k.starts_with("action#"))
                    .unwrap_or_else(|| panic!("{what}: the action stays recorded: {items:?}"));
                assert_eq!(action["step"], "terminating", "{what}: {action}");
                let victim = key.trim_start_matches("action#").to_owned();
                let node = nodes[&victim].clone();
                assert_eq!(w.state(&victim).await, "terminated", "{what}");
                assert!(w.node(&node).is_some() && w.cordoned(&node), "{what}");
                for (id, other) in nodes.iter().filter(|(id, _)| **id != victim) {
                    assert_eq!(w.state(id).await, "running", "{what}: {id}");
                    assert!(w.node(other).is_some() && !w.cordoned(other), "{what}");
                }
                eventually("web pods off the drained node", SETTLE, async || {
                    let pods = w.pods_by_node("web");
                    (pods.len() == 3 && pods.iter().all(|(_, n)| !n.is_empty() && *n != node))
                        .then_some(())
                })
                .await;
                left_half_done = Some((victim, node));
            }
            _ => panic!("{what}: a grant this test has no flow for; add its case"),
        }
    }

    // Every grant back: the next run finishes the half-done removal (its Node deleted),
    // then removes one more worker all the way (drain, terminate, delete the Node).
    let (first, first_node) = left_half_done.expect("the delete experiment ran");
    rbac::set_rules(&w.admin, ROLE, rbac::all(&grants))
        .await
        .unwrap();
    in_effect(&w, &grants, None).await;
    let out = w
        .invoke(FUNCTION, &scheduled(at(t0, 60 * order.len() as i64)))
        .expect("every grant");
    assert_eq!(
        out["resumed"],
        json!([{"instance": first, "kind": "scale_down", "outcome": "terminated"}]),
        "{out}"
    );
    assert!(w.node(&first_node).is_none(), "{out}");
    assert_eq!(out["decision"], "scale_down", "{out}");
    let second = out["victims"][0].as_str().unwrap().to_owned();
    assert_eq!(out["terminated"], json!([second]), "{out}");
    assert_eq!(w.state(&second).await, "terminated");
    let second_node = nodes[&second].clone();
    assert!(w.node(&second_node).is_none(), "{out}");
    let last = nodes
        .keys()
        .find(|id| **id != first && **id != second)
        .unwrap();
    assert_eq!(w.live_workers().await, std::slice::from_ref(last));
    assert!(
        !w.items()
            .await
            .iter()
            .any(|(k, _)| k.starts_with("action#")),
        "no action left recorded"
    );
    eventually("web pods all on the last worker", SETTLE, async || {
        let pods = w.pods_by_node("web");
        (pods.len() == 3 && pods.iter().all(|(_, n)| *n == nodes[last])).then_some(())
    })
    .await;
}
