//! CloudWatch, for one call: SetAlarmState(OK) in the alarm's own region, so that a breach
//! that lasts fires the alarm (and steps) again. One client per region, built on first use
//! from the function's SDK config (credentials, endpoint overrides, HTTP client) and kept for
//! warm invocations.
use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::{Region, SdkConfig};
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cloudwatch::types::StateValue;

/// CloudWatch's limit on StateReason.
const MAX_REASON: usize = 1023;

#[derive(Debug, thiserror::Error)]
#[error("SetAlarmState(OK) for alarm {alarm} in {region}: {message}")]
pub struct CloudWatchError {
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
                alarm: alarm.into(),
                region: region.into(),
                message: match e.as_service_error() {
                    Some(service) => format!(
                        "{}: {}",
                        service.code().unwrap_or("error"),
                        service.message().unwrap_or("")
                    ),
                    None => DisplayErrorContext(&e).to_string(),
                },
            })
    }
}
