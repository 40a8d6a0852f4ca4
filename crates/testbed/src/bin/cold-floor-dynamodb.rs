//! Cold start, whole (`make bench`, `testbed::bench::cold`): (a) for node-autoscaler, the floor
//! making its first remote calls (DynamoDB UpdateItem of a lease; then its first Kubernetes
//! request, KUBE_FIRST_REQUEST, with the service-account token it reads from SSM) with the suite's
//! SDK loader. Never shipped.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    use testbed::bench::cold::calls::{K3s, TakeLease, floor};
    floor::<TakeLease, K3s>().await
}
