//! Capacity errors on launch, injected by the moto gateway's fault rules in EC2's own form
//! (HTTP 500, `<Response><Errors><Error><Code>InsufficientInstanceCapacity</Code>…`), since
//! moto always has capacity: Spot falls back to the next instance type, then to On-Demand,
//! and a launch nothing can serve is an error naming what was tried, with nothing launched.
use serde_json::json;
use testbed::world::k3s::{FUNCTION, K3s, steady_metrics};
use testbed::world::{at, scheduled, t0};

use crate::support::DUE_AT_T0;

fn no_capacity(contains: &[&str]) -> serde_json::Value {
    json!({"operation": "RunInstances", "contains": contains,
           "fault": {"status": 500, "code": "InsufficientInstanceCapacity",
                     "message": "We currently do not have sufficient capacity in the Availability Zone you requested."}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spot_falls_back_by_type_then_to_on_demand_and_no_capacity_is_an_error() {
    let w = K3s::start(&steady_metrics(0.5, 5)).await;
    w.worker(0, "worker-a").await;
    // 5 pods × 1.5 CPU pending → 3 launches (SCALE_UP_BATCH), as in scale_up.rs.
    w.deployment("web", 6, "1500m", 0);
    let _function = w.spawn(FUNCTION, &[DUE_AT_T0]);
    let t0 = t0();

    // No Spot m5.large anywhere: Spot m5a.large, the next configured type.
    w.moto
        .set_faults(&json!({"rules": [no_capacity(&[
            "InstanceMarketOptions.MarketType=spot",
            "InstanceType=m5.large"
        ])]}))
        .unwrap();
    let out = w.invoke(FUNCTION, &scheduled(t0)).expect("run 1");
    let launched: Vec<String> = serde_json::from_value(out["launched"].clone()).unwrap();
    assert_eq!(launched.len(), 3, "{out}");
    for id in &launched {
        let i = w.describe(id).await;
        assert_eq!(
            (i["type"].as_str(), i["spot"].as_str()),
            (Some("m5a.large"), Some("spot")),
            "{i}"
        );
        assert_eq!(i["tags"]["node-autoscaler/market"], "spot", "{i}");
    }
    let (fired, _) = w.moto.faults_fired().unwrap();
    assert!(fired[0] >= 3, "one refusal per launch at least: {fired:?}");

    // No Spot at all: On-Demand in the first type, tagged as such. (At t0 + 1000 s the
    // three above never joined: they are terminated, and pending pods still ask for more.)
    w.moto
        .set_faults(&json!({"rules": [no_capacity(&["InstanceMarketOptions.MarketType=spot"])]}))
        .unwrap();
    let out = w.invoke(FUNCTION, &scheduled(at(t0, 1000))).expect("run 2");
    assert_eq!(
        out["unjoinedTerminated"].as_array().map(Vec::len),
        Some(3),
        "never joined: {out}"
    );
    let launched: Vec<String> = serde_json::from_value(out["launched"].clone()).unwrap();
    assert!(!launched.is_empty(), "{out}");
    for id in &launched {
        let i = w.describe(id).await;
        assert_eq!(i["type"], "m5.large", "{i}");
        assert_ne!(i["spot"], "spot", "{i}");
        assert_eq!(i["tags"]["node-autoscaler/market"], "on-demand", "{i}");
    }

    // No capacity in any market or type: the run fails naming every attempt, and no
    // instance is launched.
    w.moto
        .set_faults(&json!({"rules": [no_capacity(&[])]}))
        .unwrap();
    let before = w.live_workers().await;
    let err = w
        .invoke(FUNCTION, &scheduled(at(t0, 2000)))
        .expect_err("nothing can launch");
    assert!(err.contains("scale up launched nothing"), "{err}");
    for tried in [
        "m5.large spot",
        "m5a.large spot",
        "m5.large on-demand",
        "m5a.large on-demand",
    ] {
        assert!(err.contains(tried), "{tried} missing from: {err}");
    }
    let after = w.live_workers().await;
    assert!(
        after.iter().all(|id| before.contains(id)),
        "nothing new: {before:?} → {after:?}"
    );
}
