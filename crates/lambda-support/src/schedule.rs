//! The trigger of the scheduled functions (queue-scaler, concurrency-scaler): an EventBridge
//! schedule (`rate(1 minute)`). Anything else is refused with the field that gave it away,
//! so a mis-wired rule shows up in the function's errors.
use jiff::Timestamp;

pub use crate::eventbridge::EventError;
use crate::eventbridge::{envelope, expect, time};

/// One scheduled run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    /// When the schedule fired (the event's `time`).
    pub scheduled: Timestamp,
    /// The time decisions use: the later of `scheduled` and the clock. A retried (old) event
    /// decides at the present; the clock never runs backwards for durable timestamps.
    pub now: Timestamp,
}

pub fn decode(event: serde_json::Value, clock: Timestamp) -> Result<Tick, EventError> {
    let event = envelope(event)?;
    expect("source", event.source.as_deref(), "\"aws.events\"")?;
    let detail_type = event.detail_type.as_deref();
    expect("detail-type", detail_type, "\"Scheduled Event\"")?;
    let scheduled = time(&event)?;
    Ok(Tick {
        scheduled,
        now: scheduled.max(clock),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> serde_json::Value {
        serde_json::from_str(include_str!("../../../events/queue-scaler/scheduled.json")).unwrap()
    }

    /// Malformed events (wrong shapes, wrong types, missing fields, huge numbers, nested
    /// garbage, odd strings) are refused with an error naming the field, never a panic.
    #[test]
    fn malformed_events_are_refused_naming_the_field() {
        let cases = crate::testing::malformed_eventbridge(&sample());
        let wrong = crate::testing::misjudged(cases, |e| decode(e, Timestamp::UNIX_EPOCH));
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_sample_schedule_decodes_and_now_is_the_later_time() {
        let early = Timestamp::from_second(0).unwrap();
        let tick = decode(sample(), early).unwrap();
        assert_eq!(tick.scheduled.to_string(), "2026-01-01T00:00:00Z");
        assert_eq!(tick.now, tick.scheduled);
        let late = Timestamp::from_second(2_000_000_000).unwrap();
        assert_eq!(decode(sample(), late).unwrap().now, late);
    }

    #[test]
    fn other_events_are_refused_naming_the_field() {
        let mut sqs = sample();
        sqs["source"] = "aws.sqs".into();
        assert_eq!(
            decode(sqs, Timestamp::UNIX_EPOCH).unwrap_err().to_string(),
            "field `source`: expected \"aws.events\", got Some(\"aws.sqs\")"
        );
        let mut rule = sample();
        rule["detail-type"] = "EC2 Instance State-change Notification".into();
        assert!(
            decode(rule, Timestamp::UNIX_EPOCH)
                .unwrap_err()
                .to_string()
                .contains("detail-type")
        );
        let err = decode(serde_json::json!({"n": 1}), Timestamp::UNIX_EPOCH).unwrap_err();
        assert!(err.to_string().contains("missing field `time`"), "{err}");
    }
}
