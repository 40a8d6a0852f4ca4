//! `spec.scaleTargetRef`: any kind with a `/scale` subresource, not only the original's
//! Deployment. A StatefulSet (infra/k8s/samples/k8smetricalarm-statefulset.yaml) is stepped by its alarm as a Deployment is (its scale written, an
//! Event on it, no Deployment annotation), and needs exactly the `statefulsets/scale` grants;
//! a kind without `/scale` is a clear refusal (status and Event), not a failed invocation; the
//! API server refuses a spec naming both targets or neither (the CRD's CEL rule).
use serde_json::Value;
use testbed::harness::rbac::{self, mentions};
use testbed::world::World;

use crate::kinds::{now, put_alarm, sns};
use crate::support::{
    self, Objects, alarm_resource, condition, create_statefulset, statefulset_replicas,
};

const NS: &str = "db";

fn outcome(response: &Value) -> &Value {
    &response["outcomes"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulset_is_stepped_and_a_kind_without_scale_is_refused_clearly() {
    let w = support::scaler_world().await;
    w.namespace(NS);
    create_statefulset(&w, NS, "db", 2);
    // The sample: scaleTargetRef, and behavior (its scale-up HPA's defaults, which let the
    // step of 2 pods through).
    w.apply("infra/k8s/samples/k8smetricalarm-statefulset.yaml");
    let up = put_alarm(&w, "us-east-1", "db-high", "GreaterThanThreshold", &[]).await;
    let _scaler = w.spawn("alarm-scaler", &[]);

    let response = w
        .invoke("alarm-scaler", &sns(&up, "ALARM", now(), "msg-sts-1"))
        .expect("step");
    let o = outcome(&response);
    assert_eq!(o["decision"], "scale_up", "{response}");
    assert_eq!((o["from"].as_i64(), o["to"].as_i64()), (Some(2), Some(4)));
    assert_eq!(o["target"], "StatefulSet db/db", "{response}");
    assert!(o.get("deployment").is_none(), "{response}");
    assert_eq!(
        o["annotated"], false,
        "Deployment annotations only: {response}"
    );
    assert_eq!(statefulset_replicas(&w, NS, "db").await, 4);
    let events = w.events(NS, "db").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].0.as_str(), events[0].1.as_str()),
        ("Normal", "SuccessfulRescale")
    );
    assert!(events[0].2.starts_with("New size: 4;"), "{events:?}");
    let status = w.status(NS, "db").await;
    assert_eq!(
        status.last_scale_up.as_ref().map(|r| (r.from, r.to)),
        Some((2, 4))
    );
    assert_eq!(
        condition(&status, "Ready").map(|c| c.status.as_str()),
        Some("True")
    );

    // Each statefulsets/scale grant is needed: without it, an error naming it, nothing moved.
    let grants = rbac::grants(&World::rules_of("alarm-scaler"));
    for (i, grant) in grants.iter().enumerate() {
        if grant.resource != "statefulsets/scale" {
            continue;
        }
        let what = grant.describe();
        w.set_rules("alarm-scaler", rbac::all_but(&grants, i)).await;
        let id = format!("msg-sts-grant-{i}");
        let err = w
            .invoke("alarm-scaler", &sns(&up, "ALARM", now(), &id))
            .expect_err(&what);
        let named = format!("needs `{}` on `statefulsets/scale`", grant.verb);
        assert!(
            grant.denied_in(&err) && mentions(&err, &named),
            "{what}: {err}"
        );
        assert_eq!(statefulset_replicas(&w, NS, "db").await, 4, "{what}");
        let status = w.status(NS, "db").await;
        assert_eq!(
            status.last_scale_up.map(|r| r.message_id),
            Some("msg-sts-1".into())
        );
    }
    w.set_rules("alarm-scaler", rbac::all(&grants)).await;

    // A kind without /scale: refused in the status and by a Warning Event; the invocation
    // succeeds (a retry would change nothing), the StatefulSet is untouched.
    let config = "scaleTargetRef: {apiVersion: v1, kind: ConfigMap, name: settings}";
    w.cluster
        .load_yaml(&alarm_resource(NS, "settings", config, ""))
        .expect("a K8sMetricAlarm on a ConfigMap");
    let on_config = put_alarm(
        &w,
        "us-east-1",
        "settings-high",
        "GreaterThanThreshold",
        &[],
    )
    .await;
    let response = w
        .invoke("alarm-scaler", &sns(&on_config, "ALARM", now(), "msg-cm"))
        .expect("a refusal is no failure");
    let o = outcome(&response);
    let why = "spec.scaleTargetRef: v1 ConfigMap: has no scale subresource";
    assert_eq!(o["decision"], "unscalable", "{response}");
    assert_eq!(o["reason"], why, "{response}");
    let warnings = w.events(NS, "settings").await;
    assert_eq!(
        warnings,
        [("Warning".into(), "Unscalable".into(), why.into())],
        "{warnings:?}"
    );
    let status = w.status(NS, "settings").await;
    let ready = condition(&status, "Ready").expect("a Ready condition");
    assert_eq!(
        (
            ready.status.as_str(),
            ready.reason.as_str(),
            ready.message.as_str()
        ),
        ("False", "Unscalable", why)
    );
    assert_eq!(status.last_scale_up, None);
    assert_eq!(statefulset_replicas(&w, NS, "db").await, 4);

    // Both targets, or neither: the API server refuses the resource, naming both fields.
    let sts = "scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: db}";
    for target in ["deployment: web\n  ".to_owned() + sts, String::new()] {
        let err = w
            .cluster
            .load_yaml(&alarm_resource(NS, "bad", &target, ""))
            .expect_err(&target);
        assert!(
            err.contains(
                "set exactly one of spec.deployment (an apps/v1 Deployment) and spec.scaleTargetRef"
            ),
            "{target}: {err}"
        );
    }
}
