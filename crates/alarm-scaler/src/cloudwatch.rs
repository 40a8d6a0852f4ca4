//! CloudWatch, for two calls in the alarm's own region: SetAlarmState(OK), so that a breach
//! that lasts fires the alarm (and steps) again; and ListTagsForResource, for an alarm no
//! K8sMetricAlarm names (the original's way to its resource, `crate::tags`). One client per
//! region, built on first use from the function's SDK config (credentials, endpoint
//! overrides, HTTP client) and kept for warm invocations.
use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::{Region, SdkConfig};
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cloudwatch::types::StateValue;

/// CloudWatch's limit on StateReason.
const MAX_REASON: usize = 1023;

#[derive(Debug, thiserror::Error)]
#[error("{operation} for alarm {alarm} in {region}: {message}")]
pub struct CloudWatchError {
    /// `SetAlarmState(OK)`, `ListTagsForResource`.
    pub operation: &'static str,
    pub alarm: String,
    pub region: String,
    pub message: String,
}

pub struct CloudWatch {
    sdk: SdkConfig,
    clients: Mutex<HashMap<String, Client>>,
}

impl CloudWatch {
    pub fn new(sdk: &SdkConfig) -> Self {
        CloudWatch {
            sdk: sdk.clone(),
            clients: Mutex::default(),
        }
    }

    fn client(&self, region: &str) -> Client {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_cloudwatch::config::Builder::from(&self.sdk)
                    .region(Region::new(region.to_owned()))
                    .build();
                Client::from_conf(config)
            })
            .clone()
    }

    /// Sets `alarm` to OK; CloudWatch evaluates it again at its next period.
    pub async fn rearm(
        &self,
        region: &str,
        alarm: &str,
        reason: &str,
    ) -> Result<(), CloudWatchError> {
        let reason: String = reason.chars().take(MAX_REASON).collect();
        self.client(region)
            .set_alarm_state()
            .alarm_name(alarm)
            .state_value(StateValue::Ok)
            .state_reason(reason)
            .send()
            .await
            .map(drop)
            .map_err(|e| CloudWatchError {
                operation: "SetAlarmState(OK)",
                alarm: alarm.into(),
                region: region.into(),
                message: message(&e),
            })
    }

    /// The tags of the alarm `arn` as (key, value); none for an alarm CloudWatch does not know
    /// (deleted since it fired).
    pub async fn tags(
        &self,
        region: &str,
        arn: &str,
    ) -> Result<Vec<(String, String)>, CloudWatchError> {
        match self
            .client(region)
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .tags()
                .iter()
                .map(|t| {
                    let part = |s: Option<&str>| s.unwrap_or_default().to_owned();
                    (part(t.key()), part(t.value()))
                })
                .collect()),
            Err(e)
                if e.as_service_error().and_then(|s| s.code())
                    == Some("ResourceNotFoundException") =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(CloudWatchError {
                operation: "ListTagsForResource",
                alarm: arn.into(),
                region: region.into(),
                message: message(&e),
            }),
        }
    }
}

/// A service error as `Code: message`, anything else (transport, timeout) with its causes.
fn message<E, R>(e: &aws_sdk_cloudwatch::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("")
        ),
        None => DisplayErrorContext(e).to_string(),
    }
}
