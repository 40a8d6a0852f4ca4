//! Pause annotations and one owner per function, end to end: the real binary under the
//! Lambda emulator, moto, the control plane.
use std::time::Duration;

use jiff::{Timestamp, ToSpan};
use k8s_ops::crd::lambda_concurrency::ConcurrencyState::*;
use k8s_ops::crd::lambda_concurrency::LambdaConcurrencyScaler;
use k8s_ops::pause::SUITE;
use serde_json::json;
use testbed::harness::eventually;
use testbed::world::t0;

use crate::support::{self, Consumers, FUNCTION, counts};

/// - `…/paused: "true"` leaves the reserved concurrency as it is, run after run, with the
///   state PAUSED saying why; removing it resumes stepping.
/// - `…/paused-replicas: "3"` sets the mapping's maximum concurrency to 3 and holds it there
///   against a backlog.
/// - A bad value is the scaler's ERROR naming the annotation, a Warning Event, and no write.
/// - Two scalers on one function: the older owns it, whatever the names' order; the newer is
///   refused (ERROR, a Warning Event AmbiguousOwner) and its bounds are never applied, at
///   every run; once the older is deleted, the newer takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_holds_or_pins_and_the_oldest_scaler_owns_a_function() {
    let w = support::world().await;
    let (url, work) = w.create_queue("work").await;
    for f in ["held", "pinned", "bad", "contested"] {
        w.create_function(f).await;
        w.map(&work, f).await;
    }
    w.lambda()
        .put_function_concurrency()
        .function_name("held")
        .reserved_concurrent_executions(7)
        .send()
        .await
        .unwrap();
    w.send(&url, 50).await;
    let spec = |function: &str, min: i32, max: i32, step: i32, scale: &str| {
        json!({
            "awsSQSName": "work", "awsSQSMsgCountThreshold": 10, "awsLambdaName": function,
            "awsLambdaMinConcurrency": min, "awsLambdaMaxConcurrency": max,
            "awsLambdaStepConcurrency": step, "scale": scale
        })
    };
    w.create_scaler("held", spec("held", 1, 20, 5, "ReservedConcurrency"))
        .await;
    w.annotate("held", SUITE.paused, Some("true")).await;
    w.create_scaler("pinned", spec("pinned", 2, 20, 5, "Auto"))
        .await;
    w.annotate("pinned", SUITE.paused_replicas, Some("3")).await;
    w.create_scaler("bad", spec("bad", 2, 20, 5, "Auto")).await;
    w.annotate("bad", SUITE.paused_replicas, Some("lots")).await;
    // b-older first; a-newer (first by name) a second later.
    w.create_scaler("b-older", spec("contested", 2, 4, 1, "ReservedConcurrency"))
        .await;
    let older = w
        .object::<LambdaConcurrencyScaler>("default", "b-older")
        .await;
    let created = older.metadata.creation_timestamp.expect("stamped").0;
    eventually("the next second", Duration::from_secs(3), || async {
        (Timestamp::now() >= created + 1.second()).then_some(())
    })
    .await;
    w.create_scaler(
        "a-newer",
        spec("contested", 50, 60, 5, "ReservedConcurrency"),
    )
    .await;
    let _function = w.spawn(FUNCTION, &[]);
    let t0 = t0();

    let contested_never_newer = |at: &str, reserved: Option<i32>| {
        assert!(
            reserved.is_some_and(|r| r <= 4),
            "{at}: contested holds b-older's value, never a-newer's: {reserved:?}"
        );
    };
    let summary = w.run(t0).expect("run 1");
    assert_eq!(
        counts(&summary, ["paused", "errors", "adjusted"]),
        [Some(2), Some(2), Some(1)],
        "{summary}"
    );
    let s = w.status("held").await;
    assert_eq!((s.state, s.concurrency), (Some(Paused), Some(7)));
    let message = s.message.unwrap_or_default();
    assert!(
        message.starts_with("paused by annotation autoscaling.k8s-lambda.dev/paused:"),
        "{message}"
    );
    assert_eq!(w.reserved("held").await, Some(7));
    assert!(
        w.events("default", "held").await.is_empty(),
        "nothing done, nothing told"
    );
    let s = w.status("pinned").await;
    assert_eq!((s.state, s.concurrency), (Some(Paused), Some(3)));
    let message = s.message.unwrap_or_default();
    assert!(
        message.starts_with("held at 3 by annotation autoscaling.k8s-lambda.dev/paused-replicas"),
        "{message}"
    );
    assert_eq!(w.maximum(&work, "pinned").await, Some(3));
    refused(
        &w,
        "bad",
        "metadata.annotations[\"autoscaling.k8s-lambda.dev/paused-replicas\"]: expected a whole number ≥ 0, got \"lots\"",
        "InvalidPause",
    )
    .await;
    assert_eq!(
        w.maximum(&work, "bad").await,
        None,
        "a bad pause writes nothing"
    );
    refused(
        &w,
        "a-newer",
        "LambdaFunction contested is already scaled by LambdaConcurrencyScaler default/b-older; this LambdaConcurrencyScaler writes nothing while it does",
        "AmbiguousOwner",
    )
    .await;
    contested_never_newer("run 1", w.reserved("contested").await);
    assert_eq!(w.status("b-older").await.state, Some(Adjusting));

    // A backlog, the interval passed: the pauses hold, the owner steps, the newer waits.
    w.run(t0 + 600.seconds()).expect("run 2");
    assert_eq!(w.reserved("held").await, Some(7));
    assert_eq!(w.maximum(&work, "pinned").await, Some(3));
    assert_eq!(w.status("pinned").await.state, Some(Paused));
    contested_never_newer("run 2", w.reserved("contested").await);
    assert_eq!(w.reserved("contested").await, Some(4));

    // Unpaused, held steps; b-older gone, a-newer owns contested and brings it to its minimum.
    w.annotate("held", SUITE.paused, None).await;
    w.delete_scaler("b-older").await;
    let summary = w.run(t0 + 1200.seconds()).expect("run 3");
    assert_eq!(summary["errors"].as_u64(), Some(1), "bad only: {summary}");
    assert_eq!(w.reserved("held").await, Some(12));
    assert_eq!(w.status("held").await.state, Some(Adjusting));
    assert_eq!(w.reserved("contested").await, Some(50));
    assert_eq!(w.status("a-newer").await.state, Some(Adjusting));
}

/// Scaler `name` is in ERROR with `message`, told by exactly one Warning Event `reason`.
async fn refused(w: &testbed::world::World, name: &str, message: &str, reason: &str) {
    let s = w.status(name).await;
    assert_eq!(
        (s.state, s.message.as_deref()),
        (Some(Error), Some(message)),
        "{name}"
    );
    let events = w.events("default", name).await;
    assert_eq!(events.len(), 1, "{name}: {events:?}");
    assert_eq!(
        (events[0].0.as_str(), events[0].1.as_str()),
        ("Warning", reason),
        "{name}"
    );
}
