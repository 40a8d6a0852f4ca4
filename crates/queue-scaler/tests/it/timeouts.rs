//! An AWS endpoint that accepts a call and does not answer (the moto gateway holds the
//! response): each attempt gives up after `AWS_ATTEMPT_TIMEOUT_SECONDS`, is retried like
//! any transient error, and a call that never answers ends in an error naming it — the
//! invocation is not held until Lambda's own timeout kills it.
use serde_json::json;
use testbed::world::t0;

use crate::support::{self, FUNCTION, Scalers, create_queue, send};

/// Longer than the SDK's whole-call timeout (25 s): a call that waited for this answer would
/// fail, so a run that succeeds despite it proves the attempt was abandoned and retried.
const STALL_MS: u64 = 30_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sqs_call_times_out_is_retried_and_when_it_never_answers_is_reported() {
    let w = support::world().await;
    let jobs = create_queue(&w.sqs(), "jobs").await;
    w.create_deployment("default", "worker", 0).await;
    w.create_scaler(
        "worker",
        json!({"scaleTargetRef": {"name": "worker"}, "queueURL": jobs, "queueLength": 10, "maxReplicaCount": 5}),
    )
    .await;
    send(&w.sqs(), &jobs, 30).await;
    let _function = w.spawn(FUNCTION, &[("AWS_ATTEMPT_TIMEOUT_SECONDS", "1")]);
    let stall = |times: Option<u64>| json!({"rules": [{"operation": "GetQueueAttributes", "times": times, "fault": {"delay_ms": STALL_MS}}]});

    // One stalled answer: the second attempt reads the queue and the run scales 0 → 3.
    w.moto.set_faults(&stall(Some(1))).expect("faults");
    let summary = w.run(t0()).expect("run with one stalled call");
    assert_eq!(w.moto.faults_fired().expect("fired").0, vec![1]);
    assert_eq!(
        (summary["rescaled"].as_u64(), summary["errors"].as_u64()),
        (Some(1), Some(0)),
        "{summary}"
    );
    assert_eq!(w.replicas("default", "worker").await, 3);

    // Every answer stalled: three attempts time out, the error is reported in the run
    // summary and the scaler's status (naming the queue), and the Deployment keeps its replicas.
    w.moto.set_faults(&stall(None)).expect("faults");
    send(&w.sqs(), &jobs, 20).await;
    let later = t0() + jiff::SignedDuration::from_secs(60);
    let summary = w.run(later).expect("run with an unanswered call");
    assert_eq!(w.moto.faults_fired().expect("fired").0, vec![3]);
    assert_eq!(
        (summary["rescaled"].as_u64(), summary["errors"].as_u64()),
        (Some(0), Some(1)),
        "{summary}"
    );
    let (ready, _, message) = w.condition("worker", "Ready").await;
    assert_eq!(ready, "False", "{message}");
    assert!(message.contains(&jobs), "{message}");
    assert!(message.contains("attempt timeout"), "{message}");
    assert_eq!(w.replicas("default", "worker").await, 3);

    // Answers again: the next run reads 50 messages and scales to the maximum, 5.
    w.moto
        .set_faults(&json!({"rules": []}))
        .expect("faults off");
    let summary = w
        .run(later + jiff::SignedDuration::from_secs(60))
        .expect("run");
    assert_eq!(summary["errors"].as_u64(), Some(0), "{summary}");
    assert_eq!(w.replicas("default", "worker").await, 5);
}
