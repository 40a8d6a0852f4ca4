//! The trigger: an EventBridge schedule, decoded by the suite's one schedule decoder (its
//! malformed-input table lives with it in lambda-support).
pub use lambda_support::schedule::{EventError, Tick, decode};

#[cfg(test)]
mod tests {
    #[test]
    fn this_functions_sample_schedule_decodes() {
        let sample: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/queue-scaler/scheduled.json"))
                .unwrap();
        let tick = super::decode(sample, jiff::Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(tick.scheduled.to_string(), "2026-01-01T00:00:00Z");
        let not: serde_json::Value = serde_json::from_str(include_str!(
            "../../../events/queue-scaler/not-a-schedule.json"
        ))
        .unwrap();
        assert!(super::decode(not, jiff::Timestamp::UNIX_EPOCH).is_err());
    }
}
