//! Taking a step the plan decided: claimed in the resource's status first, then the scale
//! written, the Deployment annotated, an Event recorded, the alarm re-armed; a step that fails
//! to write gives its claim back.
use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_ops::crd::metric_alarm::{Direction, K8sMetricAlarm, ScaleRecord};
use k8s_ops::scale::ScaleError;
use k8s_ops::status::{StatusError, merge_status};
use kube::api::PostParams;
use kube::{Api, Resource, ResourceExt};
use serde_json::{Map, Value, json};

use super::target::{Target, describe, is_deployment};
use super::{Context, Outcome, Owner, deployment, replicas};
use crate::decide::Plan;
use crate::error::{Error, SCALE_NOT_WRITTEN, STATUS_NOT_WRITTEN};
use crate::event::AlarmNotification;
use crate::grant::{Forbidden, Grant, forbidden};

/// A claimed step: the target, its scale as the decision read it, the claimed resource.
pub(super) struct Step<'a> {
    pub target: &'a Target,
    pub read: Scale,
    pub claimed: &'a K8sMetricAlarm,
}

/// Merges the step's record (and `extra`: behavior history, conditions) into the resource's
/// status, guarded by the resourceVersion the decision read. `None`: lost, the resource changed (another delivery, alarm-sync, an edit)
/// or went since it was read; decide again from a fresh list.
pub(super) async fn claim(
    ctx: &Context,
    owner: &Owner<'_>,
    n: &AlarmNotification,
    (from, to): (i32, i32),
    mut extra: Map<String, Value>,
    now: jiff::Timestamp,
) -> Result<Option<K8sMetricAlarm>, Error> {
    let record = ScaleRecord {
        time: Time(now),
        message_id: n.message_id.clone(),
        notified_at: Time(n.published),
        alarm_name: n.alarm_name.clone(),
        from,
        to,
    };
    extra.insert(record_field(owner.direction).into(), json!(record));
    let claimed = merge_status(
        &statuses(ctx, owner),
        &owner.resource.name_any(),
        Value::Object(extra),
        owner.resource.meta().resource_version.as_deref(),
    )
    .await;
    match claimed {
        Ok(claimed) => {
            ctx.memory.update(&claimed);
            Ok(Some(claimed))
        }
        Err(StatusError::Conflict { .. } | StatusError::NotFound { .. }) => Ok(None),
        // k8s-ops words an API refusal `<code> <reason>: <message>`.
        Err(StatusError::Api { message, .. }) if message.starts_with("403 ") => {
            let grant = Grant::new(
                &["patch"],
                "k8smetricalarms/status",
                "containerinsights.eks.com",
                Some(owner.namespace()),
            );
            Err(Error::forbidden(
                STATUS_NOT_WRITTEN,
                Forbidden { grant, message },
            ))
        }
        Err(e) => Err(Error::Claim(e)),
    }
}

/// Takes the claimed step: the scale written, an Event on the target, the alarm re-armed.
/// `retarget` is the step from a replica count (recomputed if the scale changed meanwhile).
pub(super) async fn take(
    ctx: &Context,
    n: &AlarmNotification,
    owner: &Owner<'_>,
    Step {
        target,
        read,
        claimed,
    }: Step<'_>,
    retarget: impl Fn(i32) -> Option<i32>,
    now: jiff::Timestamp,
) -> Result<Outcome, Error> {
    let regarding = target.object_ref(&read);
    let read_replicas = replicas(&read);
    let (from, to) = match write_scale(target, read, retarget).await {
        Ok(Some(done)) => done,
        Ok(None) => {
            // The fresh read left nothing to do (someone else moved it to the bound).
            undo_claim(ctx, owner, claimed).await;
            let reason = "the scale changed meanwhile; no step left";
            let mut outcome = Outcome::of(n, ctx.dry_run, "at_bound", reason).about(owner);
            outcome.from = Some(read_replicas);
            outcome.rearmed = ctx.rearm(n, reason).await?;
            return Ok(outcome);
        }
        Err(e) => {
            undo_claim(ctx, owner, claimed).await;
            let e = refusal_named(e, target);
            ctx.publish(&regarding, true, "FailedRescale", &e.to_string(), now)
                .await;
            return Err(e);
        }
    };
    // The record's time as stored (Kubernetes keeps whole seconds): the annotation and the
    // cooldown clock agree.
    let recorded = claimed
        .status
        .as_ref()
        .and_then(|s| s.last_scale(owner.direction))
        .map_or(now, |r| r.time.0);
    let reference = &target.reference;
    let annotated = is_deployment(reference)
        && deployment::annotate(ctx, owner, &reference.name, n, recorded).await;
    let reason = format!(
        "alarm {} in ALARM (scale-{} alarm of k8smetricalarm {}), {from} → {to}",
        n.alarm_name,
        owner.direction,
        owner.key()
    );
    let message = format!("New size: {to}; reason: {reason}");
    ctx.publish(&regarding, false, "SuccessfulRescale", &message, now)
        .await;
    let decision = Plan::Step { from, to }.decision(owner.direction);
    let mut outcome = Outcome::of(n, ctx.dry_run, decision, reason).about(owner);
    outcome.from = Some(from);
    outcome.to = Some(to);
    outcome.annotated = annotated;
    let why = format!(
        "alarm-scaler stepped {}/{} from {from} to {to}",
        target.namespace, reference.name
    );
    outcome.rearmed = ctx.rearm(n, &why).await?;
    Ok(outcome)
}

/// Writes the target with the resourceVersion read; on a conflict, recomputes the step from a
/// fresh read. `None`: the fresh read left no step to take.
async fn write_scale(
    target: &Target,
    read: Scale,
    retarget: impl Fn(i32) -> Option<i32>,
) -> Result<Option<(i32, i32)>, ScaleError> {
    let (api, name) = (target.scale.api(), target.scale.name());
    let label = describe(&target.reference, &target.namespace);
    let from = replicas(&read);
    let Some(to) = retarget(from) else {
        return Ok(None);
    };
    let mut desired = read;
    desired.spec = Some(ScaleSpec { replicas: Some(to) });
    desired.status = None;
    match api
        .replace_scale(name, &PostParams::default(), &desired)
        .await
    {
        Ok(_) => Ok(Some((from, to))),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let done = target.scale.rescale(retarget).await?;
            Ok(done.map(|r| (r.from, r.to)))
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Err(ScaleError::NotFound(label)),
        Err(source) => Err(ScaleError::Api {
            name: label,
            source,
        }),
    }
}

/// A failed scale write as the error reported: a refusal names the grant (the write, or the
/// fresh read and write after a conflict).
pub(super) fn refusal_named(e: ScaleError, target: &Target) -> Error {
    let ScaleError::Api { name, source } = e else {
        return Error::WriteScale(e);
    };
    // After a conflict the fresh read may be what was refused; the denial names the verb
    // (`cannot get resource "deployments/scale"`).
    let verbs: &'static [&'static str] = match &source {
        kube::Error::Api(s) if s.message.contains("cannot get") => &["get"],
        _ => &["update"],
    };
    match forbidden(source, target.grant(verbs)) {
        Ok(refused) => Error::forbidden(SCALE_NOT_WRITTEN, refused),
        Err(source) => Error::WriteScale(ScaleError::Api { name, source }),
    }
}

/// Puts back the record the claim replaced; best effort (logged), guarded by the claim's own
/// resourceVersion so that a newer record is never overwritten.
async fn undo_claim(ctx: &Context, owner: &Owner<'_>, claimed: &K8sMetricAlarm) {
    let previous = owner
        .resource
        .status
        .as_ref()
        .and_then(|s| s.last_scale(owner.direction));
    let history = owner
        .resource
        .status
        .as_ref()
        .and_then(|s| s.behavior_history.as_ref());
    let undo = merge_status(
        &statuses(ctx, owner),
        &claimed.name_any(),
        json!({ record_field(owner.direction): previous, "behaviorHistory": history }),
        claimed.meta().resource_version.as_deref(),
    )
    .await;
    if let Err(e) = undo {
        tracing::warn!(error = %e, "could not undo the claim of a failed step");
    }
    ctx.memory.forget();
}

fn statuses(ctx: &Context, owner: &Owner<'_>) -> Api<K8sMetricAlarm> {
    Api::namespaced(ctx.kube.clone(), &owner.namespace())
}

fn record_field(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "lastScaleUp",
        Direction::Down => "lastScaleDown",
    }
}
