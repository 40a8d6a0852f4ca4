//! Why an invocation failed, each kind under the stable `errorType` operators alarm on.
//!
//! Every failure but a refused event is retried (by EventBridge, by Lambda) and healed at the
//! latest by the next resync; the name says where to look.
use lambda_support::ErrorType;
use lambda_support::eventbridge::EventError;

use crate::access_entries::EksError;
use crate::aws_auth::AwsAuthError;
use crate::iam::IamError;
use crate::mapping::MappingError;
use crate::records::RecordError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not an event of ours (a mis-wired rule), or one without the fields it needs.
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("reading the group mapping {0}: {1}")]
    MappingRead(String, #[source] kube::Error),
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error(transparent)]
    Iam(#[from] IamError),
    #[error(transparent)]
    AwsAuth(#[from] AwsAuthError),
    #[error(transparent)]
    Eks(#[from] EksError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

impl ErrorType for Error {
    fn error_type(&self) -> &'static str {
        match self {
            Error::Event(_) => "EventRejected",
            Error::Mapping(_) => "MappingInvalid",
            Error::Iam(_) => "IamFailed",
            Error::Eks(_) => "EksFailed",
            Error::AwsAuth(AwsAuthError::NotFound { .. }) => "AwsAuthMissing",
            Error::AwsAuth(AwsAuthError::Yaml(_)) => "AwsAuthInvalid",
            Error::AwsAuth(AwsAuthError::Conflict(_)) => "AwsAuthContended",
            Error::MappingRead(..) | Error::AwsAuth(AwsAuthError::Api(_)) | Error::Record(_) => {
                "KubernetesFailed"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_has_its_name() {
        let event = Error::from(EventError::Shape("x".into()));
        assert_eq!(event.error_type(), "EventRejected");
        let eks = Error::from(EksError {
            operation: "CreateAccessEntry",
            principal: "arn:aws:iam::111122223333:user/alice".into(),
            message: "denied".into(),
            raced: false,
        });
        assert_eq!(eks.error_type(), "EksFailed");
        let conflict = Error::from(AwsAuthError::Conflict(8));
        assert_eq!(conflict.error_type(), "AwsAuthContended");
        let iam = Error::from(IamError {
            operation: "GetUser",
            name: "alice".into(),
            message: "throttled".into(),
        });
        assert_eq!(
            (iam.error_type(), iam.to_string().as_str()),
            ("IamFailed", "IAM GetUser alice: throttled")
        );
    }
}
