//! Cold start, whole (`make bench`, `testbed::bench::cold`): (a) for concurrency-scaler, the floor
//! making its first AWS call (SQS GetQueueAttributes, Lambda GetFunctionConcurrency) with the suite's SDK loader. Never shipped.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    testbed::bench::cold::calls::floor::<
        testbed::bench::cold::calls::GetQueueAttributesThenConcurrency,
    >()
    .await
}
