//! What one notification led to: one log line, and one entry of the function's answer.
use serde::Serialize;

use super::Owner;
use super::target::{describe, is_deployment};
use crate::event::AlarmNotification;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub alarm: String,
    /// How the state change arrived: `sns`, `alarm-message`, `eventbridge`, `alarm-action`.
    pub via: &'static str,
    pub message_id: String,
    pub decision: &'static str,
    /// `name`: a config of the K8sMetricAlarm names the alarm; `tags`: the alarm's tags led
    /// to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_by: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8smetricalarm: Option<String>,
    /// The target's name when it is a Deployment (as before `scaleTargetRef`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// `kind namespace/name` of the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<i32>,
    pub reason: String,
    /// The Deployment's `cloudwatch.alarm.*` annotations were written (steps only).
    pub annotated: bool,
    pub rearmed: bool,
    pub dry_run: bool,
}

impl Outcome {
    /// `decision` about notification `n`, for `reason`.
    pub fn of(
        n: &AlarmNotification,
        dry_run: bool,
        decision: &'static str,
        reason: impl Into<String>,
    ) -> Outcome {
        Outcome {
            alarm: n.alarm_name.clone(),
            via: n.via.as_str(),
            message_id: n.message_id.clone(),
            decision,
            reason: reason.into(),
            dry_run,
            ..Default::default()
        }
    }

    /// Names the K8sMetricAlarm, its target and the alarm's direction.
    pub(super) fn about(mut self, owner: &Owner<'_>) -> Outcome {
        self.k8smetricalarm = Some(owner.key());
        if let Ok(r) = owner.resource.spec.target() {
            self.target = Some(describe(&r, &owner.namespace()));
            self.deployment = is_deployment(&r).then(|| r.name.clone());
        }
        self.direction = Some(owner.direction.as_str());
        self.found_by = Some(owner.found_by);
        self
    }

    pub fn log(&self) {
        tracing::info!(
            decision = self.decision,
            alarm = %self.alarm,
            via = self.via,
            message_id = %self.message_id,
            found_by = self.found_by,
            k8smetricalarm = self.k8smetricalarm.as_deref(),
            deployment = self.deployment.as_deref(),
            target = self.target.as_deref(),
            direction = self.direction,
            from = self.from,
            to = self.to,
            annotated = self.annotated,
            rearmed = self.rearmed,
            dry_run = self.dry_run,
            reason = %self.reason,
        );
    }
}
