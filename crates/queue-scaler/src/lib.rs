//! queue-scaler: every minute, scales each SqsQueueScaler's Deployment from the length of its
//! SQS queue, with KEDA's aws-sqs-queue semantics (scale to and from zero included); opt-in,
//! also KEDA's own aws-sqs-queue ScaledObjects that KEDA does not run ([`keda`]).
//! The trigger (an EventBridge schedule), the listing, the queue reads, the status writes
//! and the summary are the shared scaler pass's (`sqs_depth::pass`); this crate says what a
//! scaler is and how its decision is carried out.

pub mod apply;
pub mod config;
pub mod decide;
pub mod keda;
pub mod owners;
pub mod run;
