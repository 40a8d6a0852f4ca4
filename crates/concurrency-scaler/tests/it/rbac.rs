//! concurrency-scaler's shipped RBAC is minimal: the real binary under the Lambda emulator,
//! moto for SQS and Lambda, the testbed API server authorizing the function with the
//! ClusterRole of `infra/k8s/rbac/concurrency-scaler.yaml` less one grant at a time.
use jiff::{Timestamp, ToSpan};
use k8s_ops::crd::lambda_concurrency::{ConcurrencyState, LambdaConcurrencyScalerStatus};
use serde_json::json;
use testbed::world::scaler_pass::{self, ScalerPass};
use testbed::world::{World, t0};

use crate::support::{self, Consumers, FUNCTION};

/// The scaler `orders` of function `orders-consumer`: every run from unset concurrency adopts
/// the function at min + step = 5.
struct Orders<'w>(&'w World);

impl ScalerPass for Orders<'_> {
    type Target = Option<i32>;
    type Status = LambdaConcurrencyScalerStatus;
    const KINDS: &'static str = "LambdaConcurrencyScalers";
    const CHANGES: &'static str = "adjusted";
    const REASON: &'static str = "SuccessfulAdjust";

    async fn reset(&self) {
        self.0
            .lambda()
            .delete_function_concurrency()
            .function_name("orders-consumer")
            .send()
            .await
            .expect("concurrency unset");
    }

    async fn target(&self) -> Option<i32> {
        self.0.reserved("orders-consumer").await
    }

    fn changed(&self) -> Option<i32> {
        Some(5)
    }

    async fn status(&self) -> LambdaConcurrencyScalerStatus {
        self.0.status("orders").await
    }

    async fn records_change(
        &self,
        status: &LambdaConcurrencyScalerStatus,
        at: Timestamp,
        what: &str,
    ) {
        assert_eq!(
            (status.state, status.concurrency),
            (Some(ConcurrencyState::Adjusting), Some(5)),
            "{what}"
        );
        assert_eq!(
            status.adjusted_timestamp.as_ref().map(|t| t.0),
            Some(at),
            "{what}"
        );
    }
}

/// Each grant — one verb on one resource — is needed: with the ClusterRole holding every
/// grant but that one, a run that would adjust the function's reserved concurrency fails on
/// exactly that grant, as the function's failure behaviour says (the run fails; or, for
/// Events, which are best effort, the adjustment happens unrecorded), and changes nothing it
/// should not. With every grant back, the run adjusts and records it
/// ([`scaler_pass::every_grant_is_needed`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rbac_grant_is_needed() {
    let w = support::world().await;
    let (orders_url, orders_arn) = w.create_queue("orders").await;
    w.create_function("orders-consumer").await;
    w.map(&orders_arn, "orders-consumer").await;
    w.create_scaler(
        "orders",
        json!({
            "awsSQSName": "orders", "awsSQSMsgCountThreshold": 10, "awsLambdaName": "orders-consumer",
            "awsLambdaMinConcurrency": 2, "awsLambdaMaxConcurrency": 8, "awsLambdaStepConcurrency": 3,
            "scale": "ReservedConcurrency"
        }),
    )
    .await;
    // 25 > 10: a run finding the concurrency unset adopts the function at min + step = 5.
    // Each run starts from unset.
    w.send(&orders_url, 25).await;
    let mut function = w.spawn(FUNCTION, &[]);
    let experiment = w.grants_of(FUNCTION, ("default", "orders"), t0() + 3600.seconds());
    assert_eq!(experiment.grants.len(), 3, "{:?}", experiment.grants);
    scaler_pass::every_grant_is_needed(&experiment, &Orders(&w), &mut function, async |_, run| {
        panic!(
            "{}: a grant this test has no flow for; add its case",
            run.what
        )
    })
    .await;
}
