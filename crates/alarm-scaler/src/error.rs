//! Why an invocation failed, each kind under the stable `errorType` operators alarm on.
//!
//! Every failure is retried by Lambda (asynchronous invocation, then the DLQ); a refused
//! event will fail again and is there to show a mis-wired subscription. The name says which
//! step failed: observing (list, scale or Deployment read), claiming the step, writing the
//! scale, CloudWatch (re-arming the alarm, reading its tags), or an alarm whose tags lead to
//! no resource. A refusal (403) keeps its step's name and says which grant is missing.
use k8s_ops::list::ListError;
use k8s_ops::scale::ScaleError;
use k8s_ops::status::StatusError;
use lambda_support::ErrorType;

use crate::attempt::MAX_CLAIMS;
use crate::cloudwatch::CloudWatchError;
use crate::event::EventError;
use crate::grant::Forbidden;
use crate::tags::Unresolved;

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
    /// Reading the Deployment's annotations (only while no step is recorded).
    #[error("deployment {name}: reading its annotations: {source}")]
    ReadDeployment {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// Merging the step's record into the resource's status (other than losing the race).
    #[error(transparent)]
    Claim(StatusError),
    #[error("k8smetricalarm {0}: the status changed under every claim ({MAX_CLAIMS} conflicts)")]
    Contended(String),
    /// Writing the scale after the claim (the claim was undone).
    #[error(transparent)]
    WriteScale(ScaleError),
    /// SetAlarmState(OK) after acting, or ListTagsForResource.
    #[error(transparent)]
    CloudWatch(#[from] CloudWatchError),
    /// The alarm's tags lead to no K8sMetricAlarm, or to one without a direction for it.
    #[error(transparent)]
    Unresolved(#[from] Unresolved),
    /// A call refused with 403, reported under the `errorType` of its step.
    #[error(transparent)]
    Forbidden(Box<Refused>),
}

/// A refusal and the step it stopped.
#[derive(Debug, thiserror::Error)]
#[error("{forbidden}")]
pub struct Refused {
    pub step: &'static str,
    #[source]
    pub forbidden: Forbidden,
}

impl Error {
    /// `forbidden`, reported as `step` (an `errorType` of this enum's) reports.
    pub fn forbidden(step: &'static str, forbidden: Forbidden) -> Error {
        Error::Forbidden(Box::new(Refused { step, forbidden }))
    }
}

pub const KUBERNETES_FAILED: &str = "KubernetesFailed";
pub const STATUS_NOT_WRITTEN: &str = "StatusNotWritten";
pub const SCALE_NOT_WRITTEN: &str = "ScaleNotWritten";

impl ErrorType for Error {
    fn error_type(&self) -> &'static str {
        match self {
            Error::Event(_) => "EventRejected",
            Error::List(_) | Error::ReadScale(_) | Error::ReadDeployment { .. } => {
                KUBERNETES_FAILED
            }
            Error::Claim(_) => STATUS_NOT_WRITTEN,
            Error::Contended(_) => "ClaimContended",
            Error::WriteScale(_) => SCALE_NOT_WRITTEN,
            Error::CloudWatch(_) => "CloudWatchFailed",
            Error::Unresolved(_) => "AlarmUnresolved",
            Error::Forbidden(refused) => refused.step,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::Grant;

    #[test]
    fn each_kind_of_failure_has_its_name_and_keeps_its_message() {
        let table: [(Error, &str, &str); 8] = [
            (
                EventError::NoRecords.into(),
                "EventRejected",
                "Records is empty; expected at least one SNS record",
            ),
            (
                Unresolved::NoResource {
                    alarm: "a".into(),
                    namespace: "orders".into(),
                    name: "x".into(),
                }
                .into(),
                "AlarmUnresolved",
                "alarm a: no K8sMetricAlarm names it, and its tags (kubernetes-namespace=orders, \
                 kubernetes-name=x) lead to none: there is no K8sMetricAlarm orders/x, and none \
                 in namespace orders scales a Deployment x; create the K8sMetricAlarm (it holds \
                 minReplicas, maxReplicas and the step policies)",
            ),
            (
                Error::forbidden(
                    SCALE_NOT_WRITTEN,
                    Forbidden {
                        grant: Grant::new(
                            &["update"],
                            "deployments/scale",
                            "apps",
                            Some("web".into()),
                        ),
                        message: "denied".into(),
                    },
                ),
                "ScaleNotWritten",
                "forbidden: alarm-scaler needs `update` on `deployments/scale` (API group \
                 \"apps\") in namespace web, as infra/k8s/rbac/alarm-scaler.yaml grants it (a \
                 rule on `deployments`, even `*`, does not cover its `scale` subresource); the \
                 API server said: denied",
            ),
            (
                CloudWatchError {
                    operation: "ListTagsForResource",
                    alarm: "arn:aws:cloudwatch:eu-west-1:1:alarm:a:b".into(),
                    region: "eu-west-1".into(),
                    message: "Throttling: slow down".into(),
                }
                .into(),
                "CloudWatchFailed",
                "ListTagsForResource for alarm arn:aws:cloudwatch:eu-west-1:1:alarm:a:b in \
                 eu-west-1: Throttling: slow down",
            ),
            (
                Error::WriteScale(ScaleError::NotFound("deployment web".into())),
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
                    operation: "SetAlarmState(OK)",
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
