//! Carrying out what was decided for ScaledObjects: the scaler pass's verdicts (rescale the
//! Deployment as for an SqsQueueScaler, keep the cooldown's start in queue-scaler's
//! annotation), the pause annotations, and the Events that report them, since a
//! ScaledObject's status is KEDA's.
//!
//! Events: `SuccessfulRescale` when a Deployment is rescaled; a Warning for a problem, once
//! while the API server keeps it (an hour by default: [`k8s_ops::events::publish_once`]),
//! where an SqsQueueScaler's status would tell a new problem from a lasting one.
use jiff::Timestamp;
use k8s_ops::behavior::History;
use k8s_ops::crd::keda::ScaledObject;
use k8s_ops::crd::sqs_queue::ScaleTargetRef;
use k8s_ops::events::{self, EventSpec};
use k8s_ops::scale::ScaleError;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use sqs_depth::pass::{self, Pass, Scaling, Verdict};
use sqs_depth::{QueueReading, QueueRef, SqsError};

use super::report::{Outcome, Report};
use super::scaler::{BEHAVIOR_HISTORY, INACTIVE_SINCE, KedaScaler, QUEUE_FAILURES};
use super::triage::PAUSED_REPLICAS;
use crate::apply::{
    About, COMPONENT, Scaled, carry_out_scaled, describe, log_decision, queue_of, resolve,
};
use crate::decide::Plan;

/// How queue-scaler carries out a ScaledObject's decision: the Deployment's scale
/// subresource, as for an SqsQueueScaler.
pub struct ScaledObjects;

const ACTION: &str = "Rescale";

/// Why one ScaledObject could not be handled this run; the Warning's reason.
#[derive(Debug, thiserror::Error)]
enum Problem {
    #[error(transparent)]
    Queue(#[from] SqsError),
    #[error(transparent)]
    Scale(#[from] ScaleError),
    #[error(
        "recording what the next run needs ({INACTIVE_SINCE}, {BEHAVIOR_HISTORY}, {QUEUE_FAILURES}): {0}"
    )]
    Clock(String),
}

impl Problem {
    fn reason(&self) -> &'static str {
        match self {
            Problem::Queue(_) => "FailedGetQueueLength",
            Problem::Scale(ScaleError::NotFound(_) | ScaleError::Unscalable { .. }) => {
                "FailedGetScale"
            }
            Problem::Scale(_) => "FailedRescale",
            Problem::Clock(_) => "FailedRecordInactivity",
        }
    }
}

impl Scaling for ScaledObjects {
    type Scaler = KedaScaler;
    type Tally = Report;

    fn queue(scaler: &KedaScaler) -> QueueRef {
        queue_of(&scaler.converted.spec)
    }

    async fn judge(
        &self,
        pass: &Pass,
        scaler: &KedaScaler,
        reading: Result<QueueReading, SqsError>,
        now: Timestamp,
    ) -> Verdict<ScaledObjects> {
        let name = pass::name(scaler);
        let failures = match &reading {
            Ok(_) => 0,
            Err(_) => scaler.failures() + 1,
        };
        let scaled = match reading {
            Ok(reading) => scale(pass, scaler, reading, now).await,
            Err(e) if scaler.converted.policy.falls_back(failures) => {
                fall_back(pass, scaler, e, failures, now).await
            }
            Err(e) => {
                // The count is kept for the next run; the queue's problem is the one told.
                let _ = record_state(pass, scaler, None, failures).await;
                Err(Problem::from(e))
            }
        };
        let (event, clock) = match scaled {
            Ok(scaled) => {
                let reason = scaled.plan.reason(&scaled.policy, scaled.current);
                let spec = &scaler.converted.spec;
                let about = About {
                    kind: "ScaledObject",
                    scaler: &name,
                    target: describe(&spec.scale_target_ref),
                    queue: &spec.queue_url,
                };
                log_decision(&about, &scaled, &reason, pass.options.dry_run);
                let event = scaled
                    .changed
                    .then(|| rescaled(scaled.plan.desired, &reason));
                let clock = record_state(pass, scaler, Some(&scaled.plan), failures).await;
                // Falling back, the queue's problem stands.
                let clock = match (scaled.unread, clock) {
                    (Some(e), Ok(())) => Err(Problem::from(e)),
                    (_, clock) => clock,
                };
                (event, clock.map(|()| scaled.changed))
            }
            Err(e) => (None, Err(e)),
        };
        let outcome = match clock {
            Ok(true) => Outcome::Rescaled,
            Ok(false) => Outcome::Held,
            Err(e) => {
                let target = describe(&scaler.converted.spec.scale_target_ref);
                tracing::warn!(decision = "error", kind = "ScaledObject", scaler = %name, target = %target, reason = e.reason(), error = %e);
                warn_once(pass, &scaler.object, e.reason(), &e.to_string(), now).await;
                Outcome::Failed {
                    scaler: name,
                    problem: format!("{}: {e}", e.reason()),
                }
            }
        };
        Verdict {
            status: (),
            event,
            outcome,
        }
    }

    fn log(summary: &pass::Summary<Report>) {
        let tally = &summary.tally;
        tracing::info!(
            scaled_objects = tally.scaled,
            rescaled = tally.rescaled,
            errors = tally.errors,
            elapsed_ms = summary.elapsed_ms,
            kubernetes_calls = summary.api_calls.kubernetes,
            sqs_calls = summary.api_calls.sqs,
            dry_run = summary.dry_run,
            "ScaledObjects judged"
        );
    }
}

async fn scale(
    pass: &Pass,
    scaler: &KedaScaler,
    reading: QueueReading,
    now: Timestamp,
) -> Result<Scaled, Problem> {
    let namespace = scaler.namespace().unwrap_or_default();
    let converted = &scaler.converted;
    let policy = converted.policy.clone();
    let state = scaler.state();
    let decide = |current| crate::decide::decide(&policy, &reading.depth, current, &state, now);
    let target = &converted.spec.scale_target_ref;
    Ok(carry_out_scaled(pass, &namespace, target, &policy, None, decide).await?)
}

/// KEDA's fallback for a queue unread `failures` times in a row (more than its threshold).
async fn fall_back(
    pass: &Pass,
    scaler: &KedaScaler,
    unread: SqsError,
    failures: i32,
    now: Timestamp,
) -> Result<Scaled, Problem> {
    let namespace = scaler.namespace().unwrap_or_default();
    let policy = scaler.converted.policy.clone();
    let state = scaler.state();
    let decide = |current| crate::decide::fallback(&policy, failures, current, &state, now);
    let target = &scaler.converted.spec.scale_target_ref;
    Ok(carry_out_scaled(pass, &namespace, target, &policy, Some(unread), decide).await?)
}

/// Keeps what the next run needs in queue-scaler's annotations when it changed: the
/// inactivity's start (set when the queue goes inactive, removed when it is active again),
/// the behavior's history (`plan`'s; `None`: as it was) and the failed reads in a row: a
/// merge patch of those annotations alone, so nothing else of the ScaledObject is touched.
async fn record_state(
    pass: &Pass,
    scaler: &KedaScaler,
    plan: Option<&Plan>,
    failures: i32,
) -> Result<(), Problem> {
    let wanted = plan.map_or(scaler.inactive_since(), |p| p.inactive_since);
    let history = plan.map_or_else(|| scaler.history(), |p| p.history.clone());
    let history = &history;
    let unchanged = wanted == scaler.inactive_since()
        && *history == scaler.history()
        && failures == scaler.failures();
    if pass.options.dry_run || unchanged {
        return Ok(());
    }
    let api: Api<ScaledObject> =
        Api::namespaced(pass.kube.clone(), &scaler.namespace().unwrap_or_default());
    let history = (*history != History::default())
        .then(|| serde_json::to_string(history).expect("a history is plain data"));
    let value = wanted.map(|t| t.to_string());
    let failures = (failures > 0).then(|| failures.to_string());
    let patch = json!({"metadata": {"annotations": {
        INACTIVE_SINCE: value, BEHAVIOR_HISTORY: history, QUEUE_FAILURES: failures
    }}});
    pass.count_kube_calls(1);
    match api
        .patch(
            &scaler.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        // Deleted since the list: nothing left to record.
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(Problem::Clock(kube_message(&e))),
    }
}

/// KEDA's pause: `paused-replicas` scales the Deployment to that count (and it stays there
/// while the annotation does); `paused` holds it. The queue is not read.
pub(super) async fn hold_paused(
    pass: &Pass,
    so: &ScaledObject,
    target: &ScaleTargetRef,
    replicas: Option<i32>,
    now: Timestamp,
    report: &mut Report,
) {
    let name = pass::name(so);
    let described = describe(target);
    let deployment = described.as_str();
    report.paused += 1;
    let Some(count) = replicas else {
        tracing::info!(decision = "paused", kind = "ScaledObject", scaler = %name, target = deployment, reason = "autoscaling.keda.sh/paused");
        report
            .notes
            .insert(name, "paused (autoscaling.keda.sh/paused)".into());
        return;
    };
    report.notes.insert(
        name.clone(),
        format!("paused at {count} replicas ({PAUSED_REPLICAS})"),
    );
    let reason = format!("paused at {count} replicas by {PAUSED_REPLICAS}");
    let result = set_paused(pass, &so.namespace().unwrap_or_default(), target, count).await;
    match result {
        Ok(changed) => {
            let from = changed.unwrap_or(count);
            let decision = match changed {
                Some(_) => "scale_paused",
                None => "paused",
            };
            tracing::info!(decision, kind = "ScaledObject", scaler = %name, target = deployment, from, to = count, reason = %reason, dry_run = pass.options.dry_run);
            if changed.is_some() {
                report.rescaled += 1;
                if !pass.options.dry_run {
                    publish(pass, so, rescaled(count, &reason), now).await;
                }
            }
        }
        Err(e) => {
            let problem = Problem::from(e);
            tracing::warn!(decision = "error", kind = "ScaledObject", scaler = %name, target = deployment, reason = problem.reason(), error = %problem);
            report.errors += 1;
            report
                .notes
                .insert(name, format!("{}: {problem}", problem.reason()));
            warn_once(pass, so, problem.reason(), &problem.to_string(), now).await;
        }
    }
}

/// Sets `target` to `count` (in a dry run, only reads it): the replicas it had, if they
/// changed.
async fn set_paused(
    pass: &Pass,
    namespace: &str,
    target: &ScaleTargetRef,
    count: i32,
) -> Result<Option<i32>, ScaleError> {
    let target = resolve(pass, namespace, target).await?;
    if pass.options.dry_run {
        pass.count_kube_calls(1);
        let current = target.replicas().await?;
        return Ok((current != count).then_some(current));
    }
    let result = target.rescale(|_| Some(count)).await;
    pass.count_kube_calls(match &result {
        Ok(Some(r)) => 2 * u64::from(r.attempts),
        _ => 1,
    });
    result.map(|r| r.map(|r| r.from))
}

/// The Event of a rescale, as the HPA words it.
fn rescaled(to: i32, reason: &str) -> EventSpec {
    EventSpec {
        warning: false,
        reason: "SuccessfulRescale".into(),
        message: format!("New size: {to}; reason: {reason}"),
        action: ACTION.into(),
    }
}

/// A Warning about `so`, recorded once while the API server keeps it: its name is made of
/// what it says, so the next run's is the same Event (none in a dry run).
pub(super) async fn warn_once(
    pass: &Pass,
    so: &ScaledObject,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    if pass.options.dry_run {
        return;
    }
    let key = format!(
        "{:016x}",
        fnv1a(&[so.uid().unwrap_or_default().as_str(), reason, message])
    );
    let spec = EventSpec {
        warning: true,
        reason: reason.into(),
        message: message.into(),
        action: ACTION.into(),
    };
    pass.count_kube_calls(1);
    let regarding = so.object_ref(&());
    let recorded = events::publish_once(&pass.kube, &regarding, COMPONENT, spec, now, &key).await;
    if let Err(e) = recorded {
        tracing::warn!(scaler = %pass::name(so), error = %kube_message(&e), "event not recorded");
    }
}

/// Events are best effort, as client-go's recorder: the log and the summary hold the outcome.
async fn publish(pass: &Pass, so: &ScaledObject, event: EventSpec, now: Timestamp) {
    pass.count_kube_calls(1);
    let regarding = so.object_ref(&());
    if let Err(e) = events::publish(&pass.kube, &regarding, COMPONENT, event, now).await {
        tracing::warn!(scaler = %pass::name(so), error = %kube_message(&e), "event not recorded");
    }
}

/// FNV-1a over the parts (each followed by a 0 byte): a stable key, not a secret.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|p| p.bytes().chain([0])) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// An API error as the API server worded it (kube's Display adds the whole Status).
fn kube_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warnings_key_depends_on_what_it_says_and_nothing_else() {
        let key = |uid, reason, message| fnv1a(&[uid, reason, message]);
        assert_eq!(key("u", "R", "m"), key("u", "R", "m"));
        assert_ne!(key("u", "R", "m"), key("u", "R", "n"));
        assert_ne!(key("u", "R", "m"), key("v", "R", "m"));
        // The separator keeps the parts apart.
        assert_ne!(key("u", "Rm", ""), key("u", "R", "m"));
    }
}
