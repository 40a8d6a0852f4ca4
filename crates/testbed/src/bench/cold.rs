//! Cold start, whole (issue 19): spawn → the first invocation's response, and the peak RSS
//! after it, of queue-scaler on the local stand-ins (moto behind its gateway, the real
//! control plane verifying its EKS token through moto's STS), against three functions making
//! its first AWS call (SQS GetQueueAttributes) in the same run, interleaved:
//! (a) the floor extended with that call and the suite's SDK loader (`cold-floor-sqs`),
//! (b) a straightforward Rust function on aws-config's defaults (`cold-defaults-sqs`),
//! (c) Python with boto3 (`crates/testbed/bench/boto3_function.py`).
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use super::{ColdStart, first_invocation, median_iqr};
use crate::world::{World, repo, scheduled};

const FUNCTION: &str = "queue-scaler";
const RUST_RUNS: usize = 20;
const PYTHON_RUNS: usize = 10;

/// One row of the comparison: its name and its samples, sorted.
pub struct Row {
    pub name: &'static str,
    pub to_response: Vec<Duration>,
    pub peak_rss_kib: Vec<u64>,
}

impl Row {
    pub fn median(&self) -> (Duration, u64) {
        (
            median_iqr(&self.to_response).0,
            median_iqr(&self.peak_rss_kib).0,
        )
    }
}

/// The four rows (function, a, b, c), measured in the same run with the binaries of
/// `release_dir`.
pub fn measure(release_dir: &Path) -> Result<Vec<Row>, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let _entered = runtime.enter();
    // Every cold start's token is verified anew, as a new sandbox's would be.
    let w = runtime
        .block_on(
            World::builder()
                .function(FUNCTION)
                .manifests([
                    "infra/k8s/crds/sqsqueuescalers.autoscaling.k8s-lambda.dev.yaml",
                    "infra/k8s/rbac/queue-scaler.yaml",
                ])
                .token_cache_ttl(Duration::ZERO)
                .try_start(),
        )
        .map_err(|e| e.to_string())?;
    let queue = runtime.block_on(async {
        let sqs = aws_sdk_sqs::Client::new(&w.aws);
        let url = crate::world::sqs::create_queue(&sqs, "jobs").await;
        crate::world::sqs::send(&sqs, &url, 12).await;
        w.create_deployment("default", "worker", 3).await;
        url
    });
    let scaler = json!({
        "apiVersion": "autoscaling.k8s-lambda.dev/v1alpha1", "kind": "SqsQueueScaler",
        "metadata": {"name": "worker", "namespace": "default"},
        "spec": {"scaleTargetRef": {"name": "worker"}, "queueURL": queue,
                 "queueLength": 5, "maxReplicaCount": 5},
    });
    w.cluster.load_yaml(&scaler.to_string())?;
    let mut env = w.moto.env_for(w.credentials(FUNCTION));
    env.extend(w.cluster.cluster_env());
    env.push(("QUEUE_URL".into(), queue));
    env.push(("PATH".into(), std::env::var("PATH").unwrap_or_default()));
    let command = |program: &Path, args: &[&str]| {
        let mut c = Command::new(program);
        c.args(args).env_clear().envs(env.iter().cloned());
        c
    };
    let event = scheduled(jiff::Timestamp::now());
    let candidates: [(&'static str, Command, usize); 4] = [
        (
            FUNCTION,
            command(&release_dir.join(FUNCTION), &[]),
            RUST_RUNS,
        ),
        (
            "(a) floor + GetQueueAttributes",
            command(&release_dir.join("cold-floor-sqs"), &[]),
            RUST_RUNS,
        ),
        (
            "(b) aws-config defaults + GetQueueAttributes",
            command(&release_dir.join("cold-defaults-sqs"), &[]),
            RUST_RUNS,
        ),
        (
            "(c) Python boto3 + GetQueueAttributes",
            command(
                Path::new("python3"),
                &[&repo("crates/testbed/bench/boto3_function.py").to_string_lossy()],
            ),
            PYTHON_RUNS,
        ),
    ];
    let mut rows: Vec<Row> = candidates
        .iter()
        .map(|(name, _, _)| Row {
            name,
            to_response: Vec::new(),
            peak_rss_kib: Vec::new(),
        })
        .collect();
    // One unmeasured run each first: the function's first run rescales, later ones are steady.
    let once = |c: &Command| -> Result<ColdStart, String> {
        let mut fresh = Command::new(c.get_program());
        fresh.args(c.get_args()).env_clear();
        fresh.envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))));
        first_invocation(fresh, &event).map_err(|e| e.to_string())
    };
    for (_, c, _) in &candidates {
        once(c)?;
    }
    for i in 0..RUST_RUNS {
        for ((_, c, runs), row) in candidates.iter().zip(rows.iter_mut()) {
            if i < *runs {
                let s = once(c)?;
                row.to_response.push(s.to_response);
                row.peak_rss_kib.push(s.peak_rss_kib);
            }
        }
    }
    for row in &mut rows {
        row.to_response.sort();
        row.peak_rss_kib.sort();
    }
    drop(w);
    Ok(rows)
}
