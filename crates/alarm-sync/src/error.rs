//! Why a run failed, each kind under the stable `errorType` operators alarm on.
//!
//! Only a failure to observe fails a run (EventBridge retries it; the next schedule runs
//! anyway): a run that cannot see every resource and alarm deletes nothing. Failures that
//! concern one resource are in its status and the run's summary instead.
use k8s_ops::list::ListError;
use lambda_support::ErrorType;
use lambda_support::eventbridge::EventError;

use crate::cloudwatch::CloudWatchError;
use crate::tagging::TaggingError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not the schedule's event (a mis-wired rule).
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    CloudWatch(#[from] CloudWatchError),
    #[error(transparent)]
    Tagging(#[from] TaggingError),
}

impl ErrorType for Error {
    fn error_type(&self) -> &'static str {
        match self {
            Error::Event(_) => "EventRejected",
            Error::List(_) => "KubernetesFailed",
            Error::CloudWatch(_) => "CloudWatchFailed",
            Error::Tagging(_) => "TaggingFailed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_has_its_name_and_keeps_its_message() {
        let table: [(Error, &str, &str); 3] = [
            (
                EventError::Shape("missing field `time`".into()).into(),
                "EventRejected",
                "not an EventBridge event: missing field `time`",
            ),
            (
                CloudWatchError {
                    operation: "DescribeAlarms",
                    alarm: None,
                    message: "Throttling: slow down".into(),
                }
                .into(),
                "CloudWatchFailed",
                "CloudWatch DescribeAlarms: Throttling: slow down",
            ),
            (
                TaggingError("AccessDenied: no".into()).into(),
                "TaggingFailed",
                "Resource Groups Tagging GetResources: AccessDenied: no",
            ),
        ];
        lambda_support::testing::assert_reported(table);
    }
}
