//! An IamUserGroup record as the API server could return it: deserialized, and its object
//! name derived from any IAM user name, never panics.
#![no_main]

use k8s_ops::crd::iam_user_group::{IamUserGroup, record_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<IamUserGroup>(data) else {
        return;
    };
    let _ = record_name(&record.spec.iam_user);
});
