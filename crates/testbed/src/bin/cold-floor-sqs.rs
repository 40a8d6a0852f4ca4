//! Cold start, whole (`make bench`, `testbed::bench::cold`): (a) for queue-scaler, the floor making
//! its first remote calls (SQS GetQueueAttributes; then its first Kubernetes request,
//! KUBE_FIRST_REQUEST, with an EKS token) with the suite's SDK loader. Never shipped.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    use testbed::bench::cold::calls::{Eks, GetQueueAttributes, floor};
    floor::<GetQueueAttributes, Eks>().await
}
