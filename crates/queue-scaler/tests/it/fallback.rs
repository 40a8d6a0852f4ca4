//! KEDA's `fallback` on an SqsQueueScaler and on a ScaledObject, end to end: the queue
//! deleted, so every read fails, for several runs a minute apart.
use jiff::ToSpan;
use serde_json::json;
use testbed::world::t0;

use crate::support::{self, FUNCTION, KEDA_ON, Scalers, create_queue, send};

const FAILURES: &str = "autoscaling.k8s-lambda.dev/queue-failures";

/// With `fallback: {failureThreshold: 2, replicas: 4}` the replicas are held for two failed
/// reads in a row and set to 4 at the third; without a fallback they are held however long
/// the queue stays unreadable, and never go to zero (checked at every run). The failures are
/// counted in `status.queueHealth` (a ScaledObject's in queue-scaler's annotation, its
/// Deployment following the same steps); a read that works again resets them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_after_failed_reads_in_a_row_and_never_zero_on_an_error() {
    let w = support::keda_world().await;
    let jobs = create_queue(&w.sqs(), "jobs").await;
    send(&w.sqs(), &jobs, 10).await;
    w.create_deployment("default", "worker", 1).await;
    w.create_deployment("default", "plain", 1).await;
    let spec = |target: &str| json!({"scaleTargetRef": {"name": target}, "queueURL": jobs, "queueLength": 10, "cooldownPeriod": 0});
    let mut with_fallback = spec("worker");
    with_fallback["fallback"] = json!({"failureThreshold": 2, "replicas": 4});
    w.create_scaler("worker", with_fallback).await;
    w.create_scaler("plain", spec("plain")).await;
    w.create_deployment("default", "keda-worker", 1).await;
    let so = json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                    "metadata": {"name": "keda-worker", "namespace": "default"},
                    "spec": {"scaleTargetRef": {"name": "keda-worker"}, "cooldownPeriod": 0,
                             "fallback": {"failureThreshold": 2, "replicas": 4},
                             "triggers": [{"type": "aws-sqs-queue",
                                           "metadata": {"queueURL": jobs, "awsRegion": "us-east-1", "queueLength": "10"}}]}});
    w.cluster.load_yaml(&so.to_string()).expect("ScaledObject");
    let _function = w.spawn(FUNCTION, &[KEDA_ON]);
    let t0 = t0();
    let at = |minute: i64| t0 + (60 * minute).seconds();

    w.run(at(0)).expect("run 0");
    let health = |s: k8s_ops::crd::sqs_queue::SqsQueueScalerStatus| {
        let h = s.queue_health.expect("queueHealth");
        (h.number_of_failures, h.status)
    };
    assert_eq!(health(w.status("worker").await), (0, "Happy".into()));

    w.sqs()
        .delete_queue()
        .queue_url(&jobs)
        .send()
        .await
        .unwrap();
    // (minute, the worker's replicas after it); `plain` stays at 1 throughout.
    for (minute, replicas) in [(1, 1), (2, 1), (3, 4), (4, 4)] {
        let summary = w.run(at(minute)).expect("run");
        assert_eq!(summary["errors"].as_u64(), Some(2), "{summary}");
        assert_eq!(
            w.replicas("default", "worker").await,
            replicas,
            "minute {minute}"
        );
        assert_eq!(w.replicas("default", "plain").await, 1, "minute {minute}");
        assert_eq!(
            w.replicas("default", "keda-worker").await,
            replicas,
            "minute {minute}"
        );
        assert_eq!(summary["scaledObjects"]["errors"].as_u64(), Some(1));
        assert_eq!(
            w.so_annotation("default", "keda-worker", FAILURES).await,
            Some(minute.to_string())
        );
        for name in ["worker", "plain"] {
            let (ready, reason, _) = w.condition(name, "Ready").await;
            assert_eq!(
                (ready.as_str(), reason.as_str()),
                ("False", "FailedGetQueueLength")
            );
            assert_eq!(
                health(w.status(name).await),
                (minute as i32, "Failing".into()),
                "{name} at minute {minute}"
            );
        }
        let falling_back = w.condition("worker", "Fallback").await;
        assert_eq!(falling_back.0, if minute >= 3 { "True" } else { "False" });
    }
    assert_eq!(
        w.events("default", "worker").await.pop().unwrap().2,
        "New size: 4; reason: queue unread 3 times in a row (fallback.failureThreshold 2): fallback.replicas 4"
    );
    assert_eq!(
        w.events("default", "plain").await.len(),
        1,
        "one Warning, no rescale"
    );

    // The queue is back (empty): the reads work again and the failures reset.
    create_queue(&w.sqs(), "jobs").await;
    w.run(at(5)).expect("run 5");
    for name in ["worker", "plain"] {
        assert_eq!(w.condition(name, "Ready").await.0, "True", "{name}");
        assert_eq!(health(w.status(name).await), (0, "Happy".into()), "{name}");
    }
    assert_eq!(w.condition("worker", "Fallback").await.0, "False");
    assert_eq!(
        w.so_annotation("default", "keda-worker", FAILURES).await,
        None
    );
}
