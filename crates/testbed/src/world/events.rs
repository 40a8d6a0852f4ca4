//! EventBridge events as the functions receive them, at the times a test chooses.
use jiff::Timestamp;
use serde_json::{Value, json};

/// An EventBridge event of `detail_type` from `source` at `at`, in the functions' account
/// and region; its id differs per time and detail type.
pub fn event(detail_type: &str, source: &str, at: Timestamp, detail: Value) -> Value {
    json!({
        "version": "0",
        "id": format!("evt-{}-{}", at.as_second(), detail_type.len()),
        "detail-type": detail_type,
        "source": source,
        "account": super::ACCOUNT,
        "time": at.to_string(),
        "region": "us-east-1",
        "resources": [],
        "detail": detail
    })
}

/// The event of the workspace's sample file `path` (`events/<function>/<event>.json`), as a
/// developer invokes a function with it.
pub fn sample(path: &str) -> Value {
    let text = std::fs::read_to_string(super::repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The schedule's tick (`rate(1 minute)`) fired at `at`.
pub fn scheduled(at: Timestamp) -> Value {
    event("Scheduled Event", "aws.events", at, json!({}))
}

/// The first run's time: a minute ahead of the clock, so that the event's time (not the
/// clock, which a function takes when later) is what every run decides with; whole seconds,
/// so that timestamps in statuses compare exactly.
pub fn t0() -> Timestamp {
    at(Timestamp::now(), 60)
}

/// `seconds` after `t`, in whole seconds.
pub fn at(t: Timestamp, seconds: i64) -> Timestamp {
    Timestamp::from_second(t.as_second() + seconds).expect("a time in range")
}
