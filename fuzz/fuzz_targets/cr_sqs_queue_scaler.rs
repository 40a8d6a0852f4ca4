//! An SqsQueueScaler as the API server could return it: deserialized, then queue-scaler's
//! spec check (`Policy::from_spec`) returns Ok or Err, never panics.
#![no_main]

use k8s_ops::crd::sqs_queue::SqsQueueScaler;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(scaler) = serde_json::from_slice::<SqsQueueScaler>(data) else {
        return;
    };
    let _ = queue_scaler::decide::Policy::from_spec(&scaler.spec);
});
