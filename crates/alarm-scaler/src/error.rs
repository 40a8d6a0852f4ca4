//! Why an invocation failed, each kind under the stable `errorType` operators alarm on.
//!
//! Every failure is retried by Lambda (asynchronous invocation, then the DLQ); a refused
//! event will fail again and is there to show a mis-wired subscription. The name says which
//! step failed: observing (list, scale read), claiming the step, writing the scale, or
//! re-arming the alarm.
use k8s_ops::list::ListError;
use k8s_ops::scale::ScaleError;
use k8s_ops::status::StatusError;
use lambda_support::ErrorType;

use crate::attempt::MAX_CLAIMS;
use crate::cloudwatch::CloudWatchError;
use crate::event::EventError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not an SNS event of CloudWatch alarm notifications.
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    List(#[from] ListError),
    /// Reading the Deployment's scale (a missing Deployment is an outcome, not an error).
    #[error(transparent)]
    ReadScale(ScaleError),
    /// Merging the step's record into the resource's status (other than losing the race).
    #[error(transparent)]
    Claim(StatusError),
    #[error("k8smetricalarm {0}: the status changed under every claim ({MAX_CLAIMS} conflicts)")]
    Contended(String),
    /// Writing the scale after the claim (the claim was undone).
    #[error(transparent)]
    WriteScale(ScaleError),
    /// SetAlarmState(OK) after acting.
    #[error(transparent)]
    Rearm(#[from] CloudWatchError),
}

impl ErrorType for Error {
    fn error_type(&self) -> &'static str {
        match self {
            Error::Event(_) => "EventRejected",
            Error::List(_) | Error::ReadScale(_) => "KubernetesFailed",
            Error::Claim(_) => "StatusNotWritten",
            Error::Contended(_) => "ClaimContended",
            Error::WriteScale(_) => "ScaleNotWritten",
            Error::Rearm(_) => "CloudWatchFailed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_has_its_name_and_keeps_its_message() {
        let table: [(Error, &str, &str); 5] = [
            (
                EventError::NoRecords.into(),
                "EventRejected",
                "Records is empty; expected at least one SNS record",
            ),
            (
                Error::WriteScale(ScaleError::NotFound("web".into())),
                "ScaleNotWritten",
                "deployment web not found",
            ),
            (
                Error::Claim(StatusError::Api {
                    kind: "K8sMetricAlarm".into(),
                    name: "rate".into(),
                    message: "403 Forbidden: no".into(),
                }),
                "StatusNotWritten",
                "K8sMetricAlarm rate: writing status: 403 Forbidden: no",
            ),
            (
                Error::Contended("web/rate".into()),
                "ClaimContended",
                "k8smetricalarm web/rate: the status changed under every claim (3 conflicts)",
            ),
            (
                CloudWatchError {
                    alarm: "web-high".into(),
                    region: "eu-west-1".into(),
                    message: "AccessDenied: no".into(),
                }
                .into(),
                "CloudWatchFailed",
                "SetAlarmState(OK) for alarm web-high in eu-west-1: AccessDenied: no",
            ),
        ];
        lambda_support::testing::assert_reported(table);
    }
}
