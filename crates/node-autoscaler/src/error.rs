//! How an invocation fails. Each kind is reported to Lambda under its own `errorType`
//! (what alarms and log queries match on); the message is the cause's own.
use k8s_ops::drain::DrainError;
use lambda_support::ErrorType;
use lambda_support::eventbridge::EventError;

use crate::ec2::Ec2Error;
use crate::kube_client::ClientError;
use crate::prometheus::PromError;
use crate::ssm::SsmError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not an event this function handles (a mis-wired rule): nothing changed.
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
    /// DynamoDB: the lease, the state, the recorded actions.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ssm(#[from] SsmError),
    /// No client for the API server: the CA or the URL is unusable.
    #[error(transparent)]
    KubeClient(#[from] ClientError),
    #[error(transparent)]
    Kubernetes(#[from] kube::Error),
    /// Cordoning a node failed.
    #[error(transparent)]
    Cordon(#[from] DrainError),
    #[error(transparent)]
    Prometheus(#[from] PromError),
    /// Nothing would ever uncordon the node: the run fails and the next one resumes it.
    #[error(
        "drain of node {node} failed and left it cordoned ({why}): the action stays recorded for the next run"
    )]
    LeftCordoned { node: String, why: String },
    /// A scale-up whose every launch failed: an error, so it counts in the function's
    /// Errors metric (and an async retry tries again), not a quiet success nobody reads.
    #[error("scale up launched nothing: {}", .0.join("; "))]
    NothingLaunched(Vec<String>),
}

impl ErrorType for Error {
    fn error_type(&self) -> &'static str {
        match self {
            Error::Event(_) => "EventRejected",
            // A configuration to fix (CLUSTER_TAG_KEY/VALUE), not an EC2 outage.
            Error::Ec2(Ec2Error::AmbiguousControlPlane { .. }) => "ControlPlaneAmbiguous",
            Error::Ec2(_) => "Ec2Failed",
            // Another run took the lease over: this one stopped before its next write.
            Error::Store(StoreError::Fenced { .. }) => "LeaseLost",
            Error::Store(_) => "DynamoDbFailed",
            Error::Ssm(_) | Error::KubeClient(ClientError::CaParameter(_)) => "SsmFailed",
            Error::KubeClient(_) => "ClusterAccessInvalid",
            Error::Kubernetes(_) | Error::Cordon(_) => "KubernetesFailed",
            Error::Prometheus(_) => "PrometheusFailed",
            Error::LeftCordoned { .. } => "DrainFailed",
            Error::NothingLaunched(_) => "LaunchFailed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_error_type_and_keeps_its_message() {
        let table: [(Error, &str, &str); 6] = [
            (
                Ec2Error::AmbiguousControlPlane {
                    tag: "k3s-role=master".into(),
                    count: 2,
                    ids: "i-1, i-2".into(),
                }
                .into(),
                "ControlPlaneAmbiguous",
                "2 running instances carry the master tag k3s-role=master (i-1, i-2) and no cluster tag says which is this cluster's: tag each cluster's control plane and workers with its own cluster tag and set CLUSTER_TAG_KEY and CLUSTER_TAG_VALUE",
            ),
            (
                EventError::Shape("missing field `time`".into()).into(),
                "EventRejected",
                "not an EventBridge event: missing field `time`",
            ),
            (
                StoreError::Fenced {
                    key: "periodic".into(),
                }
                .into(),
                "LeaseLost",
                "lease periodic lost (taken over by a later holder): write refused",
            ),
            (
                Error::LeftCordoned {
                    node: "worker-a".into(),
                    why: "evictions refused".into(),
                },
                "DrainFailed",
                "drain of node worker-a failed and left it cordoned (evictions refused): the action stays recorded for the next run",
            ),
            (
                Error::NothingLaunched(vec!["no capacity".into(), "denied".into()]),
                "LaunchFailed",
                "scale up launched nothing: no capacity; denied",
            ),
            (
                ClientError::CaNotBase64("bad".into()).into(),
                "ClusterAccessInvalid",
                "CERT_AUTHORITY: not base64: bad",
            ),
        ];
        lambda_support::testing::assert_reported(table);
    }
}
