//! What queue-scaler's and concurrency-scaler's tests share: both functions run sqs_depth's
//! scaler pass (list the scalers, read each queue once, carry out each decision, write each
//! scaler's status and an Event, summarise), so a missing grant breaks both the same way,
//! and `make bench` reports a run of either the same way.
use std::fmt::Debug;
use std::time::Instant;

use jiff::Timestamp;

use super::grants::{Experiment, Run};
use super::{World, scheduled};
use crate::harness::Supervised;
use crate::harness::rbac::Grant;

/// The pass's failure when a scaler's status cannot be written (one scaler in the world).
const STATUS_UNWRITTEN: &str = "status of 1 of 1 scalers could not be written";

/// One scaler of a pass and its target, set up so that every run from [`reset`] changes the
/// target to [`changed`] and records it.
///
/// [`reset`]: ScalerPass::reset
/// [`changed`]: ScalerPass::changed
pub trait ScalerPass {
    /// What the pass changes: a Deployment's replicas, a function's reserved concurrency.
    type Target: PartialEq + Debug;
    type Status: PartialEq + Debug;
    /// The scalers' kind, plural, as the pass words listing them (`SqsQueueScalers`).
    const KINDS: &'static str;
    /// The summary's count of changed targets (`rescaled`).
    const CHANGES: &'static str;
    /// The reason of the Event recording a change (`SuccessfulRescale`).
    const REASON: &'static str;

    /// Puts the target back where every run starts from.
    fn reset(&self) -> impl Future<Output = ()>;
    fn target(&self) -> impl Future<Output = Self::Target>;
    /// The target after a run changed it.
    fn changed(&self) -> Self::Target;
    fn status(&self) -> impl Future<Output = Self::Status>;
    /// Asserts that `status` records the change made at `at`.
    fn records_change(
        &self,
        status: &Self::Status,
        at: Timestamp,
        what: &str,
    ) -> impl Future<Output = ()>;
}

/// Each grant of the pass's function is needed: with the ClusterRole holding every grant but
/// that one, a run from [`ScalerPass::reset`] fails on exactly that grant, as the pass's
/// failure behaviour says, and changes nothing it should not. Without the list the run fails
/// before reading anything; without the status patch it fails after the change (its outcome
/// cannot be recorded, the schedule retries it); without Events, which are best effort, the
/// change happens and its status is written, unrecorded, and the function logs why. Grants
/// of the function's own (its target's) go to `other`. With every grant back, the run changes
/// the target, writes its status and records the Event.
pub async fn every_grant_is_needed<P: ScalerPass>(
    experiment: &Experiment<'_>,
    pass: &P,
    function: &mut Supervised,
    mut other: impl AsyncFnMut(&Grant, &Run),
) {
    let scalers = P::KINDS.to_lowercase();
    for (i, grant) in experiment.grants.iter().enumerate() {
        pass.reset().await;
        let (target_before, status_before) = (pass.target().await, pass.status().await);
        let run = experiment.without(i).await;
        let what = &run.what;
        let (target, status) = (pass.target().await, pass.status().await);
        if grant.is("list", &scalers) {
            run.refused(&format!("listing {}", P::KINDS));
            assert_eq!(target, target_before, "{what}");
            assert_eq!(status, status_before, "{what}");
            run.recorded(&[]);
        } else if grant.is("patch", &format!("{scalers}/status")) {
            run.refused(STATUS_UNWRITTEN);
            assert_eq!(target, pass.changed(), "{what}");
            assert_eq!(status, status_before, "{what}: status not written");
            run.recorded(&[P::REASON]);
        } else if grant.is("create", "events") {
            run.counted(&[(P::CHANGES, 1)]);
            assert_eq!(target, pass.changed(), "{what}");
            pass.records_change(&status, run.at, what).await;
            run.unrecorded(function);
        } else {
            other(grant, &run).await;
        }
    }

    pass.reset().await;
    let run = experiment.with_all().await;
    run.counted(&[(P::CHANGES, 1), ("errors", 0)]);
    assert_eq!(pass.target().await, pass.changed());
    pass.records_change(&pass.status().await, run.at, &run.what)
        .await;
    run.recorded(&[P::REASON]);
}

/// How `make bench` reports a run of the pass: the summary's counts, and its API calls.
pub struct BenchReport<'a> {
    /// The summary's counts after `scalers`, in this order (`rescaled`, `errors`).
    pub counts: &'a [&'a str],
    /// The queues the scalers read (SQS calls are per queue).
    pub queues: usize,
    /// Other APIs the pass calls per scaler, after Kubernetes and SQS (`lambda`).
    pub per_scaler: &'a [&'a str],
}

impl World {
    /// One scheduled run of `function` at `at`, timed and printed under `label` as `report`
    /// says.
    pub fn bench_pass(&self, function: &str, label: &str, at: Timestamp, report: &BenchReport) {
        let began = Instant::now();
        let summary = self.invoke(function, &scheduled(at)).expect("run");
        let wall = began.elapsed();
        let calls = &summary["apiCalls"];
        let n = summary["scalers"].as_f64().unwrap();
        let per_scaler = |api: &str| {
            format!(
                "{api} {} ({:.2}/scaler)",
                calls[api],
                calls[api].as_f64().unwrap() / n
            )
        };
        let counts: Vec<String> = report
            .counts
            .iter()
            .map(|c| format!("{c} {}", summary[c]))
            .collect();
        let mut apis = vec![
            per_scaler("kubernetes"),
            format!("sqs {} ({} queues)", calls["sqs"], report.queues),
        ];
        apis.extend(report.per_scaler.iter().map(|api| per_scaler(api)));
        println!(
            "{label}\n  scalers {} {}; in function {} ms, invoke round trip {wall:?}\n  calls: {}",
            summary["scalers"],
            counts.join(" "),
            summary["elapsedMs"],
            apis.join(", "),
        );
    }
}
