//! The stand-ins queue-scaler runs against in tests: moto (SQS, STS; several accounts), the
//! real control plane (harness::Cluster: EKS tokens verified by aws-iam-authenticator
//! against moto, aws-auth, this function's RBAC file) and the Lambda Runtime API emulator
//! running the real binary.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use k8s_ops::crd::sqs_queue::{SqsQueueScaler, SqsQueueScalerStatus};
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};
use testbed::harness::{Cluster, ClusterConfig, LambdaEmulator, Moto, Supervised};

pub const FUNCTION: &str = "queue-scaler";
pub const CLUSTER: &str = "demo";
pub const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/queue-scaler";

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

pub struct World {
    pub moto: Moto,
    pub tb: Cluster,
    pub emulator: LambdaEmulator,
    /// SQS in the function's own account (123456789012).
    pub sqs: aws_sdk_sqs::Client,
    pub admin: kube::Client,
    pub env: Vec<(String, String)>,
}

impl World {
    /// `manifests`: extra YAML loaded into the API server (beyond the CRD and RBAC).
    pub async fn start() -> World {
        let moto = Moto::start().expect("moto");
        let tb = Cluster::start(ClusterConfig {
            cluster_name: CLUSTER.into(),
            sts_gateway: Some(moto.endpoint().to_owned()),
            manifests: vec![
                repo("infra/k8s/crds/sqsqueuescalers.autoscaling.k8s-lambda.dev.yaml"),
                repo("infra/k8s/rbac/queue-scaler.yaml"),
            ],
            ..Default::default()
        })
        .await
        .expect("cluster");
        tb.map_function_roles(&[(EXECUTION_ROLE, FUNCTION)])
            .expect("aws-auth");
        let creds = moto
            .assume_role(EXECUTION_ROLE, FUNCTION)
            .await
            .expect("execution role");
        let mut env = moto.env_for(&creds);
        env.extend(tb.cluster_env());
        World {
            sqs: aws_sdk_sqs::Client::new(&moto.sdk_config().await),
            admin: tb.kube_client_admin(),
            emulator: LambdaEmulator::start().expect("emulator"),
            moto,
            tb,
            env,
        }
    }

    /// SQS in another account, as a role there sees it (moto keeps accounts apart).
    pub async fn sqs_as(&self, role_arn: &str) -> aws_sdk_sqs::Client {
        let creds = self
            .moto
            .assume_role(role_arn, "setup")
            .await
            .expect("assume");
        aws_sdk_sqs::Client::new(&self.moto.sdk_config_for(&creds).await)
    }

    pub fn spawn(&self, extra: &[(&str, &str)]) -> Supervised {
        let mut env = self.env.clone();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.emulator
            .spawn_function(FUNCTION, env!("CARGO_BIN_EXE_queue-scaler").as_ref(), env)
            .expect("function process")
    }

    pub fn invoke(&self, at: Timestamp) -> Result<Value, String> {
        let event = scheduled(at);
        tokio::task::block_in_place(|| self.emulator.invoke(FUNCTION, &event))
            .map_err(|e| e.to_string())
    }

    pub async fn deployment(&self, name: &str, replicas: i32) {
        let d: Deployment = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "busybox"}]}
                }
            }
        }))
        .unwrap();
        self.deployments()
            .create(&PostParams::default(), &d)
            .await
            .unwrap_or_else(|e| panic!("deployment {name}: {e}"));
    }

    pub fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.admin.clone(), "default")
    }

    pub async fn replicas(&self, name: &str) -> i32 {
        k8s_ops::scale::replicas(&self.deployments(), name)
            .await
            .expect("scale")
    }

    pub fn scalers(&self) -> Api<SqsQueueScaler> {
        Api::namespaced(self.admin.clone(), "default")
    }

    pub async fn create_scaler(&self, name: &str, spec: Value) {
        let scaler: SqsQueueScaler = serde_json::from_value(json!({
            "apiVersion": "autoscaling.k8s-lambda.dev/v1alpha1",
            "kind": "SqsQueueScaler",
            "metadata": {"name": name, "namespace": "default"},
            "spec": spec,
        }))
        .expect("a valid scaler");
        self.scalers()
            .create(&PostParams::default(), &scaler)
            .await
            .unwrap_or_else(|e| panic!("create scaler {name}: {e}"));
    }

    pub async fn status(&self, name: &str) -> SqsQueueScalerStatus {
        self.scalers()
            .get(name)
            .await
            .expect("scaler")
            .status
            .unwrap_or_default()
    }

    /// The condition `type_` of scaler `name`: (status, reason, message).
    pub async fn condition(&self, name: &str, type_: &str) -> (String, String, String) {
        self.status(name)
            .await
            .conditions
            .into_iter()
            .find(|c| c.type_ == type_)
            .map(|c| (c.status, c.reason, c.message))
            .unwrap_or_default()
    }

    /// (type, reason, message) of the Events about scaler `name`, oldest first.
    pub async fn events(&self, name: &str) -> Vec<(String, String, String)> {
        let mut events: Vec<Event> = Api::<Event>::namespaced(self.admin.clone(), "default")
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name))
            // The function's own; the controller manager records its own (ScalingReplicaSet).
            .filter(|e| e.reporting_component.as_deref() == Some(FUNCTION))
            .collect();
        events.sort_by_key(|e| {
            (
                e.first_timestamp.clone().map(|t| t.0),
                e.metadata.name.clone(),
            )
        });
        events
            .into_iter()
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default(),
                )
            })
            .collect()
    }
}

pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .unwrap()
        .to_owned()
}

pub async fn send(sqs: &aws_sdk_sqs::Client, queue_url: &str, n: usize) {
    for i in 0..n {
        sqs.send_message()
            .queue_url(queue_url)
            .message_body(format!("m{i}"))
            .send()
            .await
            .expect("send");
    }
}

pub fn scheduled(at: Timestamp) -> Value {
    json!({
        "version": "0",
        "id": format!("run-{}", at.as_second()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.to_string(),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/queue-scaler"],
        "detail": {}
    })
}

/// The first run's schedule time: a minute ahead, so the event's time (not the clock, which
/// the function takes when later) is what every run decides with.
pub fn t0() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second() + 60).unwrap()
}

pub fn wait_for_log(
    function: &mut Supervised,
    deadline: Duration,
    matches: impl FnMut(&Value) -> bool,
) -> Result<Value, String> {
    function
        .wait_for_json(deadline, matches)
        .map_err(|e| e.to_string())
}
