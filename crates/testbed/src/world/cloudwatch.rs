//! CloudWatch as alarm-sync and alarm-scaler meet it: the alarms (in moto, behind the
//! gateway that speaks CloudWatch's CBOR protocol) and the SNS notifications an alarm sends.
use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use serde_json::{Value, json};

use super::World;

/// The suite's SNS topic: the alarms' default action (`SNS_TOPIC_ARN`).
pub const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:k8s-alarm-scaler";

impl World {
    /// CloudWatch for set-up and assertions.
    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.aws)
    }

    pub async fn alarm(&self, name: &str) -> Option<MetricAlarm> {
        self.cloudwatch()
            .describe_alarms()
            .alarm_names(name)
            .send()
            .await
            .expect("DescribeAlarms")
            .metric_alarms()
            .first()
            .cloned()
    }

    /// Every alarm's name, sorted.
    pub async fn alarm_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .cloudwatch()
            .describe_alarms()
            .send()
            .await
            .expect("DescribeAlarms")
            .metric_alarms()
            .iter()
            .filter_map(|a| a.alarm_name().map(Into::into))
            .collect();
        names.sort();
        names
    }

    /// The tags of the alarm `arn`, sorted.
    pub async fn tags(&self, arn: &str) -> Vec<(String, String)> {
        let mut tags: Vec<(String, String)> = self
            .cloudwatch()
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .expect("ListTagsForResource")
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().into(),
                    t.value().unwrap_or_default().into(),
                )
            })
            .collect();
        tags.sort();
        tags
    }

    /// Puts `alarm` in ALARM, as CloudWatch does on a breach before it notifies.
    pub async fn breach(&self, alarm: &str) {
        self.cloudwatch()
            .set_alarm_state()
            .alarm_name(alarm)
            .state_value(StateValue::Alarm)
            .state_reason("Threshold Crossed (test)")
            .send()
            .await
            .expect("SetAlarmState ALARM");
    }
}

/// The sample SNS event (`events/alarm-scaler/scale-up-alarm.json`) as CloudWatch would
/// publish it now for `alarm` entering `state`, with `message_id` and the alarm's real ARN.
pub fn notification(alarm: &MetricAlarm, message_id: &str, state: &str) -> Value {
    let path = super::repo("events/alarm-scaler/scale-up-alarm.json");
    let sample = std::fs::read_to_string(&path).expect("the sample notification");
    let mut event: Value = serde_json::from_str(&sample).expect("the sample is JSON");
    let sns = &mut event["Records"][0]["Sns"];
    let mut message: Value =
        serde_json::from_str(sns["Message"].as_str().unwrap_or("{}")).expect("a JSON message");
    message["AlarmName"] = json!(alarm.alarm_name());
    message["AlarmArn"] = json!(alarm.alarm_arn());
    message["AlarmDescription"] = json!(alarm.alarm_description());
    message["NewStateValue"] = json!(state);
    message["OldStateValue"] = json!(if state == "ALARM" { "OK" } else { "ALARM" });
    sns["Message"] = json!(message.to_string());
    sns["MessageId"] = json!(message_id);
    sns["Timestamp"] = json!(jiff::Timestamp::now().to_string());
    event
}
