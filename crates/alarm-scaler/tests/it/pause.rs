//! Pausing a K8sMetricAlarm with the suite's annotations (`autoscaling.k8s-lambda.dev/paused`,
//! `…/paused-replicas`, KEDA's meaning): a paused resource consumes its notifications (the
//! invocation succeeds, so neither SNS nor Lambda retries it) and writes nothing; paused at N
//! it sets N once and holds there; a bad value is its one clear error; removing the
//! annotations resumes stepping. `status.scaleConditions` says so throughout.
use serde_json::{Value, json};
use testbed::world::World;

use crate::kinds::put_alarm;
use crate::support::{self, Objects, alarm_resource, condition, notify, step_of, written};

const NS: &str = "shop";
const PAUSED: &str = "autoscaling.k8s-lambda.dev/paused";
const PAUSED_REPLICAS: &str = "autoscaling.k8s-lambda.dev/paused-replicas";

/// (status, reason) of the resource's condition `type_`.
async fn state(w: &World, type_: &str) -> (String, String) {
    let status = w.status(NS, "cart").await;
    let c = condition(&status, type_).unwrap_or_else(|| panic!("no {type_} in {status:?}"));
    (c.status.clone(), c.reason.clone())
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.into(), b.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_resource_consumes_notifications_holds_or_sets_its_replicas_then_resumes() {
    let w = support::scaler_world().await;
    w.create_deployment(NS, "cart", 4).await;
    w.cluster
        .load_yaml(&alarm_resource(NS, "cart", "deployment: cart", ""))
        .expect("resource");
    let up = put_alarm(&w, "us-east-1", "cart-high", "GreaterThanThreshold", &[]).await;
    let mut scaler = w.spawn("alarm-scaler", &[]);
    let annotate = |value: Value| {
        let w = &w;
        async move {
            let patch = json!({"metadata": {"annotations": value}});
            w.patch_resource(NS, "cart", patch).await;
        }
    };

    // Paused: consumed, logged as paused, nothing written; the condition says so.
    annotate(json!({ PAUSED: "true" })).await;
    let before = written(&w, NS, "cart").await;
    let o = notify(&w, &up, "msg-paused");
    assert_eq!(o["decision"], "paused", "{o}");
    assert_eq!(o["reason"], format!("paused by annotation {PAUSED}"), "{o}");
    let line = scaler
        .wait_for_json(std::time::Duration::from_secs(10), |v| {
            v["fields"]["decision"] == "paused"
        })
        .expect("the decision line");
    assert_eq!(line["fields"]["message_id"], "msg-paused", "{line}");
    assert_eq!(w.replicas(NS, "cart").await, 4);
    assert_eq!(written(&w, NS, "cart").await, before);
    assert!(w.events(NS, "cart").await.is_empty());
    assert_eq!(w.status(NS, "cart").await.last_scale_up, None);
    assert_eq!(state(&w, "Paused").await, pair("True", "ScalingPaused"));

    // paused-replicas (wins over paused, as in KEDA): set once…
    annotate(json!({ PAUSED_REPLICAS: "7" })).await;
    let o = notify(&w, &up, "msg-at-7");
    assert_eq!(step_of(&o), (Some("paused"), Some(4), Some(7)), "{o}");
    assert_eq!(w.replicas(NS, "cart").await, 7);
    let events = w.events(NS, "cart").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].2,
        format!("New size: 7; reason: held at 7 by annotation {PAUSED_REPLICAS}")
    );
    assert_eq!(state(&w, "Paused").await, pair("True", "PausedReplicas"));
    // …then held: a later notification writes nothing.
    let held_at = written(&w, NS, "cart").await;
    let o = notify(&w, &up, "msg-at-7-again");
    assert_eq!(
        (o["decision"].as_str(), o["to"].as_i64()),
        (Some("paused"), None),
        "{o}"
    );
    assert_eq!(w.replicas(NS, "cart").await, 7);
    assert_eq!(written(&w, NS, "cart").await, held_at);
    assert_eq!(w.events(NS, "cart").await.len(), 1);
    assert_eq!(w.status(NS, "cart").await.last_scale_up, None);

    // A value that means nothing: the resource's one clear error, nothing written.
    annotate(json!({ PAUSED_REPLICAS: null, PAUSED: "maybe" })).await;
    let o = notify(&w, &up, "msg-maybe");
    let why = format!("metadata.annotations[\"{PAUSED}\"]: expected true or false, got \"maybe\"");
    assert_eq!(
        (o["decision"].as_str(), o["reason"].as_str()),
        (Some("invalid_pause"), Some(why.as_str())),
        "{o}"
    );
    assert_eq!(w.replicas(NS, "cart").await, 7);
    assert_eq!(written(&w, NS, "cart").await, held_at);
    assert_eq!(state(&w, "Ready").await, pair("False", "InvalidPause"));
    let warnings = w.events(NS, "cart").await;
    assert_eq!(
        warnings.last().map(|e| (e.0.as_str(), e.1.as_str())),
        Some(("Warning", "InvalidPause")),
        "{warnings:?}"
    );

    // Resumed: the alarm steps again (two pods), and the conditions say it scales.
    annotate(json!({ PAUSED: null })).await;
    let o = notify(&w, &up, "msg-resumed");
    assert_eq!(step_of(&o), (Some("scale_up"), Some(7), Some(9)), "{o}");
    assert_eq!(w.replicas(NS, "cart").await, 9);
    assert_eq!(state(&w, "Paused").await, pair("False", "Running"));
    assert_eq!(state(&w, "Ready").await, pair("True", "Scaling"));
}
