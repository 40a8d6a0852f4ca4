//! The whole authentication path against the real control plane: credentials from STS
//! (moto), an EKS token presigned by eks-auth for the regional STS endpoint, verified by
//! aws-iam-authenticator (kube-apiserver's token webhook) through STS (the moto gateway, which
//! checks the signature with the secret moto holds), mapped by `aws-auth`, authorized by RBAC.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use eks_auth::client::BoxError;
use eks_auth::{BearerSource, ClusterAccess, EksTokenProvider, Secret, StsEndpoint, kube_client};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Api;
use testbed::harness::manifests::Subject;
use testbed::harness::{Cluster, Moto};

use crate::support::{
    CLUSTER, ROLE, assert_status, eks_cluster, list_namespaces, namespace_reader, pods_forbidden,
};

struct World {
    _moto: Moto,
    testbed: Cluster,
    credentials: Credentials,
    sts: StsEndpoint,
}

async fn world() -> World {
    let moto = Moto::start().expect("moto");
    let credentials = moto.assume_role(ROLE, "lambda").await.expect("assume role");
    let testbed = eks_cluster(&moto, Vec::new()).await;
    testbed
        .load_yaml(&namespace_reader(Subject::Group("lambda:alarm-scaler")))
        .expect("RBAC");
    let w = World {
        _moto: moto,
        testbed,
        credentials,
        sts: StsEndpoint::regional("us-east-1"),
    };
    w.wait_mapped().await;
    w
}

impl World {
    /// Waits until the authenticator has read the aws-auth mapping (a watch, as on EKS), with
    /// probe tokens signed at distinct past seconds: kube-apiserver caches each token's
    /// answer, so no probe answer is ever the answer to a test's own token.
    async fn wait_mapped(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        for back in 1u64.. {
            let at = std::time::SystemTime::now() - std::time::Duration::from_secs(back);
            let probe = Arc::new(
                EksTokenProvider::new(
                    CLUSTER,
                    "us-east-1",
                    self.sts.clone(),
                    SharedCredentialsProvider::new(self.credentials.clone()),
                )
                .with_clock(move || at),
            );
            let client = kube_client(&self.access(), probe).unwrap();
            if Api::<Namespace>::all(client).get("default").await.is_ok() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "aws-auth mapping not effective within 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    fn provider(&self, cluster: &str) -> Arc<EksTokenProvider> {
        Arc::new(EksTokenProvider::new(
            cluster,
            "us-east-1",
            self.sts.clone(),
            SharedCredentialsProvider::new(self.credentials.clone()),
        ))
    }

    fn access(&self) -> ClusterAccess {
        ClusterAccess::from_pem_ca(self.testbed.url(), self.testbed.ca_pem().as_bytes()).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_role_gets_exactly_its_rbac() {
    let w = world().await;
    let provider = w.provider(CLUSTER);
    let client = kube_client(&w.access(), provider.clone()).unwrap();

    let namespaces = Api::<Namespace>::all(client.clone())
        .list(&Default::default())
        .await
        .unwrap();
    assert!(
        namespaces
            .items
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some("kube-system"))
    );
    // Pods are not granted to lambda:alarm-scaler: authenticated, but forbidden.
    let err = pods_forbidden(&client).await;
    assert!(err.to_string().contains("alarm-scaler"), "{err}");
    // Three requests, one signature, one credentials read: the warm path signs nothing.
    Api::<Namespace>::all(client).get("default").await.unwrap();
    assert_eq!(
        (provider.signatures(), provider.credential_fetches()),
        (1, 1)
    );
}

/// A cold client's concurrent first requests (as a cold node-autoscaler's LISTs) open one TLS
/// connection, over HTTP/2, and its later concurrent requests share it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_http2_connection() {
    let w = world().await;
    let client = kube_client(&w.access(), w.provider(CLUSTER)).unwrap();
    let before = w.testbed.connections().len();
    let namespaces = Api::<Namespace>::all(client);
    let lp = Default::default();
    for _ in 0..2 {
        let (all, again, default) = tokio::try_join!(
            namespaces.list(&lp),
            namespaces.list(&lp),
            namespaces.get("default")
        )
        .unwrap();
        assert_eq!(all.items.len(), again.items.len());
        assert_eq!(default.metadata.name.as_deref(), Some("default"));
    }
    assert_eq!(w.testbed.connections()[before..], ["h2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_signed_for_another_cluster_is_refused_after_one_retry() {
    let w = world().await;
    let provider = w.provider("some-other-cluster");
    let client = kube_client(&w.access(), provider.clone()).unwrap();
    let err = list_namespaces(&client).await.unwrap_err();
    assert_status(&err, 401);
    // The 401 made the client sign a fresh token once and try again, no more.
    assert_eq!(provider.signatures(), 2);
}

/// Hands out a dead token first (as after a credentials rotation), the real one after the
/// server's 401 invalidates it.
struct StaleFirst {
    real: Arc<EksTokenProvider>,
    stale: AtomicBool,
    invalidations: AtomicU32,
}

impl BearerSource for StaleFirst {
    fn bearer(
        &self,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Secret, BoxError>> + Send + '_>> {
        Box::pin(async move {
            if self.stale.load(Ordering::SeqCst) {
                return Ok(Secret::new("k8s-aws-v1.aHR0cHM6Ly9leHBpcmVk"));
            }
            self.real.bearer().await
        })
    }
    fn invalidate(&self) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            self.invalidations.fetch_add(1, Ordering::SeqCst);
            self.stale.store(false, Ordering::SeqCst);
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_refreshes_the_token_and_retries_once() {
    let w = world().await;
    let source = Arc::new(StaleFirst {
        real: w.provider(CLUSTER),
        stale: AtomicBool::new(true),
        invalidations: AtomicU32::new(0),
    });
    let client = kube_client(&w.access(), source.clone()).unwrap();
    // A write, so the retried request carries its body again.
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "retried"}})).unwrap();
    let err = Api::<Namespace>::all(client.clone())
        .create(&Default::default(), &ns)
        .await
        .unwrap_err();
    // Retried with a good token, the create reached RBAC (which does not grant it).
    assert_status(&err, 403);
    assert_eq!(source.invalidations.load(Ordering::SeqCst), 1);
    list_namespaces(&client).await.unwrap();
    assert_eq!(source.invalidations.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_against_the_cluster_ca_only() {
    let w = world().await;
    // The right server, but the CA of another cluster.
    let stranger = testbed::harness::cluster::other_ca_pem();
    let access = ClusterAccess::from_pem_ca(w.testbed.url(), stranger.as_bytes()).unwrap();
    let client = kube_client(&access, w.provider(CLUSTER)).unwrap();
    let err = list_namespaces(&client).await.unwrap_err();
    let chain = format!("{err:?}");
    assert!(
        chain.contains("InvalidCertificate") || chain.contains("UnknownIssuer"),
        "{chain}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs() {
    let logs = crate::support::capture_logs();

    let w = world().await;
    let provider = w.provider(CLUSTER);
    let token = provider.token().await.unwrap();
    let client = kube_client(&w.access(), provider.clone()).unwrap();
    list_namespaces(&client).await.unwrap();
    // Exercise the failure paths too: a 401 with retry and a 403.
    let wrong = kube_client(&w.access(), w.provider("other")).unwrap();
    let _ = list_namespaces(&wrong).await;
    let _ = Api::<Pod>::all(client).list(&Default::default()).await;
    tracing::debug!(?provider, ?token, credentials = ?w.credentials, "debug formatting of every secret holder");

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("signed a new EKS token"),
        "the capture works: {} bytes",
        logs.len()
    );
    let signature = eks_auth::token::decode_url(token.token.expose())
        .and_then(|u| u.split("X-Amz-Signature=").nth(1).map(str::to_owned))
        .unwrap();
    for (what, secret) in [
        ("secret access key", w.credentials.secret_access_key()),
        ("session token", w.credentials.session_token().unwrap()),
        ("bearer token", token.token.expose()),
        ("token body", &token.token.expose()[11..40]),
        ("token signature", &signature),
    ] {
        assert!(!logs.contains(secret), "the {what} leaked into the logs");
    }
}

/// An API server that accepts a request and does not answer: the request fails after the
/// access's `request_timeout` with an error saying so (the function reports it and the next
/// invocation tries again), instead of holding the invocation until Lambda kills it; the
/// client is usable as soon as the server answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_api_server_request_times_out_with_an_error_saying_so() {
    use testbed::harness::{FaultAction, FaultConfig, FaultRule};
    let w = world().await;
    let mut access = w.access();
    access.request_timeout = std::time::Duration::from_millis(500);
    let client = kube_client(&access, w.provider(CLUSTER)).unwrap();
    let namespaces = Api::<Namespace>::all(client);
    w.testbed.set_faults(FaultConfig {
        seed: 1,
        rules: vec![FaultRule::new(FaultAction::Latency { ms: 30_000 }).verbs(&["list"])],
    });
    let err = namespaces.list(&Default::default()).await.unwrap_err();
    assert_eq!(w.testbed.faults_fired(), vec![1]);
    assert!(err.to_string().contains("timed out after 500ms"), "{err}");
    // Other verbs are not stalled, and neither is the next list once the fault is gone.
    namespaces.get("default").await.expect("get is not stalled");
    w.testbed.clear_faults();
    assert!(
        !namespaces
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
