//! Cold start, whole (`make bench`, `testbed::bench::cold`): (b) for queue-scaler, a
//! straightforward Rust function on aws-config's defaults making its first AWS call
//! (SQS GetQueueAttributes). Never shipped.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    testbed::bench::cold::calls::defaults::<testbed::bench::cold::calls::GetQueueAttributes>().await
}
