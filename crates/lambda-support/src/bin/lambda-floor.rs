//! The floor: a bare lambda_runtime function that echoes its event. Start-up time and peak
//! RSS of every function are reported relative to this binary, built with the same profile.
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_support::init_tracing();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        lambda_runtime::tracing::info!(decision = "echo", "floor function invoked");
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
