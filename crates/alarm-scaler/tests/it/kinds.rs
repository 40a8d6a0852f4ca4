//! The four kinds of event a state change reaches alarm-scaler by, made from the sample files
//! (`events/alarm-scaler/`) for an alarm the test put in moto, at a time of its choosing; and
//! the alarms themselves (metric math, tags, any region).
use aws_config::Region;
use aws_sdk_cloudwatch::types::{Metric, MetricDataQuery, MetricStat, StateValue, Tag};
use jiff::Timestamp;
use serde_json::{Value, json};
use testbed::world::{World, sample};

/// An alarm as the events name it.
#[derive(Clone, Debug)]
pub struct Alarm {
    pub name: String,
    pub arn: String,
    pub region: String,
    pub comparison: String,
}

/// CloudWatch in `region`, as the test's administrator.
pub fn cloudwatch_in(w: &World, region: &str) -> aws_sdk_cloudwatch::Client {
    let config = aws_sdk_cloudwatch::config::Builder::from(&w.aws)
        .region(Region::new(region.to_owned()))
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
}

/// Puts a metric-math alarm `name` in `region` comparing with `comparison`, tagged with
/// `tags`, in ALARM (as it is when it notifies).
pub async fn put_alarm(
    w: &World,
    region: &str,
    name: &str,
    comparison: &str,
    tags: &[(&str, &str)],
) -> Alarm {
    let cw = cloudwatch_in(w, region);
    let visible = MetricStat::builder()
        .metric(
            Metric::builder()
                .namespace("AWS/SQS")
                .metric_name("ApproximateNumberOfMessagesVisible")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("QueueName")
                        .value("orders")
                        .build(),
                )
                .build(),
        )
        .period(60)
        .stat("Maximum")
        .build();
    let mut put = cw
        .put_metric_alarm()
        .alarm_name(name)
        .comparison_operator(comparison.into())
        .threshold(100.0)
        .evaluation_periods(1)
        .metrics(
            MetricDataQuery::builder()
                .id("visible")
                .metric_stat(visible)
                .return_data(false)
                .build(),
        )
        .metrics(
            MetricDataQuery::builder()
                .id("e1")
                .expression("visible * 1")
                .label("backlog")
                .return_data(true)
                .build(),
        );
    for (key, value) in tags {
        put = put.tags(Tag::builder().key(*key).value(*value).build());
    }
    put.send()
        .await
        .unwrap_or_else(|e| panic!("PutMetricAlarm {name}: {e:?}"));
    breach_in(w, region, name).await;
    let described = cw
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .expect("DescribeAlarms");
    let arn = described.metric_alarms()[0]
        .alarm_arn()
        .expect("an ARN")
        .to_owned();
    Alarm {
        name: name.into(),
        arn,
        region: region.into(),
        comparison: comparison.into(),
    }
}

/// Puts the alarm in ALARM again, as CloudWatch does before it notifies.
pub async fn breach_in(w: &World, region: &str, name: &str) {
    cloudwatch_in(w, region)
        .set_alarm_state()
        .alarm_name(name)
        .state_value(StateValue::Alarm)
        .state_reason("Threshold Crossed (test)")
        .send()
        .await
        .expect("SetAlarmState ALARM");
}

/// The alarm's state in its region.
pub async fn state_of(w: &World, alarm: &Alarm) -> Option<StateValue> {
    cloudwatch_in(w, &alarm.region)
        .describe_alarms()
        .alarm_names(&alarm.name)
        .send()
        .await
        .expect("DescribeAlarms")
        .metric_alarms()
        .first()
        .and_then(|a| a.state_value().cloned())
}

/// Now, to the millisecond (what CloudWatch writes): when a test's state change happens.
pub fn now() -> Timestamp {
    Timestamp::from_millisecond(Timestamp::now().as_millisecond()).expect("now is in range")
}

/// A time as CloudWatch writes it in alarm messages and state changes.
fn cloudwatch_time(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

fn other_state(state: &str) -> &'static str {
    if state == "ALARM" { "OK" } else { "ALARM" }
}

/// The alarm message alone (`alarm-message.json`), for `alarm` entering `state` at `at`.
pub fn alarm_message(alarm: &Alarm, state: &str, at: Timestamp) -> Value {
    let mut m = sample("events/alarm-scaler/alarm-message.json");
    m["AlarmName"] = json!(alarm.name);
    m["AlarmArn"] = json!(alarm.arn);
    m["NewStateValue"] = json!(state);
    m["OldStateValue"] = json!(other_state(state));
    m["StateChangeTime"] = json!(cloudwatch_time(at));
    m["Trigger"]["ComparisonOperator"] = json!(alarm.comparison);
    m
}

/// That message through SNS (`scale-up-alarm.json`'s envelope), as message `message_id`.
pub fn sns(alarm: &Alarm, state: &str, at: Timestamp, message_id: &str) -> Value {
    let mut e = sample("events/alarm-scaler/scale-up-alarm.json");
    let record = &mut e["Records"][0]["Sns"];
    record["Message"] = json!(alarm_message(alarm, state, at).to_string());
    record["MessageId"] = json!(message_id);
    record["Timestamp"] = json!(at.to_string());
    e
}

/// EventBridge's `CloudWatch Alarm State Change` (`state-change.json`).
pub fn state_change(alarm: &Alarm, state: &str, at: Timestamp) -> Value {
    let mut e = sample("events/alarm-scaler/state-change.json");
    e["id"] = json!(format!("evt-{}", at.as_millisecond()));
    e["time"] = json!(Timestamp::from_second(at.as_second()).unwrap().to_string());
    e["region"] = json!(alarm.region);
    e["resources"] = json!([alarm.arn]);
    let detail = &mut e["detail"];
    detail["alarmName"] = json!(alarm.name);
    detail["state"]["value"] = json!(state);
    detail["state"]["timestamp"] = json!(cloudwatch_time(at));
    detail["previousState"]["value"] = json!(other_state(state));
    e
}

/// The payload of CloudWatch invoking the function as the alarm's action (`alarm-action.json`).
pub fn alarm_action(alarm: &Alarm, state: &str, at: Timestamp) -> Value {
    let mut e = sample("events/alarm-scaler/alarm-action.json");
    e["alarmArn"] = json!(alarm.arn);
    e["region"] = json!(alarm.region);
    e["time"] = json!(cloudwatch_time(at));
    let data = &mut e["alarmData"];
    data["alarmName"] = json!(alarm.name);
    data["state"]["value"] = json!(state);
    data["state"]["timestamp"] = json!(cloudwatch_time(at));
    data["previousState"]["value"] = json!(other_state(state));
    e
}
