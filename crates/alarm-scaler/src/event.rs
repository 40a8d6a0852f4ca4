//! Decoding the trigger: an SNS event (aws_lambda_events' `SnsEvent`) whose records carry
//! CloudWatch alarm notifications. Anything else is refused with an error naming the field.
//!
//! The notification itself is read with a struct of our own rather than the crate's
//! `CloudWatchAlarmPayload`, which requires every field as a string: CloudWatch sends
//! `"AlarmDescription": null` for an alarm without a description, and that payload type
//! refuses it. Only the fields this function uses are read.
use aws_lambda_events::event::sns::{SnsEvent, SnsRecord};
use serde::Deserialize;

/// One CloudWatch alarm state change, as SNS delivered it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmNotification {
    /// SNS MessageId: the same for every delivery of one notification.
    pub message_id: String,
    /// SNS Timestamp: when the notification was published.
    pub published: jiff::Timestamp,
    pub alarm_name: String,
    pub state: AlarmState,
    pub reason: String,
    /// The alarm's region: from `AlarmArn`, else from the topic's ARN (CloudWatch only
    /// notifies topics in its own region).
    pub region: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmState {
    Alarm,
    Ok,
    InsufficientData,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    #[error(
        "not an SNS event ({0}); expected {{\"Records\": [{{\"EventSource\": \"aws:sns\", \"Sns\": {{…}}}}]}}"
    )]
    NotSns(String),
    #[error("Records is empty; expected at least one SNS record")]
    NoRecords,
    #[error("Records[{index}].EventSource is {found:?}; expected \"aws:sns\"")]
    WrongSource { index: usize, found: String },
    #[error(
        "Records[{index}].Sns.Message (MessageId {message_id}) is not a CloudWatch alarm notification: {problem}"
    )]
    NotAnAlarm {
        index: usize,
        message_id: String,
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AlarmMessage {
    alarm_name: String,
    new_state_value: String,
    #[serde(default)]
    new_state_reason: Option<String>,
    #[serde(default)]
    alarm_arn: Option<String>,
}

/// Every record of `event`, decoded; the first record that is not ours fails the whole event.
pub fn decode(event: serde_json::Value) -> Result<Vec<AlarmNotification>, EventError> {
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
    let state = match message.new_state_value.as_str() {
        "ALARM" => AlarmState::Alarm,
        "OK" => AlarmState::Ok,
        "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
        other => {
            return Err(not_an_alarm(format!(
                "NewStateValue is {other:?}; expected ALARM, OK or INSUFFICIENT_DATA"
            )));
        }
    };
    let region = message
        .alarm_arn
        .as_deref()
        .and_then(|arn| arn_region(arn, "cloudwatch"))
        .or_else(|| arn_region(&sns.topic_arn, "sns"))
        .ok_or_else(|| {
            not_an_alarm(format!(
                "no region: AlarmArn {:?} and TopicArn {:?} are not ARNs with a region",
                message.alarm_arn, sns.topic_arn
            ))
        })?;
    let published = jiff::Timestamp::from_millisecond(sns.timestamp.timestamp_millis())
        .map_err(|e| not_an_alarm(format!("Timestamp out of range: {e}")))?;
    Ok(AlarmNotification {
        message_id: sns.message_id.clone(),
        published,
        alarm_name: message.alarm_name,
        state,
        reason: message.new_state_reason.unwrap_or_default(),
        region: region.to_owned(),
    })
}

/// The region of `arn:<partition>:<service>:<region>:…`.
fn arn_region<'a>(arn: &'a str, service: &str) -> Option<&'a str> {
    let mut parts = arn.splitn(5, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some(s), Some(region)) if s == service && !region.is_empty() => {
            Some(region)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

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
        assert_eq!(n.alarm_name, "web-high");
        assert_eq!(n.state, AlarmState::Alarm);
        assert_eq!(n.region, "eu-west-1");
        assert_eq!(n.message_id, "95df01b4-ee98-5cb9-9903-4c221d41eb5e");
        assert_eq!(n.published.to_string(), "2024-05-01T12:00:00.123Z");
        assert!(n.reason.starts_with("Threshold Crossed"));
    }

    #[test]
    fn the_region_falls_back_to_the_topic_arn() {
        let mut message = notification();
        message.as_object_mut().unwrap().remove("AlarmArn");
        assert_eq!(decode(event(message)).unwrap()[0].region, "eu-west-1");
    }

    #[test]
    fn refuses_what_is_not_ours_naming_the_field() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"detail-type": "Scheduled Event"}),
                "not an SNS event (missing field `Records`)",
            ),
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
        ];
        for (input, expected) in cases {
            let err = decode(input).unwrap_err().to_string();
            assert!(err.contains(expected), "{err:?} lacks {expected:?}");
        }
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
            (json!({}), "not an SNS event (missing field `Records`)"),
            (json!(null), "not an SNS event (invalid type: null"),
            (json!("Records"), "not an SNS event (invalid type: string"),
            (
                json!([{"Records": []}]),
                "not an SNS event ([0]: invalid type: map",
            ),
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

    #[test]
    fn every_sample_event_decodes() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/alarm-scaler");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let event: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            decode(event).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
        assert!(seen >= 2, "sample events in {dir}");
    }
}
