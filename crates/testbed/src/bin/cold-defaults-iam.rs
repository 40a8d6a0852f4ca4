//! Cold start, whole (`make bench`, `testbed::bench::cold`): (b) for iam-sync, a straightforward
//! Rust function on aws-config's defaults making its first remote calls (IAM GetGroup; then its
//! first Kubernetes request, KUBE_FIRST_REQUEST, with an EKS token). Never shipped.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    use testbed::bench::cold::calls::{Eks, GetGroup, defaults};
    defaults::<GetGroup, Eks>().await
}
