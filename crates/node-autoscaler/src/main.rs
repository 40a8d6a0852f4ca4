//! node-autoscaler: scales the EC2 workers of a self-managed k3s cluster from Prometheus
//! metrics and the pending pods' requests, drains before terminating, handles Spot
//! interruption and rebalance events, and keeps a lease, its state and a decision log in
//! DynamoDB.
use lambda_runtime::{Error, LambdaEvent, service_fn};
use lambda_support::aws::LazyClient;
use node_autoscaler::{apply, config, ec2, event, store};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_support::init_tracing();
    let config = config::Config::from_env(lambda_support::Env::from_process())?;
    let sdk = lambda_support::aws::load_sdk_config().await?;
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let store = store::Store::new(
        LazyClient::new(&sdk, aws_sdk_dynamodb::Client::new),
        config.state_table.clone(),
        config.logs_table.clone(),
        config.log_ttl,
    );
    let ec2 = ec2::Ec2::new(LazyClient::new(&sdk, aws_sdk_ec2::Client::new));
    let ctx = &apply::Context::new(
        config,
        ec2,
        store,
        LazyClient::new(&sdk, aws_sdk_ssm::Client::new),
        region,
    );
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let event = event::decode(event.payload, jiff::Timestamp::now())?;
            Box::pin(apply::handle(ctx, event)).await
        },
    ))
    .await
}
