//! `SqsQueueScaler` (autoscaling.k8s-lambda.dev/v1alpha1): KEDA's `aws-sqs-queue` scaler
//! without KEDA. Field names are KEDA's (ScaledObject + trigger metadata, flattened into one
//! spec) so a ScaledObject translates key for key; the group is the suite's own, since the
//! kind is new. Status follows the HPA (`currentReplicas`, `desiredReplicas`,
//! `lastScaleTime`, conditions) plus what the next run needs, since the function keeps
//! nothing between runs: `inactiveSince` (scale to zero), `behaviorHistory` (HPA's
//! `behavior`), `queueHealth` (KEDA's `fallback`).
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerBehavior;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::behavior::History;

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "autoscaling.k8s-lambda.dev",
    version = "v1alpha1",
    kind = "SqsQueueScaler",
    namespaced,
    doc = "Scales a Deployment (or any /scale target) on the length of an SQS queue with KEDA's aws-sqs-queue semantics (queue-scaler)",
    status = "SqsQueueScalerStatus",
    derive = "PartialEq",
    shortname = "sqsscaler",
    category = "autoscaling",
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.scaleTargetRef.name"}"#,
    printcolumn = r#"{"name":"Min","type":"integer","jsonPath":".spec.minReplicaCount"}"#,
    printcolumn = r#"{"name":"Max","type":"integer","jsonPath":".spec.maxReplicaCount"}"#,
    printcolumn = r#"{"name":"Length","type":"integer","jsonPath":".status.queueLength"}"#,
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".status.currentReplicas"}"#,
    printcolumn = r#"{"name":"Active","type":"string","jsonPath":".status.conditions[?(@.type==\"Active\")].status"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SqsQueueScalerSpec {
    /// What to scale, in the scaler's namespace: any kind with a `/scale` subresource
    /// (Deployment by default; StatefulSet; a custom resource), as HPA's and KEDA's
    /// `scaleTargetRef`.
    pub scale_target_ref: ScaleTargetRef,
    /// The queue: its URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`) or its name.
    #[serde(rename = "queueURL")]
    pub queue_url: String,
    /// Messages one replica handles: desired = ceil(length / queueLength).
    #[serde(default = "default_queue_length")]
    #[schemars(range(min = 1))]
    pub queue_length: i64,
    /// The scaler is active (may leave zero) only while length > activationQueueLength.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub activation_queue_length: i64,
    /// Count in-flight messages (ApproximateNumberOfMessagesNotVisible).
    #[serde(default = "yes")]
    pub scale_on_in_flight: bool,
    /// Count delayed messages (ApproximateNumberOfMessagesDelayed).
    #[serde(default)]
    pub scale_on_delayed: bool,
    /// 0 allows scale to zero after `cooldownPeriod` of inactivity.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub min_replica_count: i32,
    #[serde(default = "default_max_replicas")]
    #[schemars(range(min = 1))]
    pub max_replica_count: i32,
    /// Seconds of inactivity before scaling to zero.
    #[serde(default = "default_cooldown")]
    #[schemars(range(min = 0))]
    pub cooldown_period: i64,
    /// The queue's region when it is not the function's own.
    #[serde(default)]
    pub aws_region: Option<String>,
    /// A role the function assumes to read this queue (TriggerAuthentication
    /// `podIdentity.roleArn`): access to the queue is granted per scaler, not to the function.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// HPA's `behavior` (autoscaling/v2, as KEDA's `advanced.horizontalPodAutoscalerConfig
    /// .behavior`): stabilization windows and rate policies between one replica and more.
    /// Unset: HPA's defaults (scale-down to the highest recommendation of the last 300 s).
    /// The steps to and from zero are KEDA's (activation, `cooldownPeriod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
    /// KEDA's `fallback`: once the queue could not be read more than `failureThreshold` runs
    /// in a row, scale to `replicas`. Unset: a failing queue holds the replicas. An error
    /// never scales to zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
}

/// KEDA's `fallback` (ScaledObject `spec.fallback`), same names and meaning.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Fallback {
    /// Failed queue reads in a row tolerated; the next one falls back (KEDA: failures >
    /// failureThreshold).
    #[schemars(range(min = 0))]
    pub failure_threshold: i32,
    /// The replicas to scale to while falling back (at least 1: never zero on an error).
    #[schemars(range(min = 0))]
    pub replicas: i32,
}

/// How the queue's reads have gone (KEDA's `status.health` entry for a trigger).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueHealth {
    /// Failed reads in a row; 0 after a read that worked.
    pub number_of_failures: i32,
    /// `Happy` (the last read worked) or `Failing`.
    pub status: String,
}

/// As KEDA's and HPA's `scaleTargetRef` (`apiVersion` defaults to `apps/v1`, `kind` to
/// `Deployment`). queue-scaler's role needs `get` and `update` on the kind's `scale`
/// subresource: Deployments and StatefulSets are granted; another kind needs one more rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    pub name: String,
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default = "default_api_version")]
    pub api_version: String,
}

fn default_queue_length() -> i64 {
    5
}
fn yes() -> bool {
    true
}
fn default_max_replicas() -> i32 {
    100
}
fn default_cooldown() -> i64 {
    300
}
fn default_kind() -> String {
    "Deployment".into()
}
fn default_api_version() -> String {
    "apps/v1".into()
}

/// What queue-scaler last found and did, HPA style.
// Unset fields serialize as `null`, so the scaler's merge patch clears them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SqsQueueScalerStatus {
    /// Replicas of the target when last seen (after any rescale of that run).
    pub current_replicas: Option<i32>,
    /// What the last decision asked for.
    pub desired_replicas: Option<i32>,
    /// The queue length the last decision used.
    pub queue_length: Option<i64>,
    /// When the scaler last changed the target's replicas.
    pub last_scale_time: Option<Time>,
    /// Since when the queue has been inactive (length ≤ activationQueueLength); cleared when
    /// active. Scale to zero happens once it is `cooldownPeriod` old.
    pub inactive_since: Option<Time>,
    pub observed_generation: Option<i64>,
    /// What `spec.behavior` remembers between runs (HPA keeps it in memory): the recent
    /// recommendations and scale events.
    pub behavior_history: Option<History>,
    /// The queue's reads, for `spec.fallback` (KEDA's `status.health` entry, one trigger).
    pub queue_health: Option<QueueHealth>,
    /// `Ready` (the last run could read the queue and scale the target), `Active`, and
    /// `Paused` (KEDA's pause annotations).
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keda_defaults_apply_to_a_minimal_spec() {
        let spec: SqsQueueScalerSpec = serde_json::from_value(serde_json::json!({
            "scaleTargetRef": {"name": "worker"},
            "queueURL": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
        }))
        .unwrap();
        assert_eq!(
            (
                spec.queue_length,
                spec.activation_queue_length,
                spec.scale_on_in_flight
            ),
            (5, 0, true)
        );
        assert_eq!(
            (
                spec.scale_on_delayed,
                spec.min_replica_count,
                spec.max_replica_count
            ),
            (false, 0, 100)
        );
        assert_eq!(spec.cooldown_period, 300);
        assert_eq!(
            (
                spec.scale_target_ref.kind.as_str(),
                spec.scale_target_ref.api_version.as_str()
            ),
            ("Deployment", "apps/v1")
        );
    }

    #[test]
    fn the_schema_declares_the_defaults_for_the_api_server() {
        use kube::CustomResourceExt;
        let crd = serde_json::to_value(SqsQueueScaler::crd()).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
        assert_eq!(spec["queueLength"]["default"], 5);
        assert_eq!(spec["scaleOnInFlight"]["default"], true);
        assert_eq!(spec["cooldownPeriod"]["default"], 300);
        assert_eq!(spec["maxReplicaCount"]["default"], 100);
    }
}
