//! Plumbing every function of the suite shares: logging, typed environment configuration
//! with clear errors, the AWS SDK configuration, event JSON decoded with errors that name
//! the field, and the EventBridge schedule decoder of the scheduled functions.
pub mod aws;
pub mod env;
pub mod json;
pub mod schedule;
#[doc(hidden)]
pub mod testing;

pub use env::{ConfigError, Env};

/// Logs as Lambda asks: JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON`, text otherwise; the
/// level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (default INFO). Each line logged while
/// handling an event carries the request id (the runtime's `requestId` span).
/// This is lambda_runtime's own subscriber: nothing here to maintain.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}
