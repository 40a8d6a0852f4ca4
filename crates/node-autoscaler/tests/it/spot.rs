//! Spot end to end: an interruption warning for one of our workers cordons it at once,
//! launches a replacement while draining, terminates it and deletes its Node — even while a
//! periodic run holds its lease; warnings for instances that are not ours (no worker tag, or
//! the control plane) change nothing; a rebalance recommendation (REBALANCE_MODE=replace)
//! whose drain a PodDisruptionBudget blocks aborts cleanly (uncordoned, kept); with
//! REBALANCE_MODE=cordon it only cordons. Malformed events are refused naming the field.
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use testbed::harness::eventually;
use testbed::world::k3s::{
    FUNCTION, K3s, MASTER_TAG, SETTLE, STATE_TABLE, WORKER_TAG, steady_metrics,
};
use testbed::world::{at, t0};

use crate::support::{Scenarios, rebalance, spot_warning};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interruption_of_our_worker_drains_replaces_and_terminates_foreign_ones_are_ignored() {
    let w = K3s::start(&steady_metrics(0.5, 0)).await;
    let a = w.worker(0, "worker-a").await;
    w.deployment("web", 2, "500m", 0);
    let b = w.worker(1, "worker-b").await;
    let foreign = w.instance(1, &[("team", "other")]).await;
    let _function = w.spawn(FUNCTION, &[]);
    let t0 = t0();

    // A periodic run holds its lease: the Spot handler has its own.
    w.ddb
        .put_item()
        .table_name(STATE_TABLE)
        .item("pk", AttributeValue::S("lease#periodic".into()))
        .item("owner", AttributeValue::S("a-periodic-run".into()))
        .item(
            "expires_at",
            AttributeValue::N((t0.as_second() + 900).to_string()),
        )
        .item("fence", AttributeValue::N("7".into()))
        .send()
        .await
        .unwrap();

    for (id, why) in [(&foreign, "not_ours"), (&w.master, "control_plane")] {
        let out = w
            .invoke(FUNCTION, &spot_warning(t0, id))
            .expect("foreign warning");
        assert_eq!(
            (out["decision"].as_str(), out["why"].as_str()),
            (Some("ignored"), Some(why)),
            "{out}"
        );
        assert_eq!(w.state(id).await, "running");
    }
    let out = w
        .invoke(FUNCTION, &spot_warning(t0, "i-0123456789abcdef0"))
        .expect("unknown instance");
    assert_eq!(out["why"], "not_ours", "{out}");
    assert_eq!(w.live_workers().await.len(), 2);

    // Malformed: refused, naming the field; nothing changes.
    let mut bad = spot_warning(t0, &a);
    bad["detail"] = json!({"instance-action": "terminate"});
    let err = w.invoke(FUNCTION, &bad).unwrap_err();
    assert!(err.contains("detail.instance-id"), "{err}");

    let out = w
        .invoke(FUNCTION, &spot_warning(t0, &a))
        .expect("our worker");
    assert_eq!(out["decision"], "cordon_drain_replace", "{out}");
    assert_eq!(out["outcome"], "terminated", "{out}");
    let replacement: Vec<String> = serde_json::from_value(out["replacement"].clone()).unwrap();
    assert_eq!(replacement.len(), 1, "{out}");
    assert_eq!(w.state(&a).await, "terminated");
    assert!(w.node("worker-a").is_none());
    let r = w.describe(&replacement[0]).await;
    assert_eq!(r["tags"][WORKER_TAG.0], WORKER_TAG.1, "{r}");
    eventually("web pods moved to worker-b", SETTLE, async || {
        (w.pods_by_node("web").iter().all(|(_, n)| n == "worker-b")).then_some(())
    })
    .await;
    let actions = w.actions().await;
    assert!(actions.is_empty(), "{actions:?}");
    let items = w.items().await;
    let periodic = &items.iter().find(|(k, _)| k == "lease#periodic").unwrap().1;
    assert_eq!(periodic["owner"], "a-periodic-run", "untouched");
    assert_eq!(w.state(&b).await, "running");
    assert_eq!(w.state(&w.master).await, "running");
    assert_eq!(w.state(&foreign).await, "running");
    let _ = MASTER_TAG;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_blocked_by_a_pdb_aborts_cleanly_and_cordon_mode_only_cordons() {
    let w = K3s::start(&steady_metrics(0.5, 0)).await;
    let c = w.worker(0, "worker-c").await;
    // A missing or bad variable stops the function at init, naming each one.
    {
        let mut broken = w.spawn(FUNCTION, &[("STATE_TABLE", ""), ("MIN_WORKERS", "some")]);
        // The process exits at once: its last output is in the error.
        let text = match broken.wait_for_line(Duration::from_secs(20), |l| {
            l.contains("STATE_TABLE").then(|| l.to_owned())
        }) {
            Ok(line) => line,
            Err(e) => e.to_string(),
        };
        assert!(
            text.contains("STATE_TABLE is missing")
                && text.contains(r#"MIN_WORKERS=\"some\" is invalid"#),
            "{text}"
        );
        broken.kill();
    }
    w.deployment("critical", 1, "200m", 0);
    w.pdb("critical", "critical", 1);
    let _b = w.worker(1, "worker-b").await;
    let t0 = t0();

    {
        let _function = w.spawn(
            FUNCTION,
            &[("DRAIN_TIMEOUT_SEC", "5"), ("REBALANCE_MODE", "replace")],
        );
        let out = w.invoke(FUNCTION, &rebalance(t0, &c)).expect("rebalance");
        assert_eq!(out["decision"], "replace_then_drain", "{out}");
        let outcome = out["outcome"].as_str().unwrap();
        assert!(
            outcome.starts_with("aborted:") && outcome.contains("critical"),
            "{out}"
        );
        assert_eq!(
            out["replacement"].as_array().map(Vec::len),
            Some(1),
            "{out}"
        );
        assert_eq!(w.state(&c).await, "running", "kept");
        assert!(!w.cordoned("worker-c"), "uncordoned");
        assert_eq!(w.pods_by_node("critical")[0].1, "worker-c");
        let actions = w.actions().await;
        assert!(actions.is_empty(), "{actions:?}");
    }
    {
        let _function = w.spawn(FUNCTION, &[("REBALANCE_MODE", "cordon")]);
        let out = w
            .invoke(FUNCTION, &rebalance(at(t0, 60), &c))
            .expect("rebalance");
        assert_eq!(out["decision"], "cordon", "{out}");
        assert!(w.cordoned("worker-c"));
        assert_eq!(w.state(&c).await, "running");
    }
}
