//! The Lambda API, as far as the scaler uses it: reserved concurrency (read, write) and the
//! function's event source mappings (which prove a queue feeds it; their maximum concurrency,
//! read and written).
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use lambda_support::aws::LazyClient;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LambdaError {
    #[error("function {function}: not found")]
    NotFound { function: String },
    /// PutFunctionConcurrency refused because the account must keep at least 100 unreserved
    /// concurrent executions (the API's floor).
    #[error(
        "function {function}: reserving {wanted} would take the account's unreserved concurrency below its floor ({message}); raise the account's concurrency quota or lower the maximum"
    )]
    AccountFloor {
        function: String,
        wanted: i32,
        message: String,
    },
    #[error("function {function}: {operation}: {message}")]
    Api {
        function: String,
        operation: &'static str,
        message: String,
    },
}

pub use crate::scaled::Mapping;

pub struct LambdaApi {
    client: LazyClient<aws_sdk_lambda::Client>,
    calls: AtomicU64,
}

impl LambdaApi {
    pub fn new(client: impl Into<LazyClient<aws_sdk_lambda::Client>>) -> LambdaApi {
        LambdaApi {
            client: client.into(),
            calls: AtomicU64::new(0),
        }
    }

    /// Lambda API calls made so far (each page counts).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The function's reserved concurrency; `None` when none is reserved (a valid state).
    /// Also the existence check: an unknown function is [`LambdaError::NotFound`].
    pub async fn reserved_concurrency(&self, function: &str) -> Result<Option<i32>, LambdaError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let out = self
            .client
            .get_function_concurrency()
            .function_name(function)
            .send()
            .await
            .map_err(|e| classify(function, "GetFunctionConcurrency", e))?;
        Ok(out.reserved_concurrent_executions())
    }

    pub async fn set_reserved_concurrency(
        &self,
        function: &str,
        wanted: i32,
    ) -> Result<(), LambdaError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.client
            .put_function_concurrency()
            .function_name(function)
            .reserved_concurrent_executions(wanted)
            .send()
            .await
            .map_err(|e| {
                let floor = e
                    .as_service_error()
                    .filter(|s| s.code() == Some("InvalidParameterValueException"))
                    .and_then(|s| s.message())
                    .filter(|m| m.contains("UnreservedConcurrentExecution"))
                    .map(str::to_owned);
                match floor {
                    Some(message) => LambdaError::AccountFloor {
                        function: function.into(),
                        wanted,
                        message,
                    },
                    None => classify(function, "PutFunctionConcurrency", e),
                }
            })?;
        Ok(())
    }

    /// The function's event source mappings, every page (a function may have many).
    pub async fn mappings(&self, function: &str) -> Result<Vec<Mapping>, LambdaError> {
        let mut marker: Option<String> = None;
        let mut found = Vec::new();
        loop {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let page = self
                .client
                .list_event_source_mappings()
                .function_name(function)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| classify(function, "ListEventSourceMappings", e))?;
            found.extend(page.event_source_mappings().iter().map(|m| Mapping {
                uuid: m.uuid().unwrap_or_default().to_owned(),
                source_arn: m.event_source_arn().unwrap_or_default().to_owned(),
                active: m.state().is_some_and(is_active),
                provisioned: m.provisioned_poller_config().is_some(),
                maximum: m.scaling_config().and_then(|c| c.maximum_concurrency()),
            }));
            match page.next_marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
                _ => return Ok(found),
            }
        }
    }

    /// Sets the mapping's `ScalingConfig.MaximumConcurrency`.
    pub async fn set_maximum_concurrency(
        &self,
        function: &str,
        uuid: &str,
        wanted: i32,
    ) -> Result<(), LambdaError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let config = aws_sdk_lambda::types::ScalingConfig::builder()
            .maximum_concurrency(wanted)
            .build();
        self.client
            .update_event_source_mapping()
            .uuid(uuid)
            .scaling_config(config)
            .send()
            .await
            .map_err(|e| classify(function, "UpdateEventSourceMapping", e))?;
        Ok(())
    }
}

/// A mapping's states in which its poller runs (or is about to).
fn is_active(state: &str) -> bool {
    matches!(state, "Creating" | "Enabling" | "Enabled" | "Updating")
}

fn classify<E, R>(function: &str, operation: &'static str, e: SdkError<E, R>) -> LambdaError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if e.as_service_error().and_then(|s| s.code()) == Some("ResourceNotFoundException") {
        return LambdaError::NotFound {
            function: function.into(),
        };
    }
    LambdaError::Api {
        function: function.into(),
        operation,
        message: DisplayErrorContext(&e).to_string(),
    }
}
