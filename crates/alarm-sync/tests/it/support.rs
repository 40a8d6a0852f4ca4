//! alarm-sync's world: the shared [`World`] with this function deployed (the K8sMetricAlarm
//! CRD and its RBAC file only); and the resources it reconciles, read as admin.
use k8s_ops::crd::metric_alarm::{K8sMetricAlarm, K8sMetricAlarmStatus};
use testbed::world::World;
use testbed::world::cloudwatch::TOPIC;

pub const FUNCTION: &str = "alarm-sync";

pub async fn world() -> World {
    World::builder()
        .function(FUNCTION)
        .manifests([
            "infra/k8s/crds/k8smetricalarms.containerinsights.eks.com.yaml",
            "infra/k8s/rbac/alarm-sync.yaml",
        ])
        .env("SNS_TOPIC_ARN", TOPIC)
        .start()
        .await
}

pub trait Resources {
    async fn resource(&self, namespace: &str, name: &str) -> K8sMetricAlarm;
    /// The status of K8sMetricAlarm `namespace/name` (default when none is written yet).
    async fn status(&self, namespace: &str, name: &str) -> K8sMetricAlarmStatus;
}

impl Resources for World {
    async fn resource(&self, namespace: &str, name: &str) -> K8sMetricAlarm {
        self.object(namespace, name).await
    }

    async fn status(&self, namespace: &str, name: &str) -> K8sMetricAlarmStatus {
        self.status_of::<K8sMetricAlarm>(namespace, name).await
    }
}
