//! Plumbing every function of the suite shares: logging, typed environment configuration
//! with clear errors, the AWS SDK configuration, event JSON decoded with errors that name
//! the field, the EventBridge envelope and schedule decoder, and how a failed invocation is
//! reported (a named `errorType`).
pub mod aws;
pub mod env;
pub mod eventbridge;
pub mod failure;
pub mod json;
pub mod schedule;
#[doc(hidden)]
pub mod testing;

pub use env::{ConfigError, Env};
pub use failure::{ErrorType, Failure, serve};

/// Logs as Lambda asks: JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON`, text otherwise; the
/// level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (default INFO). Each line logged while
/// handling an event carries the request id (the runtime's `requestId` span).
/// This is lambda_runtime's own subscriber: nothing here to maintain.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}
