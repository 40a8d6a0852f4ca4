//! What the two queue-driven scalers (queue-scaler, concurrency-scaler) share: the depth of
//! their SQS queues ([`queues`]), the checks of a scaler's spec both make ([`spec`]), and the
//! one scaler pass both run every minute ([`pass`]).
pub mod pass;
pub mod queues;
pub mod spec;

pub use queues::{QueueDepth, QueueReading, QueueRef, SqsDepth, SqsError};
