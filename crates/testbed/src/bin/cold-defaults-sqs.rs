//! Cold start, whole (`make bench`): a straightforward Rust function making queue-scaler's
//! first AWS call, SQS GetQueueAttributes on `QUEUE_URL`, with aws-config's defaults, as the
//! SDK's examples write it: `load_defaults` with the HTTPS client its `default-https-client`
//! feature would add (rustls; here on ring, the workspace's one TLS stack, since that feature
//! would bring aws-lc into the workspace's feature resolution). Never shipped.
use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .load()
        .await;
    let sqs = &aws_sdk_sqs::Client::new(&sdk);
    let url = &std::env::var("QUEUE_URL")?;
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async move {
        testbed::bench::queue_depth(sqs, url).await
    }))
    .await
}
