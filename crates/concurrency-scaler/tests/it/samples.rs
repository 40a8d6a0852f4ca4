//! The original operator's manifests against the generated CRD.
use testbed::world::repo;

/// The original operator's manifest (and the corrected-key sample) apply to the generated CRD
/// unchanged and read back as the function reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_samples_apply_unchanged() {
    use testbed::harness::{Cluster, ClusterConfig};
    let tb = Cluster::start(ClusterConfig {
        manifests: vec![
            repo("infra/k8s/crds/lambdaconcurrencyscalers.aws.operators.jittakal.io.yaml"),
            repo("infra/k8s/samples/lambdaconcurrencyscaler.yaml"),
        ],
        ..Default::default()
    })
    .await
    .expect("cluster with the samples");
    let api: kube::Api<k8s_ops::crd::lambda_concurrency::LambdaConcurrencyScaler> =
        kube::Api::namespaced(tb.kube_client_admin(), "default");
    let original = api.get("lambdaconcurrencyscaler-sample").await.unwrap();
    assert_eq!(original.spec.max_concurrency(), Some(100));
    assert_eq!(original.spec.aws_lamnda_max_concurrency, Some(100));
    let corrected = api.get("orders-consumer").await.unwrap();
    assert_eq!(corrected.spec.max_concurrency(), Some(40));
    assert!(corrected.spec.aws_sqs_include_in_flight);
    assert_eq!(
        corrected.spec.scale,
        k8s_ops::crd::lambda_concurrency::Scale::Both
    );
    // Defaulted by the API server from the CRD's schema: the original's manifest now counts
    // in-flight messages and scales the mapping when it can.
    assert!(original.spec.aws_sqs_include_in_flight);
    assert_eq!(
        original.spec.scale,
        k8s_ops::crd::lambda_concurrency::Scale::Auto
    );
}
