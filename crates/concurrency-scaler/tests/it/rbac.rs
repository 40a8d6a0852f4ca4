//! concurrency-scaler's shipped RBAC is minimal: the real binary under the Lambda emulator,
//! moto for SQS and Lambda, the testbed API server authorizing the function with the
//! ClusterRole of `infra/k8s/rbac/concurrency-scaler.yaml` less one grant at a time.
use jiff::ToSpan;
use k8s_ops::crd::lambda_concurrency::ConcurrencyState;
use serde_json::json;
use testbed::world::{repo, t0};

use crate::support::{self, Consumers, FUNCTION};

/// Each grant — one verb on one resource — is needed: with the ClusterRole holding every
/// grant but that one, a run that would adjust the function's reserved concurrency fails on
/// exactly that grant, as the function's failure behaviour says (the run fails; or, for
/// Events, which are best effort, the adjustment happens unrecorded), and changes nothing it
/// should not. With every grant back, the run adjusts and records it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rbac_grant_is_needed() {
    use testbed::harness::rbac;
    const ROLE: &str = "lambda:concurrency-scaler";
    let w = support::world().await;
    let (orders_url, orders_arn) = w.create_queue("orders").await;
    w.create_function("orders-consumer").await;
    w.map(&orders_arn, "orders-consumer").await;
    w.create_scaler(
        "orders",
        json!({
            "awsSQSName": "orders", "awsSQSMsgCountThreshold": 10, "awsLambdaName": "orders-consumer",
            "awsLambdaMinConcurrency": 2, "awsLambdaMaxConcurrency": 8, "awsLambdaStepConcurrency": 3
        }),
    )
    .await;
    // 25 > 10: a run finding the concurrency unset adopts the function at min + step = 5.
    // Each run starts from unset.
    w.send(&orders_url, 25).await;
    let mut function = w.spawn(FUNCTION, &[]);
    let rules = rbac::rules_of(repo("infra/k8s/rbac/concurrency-scaler.yaml")).unwrap();
    let grants = rbac::grants(&rules);
    assert_eq!(grants.len(), 3, "{grants:?}");
    let unset = || async {
        w.lambda()
            .delete_function_concurrency()
            .function_name("orders-consumer")
            .send()
            .await
            .expect("concurrency unset");
    };
    // Well ahead of the clock, so each run's event time is the time it decides with (and
    // names its Events with).
    let t0 = t0() + 3600.seconds();

    for (i, grant) in grants.iter().enumerate() {
        let what = grant.describe();
        rbac::set_rules(&w.admin, ROLE, rbac::all_but(&grants, i))
            .await
            .unwrap();
        unset().await;
        let at = t0 + (60 * i as i64).seconds();
        let status_before = w.status("orders").await;
        let events_before = w.events("default", "orders").await.len();
        let result = w.run(at);
        let events = w.events("default", "orders").await;
        let new_events = &events[events_before..];
        let reserved = w.reserved("orders-consumer").await;
        let status = w.status("orders").await;
        match (grant.verb.as_str(), grant.resource.as_str()) {
            // Without the list the run fails before reading any queue or function.
            ("list", "lambdaconcurrencyscalers") => {
                let err = result.expect_err(&what);
                assert!(
                    rbac::mentions(&err, "listing LambdaConcurrencyScalers")
                        && grant.denied_in(&err),
                    "{what}: {err}"
                );
                assert_eq!(reserved, None, "{what}");
                assert_eq!(status, status_before, "{what}");
                assert!(new_events.is_empty(), "{what}: {new_events:?}");
            }
            // Without the status patch the outcome cannot be recorded: the run fails (the
            // schedule retries it). The adjustment itself comes before the status write.
            ("patch", "lambdaconcurrencyscalers/status") => {
                let err = result.expect_err(&what);
                assert!(
                    rbac::mentions(&err, "status of 1 of 1 scalers could not be written")
                        && grant.denied_in(&err),
                    "{what}: {err}"
                );
                assert_eq!(reserved, Some(5), "{what}");
                assert_eq!(status, status_before, "{what}: status not written");
                assert_eq!(new_events.len(), 1, "{what}: {new_events:?}");
                assert_eq!(new_events[0].1, "SuccessfulAdjust", "{what}");
            }
            // Events are best effort: the adjustment happens and its status is written, but
            // nothing records it as an Event; the function logs why.
            ("create", "events") => {
                let summary = result.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(summary["adjusted"].as_u64(), Some(1), "{what}: {summary}");
                assert_eq!(reserved, Some(5), "{what}");
                assert_eq!(
                    (status.state, status.concurrency),
                    (Some(ConcurrencyState::Adjusting), Some(5)),
                    "{what}"
                );
                assert_eq!(status.adjusted_timestamp.map(|t| t.0), Some(at), "{what}");
                assert!(new_events.is_empty(), "{what}: {new_events:?}");
                tokio::task::block_in_place(|| grant.unrecorded_event_logged(&mut function))
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
            }
            _ => panic!("{what}: a grant this test has no flow for; add its case"),
        }
    }

    // Every grant back: the run adjusts, writes its status and records the Event.
    rbac::set_rules(&w.admin, ROLE, rbac::all(&grants))
        .await
        .unwrap();
    unset().await;
    let at = t0 + (60 * grants.len() as i64).seconds();
    let events_before = w.events("default", "orders").await.len();
    let summary = w.run(at).expect("every grant");
    assert_eq!(
        (summary["adjusted"].as_u64(), summary["errors"].as_u64()),
        (Some(1), Some(0)),
        "{summary}"
    );
    assert_eq!(w.reserved("orders-consumer").await, Some(5));
    let status = w.status("orders").await;
    assert_eq!(
        (status.state, status.concurrency),
        (Some(ConcurrencyState::Adjusting), Some(5))
    );
    assert_eq!(status.adjusted_timestamp.map(|t| t.0), Some(at));
    let events = w.events("default", "orders").await;
    assert_eq!(events.len(), events_before + 1, "{events:?}");
    assert_eq!(events[events_before].1, "SuccessfulAdjust");
}
