//! The original function's RBAC (`*` on k8smetricalarms, deployments and pods) cannot work
//! here: this function writes the `scale` subresource and its record in the resource's
//! `status`, which a rule on the parent does not cover, lists the namespace's HPAs and
//! SqsQueueScalers (one owner per target), and records Events. The refusal names
//! each missing grant, one at a time, as an operator adding them would meet them.
use serde_json::{Value, json};
use testbed::harness::rbac::mentions;

use crate::kinds::{now, put_alarm, sns};
use crate::support::{self, Objects};

const NS: &str = "orders";
const ORIGINAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/original/rbac-lambda-client.yaml"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_rbac_is_refused_naming_each_missing_grant() {
    let w = support::scaler_world().await;
    w.create_deployment(NS, "orders-worker", 3).await;
    w.apply("infra/k8s/samples/k8smetricalarm-original-style.yaml");
    let alarm = put_alarm(
        &w,
        "us-east-1",
        "Orders-Backlog-High-Alarm",
        "GreaterThanThreshold",
        &[],
    )
    .await;

    // As shipped: v1beta1 RBAC is gone from the API server.
    let original = std::fs::read_to_string(ORIGINAL).unwrap();
    let err = w.cluster.load_yaml(&original).expect_err("v1beta1");
    assert!(
        err.contains(
            r#"no matches for kind "ClusterRole" in version "rbac.authorization.k8s.io/v1beta1""#
        ),
        "{err}"
    );
    // Its v1 equivalent: the same rules, bound to the group the function's role is mapped to
    // here (the original mapped it to lambda-client). The suite's own role is emptied, so the
    // function holds exactly the original's grants.
    let equivalent = original
        .replace(
            "rbac.authorization.k8s.io/v1beta1",
            "rbac.authorization.k8s.io/v1",
        )
        .replace(
            "    name: lambda-client\n",
            "    name: \"lambda:alarm-scaler\"\n",
        );
    assert_eq!(equivalent.matches("/v1\n").count(), 2, "{equivalent}");
    assert!(equivalent.contains("lambda:alarm-scaler"));
    w.cluster.load_yaml(&equivalent).expect("the v1 equivalent");
    w.set_rules("alarm-scaler", json!([])).await;
    let mut scaler = w.spawn("alarm-scaler", &[]);

    // (rules added to the original's, errorType, the grant the error names)
    let scale = json!({"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "update"]});
    let status = json!({"apiGroups": ["containerinsights.eks.com"], "resources": ["k8smetricalarms/status"], "verbs": ["patch"]});
    // One owner per target: the other controllers of the namespace are listed.
    let hpas = json!({"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["list"]});
    let queues = json!({"apiGroups": ["autoscaling.k8s-lambda.dev"], "resources": ["sqsqueuescalers"], "verbs": ["list"]});
    let refusals: [(Value, &str, &str); 4] = [
        (
            json!([]),
            "KubernetesFailed",
            "needs `get` on `deployments/scale` (API group \"apps\") in namespace orders",
        ),
        (
            json!([scale]),
            "KubernetesFailed",
            "needs `list` on `horizontalpodautoscalers` (API group \"autoscaling\") in namespace orders",
        ),
        (
            json!([scale, hpas]),
            "KubernetesFailed",
            "needs `list` on `sqsqueuescalers` (API group \"autoscaling.k8s-lambda.dev\") in namespace orders",
        ),
        (
            json!([scale, hpas, queues]),
            "StatusNotWritten",
            "needs `patch` on `k8smetricalarms/status` (API group \"containerinsights.eks.com\") in namespace orders",
        ),
    ];
    for (i, (added, error_type, grant)) in refusals.into_iter().enumerate() {
        // A subresource's refusal says what the original's `*` does not cover.
        let subresource = grant.contains("/");
        w.set_rules("alarm-scaler", added).await;
        let err = w
            .invoke(
                "alarm-scaler",
                &sns(&alarm, "ALARM", now(), &format!("original-{i}")),
            )
            .expect_err(grant);
        assert!(
            mentions(&err, error_type)
                && mentions(&err, grant)
                && mentions(&err, "(a rule on") == subresource
                && mentions(&err, "even `*`, does not cover its") == subresource,
            "{err}"
        );
        assert_eq!(w.replicas(NS, "orders-worker").await, 3);
        assert_eq!(w.status(NS, "orders-backlog").await.last_scale_up, None);
    }

    // Both subresources and the lists granted: the step is taken. `*` on deployments covers the annotations;
    // nothing grants Events, which go unrecorded (best effort).
    w.set_rules("alarm-scaler", json!([scale, hpas, queues, status]))
        .await;
    let r = w
        .invoke("alarm-scaler", &sns(&alarm, "ALARM", now(), "original-ok"))
        .expect("step");
    assert_eq!(r["outcomes"][0]["decision"], "scale_up", "{r}");
    assert_eq!(r["outcomes"][0]["annotated"], true, "{r}");
    assert_eq!(w.replicas(NS, "orders-worker").await, 4);
    assert!(w.events(NS, "orders-worker").await.is_empty());
    let line = scaler
        .wait_for_json(std::time::Duration::from_secs(10), |v| {
            v["fields"]["message"] == "event not recorded"
        })
        .expect("the unrecorded Event is logged");
    let error = line["fields"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(r#"cannot create resource "events""#),
        "{line}"
    );
}
