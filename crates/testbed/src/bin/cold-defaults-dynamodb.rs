//! Cold start, whole (`make bench`, `testbed::bench::cold`): (b) for node-autoscaler, a
//! straightforward Rust function on aws-config's defaults making its first remote calls (DynamoDB
//! UpdateItem of a lease; then its first Kubernetes request, KUBE_FIRST_REQUEST, with the
//! service-account token it reads from SSM). Never shipped.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    use testbed::bench::cold::calls::{K3s, TakeLease, defaults};
    defaults::<TakeLease, K3s>().await
}
