//! A test function for the emulator's limits (`harness::lambda::limits`): each invocation
//! allocates and touches `allocate_mb` MiB, then sleeps `sleep_ms`, then answers
//! `{"allocated_mb": …}`. Never shipped.
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let mb = event.payload["allocate_mb"].as_u64().unwrap_or(0);
        // Written, so that every page is resident rather than only reserved.
        let block = std::hint::black_box(vec![1u8; usize::try_from(mb)? << 20]);
        let ms = event.payload["sleep_ms"].as_u64().unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        Ok::<Value, Error>(json!({ "allocated_mb": block.len() >> 20 }))
    }))
    .await
}
