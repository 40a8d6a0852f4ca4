//! Cold start, whole (`make bench`, `testbed::bench::cold`): (b) for alarm-scaler and alarm-sync, a
//! straightforward Rust function on aws-config's defaults making its first remote calls (CloudWatch
//! SetAlarmState or DescribeAlarms, by CLOUDWATCH_CALL; then its first Kubernetes request,
//! KUBE_FIRST_REQUEST, with an EKS token). Never shipped.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    use testbed::bench::cold::calls::{CloudWatch, Eks, defaults};
    defaults::<CloudWatch, Eks>().await
}
