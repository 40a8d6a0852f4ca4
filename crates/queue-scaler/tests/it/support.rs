//! queue-scaler's world: the shared [`World`] with this function deployed (its RBAC file
//! and the SqsQueueScaler CRD only), and what only its tests need: SQS, the scalers.
use jiff::Timestamp;
use k8s_ops::crd::keda::ScaledObject;
use k8s_ops::crd::sqs_queue::{SqsQueueScaler, SqsQueueScalerStatus};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use testbed::world::{World, scheduled};

pub const FUNCTION: &str = "queue-scaler";

/// KEDA's ScaledObject and TriggerAuthentication CRDs, as a cluster that ran KEDA has them.
pub const KEDA_CRDS: &str = "crates/queue-scaler/tests/it/fixtures/keda-crds.yaml";

/// The setting that makes queue-scaler read ScaledObjects.
pub const KEDA_ON: (&str, &str) = ("KEDA_SCALED_OBJECTS", "true");

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

/// [`world`] in a cluster that has KEDA's CRDs.
pub async fn keda_world() -> World {
    World::builder()
        .function(FUNCTION)
        .manifests([
            "infra/k8s/crds/sqsqueuescalers.autoscaling.k8s-lambda.dev.yaml",
            KEDA_CRDS,
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
    /// SQS in the functions' account, in `region`.
    fn sqs_in(&self, region: &str) -> aws_sdk_sqs::Client;
    fn scaled_objects(&self, namespace: &str) -> Api<ScaledObject>;
    /// Annotation `key` of ScaledObject `namespace/name`.
    async fn so_annotation(&self, namespace: &str, name: &str, key: &str) -> Option<String>;
    /// Sets (`Some`) or removes (`None`) annotations of ScaledObject `namespace/name`, as a
    /// user with kubectl annotate would.
    async fn annotate_so(&self, namespace: &str, name: &str, annotations: &[(&str, Option<&str>)]);
    /// The same, for SqsQueueScaler `default/name`.
    async fn annotate_scaler(&self, name: &str, annotations: &[(&str, Option<&str>)]);
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

    fn sqs_in(&self, region: &str) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::from(&self.aws)
            .region(aws_sdk_sqs::config::Region::new(region.to_owned()))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    fn scaled_objects(&self, namespace: &str) -> Api<ScaledObject> {
        Api::namespaced(self.admin.clone(), namespace)
    }

    async fn so_annotation(&self, namespace: &str, name: &str, key: &str) -> Option<String> {
        let so: ScaledObject = self.object(namespace, name).await;
        so.annotations().get(key).cloned()
    }

    async fn annotate_so(&self, namespace: &str, name: &str, annotations: &[(&str, Option<&str>)]) {
        annotate(&self.scaled_objects(namespace), name, annotations).await;
    }

    async fn annotate_scaler(&self, name: &str, annotations: &[(&str, Option<&str>)]) {
        annotate(&self.scalers(), name, annotations).await;
    }
}

/// Sets (`Some`) or removes (`None`) annotations of object `name`, as a user with kubectl
/// annotate would.
async fn annotate<K>(api: &Api<K>, name: &str, annotations: &[(&str, Option<&str>)])
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
    )
    .await
    .unwrap_or_else(|e| panic!("annotate {name}: {e}"));
}

pub use testbed::world::sqs::{create_queue, send};
