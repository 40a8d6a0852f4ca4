//! alarm-sync's Lambda entry point: decodes each schedule event and runs the library's sync.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use lambda_support::aws::LazyClient;
use serde_json::Value;

use alarm_sync::{apply, cloudwatch, config, event, tagging};

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
    let syncer = apply::Syncer {
        kube: eks_auth::kube_client(&config.access, Arc::new(tokens))?,
        cloudwatch: cloudwatch::CloudWatch::new(LazyClient::new(
            &sdk,
            aws_sdk_cloudwatch::Client::new,
        )),
        tagging: tagging::Tagging::new(LazyClient::new(
            &sdk,
            aws_sdk_resourcegroupstagging::Client::new,
        )),
        cluster_name: config.cluster_name,
        default_alarm_actions: vec![config.sns_topic_arn],
        dry_run: config.dry_run,
    };
    lambda_runtime::run(service_fn(|e: LambdaEvent<Value>| handle(&syncer, e))).await
}

async fn handle(syncer: &apply::Syncer, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let schedule = event::decode(event.payload)
        .inspect_err(|e| tracing::error!(decision = "reject", reason = %e))?;
    let summary = syncer
        .run(jiff::Timestamp::now())
        .await
        .inspect_err(|e| tracing::error!(decision = "error", reason = %e))?;
    tracing::info!(
        decision = "reconciled",
        schedule = %schedule,
        resources = summary.resources,
        created = summary.created.len(),
        updated = summary.updated.len(),
        retagged = summary.retagged.len(),
        deleted = summary.deleted.len(),
        status_writes = summary.status_writes,
        errors = summary.errors.len(),
        dry_run = summary.dry_run,
    );
    Ok(serde_json::to_value(summary)?)
}
