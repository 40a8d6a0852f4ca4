//! queue-scaler's world: the shared [`World`] with this function deployed (its RBAC file
//! and the SqsQueueScaler CRD only), and what only its tests need: SQS, the scalers.
use jiff::Timestamp;
use k8s_ops::crd::sqs_queue::{SqsQueueScaler, SqsQueueScalerStatus};
use kube::Api;
use serde_json::Value;
use testbed::world::{World, scheduled};

pub const FUNCTION: &str = "queue-scaler";

pub async fn world() -> World {
    World::builder()
        .function(FUNCTION)
        .manifests([
            "infra/k8s/crds/sqsqueuescalers.autoscaling.k8s-lambda.dev.yaml",
            "infra/k8s/rbac/queue-scaler.yaml",
        ])
        .start()
        .await
}

/// What queue-scaler's tests do with the world.
pub trait Scalers {
    /// SQS in the function's own account (123456789012).
    fn sqs(&self) -> aws_sdk_sqs::Client;
    /// SQS in another account, as a role there sees it.
    async fn sqs_as(&self, role_arn: &str) -> aws_sdk_sqs::Client;
    /// One scheduled run at `at`.
    fn run(&self, at: Timestamp) -> Result<Value, String>;
    fn scalers(&self) -> Api<SqsQueueScaler>;
    async fn create_scaler(&self, name: &str, spec: Value);
    async fn status(&self, name: &str) -> SqsQueueScalerStatus;
    /// The condition `type_` of scaler `name`: (status, reason, message).
    async fn condition(&self, name: &str, type_: &str) -> (String, String, String);
}

impl Scalers for World {
    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.aws)
    }

    async fn sqs_as(&self, role_arn: &str) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.aws_as(role_arn).await)
    }

    fn run(&self, at: Timestamp) -> Result<Value, String> {
        self.invoke(FUNCTION, &scheduled(at))
    }

    fn scalers(&self) -> Api<SqsQueueScaler> {
        Api::namespaced(self.admin.clone(), "default")
    }

    async fn create_scaler(&self, name: &str, spec: Value) {
        self.create_resource::<SqsQueueScaler>("default", name, spec)
            .await;
    }

    async fn status(&self, name: &str) -> SqsQueueScalerStatus {
        self.status_of::<SqsQueueScaler>("default", name).await
    }

    async fn condition(&self, name: &str, type_: &str) -> (String, String, String) {
        self.status(name)
            .await
            .conditions
            .into_iter()
            .find(|c| c.type_ == type_)
            .map(|c| (c.status, c.reason, c.message))
            .unwrap_or_default()
    }
}

pub use testbed::world::sqs::{create_queue, send};
