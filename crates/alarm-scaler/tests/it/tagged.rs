//! The original's way to an alarm's resource, as the fallback: alarms no K8sMetricAlarm names
//! (made by hand or by another tool), tagged `kubernetes-name`/`kubernetes-namespace` as the
//! original operator tagged its own. One ListTagsForResource per such notification, none for
//! an alarm a resource names (counted at the moto gateway).
use aws_sdk_cloudwatch::types::StateValue;
use serde_json::{Value, json};
use testbed::harness::rbac::mentions;

use crate::kinds::{alarm_message, breach_in, now, put_alarm, sns, state_change, state_of};
use crate::support::{self, Objects};

const NS: &str = "orders";

fn outcome(response: &Value) -> &Value {
    &response["outcomes"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagged_alarms_lead_to_their_k8smetricalarm_when_none_names_them() {
    let w = support::scaler_world().await;
    w.create_deployment(NS, "orders-worker", 3).await;
    // The original's manifest: min 2, max 8; up max(1 pod, 25 %), coolDown 180 s; no down
    // behavior (one pod); its config names the alarm Orders-Backlog-High-Alarm.
    w.apply("infra/k8s/samples/k8smetricalarm-original-style.yaml");
    let named = put_alarm(
        &w,
        "us-east-1",
        "Orders-Backlog-High-Alarm",
        "GreaterThanThreshold",
        &[],
    )
    .await;
    let tags = [
        ("kubernetes-name", "orders-backlog"),
        ("kubernetes-namespace", NS),
    ];
    let high = put_alarm(
        &w,
        "eu-west-1",
        "orders:backlog+high",
        "GreaterThanThreshold",
        &tags,
    )
    .await;
    let low = put_alarm(
        &w,
        "us-east-1",
        "orders:backlog+low",
        "LessThanOrEqualToThreshold",
        &tags,
    )
    .await;
    let lost = put_alarm(
        &w,
        "us-east-1",
        "orders:lost",
        "GreaterThanThreshold",
        &[("kubernetes-name", "gone"), ("kubernetes-namespace", NS)],
    )
    .await;
    let untagged = put_alarm(
        &w,
        "us-east-1",
        "orders:untagged",
        "GreaterThanThreshold",
        &[("team", "orders")],
    )
    .await;
    let _scaler = w.spawn("alarm-scaler", &[]);
    // Counts ListTagsForResource calls (a 1 ms delay: the call goes on to moto).
    w.moto
        .set_faults(&json!({"seed": 1, "rules": [
            {"operation": "ListTagsForResource", "fault": {"delay_ms": 1}}]}))
        .unwrap();
    let tag_calls = || w.moto.faults_fired().unwrap().0[0];

    // Tagged, GreaterThan…: up, through the resource the tags name, read in eu-west-1.
    let r = w
        .invoke("alarm-scaler", &sns(&high, "ALARM", now(), "tagged-up"))
        .expect("step up");
    let o = outcome(&r);
    assert_eq!(
        (
            o["decision"].as_str(),
            o["foundBy"].as_str(),
            o["k8smetricalarm"].as_str()
        ),
        (
            Some("scale_up"),
            Some("tags"),
            Some("orders/orders-backlog")
        ),
        "{r}"
    );
    assert_eq!(w.replicas(NS, "orders-worker").await, 4);
    assert_eq!(tag_calls(), 1);
    assert_eq!(state_of(&w, &high).await, Some(StateValue::Ok));
    let annotations = w.annotations(NS, "orders-worker").await;
    assert_eq!(
        annotations.get("cloudwatch.alarm.name").map(String::as_str),
        Some("orders:backlog+high")
    );

    // Tagged, LessThan…: down, the alarm message alone carrying the operator.
    let r = w
        .invoke("alarm-scaler", &alarm_message(&low, "ALARM", now()))
        .expect("step down");
    let o = outcome(&r);
    assert_eq!(
        (
            o["decision"].as_str(),
            o["foundBy"].as_str(),
            o["direction"].as_str()
        ),
        (Some("scale_down"), Some("tags"), Some("down")),
        "{r}"
    );
    assert_eq!(w.replicas(NS, "orders-worker").await, 3);
    assert_eq!(tag_calls(), 2);

    // An alarm the resource names: found by name, its tags never read (and held: the up
    // coolDown of 180 s runs since the tagged alarm's step, the same resource's).
    let r = w
        .invoke("alarm-scaler", &sns(&named, "ALARM", now(), "named-up"))
        .expect("held");
    let o = outcome(&r);
    assert_eq!(
        (o["decision"].as_str(), o["foundBy"].as_str()),
        (Some("cooldown"), Some("name")),
        "{r}"
    );
    assert_eq!(tag_calls(), 2);

    // What cannot be resolved fails, naming what is missing; nothing moves, and the alarm
    // stays in ALARM (re-arming would only make it fire again).
    breach_in(&w, "eu-west-1", &high.name).await;
    let err = w
        .invoke("alarm-scaler", &state_change(&high, "ALARM", now()))
        .expect_err("EventBridge carries no operator");
    assert!(mentions(&err, "AlarmUnresolved"), "{err}");
    assert!(
        mentions(
            &err,
            "found k8smetricalarm orders/orders-backlog by the alarm's tags"
        ) && mentions(&err, "the event carries no ComparisonOperator"),
        "{err}"
    );
    assert_eq!(state_of(&w, &high).await, Some(StateValue::Alarm));
    let err = w
        .invoke("alarm-scaler", &sns(&lost, "ALARM", now(), "lost-up"))
        .expect_err("no such resource");
    assert!(
        mentions(&err, "AlarmUnresolved")
            && mentions(
                &err,
                "there is no K8sMetricAlarm orders/gone, and none in namespace orders scales a Deployment gone"
            ),
        "{err}"
    );
    assert_eq!(w.replicas(NS, "orders-worker").await, 3);
    assert_eq!(tag_calls(), 4);

    // Untagged (other tags only): a logged skip, as before.
    let r = w
        .invoke(
            "alarm-scaler",
            &sns(&untagged, "ALARM", now(), "untagged-up"),
        )
        .expect("skip");
    let o = outcome(&r);
    assert_eq!(o["decision"], "unknown_alarm", "{r}");
    assert_eq!(
        o["reason"],
        "no K8sMetricAlarm names this alarm, and it has no kubernetes-name/kubernetes-namespace tags"
    );
    assert_eq!(tag_calls(), 5);
    w.moto.set_faults(&json!({"rules": []})).unwrap();
}
