//! Cold start, whole (`make bench`, `testbed::bench::cold`): (a) for alarm-scaler and alarm-sync, the floor
//! making its first AWS call (CloudWatch SetAlarmState, DescribeAlarms, by CLOUDWATCH_CALL) with the suite's SDK loader. Never shipped.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    testbed::bench::cold::calls::floor::<testbed::bench::cold::calls::CloudWatch>().await
}
