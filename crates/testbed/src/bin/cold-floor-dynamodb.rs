//! Cold start, whole (`make bench`, `testbed::bench::cold`): (a) for node-autoscaler, the floor
//! making its first AWS call (DynamoDB UpdateItem of a lease) with the suite's SDK loader. Never shipped.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    testbed::bench::cold::calls::floor::<testbed::bench::cold::calls::TakeLease>().await
}
