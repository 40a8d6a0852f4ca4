//! What alarm-sync writes into a K8sMetricAlarm's status after acting, pure: the `Synced`
//! condition (True, or False with the config problem or CloudWatch's message), the alarm
//! ARNs and observedGeneration. `None` when that is already what the status says, so a
//! resource in sync costs no write.
use k8s_ops::conditions;
use k8s_ops::crd::metric_alarm::{Direction, K8sMetricAlarm};
use serde_json::{Value, json};

use crate::decide::ResourcePlan;

pub const SYNCED: &str = "Synced";

/// How one alarm's writes went.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmResult {
    pub direction: Direction,
    pub name: String,
    /// Known when the alarm exists (observed, or read back after creating it).
    pub arn: Option<String>,
    /// CloudWatch's error, if a write failed.
    pub error: Option<String>,
}

/// The merge patch for the resource's status, if anything changes.
pub fn patch(
    resource: &K8sMetricAlarm,
    plan: &ResourcePlan,
    results: &[AlarmResult],
    now: jiff::Timestamp,
) -> Option<Value> {
    let generation = resource.metadata.generation;
    let current = resource.status.clone().unwrap_or_default();
    let mut conditions = current.conditions.clone();
    let errors: Vec<String> = results
        .iter()
        .filter_map(|r| r.error.as_ref().map(|e| format!("alarm {}: {e}", r.name)))
        .collect();
    let (ok, reason, message) = if !plan.problems.is_empty() {
        (false, "InvalidConfig", plan.problems.join("; "))
    } else if !errors.is_empty() {
        (false, "CloudWatchError", errors.join("; "))
    } else if results.is_empty() {
        (true, "NoAlarms", "no alarm is configured".to_string())
    } else {
        let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
        (
            true,
            "AlarmsSynced",
            format!("in CloudWatch as configured: {}", names.join(", ")),
        )
    };
    let changed = conditions::set(
        &mut conditions,
        SYNCED,
        ok,
        reason,
        &message,
        generation,
        now,
    );
    let arn = |d: Direction| {
        results
            .iter()
            .find(|r| r.direction == d)
            .and_then(|r| r.arn.clone())
    };
    let (up, down) = (arn(Direction::Up), arn(Direction::Down));
    let same = !changed
        && current.observed_generation == generation
        && current.scale_up_alarm_arn == up
        && current.scale_down_alarm_arn == down;
    (!same).then(|| {
        json!({
            "conditions": conditions,
            "observedGeneration": generation,
            "scaleUpAlarmArn": up,
            "scaleDownAlarmArn": down,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_ops::crd::metric_alarm::{K8sMetricAlarmSpec, K8sMetricAlarmStatus};

    fn t(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn resource(status: Option<K8sMetricAlarmStatus>) -> K8sMetricAlarm {
        let mut r = K8sMetricAlarm::new(
            "rate",
            K8sMetricAlarmSpec {
                deployment: Some("web".into()),
                min_replicas: 1,
                max_replicas: 3,
                scale_up_behavior: None,
                scale_down_behavior: None,
                scale_up_alarm_config: None,
                scale_down_alarm_config: None,
                ..Default::default()
            },
        );
        r.metadata.generation = Some(2);
        r.status = status;
        r
    }

    fn plan(problems: &[&str]) -> ResourcePlan {
        ResourcePlan {
            namespace: "web".into(),
            name: "rate".into(),
            alarms: vec![],
            problems: problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn up(error: Option<&str>) -> AlarmResult {
        AlarmResult {
            direction: Direction::Up,
            name: "high".into(),
            arn: Some("arn:aws:cloudwatch:us-east-1:1:alarm:high".into()),
            error: error.map(Into::into),
        }
    }

    fn applied(r: &K8sMetricAlarm, patch: Value) -> K8sMetricAlarm {
        let mut r = r.clone();
        r.status = Some(serde_json::from_value(patch).unwrap());
        r
    }

    #[test]
    fn synced_once_then_no_write_until_something_changes() {
        let r = resource(None);
        let p = patch(&r, &plan(&[]), &[up(None)], t(0)).expect("first write");
        assert_eq!(p["observedGeneration"], 2);
        assert_eq!(
            p["scaleUpAlarmArn"],
            "arn:aws:cloudwatch:us-east-1:1:alarm:high"
        );
        assert_eq!(p["scaleDownAlarmArn"], Value::Null);
        assert_eq!(p["conditions"][0]["status"], "True");
        assert_eq!(p["conditions"][0]["reason"], "AlarmsSynced");
        let r = applied(&r, p);
        assert_eq!(patch(&r, &plan(&[]), &[up(None)], t(60)), None);

        let failed = patch(
            &r,
            &plan(&[]),
            &[up(Some("LimitExceeded: too many alarms"))],
            t(120),
        )
        .expect("a failure is written");
        assert_eq!(failed["conditions"][0]["status"], "False");
        assert_eq!(failed["conditions"][0]["reason"], "CloudWatchError");
        assert_eq!(
            failed["conditions"][0]["message"],
            "alarm high: LimitExceeded: too many alarms"
        );
    }

    #[test]
    fn config_problems_win_over_cloudwatch_errors() {
        let p = patch(
            &resource(None),
            &plan(&["scaleDownAlarmConfig: unknown field `Threshhold`"]),
            &[up(Some("boom"))],
            t(0),
        )
        .unwrap();
        assert_eq!(p["conditions"][0]["reason"], "InvalidConfig");
        assert_eq!(
            p["conditions"][0]["message"],
            "scaleDownAlarmConfig: unknown field `Threshhold`"
        );
        assert_eq!(p["conditions"][0]["observedGeneration"], 2);
    }
}
