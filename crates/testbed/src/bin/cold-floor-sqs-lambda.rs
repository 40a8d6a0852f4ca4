//! Cold start, whole (`make bench`, `testbed::bench::cold`): (a) for concurrency-scaler, the floor
//! making its first remote calls (SQS GetQueueUrl on the first run, GetQueueAttributes, Lambda
//! GetFunctionConcurrency; then its first Kubernetes request, KUBE_FIRST_REQUEST, with an EKS
//! token) with the suite's SDK loader. Never shipped.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    use testbed::bench::cold::calls::{Eks, GetQueueAttributesThenConcurrency, floor};
    floor::<GetQueueAttributesThenConcurrency, Eks>().await
}
