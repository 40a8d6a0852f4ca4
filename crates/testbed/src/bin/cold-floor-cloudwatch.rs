//! Cold start, whole (`make bench`, `testbed::bench::cold`): (a) for alarm-scaler and alarm-sync,
//! the floor making its first remote calls (CloudWatch SetAlarmState or DescribeAlarms, by
//! CLOUDWATCH_CALL; then its first Kubernetes request, KUBE_FIRST_REQUEST, with an EKS token) with
//! the suite's SDK loader. Never shipped.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    use testbed::bench::cold::calls::{CloudWatch, Eks, floor};
    floor::<CloudWatch, Eks>().await
}
