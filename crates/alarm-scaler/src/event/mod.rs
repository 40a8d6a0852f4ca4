//! Decoding the trigger. Four kinds of event carry a CloudWatch alarm's state change, each read
//! by its own decoder:
//!
//! | kind | top-level key | dedup key | published |
//! |---|---|---|---|
//! | [`sns`]: SNS records carrying the alarm message (the suite's wiring) | `Records` | SNS `MessageId` | SNS `Timestamp` |
//! | [`alarm_message`]: the alarm message alone (the original's sample event) | `AlarmName` | `<AlarmArn>@<StateChangeTime>` | `StateChangeTime` |
//! | [`state_change`]: EventBridge `CloudWatch Alarm State Change` | `detail-type` | `<alarm ARN>@<detail.state.timestamp>` | `detail.state.timestamp` |
//! | [`alarm_action`]: CloudWatch invoking the function as the alarm's action | `alarmData` | `<alarmArn>@<alarmData.state.timestamp>` | `alarmData.state.timestamp` |
//!
//! The kind is told by the key only it has; anything else is refused with an error naming
//! what was expected. Without SNS there is no message id: a state change is identified by
//! its alarm and the time it happened, the same for every delivery of it.
use jiff::Timestamp;
use serde_json::Value;

pub mod alarm_action;
pub mod alarm_message;
mod arn;
pub mod sns;
pub mod state_change;

/// One CloudWatch alarm state change, however it was delivered.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmNotification {
    pub via: Via,
    /// The same for every delivery of one state change: SNS MessageId, else `<alarm
    /// ARN>@<state time>` (recorded as the step's `messageId`).
    pub message_id: String,
    /// When the notification was published (SNS) or the alarm changed state (the others):
    /// a notification older than the last step is stale.
    pub published: Timestamp,
    pub alarm_name: String,
    /// The alarm's ARN, as sent or built from its region, account and name; `None` when the
    /// event gives no account to build it from (then the alarm's tags cannot be read).
    pub alarm_arn: Option<String>,
    pub state: AlarmState,
    pub reason: String,
    /// The alarm's region (where it is re-armed and its tags are read).
    pub region: String,
    /// `Trigger.ComparisonOperator` of an alarm message (SNS or bare); the other kinds do
    /// not carry it. Only a tagged alarm no K8sMetricAlarm names needs it (its direction).
    pub comparison: Option<String>,
}

/// How the state change arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Sns,
    AlarmMessage,
    StateChange,
    AlarmAction,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Sns => "sns",
            Via::AlarmMessage => "alarm-message",
            Via::StateChange => "eventbridge",
            Via::AlarmAction => "alarm-action",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmState {
    Alarm,
    Ok,
    InsufficientData,
}

impl AlarmState {
    /// CloudWatch's name of a state (`ALARM`, `OK`, `INSUFFICIENT_DATA`).
    fn parse(value: &str) -> Option<AlarmState> {
        match value {
            "ALARM" => Some(AlarmState::Alarm),
            "OK" => Some(AlarmState::Ok),
            "INSUFFICIENT_DATA" => Some(AlarmState::InsufficientData),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    #[error(
        "not an alarm event ({found}); expected an SNS event (`Records`), a CloudWatch alarm \
         message (`AlarmName`), an EventBridge \"CloudWatch Alarm State Change\" event \
         (`detail-type`) or a CloudWatch alarm action payload (`alarmData`)"
    )]
    Unrecognized { found: String },
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
    #[error("not a CloudWatch alarm message: {0}")]
    AlarmMessage(String),
    #[error("not a CloudWatch Alarm State Change event: {0}")]
    StateChange(String),
    #[error("not a CloudWatch alarm action payload: {0}")]
    AlarmAction(String),
}

/// Every state change `event` carries (an SNS event may hold several records; the others
/// hold one); the first that is not ours fails the whole event.
pub fn decode(event: Value) -> Result<Vec<AlarmNotification>, EventError> {
    let has = |key: &str| event.get(key).is_some();
    if has("Records") {
        sns::decode(event)
    } else if has("detail-type") {
        state_change::decode(event).map(|n| vec![n])
    } else if has("alarmData") {
        alarm_action::decode(event).map(|n| vec![n])
    } else if has("AlarmName") {
        alarm_message::decode(event).map(|n| vec![n])
    } else {
        Err(EventError::Unrecognized {
            found: describe(&event),
        })
    }
}

/// What an unrecognized event is, briefly: its type, or an object's first keys.
fn describe(event: &Value) -> String {
    const KEYS: usize = 6;
    const KEY_CHARS: usize = 40;
    match event {
        Value::Object(map) if map.is_empty() => "an empty object".into(),
        Value::Object(map) => {
            let keys: Vec<String> = map
                .keys()
                .take(KEYS)
                .map(|k| format!("`{}`", k.chars().take(KEY_CHARS).collect::<String>()))
                .collect();
            let more = if map.len() > KEYS { ", …" } else { "" };
            format!("an object with keys {}{more}", keys.join(", "))
        }
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
    }
}

/// A time as CloudWatch writes it in alarm messages (`2024-05-01T12:00:00.000+0000`) or as
/// RFC 3339 (`…Z`, `…+00:00`).
fn parse_time(text: &str) -> Result<Timestamp, String> {
    text.parse::<Timestamp>()
        .or_else(|_| {
            jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", text).and_then(|t| t.to_timestamp())
        })
        .map_err(|_| format!("{text:?} is not a time such as 2024-05-01T12:00:00.000+0000"))
}

/// A time of aws_lambda_events' types (chrono, in milliseconds since the epoch) as a
/// `jiff::Timestamp`.
fn from_millis(millis: i64) -> Result<Timestamp, String> {
    Timestamp::from_millisecond(millis).map_err(|e| e.to_string())
}

/// The dedup key of a state change without an SNS message id: its alarm and its time.
fn state_change_key(alarm: &str, at: Timestamp) -> String {
    format!("{alarm}@{at}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The event of each sample file: (file, via, alarm, state, region, dedup key).
    #[test]
    fn every_sample_event_decodes_as_its_kind() {
        use AlarmState::*;
        use Via::*;
        type Case = (
            &'static str,
            Via,
            &'static str,
            AlarmState,
            &'static str,
            &'static str,
        );
        let cases: &[Case] = &[
            (
                "scale-up-alarm.json",
                Sns,
                "web-http-rate-high",
                Alarm,
                "us-east-1",
                "5d3a9c1e-8f0b-5b7e-9c3d-1f2e3a4b5c6d",
            ),
            (
                "scale-down-alarm.json",
                Sns,
                "web-cpu-low",
                Alarm,
                "us-east-1",
                "7e4b0d2f-9a1c-5c8f-8d4e-2a3b4c5d6e7f",
            ),
            (
                "back-to-ok.json",
                Sns,
                "web-http-rate-high",
                Ok,
                "us-east-1",
                "8f5c1e3a-0b2d-5d9a-9e5f-3b4c5d6e7f80",
            ),
            (
                "sns-eu-west-1.json",
                Sns,
                "orders:backlog+high",
                Alarm,
                "eu-west-1",
                "0f6c2b1e-4a9d-5c3e-b7f8-2d1e0c9b8a7f",
            ),
            (
                "alarm-message.json",
                AlarmMessage,
                "web-http-rate-high",
                Alarm,
                "us-east-1",
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-http-rate-high@2024-05-01T12:00:00Z",
            ),
            (
                "state-change.json",
                StateChange,
                "orders:backlog+high",
                Alarm,
                "eu-west-1",
                "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:orders:backlog+high@2024-05-01T12:03:10.415Z",
            ),
            (
                "alarm-action.json",
                AlarmAction,
                "web-cpu-low",
                Alarm,
                "us-east-1",
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-cpu-low@2024-05-01T12:07:41.012Z",
            ),
        ];
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/alarm-scaler");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut named: Vec<String> = cases.iter().map(|c| c.0.to_owned()).collect();
        named.sort();
        assert_eq!(files, named, "every file in {dir} is in this table");
        for &(file, via, alarm, state, region, key) in cases {
            let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
            let got = decode(serde_json::from_str(&text).unwrap())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(got.len(), 1, "{file}");
            let n = &got[0];
            assert_eq!(
                (n.via, n.alarm_name.as_str(), n.state, n.region.as_str()),
                (via, alarm, state, region),
                "{file}"
            );
            assert_eq!(n.message_id, key, "{file}");
            let arn = n.alarm_arn.as_deref().unwrap_or_default();
            assert!(arn.ends_with(&format!(":alarm:{alarm}")), "{file}: {arn}");
        }
    }

    #[test]
    fn what_is_no_alarm_event_is_refused_saying_what_was_expected() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({}),
                "not an alarm event (an empty object); expected an SNS event",
            ),
            (json!(null), "not an alarm event (null)"),
            (json!("Records"), "not an alarm event (a string)"),
            (json!([{"Records": []}]), "not an alarm event (an array)"),
            (json!(5), "(a number)"),
            (
                json!({"version": "0", "id": "x", "time": "2024-05-01T12:00:00Z"}),
                "(an object with keys `id`, `time`, `version`)",
            ),
            (
                json!({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7}),
                "`f`, …)",
            ),
        ];
        let wrong = lambda_support::testing::misjudged(cases, decode);
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn times_are_read_as_cloudwatch_and_rfc_3339_write_them() {
        let cases = [
            ("2024-05-01T12:00:00.000+0000", Some(1_714_564_800_000)),
            ("2024-05-01T12:00:00.123+0000", Some(1_714_564_800_123)),
            ("2024-05-01T14:00:00+0200", Some(1_714_564_800_000)),
            ("2024-05-01T12:00:00Z", Some(1_714_564_800_000)),
            ("2024-05-01T12:00:00.5+00:00", Some(1_714_564_800_500)),
            ("2024-05-01 12:00", None),
            ("yesterday", None),
            ("", None),
        ];
        for (text, want) in cases {
            let got = parse_time(text).ok().map(|t| t.as_millisecond());
            assert_eq!(got, want, "{text}");
        }
        assert!(
            parse_time("soon")
                .unwrap_err()
                .contains("\"soon\" is not a time")
        );
    }
}
