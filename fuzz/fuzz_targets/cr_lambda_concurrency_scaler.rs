//! A LambdaConcurrencyScaler as the API server could return it: deserialized, then
//! concurrency-scaler's spec check (`Policy::from_spec`) returns Ok or Err, never panics.
#![no_main]

use k8s_ops::crd::lambda_concurrency::LambdaConcurrencyScaler;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(scaler) = serde_json::from_slice::<LambdaConcurrencyScaler>(data) else {
        return;
    };
    let _ = scaler.spec.max_concurrency();
    let _ = concurrency_scaler::decide::Policy::from_spec(&scaler.spec);
});
