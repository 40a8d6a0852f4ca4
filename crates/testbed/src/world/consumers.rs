//! Lambda functions that functions of the suite act on (concurrency-scaler's consumers):
//! moto stores them, never runs them.
use aws_config::SdkConfig;

use super::ACCOUNT;

/// The smallest valid zip (an empty archive): moto stores code, never runs it.
const EMPTY_ZIP: [u8; 22] = *b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// Creates the role `consumer` the consumer functions run as.
pub async fn create_role(aws: &SdkConfig) -> Result<(), String> {
    aws_sdk_iam::Client::new(aws)
        .create_role()
        .role_name("consumer")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("create role consumer: {e:?}"))
}

/// Creates function `name` (provided.al2023, an empty zip) running as the `consumer` role.
pub async fn create_function(aws: &SdkConfig, name: &str) -> Result<(), String> {
    aws_sdk_lambda::Client::new(aws)
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .role(format!("arn:aws:iam::{ACCOUNT}:role/consumer"))
        .handler("bootstrap")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(EMPTY_ZIP.to_vec()))
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("create function {name}: {e:?}"))
}
