//! The Deployment annotations the original function wrote when it scaled, pure: which alarm
//! (`cloudwatch.alarm.name`), why (`cloudwatch.alarm.trigger.reason`) and when
//! (`cloudwatch.alarm.trigger.time`, Joda's ISO format: `2024-05-01T12:00:00.000Z`). The
//! original took its cooldown from the trigger time; this function keeps its own record in
//! the K8sMetricAlarm's status and reads the annotation only while that record is absent
//! (the first cooldown after a migration, `crate::decide`).
use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Value, json};

pub const ALARM_NAME: &str = "cloudwatch.alarm.name";
pub const TRIGGER_REASON: &str = "cloudwatch.alarm.trigger.reason";
pub const TRIGGER_TIME: &str = "cloudwatch.alarm.trigger.time";

/// The merge patch recording a step taken at `at` for `alarm`: the same for every retry of
/// that step, so writing it again changes nothing.
pub fn patch(alarm: &str, reason: &str, at: Timestamp) -> Value {
    json!({"metadata": {"annotations": {
        ALARM_NAME: alarm,
        TRIGGER_REASON: reason,
        TRIGGER_TIME: format_time(at),
    }}})
}

/// `at` as the original wrote it: UTC, milliseconds, `Z`.
pub fn format_time(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The trigger time of a Deployment's annotations: `Ok(None)` without one, `Err` naming the
/// annotation and the format expected when it cannot be read.
pub fn trigger_time(
    annotations: Option<&BTreeMap<String, String>>,
) -> Result<Option<Timestamp>, String> {
    let Some(text) = annotations.and_then(|a| a.get(TRIGGER_TIME)) else {
        return Ok(None);
    };
    text.parse::<Timestamp>().map(Some).map_err(|_| {
        format!(
            "annotation {TRIGGER_TIME} is {text:?}; expected a time such as \
             2024-05-01T12:00:00.000Z"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_writes_the_originals_three_annotations() {
        let at = Timestamp::from_millisecond(1_714_564_800_120).unwrap();
        assert_eq!(
            patch("orders:backlog+high", "Threshold Crossed", at),
            json!({"metadata": {"annotations": {
                "cloudwatch.alarm.name": "orders:backlog+high",
                "cloudwatch.alarm.trigger.reason": "Threshold Crossed",
                "cloudwatch.alarm.trigger.time": "2024-05-01T12:00:00.120Z",
            }}})
        );
        let whole = Timestamp::from_second(1_714_564_800).unwrap();
        assert_eq!(format_time(whole), "2024-05-01T12:00:00.000Z");
    }

    #[test]
    fn the_trigger_time_is_read_as_the_original_wrote_it() {
        let with = |value: &str| BTreeMap::from([(TRIGGER_TIME.to_owned(), value.to_owned())]);
        let ms = |m: i64| Timestamp::from_millisecond(m).unwrap();
        // (annotations, the trigger time read, or the start of the error)
        type Case = (
            Option<BTreeMap<String, String>>,
            Result<Option<Timestamp>, &'static str>,
        );
        let cases: Vec<Case> = vec![
            (None, Ok(None)),
            (Some(BTreeMap::new()), Ok(None)),
            (
                Some(BTreeMap::from([(ALARM_NAME.to_owned(), "x".to_owned())])),
                Ok(None),
            ),
            (
                Some(with("2024-05-01T12:00:00.120Z")),
                Ok(Some(ms(1_714_564_800_120))),
            ),
            // Joda prints the offset of the JVM's zone when it is not UTC.
            (
                Some(with("2024-05-01T14:00:00.000+02:00")),
                Ok(Some(ms(1_714_564_800_000))),
            ),
            (
                Some(with("01/05/2024 12:00")),
                Err(
                    "annotation cloudwatch.alarm.trigger.time is \"01/05/2024 12:00\"; expected a time such as 2024-05-01T12:00:00.000Z",
                ),
            ),
            (
                Some(with("")),
                Err("annotation cloudwatch.alarm.trigger.time is \"\""),
            ),
        ];
        for (annotations, want) in cases {
            let got = trigger_time(annotations.as_ref());
            match (&got, &want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{annotations:?}"),
                (Err(g), Err(w)) => assert!(g.starts_with(w), "{g}"),
                _ => panic!("{annotations:?}: got {got:?}, want {want:?}"),
            }
        }
        let at = ms(1_714_564_800_120);
        assert_eq!(
            trigger_time(Some(&with(&format_time(at)))),
            Ok(Some(at)),
            "what is written reads back"
        );
    }
}
