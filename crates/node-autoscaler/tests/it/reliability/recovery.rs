//! Failures the next delivery must finish: a drain whose rollback fails too, a Spot
//! warning whose termination failed.
use std::time::Duration;

use serde_json::{Value, json};
use testbed::harness::{FaultAction, FaultConfig, FaultRule, eventually};
use testbed::world::k3s::{FUNCTION, K3s, steady_metrics};
use testbed::world::{at, scheduled, t0};

use super::{ids, launched_for};
use crate::support::{Scenarios, spot_warning};

/// A scale-down whose drain fails (the evicted pod outlives DRAIN_TIMEOUT_SEC) and whose
/// rollback fails too (the uncordon is refused): the node must not be left cordoned with no
/// action recorded. The run reports the error and keeps the record; the next run, faults
/// gone, finishes the action (or rolls it back): no Node stays cordoned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_whose_rollback_fails_is_reported_and_finished_by_the_next_run() {
    let w = K3s::start(&steady_metrics(0.1, 0)).await;
    // One pod per 1-CPU worker, each taking 10 minutes to terminate once evicted (its
    // kubelet slow to stop it); 400m: under the 50 % threshold, and it fits beside another.
    for (zone, node) in [(0, "worker-a"), (1, "worker-b"), (0, "worker-c")] {
        w.slow_worker(zone, node, "1").await;
    }
    w.deployment("slow", 3, "400m", 600);
    // Each pod running on its own worker before the run (a pod still pending when evicted
    // goes at once, and the drain would succeed).
    w.one_per_node("slow", &["worker-a", "worker-b", "worker-c"]);
    // Unneeded at once; one removal per 10 minutes, so the next run only resumes. The drain
    // gives up after 10 s: time for the fault below to be in place before the rollback's
    // uncordon on a loaded machine.
    let _function = w.spawn(
        FUNCTION,
        &[
            ("DRAIN_TIMEOUT_SEC", "10"),
            ("SCALE_DOWN_UNNEEDED_SEC", "0"),
            ("COOLDOWN_DOWN_SEC", "600"),
        ],
    );
    let t0 = t0();

    // Once the victim is cordoned (the drain waits for its evicted pod), every node patch
    // fails: the uncordon of the rollback is refused.
    let cordoned = async {
        eventually("a worker cordoned", Duration::from_secs(30), async || {
            (["worker-a", "worker-c"].iter().any(|n| w.cordoned(n))).then_some(())
        })
        .await;
        w.cluster.set_faults(FaultConfig {
            seed: 1,
            rules: vec![
                FaultRule::new(FaultAction::Error {
                    code: 500,
                    message: Some("injected: patch refused".into()),
                })
                .verbs(&["patch"])
                .resources(&["nodes"]),
            ],
        });
    };
    let tick = scheduled(t0);
    let (result, ()) = tokio::join!(w.invoke_http(FUNCTION, &tick), cordoned);
    let fired = w.cluster.faults_fired();
    w.cluster.clear_faults();
    let node = ["worker-a", "worker-c"]
        .into_iter()
        .find(|n| w.cordoned(n))
        .expect("the victim is still cordoned");
    let actions: Vec<(String, Value)> = w
        .items()
        .await
        .into_iter()
        .filter(|(k, _)| k.starts_with("action#"))
        .collect();
    println!("drain and rollback failed ({fired:?} faults): {result:?}; actions {actions:?}");
    assert!(fired[0] >= 1, "the uncordon was refused: {fired:?}");
    let err = result.expect_err("the run reports that it left a node cordoned");
    assert!(err.contains(node), "{err}");
    assert_eq!(actions.len(), 1, "the action stays recorded");
    assert_eq!(actions[0].1["node"], node);

    // The evicted pod finishes; the next run resumes the recorded action first: no node is
    // left cordoned, no action recorded.
    w.finish_terminating();
    let out = w
        .invoke_http(FUNCTION, &scheduled(at(t0, 60)))
        .await
        .expect("next run");
    println!("next run: {out}");
    assert_eq!(out["resumed"].as_array().map(Vec::len), Some(1), "{out}");
    assert!(
        !["worker-a", "worker-b", "worker-c"]
            .iter()
            .any(|n| w.cordoned(n)),
        "{out}"
    );
    let actions = w.actions().await;
    assert!(actions.is_empty(), "{actions:?}");
}

/// A Spot warning whose run launched the replacement but failed to terminate the warned
/// instance (EC2 refused, retries too) fails, and is retried: the retry finishes the job
/// without launching a second replacement for the same warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_warning_retried_after_a_failed_termination_launches_one_replacement() {
    let w = K3s::start(&steady_metrics(0.5, 0)).await;
    let a = w.worker(0, "worker-a").await;
    w.worker(1, "worker-b").await;
    let _function = w.spawn(FUNCTION, &[]);
    let warning = spot_warning(t0(), &a);

    w.moto
        .set_faults(&json!({"rules": [{"operation": "TerminateInstances",
            "fault": {"status": 503, "code": "Unavailable", "message": "injected: EC2 unavailable"}}]}))
        .unwrap();
    let first = w.invoke_http(FUNCTION, &warning).await;
    let (fired, _) = w.moto.faults_fired().unwrap();
    w.moto.set_faults(&json!({"rules": []})).unwrap();
    println!("first delivery ({fired:?} TerminateInstances refused): {first:?}");
    let err = first.expect_err("the termination failed: the invocation fails, to be retried");
    assert!(err.contains("TerminateInstances"), "{err}");
    assert_eq!(w.state(&a).await, "running");

    let retry = w.invoke_http(FUNCTION, &warning).await.expect("the retry");
    let replacements = launched_for(&w, &warning).await;
    println!("retry: {retry}; replacements in EC2: {replacements:?}");
    assert_eq!(retry["outcome"], "terminated", "{retry}");
    assert_eq!(w.state(&a).await, "terminated");
    assert_eq!(replacements.len(), 1, "one warning, one replacement");
    assert_eq!(ids(&retry["replacement"]), replacements, "{retry}");
    assert_eq!(w.live_workers().await.len(), 2, "b and the replacement");
}
