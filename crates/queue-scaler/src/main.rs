//! queue-scaler's Lambda entry point: decodes each schedule tick and runs the library's scaling pass.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};

use queue_scaler::{apply, config, event};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_support::init_tracing();
    let config = config::Config::from_env(lambda_support::Env::from_process())?;
    let sdk = lambda_support::aws::load_sdk_config().await?;
    let tokens = eks_auth::EksTokenProvider::from_sdk_config(
        &sdk,
        &config.cluster_name,
        config.assumed_role.as_deref(),
    )
    .await?;
    let access =
        eks_auth::ClusterAccess::from_base64_ca(&config.api_server, &config.cert_authority)?;
    let kube = eks_auth::kube_client(&access, Arc::new(tokens))?;
    // Per-scaler roles are assumed with the execution role's credentials, cached per role.
    let sqs = sqs_depth::SqsDepth::new(&sdk, apply::COMPONENT);
    let ctx = &apply::Context::new(kube, sqs, config);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let tick = event::decode(event.payload, jiff::Timestamp::now())?;
            Ok::<_, Error>(serde_json::to_value(apply::run(ctx, tick.now).await?)?)
        },
    ))
    .await
}
