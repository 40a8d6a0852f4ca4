//! One owner per target, end to end: an SqsQueueScaler refuses a Deployment an HPA scales,
//! and of two SqsQueueScalers on one Deployment the older scales it; the refused ones write
//! nothing, at every run, and take over once the owner is gone. The cluster has no
//! K8sMetricAlarm CRD: listing them finds none.
use jiff::{Timestamp, ToSpan};
use serde_json::json;
use testbed::world::{World, t0};

use crate::support::{self, FUNCTION, Scalers, create_queue, send};

/// Waits until the clock is past `at`'s second, so that an object created next is younger
/// (creationTimestamp has whole seconds).
async fn next_second(after: Timestamp) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while Timestamp::now().as_second() <= after.as_second() {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock stood still"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn created(w: &World, name: &str) -> Timestamp {
    let s: k8s_ops::crd::sqs_queue::SqsQueueScaler = w.object("default", name).await;
    s.metadata.creation_timestamp.expect("stamped").0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hpa_wins_else_the_oldest_and_the_refused_write_nothing() {
    let w = support::world().await;
    let thirty = create_queue(&w.sqs(), "thirty").await;
    let fifty = create_queue(&w.sqs(), "fifty").await;
    send(&w.sqs(), &thirty, 30).await;
    send(&w.sqs(), &fifty, 50).await;
    w.create_deployment("default", "web", 1).await;
    w.create_deployment("default", "worker", 1).await;
    let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                     "metadata": {"name": "web", "namespace": "default"},
                     "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                              "minReplicas": 1, "maxReplicas": 10}});
    w.cluster.load_yaml(&hpa.to_string()).expect("HPA");
    let on = |target: &str, queue: &str| json!({"scaleTargetRef": {"name": target}, "queueURL": queue, "queueLength": 10});
    w.create_scaler("web", on("web", &thirty)).await;
    // The older of two, though its name sorts last.
    w.create_scaler("zz-older", on("worker", &thirty)).await;
    next_second(created(&w, "zz-older").await).await;
    w.create_scaler("aa-newer", on("worker", &fifty)).await;
    let _function = w.spawn(FUNCTION, &[]);
    let t0 = t0();
    let at = |minute: i64| t0 + (60 * minute).seconds();
    let refusal = |target: &str, owner: &str| {
        (
            "False".to_owned(),
            "AmbiguousOwner".to_owned(),
            format!(
                "Deployment default/{target} is already scaled by {owner}; this SqsQueueScaler writes nothing while it does"
            ),
        )
    };

    for minute in 0..3 {
        let summary = w.run(at(minute)).expect("run");
        assert_eq!(summary["errors"].as_u64(), Some(2), "{summary}");
        assert_eq!(w.replicas("default", "web").await, 1, "minute {minute}");
        assert_eq!(w.replicas("default", "worker").await, 3, "minute {minute}");
        assert_eq!(
            w.condition("web", "Ready").await,
            refusal("web", "HorizontalPodAutoscaler default/web")
        );
        assert_eq!(
            w.condition("aa-newer", "Ready").await,
            refusal("worker", "SqsQueueScaler default/zz-older")
        );
        assert_eq!(w.condition("zz-older", "Ready").await.0, "True");
        for name in ["web", "aa-newer"] {
            let events = w.events("default", name).await;
            assert_eq!(events.len(), 1, "{name}: one Warning while it lasts");
            assert_eq!(
                (events[0].0.as_str(), events[0].1.as_str()),
                ("Warning", "AmbiguousOwner")
            );
        }
    }

    // The owners gone, the refused take over.
    w.cluster
        .kubectl(&["delete", "hpa", "web", "-n", "default"], "")
        .expect("HPA deleted");
    w.scalers()
        .delete("zz-older", &Default::default())
        .await
        .expect("older deleted");
    let summary = w.run(at(3)).expect("run 3");
    assert_eq!(summary["errors"].as_u64(), Some(0), "{summary}");
    assert_eq!(w.replicas("default", "web").await, 3);
    assert_eq!(w.replicas("default", "worker").await, 5);
}
