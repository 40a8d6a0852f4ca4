//! Each event delivered 100 times acts once: counted in the run summaries, the function's
//! log, and at the gateway (every RunInstances / TerminateInstances that reached EC2).
use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::Instance;
use serde_json::{Value, json};
use testbed::harness::{Supervised, eventually};
use testbed::world::k3s::{FUNCTION, K3s, SETTLE, steady_metrics};
use testbed::world::{scheduled, t0};

use super::{LAUNCHED_BY, all_instances, decision_of, ids, is_worker, live, tag};
use crate::support::{DUE_AT_T0, Scenarios, spot_warning};

const DELIVERIES: usize = 100;

/// The gateway counts the RunInstances and TerminateInstances that reach EC2 (a 1 ms delay
/// "fault" fires on each and lets it through).
fn count_ec2_calls(w: &K3s) {
    w.moto
        .set_faults(&json!({"rules": [
            {"operation": "RunInstances", "fault": {"delay_ms": 1}},
            {"operation": "TerminateInstances", "fault": {"delay_ms": 1}},
        ]}))
        .unwrap();
}

fn ec2_calls(w: &K3s) -> (u64, u64) {
    let (fired, _) = w.moto.faults_fired().unwrap();
    (fired[0], fired[1])
}

/// How many log lines of the function carry each `decision` field (reads what it printed
/// so far, waiting a second for the last lines).
fn logged_decisions(function: &mut Supervised) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let _ = function.wait_for_line(Duration::from_secs(1), |line| {
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && let Some(d) = v["fields"]["decision"].as_str()
        {
            *counts.entry(d.to_owned()).or_default() += 1;
        }
        None::<()>
    });
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_spot_warning_delivered_100_times_drains_replaces_and_terminates_once() {
    let w = K3s::start(&steady_metrics(0.5, 0)).await;
    let a = w.worker(0, "worker-a").await;
    w.deployment("web", 2, "500m", 0);
    let b = w.worker(1, "worker-b").await;
    let mut function = w.spawn(FUNCTION, &[]);
    count_ec2_calls(&w);
    let warning = spot_warning(t0(), &a);

    let mut decisions = BTreeMap::<String, usize>::new();
    let mut replacements = Vec::new();
    let mut outcomes = Vec::new();
    for _ in 0..DELIVERIES {
        let out = w
            .invoke_http(FUNCTION, &warning)
            .await
            .expect("every delivery answers");
        *decisions.entry(decision_of(&out)).or_default() += 1;
        replacements.extend(ids(&out["replacement"]));
        if let Some(o) = out["outcome"].as_str() {
            outcomes.push(o.to_owned());
        }
    }
    let (run_instances, terminate_instances) = ec2_calls(&w);
    let logged = logged_decisions(&mut function);
    let instances = all_instances(&w).await;
    let launched: Vec<&Instance> = instances
        .iter()
        .filter(|i| tag(i, LAUNCHED_BY).is_some())
        .collect();
    println!(
        "spot warning: {DELIVERIES} deliveries → {decisions:?}; outcomes {outcomes:?}; \
         {} replacement(s) reported, {} instance(s) launched in EC2; RunInstances {run_instances}, \
         TerminateInstances {terminate_instances} reached EC2; logged {logged:?}",
        replacements.len(),
        launched.len()
    );

    assert_eq!(
        decisions.get("cordon_drain_replace"),
        Some(&1),
        "{decisions:?}"
    );
    assert_eq!(
        decisions.get("ignored/not_ours"),
        Some(&(DELIVERIES - 1)),
        "the instance is gone: every later delivery is ignored: {decisions:?}"
    );
    assert_eq!(outcomes, ["terminated"]);
    assert_eq!(replacements.len(), 1);
    assert_eq!((run_instances, terminate_instances), (1, 1));
    for d in ["drained", "terminated", "launched"] {
        assert_eq!(logged.get(d), Some(&1), "{d} once in the log: {logged:?}");
    }
    // EC2: the warned instance terminated, the replacement (tagged as ours) running, b and the
    // control plane untouched, nothing else.
    assert_eq!(launched.len(), 1);
    let r = launched[0];
    assert_eq!(r.instance_id(), Some(replacements[0].as_str()));
    assert!(live(r) && is_worker(r), "{r:?}");
    assert_eq!(w.state(&a).await, "terminated");
    assert_eq!(w.state(&b).await, "running");
    assert_eq!(w.state(&w.master).await, "running");
    assert_eq!(instances.len(), 4, "master, a, b, the replacement");
    // Kubernetes: its Node deleted once drained; b schedulable and running the pods; no
    // action left recorded.
    assert!(w.node("worker-a").is_none());
    assert!(!w.cordoned("worker-b"));
    eventually("web pods on worker-b", SETTLE, async || {
        (w.pods_by_node("web").iter().all(|(_, n)| n == "worker-b")).then_some(())
    })
    .await;
    let actions = w.actions().await;
    assert!(actions.is_empty(), "{actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_scheduled_tick_delivered_100_times_scales_up_once() {
    // 50% CPU, 5 pods pending for the whole window (as scale_up.rs): 3 launches.
    let w = K3s::start(&steady_metrics(0.5, 5)).await;
    w.worker(0, "worker-a").await;
    w.deployment("web", 6, "1500m", 0);
    let mut function = w.spawn(FUNCTION, &[DUE_AT_T0]);
    count_ec2_calls(&w);
    let t0 = t0();
    let tick = scheduled(t0);

    let mut decisions = BTreeMap::<String, usize>::new();
    let mut launched = Vec::new();
    for _ in 0..DELIVERIES {
        let out = w
            .invoke_http(FUNCTION, &tick)
            .await
            .expect("every delivery answers");
        *decisions.entry(decision_of(&out)).or_default() += 1;
        launched.extend(ids(&out["launched"]));
        assert_eq!(out["errors"].as_array().map_or(0, Vec::len), 0, "{out}");
    }
    let (run_instances, terminate_instances) = ec2_calls(&w);
    let logged = logged_decisions(&mut function);
    let workers = w.live_workers().await;
    println!(
        "scheduled tick: {DELIVERIES} deliveries → {decisions:?}; {} launched; RunInstances \
         {run_instances}, TerminateInstances {terminate_instances} reached EC2; live workers \
         1 → {}; logged {logged:?}",
        launched.len(),
        workers.len()
    );
    assert_eq!(decisions.get("scale_up"), Some(&1), "{decisions:?}");
    assert_eq!(
        decisions.get("hold/cooldown_up"),
        Some(&(DELIVERIES - 1)),
        "{decisions:?}"
    );
    assert_eq!(launched.len(), 3);
    assert_eq!((run_instances, terminate_instances), (3, 0));
    assert_eq!(logged.get("scale_up"), Some(&1), "{logged:?}");
    assert_eq!(logged.get("launched"), Some(&3), "{logged:?}");
    assert_eq!(workers.len(), 4);
    for id in &launched {
        assert!(workers.contains(id), "{id} running");
    }
    let items = w.items().await;
    let state = &items.iter().find(|(k, _)| k == "state").expect("state").1;
    assert_eq!(state["last_up"].as_i64(), Some(t0.as_second()));
}
