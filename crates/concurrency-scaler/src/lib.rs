//! concurrency-scaler: every minute, steps each LambdaConcurrencyScaler's function's reserved
//! concurrency up or down from the depth of the SQS queue feeding it.
//! The trigger (an EventBridge schedule), the listing, the queue reads, the status writes
//! and the summary are the shared scaler pass's (`sqs_depth::pass`); this crate says what a
//! scaler is and how its decision is carried out.

pub mod apply;
pub mod config;
pub mod decide;
pub mod lambda_api;
