//! Cold start, whole (issue 19): spawn → the first invocation's response, and the peak RSS
//! after it, of each function on the local stand-ins (moto behind its gateway; the real
//! control plane verifying the EKS functions' tokens through moto's STS, each process's token
//! new: `bench::NEW_TOKEN_SECOND`),
//! each on its own fixture ([`fixtures`]), against three functions making its first remote
//! calls in the same run, interleaved ([`calls`]): (a) the floor extended with those calls
//! and the suite's SDK loader (`cold-floor-<service>`), (b) a straightforward Rust function
//! on aws-config's defaults (`cold-defaults-<service>`), (c) Python with boto3
//! (`crates/testbed/bench/boto3_function.py <call> <eks|k3s>`). A function's first remote
//! calls are its first AWS call and its first Kubernetes request (the same LIST or GET,
//! [`Subject::first_request`]), authenticated as its are (an EKS token; node-autoscaler a
//! service-account token read from SSM): a TLS connection to the API server, a credential
//! it checks and a read it serves, none of which (a), (b), (c) would pay with one AWS call.
//!
//! Each process is then invoked three more times with the same work, warm (their median
//! taken), so that what being cold cost can be told apart from what the invocation does
//! ([`Row::cold_extra`]): each function's first invocation does its whole job (several
//! Kubernetes reads and writes, besides its AWS call), while (a), (b) and (c) make its first
//! calls, so the whole cold starts compare unlike work; the cold extras compare like with
//! like.
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{ColdStart, first_invocation, median_iqr};
use crate::world::repo;

pub mod calls;
mod fixtures;

const RUST_RUNS: usize = 30;
const PYTHON_RUNS: usize = 10;
/// The `n` of a warm invocation's event is its cold one's plus a multiple of this: never a
/// cold one's.
const WARM: usize = 1_000;
/// Warm invocations per process, whose median is the warm time a cold start is compared
/// with ([`ColdStart::warm`](super::ColdStart::warm)).
const WARM_RUNS: usize = 3;

/// A function and the first remote calls its comparison functions make.
pub struct Subject {
    pub function: &'static str,
    /// The call, as the rows name it.
    pub call: &'static str,
    /// The suffix of (a)'s and (b)'s binaries: `cold-floor-<service>`.
    pub service: &'static str,
    /// (c)'s call: `boto3_function.py <python>`.
    pub python: &'static str,
    /// Its first Kubernetes request (a GET path, read from its code), which (a), (b) and (c)
    /// make too (`KUBE_FIRST_REQUEST`).
    pub first_request: &'static str,
    /// How its first Kubernetes request is authenticated, as (a), (b) and (c) do theirs:
    /// `eks`, a presigned EKS token; `k3s` (node-autoscaler), a service-account token read
    /// from SSM.
    pub cluster: &'static str,
}

/// Every function of the suite, in the order the bench measures them.
pub const SUBJECTS: [Subject; 6] = [
    Subject {
        function: "queue-scaler",
        first_request: "/apis/autoscaling.k8s-lambda.dev/v1alpha1/sqsqueuescalers?limit=500",
        call: "SQS GetQueueAttributes",
        service: "sqs",
        python: "sqs",
        cluster: "eks",
    },
    Subject {
        function: "alarm-scaler",
        first_request: "/apis/containerinsights.eks.com/v1/k8smetricalarms?limit=500",
        call: "CloudWatch SetAlarmState",
        service: "cloudwatch",
        python: "cloudwatch-set-alarm-state",
        cluster: "eks",
    },
    Subject {
        function: "alarm-sync",
        first_request: "/apis/containerinsights.eks.com/v1/k8smetricalarms?limit=500",
        call: "CloudWatch DescribeAlarms",
        service: "cloudwatch",
        python: "cloudwatch-describe-alarms",
        cluster: "eks",
    },
    Subject {
        function: "iam-sync",
        first_request: "/api/v1/namespaces/kube-system/configmaps/iam-sync-groups",
        call: "IAM GetGroup",
        service: "iam",
        python: "iam",
        cluster: "eks",
    },
    Subject {
        function: "concurrency-scaler",
        first_request: "/apis/aws.operators.jittakal.io/v1alpha1/lambdaconcurrencyscalers?limit=500",
        call: "SQS GetQueueUrl (first run) + GetQueueAttributes + Lambda GetFunctionConcurrency",
        service: "sqs-lambda",
        python: "sqs-lambda",
        cluster: "eks",
    },
    Subject {
        function: "node-autoscaler",
        first_request: "/api/v1/nodes",
        call: "DynamoDB UpdateItem (lease)",
        service: "dynamodb",
        python: "dynamodb",
        cluster: "k3s",
    },
];

/// One row of a comparison: its name and its samples, sorted.
pub struct Row {
    pub name: String,
    pub to_response: Vec<Duration>,
    /// Each run's cold extra: its whole cold start less the same work done warm.
    pub cold_extra: Vec<Duration>,
    pub peak_rss_kib: Vec<u64>,
    /// The last measured run's response: what each steady run did.
    pub response: String,
}

impl Row {
    /// Medians: the whole cold start, the cold extra, the peak RSS.
    pub fn median(&self) -> (Duration, Duration, u64) {
        (
            median_iqr(&self.to_response).0,
            median_iqr(&self.cold_extra).0,
            median_iqr(&self.peak_rss_kib).0,
        )
    }
}

/// Each function's rows (the function, a, b, c), measured with the binaries of
/// `release_dir`, one function's stand-ins at a time; a function whose stand-ins or runs
/// failed has the error instead.
pub fn measure(release_dir: &Path) -> Vec<(&'static Subject, Result<Vec<Row>, String>)> {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return SUBJECTS.iter().map(|s| (s, Err(e.to_string()))).collect(),
    };
    let _entered = runtime.enter();
    // `SUITE_BENCH_ONLY=<function>`: that function's comparison alone (a quicker look at
    // one row; the targets of the others then read as missed).
    let only = std::env::var("SUITE_BENCH_ONLY").ok();
    SUBJECTS
        .iter()
        .filter(|s| only.as_deref().is_none_or(|f| f == s.function))
        .map(|subject| {
            let rows = runtime
                .block_on(fixtures::start(subject.function))
                .and_then(|stand| compare(release_dir, subject, &stand));
            (subject, rows)
        })
        .collect()
}

/// The function and (a), (b), (c) on `stand`, interleaved: one unmeasured run each first
/// (the function's first run converges its fixture; later ones are steady), then
/// [`RUST_RUNS`] rounds ([`PYTHON_RUNS`] for Python).
fn compare(
    release_dir: &Path,
    subject: &Subject,
    stand: &fixtures::Stand,
) -> Result<Vec<Row>, String> {
    let mut with_call = stand.function_env.clone();
    with_call.extend(stand.call_env.iter().cloned());
    with_call.push(("PATH".into(), std::env::var("PATH").unwrap_or_default()));
    with_call.push(("KUBE_FIRST_REQUEST".into(), subject.first_request.into()));
    let command = |program: &Path, args: &[&str], env: &[(String, String)]| {
        let mut c = Command::new(program);
        c.args(args).env_clear().envs(env.iter().cloned());
        c
    };
    let bin = |kind: &str| release_dir.join(format!("cold-{kind}-{}", subject.service));
    let script = repo("crates/testbed/bench/boto3_function.py");
    let (call, path) = (subject.call, subject.first_request);
    let call = match subject.cluster {
        "eks" => format!("{call} + GET {path} (EKS token)"),
        _ => format!("{call} + SSM GetParameter + GET {path}"),
    };
    let script = script.to_string_lossy();
    let python_args = [&*script, subject.python, subject.cluster];
    let candidates: Vec<(String, Command, usize)> = vec![
        (
            subject.function.to_owned(),
            command(
                &release_dir.join(subject.function),
                &[],
                &stand.function_env,
            ),
            RUST_RUNS,
        ),
        (
            format!("(a) floor + {call}"),
            command(&bin("floor"), &[], &with_call),
            RUST_RUNS,
        ),
        (
            format!("(b) aws-config defaults + {call}"),
            command(&bin("defaults"), &[], &with_call),
            RUST_RUNS,
        ),
        (
            format!("(c) Python boto3 + {call}"),
            command(Path::new("python3"), &python_args, &with_call),
            PYTHON_RUNS,
        ),
    ];
    let mut rows: Vec<Row> = candidates
        .iter()
        .map(|(name, _, _)| Row {
            name: name.clone(),
            to_response: Vec::new(),
            cold_extra: Vec::new(),
            peak_rss_kib: Vec::new(),
            response: String::new(),
        })
        .collect();
    let once = |c: &Command, n: usize| -> Result<ColdStart, String> {
        let mut fresh = Command::new(c.get_program());
        fresh.args(c.get_args()).env_clear();
        fresh.envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))));
        // Each warm invocation's event is another of the same kind (a new notification for
        // alarm-scaler, so that it is not a duplicate delivery doing less).
        let warm: Vec<_> = (1..=WARM_RUNS)
            .map(|k| (stand.event)(n + k * WARM))
            .collect();
        first_invocation(fresh, &(stand.event)(n), &warm).map_err(|e| e.to_string())
    };
    for (_, c, _) in &candidates {
        once(c, 0)?;
    }
    // `SUITE_BENCH_SAMPLES=1`: every run on stderr, so a median's spread can be read.
    let print_samples = std::env::var_os("SUITE_BENCH_SAMPLES").is_some();
    for i in 0..RUST_RUNS {
        for ((name, c, runs), row) in candidates.iter().zip(rows.iter_mut()) {
            if i < *runs {
                let s = once(c, i + 1)?;
                if print_samples {
                    let ms = |d: Duration| d.as_secs_f64() * 1e3;
                    eprintln!(
                        "sample\t{}\t{name}\t{i}\tcold {:.2}\twarm {:.2}\textra {:.2}",
                        subject.function,
                        ms(s.to_response),
                        ms(s.warm),
                        ms(s.cold_extra())
                    );
                }
                row.to_response.push(s.to_response);
                row.cold_extra.push(s.cold_extra());
                row.peak_rss_kib.push(s.peak_rss_kib);
                row.response = s.response;
            }
        }
    }
    for row in &mut rows {
        row.to_response.sort();
        row.cold_extra.sort();
        row.peak_rss_kib.sort();
    }
    Ok(rows)
}
