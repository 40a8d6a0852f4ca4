//! Decoding the trigger: an EventBridge schedule's event, decoded by the suite's one schedule
//! decoder (`lambda_support::schedule`). The reconcile reads everything it needs itself, so
//! the event only has to be the schedule; anything else is refused with an error naming the
//! field.
pub use lambda_support::schedule::EventError;

/// The schedule's event id (for the logs).
pub fn decode(event: serde_json::Value) -> Result<String, EventError> {
    let id = event
        .get("id")
        .and_then(|id| id.as_str())
        .map(str::to_owned);
    lambda_support::schedule::decode(event, jiff::Timestamp::now())?;
    Ok(id.unwrap_or_default())
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
                .starts_with("field `source`: expected \"aws.events\", got Some(\"aws.iam\")")
        );
        let mut other = scheduled();
        other["detail-type"] = json!("EC2 Spot Instance Interruption Warning");
        assert!(
            decode(other)
                .unwrap_err()
                .to_string()
                .contains("field `detail-type`")
        );
        let sns = json!({"Records": [{"EventSource": "aws:sns"}]});
        assert!(
            decode(sns)
                .unwrap_err()
                .to_string()
                .starts_with("not an EventBridge event: missing field `time`")
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
