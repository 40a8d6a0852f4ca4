//! node-autoscaler: scales the EC2 workers of a self-managed k3s cluster from Prometheus
//! metrics and the pending pods' requests, drains before terminating, handles Spot
//! interruption and rebalance events, and keeps a lease, its state and a decision log in
//! DynamoDB.
use node_autoscaler::{apply, config, event};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_tracing();
    let vars: Vec<(String, String)> = std::env::vars().collect();
    // Before the configuration is checked: a misspelt name may be why a variable is missing.
    config::warn_unknown_variables(vars.iter().map(|(k, _)| k.as_str()));
    let config = config::Config::from_env(lambda_support::Env::from_pairs(vars))?;
    let sdk = lambda_support::aws::load_sdk_config().await?;
    let ctx = &apply::Context::new(config, &sdk);
    lambda_support::serve("node-autoscaler", |payload| async move {
        let event = event::decode(payload, jiff::Timestamp::now())?;
        Box::pin(apply::handle(ctx, event)).await
    })
    .await
}
