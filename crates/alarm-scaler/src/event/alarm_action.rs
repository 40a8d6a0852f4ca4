//! The payload CloudWatch sends when an alarm's action is the function itself (`source`
//! `aws.cloudwatch`, `alarmArn`, `accountId`, `time`, `region`, `alarmData` with `alarmName`,
//! `state`, `previousState`, `configuration`), as aws_lambda_events' `CloudWatchAlarm` with the
//! configuration left as JSON (a metric-math alarm's metrics have no `metricStat`, which the
//! crate's `CloudWatchMetricAlarm` requires).
use aws_lambda_events::event::cloudwatch_alarms::CloudWatchAlarm;
use serde_json::Value;

use super::arn::{Arn, alarm_arn};
use super::state_change::state;
use super::{AlarmNotification, EventError, Via, state_change_key};

type Payload = CloudWatchAlarm<Value, Value>;

pub fn decode(event: Value) -> Result<AlarmNotification, EventError> {
    let refused = EventError::AlarmAction;
    // The crate's state type reads a missing value as OK: say it is missing instead.
    if !event
        .pointer("/alarmData/state/value")
        .is_some_and(Value::is_string)
    {
        return Err(refused(
            "alarmData.state.value is missing; expected ALARM, OK or INSUFFICIENT_DATA".into(),
        ));
    }
    let payload: Payload = lambda_support::json::from_value(event).map_err(refused)?;
    if payload.source.as_deref() != Some("aws.cloudwatch") {
        return Err(refused(format!(
            "source is {:?}; expected \"aws.cloudwatch\"",
            payload.source
        )));
    }
    let data = payload.alarm_data;
    let (state, published) = state(data.state.as_ref(), "alarmData.state").map_err(refused)?;
    let region = payload
        .region
        .clone()
        .filter(|r| !r.is_empty())
        .or_else(|| {
            let arn = payload.alarm_arn.as_deref()?;
            Arn::region_of(arn, "cloudwatch").map(Into::into)
        })
        .ok_or_else(|| refused("region is missing; expected the alarm's region".into()))?;
    let arn = payload.alarm_arn.clone().or_else(|| {
        let account = payload.account_id.as_deref()?;
        Some(alarm_arn("aws", &region, account, &data.alarm_name))
    });
    let key = arn.as_deref().unwrap_or(&data.alarm_name);
    Ok(AlarmNotification {
        via: Via::AlarmAction,
        message_id: state_change_key(key, published),
        published,
        alarm_arn: arn.clone(),
        region,
        state,
        reason: data.state.map(|s| s.reason).unwrap_or_default(),
        comparison: None,
        alarm_name: data.alarm_name,
    })
}

#[cfg(test)]
mod tests {
    use super::super::AlarmState;
    use super::*;
    use serde_json::json;

    /// A metric-math alarm invoking the function as its action.
    fn payload() -> Value {
        json!({
            "source": "aws.cloudwatch",
            "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-cpu-low",
            "accountId": "123456789012",
            "time": "2024-05-01T12:07:41.012+0000",
            "region": "us-east-1",
            "alarmData": {
                "alarmName": "web-cpu-low",
                "state": {
                    "value": "ALARM",
                    "reason": "Threshold Crossed: 5 out of the last 5 datapoints were less than the threshold (20.0).",
                    "reasonData": "{\"version\":\"1.0\",\"queryDate\":\"2024-05-01T12:07:41.008+0000\",\"period\":60,\"recentDatapoints\":[11.2,9.8,12.5,10.1,8.7],\"threshold\":20.0}",
                    "timestamp": "2024-05-01T12:07:41.012+0000"
                },
                "previousState": {
                    "value": "OK",
                    "reason": "Threshold Crossed: 1 out of the last 5 datapoints was not less than the threshold (20.0).",
                    "timestamp": "2024-05-01T11:58:02.931+0000"
                },
                "configuration": {
                    "description": "web pods' CPU below 20%",
                    "metrics": [
                        {"id": "cpu", "metricStat": {"metric": {"namespace": "ContainerInsights", "name": "pod_cpu_utilization", "dimensions": {"ClusterName": "demo", "Namespace": "web", "PodName": "web"}}, "period": 60, "stat": "Average"}, "returnData": false},
                        {"id": "e1", "expression": "FILL(cpu, 0)", "label": "cpu_filled", "returnData": true}
                    ]
                }
            }
        })
    }

    #[test]
    fn an_alarm_action_is_keyed_by_its_alarm_and_state_time() {
        let n = decode(payload()).unwrap();
        assert_eq!(n.via, Via::AlarmAction);
        assert_eq!(n.alarm_name, "web-cpu-low");
        assert_eq!(n.state, AlarmState::Alarm);
        assert_eq!(n.region, "us-east-1");
        assert_eq!(
            n.message_id,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-cpu-low@2024-05-01T12:07:41.012Z"
        );
        assert_eq!(n.published.to_string(), "2024-05-01T12:07:41.012Z");
    }

    #[test]
    fn a_broken_payload_is_refused_naming_the_field() {
        let with = |pointer: &str, value: Value| {
            let mut e = payload();
            *e.pointer_mut(pointer).unwrap() = value;
            e
        };
        let cases: Vec<(Value, &str)> = vec![
            (
                with("/source", json!("aws.events")),
                "not a CloudWatch alarm action payload: source is Some(\"aws.events\"); expected \"aws.cloudwatch\"",
            ),
            (
                with(
                    "/alarmData/state",
                    json!({"reason": "x", "timestamp": "2024-05-01T12:00:00Z"}),
                ),
                "alarmData.state.value is missing",
            ),
            (
                with("/alarmData/state/value", json!("PENDING")),
                "alarmData.state.value: unknown variant `PENDING`",
            ),
            (with("/time", json!(5)), "time: invalid type: integer `5`"),
            (
                with("/alarmData/state/timestamp", json!("noon")),
                "alarmData.state.timestamp: ",
            ),
            (
                with("/alarmData/alarmName", json!(null)),
                "alarmData.alarmName: invalid type: null",
            ),
            (
                {
                    let mut e = with("/region", json!(""));
                    e.as_object_mut().unwrap().remove("alarmArn");
                    e
                },
                "region is missing",
            ),
        ];
        let wrong = lambda_support::testing::misjudged(cases, |v| decode(v).map(|_| ()));
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_region_comes_from_the_arn_when_the_payload_has_none() {
        let mut e = payload();
        e.as_object_mut().unwrap().remove("region");
        e["alarmArn"] = json!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web:cpu+low");
        let n = decode(e).unwrap();
        assert_eq!(n.region, "eu-west-1");
        assert!(
            n.message_id
                .starts_with("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web:cpu+low@")
        );
    }
}
