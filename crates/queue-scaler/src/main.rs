//! queue-scaler's Lambda entry point: one run per schedule tick.
use queue_scaler::{apply, config, run};
use sqs_depth::pass::Pass;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_tracing();
    let config = config::Config::from_env(lambda_support::Env::from_process())?;
    let sdk = lambda_support::aws::load_sdk_config().await?;
    let kube = config.cluster.kube_client(&sdk).await?;
    let pass = Pass::new(kube, &sdk, apply::COMPONENT, config.options);
    run::serve(&pass, config.keda).await
}
