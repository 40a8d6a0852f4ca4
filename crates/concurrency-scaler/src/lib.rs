//! concurrency-scaler: every minute, steps each LambdaConcurrencyScaler's function's reserved
//! concurrency up or down from the depth of the SQS queue feeding it.

pub mod apply;
pub mod config;
pub mod decide;
pub mod event;
pub mod lambda_api;
