//! Decoding the trigger: an EventBridge scheduled event (aws_lambda_events'
//! `CloudWatchEvent`). The reconcile reads everything it needs itself, so the event only has
//! to be the schedule; anything else is refused with an error naming the field.
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    #[error(
        "not an EventBridge event ({0}); expected a schedule's event, {{\"source\": \"aws.events\", \"detail-type\": \"Scheduled Event\", …}}"
    )]
    NotEventBridge(String),
    #[error("{field} is {found:?}; expected {expected:?} (a schedule's event)")]
    NotScheduled {
        field: &'static str,
        found: String,
        expected: &'static str,
    },
}

/// The schedule's event id (for the logs).
pub fn decode(event: serde_json::Value) -> Result<String, EventError> {
    let event: CloudWatchEvent =
        lambda_support::json::from_value(event).map_err(EventError::NotEventBridge)?;
    let checks = [
        ("source", event.source.as_deref(), "aws.events"),
        (
            "detail-type",
            event.detail_type.as_deref(),
            "Scheduled Event",
        ),
    ];
    for (field, found, expected) in checks {
        if found != Some(expected) {
            return Err(EventError::NotScheduled {
                field,
                found: found.unwrap_or("missing").to_owned(),
                expected,
            });
        }
    }
    Ok(event.id.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scheduled() -> serde_json::Value {
        json!({
            "version": "0",
            "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2024-05-01T12:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/alarm-sync"],
            "detail": {}
        })
    }

    #[test]
    fn accepts_the_schedule() {
        assert_eq!(
            decode(scheduled()).unwrap(),
            "89d1a02d-5ec7-412e-82f5-13505f849b41"
        );
    }

    #[test]
    fn refuses_other_events_naming_the_field() {
        let mut iam = scheduled();
        iam["source"] = json!("aws.iam");
        assert!(
            decode(iam)
                .unwrap_err()
                .to_string()
                .starts_with("source is \"aws.iam\"; expected \"aws.events\"")
        );
        let mut other = scheduled();
        other["detail-type"] = json!("EC2 Spot Instance Interruption Warning");
        assert!(
            decode(other)
                .unwrap_err()
                .to_string()
                .contains("detail-type is")
        );
        let sns = json!({"Records": [{"EventSource": "aws:sns"}]});
        assert!(
            decode(sns)
                .unwrap_err()
                .to_string()
                .starts_with("not an EventBridge event (missing field `time`)")
        );
        assert!(
            decode(json!([1, 2]))
                .unwrap_err()
                .to_string()
                .starts_with("not an EventBridge event")
        );
    }

    /// Malformed events (wrong shapes, wrong types, missing fields, huge numbers, nested
    /// garbage, odd strings) are refused with an error naming the field, never a panic.
    #[test]
    fn malformed_events_are_refused_naming_the_field() {
        let cases = lambda_support::testing::malformed_eventbridge(&scheduled());
        let wrong = lambda_support::testing::misjudged(cases, decode);
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn every_sample_event_decodes() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/alarm-sync");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let event = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            decode(event).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
        assert!(seen >= 1, "sample events in {dir}");
    }
}
