//! Cold start, whole (`make bench`, `testbed::bench::cold`): (k) for the EKS functions, the
//! floor making one Kubernetes request with the suite's EKS client. Never shipped.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    testbed::bench::cold::calls::floor_cluster().await
}
