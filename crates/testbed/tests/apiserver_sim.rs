//! The cluster simulation and evictions through kube-rs: deployments keep their pods,
//! scheduling respects capacity and cordons, nodes come and go, PDBs guard evictions.
mod apiserver_support;

use std::time::Duration;

use apiserver_support::{api_err, client_no_retry, deployment, eventually, pdb, start};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use testbed::apiserver::{NodeSpec, Testbed};

const WAIT: Duration = Duration::from_secs(10);

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn node_of(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

fn live(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
}

/// Pods of app `app` that are not terminating, once there are exactly `n` of them and
/// every one is Running and Ready.
async fn running(tb: &Testbed, app: &str, n: usize) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(tb.kube_client_admin(), "default");
    eventually(&format!("{n} ready pods of {app}"), WAIT, || {
        let pods = pods.clone();
        async move {
            let l = pods
                .list(&ListParams::default().labels(&format!("app={app}")))
                .await
                .ok()?;
            let live: Vec<Pod> = l.items.into_iter().filter(live).collect();
            (live.len() == n && live.iter().all(ready)).then_some(live)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_scales_pods_with_owners_and_status() {
    let tb = start(&["n1", "n2"]).await;
    let deps: Api<Deployment> = Api::namespaced(tb.kube_client_admin(), "default");
    deps.create(&PostParams::default(), &deployment("web", 3, "100m"))
        .await
        .unwrap();
    let pods = running(&tb, "web", 3).await;
    for p in &pods {
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("ReplicaSet", Some(true))
        );
        assert!(owner.name.starts_with("web-"));
        assert!(!node_of(p).is_empty());
    }
    let d = deps.get("web").await.unwrap();
    let st = d.status.unwrap();
    assert_eq!(
        (
            st.replicas,
            st.ready_replicas,
            st.available_replicas,
            st.observed_generation
        ),
        (Some(3), Some(3), Some(3), Some(1))
    );

    deps.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    running(&tb, "web", 5).await;

    // Scaling down: the extra pods terminate over their grace period (sim clock).
    deps.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    running(&tb, "web", 1).await;
    let all: Api<Pod> = Api::namespaced(tb.kube_client_admin(), "default");
    let terminating = all
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| !live(p))
        .count();
    assert_eq!(terminating, 4, "grace period not over yet");
    tb.advance(Duration::from_secs(31));
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );

    // Deleting the deployment garbage-collects its ReplicaSet and pods.
    deps.delete("web", &DeleteParams::default()).await.unwrap();
    tb.advance(Duration::from_secs(31));
    assert!(tb.list("replicasets.apps", Some("default")).is_empty());
    assert!(tb.list("pods", Some("default")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_stay_pending_without_room_until_a_node_joins() {
    let tb = start(&[]).await;
    tb.register_node(NodeSpec::new("small").capacity("1", "1Gi"))
        .unwrap();
    let deps: Api<Deployment> = Api::namespaced(tb.kube_client_admin(), "default");
    deps.create(&PostParams::default(), &deployment("web", 3, "400m"))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(tb.kube_client_admin(), "default");
    let pending = eventually("one unschedulable pod", WAIT, || {
        let pods = pods.clone();
        async move {
            let l = pods
                .list(&ListParams::default().fields("status.phase=Pending"))
                .await
                .ok()?;
            (l.items.len() == 1).then(|| l.items[0].clone())
        }
    })
    .await;
    let cond = pending
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .unwrap();
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_deref()),
        ("False", Some("Unschedulable"))
    );
    assert!(
        cond.message
            .unwrap()
            .starts_with("0/1 nodes are available: 1 Insufficient cpu.")
    );
    assert_eq!(
        pods.list(&ListParams::default().fields("spec.nodeName=small"))
            .await
            .unwrap()
            .items
            .len(),
        2
    );

    tb.register_node(NodeSpec::new("big").capacity("4", "8Gi").instance("i-0big"))
        .unwrap();
    let on_big = running(&tb, "web", 3)
        .await
        .into_iter()
        .filter(|p| node_of(p) == "big")
        .count();
    assert_eq!(on_big, 1);
    let node: Api<Node> = Api::all(tb.kube_client_admin());
    assert_eq!(
        node.get("big")
            .await
            .unwrap()
            .spec
            .unwrap()
            .provider_id
            .as_deref(),
        Some("aws:///us-east-1a/i-0big")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordoned_node_takes_no_new_pods_and_removed_node_loses_its_pods() {
    let tb = start(&["a", "b"]).await;
    let nodes: Api<Node> = Api::all(tb.kube_client_admin());
    let deps: Api<Deployment> = Api::namespaced(tb.kube_client_admin(), "default");
    deps.create(&PostParams::default(), &deployment("web", 2, "100m"))
        .await
        .unwrap();
    let before = running(&tb, "web", 2).await;
    assert_eq!(
        before.iter().filter(|p| node_of(p) == "b").count(),
        1,
        "spread over both nodes"
    );

    nodes
        .patch(
            "b",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    deps.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 6}})),
    )
    .await
    .unwrap();
    let after = running(&tb, "web", 6).await;
    assert_eq!(
        after.iter().filter(|p| node_of(p) == "b").count(),
        1,
        "no new pod on the cordoned node"
    );

    // The node goes away (instance terminated): its pod is replaced on "a".
    tb.remove_node("b").unwrap();
    let after = running(&tb, "web", 6).await;
    assert!(after.iter().all(|p| node_of(p) == "a"));
    assert_eq!(api_err(nodes.get("b").await).0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_runs_one_pod_per_node() {
    let tb = start(&["a", "b"]).await;
    let ds: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a", "image": "agent:1"}]}}}})).unwrap();
    let api: Api<DaemonSet> = Api::namespaced(tb.kube_client_admin(), "default");
    api.create(&PostParams::default(), &ds).await.unwrap();
    running(&tb, "agent", 2).await;
    tb.register_node(NodeSpec::new("c")).unwrap();
    let pods = running(&tb, "agent", 3).await;
    let mut on: Vec<String> = pods.iter().map(node_of).collect();
    on.sort();
    assert_eq!(on, ["a", "b", "c"]);
    assert_eq!(
        api.get("agent").await.unwrap().status.unwrap().number_ready,
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_respects_disruption_budgets() {
    let tb = start(&["a", "b"]).await;
    let client = client_no_retry(&tb);
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    deps.create(&PostParams::default(), &deployment("web", 3, "100m"))
        .await
        .unwrap();
    let running_pods = running(&tb, "web", 3).await;
    let victim = running_pods[0].metadata.name.clone().unwrap();

    // minAvailable 3 of 3: no disruption allowed → 429 with the real message.
    pdbs.create(
        &PostParams::default(),
        &pdb("web", "web", json!({"minAvailable": 3})),
    )
    .await
    .unwrap();
    let st = pdbs.get("web").await.unwrap().status.unwrap();
    assert_eq!(
        (
            st.current_healthy,
            st.desired_healthy,
            st.disruptions_allowed,
            st.expected_pods
        ),
        (3, 3, 0, 3)
    );
    let (code, reason, msg) = api_err(pods.evict(&victim, &EvictParams::default()).await);
    assert_eq!(
        (code, reason.as_str(), msg.as_str()),
        (
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget."
        )
    );

    // maxUnavailable "34%" of 3 rounds up to 2: evictions are allowed.
    pdbs.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": null, "maxUnavailable": "34%"}})),
    )
    .await
    .unwrap();
    let st = pdbs.get("web").await.unwrap().status.unwrap();
    assert_eq!((st.desired_healthy, st.disruptions_allowed), (1, 2));
    pods.evict(&victim, &EvictParams::default()).await.unwrap();
    let evicted = pods.get(&victim).await.unwrap();
    assert!(evicted.metadata.deletion_timestamp.is_some(), "terminating");
    running(&tb, "web", 3).await; // replaced by the ReplicaSet
    tb.advance(Duration::from_secs(31));
    assert_eq!(
        api_err(pods.get(&victim).await).0,
        404,
        "gone after the grace period"
    );

    // Two budgets selecting the pod: 500.
    pdbs.create(
        &PostParams::default(),
        &pdb("web2", "web", json!({"minAvailable": "50%"})),
    )
    .await
    .unwrap();
    let other = running(&tb, "web", 3).await[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let (code, _, msg) = api_err(pods.evict(&other, &EvictParams::default()).await);
    assert_eq!(
        (code, msg.as_str()),
        (
            500,
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
        )
    );
    assert_eq!(
        api_err(pods.evict("nope", &EvictParams::default()).await).0,
        404
    );
}
