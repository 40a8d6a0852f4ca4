//! alarm-scaler's world: the shared [`World`] with both alarm functions deployed (a test of
//! the whole chain needs alarm-sync to make the alarms), the K8sMetricAlarm CRD and both
//! functions' RBAC files only; and the resource's status, which only these tests read.
use k8s_ops::crd::metric_alarm::{K8sMetricAlarm, K8sMetricAlarmStatus};
use testbed::world::cloudwatch::TOPIC;
use testbed::world::{World, build};

pub const FUNCTION: &str = "alarm-scaler";

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

pub trait Status {
    /// The status of K8sMetricAlarm `namespace/name` (default when none is written yet).
    async fn status(&self, namespace: &str, name: &str) -> K8sMetricAlarmStatus;
}

impl Status for World {
    async fn status(&self, namespace: &str, name: &str) -> K8sMetricAlarmStatus {
        self.status_of::<K8sMetricAlarm>(namespace, name).await
    }
}
