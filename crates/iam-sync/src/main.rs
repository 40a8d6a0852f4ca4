//! iam-sync's Lambda entry point: decodes each CloudTrail or schedule event and carries it out.
use iam_sync::{apply, config, event};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_tracing();
    let config = config::Config::from_env(lambda_support::Env::from_process())?;
    let sdk = lambda_support::aws::load_sdk_config().await?;
    let kube = config.cluster.kube_client(&sdk).await?;
    let ctx = &apply::Context::new(kube, &sdk, config);
    lambda_support::serve("iam-sync", |payload| async move {
        apply::handle(ctx, event::decode(payload)?).await
    })
    .await
}
