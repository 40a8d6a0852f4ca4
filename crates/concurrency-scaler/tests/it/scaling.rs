//! What is scaled (`spec.scale`) and the in-flight default, end to end: the real binary under
//! the Lambda emulator, moto's Lambda holding the mappings' ScalingConfig, the control plane.
use jiff::ToSpan;
use k8s_ops::crd::lambda_concurrency::ConcurrencyState::*;
use k8s_ops::crd::lambda_concurrency::Scale::*;
use serde_json::json;
use testbed::world::t0;

use crate::support::{self, Consumers, FUNCTION, counts};

/// - The original's manifest (default `Auto`) on a function fed by an enabled mapping sets the
///   mapping's maximum concurrency, clamped into 2–1000 with the clamp in the message, and
///   leaves reserved concurrency unset; it counts in-flight messages (5 = 1 visible + 4
///   received), while `awsSQSIncludeInFlight: false` on the same queue counts 1.
/// - `MaximumConcurrency` never sets the mapping above the reserved concurrency less the
///   function's other SQS mappings' maxima (30 − 10 = 20), and says so.
/// - `Both` sets the mapping and keeps the reserved concurrency equal to it, stepping up.
/// - `ReservedConcurrency` never reserves less than the mappings' total maximum (8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_the_mapping_by_default_never_throttles_the_poller_and_counts_in_flight() {
    let w = support::world().await;
    let (jobs_url, jobs) = w.create_queue("jobs").await;
    let (_, side) = w.create_queue("side").await;
    let (_, capq) = w.create_queue("capq").await;
    let (bothq_url, bothq) = w.create_queue("bothq").await;
    let (_, floorq) = w.create_queue("floorq").await;
    for f in [
        "jobs-consumer",
        "jobs-visible",
        "capped",
        "both-consumer",
        "floor-consumer",
    ] {
        w.create_function(f).await;
    }
    w.map(&jobs, "jobs-consumer").await;
    w.map(&jobs, "jobs-visible").await;
    w.map(&capq, "capped").await;
    w.map_with(&side, "capped", Some(10)).await;
    w.map(&bothq, "both-consumer").await;
    w.map_with(&floorq, "floor-consumer", Some(8)).await;
    w.lambda()
        .put_function_concurrency()
        .function_name("capped")
        .reserved_concurrent_executions(30)
        .send()
        .await
        .unwrap();
    // 5 messages on jobs, 4 of them received and in flight for 10 minutes.
    w.send(&jobs_url, 5).await;
    let mut received = 0;
    while received < 4 {
        let out = w
            .sqs()
            .receive_message()
            .queue_url(&jobs_url)
            .max_number_of_messages(4 - received)
            .visibility_timeout(600)
            .send()
            .await
            .unwrap();
        received += out.messages().len() as i32;
        assert!(!out.messages().is_empty(), "messages to receive");
    }
    w.send(&bothq_url, 1).await;

    let scaler = |queue: &str, function: &str, threshold: i32, min: i32, max: i32, step: i32| {
        json!({
            "awsSQSName": queue, "awsSQSMsgCountThreshold": threshold, "awsLambdaName": function,
            "awsLambdaMinConcurrency": min, "awsLamndaMaxConcurrency": max, "awsLambdaStepConcurrency": step
        })
    };
    w.create_scaler("auto", scaler("jobs", "jobs-consumer", 3, 0, 5000, 3))
        .await;
    let mut visible = scaler("jobs", "jobs-visible", 3, 2, 9, 3);
    visible["awsSQSIncludeInFlight"] = json!(false);
    w.create_scaler("visible", visible).await;
    let with = |mut spec: serde_json::Value, scale: &str| {
        spec["scale"] = json!(scale);
        spec
    };
    let capped = with(
        scaler("capq", "capped", 10, 25, 100, 50),
        "MaximumConcurrency",
    );
    w.create_scaler("capped", capped).await;
    let both = with(scaler("bothq", "both-consumer", 0, 2, 10, 4), "Both");
    w.create_scaler("both", both).await;
    let floor = with(
        scaler("floorq", "floor-consumer", 10, 1, 20, 1),
        "ReservedConcurrency",
    );
    w.create_scaler("floor", floor).await;
    let _function = w.spawn(FUNCTION, &[]);
    let t0 = t0();

    let summary = w.run(t0).expect("run 1");
    assert_eq!(
        counts(&summary, ["adjusted", "errors"]),
        [Some(5), Some(0)],
        "{summary}"
    );
    // auto: 5 > 3, unset → the clamped minimum 2 + step 3 on the mapping.
    let s = w.status("auto").await;
    assert_eq!(
        (s.state, s.scaled, s.concurrency, s.queue_depth),
        (Some(Adjusting), Some(MaximumConcurrency), Some(5), Some(5))
    );
    assert_eq!(
        (s.maximum_concurrency, s.reserved_concurrency),
        (Some(5), None)
    );
    let message = s.message.unwrap_or_default();
    assert!(
        message.contains(
            "bounds [0, 5000] clamped to [2, 1000], ScalingConfig.MaximumConcurrency's range"
        ),
        "{message}"
    );
    assert_eq!(w.maximum(&jobs, "jobs-consumer").await, Some(5));
    assert_eq!(
        w.reserved("jobs-consumer").await,
        None,
        "reserved concurrency untouched"
    );
    let (kind, reason, message) = w.events("default", "auto").await.pop().expect("an Event");
    assert_eq!(
        (kind.as_str(), reason.as_str()),
        ("Normal", "SuccessfulAdjust")
    );
    assert!(
        message.starts_with("New maximum concurrency: 5; reason: no maximum concurrency set yet"),
        "{message}"
    );
    // visible: 1 visible message < 3 × ½: the minimum.
    let s = w.status("visible").await;
    assert_eq!((s.queue_depth, s.concurrency), (Some(1), Some(2)));
    assert_eq!(w.maximum(&jobs, "jobs-visible").await, Some(2));
    // capped: its minimum 25 exceeds what reserved 30 leaves beside the other mapping's 10.
    let s = w.status("capped").await;
    assert_eq!(s.concurrency, Some(20));
    let message = s.message.unwrap_or_default();
    assert!(
        message.contains("maximum concurrency capped at 20 by the reserved concurrency 30 less 10 for the other SQS mappings"),
        "{message}"
    );
    assert_eq!(w.maximum(&capq, "capped").await, Some(20));
    assert_eq!(w.reserved("capped").await, Some(30));
    // both: 1 > 0, unset → 2 + 4 on the mapping, reserved the same.
    assert_eq!(w.maximum(&bothq, "both-consumer").await, Some(6));
    assert_eq!(w.reserved("both-consumer").await, Some(6));
    let s = w.status("both").await;
    assert_eq!(
        (s.scaled, s.maximum_concurrency, s.reserved_concurrency),
        (Some(Both), Some(6), Some(6))
    );
    // floor: idle at its minimum 1, but never below the mapping's 8.
    assert_eq!(w.reserved("floor-consumer").await, Some(8));
    let message = w.status("floor").await.message.unwrap_or_default();
    assert!(
        message.contains("reserved concurrency kept ≥ 8"),
        "{message}"
    );

    // After the interval: the mapping steps up; Both raises both, the reserved first.
    w.run(t0 + 300.seconds()).expect("run 2");
    assert_eq!(w.maximum(&jobs, "jobs-consumer").await, Some(8));
    assert_eq!(w.maximum(&jobs, "jobs-visible").await, Some(2));
    assert_eq!(w.maximum(&capq, "capped").await, Some(20));
    assert_eq!(w.maximum(&bothq, "both-consumer").await, Some(10));
    assert_eq!(w.reserved("both-consumer").await, Some(10));
    assert_eq!(w.reserved("floor-consumer").await, Some(8));
    assert_eq!(w.reserved("jobs-consumer").await, None);
}
