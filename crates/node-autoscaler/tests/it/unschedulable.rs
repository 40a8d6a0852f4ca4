//! Scale-up from the pods the real kube-scheduler could not place (PodScheduled False,
//! Unschedulable), read from the API, never from Prometheus's Pending count: the
//! first-fit-decreasing estimator's count of workers is launched once the pods have waited
//! PENDING_UP_SEC; a pod no worker could host, or a Pending pod bound to a node, launches
//! nothing at any run; Events as Cluster Autoscaler writes them, best effort.
use std::time::Duration;

use testbed::harness::rbac;
use testbed::world::k3s::{FUNCTION, K3s, steady_metrics};
use testbed::world::{at, repo, scheduled, t0};

use crate::support::{DUE_AT_T0, Scenarios};

fn with_reason(events: &[(String, String, String)], reason: &str) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e.0 == reason)
        .map(|e| (e.1.clone(), e.2.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_estimators_count_of_workers_is_launched_once_pods_waited_pending_up_sec() {
    // Prometheus: 50 % CPU and nothing Pending, all along. The demand is the API's alone.
    let w = K3s::start(&steady_metrics(0.5, 0)).await;
    let first = w.worker(0, "worker-a").await;
    // 4 × 1.2 CPU on 2-CPU workers: one runs on worker-a, three are unschedulable. Their
    // requests sum to 3.6 CPU (⌈3.6 / 2⌉ = 2 workers), but no two share a worker:
    // first-fit-decreasing says 3.
    w.deployment("batch", 4, "1200m", 0);
    let pods = w.pods_by_node("batch");
    let unplaced: Vec<&str> = pods
        .iter()
        .filter(|p| p.1.is_empty())
        .map(|p| p.0.as_str())
        .collect();
    assert_eq!(unplaced.len(), 3, "{pods:?}");
    // PENDING_UP_SEC 180 s, the original's delay (the default, 0, acts at once, as Cluster
    // Autoscaler does).
    let _function = w.spawn(FUNCTION, &[("PENDING_UP_SEC", "180")]);
    let t0 = t0();

    // At t0 they have waited about 60 s: not yet.
    let out = w.invoke(FUNCTION, &scheduled(t0)).expect("run 1");
    assert_eq!(
        (
            out["decision"].as_str(),
            out["why"].as_str(),
            out["pending"].as_u64()
        ),
        (Some("hold"), Some("steady"), Some(3)),
        "{out}"
    );
    assert_eq!(w.live_workers().await, std::slice::from_ref(&first));

    // 180 s on they have waited PENDING_UP_SEC: exactly the estimator's three.
    let out = w.invoke(FUNCTION, &scheduled(at(t0, 180))).expect("run 2");
    assert_eq!(
        (
            out["decision"].as_str(),
            out["from"].as_u64(),
            out["to"].as_u64()
        ),
        (Some("scale_up"), Some(1), Some(4)),
        "{out}"
    );
    let reason = out["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("3 pods unschedulable") && reason.contains("3 new workers"),
        "{out}"
    );
    let launched: Vec<String> = serde_json::from_value(out["launched"].clone()).unwrap();
    assert_eq!(launched.len(), 3, "{out}");
    assert_eq!(w.live_workers().await.len(), 4);

    // TriggeredScaleUp on each pod the launch is for, none on the one running.
    for (pod, node) in &pods {
        let triggered = with_reason(&w.pod_events(pod), "TriggeredScaleUp");
        if node.is_empty() {
            assert_eq!(
                triggered,
                [(
                    "Normal".to_owned(),
                    "pod triggered scale-up: workers 1->4 (max: 5)".to_owned()
                )],
                "{pod}"
            );
        } else {
            assert!(triggered.is_empty(), "{pod}: {triggered:?}");
        }
        assert!(with_reason(&w.pod_events(pod), "NotTriggerScaleUp").is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_no_worker_could_host_and_bound_pending_pods_launch_nothing_at_any_run() {
    // Prometheus: 5 Pending all along, as the former default query
    // (`kube_pod_status_phase{phase="Pending"}`) counts the pods below.
    let w = K3s::start(&steady_metrics(0.5, 5)).await;
    let first = w.worker(0, "worker-a").await;
    // Bound to a worker whose kubelet has not started it yet (pulling its image): Pending,
    // with its node.
    let slow = w.slow_worker(1, "worker-slow", "2").await;
    w.pod("bound", "100m", "  nodeName: worker-slow");
    // More CPU than a worker has; a node selector no worker's labels meet.
    w.pod("huge", "3", "");
    w.pod("gpu", "100m", "  nodeSelector: {pool: gpu}");
    let bound = w
        .cluster
        .get("pods", "default", "bound")
        .expect("bound pod");
    assert_eq!(
        (
            bound["status"]["phase"].as_str(),
            bound["spec"]["nodeName"].as_str()
        ),
        (Some("Pending"), Some("worker-slow"))
    );
    // No worker's unneeded time runs out within the four runs: only scale-up is under test.
    let mut function = w.spawn(FUNCTION, &[DUE_AT_T0, ("SCALE_DOWN_UNNEEDED_SEC", "3600")]);
    let t0 = t0();
    let mut workers = vec![first, slow];
    workers.sort();

    // Four runs, each past COOLDOWN_UP_SEC: not one launch, at every run.
    for k in 0..4 {
        let out = w
            .invoke(FUNCTION, &scheduled(at(t0, 200 * k)))
            .unwrap_or_else(|e| panic!("run {k}: {e}"));
        assert_eq!(
            (
                out["decision"].as_str(),
                out["why"].as_str(),
                out["pending"].as_u64()
            ),
            (Some("hold"), Some("unneeded"), Some(2)),
            "run {k}: the two unschedulable pods, not the bound one: {out}"
        );
        assert_eq!(w.live_workers().await, workers, "run {k}");
    }

    // One NotTriggerScaleUp each (recorded once while it lives), saying why.
    for (pod, why) in [
        ("huge", "Insufficient cpu: requests 3000m"),
        ("gpu", "node selector pool=gpu does not match"),
    ] {
        let events = with_reason(&w.pod_events(pod), "NotTriggerScaleUp");
        assert_eq!(events.len(), 1, "{pod}: {events:?}");
        assert_eq!(events[0].0, "Warning", "{pod}");
        assert!(
            events[0].1.starts_with("pod didn't trigger scale-up: ") && events[0].1.contains(why),
            "{pod}: {events:?}"
        );
    }
    let on_bound = w.pod_events("bound");
    assert!(
        with_reason(&on_bound, "NotTriggerScaleUp").is_empty()
            && with_reason(&on_bound, "TriggeredScaleUp").is_empty(),
        "{on_bound:?}"
    );

    // The shipped role less `create events`: the run decides the same, and the Event it
    // could not record is logged with the denial. The grant is needed for the Events alone.
    let grants =
        rbac::grants(&rbac::rules_of(repo("infra/k8s/rbac/node-autoscaler.yaml")).unwrap());
    let events = grants
        .iter()
        .position(|g| g.is("create", "events"))
        .expect("the role grants create events");
    rbac::set_rules(&w.admin, "node-autoscaler", rbac::all_but(&grants, events))
        .await
        .unwrap();
    crate::rbac::in_effect(&w, &grants, Some(events)).await;
    w.pod("gpu-2", "100m", "  nodeSelector: {pool: gpu}");
    let out = w
        .invoke(FUNCTION, &scheduled(at(t0, 800)))
        .expect("run without create events");
    assert_eq!(
        (out["decision"].as_str(), out["pending"].as_u64()),
        (Some("hold"), Some(3)),
        "{out}"
    );
    assert_eq!(w.live_workers().await, workers);
    let grant = &grants[events];
    function
        .wait_for_json(Duration::from_secs(10), |v| {
            v["fields"]["message"] == "event not recorded"
                && v["fields"]["kind"] == "Pod"
                && v["fields"]["object"] == "default/gpu-2"
                && v["fields"]["error"]
                    .as_str()
                    .is_some_and(|e| grant.denied_in(e))
        })
        .expect("the denial logged");
    assert!(with_reason(&w.pod_events("gpu-2"), "NotTriggerScaleUp").is_empty());
}
