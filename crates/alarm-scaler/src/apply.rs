//! Carrying out one notification: find the K8sMetricAlarm that owns the alarm, read the
//! Deployment's scale, decide, and for a step:
//!
//! 1. claim it: merge the step's record into the resource's status, guarded by the
//!    resourceVersion the decision read. Of two deliveries of one message racing, one claim
//!    fails with 409, and its retry sees the record and holds as a duplicate;
//! 2. write the scale subresource with the resourceVersion read (on 409, start over from a
//!    fresh read through `k8s_ops::scale::rescale`). If the write fails, the claim is undone,
//!    so the failed step neither blocks the next alarm with a cooldown nor counts as done;
//! 3. record an Event on the Deployment, HPA style;
//! 4. re-arm the alarm (SetAlarmState OK in its region), so a lasting breach steps again.
//!
//! Warm containers remember the last list of resources: a step decided from it is safe,
//! because the claim is guarded by the remembered resourceVersion (a resource changed since
//! fails the claim with 409 and is read afresh), and the claimed object replaces the
//! remembered one. Any other outcome (hold, unknown alarm, missing Deployment) is only
//! final when decided from a fresh list, so a stale memory never makes the function skip.
//!
//! Kubernetes calls per step: warm, get scale, patch status, put scale, create Event (4);
//! cold, one list more. Plus SetAlarmState.
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_ops::crd::metric_alarm::{Direction, K8sMetricAlarm, ScaleRecord, owner_of};
use k8s_ops::events::{self, EventSpec};
use k8s_ops::scale::{self, ScaleError};
use k8s_ops::status::{StatusError, merge_status};
use kube::api::{ListParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde_json::json;

use crate::cloudwatch::{CloudWatch, CloudWatchError};
use crate::decide::{Plan, Situation, decide, target};
use crate::event::{AlarmNotification, AlarmState};

/// The component named in Events.
pub const COMPONENT: &str = "alarm-scaler";
/// Claims lost to concurrent writers of the same resource before giving up (and letting
/// Lambda retry the invocation).
const MAX_CLAIMS: u32 = 3;

pub struct Scaler {
    pub kube: kube::Client,
    pub cloudwatch: CloudWatch,
    pub dry_run: bool,
    /// The resources as last listed (and claimed), kept while the container is warm.
    pub known: std::sync::Mutex<Option<Vec<K8sMetricAlarm>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScalerError {
    #[error("listing K8sMetricAlarms: {0}")]
    List(#[source] kube::Error),
    #[error(transparent)]
    Scale(#[from] ScaleError),
    #[error(transparent)]
    Status(#[from] StatusError),
    #[error(transparent)]
    CloudWatch(#[from] CloudWatchError),
    #[error("k8smetricalarm {0}: the status changed under every claim ({MAX_CLAIMS} conflicts)")]
    Contended(String),
}

/// What one notification led to: logged as one line and returned as the function's response.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub alarm: String,
    pub message_id: String,
    pub decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8smetricalarm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<i32>,
    pub reason: String,
    pub rearmed: bool,
    pub dry_run: bool,
}

impl Outcome {
    fn log(&self) {
        tracing::info!(
            decision = self.decision,
            alarm = %self.alarm,
            message_id = %self.message_id,
            k8smetricalarm = self.k8smetricalarm.as_deref(),
            deployment = self.deployment.as_deref(),
            direction = self.direction,
            from = self.from,
            to = self.to,
            rearmed = self.rearmed,
            dry_run = self.dry_run,
            reason = %self.reason,
        );
    }
}

impl Scaler {
    /// Handles one notification; logs its outcome as one line.
    pub async fn handle(
        &self,
        n: &AlarmNotification,
        now: jiff::Timestamp,
    ) -> Result<Outcome, ScalerError> {
        let outcome = self.handle_inner(n, now).await?;
        outcome.log();
        Ok(outcome)
    }

    async fn handle_inner(
        &self,
        n: &AlarmNotification,
        now: jiff::Timestamp,
    ) -> Result<Outcome, ScalerError> {
        let mut outcome = Outcome {
            alarm: n.alarm_name.clone(),
            message_id: n.message_id.clone(),
            dry_run: self.dry_run,
            ..Default::default()
        };
        if n.state != AlarmState::Alarm {
            outcome.decision = "ignored";
            outcome.reason = format!("the alarm went to {:?}, not ALARM", n.state);
            return Ok(outcome);
        }
        // One pass may come from memory; then at most MAX_CLAIMS from fresh lists.
        let mut fresh = false;
        let mut conflicts = 0;
        while conflicts < MAX_CLAIMS {
            let remembered = if fresh { None } else { self.remembered() };
            let alarms = match remembered {
                Some(alarms) => alarms,
                None => {
                    fresh = true;
                    self.list().await?
                }
            };
            let Some((resource, direction)) = owner_of(&alarms, &n.alarm_name) else {
                if !fresh {
                    fresh = true;
                    continue;
                }
                outcome.decision = "unknown_alarm";
                outcome.reason = "no K8sMetricAlarm names this alarm".into();
                return Ok(outcome);
            };
            let namespace = resource.namespace().unwrap_or_default();
            let name = resource.name_any();
            let deployment = resource.spec.deployment.clone();
            outcome.k8smetricalarm = Some(format!("{namespace}/{name}"));
            outcome.deployment = Some(deployment.clone());
            outcome.direction = Some(direction.as_str());
            let deployments: Api<Deployment> = Api::namespaced(self.kube.clone(), &namespace);
            let read = match deployments.get_scale(&deployment).await {
                Ok(read) => read,
                Err(kube::Error::Api(s)) if s.code == 404 && !fresh => {
                    fresh = true;
                    continue;
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    outcome.decision = "no_deployment";
                    outcome.reason = format!("deployment {namespace}/{deployment} not found");
                    if !self.dry_run {
                        self.warn(resource, "FailedGetScale", &outcome.reason, now)
                            .await;
                        outcome.rearmed = self.rearm(n, &outcome.reason).await?;
                    }
                    return Ok(outcome);
                }
                Err(source) => {
                    return Err(ScaleError::Api {
                        name: format!("{namespace}/{deployment}"),
                        source,
                    }
                    .into());
                }
            };
            let replicas = read.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            let plan = decide(Situation {
                spec: &resource.spec,
                status: resource.status.as_ref(),
                direction,
                replicas,
                message_id: &n.message_id,
                published: n.published,
                now,
            });
            if !fresh && (self.dry_run || !matches!(plan, Plan::Step { .. })) {
                fresh = true;
                continue;
            }
            outcome.decision = plan.decision(direction);
            outcome.reason = plan.to_string();
            outcome.from = Some(replicas);
            if self.dry_run {
                if let Plan::Step { to, .. } = plan {
                    outcome.to = Some(to);
                }
                return Ok(outcome);
            }
            let Plan::Step { from, to } = plan else {
                // Re-armed even when held: CloudWatch notifies only on a state change, so an
                // alarm left in ALARM would never fire again while its breach lasts (a stale
                // or duplicate notification may be a retry of an invocation that failed
                // before re-arming). At worst this costs one more notification.
                outcome.rearmed = self.rearm(n, &format!("held: {plan}")).await?;
                return Ok(outcome);
            };
            let record = ScaleRecord {
                time: Time(now),
                message_id: n.message_id.clone(),
                notified_at: Time(n.published),
                alarm_name: n.alarm_name.clone(),
                from,
                to,
            };
            let mine: Api<K8sMetricAlarm> = Api::namespaced(self.kube.clone(), &namespace);
            let claimed = match merge_status(
                &mine,
                &name,
                json!({ record_field(direction): record }),
                resource.meta().resource_version.as_deref(),
            )
            .await
            {
                Ok(claimed) => {
                    self.remember(&claimed);
                    claimed
                }
                // Changed since read (another delivery, alarm-sync, an edit): decide again
                // from a fresh list.
                Err(StatusError::Conflict { .. } | StatusError::NotFound { .. }) => {
                    if fresh {
                        conflicts += 1;
                    }
                    fresh = true;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let step = Step {
                resource,
                direction,
                deployments: &deployments,
                read,
            };
            let (from, to) = match self.write_scale(&step).await {
                Ok(Some(done)) => done,
                Ok(None) => {
                    // The fresh read left nothing to do (someone else moved it to the bound).
                    self.undo_claim(&mine, &step, &claimed).await;
                    outcome.decision = "at_bound";
                    outcome.reason = "the scale changed meanwhile; no step left".into();
                    outcome.rearmed = self.rearm(n, &outcome.reason).await?;
                    return Ok(outcome);
                }
                Err(e) => {
                    self.undo_claim(&mine, &step, &claimed).await;
                    let regarding = deployment_ref(&namespace, &deployment, &step.read);
                    self.publish(&regarding, true, "FailedRescale", &e.to_string(), now)
                        .await;
                    return Err(e.into());
                }
            };
            outcome.from = Some(from);
            outcome.to = Some(to);
            outcome.reason = format!(
                "alarm {} in ALARM (scale-{direction} alarm of k8smetricalarm {namespace}/{name}), {from} → {to}",
                n.alarm_name
            );
            let message = format!("New size: {to}; reason: {}", outcome.reason);
            let regarding = deployment_ref(&namespace, &deployment, &step.read);
            self.publish(&regarding, false, "SuccessfulRescale", &message, now)
                .await;
            let why = format!("alarm-scaler stepped {namespace}/{deployment} from {from} to {to}");
            outcome.rearmed = self.rearm(n, &why).await?;
            return Ok(outcome);
        }
        Err(ScalerError::Contended(
            outcome.k8smetricalarm.unwrap_or_default(),
        ))
    }

    /// Writes the target with the resourceVersion read; on a conflict, recomputes the step
    /// from a fresh read. `None`: the fresh read left no step to take.
    async fn write_scale(&self, step: &Step<'_>) -> Result<Option<(i32, i32)>, ScaleError> {
        let name = &step.resource.spec.deployment;
        let from = step
            .read
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(0);
        let to = target(&step.resource.spec, step.direction, from).ok();
        let Some(to) = to else { return Ok(None) };
        let mut desired = step.read.clone();
        desired.spec = Some(ScaleSpec { replicas: Some(to) });
        desired.status = None;
        match step
            .deployments
            .replace_scale(name, &PostParams::default(), &desired)
            .await
        {
            Ok(_) => Ok(Some((from, to))),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let spec = &step.resource.spec;
                let done = scale::rescale(step.deployments, name, |current| {
                    target(spec, step.direction, current).ok()
                })
                .await?;
                Ok(done.map(|r| (r.from, r.to)))
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Err(ScaleError::NotFound(name.clone())),
            Err(source) => Err(ScaleError::Api {
                name: name.clone(),
                source,
            }),
        }
    }

    /// Puts back the record the claim replaced; best effort (logged), guarded by the claim's
    /// own resourceVersion so that a newer record is never overwritten.
    async fn undo_claim(
        &self,
        api: &Api<K8sMetricAlarm>,
        step: &Step<'_>,
        claimed: &K8sMetricAlarm,
    ) {
        let previous = step
            .resource
            .status
            .as_ref()
            .and_then(|s| s.last_scale(step.direction));
        let undo = merge_status(
            api,
            &claimed.name_any(),
            json!({ record_field(step.direction): previous }),
            claimed.meta().resource_version.as_deref(),
        )
        .await;
        if let Err(e) = undo {
            tracing::warn!(error = %e, "could not undo the claim of a failed step");
        }
        self.forget();
    }

    async fn list(&self) -> Result<Vec<K8sMetricAlarm>, ScalerError> {
        let all: Api<K8sMetricAlarm> = Api::all(self.kube.clone());
        let alarms = all
            .list(&ListParams::default())
            .await
            .map_err(ScalerError::List)?
            .items;
        *self.memory() = Some(alarms.clone());
        Ok(alarms)
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Option<Vec<K8sMetricAlarm>>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remembered(&self) -> Option<Vec<K8sMetricAlarm>> {
        self.memory().clone()
    }

    /// The claimed object replaces its remembered version (same namespace and name).
    fn remember(&self, claimed: &K8sMetricAlarm) {
        if let Some(known) = self.memory().as_mut() {
            for r in known.iter_mut() {
                if r.namespace() == claimed.namespace() && r.name_any() == claimed.name_any() {
                    *r = claimed.clone();
                }
            }
        }
    }

    fn forget(&self) {
        *self.memory() = None;
    }

    async fn rearm(&self, n: &AlarmNotification, why: &str) -> Result<bool, CloudWatchError> {
        self.cloudwatch
            .rearm(&n.region, &n.alarm_name, why)
            .await
            .map(|()| true)
    }

    async fn warn(
        &self,
        resource: &K8sMetricAlarm,
        reason: &str,
        message: &str,
        now: jiff::Timestamp,
    ) {
        self.publish(&resource.object_ref(&()), true, reason, message, now)
            .await;
    }

    /// Events are for people reading `kubectl describe`; failing to write one fails nothing.
    async fn publish(
        &self,
        regarding: &ObjectReference,
        warning: bool,
        reason: &str,
        message: &str,
        now: jiff::Timestamp,
    ) {
        let spec = EventSpec {
            warning,
            reason: reason.into(),
            message: message.into(),
            action: "Rescale".into(),
        };
        if let Err(e) = events::publish(&self.kube, regarding, COMPONENT, spec, now).await {
            tracing::warn!(error = %e, reason, "could not record the Event");
        }
    }
}

struct Step<'a> {
    resource: &'a K8sMetricAlarm,
    direction: Direction,
    deployments: &'a Api<Deployment>,
    read: Scale,
}

fn record_field(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "lastScaleUp",
        Direction::Down => "lastScaleDown",
    }
}

/// The Deployment as Events name it; its uid comes from the scale read, so `kubectl
/// describe deployment` finds the Event.
fn deployment_ref(namespace: &str, name: &str, read: &Scale) -> ObjectReference {
    ObjectReference {
        api_version: Some("apps/v1".into()),
        kind: Some("Deployment".into()),
        namespace: Some(namespace.into()),
        name: Some(name.into()),
        uid: read.metadata.uid.clone(),
        ..Default::default()
    }
}
