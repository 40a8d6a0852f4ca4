//! queue-scaler's part of the scaler pass ([`sqs_depth::pass`] lists the scalers, reads each
//! queue once, records each verdict and summarises): for each scaler, decide its
//! Deployment's replicas from its queue and rescale it through the scale subresource
//! (conflicts re-read and re-decided); the status and Event say so as the HPA's do.
//!
//! A problem with one scaler (its spec, its queue or role, its Deployment) is its verdict:
//! `Ready=False` with the reason and message, and a Warning Event.
use jiff::Timestamp;
use k8s_ops::crd::sqs_queue::{ScaleTargetRef, SqsQueueScaler, SqsQueueScalerSpec};
use k8s_ops::pause::{self, Pause, PauseError};
use k8s_ops::scale::{self, ScaleError, ScaleTarget};
use kube::ResourceExt;
use serde::Serialize;
use sqs_depth::pass::{self, Pass, Scaling, Verdict};
use sqs_depth::{QueueReading, QueueRef, SqsError};

use crate::keda::Report;

use crate::decide::{self, Plan, Policy, SpecError, State};

mod verdict;

/// The component name on Events, and the function's name.
pub const COMPONENT: &str = "queue-scaler";

/// How queue-scaler carries a decision out: the target's scale subresource, unless another
/// of the run's controllers (`owners`, [`crate::owners`]) owns the target.
pub struct Deployments {
    pub owners: Vec<k8s_ops::owner::Controller>,
}

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
    Pause(#[from] PauseError),
    #[error(transparent)]
    Queue(#[from] SqsError),
    #[error(transparent)]
    Scale(#[from] ScaleError),
    /// Another controller owns the target: its refusal message.
    #[error("{0}")]
    Owner(String),
}

impl ScalerError {
    /// The Warning Event's and the Ready condition's reason (the HPA's where it has one).
    fn reason(&self) -> &'static str {
        match self {
            ScalerError::Spec(_) => "InvalidSpec",
            ScalerError::Pause(_) => "InvalidPause",
            ScalerError::Owner(_) => "AmbiguousOwner",
            ScalerError::Queue(_) => "FailedGetQueueLength",
            ScalerError::Scale(ScaleError::NotFound(_) | ScaleError::Unscalable { .. }) => {
                "FailedGetScale"
            }
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
    /// Whether the target was rescaled (or would have been, in a dry run).
    pub(crate) changed: bool,
    /// The queue could not be read: the plan is KEDA's fallback.
    pub(crate) unread: Option<SqsError>,
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
        let scaled = match crate::owners::refused(&crate::owners::scaler(scaler), &self.owners) {
            Some((_, message)) => Err(ScalerError::Owner(message)),
            None => scale(pass, scaler, reading, now).await,
        };
        match scaled {
            Ok(scaled) => {
                let reason = scaled.plan.reason(&scaled.policy, scaled.current);
                let spec = &scaler.spec;
                let about = About {
                    kind: "SqsQueueScaler",
                    scaler: &pass::name(scaler),
                    target: describe(&spec.scale_target_ref),
                    queue: &spec.queue_url,
                };
                log_decision(&about, &scaled, &reason, pass.options.dry_run);
                verdict::scaled(scaler, &scaled, &reason, now)
            }
            Err(e) => {
                let target = describe(&scaler.spec.scale_target_ref);
                let name = pass::name(scaler);
                tracing::warn!(decision = "error", scaler = %name, target = %target, reason = e.reason(), error = %e);
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

/// The steps for one scaler: check its spec and queue, then decide the target's replicas
/// and carry the decision out (rescale it; in a dry run, only read its replicas).
async fn scale(
    pass: &Pass,
    scaler: &SqsQueueScaler,
    reading: Result<QueueReading, SqsError>,
    now: Timestamp,
) -> Result<Scaled, ScalerError> {
    let policy = Policy::from_spec(&scaler.spec)?;
    // A bad pause annotation changes nothing until it is fixed.
    let pause = pause::read(scaler.annotations(), pause::KEDA)?;
    let status = scaler.status.as_ref();
    let state = State {
        inactive_since: status.and_then(|s| s.inactive_since.as_ref()).map(|t| t.0),
        history: status
            .and_then(|s| s.behavior_history.clone())
            .unwrap_or_default(),
    };
    let namespace = scaler.namespace().unwrap_or_default();
    let target = &scaler.spec.scale_target_ref;
    let depth = match reading {
        Ok(reading) => reading.depth,
        Err(e) => {
            // KEDA's fallback, or hold: an error never decides from a guessed length.
            let failures = failures(scaler) + 1;
            if pause != Pause::Running || !policy.falls_back(failures) {
                return Err(e.into());
            }
            let decide = |current| decide::fallback(&policy, failures, current, &state, now);
            return Ok(carry_out_scaled(pass, &namespace, target, &policy, Some(e), decide).await?);
        }
    };
    let decide = |current| match pause {
        Pause::Running => decide::decide(&policy, &depth, current, &state, now),
        paused => decide::paused(&policy, &depth, paused, current, &state, now),
    };
    Ok(carry_out_scaled(pass, &namespace, target, &policy, None, decide).await?)
}

/// The queue's failed reads in a row, as the status last recorded them.
pub(crate) fn failures(scaler: &SqsQueueScaler) -> i32 {
    scaler
        .status
        .as_ref()
        .and_then(|s| s.queue_health.as_ref())
        .map_or(0, |h| h.number_of_failures)
}

/// [`carry_out`], and what was found and done: the steps after an SqsQueueScaler's or a
/// ScaledObject's checks (`unread`: the plan is the fallback for this queue error).
pub(crate) async fn carry_out_scaled(
    pass: &Pass,
    namespace: &str,
    target: &ScaleTargetRef,
    policy: &Policy,
    unread: Option<SqsError>,
    decide: impl Fn(i32) -> Plan,
) -> Result<Scaled, ScaleError> {
    let (current, plan, changed) = carry_out(pass, namespace, target, decide).await?;
    Ok(Scaled {
        policy: policy.clone(),
        plan,
        current,
        changed,
        unread,
    })
}

/// Resolves `target` (in `namespace`) to its scale subresource, asks `decide` for its
/// replicas and carries the decision out (rescales it; in a dry run, only reads its
/// replicas): the steps an SqsQueueScaler and a ScaledObject share once their specs are
/// checked. Returns the replicas it had, the plan that judged them, and whether they changed.
pub(crate) async fn carry_out(
    pass: &Pass,
    namespace: &str,
    target: &ScaleTargetRef,
    decide: impl Fn(i32) -> Plan,
) -> Result<(i32, Plan, bool), ScaleError> {
    let target = resolve(pass, namespace, target).await?;
    if pass.options.dry_run {
        pass.count_kube_calls(1);
        let current = target.replicas().await?;
        let plan = decide(current);
        return Ok((current, plan.clone(), plan.desired != current));
    }
    rescale(pass, &target, decide).await
}

/// The scale subresource `target` names: any kind that has one (a discovery call first for
/// a kind outside the apps group).
pub(crate) async fn resolve(
    pass: &Pass,
    namespace: &str,
    target: &ScaleTargetRef,
) -> Result<ScaleTarget, ScaleError> {
    let ScaleTargetRef {
        name,
        kind,
        api_version,
    } = target;
    if scale::needs_discovery(api_version, kind) {
        pass.count_kube_calls(1);
    }
    ScaleTarget::resolve(&pass.kube, namespace, api_version, kind, name).await
}

/// Rescales the target to the plan: the replicas it replaced, the plan that judged them,
/// and whether they changed.
pub(crate) async fn rescale(
    pass: &Pass,
    target: &ScaleTarget,
    decide: impl Fn(i32) -> Plan,
) -> Result<(i32, Plan, bool), ScaleError> {
    // `rescale` re-reads and re-decides on a conflict, so the plan kept is the one that
    // judged the replicas actually replaced.
    let mut judged = None;
    let result = target
        .rescale(|current| {
            let plan = decide(current);
            let desired = plan.desired;
            judged = Some((current, plan));
            Some(desired)
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
    /// `Kind name` ([`describe`]).
    pub(crate) target: String,
    pub(crate) queue: &'a str,
}

/// A target as log lines name it: `Kind name`.
pub(crate) fn describe(target: &ScaleTargetRef) -> String {
    format!("{} {}", target.kind, target.name)
}

/// The one line a decision logs.
pub(crate) fn log_decision(about: &About, scaled: &Scaled, reason: &str, dry_run: bool) {
    let Scaled { plan, current, .. } = scaled;
    tracing::info!(
        decision = plan.decision(*current),
        kind = about.kind,
        scaler = %about.scaler,
        target = %about.target,
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
