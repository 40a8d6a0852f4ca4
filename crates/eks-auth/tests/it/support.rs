//! Shared by the authentication tests: the cluster they authenticate to, the RBAC their
//! identities get, the requests that RBAC allows and refuses, and for the tests that look
//! for leaked secrets, the process's log lines, captured.
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Api;
use serde_json::json;
use testbed::harness::manifests::{self, Subject};
use testbed::harness::{Cluster, ClusterConfig, Moto};

/// The EKS cluster the tests authenticate to.
pub const CLUSTER: &str = "demo";
/// Who they authenticate as: alarm-scaler's execution role, which aws-auth maps to user
/// `alarm-scaler`, group `lambda:alarm-scaler` (see [`eks_cluster`]).
pub const ROLE: &str = "arn:aws:iam::123456789012:role/alarm-scaler";

/// The real control plane as EKS is to a Lambda function: cluster [`CLUSTER`] in moto's
/// region, verifying EKS tokens through moto's STS, with `manifests` applied and [`ROLE`]
/// mapped in aws-auth.
pub async fn eks_cluster(moto: &Moto, manifests: Vec<PathBuf>) -> Cluster {
    let cluster = Cluster::start(ClusterConfig {
        cluster_name: CLUSTER.into(),
        region: moto.region().into(),
        sts_gateway: Some(moto.endpoint().into()),
        manifests,
        ..Default::default()
    })
    .await
    .expect("cluster");
    cluster
        .map_function_roles(&[(ROLE, "alarm-scaler")])
        .expect("aws-auth");
    cluster
}

/// RBAC letting `subject` get and list namespaces, and nothing else: a request the
/// authenticated identity is allowed ([`list_namespaces`]), and one it is refused
/// ([`pods_forbidden`]).
pub fn namespace_reader(subject: Subject) -> String {
    let rules = json!([{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]}]);
    manifests::grant(None, "namespace-reader", rules, subject)
}

/// How many namespaces `client` lists, or why it could not.
pub async fn list_namespaces(client: &kube::Client) -> Result<usize, kube::Error> {
    Ok(Api::<Namespace>::all(client.clone())
        .list(&Default::default())
        .await?
        .items
        .len())
}

/// Lists pods as `client`, which [`namespace_reader`] does not grant: the API server's 403
/// (asserted), whose message names who was refused.
pub async fn pods_forbidden(client: &kube::Client) -> kube::Error {
    let err = Api::<Pod>::namespaced(client.clone(), "default")
        .list(&Default::default())
        .await
        .unwrap_err();
    assert_status(&err, 403);
    err
}

/// Asserts that `err` is the API server's answer with HTTP status `code`.
pub fn assert_status(err: &kube::Error, code: u16) {
    assert!(
        matches!(err, kube::Error::Api(s) if s.code == code),
        "{err}"
    );
}

/// Every line logged in this process from the first call on, at every level. The subscriber
/// is process-wide and installed once: nextest runs each test in a process of its own, and
/// under `cargo test` the tests of this binary share it (each only looks for its own secrets).
pub fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Capture(logs.clone());
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || sink.clone())
            .init();
        logs
    })
    .clone()
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
