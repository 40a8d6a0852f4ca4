//! `make bench` figure: one run over 500 SqsQueueScalers against the stand-ins, printed,
//! never asserted. Queues are shared by 5 scalers each, one Deployment per scaler.
//! Run: `cargo test -p queue-scaler --test it -- bench:: --ignored --nocapture` (no nextest
//! timeout: creating 500 scalers and Deployments takes a while);
//! `BENCH_SCALERS=N` for another size.
use std::time::Instant;

use jiff::ToSpan;
use testbed::world::scaler_pass::BenchReport;
use testbed::world::t0;

use crate::support::{self, FUNCTION, Scalers, create_queue};

const PER_QUEUE: usize = 5;

fn queues() -> usize {
    std::env::var("BENCH_SCALERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(500)
        / PER_QUEUE
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures, run with --ignored"]
async fn one_run_over_500_scalers() {
    let w = support::world().await;
    let setup = Instant::now();
    let mut urls = Vec::new();
    // One multi-document server-side apply rather than a call per object.
    let mut manifests = String::new();
    for q in 0..queues() {
        let url = create_queue(&w.sqs(), &format!("q{q}")).await;
        if q % 2 == 0 {
            // 15 messages / 10 per replica: 2 replicas.
            for n in [10, 5] {
                let batch = (0..n)
                    .map(|i| {
                        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                            .id(format!("m{i}"))
                            .message_body("x")
                            .build()
                            .unwrap()
                    })
                    .collect();
                w.sqs()
                    .send_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(batch))
                    .send()
                    .await
                    .unwrap();
            }
        }
        for s in 0..PER_QUEUE {
            let name = format!("d{q}-{s}");
            manifests.push_str(&format!(
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  replicas: 0\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: app, image: busybox}}]}}\n---\napiVersion: autoscaling.k8s-lambda.dev/v1alpha1\nkind: SqsQueueScaler\nmetadata: {{name: {name}, namespace: default}}\nspec: {{scaleTargetRef: {{name: {name}}}, queueURL: \"{url}\", queueLength: 10, maxReplicaCount: 3}}\n"
            ));
        }
        urls.push(url);
    }
    w.cluster
        .load_yaml(&manifests)
        .expect("deployments and scalers");
    let scalers = queues() * PER_QUEUE;
    println!("setup of {scalers} scalers: {:?}", setup.elapsed());

    // What the API server costs per request at this size: the floor under the function's
    // wall time.
    let deployments = w.deployments("default");
    let began = Instant::now();
    for _ in 0..10 {
        deployments.get_scale("d1-0").await.unwrap();
    }
    let read = began.elapsed() / 10;
    let began = Instant::now();
    for to in [1, 0].repeat(5) {
        k8s_ops::scale::rescale(&deployments, "d1-0", |_| Some(to))
            .await
            .unwrap();
    }
    println!(
        "  stand-in (admin token): {read:?} per scale read, {:?} per read + write",
        began.elapsed() / 10
    );

    let _function = w.spawn(FUNCTION, &[]);
    let t0 = t0();
    let runs = [
        (
            "cold: token, half scale from zero, every status written",
            t0,
        ),
        (
            "warm: no rescale; the scaled half's status says why anew",
            t0 + 60.seconds(),
        ),
        (
            "warm: steady, no rescale (the scaled half's behavior history grows)",
            t0 + 120.seconds(),
        ),
        // Past HPA's default 300 s scale-down window over the last recommendation of 2.
        (
            "warm: queues drained, half scale down to 1",
            t0 + 420.seconds(),
        ),
    ];
    for (i, (label, at)) in runs.into_iter().enumerate() {
        if i == 3 {
            for url in &urls {
                w.sqs().purge_queue().queue_url(url).send().await.unwrap();
            }
        }
        w.bench_pass(
            FUNCTION,
            label,
            at,
            &BenchReport {
                counts: &["rescaled", "errors"],
                queues: queues(),
                per_scaler: &[],
            },
        );
    }
}
