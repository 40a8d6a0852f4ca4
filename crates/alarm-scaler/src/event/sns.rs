//! An SNS event (aws_lambda_events' `SnsEvent`) whose records carry CloudWatch alarm messages:
//! the topic the suite's alarms notify. Each delivery of a message has the same MessageId.
use aws_lambda_events::event::sns::{SnsEvent, SnsRecord};
use serde_json::Value;

use super::alarm_message::AlarmMessage;
use super::arn::Arn;
use super::{AlarmNotification, EventError, Via, from_millis};

/// Every record of `event`, decoded; the first record that is not ours fails the whole event.
pub fn decode(event: Value) -> Result<Vec<AlarmNotification>, EventError> {
    let sns: SnsEvent = lambda_support::json::from_value(event).map_err(EventError::NotSns)?;
    if sns.records.is_empty() {
        return Err(EventError::NoRecords);
    }
    sns.records
        .iter()
        .enumerate()
        .map(|(index, record)| decode_record(index, record))
        .collect()
}

fn decode_record(index: usize, record: &SnsRecord) -> Result<AlarmNotification, EventError> {
    if record.event_source != "aws:sns" {
        return Err(EventError::WrongSource {
            index,
            found: record.event_source.clone(),
        });
    }
    let sns = &record.sns;
    let not_an_alarm = |problem: String| EventError::NotAnAlarm {
        index,
        message_id: sns.message_id.clone(),
        problem,
    };
    let message: AlarmMessage =
        lambda_support::json::from_str(&sns.message).map_err(not_an_alarm)?;
    let state = message.state().map_err(not_an_alarm)?;
    // CloudWatch notifies topics in its own region only: the topic's region is the alarm's.
    let topic = Arn::parse(&sns.topic_arn);
    let region = message
        .alarm_arn
        .as_deref()
        .and_then(|arn| Arn::region_of(arn, "cloudwatch"))
        .or(topic
            .filter(|t| t.service == "sns" && !t.region.is_empty())
            .map(|t| t.region))
        .ok_or_else(|| {
            not_an_alarm(format!(
                "no region: AlarmArn {:?} and TopicArn {:?} are not ARNs with a region",
                message.alarm_arn, sns.topic_arn
            ))
        })?;
    let published = from_millis(sns.timestamp.timestamp_millis())
        .map_err(|e| not_an_alarm(format!("Timestamp out of range: {e}")))?;
    let partition = topic.map_or("aws", |t| t.partition);
    Ok(AlarmNotification {
        via: Via::Sns,
        message_id: sns.message_id.clone(),
        published,
        alarm_arn: message.arn(partition, region, topic.map(|t| t.account)),
        region: region.to_owned(),
        state,
        reason: message.new_state_reason.clone().unwrap_or_default(),
        comparison: message.comparison(),
        alarm_name: message.alarm_name,
    })
}

#[cfg(test)]
mod tests {
    use super::super::AlarmState;
    use super::*;
    use serde_json::json;

    /// An SNS event as Lambda delivers it, with a notification as CloudWatch sends it.
    fn event(message: Value) -> Value {
        json!({"Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": "arn:aws:sns:eu-west-1:123456789012:scaling:2bcfbf39",
            "Sns": {
                "Type": "Notification",
                "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                "TopicArn": "arn:aws:sns:eu-west-1:123456789012:scaling",
                "Subject": "ALARM: \"web-high\" in EU (Ireland)",
                "Message": message.to_string(),
                "Timestamp": "2024-05-01T12:00:00.123Z",
                "SignatureVersion": "1",
                "Signature": "EXAMPLE",
                "SigningCertUrl": "https://sns.eu-west-1.amazonaws.com/cert.pem",
                "UnsubscribeUrl": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
                "MessageAttributes": {}
            }
        }]})
    }

    fn notification() -> Value {
        json!({
            "AlarmName": "web-high",
            "AlarmDescription": null,
            "AWSAccountId": "123456789012",
            "NewStateValue": "ALARM",
            "NewStateReason": "Threshold Crossed: 2 out of the last 5 datapoints were greater than the threshold (10.0).",
            "StateChangeTime": "2024-05-01T12:00:00.000+0000",
            "Region": "EU (Ireland)",
            "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-high",
            "OldStateValue": "OK",
            "Trigger": {"Period": 60, "EvaluationPeriods": 5, "ComparisonOperator": "GreaterThanThreshold",
                        "Threshold": 10.0, "TreatMissingData": "missing", "EvaluateLowSampleCountPercentile": "",
                        "Metrics": [{"Id": "m1", "Expression": "m0/60", "ReturnData": true}]}
        })
    }

    #[test]
    fn decodes_a_cloudwatch_notification_with_a_null_description() {
        let got = decode(event(notification())).unwrap();
        assert_eq!(got.len(), 1);
        let n = &got[0];
        assert_eq!(n.via, Via::Sns);
        assert_eq!(n.alarm_name, "web-high");
        assert_eq!(n.state, AlarmState::Alarm);
        assert_eq!(n.region, "eu-west-1");
        assert_eq!(n.message_id, "95df01b4-ee98-5cb9-9903-4c221d41eb5e");
        assert_eq!(n.published.to_string(), "2024-05-01T12:00:00.123Z");
        assert_eq!(n.comparison.as_deref(), Some("GreaterThanThreshold"));
        assert!(n.reason.starts_with("Threshold Crossed"));
    }

    #[test]
    fn without_an_alarm_arn_the_topic_gives_region_and_account() {
        let mut message = notification();
        message.as_object_mut().unwrap().remove("AlarmArn");
        let n = &decode(event(message.clone())).unwrap()[0];
        assert_eq!(n.region, "eu-west-1");
        assert_eq!(
            n.alarm_arn.as_deref(),
            Some("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-high")
        );
        // No AWSAccountId either: the topic's account.
        message.as_object_mut().unwrap().remove("AWSAccountId");
        let mut e = event(message);
        e["Records"][0]["Sns"]["TopicArn"] = json!("arn:aws:sns:eu-west-1:210987654321:scaling");
        let n = &decode(e).unwrap()[0];
        assert_eq!(
            n.alarm_arn.as_deref(),
            Some("arn:aws:cloudwatch:eu-west-1:210987654321:alarm:web-high")
        );
    }

    #[test]
    fn refuses_what_is_not_ours_naming_the_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"Records": []}), "Records is empty"),
            (
                {
                    let mut e = event(notification());
                    e["Records"][0]["EventSource"] = json!("aws:sqs");
                    e
                },
                "Records[0].EventSource is \"aws:sqs\"",
            ),
            (
                event(json!({"hello": "world"})),
                "is not a CloudWatch alarm notification: missing field `AlarmName`",
            ),
            (
                {
                    let mut m = notification();
                    m["NewStateValue"] = json!("FIRING");
                    event(m)
                },
                "NewStateValue is \"FIRING\"",
            ),
            (
                {
                    let mut e = event(notification());
                    e["Records"][0]["Sns"]["Message"] = json!("plain text");
                    e
                },
                "MessageId 95df01b4-ee98-5cb9-9903-4c221d41eb5e) is not a CloudWatch alarm",
            ),
            (
                {
                    let mut m = notification();
                    m.as_object_mut().unwrap().remove("AlarmArn");
                    let mut e = event(m);
                    e["Records"][0]["Sns"]["TopicArn"] = json!("scaling");
                    e
                },
                "no region: AlarmArn None and TopicArn \"scaling\"",
            ),
        ];
        let wrong = lambda_support::testing::misjudged(cases, decode);
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// Malformed events (wrong shapes, wrong types, missing fields, huge numbers, nested
    /// garbage, invalid escapes inside the embedded message) are refused with an error
    /// naming the field, never a panic.
    #[test]
    fn malformed_events_are_refused_naming_the_field() {
        let with = |pointer: &str, value: Value| {
            let mut e = event(notification());
            *e.pointer_mut(pointer).unwrap() = value;
            e
        };
        let message = |text: &str| with("/Records/0/Sns/Message", json!(text));
        let deep = (0..200).fold(json!("x"), |v, _| json!({ "a": [v] }));
        let cases: Vec<(Value, &str)> = vec![
            (json!({"Records": 5}), "(Records: invalid type: integer `5`"),
            (
                json!({"Records": [null]}),
                "(Records[0]: invalid type: null",
            ),
            (json!({"Records": [{}]}), "(Records[0]"),
            (
                with("/Records/0/Sns", json!([])),
                "(Records[0].Sns: invalid length 0",
            ),
            (
                with("/Records/0/Sns/Timestamp", json!("yesterday")),
                "(Records[0].Sns.Timestamp: ",
            ),
            (
                with("/Records/0/Sns/Timestamp", json!(1e308)),
                "(Records[0].Sns.Timestamp: ",
            ),
            (
                with("/Records/0/Sns/MessageId", json!(u64::MAX)),
                "(Records[0].Sns.MessageId: ",
            ),
            (
                with("/Records/0/EventSource", deep.clone()),
                "(Records[0].EventSource: ",
            ),
            (
                with("/Records/0/Sns/Message", json!({"AlarmName": "x"})),
                "(Records[0].Sns.Message: ",
            ),
            (message(""), "not a CloudWatch alarm notification: EOF"),
            (
                message("[]"),
                "not a CloudWatch alarm notification: invalid length 0",
            ),
            (
                message(r#"{"AlarmName": 5}"#),
                "notification: AlarmName: invalid type: integer `5`",
            ),
            (
                message(r#"{"AlarmName": "a\ud800", "NewStateValue": "ALARM"}"#),
                "notification: AlarmName: ",
            ),
            (
                message(r#"{"AlarmName": "a", "NewStateValue": null}"#),
                "notification: NewStateValue: invalid type: null",
            ),
            (
                message(r#"{"AlarmName": "a"}"#),
                "notification: missing field `NewStateValue`",
            ),
            (
                message(r#"{"AlarmName": "a", "NewStateValue": "ALARM", "AlarmArn": 1e999}"#),
                "notification: AlarmArn: ",
            ),
            (
                message(
                    &json!({"AlarmName": "a", "NewStateValue": "ALARM", "NewStateReason": deep})
                        .to_string(),
                ),
                "notification: ",
            ),
        ];
        let wrong = lambda_support::testing::misjudged(cases, decode);
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
