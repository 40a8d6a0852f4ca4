//! alarm-scaler's worlds: the shared [`World`] with both alarm functions deployed (a test of
//! the whole chain needs alarm-sync to make the alarms), or alarm-scaler alone; the
//! K8sMetricAlarm CRD and the functions' RBAC files only. And what only these tests read or
//! set as an administrator: the resource's status and spec, the Deployment's annotations.
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_ops::crd::metric_alarm::{K8sMetricAlarm, K8sMetricAlarmStatus};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use testbed::world::cloudwatch::TOPIC;
use testbed::world::{World, build};

use crate::kinds::{Alarm, now, put_alarm, sns};

pub const FUNCTION: &str = "alarm-scaler";

/// alarm-scaler alone: its RBAC file and the CRD; the tests put their alarms in moto
/// themselves ([`crate::kinds::put_alarm`]).
pub async fn scaler_world() -> World {
    World::builder()
        .function(FUNCTION)
        .manifests([
            "infra/k8s/crds/k8smetricalarms.containerinsights.eks.com.yaml",
            "infra/k8s/rbac/alarm-scaler.yaml",
        ])
        .start()
        .await
}

/// [`scaler_world`] with Deployment web/web at 4 replicas, the sample K8sMetricAlarm
/// `web/web-http-rate` and its scale-up alarm (in moto, us-east-1, in ALARM).
pub async fn web_world() -> (World, Alarm) {
    let w = scaler_world().await;
    w.create_deployment("web", "web", 4).await;
    w.apply("infra/k8s/samples/k8smetricalarm-web.yaml");
    let up = put_alarm(
        &w,
        "us-east-1",
        "web-http-rate-high",
        "GreaterThanOrEqualToThreshold",
        &[],
    )
    .await;
    (w, up)
}

pub async fn world() -> World {
    World::builder()
        .function(FUNCTION)
        .binary("alarm-sync", build("alarm-sync", "alarm-sync"))
        .manifests([
            "infra/k8s/crds/k8smetricalarms.containerinsights.eks.com.yaml",
            "infra/k8s/rbac/alarm-scaler.yaml",
            "infra/k8s/rbac/alarm-sync.yaml",
        ])
        .env("SNS_TOPIC_ARN", TOPIC)
        .start()
        .await
}

/// K8sMetricAlarm `namespace/name` scaling `target` (the spec's `deployment: web` or
/// `scaleTargetRef: {...}` line, as YAML) between 1 and 10, two pods per step up and one down,
/// no cooldown, on alarms `<name>-high` and `<name>-low`; `extra` adds spec lines (2 spaces
/// in), `annotations` metadata annotations (4 spaces in).
pub fn alarm_resource(namespace: &str, name: &str, target: &str, extra: &str) -> String {
    format!(
        "apiVersion: containerinsights.eks.com/v1
kind: K8sMetricAlarm
metadata: {{namespace: {namespace}, name: {name}}}
spec:
  {target}
  minReplicas: 1
  maxReplicas: 10
  scaleUpBehavior: {{policies: [{{type: Pods, value: 2}}]}}
  scaleUpAlarmConfig: '{{\"AlarmName\": \"{name}-high\"}}'
  scaleDownAlarmConfig: '{{\"AlarmName\": \"{name}-low\"}}'
{extra}
"
    )
}

/// StatefulSet `namespace/name` with `replicas` (the namespace must exist).
pub fn create_statefulset(w: &World, namespace: &str, name: &str, replicas: i32) {
    let yaml = format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata: {{namespace: {namespace}, name: {name}}}
spec:
  replicas: {replicas}
  serviceName: {name}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: app, image: busybox}}]}}
"
    );
    w.cluster
        .load_yaml(&yaml)
        .unwrap_or_else(|e| panic!("statefulset {namespace}/{name}: {e}"));
}

/// The replicas of StatefulSet `namespace/name`, as its scale subresource says.
pub async fn statefulset_replicas(w: &World, namespace: &str, name: &str) -> i32 {
    Api::<StatefulSet>::namespaced(w.admin.clone(), namespace)
        .get_scale(name)
        .await
        .unwrap_or_else(|e| panic!("scale of statefulset {namespace}/{name}: {e}"))
        .spec
        .and_then(|s| s.replicas)
        .unwrap_or(0)
}

/// The outcome of an SNS notification of `alarm` entering ALARM now, as message `id`.
pub fn notify(w: &World, alarm: &Alarm, id: &str) -> Value {
    let response = w
        .invoke(FUNCTION, &sns(alarm, "ALARM", now(), id))
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    response["outcomes"][0].clone()
}

/// Deployment `namespace/name`'s replicas and generation: the generation moves with every
/// write of its spec, a scale included, so an unchanged pair means nothing was written.
pub async fn written(w: &World, namespace: &str, name: &str) -> (i32, Option<i64>) {
    let d = w
        .deployments(namespace)
        .get(name)
        .await
        .expect("deployment");
    (w.replicas(namespace, name).await, d.metadata.generation)
}

/// An outcome's (decision, from, to).
pub fn step_of(o: &Value) -> (Option<&str>, Option<i64>, Option<i64>) {
    (o["decision"].as_str(), o["from"].as_i64(), o["to"].as_i64())
}

/// `status.scaleConditions[type]` of a status.
pub fn condition<'s>(status: &'s K8sMetricAlarmStatus, type_: &str) -> Option<&'s Condition> {
    status.scale_conditions.iter().find(|c| c.type_ == type_)
}

pub trait Objects {
    /// The status of K8sMetricAlarm `namespace/name` (default when none is written yet).
    async fn status(&self, namespace: &str, name: &str) -> K8sMetricAlarmStatus;
    /// The annotations of Deployment `namespace/name`.
    async fn annotations(&self, namespace: &str, name: &str) -> BTreeMap<String, String>;
    /// Merges `annotations` into Deployment `namespace/name`'s, as an administrator (or the
    /// original function) would.
    async fn annotate(&self, namespace: &str, name: &str, annotations: Value);
    /// Merges `patch` into K8sMetricAlarm `namespace/name` (its spec).
    async fn patch_resource(&self, namespace: &str, name: &str, patch: Value);
    /// Forgets every step recorded in K8sMetricAlarm `namespace/name`'s status.
    async fn forget_steps(&self, namespace: &str, name: &str);
}

impl Objects for World {
    async fn status(&self, namespace: &str, name: &str) -> K8sMetricAlarmStatus {
        self.status_of::<K8sMetricAlarm>(namespace, name).await
    }

    async fn annotations(&self, namespace: &str, name: &str) -> BTreeMap<String, String> {
        self.deployments(namespace)
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("deployment {namespace}/{name}: {e}"))
            .metadata
            .annotations
            .unwrap_or_default()
    }

    async fn annotate(&self, namespace: &str, name: &str, annotations: Value) {
        let patch = json!({"metadata": {"annotations": annotations}});
        self.deployments(namespace)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("annotate deployment {namespace}/{name}: {e}"));
    }

    async fn patch_resource(&self, namespace: &str, name: &str, patch: Value) {
        Api::<K8sMetricAlarm>::namespaced(self.admin.clone(), namespace)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch k8smetricalarm {namespace}/{name}: {e}"));
    }

    async fn forget_steps(&self, namespace: &str, name: &str) {
        let patch = json!({"status": {"lastScaleUp": null, "lastScaleDown": null}});
        Api::<K8sMetricAlarm>::namespaced(self.admin.clone(), namespace)
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("status of k8smetricalarm {namespace}/{name}: {e}"));
    }
}
