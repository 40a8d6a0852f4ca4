//! The alarm message CloudWatch writes (`AlarmName`, `NewStateValue`, `AlarmArn`, `Trigger`,
//! …): inside an SNS notification's `Message`, or delivered alone, as the original function's
//! sample event was.
//!
//! Read with a struct of our own rather than aws_lambda_events' `CloudWatchAlarmPayload`, which
//! requires every field as a string: CloudWatch sends `"AlarmDescription": null` for an alarm
//! without a description, and that payload type refuses it. Only the fields used are read.
use serde::Deserialize;
use serde_json::Value;

use super::arn::{Arn, alarm_arn};
use super::{AlarmNotification, AlarmState, EventError, Via, parse_time, state_change_key};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmMessage {
    pub alarm_name: String,
    pub new_state_value: String,
    #[serde(default)]
    pub new_state_reason: Option<String>,
    #[serde(default)]
    pub alarm_arn: Option<String>,
    #[serde(default, rename = "AWSAccountId")]
    pub account: Option<String>,
    #[serde(default)]
    pub state_change_time: Option<String>,
    #[serde(default)]
    pub trigger: Option<Trigger>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Trigger {
    #[serde(default)]
    pub comparison_operator: Option<String>,
}

impl AlarmMessage {
    pub fn state(&self) -> Result<AlarmState, String> {
        AlarmState::parse(&self.new_state_value).ok_or_else(|| {
            format!(
                "NewStateValue is {:?}; expected ALARM, OK or INSUFFICIENT_DATA",
                self.new_state_value
            )
        })
    }

    pub fn comparison(&self) -> Option<String> {
        self.trigger
            .as_ref()
            .and_then(|t| t.comparison_operator.clone())
    }

    /// `AlarmArn`, else the ARN built in `region` from `AWSAccountId` (else `account`).
    pub fn arn(&self, partition: &str, region: &str, account: Option<&str>) -> Option<String> {
        self.alarm_arn.clone().or_else(|| {
            let account = self.account.as_deref().or(account)?;
            Some(alarm_arn(partition, region, account, &self.alarm_name))
        })
    }
}

/// The message delivered alone: no envelope gives a message id, a publication time or a
/// region, so `AlarmArn` (the region) and `StateChangeTime` (the dedup key) are required.
pub fn decode(event: Value) -> Result<AlarmNotification, EventError> {
    let message: AlarmMessage =
        lambda_support::json::from_value(event).map_err(EventError::AlarmMessage)?;
    let state = message.state().map_err(EventError::AlarmMessage)?;
    let arn = message.alarm_arn.clone().ok_or_else(|| {
        EventError::AlarmMessage(
            "AlarmArn is missing; expected the alarm's ARN \
             (arn:aws:cloudwatch:<region>:<account>:alarm:<name>), which gives its region"
                .into(),
        )
    })?;
    let region = Arn::region_of(&arn, "cloudwatch").ok_or_else(|| {
        EventError::AlarmMessage(format!(
            "AlarmArn {arn:?} is not a CloudWatch alarm ARN with a region"
        ))
    })?;
    let time = message.state_change_time.as_deref().ok_or_else(|| {
        EventError::AlarmMessage(
            "StateChangeTime is missing; expected the time of the state change \
             (2024-05-01T12:00:00.000+0000), which identifies it"
                .into(),
        )
    })?;
    let published =
        parse_time(time).map_err(|e| EventError::AlarmMessage(format!("StateChangeTime: {e}")))?;
    Ok(AlarmNotification {
        via: Via::AlarmMessage,
        message_id: state_change_key(&arn, published),
        published,
        region: region.to_owned(),
        state,
        reason: message.new_state_reason.clone().unwrap_or_default(),
        comparison: message.comparison(),
        alarm_name: message.alarm_name,
        alarm_arn: Some(arn),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A metric-math alarm's message, as CloudWatch writes it.
    fn message() -> Value {
        json!({
            "AlarmName": "orders:backlog+high",
            "AlarmDescription": null,
            "AWSAccountId": "123456789012",
            "AlarmConfigurationUpdatedTimestamp": "2024-05-01T11:50:12.345+0000",
            "NewStateValue": "ALARM",
            "NewStateReason": "Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (100.0).",
            "StateChangeTime": "2024-05-01T12:03:10.415+0000",
            "Region": "EU (Ireland)",
            "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:orders:backlog+high",
            "OldStateValue": "OK",
            "OKActions": [],
            "AlarmActions": ["arn:aws:sns:eu-west-1:123456789012:orders-scaling"],
            "InsufficientDataActions": [],
            "Trigger": {"Period": 60, "EvaluationPeriods": 3, "ComparisonOperator": "GreaterThanThreshold",
                        "Threshold": 100.0, "TreatMissingData": "missing", "EvaluateLowSampleCountPercentile": "",
                        "Metrics": [{"Id": "e1", "Expression": "visible + delayed", "ReturnData": true}]}
        })
    }

    #[test]
    fn a_bare_message_is_keyed_by_its_alarm_and_state_change_time() {
        let n = decode(message()).unwrap();
        assert_eq!(n.via, Via::AlarmMessage);
        assert_eq!(n.alarm_name, "orders:backlog+high");
        assert_eq!(n.region, "eu-west-1");
        assert_eq!(
            n.message_id,
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:orders:backlog+high@2024-05-01T12:03:10.415Z"
        );
        assert_eq!(n.published.to_string(), "2024-05-01T12:03:10.415Z");
        assert_eq!(n.comparison.as_deref(), Some("GreaterThanThreshold"));
        assert!(n.reason.starts_with("Threshold Crossed"));
    }

    #[test]
    fn a_bare_message_is_refused_naming_the_field() {
        let without = |field: &str| {
            let mut m = message();
            m.as_object_mut().unwrap().remove(field);
            m
        };
        let with = |field: &str, value: Value| {
            let mut m = message();
            m[field] = value;
            m
        };
        let cases: Vec<(Value, &str)> = vec![
            (
                without("NewStateValue"),
                "not a CloudWatch alarm message: missing field `NewStateValue`",
            ),
            (
                with("AlarmName", json!(7)),
                "AlarmName: invalid type: integer `7`",
            ),
            (
                with("NewStateValue", json!("FIRING")),
                "NewStateValue is \"FIRING\"",
            ),
            (without("AlarmArn"), "AlarmArn is missing"),
            (
                with("AlarmArn", json!("arn:aws:sns:eu-west-1:1:t")),
                "AlarmArn \"arn:aws:sns:eu-west-1:1:t\" is not a CloudWatch alarm ARN",
            ),
            (without("StateChangeTime"), "StateChangeTime is missing"),
            (
                with("StateChangeTime", json!("noon")),
                "StateChangeTime: \"noon\" is not a time",
            ),
            (
                with("Trigger", json!("GreaterThanThreshold")),
                "Trigger: invalid type: string",
            ),
        ];
        let wrong = lambda_support::testing::misjudged(cases, |v| decode(v).map(|_| ()));
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
