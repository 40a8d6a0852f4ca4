//! Findings that write the target nothing, or (paused at N replicas) only that: a refusal
//! (`Ready` False, a Warning Event on the K8sMetricAlarm), a pause (`Paused` True; the
//! notification is consumed, not failed: a retry would find the same pause). And the
//! conditions a step or a hold writes when they change (`crate::readiness`).
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_ops::behavior::History;
use k8s_ops::pause::{self, Pause};
use k8s_ops::status::merge_status;
use kube::{Api, Resource, ResourceExt};
use serde_json::{Map, Value, json};

use super::target::Target;
use super::{Context, Outcome, Owner, replicas, step};
use crate::error::Error;
use crate::event::AlarmNotification;
use crate::readiness::{self, State};

/// The reasons of refusals found before the target is read (`Ready` False).
pub(super) const INVALID_TARGET: &str = "InvalidTarget";
pub(super) const INVALID_PAUSE: &str = "InvalidPause";
pub(super) const INVALID_BEHAVIOR: &str = "InvalidBehavior";
pub(super) const UNSCALABLE: &str = "Unscalable";

/// A refusal's outcome, its Event and condition written (not in a dry run).
pub(super) async fn refused(
    ctx: &Context,
    n: &AlarmNotification,
    owner: &Owner<'_>,
    reason: &'static str,
    message: &str,
    now: jiff::Timestamp,
) -> Outcome {
    if !ctx.dry_run {
        let regarding = owner.resource.object_ref(&());
        ctx.publish(&regarding, true, reason, message, now).await;
        write_conditions(ctx, owner, State::Refused { reason, message }, now).await;
    }
    Outcome::of(n, ctx.dry_run, decision(reason), message).about(owner)
}

/// The decision logged for a refusal's reason.
fn decision(reason: &str) -> &'static str {
    match reason {
        "AmbiguousOwner" => "ambiguous_owner",
        UNSCALABLE => "unscalable",
        INVALID_TARGET => "invalid_target",
        INVALID_PAUSE => "invalid_pause",
        INVALID_BEHAVIOR => "invalid_behavior",
        _ => "refused",
    }
}

/// A paused resource: `paused-replicas` N sets N once (a later notification finds it there
/// and writes nothing); `paused` writes nothing.
pub(super) async fn paused(
    ctx: &Context,
    n: &AlarmNotification,
    owner: &Owner<'_>,
    target: &Target,
    read: &Scale,
    pause: Pause,
    now: jiff::Timestamp,
) -> Result<Outcome, Error> {
    let current = replicas(read);
    let (reason, message) = pause.condition(pause::SUITE).unwrap_or_default();
    let mut outcome = Outcome::of(n, ctx.dry_run, "paused", &message).about(owner);
    outcome.from = Some(current);
    if let Some(to) = pause.replicas(current).filter(|to| *to != current) {
        outcome.to = Some(to);
        if !ctx.dry_run {
            let set = target
                .scale
                .rescale(|c| Some(to).filter(|to| *to != c))
                .await;
            let regarding = target.object_ref(read);
            match set {
                Ok(_) => {
                    let event = format!("New size: {to}; reason: {message}");
                    ctx.publish(&regarding, false, "SuccessfulRescale", &event, now)
                        .await;
                }
                Err(e) => {
                    let e = step::refusal_named(e, target);
                    ctx.publish(&regarding, true, "FailedRescale", &e.to_string(), now)
                        .await;
                    return Err(e);
                }
            }
        }
    }
    if !ctx.dry_run {
        let state = State::Paused {
            reason,
            message: &message,
        };
        write_conditions(ctx, owner, state, now).await;
    }
    Ok(outcome)
}

/// What a step's claim writes beside its record: the history `spec.behavior` keeps, and the
/// conditions when they change.
pub(super) fn with_step(
    owner: &Owner<'_>,
    history: Option<History>,
    now: jiff::Timestamp,
) -> Map<String, Value> {
    let mut extra = Map::new();
    if let Some(history) = history {
        extra.insert("behaviorHistory".into(), json!(history));
    }
    if let Some(c) = changed(owner, State::Scaling, now) {
        extra.insert("scaleConditions".into(), json!(c));
    }
    extra
}

fn changed(
    owner: &Owner<'_>,
    state: State<'_>,
    now: jiff::Timestamp,
) -> Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>> {
    let status = owner.resource.status.as_ref();
    let current = status.map_or(&[][..], |s| s.scale_conditions.as_slice());
    readiness::conditions(current, state, owner.resource.metadata.generation, now)
}

/// Writes the conditions `state` leads to, when they change; best effort, as Events are
/// (logged): they tell people, the function does not read them back.
pub(super) async fn write_conditions(
    ctx: &Context,
    owner: &Owner<'_>,
    state: State<'_>,
    now: jiff::Timestamp,
) {
    let Some(conditions) = changed(owner, state, now) else {
        return;
    };
    let api = Api::<k8s_ops::crd::metric_alarm::K8sMetricAlarm>::namespaced(
        ctx.kube.clone(),
        &owner.namespace(),
    );
    let patch = json!({ "scaleConditions": conditions });
    match merge_status(&api, &owner.resource.name_any(), patch, None).await {
        Ok(written) => ctx.memory.update(&written),
        Err(e) => tracing::warn!(error = %e, "conditions not written"),
    }
}
