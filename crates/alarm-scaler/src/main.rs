//! alarm-scaler's Lambda entry point: decodes each SNS event and steps as its notifications say.
use alarm_scaler::{apply, config, event};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_tracing();
    let config = config::Config::from_env(lambda_support::Env::from_process())?;
    for ignored in &config.ignored {
        tracing::warn!(%ignored, "a variable of the original function");
    }
    let sdk = lambda_support::aws::load_sdk_config().await?;
    let kube = config.cluster.kube_client(&sdk).await?;
    let ctx = &apply::Context::new(kube, &sdk, &config);
    lambda_support::serve("alarm-scaler", |payload| async move {
        apply::handle(ctx, event::decode(payload)?).await
    })
    .await
}
