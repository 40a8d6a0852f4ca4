//! `LambdaConcurrencyScaler` (aws.operators.jittakal.io/v1alpha1), kept compatible with the
//! original Go operator (jittakal/lambda-con-scaler-operator): its manifests apply unchanged,
//! misspelt `awsLamndaMaxConcurrency` included. The correct spelling `awsLambdaMaxConcurrency`
//! is accepted too; CEL rules ask for one of them, and for the same value when both are set.
//! Status keeps the original's `state`, `concurrency` and `adjustedTimestamp`, plus what an
//! operator needs to see why (`message`, the depth seen, the generations checked).
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "aws.operators.jittakal.io",
    version = "v1alpha1",
    kind = "LambdaConcurrencyScaler",
    namespaced,
    doc = "Steps a Lambda function's reserved concurrency, or its SQS event source mapping's maximum concurrency, with the depth of the SQS queue feeding it (concurrency-scaler)",
    status = "LambdaConcurrencyScalerStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Concurrency","type":"integer","jsonPath":".status.concurrency"}"#,
    printcolumn = r#"{"name":"Scaled","type":"string","jsonPath":".status.scaled"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"AdjustedTimestamp","type":"date","jsonPath":".status.adjustedTimestamp"}"#,
    printcolumn = r#"{"name":"Depth","type":"integer","jsonPath":".status.queueDepth","priority":1}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.message","priority":1}"#
)]
#[x_kube(validation = Rule::new("has(self.awsLamndaMaxConcurrency) || has(self.awsLambdaMaxConcurrency)").message("set awsLamndaMaxConcurrency (the original's key) or awsLambdaMaxConcurrency"))]
#[x_kube(validation = Rule::new("!has(self.awsLamndaMaxConcurrency) || !has(self.awsLambdaMaxConcurrency) || self.awsLamndaMaxConcurrency == self.awsLambdaMaxConcurrency").message("awsLamndaMaxConcurrency and awsLambdaMaxConcurrency disagree; set one"))]
#[serde(rename_all = "camelCase")]
pub struct LambdaConcurrencyScalerSpec {
    /// Name of the SQS queue feeding the function (a queue URL is accepted too).
    #[serde(rename = "awsSQSName")]
    pub aws_sqs_name: String,
    /// Queue depth above which concurrency steps up.
    #[serde(rename = "awsSQSMsgCountThreshold")]
    #[schemars(range(min = 0))]
    pub aws_sqs_msg_count_threshold: i32,
    /// Name (or ARN) of the Lambda function whose reserved concurrency is adjusted.
    pub aws_lambda_name: String,
    /// Lowest reserved concurrency ever set.
    #[schemars(range(min = 0))]
    pub aws_lambda_min_concurrency: i32,
    /// Highest reserved concurrency ever set — the original operator's (misspelt) key.
    #[serde(rename = "awsLamndaMaxConcurrency", default)]
    #[schemars(range(min = 0))]
    pub aws_lamnda_max_concurrency: Option<i32>,
    /// Highest reserved concurrency ever set (correct spelling; either key works).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub aws_lambda_max_concurrency: Option<i32>,
    /// How much one adjustment raises or lowers the reserved concurrency.
    #[schemars(range(min = 1))]
    pub aws_lambda_step_concurrency: i32,
    /// Count in-flight messages (received, not yet deleted) as depth too: the default, as
    /// KEDA's since kedacore/keda#1663. `false` counts visible messages only, as the original.
    #[serde(rename = "awsSQSIncludeInFlight", default = "counted")]
    pub aws_sqs_include_in_flight: bool,
    /// What the policy's concurrency is applied to (default `Auto`).
    #[serde(default)]
    pub scale: Scale,
}

fn counted() -> bool {
    true
}

/// What a LambdaConcurrencyScaler scales. Reserved concurrency caps the function, and an SQS
/// event source mapping's poller does not see it: a poller throttled by it returns messages
/// to the queue, and after maxReceiveCount they go to the dead-letter queue (the Lambda SQS
/// scaling guide's warning). The mapping's `ScalingConfig.MaximumConcurrency` (2–1000)
/// limits the poller itself.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Scale {
    /// `MaximumConcurrency` when an enabled SQS mapping from the queue to the function
    /// without provisioned pollers exists, else `ReservedConcurrency`.
    #[default]
    Auto,
    /// The function's reserved concurrency, as the original; never below the total maximum
    /// concurrency of the function's SQS mappings.
    ReservedConcurrency,
    /// The mapping's maximum concurrency (clamped to 2–1000); never above the function's
    /// reserved concurrency, if one is set, less the other SQS mappings' maxima.
    MaximumConcurrency,
    /// The mapping's maximum concurrency, and the reserved concurrency kept at it plus the
    /// other SQS mappings' maxima.
    Both,
}

impl LambdaConcurrencyScalerSpec {
    /// The upper bound, whichever key set it.
    pub fn max_concurrency(&self) -> Option<i32> {
        self.aws_lambda_max_concurrency
            .or(self.aws_lamnda_max_concurrency)
    }
}

/// The original's states. ERROR is not terminal: every run retries.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConcurrencyState {
    /// A change is due but waits for the minimum interval since the last adjustment.
    Pending,
    /// This run changed the reserved concurrency.
    Adjusting,
    /// The reserved concurrency is where the policy wants it.
    Adjusted,
    /// Something is wrong; `message` says what. Retried next run.
    Error,
    /// Held by the `autoscaling.k8s-lambda.dev/paused` or `…/paused-replicas` annotation.
    Paused,
}

/// What concurrency-scaler last found and did.
// Unset fields serialize as `null`, so the scaler's merge patch clears them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LambdaConcurrencyScalerStatus {
    pub state: Option<ConcurrencyState>,
    /// The concurrency the policy steps, as last seen or set: the reserved concurrency, or the
    /// mapping's maximum concurrency (`scaled` says which; absent: none set).
    pub concurrency: Option<i32>,
    /// What `concurrency` was applied to (`scale: Auto` resolved).
    #[serde(default)]
    pub scaled: Option<Scale>,
    /// The function's reserved concurrency as last seen or set (absent: none reserved).
    #[serde(default)]
    pub reserved_concurrency: Option<i32>,
    /// The maximum concurrency of the mapping from the queue, as last seen or set.
    #[serde(default)]
    pub maximum_concurrency: Option<i32>,
    /// When the reserved concurrency was last changed by the scaler.
    pub adjusted_timestamp: Option<Time>,
    /// Why the state is what it is (the error, for ERROR).
    pub message: Option<String>,
    /// The queue depth the last decision used.
    pub queue_depth: Option<i64>,
    pub observed_generation: Option<i64>,
    /// The generation for which the function and its event source mapping from the queue
    /// were found; checked again when the spec changes or after an error.
    pub verified_generation: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_sample_parses_and_either_spelling_sets_the_bound() {
        let original: LambdaConcurrencyScalerSpec = serde_json::from_value(serde_json::json!({
            "awsSQSName": "sqsName",
            "awsSQSMsgCountThreshold": 1000,
            "awsLambdaName": "lambdaFunctionName",
            "awsLambdaMinConcurrency": 50,
            "awsLamndaMaxConcurrency": 100,
            "awsLambdaStepConcurrency": 5
        }))
        .unwrap();
        assert_eq!(original.max_concurrency(), Some(100));
        assert!(
            original.aws_sqs_include_in_flight,
            "in-flight messages count by default"
        );
        assert_eq!(original.scale, Scale::Auto);
        let corrected: LambdaConcurrencyScalerSpec = serde_json::from_value(serde_json::json!({
            "awsSQSName": "q", "awsSQSMsgCountThreshold": 10, "awsLambdaName": "f",
            "awsLambdaMinConcurrency": 1, "awsLambdaMaxConcurrency": 7, "awsLambdaStepConcurrency": 2
        }))
        .unwrap();
        assert_eq!(corrected.max_concurrency(), Some(7));
        let old_count: LambdaConcurrencyScalerSpec = serde_json::from_value(serde_json::json!({
            "awsSQSName": "q", "awsSQSMsgCountThreshold": 10, "awsLambdaName": "f",
            "awsLambdaMinConcurrency": 1, "awsLambdaMaxConcurrency": 7, "awsLambdaStepConcurrency": 2,
            "awsSQSIncludeInFlight": false, "scale": "ReservedConcurrency"
        }))
        .unwrap();
        assert!(!old_count.aws_sqs_include_in_flight);
        assert_eq!(old_count.scale, Scale::ReservedConcurrency);
    }

    #[test]
    fn the_schema_carries_both_keys_and_the_cel_rules() {
        use kube::CustomResourceExt;
        let crd = serde_json::to_string(&LambdaConcurrencyScaler::crd()).unwrap();
        for needle in [
            "awsLamndaMaxConcurrency",
            "awsLambdaMaxConcurrency",
            "x-kubernetes-validations",
            "has(self.awsLamndaMaxConcurrency) || has(self.awsLambdaMaxConcurrency)",
            "\"status\":{}",
        ] {
            assert!(crd.contains(needle), "{needle} missing from {crd}");
        }
    }
}
