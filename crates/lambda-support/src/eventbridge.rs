//! The EventBridge envelope every EventBridge-triggered function decodes (schedules,
//! CloudTrail, EC2 events), and the one error such a decoder returns: it names the field that
//! gave a mis-wired rule away, so the function's errors show it and nothing changes.
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("not an EventBridge event: {0}")]
    Shape(String),
    #[error("field `{field}`: expected {expected}, got {got:?}")]
    Unexpected {
        field: &'static str,
        /// What the field should hold, as the reader needs it: a literal in quotes
        /// (`"\"aws.events\""`) or a description (`"an instance id such as i-0123…"`).
        expected: &'static str,
        got: Option<String>,
    },
}

/// `event` as EventBridge's envelope (aws_lambda_events' `CloudWatchEvent`), the detail left
/// as JSON for the caller.
pub fn envelope(event: serde_json::Value) -> Result<CloudWatchEvent, EventError> {
    crate::json::from_value(event).map_err(EventError::Shape)
}

/// `Ok` when `got` is `expected`; else the error naming `field`. `expected` is shown as given
/// (quote a literal).
pub fn expect(
    field: &'static str,
    got: Option<&str>,
    expected: &'static str,
) -> Result<(), EventError> {
    if got.is_some_and(|got| expected.trim_matches('"') == got) {
        Ok(())
    } else {
        Err(EventError::Unexpected {
            field,
            expected,
            got: got.map(str::to_owned),
        })
    }
}

/// The event's time as a `jiff::Timestamp` (the envelope holds a chrono time).
pub fn time(event: &CloudWatchEvent) -> Result<jiff::Timestamp, EventError> {
    jiff::Timestamp::new(
        event.time.timestamp(),
        event.time.timestamp_subsec_nanos() as i32,
    )
    .map_err(|e| EventError::Shape(format!("field `time`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expect_names_the_field_and_what_it_wanted() {
        assert_eq!(
            expect("source", Some("aws.events"), "\"aws.events\""),
            Ok(())
        );
        assert_eq!(
            expect("source", Some("aws.sqs"), "\"aws.events\"")
                .unwrap_err()
                .to_string(),
            "field `source`: expected \"aws.events\", got Some(\"aws.sqs\")"
        );
        assert!(expect("source", None, "\"aws.events\"").is_err());
    }

    #[test]
    fn a_non_envelope_is_a_shape_error() {
        let err = envelope(serde_json::json!({"n": 1})).unwrap_err();
        assert!(
            matches!(err, EventError::Shape(ref m) if m.contains("time")),
            "{err}"
        );
    }
}
