//! The stand-ins concurrency-scaler runs against in tests: moto (SQS, Lambda, STS, IAM), the
//! real control plane (harness::Cluster: EKS tokens verified by aws-iam-authenticator
//! against moto, aws-auth, this function's RBAC file) and the Lambda Runtime API emulator
//! running the real binary.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use k8s_ops::crd::lambda_concurrency::{LambdaConcurrencyScaler, LambdaConcurrencyScalerStatus};
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};
use testbed::harness::{Cluster, ClusterConfig, LambdaEmulator, Moto, Supervised};

pub const FUNCTION: &str = "concurrency-scaler";
pub const CLUSTER: &str = "demo";
pub const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/concurrency-scaler";
/// The smallest valid zip (an empty archive): moto stores code, never runs it.
const EMPTY_ZIP: [u8; 22] = *b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

pub struct World {
    pub moto: Moto,
    pub tb: Cluster,
    pub emulator: LambdaEmulator,
    pub lambda: aws_sdk_lambda::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub iam: aws_sdk_iam::Client,
    pub admin: kube::Client,
    /// The function's environment: its execution role's credentials and configuration.
    pub env: Vec<(String, String)>,
}

impl World {
    pub async fn start() -> World {
        // moto enforces the account's unreserved-concurrency floor only when told the quota.
        let moto = Moto::start_with("us-east-1", &[("MOTO_LAMBDA_CONCURRENCY_QUOTA", "1000")])
            .expect("moto");
        let tb = Cluster::start(ClusterConfig {
            cluster_name: CLUSTER.into(),
            sts_gateway: Some(moto.endpoint().to_owned()),
            manifests: vec![
                repo("infra/k8s/crds/lambdaconcurrencyscalers.aws.operators.jittakal.io.yaml"),
                repo("infra/k8s/rbac/concurrency-scaler.yaml"),
            ],
            ..Default::default()
        })
        .await
        .expect("cluster");
        // The execution role is mapped to the function's user and group, as in a real cluster.
        tb.map_function_roles(&[(EXECUTION_ROLE, FUNCTION)])
            .expect("aws-auth");
        let setup = moto.sdk_config().await;
        let creds = moto
            .assume_role(EXECUTION_ROLE, FUNCTION)
            .await
            .expect("execution role");
        let mut env = moto.env_for(&creds);
        env.extend(tb.cluster_env());
        let iam = aws_sdk_iam::Client::new(&setup);
        iam.create_role()
            .role_name("consumer")
            .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
            .send()
            .await
            .expect("consumer role");
        World {
            lambda: aws_sdk_lambda::Client::new(&setup),
            sqs: aws_sdk_sqs::Client::new(&setup),
            iam,
            admin: tb.kube_client_admin(),
            emulator: LambdaEmulator::start().expect("emulator"),
            moto,
            tb,
            env,
        }
    }

    /// Starts the real binary under the emulator with the world's environment plus `extra`.
    pub fn spawn(&self, extra: &[(&str, &str)]) -> Supervised {
        let mut env = self.env.clone();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.emulator
            .spawn_function(
                FUNCTION,
                env!("CARGO_BIN_EXE_concurrency-scaler").as_ref(),
                env,
            )
            .expect("function process")
    }

    /// One scheduled run at `at`, through `cargo lambda invoke`.
    pub fn invoke(&self, at: Timestamp) -> Result<Value, String> {
        let event = scheduled(at);
        tokio::task::block_in_place(|| self.emulator.invoke(FUNCTION, &event))
            .map_err(|e| e.to_string())
    }

    pub async fn create_function(&self, name: &str) {
        self.lambda
            .create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .role("arn:aws:iam::123456789012:role/consumer")
            .handler("bootstrap")
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(EMPTY_ZIP.to_vec()))
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create function {name}: {e:?}"));
    }

    /// Creates a queue; returns (url, arn).
    pub async fn create_queue(&self, name: &str) -> (String, String) {
        let url = self
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url()
            .unwrap()
            .to_owned();
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue arn")
            .attributes()
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        (url, arn)
    }

    pub async fn map(&self, queue_arn: &str, function: &str) {
        self.lambda
            .create_event_source_mapping()
            .event_source_arn(queue_arn)
            .function_name(function)
            .send()
            .await
            .expect("event source mapping");
    }

    pub async fn send(&self, queue_url: &str, n: usize) {
        for i in 0..n {
            self.sqs
                .send_message()
                .queue_url(queue_url)
                .message_body(format!("m{i}"))
                .send()
                .await
                .expect("send");
        }
    }

    pub async fn reserved(&self, function: &str) -> Option<i32> {
        self.lambda
            .get_function_concurrency()
            .function_name(function)
            .send()
            .await
            .expect("get concurrency")
            .reserved_concurrent_executions()
    }

    pub async fn create_scaler(&self, name: &str, spec: Value) {
        let scaler: LambdaConcurrencyScaler = serde_json::from_value(json!({
            "apiVersion": "aws.operators.jittakal.io/v1alpha1",
            "kind": "LambdaConcurrencyScaler",
            "metadata": {"name": name, "namespace": "default"},
            "spec": spec,
        }))
        .expect("a valid scaler");
        self.scalers()
            .create(&PostParams::default(), &scaler)
            .await
            .unwrap_or_else(|e| panic!("create scaler {name}: {e}"));
    }

    pub fn scalers(&self) -> Api<LambdaConcurrencyScaler> {
        Api::namespaced(self.admin.clone(), "default")
    }

    pub async fn status(&self, name: &str) -> LambdaConcurrencyScalerStatus {
        self.scalers()
            .get(name)
            .await
            .expect("scaler")
            .status
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
        events.sort_by_key(|e| e.first_timestamp.clone().map(|t| t.0));
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

/// The first run's schedule time: a minute ahead, so the event's time (not the clock, which
/// the function takes when later) is what every run decides with; whole seconds, so status
/// timestamps compare exactly.
pub fn t0() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second() + 60).unwrap()
}

/// An EventBridge scheduled event fired at `at`.
pub fn scheduled(at: Timestamp) -> Value {
    json!({
        "version": "0",
        "id": format!("run-{}", at.as_second()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.to_string(),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/concurrency-scaler"],
        "detail": {}
    })
}

/// Waits for `line` in the function's output (JSON logs) within `deadline`.
pub fn wait_for_log(
    function: &mut Supervised,
    deadline: Duration,
    matches: impl FnMut(&Value) -> bool,
) -> Result<Value, String> {
    let began = Instant::now();
    function
        .wait_for_json(deadline, matches)
        .map_err(|e| format!("after {:?}: {e}", began.elapsed()))
}
