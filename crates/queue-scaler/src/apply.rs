//! queue-scaler's part of the scaler pass ([`sqs_depth::pass`] lists the scalers, reads each
//! queue once, records each verdict and summarises): for each scaler, decide its
//! Deployment's replicas from its queue and rescale it through the scale subresource
//! (conflicts re-read and re-decided); the status and Event say so as the HPA's do.
//!
//! A problem with one scaler (its spec, its queue or role, its Deployment) is its verdict:
//! `Ready=False` with the reason and message, and a Warning Event.
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_ops::crd::sqs_queue::{SqsQueueScaler, SqsQueueScalerSpec};
use k8s_ops::scale::{self, ScaleError};
use kube::{Api, ResourceExt};
use serde::Serialize;
use sqs_depth::pass::{self, Pass, Scaling, Verdict};
use sqs_depth::{QueueDepth, QueueReading, QueueRef, SqsError};

use crate::keda::Report;

use crate::decide::{self, Plan, Policy, SpecError};

mod verdict;

/// The component name on Events, and the function's name.
pub const COMPONENT: &str = "queue-scaler";

/// How queue-scaler carries a decision out: the Deployment's scale subresource.
pub struct Deployments;

/// What the summary counts: SqsQueueScalers, and KEDA ScaledObjects when they are read.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Tally {
    pub rescaled: usize,
    pub errors: usize,
    #[serde(rename = "scaledObjects", skip_serializing_if = "Option::is_none")]
    pub scaled_objects: Option<Report>,
}

/// What became of one scaler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its Deployment kept its replicas.
    Held,
    /// Its Deployment was rescaled (or would have been, in a dry run).
    Rescaled,
    /// A problem, in its status.
    Failed,
}

impl pass::Tally for Tally {
    type Outcome = Outcome;

    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Held => {}
            Outcome::Rescaled => self.rescaled += 1,
            Outcome::Failed => self.errors += 1,
        }
    }
}

/// Why one scaler could not be handled this run.
#[derive(Debug, thiserror::Error)]
enum ScalerError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Queue(#[from] SqsError),
    #[error(transparent)]
    Scale(#[from] ScaleError),
}

impl ScalerError {
    /// The Warning Event's and the Ready condition's reason (the HPA's where it has one).
    fn reason(&self) -> &'static str {
        match self {
            ScalerError::Spec(_) => "InvalidSpec",
            ScalerError::Queue(_) => "FailedGetQueueLength",
            ScalerError::Scale(ScaleError::NotFound(_)) => "FailedGetScale",
            ScalerError::Scale(_) => "FailedRescale",
        }
    }
}

/// What was found and done for a scaler whose checks passed.
pub(crate) struct Scaled {
    pub(crate) policy: Policy,
    pub(crate) plan: Plan,
    /// Replicas before this run's decision.
    pub(crate) current: i32,
    /// Whether the Deployment was rescaled (or would have been, in a dry run).
    pub(crate) changed: bool,
}

/// The queue a scaler's spec names, as the pass reads it (shared with ScaledObjects, which
/// convert to the same spec).
pub(crate) fn queue_of(spec: &SqsQueueScalerSpec) -> QueueRef {
    QueueRef {
        queue: spec.queue_url.trim().to_owned(),
        region: spec.aws_region.clone().filter(|r| !r.is_empty()),
        role_arn: spec.role_arn.clone().filter(|r| !r.is_empty()),
    }
}

impl Scaling for Deployments {
    type Scaler = SqsQueueScaler;
    type Tally = Tally;

    fn queue(scaler: &SqsQueueScaler) -> QueueRef {
        queue_of(&scaler.spec)
    }

    async fn judge(
        &self,
        pass: &Pass,
        scaler: &SqsQueueScaler,
        reading: Result<QueueReading, SqsError>,
        now: Timestamp,
    ) -> Verdict<Deployments> {
        match scale(pass, scaler, reading, now).await {
            Ok(scaled) => {
                let reason = scaled.plan.reason(&scaled.policy, scaled.current);
                let spec = &scaler.spec;
                let about = About {
                    kind: "SqsQueueScaler",
                    scaler: &pass::name(scaler),
                    deployment: &spec.scale_target_ref.name,
                    queue: &spec.queue_url,
                };
                log_decision(&about, &scaled, &reason, pass.options.dry_run);
                verdict::scaled(scaler, &scaled, &reason, now)
            }
            Err(e) => {
                let target = &scaler.spec.scale_target_ref.name;
                let name = pass::name(scaler);
                tracing::warn!(decision = "error", scaler = %name, deployment = %target, reason = e.reason(), error = %e);
                verdict::failed(scaler, &e, now)
            }
        }
    }

    fn log(summary: &pass::Summary<Tally>) {
        let Tally {
            rescaled, errors, ..
        } = summary.tally;
        sqs_depth::run_complete!(summary, rescaled, errors);
    }
}

/// The steps for one scaler: check its spec and queue, then decide the Deployment's replicas
/// and carry the decision out (rescale it; in a dry run, only read its replicas).
async fn scale(
    pass: &Pass,
    scaler: &SqsQueueScaler,
    reading: Result<QueueReading, SqsError>,
    now: Timestamp,
) -> Result<Scaled, ScalerError> {
    let policy = Policy::from_spec(&scaler.spec)?;
    let depth = reading?.depth;
    let inactive_since = scaler
        .status
        .as_ref()
        .and_then(|s| s.inactive_since.as_ref())
        .map(|t| t.0);
    let namespace = scaler.namespace().unwrap_or_default();
    let target = &scaler.spec.scale_target_ref.name;
    Ok(carry_out(
        pass,
        &namespace,
        target,
        policy,
        &depth,
        inactive_since,
        now,
    )
    .await?)
}

/// Decides the replicas of Deployment `namespace/target` from `depth` and carries the
/// decision out (rescales it; in a dry run, only reads its replicas): the steps an
/// SqsQueueScaler and a ScaledObject share once their specs are checked.
pub(crate) async fn carry_out(
    pass: &Pass,
    namespace: &str,
    target: &str,
    policy: Policy,
    depth: &QueueDepth,
    inactive_since: Option<Timestamp>,
    now: Timestamp,
) -> Result<Scaled, ScaleError> {
    let decide = |current| decide::decide(&policy, depth, current, inactive_since, now);
    let deployments: Api<Deployment> = Api::namespaced(pass.kube.clone(), namespace);
    let (current, plan, changed) = if pass.options.dry_run {
        pass.count_kube_calls(1);
        let current = scale::replicas(&deployments, target).await?;
        let plan = decide(current);
        (current, plan, plan.desired != current)
    } else {
        rescale(pass, &deployments, target, decide).await?
    };
    Ok(Scaled {
        policy,
        plan,
        current,
        changed,
    })
}

/// Rescales the Deployment to the plan: the replicas it replaced, the plan that judged them,
/// and whether they changed.
async fn rescale(
    pass: &Pass,
    deployments: &Api<Deployment>,
    target: &str,
    decide: impl Fn(i32) -> Plan,
) -> Result<(i32, Plan, bool), ScaleError> {
    // `rescale` re-reads and re-decides on a conflict, so the plan kept is the one that
    // judged the replicas actually replaced.
    let mut judged = None;
    let result = scale::rescale(deployments, target, |current| {
        let plan = decide(current);
        judged = Some((current, plan));
        Some(plan.desired)
    })
    .await;
    // A read per attempt, and a write per attempt of a rescale (each conflict is one); a
    // failure is counted as its one read, a hold after conflicts as one read too.
    pass.count_kube_calls(match &result {
        Ok(Some(r)) => 2 * u64::from(r.attempts),
        _ => 1,
    });
    let rescale = result?;
    let (current, plan) = judged.expect("rescale judged the replicas it read");
    Ok((
        rescale.as_ref().map_or(current, |r| r.from),
        plan,
        rescale.is_some(),
    ))
}

/// What a decision line names.
pub(crate) struct About<'a> {
    pub(crate) kind: &'a str,
    /// `namespace/name`.
    pub(crate) scaler: &'a str,
    pub(crate) deployment: &'a str,
    pub(crate) queue: &'a str,
}

/// The one line a decision logs.
pub(crate) fn log_decision(about: &About, scaled: &Scaled, reason: &str, dry_run: bool) {
    let Scaled { plan, current, .. } = scaled;
    tracing::info!(
        decision = plan.decision(*current),
        kind = about.kind,
        scaler = %about.scaler,
        deployment = %about.deployment,
        queue = %about.queue,
        length = plan.length,
        active = plan.active,
        from = current,
        to = plan.desired,
        reason = %reason,
        dry_run,
    );
    // The decision's metrics, beside its line (ScaledObjects' too).
    let (namespace, name) = about.scaler.split_once('/').unwrap_or(("", about.scaler));
    let put = |metric, v: f64| lambda_support::metrics::put_resource(namespace, name, metric, v);
    put("QueueDepth", plan.length as f64);
    put("DesiredReplicas", f64::from(plan.desired));
    put("ActualReplicas", f64::from(*current));
}
