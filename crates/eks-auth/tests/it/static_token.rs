//! Static service-account tokens for a self-managed (k3s) cluster: the token of a
//! `kubernetes.io/service-account-token` Secret (the real control plane's controller manager
//! fills it in) lives in an SSM SecureString parameter (moto); kube-apiserver authenticates
//! it as the service account and RBAC applies; rotation (a new Secret, the old one deleted)
//! goes through the client's 401 → invalidate → retry.
use std::sync::Arc;

use aws_sdk_ssm::types::ParameterType;
use eks_auth::{ClusterAccess, SsmTokenSource, kube_client};
use testbed::harness::manifests::Subject;
use testbed::harness::{Cluster, ClusterConfig, Moto};

use crate::support::{assert_status, list_namespaces, namespace_reader, pods_forbidden};

const PARAMETER: &str = "/k3s/prod/node-autoscaler/token";
// The Secrets holding the first and the rotated token.
const SECRET_1: &str = "node-autoscaler-token-one";
const SECRET_2: &str = "node-autoscaler-token-two";

/// The service account whose tokens the tests read from SSM.
const SERVICE_ACCOUNT: &str = "
apiVersion: v1
kind: ServiceAccount
metadata: {name: node-autoscaler, namespace: kube-system}
";

struct World {
    _moto: Moto,
    testbed: Cluster,
    ssm: aws_sdk_ssm::Client,
    /// The first token, in SSM when the world starts.
    token_1: String,
}

async fn world() -> World {
    let moto = Moto::start().expect("moto");
    let ssm = aws_sdk_ssm::Client::new(&moto.sdk_config().await);
    let testbed = Cluster::start(ClusterConfig::default())
        .await
        .expect("cluster");
    testbed.load_yaml(SERVICE_ACCOUNT).expect("service account");
    let subject = Subject::ServiceAccount {
        namespace: "kube-system",
        name: "node-autoscaler",
    };
    testbed.load_yaml(&namespace_reader(subject)).expect("RBAC");
    let token_1 = testbed
        .service_account_token("kube-system", "node-autoscaler", SECRET_1)
        .expect("token");
    let w = World {
        _moto: moto,
        testbed,
        ssm,
        token_1,
    };
    w.put(&w.token_1).await;
    w
}

impl World {
    /// A new token for the service account (its own Secret), as a rotation makes one.
    fn new_token(&self) -> String {
        self.testbed
            .service_account_token("kube-system", "node-autoscaler", SECRET_2)
            .expect("second token")
    }

    /// Revokes a token by deleting its Secret, and waits until the API server refuses it.
    fn revoke(&self, secret: &str, token: &str) {
        self.testbed
            .kubectl(&["delete", "secret", "-n", "kube-system", secret], "")
            .expect("delete token secret");
        self.testbed
            .wait_token_authenticates(token, false)
            .expect("revoked");
    }

    async fn put(&self, value: &str) {
        self.ssm
            .put_parameter()
            .name(PARAMETER)
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .expect("put parameter");
    }

    fn source(&self) -> Arc<SsmTokenSource> {
        Arc::new(SsmTokenSource::new(self.ssm.clone(), PARAMETER.into()))
    }

    fn client(&self, source: Arc<SsmTokenSource>) -> kube::Client {
        let access =
            ClusterAccess::from_pem_ca(self.testbed.url(), self.testbed.ca_pem().as_bytes())
                .unwrap();
        kube_client(&access, source).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_token_from_ssm_gets_exactly_its_rbac() {
    let w = world().await;
    let source = w.source();
    let client = w.client(source.clone());
    assert!(list_namespaces(&client).await.unwrap() >= 4);
    // Authenticated as the service account: pods are not granted, and the 403 names it.
    let err = pods_forbidden(&client).await;
    assert!(
        err.to_string()
            .contains("system:serviceaccount:kube-system:node-autoscaler"),
        "{err}"
    );
    // Three requests, one read: the warm path does not touch SSM.
    list_namespaces(&client).await.unwrap();
    assert_eq!(source.reads(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_is_picked_up_on_the_first_401() {
    let w = world().await;
    let source = w.source();
    let client = w.client(source.clone());
    list_namespaces(&client).await.unwrap();
    assert_eq!(source.reads(), 1);

    // Rotate: the new token goes to SSM and the cluster, the old one is revoked.
    let token_2 = w.new_token();
    w.put(&token_2).await;
    w.revoke(SECRET_1, &w.token_1);
    // The cached old token is refused once; the client re-reads SSM and retries.
    list_namespaces(&client).await.unwrap();
    assert_eq!(source.reads(), 2);
    list_namespaces(&client).await.unwrap();
    assert_eq!(source.reads(), 2, "cached again");

    // Revoked with nothing new in SSM: 401 after exactly one re-read and retry.
    w.revoke(SECRET_2, &token_2);
    let err = list_namespaces(&client).await.unwrap_err();
    assert_status(&err, 401);
    assert_eq!(source.reads(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_parameter_is_a_clear_error() {
    let w = world().await;
    let source = Arc::new(SsmTokenSource::new(w.ssm.clone(), "/k3s/nope".into()));
    let err = source.token().await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("/k3s/nope"), "{text}");
    assert!(text.contains("ParameterNotFound"), "{text}");
    // Through the client the request fails before reaching the server.
    let err = list_namespaces(&w.client(source.clone()))
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("/k3s/nope"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_reaches_the_logs_or_debug() {
    let logs = crate::support::capture_logs();

    let w = world().await;
    let source = w.source();
    let client = w.client(source.clone());
    list_namespaces(&client).await.unwrap();
    // Rotation and a final 401 exercise the retry and failure paths.
    let token_2 = w.new_token();
    w.put(&token_2).await;
    w.revoke(SECRET_1, &w.token_1);
    list_namespaces(&client).await.unwrap();
    w.revoke(SECRET_2, &token_2);
    let _ = list_namespaces(&client).await;
    let token = source.token().await.unwrap();
    assert_eq!(token.expose(), token_2);
    tracing::debug!(?source, ?token, "debug formatting of every token holder");

    let debug = format!("{source:?} {token:?} {token}");
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("read the service-account token from SSM"),
        "the capture works: {} bytes",
        logs.len()
    );
    assert!(debug.contains(PARAMETER), "{debug}");
    for secret in [w.token_1.as_str(), token_2.as_str()] {
        assert!(!logs.contains(secret), "a token leaked into the logs");
        assert!(
            !debug.contains(secret),
            "a token leaked into Debug: {debug}"
        );
    }
}
