//! Cold start, whole (`make bench`, `testbed::bench::cold`): (a) for iam-sync, the floor
//! making its first AWS call (IAM GetGroup) with the suite's SDK loader. Never shipped.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    testbed::bench::cold::calls::floor::<testbed::bench::cold::calls::GetGroup>().await
}
