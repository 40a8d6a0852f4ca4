//! A scaler's verdict as the HPA would record it: its status (replicas, queue length, the
//! `Ready` and `Active` conditions) and the Event that tells of it.
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_ops::behavior::History;
use k8s_ops::conditions;
use k8s_ops::crd::sqs_queue::{QueueHealth, SqsQueueScaler, SqsQueueScalerStatus};
use k8s_ops::events::EventSpec;
use k8s_ops::pause;
use sqs_depth::pass::Verdict;

use super::{Deployments, Outcome, Scaled, ScalerError};
use crate::decide::Why;

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
        unread,
        ..
    } = scaled;
    let generation = scaler.metadata.generation;
    let mut status = observed(scaler);
    status.current_replicas = Some(plan.desired);
    status.desired_replicas = Some(plan.desired);
    status.behavior_history = Some(plan.history.clone()).filter(|h| *h != History::default());
    if *changed {
        status.last_scale_time = Some(Time(now));
    }
    let conds = &mut status.conditions;
    let fallback = match (unread, plan.why) {
        (Some(e), Why::Fallback(failures)) => {
            // The queue's length and activity are as last known; the problem stands.
            status.queue_health = Some(health(failures));
            let e = ScalerError::Queue(e.clone());
            conditions::set(
                conds,
                "Ready",
                false,
                e.reason(),
                &e.to_string(),
                generation,
                now,
            );
            Some(reason.to_owned())
        }
        _ => {
            status.queue_health = Some(health(0));
            status.queue_length = Some(plan.length);
            status.inactive_since = plan.inactive_since.map(Time);
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
            None
        }
    };
    let (falling_back, fallback_reason, fallback_message) = match fallback {
        Some(message) => (true, "FallbackReplicas", message),
        None => (false, "NoFallback", "the queue was read".to_owned()),
    };
    conditions::set(
        conds,
        "Fallback",
        falling_back,
        fallback_reason,
        &fallback_message,
        generation,
        now,
    );
    let (paused, paused_reason, paused_message) = match plan.why {
        Why::Paused(pause) => {
            let (reason, message) = pause.condition(pause::KEDA).unwrap_or_default();
            (true, reason, message)
        }
        _ => (false, "NotPaused", "no pause annotation".to_owned()),
    };
    conditions::set(
        conds,
        "Paused",
        paused,
        paused_reason,
        &paused_message,
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
        // Falling back, the queue's problem is what the run's errors count.
        outcome: match (unread, changed) {
            (Some(_), _) => Outcome::Failed,
            (None, true) => Outcome::Rescaled,
            (None, false) => Outcome::Held,
        },
    }
}

/// KEDA's health entry after `failures` failed reads in a row.
fn health(failures: i32) -> QueueHealth {
    QueueHealth {
        number_of_failures: failures,
        status: if failures == 0 { "Happy" } else { "Failing" }.into(),
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
    if let ScalerError::Queue(_) = e {
        status.queue_health = Some(health(super::failures(scaler) + 1));
    }
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
