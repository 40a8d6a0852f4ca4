//! queue-scaler's Lambda entry point: one scaler pass per schedule tick.
use queue_scaler::{apply, config};
use sqs_depth::pass::{self, Pass};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_tracing();
    let config = config::Config::from_env(lambda_support::Env::from_process())?;
    let sdk = lambda_support::aws::load_sdk_config().await?;
    let kube = config.cluster.kube_client(&sdk).await?;
    let pass = Pass::new(kube, &sdk, apply::COMPONENT, config.options);
    pass::serve(&pass, &apply::Deployments).await
}
