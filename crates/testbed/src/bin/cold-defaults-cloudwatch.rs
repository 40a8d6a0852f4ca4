//! Cold start, whole (`make bench`, `testbed::bench::cold`): (b) for alarm-scaler and alarm-sync, a
//! straightforward Rust function on aws-config's defaults making its first AWS call
//! (CloudWatch SetAlarmState, DescribeAlarms, by CLOUDWATCH_CALL). Never shipped.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    testbed::bench::cold::calls::defaults::<testbed::bench::cold::calls::CloudWatch>().await
}
