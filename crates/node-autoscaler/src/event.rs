//! The triggers: an EventBridge schedule (periodic evaluation); the EC2 events of a Spot
//! worker — "EC2 Spot Instance Interruption Warning" and "EC2 Instance Rebalance
//! Recommendation"; "EC2 Instance State-change Notification" (a worker stopping or gone);
//! and AWS Health's scheduled changes for EC2 instances (retirement, maintenance). Anything
//! else is refused naming the field that gave it away, so a mis-wired rule shows up in the
//! function's errors and changes nothing.
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::event::cloudwatch_events::ec2::InstanceStateChange;
use jiff::Timestamp;
pub use lambda_support::eventbridge::EventError;
use lambda_support::eventbridge::{envelope, expect, time};
use serde::Deserialize;

const SPOT_WARNING: &str = "EC2 Spot Instance Interruption Warning";
const REBALANCE: &str = "EC2 Instance Rebalance Recommendation";
const STATE_CHANGE: &str = "EC2 Instance State-change Notification";
/// The states of a state-change notification that mean the worker's kubelet is going away.
/// (`pending`, `running` and `stopped` are other rules' business: the rule does not send
/// them, and a mis-wired one is refused.)
const GOING: [&str; 3] = ["stopping", "shutting-down", "terminated"];

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
    /// An instance is stopping, shutting down or terminated: its Node will never be Ready
    /// again.
    StateChange {
        instance_id: String,
        /// One of [`GOING`].
        state: String,
    },
    /// AWS Health schedules a change to EC2 instances (retirement, reboot or system
    /// maintenance), days or weeks ahead.
    ScheduledChange {
        /// `detail.eventTypeCode`, e.g. `AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED`.
        event_type: String,
        /// The affected instances (`resources`, `detail.affectedEntities`), deduplicated.
        instance_ids: Vec<String>,
        /// `detail.statusCode` is `closed`: the change is over (or cancelled).
        closed: bool,
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
        (Some("aws.ec2"), Some(STATE_CHANGE)) => state_change(&event)?,
        (Some("aws.ec2"), other) => {
            return Err(EventError::Unexpected {
                field: "detail-type",
                expected: "\"EC2 Spot Instance Interruption Warning\", \"EC2 Instance Rebalance Recommendation\" or \"EC2 Instance State-change Notification\"",
                got: other.map(str::to_owned),
            });
        }
        (Some("aws.health"), _) => {
            expect("detail-type", detail_type, "\"AWS Health Event\"")?;
            scheduled_change(&event)?
        }
        (other, _) => {
            return Err(EventError::Unexpected {
                field: "source",
                expected: "\"aws.events\", \"aws.ec2\" or \"aws.health\"",
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
        Some(id) if is_instance_id(id) => Ok(id.to_owned()),
        other => Err(EventError::Unexpected {
            field: "detail.instance-id",
            expected: "an instance id such as i-0123456789abcdef0",
            got: other
                .map(str::to_owned)
                .or_else(|| id.map(|v| v.to_string())),
        }),
    }
}

fn is_instance_id(s: &str) -> bool {
    s.len() > 2 && s.starts_with("i-") && s[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The detail of a state-change notification, typed (`aws_lambda_events`' own type).
fn state_change(event: &CloudWatchEvent) -> Result<Trigger, EventError> {
    let instance_id = instance_id(event)?;
    let detail = event.detail.clone().unwrap_or_default();
    let detail: InstanceStateChange = serde_json::from_value(detail)
        .map_err(|e| EventError::Shape(format!("field `detail`: {e}")))?;
    if !GOING.contains(&detail.state.as_str()) {
        return Err(EventError::Unexpected {
            field: "detail.state",
            expected: "\"stopping\", \"shutting-down\" or \"terminated\"",
            got: Some(detail.state),
        });
    }
    Ok(Trigger::StateChange {
        instance_id,
        state: detail.state,
    })
}

/// `detail` of an AWS Health event, as far as it is read. Not `aws_lambda_events`'
/// `health::Event`: that one requires `endTime` and each entity's `tags`, which scheduled
/// EC2 events may leave out.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthDetail {
    service: Option<String>,
    event_type_code: Option<String>,
    event_type_category: Option<String>,
    status_code: Option<String>,
    #[serde(default)]
    affected_entities: Vec<HealthEntity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthEntity {
    entity_value: Option<String>,
}

/// An AWS Health scheduled change to EC2 instances: its event type and the instances it
/// names, in `resources` (ids, or ARNs ending in one) and `detail.affectedEntities`.
fn scheduled_change(event: &CloudWatchEvent) -> Result<Trigger, EventError> {
    let detail = event.detail.clone().unwrap_or_default();
    let detail: HealthDetail = serde_json::from_value(detail)
        .map_err(|e| EventError::Shape(format!("field `detail`: {e}")))?;
    expect("detail.service", detail.service.as_deref(), "\"EC2\"")?;
    let category = detail.event_type_category.as_deref();
    expect("detail.eventTypeCategory", category, "\"scheduledChange\"")?;
    let event_type = match detail.event_type_code {
        Some(code) if !code.is_empty() => code,
        other => {
            return Err(EventError::Unexpected {
                field: "detail.eventTypeCode",
                expected: "an event type such as AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
                got: other,
            });
        }
    };
    let named = event
        .resources
        .iter()
        .map(|r| r.rsplit('/').next().unwrap_or(r));
    let entities = detail.affected_entities.iter();
    let mut instance_ids: Vec<String> = named
        .chain(entities.filter_map(|e| e.entity_value.as_deref()))
        .filter(|id| is_instance_id(id))
        .map(str::to_owned)
        .collect();
    instance_ids.sort();
    instance_ids.dedup();
    if instance_ids.is_empty() {
        return Err(EventError::Unexpected {
            field: "detail.affectedEntities",
            expected: "at least one instance id (there or in `resources`)",
            got: None,
        });
    }
    Ok(Trigger::ScheduledChange {
        event_type,
        instance_ids,
        closed: detail.status_code.as_deref() == Some("closed"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            (
                "rebalance",
                Trigger::Rebalance {
                    instance_id: id.clone(),
                },
            ),
            (
                "state-change",
                Trigger::StateChange {
                    instance_id: id.clone(),
                    state: "shutting-down".into(),
                },
            ),
            (
                "health-scheduled",
                Trigger::ScheduledChange {
                    event_type: "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED".into(),
                    instance_ids: vec![id],
                    closed: false,
                },
            ),
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

    #[test]
    fn state_changes_are_the_going_states_only() {
        for state in GOING {
            let mut e = sample("state-change");
            e["detail"]["state"] = state.into();
            let trigger = decode(e, Timestamp::UNIX_EPOCH).unwrap().trigger;
            assert!(matches!(trigger, Trigger::StateChange { state: s, .. } if s == state));
        }
        let err = |v| decode(v, Timestamp::UNIX_EPOCH).unwrap_err().to_string();
        for (state, field) in [
            (json!("running"), "field `detail.state`"),
            (json!("stopped"), "field `detail.state`"),
            (json!(7), "field `detail`: invalid type: integer `7`"),
        ] {
            let mut e = sample("state-change");
            e["detail"]["state"] = state.clone();
            assert!(err(e).contains(field), "{state}");
        }
        let mut no_state = sample("state-change");
        no_state["detail"] = json!({"instance-id": "i-1234567890abcdef0"});
        assert!(err(no_state).contains("missing field `state`"));
        let mut bad_id = sample("state-change");
        bad_id["detail"]["instance-id"] = "i-../../x".into();
        assert!(err(bad_id).contains("field `detail.instance-id`"));
    }

    #[test]
    fn health_events_name_their_instances_and_refuse_other_services_and_categories() {
        let decoded = |v| decode(v, Timestamp::UNIX_EPOCH).map(|e| e.trigger);
        // Instances from both lists (ARNs or ids), once each, sorted; other entities
        // (volumes, hosts) left out.
        let mut two = sample("health-scheduled");
        two["resources"] = json!(["arn:aws:ec2:us-east-1:123456789012:instance/i-0b", "vol-1"]);
        two["detail"]["affectedEntities"] = json!([{"entityValue": "i-0a", "tags": {}},
            {"entityValue": "i-0b"}, {"entityValue": "vol-2"}, {}]);
        two["detail"]["statusCode"] = "closed".into();
        two["detail"]["eventTypeCode"] = "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED".into();
        assert_eq!(
            decoded(two).unwrap(),
            Trigger::ScheduledChange {
                event_type: "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED".into(),
                instance_ids: vec!["i-0a".into(), "i-0b".into()],
                closed: true,
            }
        );
        let err = |v| decoded(v).unwrap_err().to_string();
        let with = |pointer: &str, value: serde_json::Value| {
            let mut e = sample("health-scheduled");
            *e.pointer_mut(pointer).unwrap() = value;
            e
        };
        let table = [
            (
                with("/detail/service", "RDS".into()),
                "field `detail.service`",
            ),
            (
                with("/detail/eventTypeCategory", "issue".into()),
                "field `detail.eventTypeCategory`",
            ),
            (
                with("/detail/eventTypeCode", "".into()),
                "field `detail.eventTypeCode`",
            ),
            (
                with("/detail/affectedEntities", json!("i-1")),
                "field `detail`: invalid type: string",
            ),
            (
                with("/detail-type", "AWS Health Abuse Event".into()),
                "field `detail-type`",
            ),
        ];
        for (event, field) in table {
            assert!(err(event.clone()).contains(field), "{field}: {event}");
        }
        let mut none = with("/resources", json!([]));
        none["detail"]["affectedEntities"] = json!([{"entityValue": "vol-1"}]);
        assert!(err(none).contains("field `detail.affectedEntities`"));
    }

    /// The suite's malformed-input table, for each trigger.
    #[test]
    fn malformed_events_are_refused_naming_the_field() {
        use lambda_support::testing::{malformed_eventbridge, misjudged};
        for name in [
            "scheduled",
            "spot-interruption",
            "rebalance",
            "state-change",
            "health-scheduled",
        ] {
            let cases = malformed_eventbridge(&sample(name));
            let wrong = misjudged(cases, |e| decode(e, Timestamp::UNIX_EPOCH));
            assert!(wrong.is_empty(), "{name}: {}", wrong.join("\n"));
        }
    }
}
