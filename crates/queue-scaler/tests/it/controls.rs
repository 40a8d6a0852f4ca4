//! The controls HPA and KEDA users expect, end to end: KEDA's pause annotations on an
//! SqsQueueScaler, and HPA's `behavior` (an SqsQueueScaler's `spec.behavior`, a
//! ScaledObject's `advanced.horizontalPodAutoscalerConfig.behavior`) run by run, the clock
//! advanced a minute per run as the schedule would.
use jiff::{Timestamp, ToSpan};
use kube::ResourceExt;
use serde_json::json;
use testbed::world::{World, t0};

use crate::support::{self, FUNCTION, KEDA_ON, Scalers, create_queue, send};

const PAUSED: &str = "autoscaling.keda.sh/paused";
const PAUSED_REPLICAS: &str = "autoscaling.keda.sh/paused-replicas";
const HISTORY: &str = "autoscaling.k8s-lambda.dev/behavior-history";

/// `paused-replicas` sets exactly its count (outside [min, max] too, as KEDA) and holds it
/// while the queue grows; `paused` holds what a user set by hand; a bad value is the
/// scaler's one error and changes nothing; removing them resumes scaling. The queue is read
/// all along: the status keeps its length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_annotations_set_or_hold_and_removing_them_resumes() {
    let w = support::world().await;
    let jobs = create_queue(&w.sqs(), "jobs").await;
    w.create_deployment("default", "worker", 1).await;
    w.create_scaler(
        "worker",
        json!({"scaleTargetRef": {"name": "worker"}, "queueURL": jobs, "queueLength": 10, "maxReplicaCount": 5}),
    )
    .await;
    send(&w.sqs(), &jobs, 30).await;
    let _function = w.spawn(FUNCTION, &[]);
    let t0 = t0();
    let at = |minute: i64| t0 + (60 * minute).seconds();
    let paused = async |w: &World| w.condition("worker", "Paused").await;

    w.run(at(0)).expect("run 0");
    assert_eq!(w.replicas("default", "worker").await, 3);
    assert_eq!(paused(&w).await.0, "False");

    w.annotate_scaler("worker", &[(PAUSED_REPLICAS, Some("7"))])
        .await;
    w.run(at(1)).expect("run 1");
    assert_eq!(
        w.replicas("default", "worker").await,
        7,
        "above max: KEDA's N"
    );
    let held = format!("held at 7 by annotation {PAUSED_REPLICAS}");
    assert_eq!(
        paused(&w).await,
        ("True".into(), "PausedReplicas".into(), held.clone())
    );
    assert_eq!(
        w.events("default", "worker").await.pop().unwrap().2,
        format!("New size: 7; reason: {held}")
    );

    send(&w.sqs(), &jobs, 20).await;
    w.run(at(2)).expect("run 2");
    assert_eq!(w.replicas("default", "worker").await, 7);
    assert_eq!(
        w.status("worker").await.queue_length,
        Some(50),
        "still read"
    );

    // paused: whatever a user sets is left as it is.
    w.annotate_scaler("worker", &[(PAUSED_REPLICAS, None), (PAUSED, Some("true"))])
        .await;
    w.deployments("default")
        .patch(
            "worker",
            &Default::default(),
            &kube::api::Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    w.run(at(3)).expect("run 3");
    assert_eq!(w.replicas("default", "worker").await, 2);
    assert_eq!(paused(&w).await.1, "ScalingPaused");

    // A value that is not a boolean: KEDA pauses on it ("we assume user wants to pause"),
    // so a manifest written for KEDA stays paused here too.
    w.annotate_scaler("worker", &[(PAUSED, Some("maybe"))])
        .await;
    w.run(at(4)).expect("run 4");
    assert_eq!(w.replicas("default", "worker").await, 2);
    assert_eq!(paused(&w).await.1, "ScalingPaused");
    assert_eq!(w.condition("worker", "Ready").await.0, "True");

    // Unpaused: 50 messages / 10 → 5.
    w.annotate_scaler("worker", &[(PAUSED, None)]).await;
    w.run(at(5)).expect("run 5");
    assert_eq!(w.replicas("default", "worker").await, 5);
    assert_eq!(paused(&w).await.0, "False");
    assert_eq!(w.condition("worker", "Ready").await.0, "True");
}

/// One Pod a minute up (a Pods policy), a 180 s scale-down window: the same behavior on an
/// SqsQueueScaler and on a ScaledObject gives the same replicas run by run. 50 messages / 10
/// ask 5: 2, 3, 4, 5 a minute apart; the queue drains and the window holds 5 for two more
/// runs, then one is left (the cooldown, an hour, keeps it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behavior_limits_a_scale_up_and_holds_a_scale_down() {
    let w = support::keda_world().await;
    let jobs = create_queue(&w.sqs(), "jobs").await;
    let behavior = json!({
        "scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]},
        "scaleDown": {"stabilizationWindowSeconds": 180}
    });
    w.create_deployment("default", "worker", 1).await;
    w.create_scaler(
        "worker",
        json!({"scaleTargetRef": {"name": "worker"}, "queueURL": jobs, "queueLength": 10,
               "cooldownPeriod": 3600, "behavior": behavior}),
    )
    .await;
    w.create_deployment("default", "keda-worker", 1).await;
    let so = json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                    "metadata": {"name": "keda-worker", "namespace": "default"},
                    "spec": {"scaleTargetRef": {"name": "keda-worker"}, "cooldownPeriod": 3600,
                             "advanced": {"horizontalPodAutoscalerConfig": {"behavior": behavior}},
                             "triggers": [{"type": "aws-sqs-queue",
                                           "metadata": {"queueURL": jobs, "awsRegion": "us-east-1", "queueLength": "10"}}]}});
    w.cluster.load_yaml(&so.to_string()).expect("ScaledObject");
    send(&w.sqs(), &jobs, 50).await;
    let _function = w.spawn(FUNCTION, &[KEDA_ON]);
    let t0 = t0();
    let at = |minute: i64| -> Timestamp { t0 + (60 * minute).seconds() };
    let both = async |w: &World| {
        (
            w.replicas("default", "worker").await,
            w.replicas("default", "keda-worker").await,
        )
    };

    for (minute, replicas) in [(0, 2), (1, 3), (2, 4), (3, 5)] {
        w.run(at(minute)).expect("run");
        assert_eq!(both(&w).await, (replicas, replicas), "minute {minute}");
        if replicas < 5 {
            let (_, _, ready) = w.condition("worker", "Ready").await;
            assert!(ready.contains("ScaleUpLimit"), "minute {minute}: {ready}");
        }
    }
    w.sqs().purge_queue().queue_url(&jobs).send().await.unwrap();
    for minute in [4, 5] {
        w.run(at(minute)).expect("run");
        assert_eq!(both(&w).await, (5, 5), "minute {minute}: held");
        let (_, _, ready) = w.condition("worker", "Ready").await;
        assert!(
            ready.contains("180s scale-down stabilization window"),
            "{ready}"
        );
    }
    w.run(at(6)).expect("run");
    assert_eq!(both(&w).await, (1, 1), "the 5s left the window");

    // The memory the windows need, in the status and in queue-scaler's annotation.
    let history = w.status("worker").await.behavior_history.expect("history");
    assert_eq!(
        history
            .recommendations
            .last()
            .map(|r| (r.time.0, r.replicas)),
        Some((at(6), 0))
    );
    let so: k8s_ops::crd::keda::ScaledObject = w.object("default", "keda-worker").await;
    let kept: k8s_ops::behavior::History =
        serde_json::from_str(&so.annotations()[HISTORY]).expect("history annotation");
    assert_eq!(kept, history);
}
