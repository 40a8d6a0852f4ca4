//! concurrency-scaler's Lambda entry point: one scaler pass per schedule tick.
use concurrency_scaler::lambda_api::LambdaApi;
use concurrency_scaler::{apply, config, run};
use lambda_support::aws::LazyClient;
use sqs_depth::pass::Pass;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_tracing();
    let config = config::Config::from_env(lambda_support::Env::from_process())?;
    let sdk = lambda_support::aws::load_sdk_config().await?;
    let kube = config.cluster.kube_client(&sdk).await?;
    let pass = Pass::new(kube, &sdk, apply::COMPONENT, config.options);
    let lambda = LambdaApi::new(LazyClient::new(&sdk, aws_sdk_lambda::Client::new));
    let concurrency = apply::Concurrency {
        lambda,
        settings: config.settings,
    };
    run::serve(&pass, &concurrency).await
}
