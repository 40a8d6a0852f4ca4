//! concurrency-scaler end to end: the real binary under the Lambda emulator, moto for SQS,
//! Lambda and STS, the testbed API server authenticating the function's EKS token and
//! authorizing it with `infra/k8s/rbac/concurrency-scaler.yaml` only.
use jiff::ToSpan;
use k8s_ops::crd::lambda_concurrency::ConcurrencyState::{self, *};
use serde_json::json;
use testbed::world::{World, t0};

use crate::support::{self, Consumers, FUNCTION, counts};

async fn state(w: &World, name: &str) -> (Option<ConcurrencyState>, Option<i32>, String) {
    let s = w.status(name).await;
    (s.state, s.concurrency, s.message.unwrap_or_default())
}

#[test]
fn steps_with_the_queue_honours_the_interval_and_per_scaler_errors_recover() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(scenario());
}

async fn scenario() {
    let w = support::world().await;
    let (orders_url, orders_arn) = w.create_queue("orders").await;
    let (_, other_arn) = w.create_queue("other").await;
    w.create_function("orders-consumer").await;
    // One function per scaler: a second scaler on a function is refused (pause_and_owner.rs).
    w.create_function("late-queue-consumer").await;
    w.create_function("other-consumer").await;
    w.create_function("big-consumer").await;
    w.create_function("hog").await;
    w.map(&orders_arn, "orders-consumer").await;
    w.map(&orders_arn, "big-consumer").await;
    // Another function holds 880 of the account's 1000: 120 unreserved, floor 100.
    w.lambda()
        .put_function_concurrency()
        .function_name("hog")
        .reserved_concurrent_executions(880)
        .send()
        .await
        .unwrap();

    // The original operator's manifest, misspelt key and all, scaling reserved concurrency as
    // the original did (the default, Auto, scales the mapping: tests/it/scaling.rs).
    let original = json!({
        "awsSQSName": "orders", "awsSQSMsgCountThreshold": 10, "awsLambdaName": "orders-consumer",
        "awsLambdaMinConcurrency": 2, "awsLamndaMaxConcurrency": 8, "awsLambdaStepConcurrency": 3,
        "scale": "ReservedConcurrency"
    });
    w.create_scaler("orders", original).await;
    let broken = |queue: &str, function: &str| {
        json!({
            "awsSQSName": queue, "awsSQSMsgCountThreshold": 10, "awsLambdaName": function,
            "awsLambdaMinConcurrency": 1, "awsLambdaMaxConcurrency": 5, "awsLambdaStepConcurrency": 1,
            "scale": "ReservedConcurrency"
        })
    };
    w.create_scaler("missing-queue", broken("late-queue", "late-queue-consumer"))
        .await;
    w.create_scaler("missing-function", broken("orders", "late-function"))
        .await;
    w.create_scaler("unmapped", broken("other", "other-consumer"))
        .await;
    w.create_scaler("floor", json!({
        "awsSQSName": "orders", "awsSQSMsgCountThreshold": 10, "awsLambdaName": "big-consumer",
        "awsLambdaMinConcurrency": 0, "awsLambdaMaxConcurrency": 100, "awsLambdaStepConcurrency": 30,
        "scale": "ReservedConcurrency"
    }))
    .await;
    w.send(&orders_url, 25).await;
    let t0 = t0();

    // DRY_RUN decides and logs, writes nothing.
    {
        let mut dry = w.spawn(FUNCTION, &[("DRY_RUN", "true")]);
        let summary = w.run(t0).expect("dry run");
        assert_eq!(summary["dryRun"], true, "{summary}");
        assert_eq!(
            counts(&summary, ["scalers", "adjusted"]),
            [Some(5), Some(2)],
            "{summary}"
        );
        let line = dry
            .wait_for_json(std::time::Duration::from_secs(10), |v| {
                v["fields"]["scaler"] == "default/orders" && v["fields"]["decision"] == "adopt"
            })
            .expect("a decision line for orders");
        assert_eq!(
            (
                line["fields"]["to"].as_i64(),
                line["fields"]["dry_run"].as_bool()
            ),
            (Some(5), Some(true)),
            "{line}"
        );
        assert_eq!(w.reserved("orders-consumer").await, None);
        assert_eq!(w.status("orders").await, Default::default());
        assert!(w.events("default", "orders").await.is_empty());
        dry.kill();
    }
    let _function = w.spawn(FUNCTION, &[]);

    // Run 1: 25 > 10. Unset concurrency is adopted at min + step; the others fail alone.
    let summary = w.run(t0).expect("run 1");
    assert_eq!(
        counts(&summary, ["scalers", "adjusted", "errors"]),
        [Some(5), Some(1), Some(4)],
        "{summary}"
    );
    assert_eq!(w.reserved("orders-consumer").await, Some(5));
    let s = w.status("orders").await;
    assert_eq!(
        (s.state, s.concurrency, s.queue_depth),
        (Some(Adjusting), Some(5), Some(25))
    );
    assert_eq!(s.adjusted_timestamp.map(|t| t.0), Some(t0));
    assert_eq!(
        (s.observed_generation, s.verified_generation),
        (Some(1), Some(1))
    );
    let (kind, reason, message) = w.events("default", "orders").await.pop().expect("an Event");
    assert_eq!(
        (kind.as_str(), reason.as_str()),
        ("Normal", "SuccessfulAdjust")
    );
    assert!(
        message.starts_with("New reserved concurrency: 5; reason: no reserved concurrency set yet"),
        "{message}"
    );

    for (name, reason, needle) in [
        (
            "missing-queue",
            "QueueNotFound",
            "queue late-queue: does not exist",
        ),
        (
            "missing-function",
            "FunctionNotFound",
            "function late-function: not found",
        ),
        (
            "unmapped",
            "NoEventSourceMapping",
            "function other-consumer: no event source mapping from queue arn:aws:sqs:us-east-1:123456789012:other",
        ),
        (
            "floor",
            "AccountConcurrencyFloor",
            "function big-consumer: reserving 30 would take the account's unreserved concurrency below its floor",
        ),
    ] {
        let (state, _, message) = state(&w, name).await;
        assert_eq!(state, Some(Error), "{name}: {message}");
        assert!(message.starts_with(needle), "{name}: {message}");
        let events = w.events("default", name).await;
        assert_eq!(events.len(), 1, "{name}: {events:?}");
        assert_eq!(
            (events[0].0.as_str(), events[0].1.as_str()),
            ("Warning", reason),
            "{name}"
        );
    }
    assert_eq!(
        w.reserved("big-consumer").await,
        None,
        "the refused value was not applied"
    );

    // Run 2, a minute later: still 25, but the 5-minute interval holds the next step.
    let summary = w.run(t0 + 60.seconds()).expect("run 2");
    assert_eq!(summary["pending"].as_u64(), Some(1), "{summary}");
    let (st, c, message) = state(&w, "orders").await;
    assert_eq!((st, c), (Some(Pending), Some(5)));
    assert!(
        message.contains(&format!("5 → 8 waits until {}", t0 + 300.seconds())),
        "{message}"
    );
    assert_eq!(
        w.events("default", "missing-queue").await.len(),
        1,
        "a lasting error is not re-announced"
    );

    // Run 3, at the interval: steps to the max.
    w.run(t0 + 300.seconds()).expect("run 3");
    assert_eq!(w.reserved("orders-consumer").await, Some(8));
    assert_eq!(state(&w, "orders").await.0, Some(Adjusting));

    // The queue drains; steps back down, one interval apart, to the min, then rests there.
    w.sqs()
        .purge_queue()
        .queue_url(&orders_url)
        .send()
        .await
        .unwrap();
    w.run(t0 + 360.seconds()).expect("run 4");
    assert_eq!(
        (
            w.reserved("orders-consumer").await,
            state(&w, "orders").await.0
        ),
        (Some(8), Some(Pending))
    );
    w.run(t0 + 600.seconds()).expect("run 5");
    assert_eq!(w.reserved("orders-consumer").await, Some(5));
    w.run(t0 + 900.seconds()).expect("run 6");
    assert_eq!(w.reserved("orders-consumer").await, Some(2));

    // Fix every cause: the queue and function appear, the mapping is made, the hog lets go.
    let (_, late_arn) = w.create_queue("late-queue").await;
    w.map(&late_arn, "late-queue-consumer").await;
    w.create_function("late-function").await;
    w.map(&orders_arn, "late-function").await;
    w.map(&other_arn, "other-consumer").await;
    w.lambda()
        .delete_function_concurrency()
        .function_name("hog")
        .send()
        .await
        .unwrap();
    let summary = w.run(t0 + 1200.seconds()).expect("run 7");
    assert_eq!(summary["errors"].as_u64(), Some(0), "{summary}");
    let (st, c, _) = state(&w, "orders").await;
    assert_eq!((st, c), (Some(Adjusted), Some(2)), "rests at the min");
    for name in ["missing-queue", "missing-function", "unmapped", "floor"] {
        let (st, _, message) = state(&w, name).await;
        assert!(
            matches!(st, Some(Adjusting | Adjusted)),
            "{name} recovered: {st:?} {message}"
        );
    }
    // Adopted at their min (the queue is empty now).
    assert_eq!(w.reserved("late-function").await, Some(1));
    assert_eq!(w.reserved("big-consumer").await, Some(0));
}
