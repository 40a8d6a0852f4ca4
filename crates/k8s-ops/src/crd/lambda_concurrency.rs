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
    doc = "Steps a Lambda function's reserved concurrency with the depth of the SQS queue feeding it (concurrency-scaler)",
    status = "LambdaConcurrencyScalerStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Concurrency","type":"integer","jsonPath":".status.concurrency"}"#,
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
    /// Count in-flight messages (received, not yet deleted) as depth too. The original counted
    /// visible messages only, which is the default.
    #[serde(rename = "awsSQSIncludeInFlight", default)]
    pub aws_sqs_include_in_flight: bool,
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
}

/// What concurrency-scaler last found and did.
// Unset fields serialize as `null`, so the scaler's merge patch clears them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LambdaConcurrencyScalerStatus {
    pub state: Option<ConcurrencyState>,
    /// The function's reserved concurrency as last seen or set (absent: none reserved).
    pub concurrency: Option<i32>,
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
        assert!(!original.aws_sqs_include_in_flight);
        let corrected: LambdaConcurrencyScalerSpec = serde_json::from_value(serde_json::json!({
            "awsSQSName": "q", "awsSQSMsgCountThreshold": 10, "awsLambdaName": "f",
            "awsLambdaMinConcurrency": 1, "awsLambdaMaxConcurrency": 7, "awsLambdaStepConcurrency": 2
        }))
        .unwrap();
        assert_eq!(corrected.max_concurrency(), Some(7));
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
