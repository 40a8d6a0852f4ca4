//! Plumbing every function of the suite shares: logging, typed environment configuration
//! with clear errors, the AWS SDK configuration, event JSON decoded with errors that name
//! the field, the EventBridge envelope and schedule decoder, and how a failed invocation is
//! reported (a named `errorType`), and the metrics each invocation writes (EMF).
pub mod aws;
pub mod env;
pub mod eventbridge;
pub mod failure;
pub mod json;
pub mod metrics;
pub mod schedule;
#[doc(hidden)]
pub mod testing;

pub use env::{ConfigError, Env};
pub use failure::{ErrorType, Failure, serve};

/// Logs as Lambda asks: JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON`, text otherwise; the
/// level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (default INFO). Each line logged while
/// handling an event carries the request id (the runtime's `requestId` span). This is
/// lambda_runtime's own subscriber, with one directive added: aws-sigv4 never below DEBUG,
/// since at TRACE it logs a presigned request's canonical form, whose query string holds the
/// session token (its redaction covers headers only) — the EKS token is such a request.
pub fn init_tracing() {
    use lambda_runtime::tracing::subscriber::{
        self,
        filter::{EnvFilter, LevelFilter},
    };
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy()
        .add_directive("aws_sigv4=debug".parse().expect("a valid directive"));
    let collector = subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        collector.json().init();
    } else {
        collector.init();
    }
}
