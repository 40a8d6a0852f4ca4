//! The triggers: an EventBridge schedule (periodic evaluation), and the EC2 events of a Spot
//! worker — "EC2 Spot Instance Interruption Warning" and "EC2 Instance Rebalance
//! Recommendation". Anything else is refused naming the field that gave it away, so a
//! mis-wired rule shows up in the function's errors and changes nothing.
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use jiff::Timestamp;
pub use lambda_support::eventbridge::EventError;
use lambda_support::eventbridge::{envelope, expect, time};

const SPOT_WARNING: &str = "EC2 Spot Instance Interruption Warning";
const REBALANCE: &str = "EC2 Instance Rebalance Recommendation";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    /// Two minutes before EC2 reclaims a Spot instance.
    SpotInterruption {
        instance_id: String,
    },
    /// EC2 sees an elevated interruption risk; usually 10–20 minutes ahead, or never.
    Rebalance {
        instance_id: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub trigger: Trigger,
    /// The time decisions use: the later of the event's `time` and the clock (a retried,
    /// old event decides at the present).
    pub now: Timestamp,
    pub id: String,
}

pub fn decode(event: serde_json::Value, clock: Timestamp) -> Result<Event, EventError> {
    let event = envelope(event)?;
    let detail_type = event.detail_type.as_deref();
    let trigger = match (event.source.as_deref(), detail_type) {
        (Some("aws.events"), _) => {
            expect("detail-type", detail_type, "\"Scheduled Event\"")?;
            Trigger::Schedule
        }
        (Some("aws.ec2"), Some(SPOT_WARNING)) => Trigger::SpotInterruption {
            instance_id: instance_id(&event)?,
        },
        (Some("aws.ec2"), Some(REBALANCE)) => Trigger::Rebalance {
            instance_id: instance_id(&event)?,
        },
        (Some("aws.ec2"), other) => {
            return Err(EventError::Unexpected {
                field: "detail-type",
                expected: "\"EC2 Spot Instance Interruption Warning\" or \"EC2 Instance Rebalance Recommendation\"",
                got: other.map(str::to_owned),
            });
        }
        (other, _) => {
            return Err(EventError::Unexpected {
                field: "source",
                expected: "\"aws.events\" or \"aws.ec2\"",
                got: other.map(str::to_owned),
            });
        }
    };
    Ok(Event {
        trigger,
        now: time(&event)?.max(clock),
        id: event.id.unwrap_or_default(),
    })
}

/// `detail.instance-id` of an EC2 event.
fn instance_id(event: &CloudWatchEvent) -> Result<String, EventError> {
    let id = event.detail.as_ref().and_then(|d| d.get("instance-id"));
    match id.and_then(|v| v.as_str()) {
        Some(id) if id.starts_with("i-") && id.len() > 2 => Ok(id.to_owned()),
        other => Err(EventError::Unexpected {
            field: "detail.instance-id",
            expected: "an instance id such as i-0123456789abcdef0",
            got: other
                .map(str::to_owned)
                .or_else(|| id.map(|v| v.to_string())),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/../../events/node-autoscaler/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_samples_decode() {
        let epoch = Timestamp::UNIX_EPOCH;
        let id = "i-1234567890abcdef0".to_owned();
        let table = [
            ("scheduled", Trigger::Schedule),
            (
                "spot-interruption",
                Trigger::SpotInterruption {
                    instance_id: id.clone(),
                },
            ),
            ("rebalance", Trigger::Rebalance { instance_id: id }),
        ];
        for (name, trigger) in table {
            let e = decode(sample(name), epoch).unwrap();
            assert_eq!(e.trigger, trigger, "{name}");
            assert_eq!(e.now.to_string(), "2026-01-01T00:00:00Z");
        }
        let late = Timestamp::from_second(2_000_000_000).unwrap();
        assert_eq!(decode(sample("scheduled"), late).unwrap().now, late);
    }

    #[test]
    fn other_events_are_refused_naming_the_field() {
        let err = |v| decode(v, Timestamp::UNIX_EPOCH).unwrap_err().to_string();
        assert!(err(sample("not-ours")).contains("field `detail-type`"));
        let mut sqs = sample("scheduled");
        sqs["source"] = "aws.sqs".into();
        assert!(err(sqs).contains("field `source`"));
        let mut no_id = sample("spot-interruption");
        no_id["detail"] = serde_json::json!({"instance-action": "terminate"});
        assert!(err(no_id).contains("field `detail.instance-id`"));
        let mut bad_id = sample("rebalance");
        bad_id["detail"]["instance-id"] = 42.into();
        assert!(err(bad_id).contains("detail.instance-id"));
        assert!(err(serde_json::json!({"n": 1})).contains("missing field"));
        let mut ec2_schedule = sample("scheduled");
        ec2_schedule["source"] = "aws.ec2".into();
        assert!(err(ec2_schedule).contains("field `detail-type`"));
    }

    /// The suite's malformed-input table, for each trigger.
    #[test]
    fn malformed_events_are_refused_naming_the_field() {
        use lambda_support::testing::{malformed_eventbridge, misjudged};
        for name in ["scheduled", "spot-interruption", "rebalance"] {
            let cases = malformed_eventbridge(&sample(name));
            let wrong = misjudged(cases, |e| decode(e, Timestamp::UNIX_EPOCH));
            assert!(wrong.is_empty(), "{name}: {}", wrong.join("\n"));
        }
    }
}
