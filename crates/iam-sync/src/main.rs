//! iam-sync's Lambda entry point: decodes each CloudTrail or schedule event and runs the library's sync.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use lambda_support::aws::LazyClient;

use iam_sync::{access_entries, apply, config, event, iam};

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
    let iam = iam::Iam::new(LazyClient::new(&sdk, aws_sdk_iam::Client::new));
    let eks = (config.backend == config::Backend::AccessEntries).then(|| {
        access_entries::AccessEntries::new(
            LazyClient::new(&sdk, aws_sdk_eks::Client::new),
            &config.cluster_name,
        )
    });
    let ctx = &apply::Context::new(kube, iam, eks, config);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let trigger = event::decode(event.payload)?;
            Ok::<_, Error>(serde_json::to_value(apply::run(ctx, trigger).await?)?)
        },
    ))
    .await
}
