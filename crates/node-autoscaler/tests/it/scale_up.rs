//! Scale-up end to end: pods the scheduler could not place for PENDING_UP_SEC, sized by
//! first-fit-decreasing of their requests from the API server; instances launched in moto with
//! the worker tags, Spot, across the least populated subnets; joined nodes counted; an
//! instance whose node never becomes Ready is terminated after JOIN_TIMEOUT_SEC and its Node
//! deleted; DRY_RUN changes nothing;
//! two concurrent invocations → one acts.
use std::collections::BTreeSet;
use std::time::Duration;

use testbed::harness::eventually;
use testbed::world::k3s::{
    FUNCTION, JOIN_TOKEN, K3s, MASTER_TAG, SETTLE, WORKER_TAG, steady_metrics,
};
use testbed::world::leaks::{self, Secret};
use testbed::world::{at, scheduled, t0};

use crate::support::{DUE_AT_T0, Scenarios, hold_lease_writes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_pods_launch_spot_workers_across_zones_and_unjoined_ones_are_terminated() {
    // 50% CPU, 5 pods pending for the whole window.
    let w = K3s::start(&steady_metrics(0.5, 5)).await;
    let first = w.worker(0, "worker-a").await;
    // 6 × 1.5 CPU on one 2-CPU worker: 1 runs, 5 pend, 7.5 CPU → ⌈7.5 / 2⌉ = 4 workers,
    // 3 at most per run (SCALE_UP_BATCH).
    w.deployment("web", 6, "1500m", 0);
    assert_eq!(
        w.pods_by_node("web")
            .iter()
            .filter(|p| p.1.is_empty())
            .count(),
        5
    );
    let t0 = t0();

    // DRY_RUN decides and logs; nothing is launched or written.
    {
        let mut dry = w.spawn(FUNCTION, &[("DRY_RUN", "true"), DUE_AT_T0]);
        let out = w.invoke(FUNCTION, &scheduled(t0)).expect("dry run");
        assert_eq!(
            (
                out["decision"].as_str(),
                out["to"].as_u64(),
                out["dryRun"].as_bool()
            ),
            (Some("scale_up"), Some(4), Some(true)),
            "{out}"
        );
        dry.wait_for_json(Duration::from_secs(10), |v| {
            v["fields"]["decision"] == "scale_up"
        })
        .expect("a decision line");
        assert_eq!(w.live_workers().await, std::slice::from_ref(&first));
        assert!(w.items().await.is_empty(), "nothing written");
        dry.kill();
    }

    // Two invocations at once, held at the gateway on the lease write until both have made
    // it: one takes the lease and launches, the other finds it taken. Three launches in all.
    // (The moto gateway serialises DynamoDB requests, so conditional writes are atomic as
    // in DynamoDB.)
    // (These two embed the join token in the user data: JOIN_TOKEN_MODE=embed; they log at
    // TRACE, and neither token may reach their output.)
    let spawn = || {
        w.spawn(
            FUNCTION,
            &[
                ("JOIN_TOKEN_MODE", "embed"),
                ("RUST_LOG", "trace"),
                // No retry of a lease write held at the barrier.
                ("AWS_ATTEMPT_TIMEOUT_SECONDS", "90"),
                DUE_AT_T0,
            ],
        )
    };
    let (mut a, mut b) = (spawn(), spawn());
    hold_lease_writes(&w, 2);
    let outs: Vec<serde_json::Value> = tokio::task::block_in_place(|| {
        w.invoke_concurrently(FUNCTION, &[scheduled(t0), scheduled(t0)])
    })
    .into_iter()
    .map(|r| {
        r.unwrap_or_else(|e| {
            let tails = [&a, &b].map(|p| p.output_tail());
            panic!("concurrent run: {e}; the processes' last lines: {tails:#?}")
        })
    })
    .collect();
    let barrier = w.moto.barrier_report().expect("the barrier's report");
    w.moto.set_barrier("", &[], 0).expect("barrier disarmed");
    assert!(barrier.filled && !barrier.timed_out, "{barrier:?}");
    let mut decisions: Vec<&str> = outs.iter().filter_map(|o| o["decision"].as_str()).collect();
    decisions.sort();
    assert_eq!(decisions, ["locked", "scale_up"], "{outs:?}");
    let out = outs.iter().find(|o| o["decision"] == "scale_up").unwrap();
    assert_eq!(
        (out["from"].as_u64(), out["to"].as_u64()),
        (Some(1), Some(4)),
        "{out}"
    );
    let launched: Vec<String> = serde_json::from_value(out["launched"].clone()).unwrap();
    assert_eq!(launched.len(), 3, "{out}");
    // The token is in the user data (embed), and in no line either process wrote.
    let data = w
        .ec2
        .describe_instance_attribute()
        .instance_id(&launched[0])
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .expect("user data");
    let data = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            data.user_data().and_then(|d| d.value()).unwrap_or_default(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        data.contains(&format!("K3S_TOKEN='{}'", JOIN_TOKEN)),
        "{data}"
    );
    let tokens = [
        Secret::new("the k3s join token", JOIN_TOKEN),
        Secret::new("the API token", &w.api_token),
    ];
    let outputs: Vec<(String, String)> = [&a, &b]
        .iter()
        .map(|p| (p.name().to_owned(), p.output()))
        .collect();
    let leaks = leaks::search(&outputs, &tokens);
    assert!(leaks.lines > 100, "at TRACE: {leaks:?}");
    assert!(leaks.found.is_empty(), "{:?}", leaks.found);
    b.kill();

    // In moto: the worker tag, Spot, the first instance type, one per zone — the two
    // empty zones first, then the first worker's zone.
    let mut zones = BTreeSet::new();
    for id in &launched {
        let i = w.describe(id).await;
        assert_eq!(i["tags"][WORKER_TAG.0], WORKER_TAG.1, "{i}");
        assert_eq!(i["tags"]["node-autoscaler/market"], "spot", "{i}");
        assert!(i["tags"]["node-autoscaler/launched-by"].is_string(), "{i}");
        assert_eq!(i["spot"], "spot", "{i}");
        assert_eq!(i["type"], "m5.large", "{i}");
        assert!(i["tags"].get(MASTER_TAG.0).is_none());
        zones.insert(i["subnet"].as_str().unwrap().to_owned());
    }
    let all: BTreeSet<String> = w.subnets.iter().map(|s| s.0.clone()).collect();
    assert_eq!(zones, all, "one launch per subnet");
    assert_eq!(w.live_workers().await.len(), 4);
    let state = w.items().await;
    let s = state
        .iter()
        .find(|(k, _)| k == "state")
        .expect("state item");
    assert_eq!(s.1["last_up"].as_i64(), Some(t0.as_second()));
    let lease = state
        .iter()
        .find(|(k, _)| k == "lease#periodic")
        .expect("lease item");
    assert!(lease.1["fence"].as_i64().unwrap() >= 1);
    let log = w.log_items().await;
    assert!(
        log.iter().any(|i| i["decision"]
            .as_str()
            .is_some_and(|d| d.contains("scale_up"))
            && i.get("expires_at").is_some()),
        "decision logged with its TTL attribute: {log:?}"
    );

    // Two of the three join (as their kubelets would); the pending pods land on them.
    w.join(&launched[0], "worker-new-0").await;
    w.join(&launched[1], "worker-new-1").await;
    eventually("pods scheduled on the new nodes", SETTLE, async || {
        (w.pods_by_node("web")
            .iter()
            .filter(|p| p.1.is_empty())
            .count()
            == 3)
            .then_some(())
    })
    .await;

    // Within the up cooldown (COOLDOWN_UP_SEC, 60 s): the joined and joining workers count;
    // nothing more launched.
    let out = w.invoke(FUNCTION, &scheduled(at(t0, 30))).expect("run 3");
    assert_eq!(out["decision"], "hold", "{out}");
    assert_eq!(out["workers"].as_u64(), Some(4), "{out}");
    assert_eq!(w.live_workers().await.len(), 4);

    // The third registers a Node whose kubelet never becomes Ready.
    w.join_with(&launched[2], "worker-new-2", false).await;

    // JOIN_TIMEOUT_SEC (300 s) after launch, the instance that never became a Ready node is
    // terminated and its Node removed. (Three web pods are still unschedulable, so the run
    // scales up again: the up cooldown is over.)
    let out = w.invoke(FUNCTION, &scheduled(at(t0, 400))).expect("run 4");
    assert_eq!(
        out["unjoinedTerminated"],
        serde_json::json!([launched[2]]),
        "{out}"
    );
    assert_eq!(w.state(&launched[2]).await, "terminated");
    assert!(w.node("worker-new-2").is_none(), "its Node is deleted");
    assert!(w.node("worker-new-0").is_some());
    assert_eq!(w.state(&launched[0]).await, "running");
    assert_eq!(w.state(&w.master).await, "running");
    a.kill();
}
