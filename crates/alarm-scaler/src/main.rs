//! alarm-scaler's Lambda entry point: decodes each SNS event and hands it to the library.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

use alarm_scaler::{apply, cloudwatch, config, event};

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
    let scaler = apply::Scaler {
        kube: eks_auth::kube_client(&config.access, Arc::new(tokens))?,
        cloudwatch: cloudwatch::CloudWatch::new(&sdk),
        dry_run: config.dry_run,
        known: Default::default(),
    };
    lambda_runtime::run(service_fn(|e: LambdaEvent<Value>| handle(&scaler, e))).await
}

async fn handle(scaler: &apply::Scaler, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let notifications = event::decode(event.payload).inspect_err(|e| {
        tracing::error!(decision = "reject", reason = %e);
    })?;
    let mut outcomes = Vec::with_capacity(notifications.len());
    for n in &notifications {
        let outcome = scaler.handle(n, jiff::Timestamp::now()).await;
        outcomes.push(outcome.inspect_err(|e| {
            tracing::error!(decision = "error", alarm = %n.alarm_name, reason = %e);
        })?);
    }
    Ok(json!({ "outcomes": outcomes }))
}
