//! concurrency-scaler: every minute, steps each LambdaConcurrencyScaler's function's reserved
//! concurrency, or the maximum concurrency of the SQS event source mapping feeding it, up or
//! down from the depth of the queue.
//! The trigger (an EventBridge schedule), the queue reads, the status writes and the summary
//! are the shared scaler pass's (`sqs_depth::pass`); this crate says what a scaler is, who
//! owns each function, and how a decision is carried out.

pub mod apply;
pub mod config;
pub mod decide;
pub mod lambda_api;
pub mod owners;
pub mod run;
pub mod scaled;
