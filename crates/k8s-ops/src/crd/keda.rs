//! KEDA's `ScaledObject` and `TriggerAuthentication` (keda.sh/v1alpha1), read-only: the fields
//! queue-scaler reads to scale a Deployment as KEDA's aws-sqs-queue scaler would. KEDA owns
//! these kinds and their CRDs, so the suite never generates or installs them (they are not in
//! [`super::all`]; `schema = "disabled"`) and never writes their spec or status.
//!
//! Field types are those of KEDA's CRD schema (the API server enforces them), with `Option`
//! wherever KEDA tells "unset" from a value: its defaults and checks depend on it (an unset
//! `minReplicaCount` is not the same as `0` to KEDA's idleReplicaCount check).
use std::collections::BTreeMap;

use kube::CustomResource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "keda.sh",
    version = "v1alpha1",
    kind = "ScaledObject",
    namespaced,
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct ScaledObjectSpec {
    pub scale_target_ref: ScaleTarget,
    pub polling_interval: Option<i32>,
    pub initial_cooldown_period: Option<i32>,
    pub cooldown_period: Option<i32>,
    pub idle_replica_count: Option<i32>,
    pub min_replica_count: Option<i32>,
    pub max_replica_count: Option<i32>,
    pub advanced: Option<AdvancedConfig>,
    #[serde(default)]
    pub triggers: Vec<ScaleTrigger>,
    /// Replicas to hold when the triggers fail (KEDA's `fallback`), kept as written.
    pub fallback: Option<Value>,
}

/// `scaleTargetRef`: KEDA defaults `apiVersion` to `apps/v1` and `kind` to `Deployment`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTarget {
    pub name: String,
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub env_source_container_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedConfig {
    pub horizontal_pod_autoscaler_config: Option<HorizontalPodAutoscalerConfig>,
    pub restore_to_original_replica_count: Option<bool>,
    /// A formula over several triggers' metrics, kept as written.
    pub scaling_modifiers: Option<Value>,
}

/// The HPA KEDA creates for a ScaledObject: `name` (default `keda-hpa-<ScaledObject>`) and
/// its `behavior`, kept as written.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HorizontalPodAutoscalerConfig {
    pub name: Option<String>,
    pub behavior: Option<Value>,
}

/// One trigger: its `type` (`aws-sqs-queue`, `cron`, …) and its `metadata`, all strings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTrigger {
    #[serde(rename = "type")]
    pub type_: String,
    pub name: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub authentication_ref: Option<AuthenticationRef>,
    /// `AverageValue` (the default), `Value` or `Utilization`.
    pub metric_type: Option<String>,
    pub use_cached_metrics: Option<bool>,
}

/// A trigger's `authenticationRef`: a TriggerAuthentication in the ScaledObject's namespace
/// unless `kind` says `ClusterTriggerAuthentication`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct AuthenticationRef {
    pub name: String,
    pub kind: Option<String>,
}

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "keda.sh",
    version = "v1alpha1",
    kind = "TriggerAuthentication",
    namespaced,
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct TriggerAuthenticationSpec {
    pub pod_identity: Option<AuthPodIdentity>,
    /// Every other source KEDA can authenticate from (`secretTargetRef`, `env`,
    /// `hashiCorpVault`, …), by field name, kept as written.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `podIdentity`: for AWS, `provider: aws` with an optional `roleArn` (or `identityOwner:
/// workload`), or the deprecated `provider: aws-eks`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuthPodIdentity {
    pub provider: String,
    pub role_arn: Option<String>,
    #[serde(rename = "externalID")]
    pub external_id: Option<String>,
    pub identity_owner: Option<String>,
    pub identity_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;
    use serde_json::json;

    /// KEDA's documented aws-sqs-queue sample reads into the types, unset fields as `None`.
    #[test]
    fn kedas_sample_reads_with_unset_fields_unset() {
        let so: ScaledObject = serde_json::from_value(json!({
            "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": "aws-sqs-queue-scaledobject", "namespace": "keda-test"},
            "spec": {"scaleTargetRef": {"name": "nginx-deployment"},
                     "triggers": [{"type": "aws-sqs-queue",
                                   "authenticationRef": {"name": "keda-trigger-auth-aws-credentials"},
                                   "metadata": {"queueURL": "myQueue", "queueLength": "5", "awsRegion": "eu-west-1"}}]}
        }))
        .unwrap();
        assert_eq!(
            (so.spec.min_replica_count, so.spec.scale_target_ref.kind),
            (None, None)
        );
        assert_eq!(so.spec.triggers[0].metadata["queueLength"], "5");
        let ta: TriggerAuthentication = serde_json::from_value(json!({
            "apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
            "metadata": {"name": "a", "namespace": "keda-test"},
            "spec": {"podIdentity": {"provider": "aws"}, "secretTargetRef": [{"parameter": "awsRoleArn", "name": "s", "key": "k"}]}
        }))
        .unwrap();
        assert_eq!(ta.spec.pod_identity.unwrap().provider, "aws");
        assert!(ta.spec.other.contains_key("secretTargetRef"));
        assert_eq!(ScaledObject::plural(&()), "scaledobjects");
        assert_eq!(TriggerAuthentication::api_version(&()), "keda.sh/v1alpha1");
    }
}
