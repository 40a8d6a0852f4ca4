//! The stand-ins alarm-scaler and alarm-sync run against in tests: moto (CloudWatch through
//! the gateway, the tagging API, STS), the real control plane (harness::Cluster: EKS tokens verified by
//! aws-iam-authenticator against moto's STS, aws-auth mapping each function's execution role, the functions' RBAC files
//! from infra/k8s and nothing else) and the Lambda Runtime API emulator running the real
//! binaries. alarm-sync's tests include this file too.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use k8s_ops::crd::metric_alarm::{K8sMetricAlarm, K8sMetricAlarmStatus};
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};
use testbed::harness::{Cluster, ClusterConfig, LambdaEmulator, Moto, Supervised};

pub const CLUSTER: &str = "demo";
pub const ACCOUNT: &str = "123456789012";
pub const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:k8s-alarm-scaler";
pub const FUNCTIONS: [&str; 2] = ["alarm-scaler", "alarm-sync"];

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

pub fn execution_role(function: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{function}")
}

/// The binary of `function`, built with the profile these tests were built with: the test's
/// own function is `own`; the other one (a test of the whole chain needs both) is built next
/// to it with cargo, which is quick when it is up to date.
pub fn binary(function: &str, own: (&str, &str)) -> PathBuf {
    binary_in(function, function, own)
}

/// As [`binary`], for binary `bin` of package `package`.
pub fn binary_in(package: &str, bin: &str, own: (&str, &str)) -> PathBuf {
    if bin == own.0 {
        return PathBuf::from(own.1);
    }
    let sibling = Path::new(own.1).with_file_name(bin);
    let profile_dir = sibling
        .parent()
        .and_then(Path::file_name)
        .and_then(|p| p.to_str());
    let mut build = std::process::Command::new(env!("CARGO"));
    build
        .current_dir(repo(""))
        .args(["build", "--quiet", "-p", package, "--bin", bin]);
    // The sibling is built with the profile of the running test (`debug` is dev's dir;
    // `release`, `measure` are their profiles' own), so `make bench` finds it beside its own.
    if let Some(profile) = profile_dir.filter(|p| *p != "debug") {
        build.args(["--profile", profile]);
    }
    let status = build.status().expect("cargo build");
    assert!(status.success(), "cargo build -p {package} --bin {bin}");
    sibling
}

pub struct World {
    pub moto: Moto,
    pub tb: Cluster,
    pub emulator: LambdaEmulator,
    pub cw: aws_sdk_cloudwatch::Client,
    pub admin: kube::Client,
    envs: Vec<(String, Vec<(String, String)>)>,
}

impl World {
    /// Everything started; the CRD and both functions' RBAC files loaded, their execution
    /// roles mapped in aws-auth.
    pub async fn start() -> World {
        let moto = Moto::start().expect("moto");
        let tb = Cluster::start(ClusterConfig {
            cluster_name: CLUSTER.into(),
            sts_gateway: Some(moto.endpoint().to_owned()),
            manifests: vec![
                repo("infra/k8s/crds/k8smetricalarms.containerinsights.eks.com.yaml"),
                repo("infra/k8s/rbac/alarm-scaler.yaml"),
                repo("infra/k8s/rbac/alarm-sync.yaml"),
            ],
            ..Default::default()
        })
        .await
        .expect("cluster");
        let roles: Vec<(String, &str)> =
            FUNCTIONS.iter().map(|f| (execution_role(f), *f)).collect();
        let roles: Vec<(&str, &str)> = roles.iter().map(|(r, f)| (r.as_str(), *f)).collect();
        tb.map_function_roles(&roles).expect("aws-auth");
        let mut envs = Vec::new();
        for function in FUNCTIONS {
            let creds = moto
                .assume_role(&execution_role(function), function)
                .await
                .expect("execution role");
            let mut env = moto.env_for(&creds);
            env.extend(tb.cluster_env());
            env.push(("SNS_TOPIC_ARN".to_owned(), TOPIC.to_owned()));
            envs.push((function.to_owned(), env));
        }
        World {
            cw: aws_sdk_cloudwatch::Client::new(&moto.sdk_config().await),
            admin: tb.kube_client_admin(),
            emulator: LambdaEmulator::start().expect("emulator"),
            moto,
            tb,
            envs,
        }
    }

    /// Starts `function` (its binary at `binary`) under the emulator, with its execution
    /// role's credentials, the cluster's address, and `extra`.
    pub fn spawn(&self, function: &str, binary: &Path, extra: &[(&str, &str)]) -> Supervised {
        let mut env = self
            .envs
            .iter()
            .find(|(f, _)| f == function)
            .expect("a known function")
            .1
            .clone();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.emulator
            .spawn_function(function, binary, env)
            .expect("function process")
    }

    pub fn invoke(&self, function: &str, event: &Value) -> Result<Value, String> {
        tokio::task::block_in_place(|| self.emulator.invoke(function, event))
            .map_err(|e| e.to_string())
    }

    /// Invokes `function` with a sample event file exactly as a developer would:
    /// `cargo lambda invoke --data-file <file>`.
    pub fn invoke_file(&self, function: &str, file: &str) -> Result<Value, String> {
        let out = tokio::task::block_in_place(|| {
            std::process::Command::new("cargo")
                .current_dir(repo(""))
                .args(["lambda", "invoke", "-A", "127.0.0.1", "-P"])
                .arg(self.emulator.port().to_string())
                .args(["--output-format", "json", "--data-file"])
                .arg(repo(file))
                .arg(function)
                .env("NO_COLOR", "1")
                .output()
        })
        .map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!("{}{stdout}", String::from_utf8_lossy(&out.stderr)));
        }
        serde_json::from_str(stdout.trim()).map_err(|e| format!("{e}: {stdout}"))
    }

    /// Applies a manifest from the repository as `kubectl apply` would (admin).
    pub fn apply(&self, path: &str) {
        self.tb
            .load_manifests(&[repo(path)])
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    /// Namespace `name`, if new (the API server refuses objects in a namespace that does
    /// not exist).
    pub fn namespace(&self, name: &str) {
        self.tb
            .load_yaml(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n"
            ))
            .expect("namespace");
    }

    /// A Deployment (and its namespace, if new) with `replicas`.
    pub async fn create_deployment(&self, namespace: &str, name: &str, replicas: i32) {
        self.namespace(namespace);
        let deployment: Deployment = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
                }
            }
        }))
        .unwrap();
        Api::<Deployment>::namespaced(self.admin.clone(), namespace)
            .create(&PostParams::default(), &deployment)
            .await
            .expect("create deployment");
    }

    pub async fn replicas(&self, namespace: &str, name: &str) -> i32 {
        Api::<Deployment>::namespaced(self.admin.clone(), namespace)
            .get_scale(name)
            .await
            .expect("scale")
            .spec
            .and_then(|s| s.replicas)
            .unwrap_or(0)
    }

    pub async fn resource(&self, namespace: &str, name: &str) -> K8sMetricAlarm {
        Api::<K8sMetricAlarm>::namespaced(self.admin.clone(), namespace)
            .get(name)
            .await
            .expect("k8smetricalarm")
    }

    pub async fn status(&self, namespace: &str, name: &str) -> K8sMetricAlarmStatus {
        self.resource(namespace, name)
            .await
            .status
            .unwrap_or_default()
    }

    /// (type, reason, message) of the Events about `name`, oldest first.
    /// The Events the suite's functions recorded about object `name` (the controller
    /// manager's own, e.g. the deployment controller's ScalingReplicaSet, left out).
    pub async fn events(&self, namespace: &str, name: &str) -> Vec<(String, String, String)> {
        let mut events: Vec<Event> = Api::<Event>::namespaced(self.admin.clone(), namespace)
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name))
            .filter(|e| {
                e.reporting_component
                    .as_deref()
                    .is_some_and(|c| FUNCTIONS.contains(&c))
            })
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

    pub async fn alarm(&self, name: &str) -> Option<MetricAlarm> {
        self.cw
            .describe_alarms()
            .alarm_names(name)
            .send()
            .await
            .expect("DescribeAlarms")
            .metric_alarms()
            .first()
            .cloned()
    }

    pub async fn alarm_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .cw
            .describe_alarms()
            .send()
            .await
            .expect("DescribeAlarms")
            .metric_alarms()
            .iter()
            .filter_map(|a| a.alarm_name().map(Into::into))
            .collect();
        names.sort();
        names
    }

    pub async fn tags(&self, arn: &str) -> Vec<(String, String)> {
        let mut tags: Vec<(String, String)> = self
            .cw
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .expect("ListTagsForResource")
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().into(),
                    t.value().unwrap_or_default().into(),
                )
            })
            .collect();
        tags.sort();
        tags
    }

    /// Puts the alarm in ALARM, as CloudWatch does on a breach before it notifies.
    pub async fn breach(&self, alarm: &str) {
        self.cw
            .set_alarm_state()
            .alarm_name(alarm)
            .state_value(StateValue::Alarm)
            .state_reason("Threshold Crossed (test)")
            .send()
            .await
            .expect("SetAlarmState ALARM");
    }

    /// Replaces the rules of ClusterRole `lambda:<function>` (RBAC experiments).
    pub async fn set_rules(&self, function: &str, rules: Value) {
        testbed::harness::rbac::set_rules(&self.admin, &format!("lambda:{function}"), rules)
            .await
            .expect("replace role");
    }

    /// The rules `infra/k8s/rbac/<function>.yaml` grants.
    pub fn rules_of(function: &str) -> Vec<Value> {
        testbed::harness::rbac::rules_of(repo(&format!("infra/k8s/rbac/{function}.yaml")))
            .expect("a ClusterRole with rules")
    }
}

/// The sample SNS event for `alarm`, as CloudWatch would publish it now through SNS, with
/// `message_id` and the alarm's real ARN.
pub fn notification(alarm: &MetricAlarm, message_id: &str, state: &str) -> Value {
    let sample = std::fs::read_to_string(repo("events/alarm-scaler/scale-up-alarm.json")).unwrap();
    let mut event: Value = serde_json::from_str(&sample).unwrap();
    let sns = &mut event["Records"][0]["Sns"];
    let mut message: Value = serde_json::from_str(sns["Message"].as_str().unwrap()).unwrap();
    message["AlarmName"] = json!(alarm.alarm_name());
    message["AlarmArn"] = json!(alarm.alarm_arn());
    message["AlarmDescription"] = json!(alarm.alarm_description());
    message["NewStateValue"] = json!(state);
    message["OldStateValue"] = json!(if state == "ALARM" { "OK" } else { "ALARM" });
    sns["Message"] = json!(message.to_string());
    sns["MessageId"] = json!(message_id);
    sns["Timestamp"] = json!(jiff::Timestamp::now().to_string());
    event
}

/// The first JSON log line of `function` that `matches`, within 10 s.
pub fn log_line(function: &mut Supervised, mut matches: impl FnMut(&Value) -> bool) -> Value {
    function
        .wait_for_line(Duration::from_secs(10), |line| {
            let v: Value = serde_json::from_str(line).ok()?;
            matches(&v).then_some(v)
        })
        .unwrap_or_else(|e| panic!("no such log line: {e}"))
}
