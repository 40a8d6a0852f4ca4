//! What a failed invocation reports to Lambda. The Runtime API's `errorType` is what
//! operators alarm and search on, so each failure carries a stable name of its kind
//! (`EventRejected`, `KubernetesFailed`, …) rather than the Rust type of a boxed error
//! (`&alloc::boxed::Box<dyn core::error::Error + …>`), and `errorMessage` says what happened.
use std::fmt::Display;
use std::future::Future;
use std::time::Instant;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;

/// An error that knows the `errorType` it is reported under: one name per kind of failure,
/// in UpperCamelCase, stable across releases (alarms and log queries match on it).
pub trait ErrorType: Display {
    fn error_type(&self) -> &'static str;
}

/// A failed invocation: its `errorType` and `errorMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error_type: &'static str,
    pub message: String,
}

impl Failure {
    pub fn of(error: &impl ErrorType) -> Failure {
        Failure {
            error_type: error.error_type(),
            message: error.to_string(),
        }
    }
}

impl From<Failure> for Diagnostic {
    fn from(failure: Failure) -> Diagnostic {
        Diagnostic {
            error_type: failure.error_type.to_owned(),
            error_message: failure.message,
        }
    }
}

/// The function's answer could not be written as JSON (a bug: answers are plain data).
const OUTPUT_NOT_JSON: &str = "OutputNotJson";

/// Runs the Lambda runtime loop: each event's payload to `handler`, its answer back as JSON;
/// a failure is logged once (`error_type`, `reason`) and reported under its name. Each
/// invocation ends with its metrics (`function`: the crate's name, see [`crate::metrics`]).
pub async fn serve<H, Fut, T, E>(
    function: &'static str,
    handler: H,
) -> Result<(), lambda_runtime::Error>
where
    H: Fn(Value) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    T: Serialize,
    E: ErrorType,
{
    let handler = &handler;
    let emitter = &crate::metrics::Emitter::from_env(function);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let began = Instant::now();
        let answer = handler(event.payload).await;
        emitter.finish(answer.is_ok(), began.elapsed());
        let answer = answer.map_err(|e| {
            tracing::error!(error_type = e.error_type(), reason = %e, "invocation failed");
            Failure::of(&e)
        })?;
        serde_json::to_value(answer).map_err(|e| Failure {
            error_type: OUTPUT_NOT_JSON,
            message: e.to_string(),
        })
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the API server did not answer")]
    struct Unreachable;

    impl ErrorType for Unreachable {
        fn error_type(&self) -> &'static str {
            "KubernetesFailed"
        }
    }

    #[test]
    fn a_failure_reports_its_name_and_message() {
        let d = Diagnostic::from(Failure::of(&Unreachable));
        assert_eq!(d.error_type, "KubernetesFailed");
        assert_eq!(d.error_message, "the API server did not answer");
    }
}
