//! Cold start, whole (`make bench`): the floor (`lambda-floor`) extended to make queue-scaler's
//! first AWS call, SQS GetQueueAttributes on `QUEUE_URL`, with the suite's own SDK loader
//! (`lambda_support::aws`). Never shipped.
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_support::init_tracing();
    let sdk = lambda_support::aws::load_sdk_config().await?;
    let sqs = &aws_sdk_sqs::Client::new(&sdk);
    let url = &std::env::var("QUEUE_URL")?;
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async move {
        testbed::bench::queue_depth(sqs, url).await
    }))
    .await
}
