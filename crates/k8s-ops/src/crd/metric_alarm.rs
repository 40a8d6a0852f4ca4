//! `K8sMetricAlarm` (containerinsights.eks.com/v1): a Deployment scaled in steps by two
//! CloudWatch alarms. alarm-sync keeps the alarms in CloudWatch as the spec describes them;
//! alarm-scaler steps the Deployment when one of them goes to ALARM.
//!
//! Field names are the original operator's (aws-samples/k8s-cloudwatch-operator), so its
//! manifests apply unchanged; the alarm configs stay JSON strings in PutMetricAlarm's shape.
//! What is new is the status: alarm-sync's conditions and alarm ARNs, and alarm-scaler's
//! record of the last step in each direction (its cooldown clock and its guard against SNS
//! redelivering a message), its own conditions and HPA's behavior history; and, optional,
//! HPA's `scaleTargetRef` (any kind with a `/scale` subresource) and `behavior`.
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscalerBehavior,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::behavior::History;

/// Scales its target (`deployment` or `scaleTargetRef`, same namespace) between
/// `minReplicas` and `maxReplicas`, one step per alarm notification.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "containerinsights.eks.com",
    version = "v1",
    kind = "K8sMetricAlarm",
    plural = "k8smetricalarms",
    singular = "k8smetricalarm",
    shortname = "k8sma",
    namespaced,
    status = "K8sMetricAlarmStatus",
    derive = "PartialEq",
    doc = "A Deployment scaled in steps by two CloudWatch alarms (alarm-sync, alarm-scaler).",
    // Raw JSON: the structured form repeats `type_ = …`, which clippy flags as duplicated.
    printcolumn = r#"{"name":"Deployment","type":"string","jsonPath":".spec.deployment"}"#,
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.scaleTargetRef.name"}"#,
    printcolumn = r#"{"name":"Min","type":"integer","jsonPath":".spec.minReplicas"}"#,
    printcolumn = r#"{"name":"Max","type":"integer","jsonPath":".spec.maxReplicas"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Paused","type":"string","jsonPath":".status.scaleConditions[?(@.type==\"Paused\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("has(self.deployment) != has(self.scaleTargetRef)").message("set exactly one of spec.deployment (an apps/v1 Deployment) and spec.scaleTargetRef"))]
#[serde(rename_all = "camelCase")]
pub struct K8sMetricAlarmSpec {
    /// Name of the apps/v1 Deployment, in this resource's namespace, to scale (the original's
    /// field). Exactly one of this and `scaleTargetRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// What to scale, as HPA names it: any kind with a `/scale` subresource (StatefulSets,
    /// custom resources), in this resource's namespace. Exactly one of this and `deployment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_target_ref: Option<CrossVersionObjectReference>,
    #[schemars(range(min = 0))]
    pub min_replicas: i32,
    #[schemars(range(min = 0))]
    pub max_replicas: i32,
    /// How a scale-up alarm steps. Unset: one pod per step, no cooldown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up_behavior: Option<ScalingBehavior>,
    /// How a scale-down alarm steps. Unset: one pod per step, no cooldown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_behavior: Option<ScalingBehavior>,
    /// PutMetricAlarm's input as JSON (AlarmName, Threshold, ComparisonOperator, Metrics or
    /// MetricName/Namespace/..., Tags, ...). Unset: no scale-up alarm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up_alarm_config: Option<String>,
    /// As `scaleUpAlarmConfig`, for the alarm that scales down. Unset: no scale-down alarm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_alarm_config: Option<String>,
    /// HPA's `behavior` (autoscaling/v2): stabilization windows and rate policies applied to
    /// each step (the step is the recommendation), HPA's defaults where a field is unset.
    /// Unset: steps as the original's, coolDown and policies above only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingBehavior {
    /// Seconds after a step in this direction during which further alarms in this direction
    /// change nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub cool_down: Option<i64>,
    /// A step is the largest of these (and at least one pod).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<ScalingPolicy>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct ScalingPolicy {
    #[serde(rename = "type")]
    pub type_: PolicyType,
    /// Pods: that many pods. Percent: that percentage of the current replicas, rounded up.
    #[schemars(range(min = 0))]
    pub value: i32,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PolicyType {
    Pods,
    Percent,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct K8sMetricAlarmStatus {
    /// `Synced`: whether CloudWatch holds both alarms as the spec describes them (alarm-sync).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation alarm-sync last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up_alarm_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_alarm_arn: Option<String>,
    /// The last step up alarm-scaler took (or is taking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_up: Option<ScaleRecord>,
    /// The last step down alarm-scaler took (or is taking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_down: Option<ScaleRecord>,
    /// alarm-scaler's conditions: `Ready` (False: why it writes nothing, e.g.
    /// `AmbiguousOwner`, `Unscalable`) and `Paused`. Apart from `conditions`, so that neither
    /// function's merge patch replaces the other's list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scale_conditions: Vec<Condition>,
    /// What `spec.behavior` remembers between notifications (HPA keeps it in memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior_history: Option<History>,
}

/// One step, recorded before the Deployment is written: its time starts the direction's
/// cooldown, and its SNS MessageId makes a redelivered notification change nothing.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleRecord {
    /// When alarm-scaler took the step.
    pub time: Time,
    /// The SNS MessageId of the notification that caused it.
    pub message_id: String,
    /// The SNS Timestamp of that notification: an older notification is stale.
    pub notified_at: Time,
    pub alarm_name: String,
    pub from: i32,
    pub to: i32,
}

/// Which way an alarm scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A spec whose target is not exactly one of `deployment` and `scaleTargetRef`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("spec.deployment and spec.scaleTargetRef are both set; set exactly one")]
    Both,
    #[error("neither spec.deployment nor spec.scaleTargetRef is set; set exactly one")]
    Neither,
    #[error("spec.scaleTargetRef.apiVersion is required (apps/v1 for a Deployment)")]
    NoApiVersion,
}

impl K8sMetricAlarmSpec {
    /// What the resource scales: `scaleTargetRef`, or `deployment` as an apps/v1 Deployment.
    pub fn target(&self) -> Result<CrossVersionObjectReference, TargetError> {
        match (&self.deployment, &self.scale_target_ref) {
            (Some(_), Some(_)) => Err(TargetError::Both),
            (None, None) => Err(TargetError::Neither),
            (Some(name), None) => Ok(CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: name.clone(),
            }),
            (None, Some(r)) if r.api_version.as_deref().is_none_or(str::is_empty) => {
                Err(TargetError::NoApiVersion)
            }
            (None, Some(r)) => Ok(r.clone()),
        }
    }

    pub fn alarm_config(&self, direction: Direction) -> Option<&str> {
        match direction {
            Direction::Up => self.scale_up_alarm_config.as_deref(),
            Direction::Down => self.scale_down_alarm_config.as_deref(),
        }
    }

    pub fn behavior(&self, direction: Direction) -> Option<&ScalingBehavior> {
        match direction {
            Direction::Up => self.scale_up_behavior.as_ref(),
            Direction::Down => self.scale_down_behavior.as_ref(),
        }
    }

    /// The direction in which the alarm `alarm_name` scales, if it is one of this spec's.
    /// Up wins if both configs name the same alarm (alarm-sync reports that as invalid).
    pub fn direction_of(&self, alarm_name: &str) -> Option<Direction> {
        [Direction::Up, Direction::Down].into_iter().find(|d| {
            self.alarm_config(*d)
                .and_then(alarm_name_in)
                .is_some_and(|n| n == alarm_name)
        })
    }
}

impl K8sMetricAlarmStatus {
    pub fn last_scale(&self, direction: Direction) -> Option<&ScaleRecord> {
        match direction {
            Direction::Up => self.last_scale_up.as_ref(),
            Direction::Down => self.last_scale_down.as_ref(),
        }
    }
}

/// The `AlarmName` of an alarm config, read leniently (the rest of the JSON may be invalid:
/// alarm-sync reports that). Both functions use this, so they agree on which alarm is whose.
pub fn alarm_name_in(config: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Named {
        #[serde(rename = "AlarmName")]
        alarm_name: String,
    }
    serde_json::from_str::<Named>(config)
        .ok()
        .map(|n| n.alarm_name)
        .filter(|n| !n.is_empty())
}

/// The resource that owns the alarm `alarm_name`, and in which direction. CloudWatch alarm
/// names are unique per account and region, so when several resources name the same alarm
/// the oldest (then the first by namespace/name) owns it; alarm-sync marks the others.
pub fn owner_of<'a>(
    alarms: &'a [K8sMetricAlarm],
    alarm_name: &str,
) -> Option<(&'a K8sMetricAlarm, Direction)> {
    alarms
        .iter()
        .filter_map(|a| a.spec.direction_of(alarm_name).map(|d| (a, d)))
        .min_by(|(a, _), (b, _)| precedence(a).cmp(&precedence(b)))
}

fn precedence(a: &K8sMetricAlarm) -> (Option<jiff::Timestamp>, &str, &str) {
    (
        a.metadata.creation_timestamp.as_ref().map(|t| t.0),
        a.metadata.namespace.as_deref().unwrap_or(""),
        a.metadata.name.as_deref().unwrap_or(""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    const ORIGINAL_SAMPLE: &str = r#"{
        "apiVersion": "containerinsights.eks.com/v1",
        "kind": "K8sMetricAlarm",
        "metadata": {"namespace": "java", "name": "sqs-messages-visible"},
        "spec": {
            "minReplicas": 4, "maxReplicas": 10, "deployment": "recommender-app",
            "scaleUpBehavior": {"coolDown": 150, "policies": [
                {"type": "Pods", "value": 3}, {"type": "Percent", "value": 50}]},
            "scaleUpAlarmConfig": "{\"AlarmName\":\"SQS-Messages-High-Alarm\",\"Threshold\":50}"
        }
    }"#;

    fn named(ns: &str, name: &str, created: i64, up: &str) -> K8sMetricAlarm {
        let mut a = K8sMetricAlarm::new(
            name,
            K8sMetricAlarmSpec {
                deployment: Some("web".into()),
                min_replicas: 1,
                max_replicas: 5,
                scale_up_alarm_config: Some(format!(r#"{{"AlarmName":"{up}"}}"#)),
                scale_down_alarm_config: Some(r#"{"AlarmName":"low", "Threshold": "x"}"#.into()),
                ..Default::default()
            },
        );
        a.metadata.namespace = Some(ns.into());
        a.metadata.creation_timestamp = Some(Time(jiff::Timestamp::from_second(created).unwrap()));
        a
    }

    #[test]
    fn the_originals_manifest_decodes_with_only_a_scale_up_alarm() {
        let a: K8sMetricAlarm = serde_json::from_str(ORIGINAL_SAMPLE).unwrap();
        assert_eq!(a.spec.target().unwrap().name, "recommender-app");
        assert_eq!(a.spec.target().unwrap().kind, "Deployment");
        let up = a.spec.behavior(Direction::Up).unwrap();
        assert_eq!(up.cool_down, Some(150));
        assert_eq!(up.policies[1].type_, PolicyType::Percent);
        assert_eq!(a.spec.behavior(Direction::Down), None);
        assert_eq!(
            a.spec.direction_of("SQS-Messages-High-Alarm"),
            Some(Direction::Up)
        );
        assert_eq!(a.spec.direction_of("other"), None);
    }

    #[test]
    fn the_oldest_resource_owns_a_contested_alarm_name() {
        let alarms = [
            named("b", "newer", 200, "cpu-high"),
            named("a", "older", 100, "cpu-high"),
            named("a", "unrelated", 50, "mem-high"),
        ];
        let (owner, direction) = owner_of(&alarms, "cpu-high").unwrap();
        assert_eq!(
            (owner.metadata.name.as_deref(), direction),
            (Some("older"), Direction::Up)
        );
        // The lenient read finds the name even where the rest of the config is invalid.
        assert_eq!(
            owner_of(&alarms, "low").unwrap().0.metadata.name.as_deref(),
            Some("unrelated")
        );
        assert!(owner_of(&alarms, "nobody").is_none());
    }

    #[test]
    fn the_target_is_exactly_one_of_deployment_and_scale_target_ref() {
        let sts = CrossVersionObjectReference {
            api_version: Some("apps/v1".into()),
            kind: "StatefulSet".into(),
            name: "db".into(),
        };
        let spec = |deployment: Option<&str>, r: Option<CrossVersionObjectReference>| {
            K8sMetricAlarmSpec {
                deployment: deployment.map(Into::into),
                scale_target_ref: r,
                ..Default::default()
            }
            .target()
        };
        assert_eq!(spec(None, Some(sts.clone())), Ok(sts.clone()));
        assert_eq!(
            spec(Some("web"), None).unwrap().api_version.as_deref(),
            Some("apps/v1")
        );
        assert_eq!(spec(Some("web"), Some(sts.clone())), Err(TargetError::Both));
        assert_eq!(spec(None, None), Err(TargetError::Neither));
        let bare = CrossVersionObjectReference {
            api_version: None,
            ..sts
        };
        assert_eq!(spec(None, Some(bare)), Err(TargetError::NoApiVersion));
    }

    #[test]
    fn crd_has_status_subresource_and_the_originals_names() {
        let crd = K8sMetricAlarm::crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("k8smetricalarms.containerinsights.eks.com")
        );
        assert_eq!(crd.spec.names.short_names, Some(vec!["k8sma".to_string()]));
        let v1 = &crd.spec.versions[0];
        assert!(v1.subresources.as_ref().unwrap().status.is_some());
        let schema = serde_json::to_value(&v1.schema).unwrap();
        let spec = &schema["openAPIV3Schema"]["properties"]["spec"];
        let mut required: Vec<_> = spec["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        required.sort();
        assert_eq!(required, ["maxReplicas", "minReplicas"]);
        assert_eq!(
            spec["x-kubernetes-validations"][0]["rule"],
            "has(self.deployment) != has(self.scaleTargetRef)"
        );
        assert_eq!(
            spec["properties"]["scaleUpBehavior"]["properties"]["policies"]["items"]["properties"]
                ["type"]["enum"],
            serde_json::json!(["Pods", "Percent"])
        );
    }
}
