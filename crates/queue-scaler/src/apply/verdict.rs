//! A scaler's verdict as the HPA would record it: its status (replicas, queue length, the
//! `Ready` and `Active` conditions) and the Event that tells of it.
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_ops::conditions;
use k8s_ops::crd::sqs_queue::{SqsQueueScaler, SqsQueueScalerStatus};
use k8s_ops::events::EventSpec;
use sqs_depth::pass::Verdict;

use super::{Deployments, Outcome, Scaled, ScalerError};

/// What the Events of a rescale say was done.
const ACTION: &str = "Rescale";

/// The status it had, observed at this generation.
fn observed(scaler: &SqsQueueScaler) -> SqsQueueScalerStatus {
    SqsQueueScalerStatus {
        observed_generation: scaler.metadata.generation,
        ..scaler.status.clone().unwrap_or_default()
    }
}

/// Scaled (or held): the new replicas, Ready, Active as the queue is; an Event when the
/// Deployment was rescaled.
pub(super) fn scaled(
    scaler: &SqsQueueScaler,
    scaled: &Scaled,
    reason: &str,
    now: Timestamp,
) -> Verdict<Deployments> {
    let Scaled {
        policy,
        plan,
        changed,
        ..
    } = scaled;
    let generation = scaler.metadata.generation;
    let mut status = observed(scaler);
    status.current_replicas = Some(plan.desired);
    status.desired_replicas = Some(plan.desired);
    status.queue_length = Some(plan.length);
    status.inactive_since = plan.inactive_since.map(Time);
    if *changed {
        status.last_scale_time = Some(Time(now));
    }
    let conds = &mut status.conditions;
    let ready = format!("last run: {reason}");
    conditions::set(conds, "Ready", true, "ScalerReady", &ready, generation, now);
    let (active_reason, compared) = if plan.active {
        ("QueueActive", ">")
    } else {
        ("QueueInactive", "≤")
    };
    let active = format!(
        "queue length {} {compared} activation {}",
        plan.length, policy.activation
    );
    conditions::set(
        conds,
        "Active",
        plan.active,
        active_reason,
        &active,
        generation,
        now,
    );
    Verdict {
        status,
        event: changed.then(|| EventSpec {
            warning: false,
            reason: "SuccessfulRescale".into(),
            message: format!("New size: {}; reason: {reason}", plan.desired),
            action: ACTION.into(),
        }),
        outcome: if *changed {
            Outcome::Rescaled
        } else {
            Outcome::Held
        },
    }
}

/// A problem: `Ready=False` with its reason and message; a Warning Event only when the
/// problem is new, not on every run while it lasts.
pub(super) fn failed(
    scaler: &SqsQueueScaler,
    e: &ScalerError,
    now: Timestamp,
) -> Verdict<Deployments> {
    let message = e.to_string();
    let was = scaler
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    let new_problem = was.is_none_or(|c| c.status != "False" || c.message != message);
    let mut status = observed(scaler);
    let generation = scaler.metadata.generation;
    let conds = &mut status.conditions;
    conditions::set(conds, "Ready", false, e.reason(), &message, generation, now);
    Verdict {
        status,
        event: new_problem.then(|| EventSpec {
            warning: true,
            reason: e.reason().into(),
            message,
            action: ACTION.into(),
        }),
        outcome: Outcome::Failed,
    }
}
