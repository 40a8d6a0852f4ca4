//! KEDA's manifests, unchanged (`KEDA_SCALED_OBJECTS=true`): the real binary under the Lambda
//! emulator, moto for SQS and STS, the real control plane with KEDA's two CRDs
//! (`fixtures/keda-crds.yaml`) authorizing the function with its RBAC file only.
use jiff::ToSpan;
use serde_json::{Value, json};
use testbed::harness::rbac::mentions;
use testbed::world::{World, t0};

use crate::support::{self, FUNCTION, KEDA_CRDS, KEDA_ON, Scalers, create_queue, send};

/// KEDA's documented sample, as keda.sh shows it.
const DOCS_SAMPLE: &str = "crates/queue-scaler/tests/it/fixtures/keda-docs-sample.yaml";
const NS: &str = "keda-test";
const SO: &str = "aws-sqs-queue-scaledobject";
const DEPLOYMENT: &str = "nginx-deployment";
const INACTIVE_SINCE: &str = "autoscaling.k8s-lambda.dev/inactive-since";

/// A ScaledObject's response entry with every count zero but `counts`.
fn report(counts: Value, notes: Value) -> Value {
    let mut r = json!({"listed": 0, "scaled": 0, "rescaled": 0, "paused": 0, "leftAlone": 0,
                       "skipped": 0, "errors": 0, "notes": notes});
    for (k, v) in counts.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

fn spec_and_status(w: &World, namespace: &str, name: &str) -> (Value, Value) {
    let so = w.cluster.get("scaledobjects.keda.sh", namespace, name);
    let so = so.unwrap_or_else(|| panic!("ScaledObject {namespace}/{name}"));
    (so["spec"].clone(), so["status"].clone())
}

/// KEDA's docs sample, applied as it is, scales its Deployment as KEDA would: from zero on
/// the queue's length, down while the queue is inactive and to zero after the cooldown;
/// KEDA's pause annotations hold it. Off by default; with the setting on but KEDA's CRDs
/// missing, the run fails naming the list. queue-scaler writes nothing of the ScaledObject
/// but its own annotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kedas_docs_sample_scales_its_deployment_and_pauses_hold() {
    // KEDA's CRDs come later: first the setting's off and on without them.
    let w = support::world().await;
    w.create_deployment(NS, DEPLOYMENT, 0).await;
    let sqs = w.sqs_in("eu-west-1");
    let queue = create_queue(&sqs, "myQueue").await;
    send(&sqs, &queue, 12).await;
    let t0 = t0();

    {
        let mut off = w.spawn(FUNCTION, &[]);
        let summary = w.run(t0).expect("a run with the setting off");
        assert!(summary.get("scaledObjects").is_none(), "{summary}");
        off.kill();
    }
    let _function = w.spawn(FUNCTION, &[KEDA_ON]);
    let err = w.run(t0).expect_err("KEDA's CRDs are not installed");
    assert!(
        err.contains("KubernetesFailed") && mentions(&err, "listing ScaledObjects"),
        "{err}"
    );

    w.apply(KEDA_CRDS);
    w.apply(DOCS_SAMPLE);
    let (spec, status) = spec_and_status(&w, NS, SO);

    // Run 1: 12 messages, queueLength "5": ceil(12 / 5) = 3, straight from zero.
    let summary = w.run(t0).expect("run 1");
    assert_eq!(
        summary["scaledObjects"],
        report(json!({"listed": 1, "scaled": 1, "rescaled": 1}), json!({})),
        "{summary}"
    );
    assert_eq!(
        (summary["scalers"].as_u64(), summary["errors"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(w.replicas(NS, DEPLOYMENT).await, 3);
    assert_eq!(
        w.events(NS, SO).await,
        [(
            "Normal".into(),
            "SuccessfulRescale".into(),
            "New size: 3; reason: queue length 12 above activation 0 at zero replicas".into()
        )]
    );

    // The queue drains: HPA's default 300 s scale-down window holds the 3 replicas; the
    // cooldown's start in queue-scaler's annotation; the ScaledObject's spec and status
    // untouched.
    sqs.purge_queue().queue_url(&queue).send().await.unwrap();
    w.run(t0 + 60.seconds()).expect("run 2");
    assert_eq!(w.replicas(NS, DEPLOYMENT).await, 3);
    let since = (t0 + 60.seconds()).to_string();
    assert_eq!(
        w.so_annotation(NS, SO, INACTIVE_SINCE).await,
        Some(since.clone())
    );
    assert_eq!(spec_and_status(&w, NS, SO), (spec.clone(), status.clone()));

    // 4 of the default 300 s, t0's recommendation out of the window: one; then zero.
    w.run(t0 + 300.seconds()).expect("run 3");
    assert_eq!(w.replicas(NS, DEPLOYMENT).await, 1);
    w.run(t0 + 360.seconds()).expect("run 4");
    assert_eq!(w.replicas(NS, DEPLOYMENT).await, 0);
    assert_eq!(
        w.events(NS, SO).await.pop().unwrap().2,
        "New size: 0; reason: queue inactive (length 0 ≤ activation 0) for the cooldown of 300s"
    );

    // paused-replicas: to that count, whatever the queue says, and held there.
    w.annotate_so(
        NS,
        SO,
        &[("autoscaling.keda.sh/paused-replicas", Some("2"))],
    )
    .await;
    let summary = w.run(t0 + 420.seconds()).expect("run 5");
    assert_eq!(
        summary["scaledObjects"],
        report(
            json!({"listed": 1, "paused": 1, "rescaled": 1}),
            json!({"keda-test/aws-sqs-queue-scaledobject": "paused at 2 replicas (autoscaling.keda.sh/paused-replicas)"})
        ),
        "{summary}"
    );
    assert_eq!(w.replicas(NS, DEPLOYMENT).await, 2);
    assert_eq!(
        summary["apiCalls"]["sqs"], 0,
        "a paused ScaledObject's queue is not read"
    );
    send(&sqs, &queue, 30).await;
    w.run(t0 + 480.seconds()).expect("run 6");
    assert_eq!(w.replicas(NS, DEPLOYMENT).await, 2, "paused-replicas holds");

    // paused: held at the current count.
    w.annotate_so(
        NS,
        SO,
        &[
            ("autoscaling.keda.sh/paused-replicas", None),
            ("autoscaling.keda.sh/paused", Some("true")),
        ],
    )
    .await;
    let summary = w.run(t0 + 540.seconds()).expect("run 7");
    assert_eq!(
        summary["scaledObjects"]["paused"].as_u64(),
        Some(1),
        "{summary}"
    );
    assert_eq!(w.replicas(NS, DEPLOYMENT).await, 2, "paused holds");

    // Unpaused: the queue decides again (30 / 5 = 6), and the queue is active.
    w.annotate_so(NS, SO, &[("autoscaling.keda.sh/paused", None)])
        .await;
    w.run(t0 + 600.seconds()).expect("run 8");
    assert_eq!(w.replicas(NS, DEPLOYMENT).await, 6);
    assert_eq!(w.so_annotation(NS, SO, INACTIVE_SINCE).await, None);
    assert_eq!(spec_and_status(&w, NS, SO), (spec, status));
}

/// The repo's own KEDA sample (`infra/keda/scaledobject.yaml`, roleArn in podIdentity) next
/// to ScaledObjects queue-scaler must not scale: one KEDA runs (its `keda-hpa-<name>` HPA
/// exists), one with a cron trigger, one with a bad queueLength. Each is reported in the
/// response; the bad one also by one Warning however many runs see it. When KEDA's HPA is
/// gone, queue-scaler takes its ScaledObject over. A dry run changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keda_runs_are_left_alone_and_what_cannot_be_scaled_is_reported() {
    let w = support::keda_world().await;
    let orders = create_queue(&w.sqs(), "orders").await;
    let jobs = create_queue(&w.sqs(), "jobs").await;
    send(&w.sqs(), &orders, 25).await;
    send(&w.sqs(), &jobs, 12).await;
    for (name, replicas) in [("worker", 0), ("kept", 2), ("nightly", 1), ("broken", 1)] {
        w.create_deployment("default", name, replicas).await;
    }
    w.apply("infra/keda/scaledobject.yaml");
    let sqs_trigger = |queue_length: &str| {
        json!([{"type": "aws-sqs-queue",
                "metadata": {"queueURL": jobs, "awsRegion": "us-east-1", "queueLength": queue_length}}])
    };
    let manifest = |name: &str, triggers: Value| {
        json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
               "metadata": {"name": name, "namespace": "default"},
               "spec": {"scaleTargetRef": {"name": name}, "triggers": triggers}})
        .to_string()
    };
    for yaml in [
        manifest("kept", sqs_trigger("5")),
        manifest("nightly", json!([{"type": "cron", "metadata": {"timezone": "UTC", "start": "0 1 * * *", "end": "0 2 * * *", "desiredReplicas": "3"}}])),
        manifest("broken", sqs_trigger("abc")),
        // KEDA's HPA for `kept`, as KEDA makes it.
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
               "metadata": {"name": "keda-hpa-kept", "namespace": "default"},
               "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "kept"},
                        "minReplicas": 1, "maxReplicas": 100,
                        "metrics": [{"type": "External", "external": {
                            "metric": {"name": "s0-aws-sqs-jobs", "selector": {"matchLabels": {"scaledobject.keda.sh/name": "kept"}}},
                            "target": {"type": "AverageValue", "averageValue": "5"}}}]}})
        .to_string(),
    ] {
        w.cluster.load_yaml(&yaml).expect("applied");
    }
    let t0 = t0();
    let broken_error =
        r#"spec.triggers[0].metadata.queueLength: expected an integer as a string, got "abc""#;
    let notes = json!({
        "default/kept": "left alone: HPA keda-hpa-kept exists: KEDA runs this ScaledObject",
        "default/nightly": "skipped: trigger type cron: queue-scaler scales aws-sqs-queue triggers only",
        "default/broken": format!("InvalidSpec: {broken_error}"),
    });
    let expected = |rescaled: u64| {
        report(
            json!({"listed": 4, "scaled": 1, "rescaled": rescaled, "leftAlone": 1, "skipped": 1, "errors": 1}),
            notes.clone(),
        )
    };

    // A dry run decides and reports, and writes nothing.
    {
        let mut dry = w.spawn(FUNCTION, &[KEDA_ON, ("DRY_RUN", "true")]);
        let summary = w.run(t0).expect("dry run");
        assert_eq!(summary["scaledObjects"], expected(1), "{summary}");
        assert_eq!(w.replicas("default", "worker").await, 0);
        assert!(w.events("default", "broken").await.is_empty());
        dry.kill();
    }

    let _function = w.spawn(FUNCTION, &[KEDA_ON]);
    for (i, at) in [t0, t0 + 60.seconds()].into_iter().enumerate() {
        let summary = w.run(at).expect("run");
        // worker: 25 messages read as the sample's role, queueLength "10": 3, then held.
        assert_eq!(
            summary["scaledObjects"],
            expected(u64::from(i == 0)),
            "run {i}: {summary}"
        );
        assert_eq!(w.replicas("default", "worker").await, 3);
        assert_eq!(
            (
                w.replicas("default", "kept").await,
                w.replicas("default", "nightly").await,
                w.replicas("default", "broken").await
            ),
            (2, 1, 1),
            "run {i}: left as they were"
        );
        for name in ["kept", "nightly"] {
            assert!(
                w.events("default", name).await.is_empty(),
                "run {i}: {name}"
            );
        }
        assert_eq!(
            w.events("default", "broken").await,
            [(
                "Warning".into(),
                "InvalidSpec".into(),
                broken_error.to_owned()
            )],
            "run {i}: one Warning however many runs see it"
        );
    }

    // KEDA's HPA gone (KEDA uninstalled): queue-scaler scales `kept` (12 / 5 → 3).
    w.cluster
        .kubectl(&["delete", "hpa", "keda-hpa-kept", "-n", "default"], "")
        .expect("HPA deleted");
    let summary = w.run(t0 + 120.seconds()).expect("run 3");
    assert_eq!(
        summary["scaledObjects"]["leftAlone"].as_u64(),
        Some(0),
        "{summary}"
    );
    assert_eq!(w.replicas("default", "kept").await, 3);
}
