//! queue-scaler: every minute, scales each SqsQueueScaler's Deployment from the length of its
//! SQS queue, with KEDA's aws-sqs-queue semantics (scale to and from zero included).

pub mod apply;
pub mod config;
pub mod decide;
pub mod event;
