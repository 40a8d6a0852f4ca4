//! `make bench` figure: one run over 500 LambdaConcurrencyScalers against the stand-ins,
//! printed, never asserted. 100 queues shared by 5 scalers each, one function per scaler.
//! Run: `cargo test -p concurrency-scaler --test it -- bench:: --ignored --nocapture`
use std::time::Instant;

use jiff::ToSpan;
use serde_json::json;
use testbed::world::scaler_pass::BenchReport;
use testbed::world::t0;

use crate::support::{self, Consumers, FUNCTION};

const QUEUES: usize = 100;
const PER_QUEUE: usize = 5;
const REPORT: BenchReport = BenchReport {
    counts: &["adjusted", "pending", "errors"],
    queues: QUEUES,
    per_scaler: &["lambda"],
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures, run with --run-ignored"]
async fn one_run_over_500_scalers() {
    let w = support::world().await;
    let setup = Instant::now();
    for q in 0..QUEUES {
        let (url, arn) = w.create_queue(&format!("q{q}")).await;
        if q % 2 == 0 {
            let batch = (0..10).map(|i| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body("x")
                    .build()
                    .unwrap()
            });
            for _ in 0..2 {
                w.sqs()
                    .send_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(batch.clone().collect()))
                    .send()
                    .await
                    .unwrap();
            }
        }
        for s in 0..PER_QUEUE {
            let function = format!("f{q}-{s}");
            w.create_function(&function).await;
            w.map(&arn, &function).await;
            w.create_scaler(
                &function,
                json!({"awsSQSName": format!("q{q}"), "awsSQSMsgCountThreshold": 10, "awsLambdaName": function,
                       "awsLambdaMinConcurrency": 1, "awsLamndaMaxConcurrency": 20, "awsLambdaStepConcurrency": 2}),
            )
            .await;
        }
    }
    println!(
        "setup of {} scalers: {:?}",
        QUEUES * PER_QUEUE,
        setup.elapsed()
    );
    let _function = w.spawn(FUNCTION, &[]);
    let t0 = t0();
    for (label, at) in [
        ("cold: token, mapping checks, adoption of 500 functions", t0),
        (
            "warm: every step held by the interval (state → PENDING)",
            t0 + 60.seconds(),
        ),
        ("warm: steady, nothing to change", t0 + 120.seconds()),
        ("warm: half the scalers step up", t0 + 300.seconds()),
    ] {
        w.bench_pass(FUNCTION, label, at, &REPORT);
    }
}
