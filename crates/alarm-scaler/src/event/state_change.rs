//! EventBridge's `CloudWatch Alarm State Change` (source `aws.cloudwatch`): the envelope as
//! aws_lambda_events' `CloudWatchEvent`, the detail as its `CloudWatchAlarmData` (`alarmName`,
//! `state`, `previousState`, `configuration`: a metric-math alarm's metrics have `expression`
//! where others have `metricStat`, so the configuration stays JSON). The region is the
//! event's; the alarm's ARN is in `resources`.
use aws_lambda_events::event::cloudwatch_alarms::{CloudWatchAlarmData, CloudWatchAlarmState};
use lambda_support::eventbridge::{envelope, expect};
use serde_json::Value;

use super::arn::{Arn, alarm_arn};
use super::{AlarmNotification, AlarmState, EventError, Via, from_millis, state_change_key};

pub const DETAIL_TYPE: &str = "CloudWatch Alarm State Change";

type Detail = CloudWatchAlarmData<Value, Value>;

pub fn decode(event: Value) -> Result<AlarmNotification, EventError> {
    let refused = |e: String| EventError::StateChange(e);
    let envelope = envelope(event).map_err(|e| refused(e.to_string()))?;
    expect(
        "detail-type",
        envelope.detail_type.as_deref(),
        "\"CloudWatch Alarm State Change\"",
    )
    .and_then(|()| expect("source", envelope.source.as_deref(), "\"aws.cloudwatch\""))
    .map_err(|e| refused(e.to_string()))?;
    let detail = envelope.detail.unwrap_or(Value::Null);
    // The crate's state type reads a missing value as OK: say it is missing instead.
    if !detail.pointer("/state/value").is_some_and(Value::is_string) {
        return Err(refused(
            "detail.state.value is missing; expected ALARM, OK or INSUFFICIENT_DATA".into(),
        ));
    }
    let detail: Detail =
        lambda_support::json::from_value(detail).map_err(|e| refused(format!("detail: {e}")))?;
    let (state, published) = state(detail.state.as_ref(), "detail.state").map_err(refused)?;
    let arn_in_resources = envelope
        .resources
        .iter()
        .find(|r| Arn::parse(r).is_some_and(|a| a.is_alarm()));
    let region = envelope
        .region
        .clone()
        .filter(|r| !r.is_empty())
        .or_else(|| arn_in_resources.and_then(|a| Arn::region_of(a, "cloudwatch").map(Into::into)))
        .ok_or_else(|| refused("region is missing; expected the alarm's region".into()))?;
    let arn = arn_in_resources.cloned().or_else(|| {
        let account = envelope.account_id.as_deref()?;
        Some(alarm_arn("aws", &region, account, &detail.alarm_name))
    });
    let key = arn.as_deref().unwrap_or(&detail.alarm_name);
    Ok(AlarmNotification {
        via: Via::StateChange,
        message_id: state_change_key(key, published),
        published,
        alarm_arn: arn.clone(),
        region,
        state,
        reason: detail.state.map(|s| s.reason).unwrap_or_default(),
        comparison: None,
        alarm_name: detail.alarm_name,
    })
}

/// The state and when it was entered, from aws_lambda_events' `CloudWatchAlarmState`
/// (shared with the alarm action payload); `field` names it in errors.
pub(super) fn state(
    state: Option<&CloudWatchAlarmState<Value>>,
    field: &str,
) -> Result<(AlarmState, jiff::Timestamp), String> {
    use aws_lambda_events::event::cloudwatch_alarms::CloudWatchAlarmStateValue as V;
    let state = state.ok_or_else(|| format!("{field} is missing"))?;
    let value = match state.value {
        V::Alarm => AlarmState::Alarm,
        V::Ok => AlarmState::Ok,
        V::InsufficientData => AlarmState::InsufficientData,
        // The enum is non-exhaustive: a state CloudWatch may add later is not ours to act on.
        ref other => return Err(format!("{field}.value {other:?} is not a known state")),
    };
    let at = from_millis(state.timestamp.timestamp_millis())
        .map_err(|e| format!("{field}.timestamp: {e}"))?;
    Ok((value, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A metric-math alarm in eu-west-1 whose name holds `:` and `+`, as EventBridge
    /// delivers its state change.
    fn event() -> Value {
        json!({
            "version": "0",
            "id": "6c3b0e9a-2f1d-4e7b-a8c5-9d0e1f2a3b4c",
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": "123456789012",
            "time": "2024-05-01T12:03:10Z",
            "region": "eu-west-1",
            "resources": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:orders:backlog+high"],
            "detail": {
                "alarmName": "orders:backlog+high",
                "state": {
                    "value": "ALARM",
                    "reason": "Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (100.0).",
                    "reasonData": "{\"version\":\"1.0\",\"queryDate\":\"2024-05-01T12:03:10.410+0000\",\"startDate\":\"2024-05-01T12:00:00.000+0000\",\"period\":60,\"recentDatapoints\":[131.0,140.0,152.0],\"threshold\":100.0}",
                    "timestamp": "2024-05-01T12:03:10.415+0000"
                },
                "previousState": {
                    "value": "OK",
                    "reason": "Threshold Crossed: no datapoints were received for 3 periods.",
                    "timestamp": "2024-05-01T11:50:12.345+0000"
                },
                "configuration": {
                    "description": "Orders backlog (visible + delayed) above 100",
                    "metrics": [
                        {"id": "visible", "metricStat": {"metric": {"namespace": "AWS/SQS", "name": "ApproximateNumberOfMessagesVisible", "dimensions": {"QueueName": "orders"}}, "period": 60, "stat": "Maximum"}, "returnData": false},
                        {"id": "delayed", "metricStat": {"metric": {"namespace": "AWS/SQS", "name": "ApproximateNumberOfMessagesDelayed", "dimensions": {"QueueName": "orders"}}, "period": 60, "stat": "Maximum"}, "returnData": false},
                        {"id": "e1", "expression": "visible + delayed", "label": "backlog", "returnData": true}
                    ]
                }
            }
        })
    }

    #[test]
    fn a_state_change_is_keyed_by_its_alarm_and_state_time() {
        let n = decode(event()).unwrap();
        assert_eq!(n.via, Via::StateChange);
        assert_eq!(n.alarm_name, "orders:backlog+high");
        assert_eq!(n.state, AlarmState::Alarm);
        assert_eq!(n.region, "eu-west-1");
        assert_eq!(n.published.to_string(), "2024-05-01T12:03:10.415Z");
        assert_eq!(
            n.message_id,
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:orders:backlog+high@2024-05-01T12:03:10.415Z"
        );
        assert_eq!(n.comparison, None);
        assert!(n.reason.starts_with("Threshold Crossed: 3 out"));
    }

    #[test]
    fn without_resources_the_arn_is_built_from_account_region_and_name() {
        let mut e = event();
        e["resources"] = json!([]);
        let n = decode(e.clone()).unwrap();
        assert_eq!(
            n.alarm_arn.as_deref(),
            Some("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:orders:backlog+high")
        );
        // Nor an account: keyed by the name, no ARN to read tags with.
        e.as_object_mut().unwrap().remove("account");
        let n = decode(e).unwrap();
        assert_eq!(n.alarm_arn, None);
        assert_eq!(n.message_id, "orders:backlog+high@2024-05-01T12:03:10.415Z");
    }

    #[test]
    fn other_events_and_broken_details_are_refused_naming_the_field() {
        let with = |pointer: &str, value: Value| {
            let mut e = event();
            *e.pointer_mut(pointer).unwrap() = value;
            e
        };
        let without = |path: &[&str]| {
            let mut e = event();
            let (last, parents) = path.split_last().unwrap();
            let mut at = &mut e;
            for p in parents {
                at = &mut at[*p];
            }
            at.as_object_mut().unwrap().remove(*last);
            e
        };
        let cases: Vec<(Value, &str)> = vec![
            (
                with("/detail-type", json!("Scheduled Event")),
                "not a CloudWatch Alarm State Change event: field `detail-type`: expected \"CloudWatch Alarm State Change\", got Some(\"Scheduled Event\")",
            ),
            (
                with("/source", json!("aws.events")),
                "field `source`: expected \"aws.cloudwatch\", got Some(\"aws.events\")",
            ),
            (without(&["time"]), "missing field `time`"),
            (with("/time", json!("soon")), "time: "),
            (without(&["detail"]), "detail.state.value is missing"),
            (
                without(&["detail", "state"]),
                "detail.state.value is missing",
            ),
            (
                without(&["detail", "state", "value"]),
                "detail.state.value is missing",
            ),
            (
                with("/detail/state/value", json!("FIRING")),
                "detail: state.value: unknown variant `FIRING`",
            ),
            (
                without(&["detail", "state", "timestamp"]),
                "detail: state: missing field `timestamp`",
            ),
            (
                with("/detail/state/timestamp", json!("noon")),
                "detail: state.timestamp: ",
            ),
            (
                without(&["detail", "alarmName"]),
                "detail: missing field `alarmName`",
            ),
            (
                with("/detail/alarmName", json!(["a"])),
                "detail: alarmName: invalid type",
            ),
            (
                {
                    let mut e = without(&["region"]);
                    e["resources"] = json!([]);
                    e
                },
                "region is missing",
            ),
        ];
        let wrong = lambda_support::testing::misjudged(cases, |v| decode(v).map(|_| ()));
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn a_missing_region_is_read_from_the_alarm_arn() {
        let mut e = event();
        e.as_object_mut().unwrap().remove("region");
        assert_eq!(decode(e).unwrap().region, "eu-west-1");
    }
}
