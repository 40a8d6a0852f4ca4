//! concurrency-scaler's world: the shared [`World`] with this function deployed (its RBAC
//! file and the LambdaConcurrencyScaler CRD only), moto told the account's concurrency quota,
//! and what only its tests need: SQS queues, Lambda functions and their mappings, scalers.
use jiff::Timestamp;
use k8s_ops::crd::lambda_concurrency::{LambdaConcurrencyScaler, LambdaConcurrencyScalerStatus};
use serde_json::Value;
use testbed::world::{World, consumers, scheduled};

pub const FUNCTION: &str = "concurrency-scaler";

/// The world, and the role the consumer functions run as.
pub async fn world() -> World {
    let w = World::builder()
        .function(FUNCTION)
        .manifests([
            "infra/k8s/crds/lambdaconcurrencyscalers.aws.operators.jittakal.io.yaml",
            "infra/k8s/rbac/concurrency-scaler.yaml",
        ])
        // moto enforces the account's unreserved-concurrency floor only when told the quota.
        .moto_env("MOTO_LAMBDA_CONCURRENCY_QUOTA", "1000")
        .start()
        .await;
    consumers::create_role(&w.aws).await.expect("consumer role");
    w
}

/// The run summary's counts under `keys`, in order (`None` for a missing one).
pub fn counts<const N: usize>(summary: &Value, keys: [&str; N]) -> [Option<u64>; N] {
    keys.map(|k| summary[k].as_u64())
}

/// What concurrency-scaler's tests do with the world.
pub trait Consumers {
    fn lambda(&self) -> aws_sdk_lambda::Client;
    fn sqs(&self) -> aws_sdk_sqs::Client;
    /// One scheduled run at `at`.
    fn run(&self, at: Timestamp) -> Result<Value, String>;
    /// A function in moto (never run).
    async fn create_function(&self, name: &str);
    /// Creates a queue; returns (url, arn).
    async fn create_queue(&self, name: &str) -> (String, String);
    /// An event source mapping from the queue `queue_arn` to `function`.
    async fn map(&self, queue_arn: &str, function: &str) {
        self.map_with(queue_arn, function, None).await;
    }
    /// The same, with a maximum concurrency.
    async fn map_with(&self, queue_arn: &str, function: &str, maximum: Option<i32>);
    /// The maximum concurrency of the mapping from `queue_arn` to `function`.
    async fn maximum(&self, queue_arn: &str, function: &str) -> Option<i32>;
    async fn send(&self, queue_url: &str, n: usize);
    /// The reserved concurrency of `function`.
    async fn reserved(&self, function: &str) -> Option<i32>;
    async fn create_scaler(&self, name: &str, spec: Value);
    /// Sets (`Some`) or removes (`None`) an annotation of scaler `name`.
    async fn annotate(&self, name: &str, key: &str, value: Option<&str>);
    async fn delete_scaler(&self, name: &str);
    async fn status(&self, name: &str) -> LambdaConcurrencyScalerStatus;
}

impl Consumers for World {
    fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.aws)
    }

    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.aws)
    }

    fn run(&self, at: Timestamp) -> Result<Value, String> {
        self.invoke(FUNCTION, &scheduled(at))
    }

    async fn create_function(&self, name: &str) {
        consumers::create_function(&self.aws, name)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    async fn create_queue(&self, name: &str) -> (String, String) {
        let url = testbed::world::sqs::create_queue(&self.sqs(), name).await;
        let arn = self
            .sqs()
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue arn")
            .attributes()
            .expect("attributes")[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        (url, arn)
    }

    async fn map_with(&self, queue_arn: &str, function: &str, maximum: Option<i32>) {
        let scaling = maximum.map(|m| {
            aws_sdk_lambda::types::ScalingConfig::builder()
                .maximum_concurrency(m)
                .build()
        });
        self.lambda()
            .create_event_source_mapping()
            .event_source_arn(queue_arn)
            .function_name(function)
            .set_scaling_config(scaling)
            .send()
            .await
            .expect("event source mapping");
    }

    async fn maximum(&self, queue_arn: &str, function: &str) -> Option<i32> {
        let listed = self
            .lambda()
            .list_event_source_mappings()
            .event_source_arn(queue_arn)
            .function_name(function)
            .send()
            .await
            .expect("list mappings");
        let [mapping] = listed.event_source_mappings() else {
            panic!("one mapping from {queue_arn} to {function}: {listed:?}");
        };
        mapping
            .scaling_config()
            .and_then(|c| c.maximum_concurrency())
    }

    async fn send(&self, queue_url: &str, n: usize) {
        testbed::world::sqs::send(&self.sqs(), queue_url, n).await;
    }

    async fn reserved(&self, function: &str) -> Option<i32> {
        self.lambda()
            .get_function_concurrency()
            .function_name(function)
            .send()
            .await
            .expect("get concurrency")
            .reserved_concurrent_executions()
    }

    async fn create_scaler(&self, name: &str, spec: Value) {
        self.create_resource::<LambdaConcurrencyScaler>("default", name, spec)
            .await;
    }

    async fn annotate(&self, name: &str, key: &str, value: Option<&str>) {
        let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
        kube::Api::<LambdaConcurrencyScaler>::namespaced(self.admin.clone(), "default")
            .patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(patch),
            )
            .await
            .unwrap_or_else(|e| panic!("annotate {name}: {e}"));
    }

    async fn delete_scaler(&self, name: &str) {
        kube::Api::<LambdaConcurrencyScaler>::namespaced(self.admin.clone(), "default")
            .delete(name, &Default::default())
            .await
            .unwrap_or_else(|e| panic!("delete {name}: {e}"));
    }

    async fn status(&self, name: &str) -> LambdaConcurrencyScalerStatus {
        self.status_of::<LambdaConcurrencyScaler>("default", name)
            .await
    }
}
