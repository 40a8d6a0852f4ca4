//! aws-sdk-cloudwatch (Smithy RPC v2 CBOR) against moto through the gateway, which re-sends
//! each call to moto as CloudWatch's JSON protocol and converts the answer back.

use std::time::SystemTime;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit,
    StateValue, Statistic, Tag,
};
use testbed::harness::Moto;

async fn client(moto: &Moto) -> Client {
    Client::new(&moto.sdk_config().await)
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

fn recent(t: Option<&DateTime>) -> bool {
    let Some(t) = t else { return false };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    (now - t.as_secs_f64()).abs() < 300.0
}

#[tokio::test]
async fn alarms_round_trip_through_cbor() {
    let moto = Moto::start().unwrap();
    let cw = client(&moto).await;

    cw.put_metric_alarm()
        .alarm_name("cpu-high")
        .alarm_description("step up")
        .namespace("ContainerInsights")
        .metric_name("pod_cpu_utilization")
        .dimensions(dimension("ClusterName", "demo"))
        .dimensions(dimension("Namespace", "default"))
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(3)
        .datapoints_to_alarm(2)
        .threshold(75.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("notBreaching")
        .alarm_actions("arn:aws:sns:us-east-1:123456789012:scale")
        .tags(tag("k8s-metric-alarm", "default/cpu-high"))
        .tags(tag("owner", "alarm-sync"))
        .send()
        .await
        .expect("PutMetricAlarm (single metric)");

    let queue_depth = |id: &str, name: &str| {
        MetricDataQuery::builder()
            .id(id)
            .return_data(false)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/SQS")
                            .metric_name(name)
                            .dimensions(dimension("QueueName", "jobs"))
                            .build(),
                    )
                    .period(60)
                    .stat("Sum")
                    .build(),
            )
            .build()
    };
    cw.put_metric_alarm()
        .alarm_name("backlog")
        .metrics(queue_depth("visible", "ApproximateNumberOfMessagesVisible"))
        .metrics(queue_depth(
            "inflight",
            "ApproximateNumberOfMessagesNotVisible",
        ))
        .metrics(
            MetricDataQuery::builder()
                .id("total")
                .expression("visible + inflight")
                .label("backlog")
                .return_data(true)
                .build(),
        )
        .evaluation_periods(1)
        .threshold(10.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .tags(tag("owner", "queue-scaler"))
        .send()
        .await
        .expect("PutMetricAlarm (metric math)");

    let alarms = cw.describe_alarms().send().await.expect("DescribeAlarms");
    let mut names: Vec<_> = alarms
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name())
        .collect();
    names.sort();
    assert_eq!(names, ["backlog", "cpu-high"]);

    let cpu = cw
        .describe_alarms()
        .alarm_names("cpu-high")
        .send()
        .await
        .unwrap()
        .metric_alarms()[0]
        .clone();
    assert_eq!(cpu.alarm_description(), Some("step up"));
    assert_eq!(cpu.threshold(), Some(75.0));
    assert_eq!(cpu.period(), Some(60));
    assert_eq!(cpu.evaluation_periods(), Some(3));
    assert_eq!(cpu.datapoints_to_alarm(), Some(2));
    assert_eq!(cpu.statistic(), Some(&Statistic::Average));
    assert_eq!(
        cpu.comparison_operator(),
        Some(&ComparisonOperator::GreaterThanOrEqualToThreshold)
    );
    assert_eq!(cpu.treat_missing_data(), Some("notBreaching"));
    assert_eq!(cpu.dimensions().len(), 2);
    assert_eq!(
        cpu.alarm_actions(),
        ["arn:aws:sns:us-east-1:123456789012:scale"]
    );
    assert_eq!(cpu.state_value(), Some(&StateValue::Ok));
    assert!(recent(cpu.state_updated_timestamp()), "{cpu:?}");
    assert!(
        recent(cpu.alarm_configuration_updated_timestamp()),
        "{cpu:?}"
    );
    let cpu_arn = cpu.alarm_arn().expect("AlarmArn").to_owned();

    let backlog = cw
        .describe_alarms()
        .alarm_names("backlog")
        .send()
        .await
        .unwrap()
        .metric_alarms()[0]
        .clone();
    assert_eq!(backlog.metrics().len(), 3, "{backlog:?}");
    let total = &backlog.metrics()[2];
    assert_eq!(total.expression(), Some("visible + inflight"));
    assert_eq!(total.return_data(), Some(true));
    let visible = backlog.metrics()[0].metric_stat().expect("MetricStat");
    assert_eq!(visible.stat(), Some("Sum"));
    assert_eq!(
        visible.metric().and_then(|m| m.metric_name()),
        Some("ApproximateNumberOfMessagesVisible")
    );

    cw.set_alarm_state()
        .alarm_name("cpu-high")
        .state_value(StateValue::Alarm)
        .state_reason("test breach")
        .send()
        .await
        .expect("SetAlarmState");
    let cpu = cw
        .describe_alarms()
        .alarm_names("cpu-high")
        .state_value(StateValue::Alarm)
        .send()
        .await
        .unwrap();
    assert_eq!(cpu.metric_alarms().len(), 1);
    assert_eq!(cpu.metric_alarms()[0].state_reason(), Some("test breach"));

    let tags = cw
        .list_tags_for_resource()
        .resource_arn(&cpu_arn)
        .send()
        .await
        .expect("ListTagsForResource");
    let mut tags: Vec<_> = tags
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            ("k8s-metric-alarm", "default/cpu-high"),
            ("owner", "alarm-sync")
        ]
    );

    cw.delete_alarms()
        .alarm_names("cpu-high")
        .alarm_names("backlog")
        .send()
        .await
        .expect("DeleteAlarms");
    let left = cw.describe_alarms().send().await.unwrap();
    assert!(left.metric_alarms().is_empty(), "{left:?}");
}

#[tokio::test]
async fn modelled_errors_keep_code_and_message() {
    let moto = Moto::start().unwrap();
    let cw = client(&moto).await;
    let err = cw
        .set_alarm_state()
        .alarm_name("no-such-alarm")
        .state_value(StateValue::Alarm)
        .state_reason("x")
        .send()
        .await
        .expect_err("SetAlarmState on a missing alarm");
    let err = err.into_service_error();
    assert!(err.is_resource_not_found(), "{err:?}");
    assert!(aws_sdk_cloudwatch::error::ProvideErrorMetadata::message(&err).is_some());

    let err = cw
        .put_metric_data()
        .namespace("ns")
        .metric_data(
            MetricDatum::builder()
                .metric_name("m")
                .value(1.0)
                .values(2.0)
                .build(),
        )
        .send()
        .await
        .expect_err("Value and Values together");
    let err = err.into_service_error();
    assert!(err.is_invalid_parameter_value_exception(), "{err:?}");
    let message = aws_sdk_cloudwatch::error::ProvideErrorMetadata::message(&err).unwrap_or("");
    assert!(message.contains("mutually exclusive"), "{err:?}");
}

#[tokio::test]
async fn metric_data_round_trips_with_timestamps() {
    let moto = Moto::start().unwrap();
    let cw = client(&moto).await;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let minute = now - now % 60 - 120;
    // 400 datums: a body above the SDK's 10 KiB threshold, so it arrives gzip-compressed.
    let mut put = cw.put_metric_data().namespace("Test/Harness");
    for i in 0..400u64 {
        put = put.metric_data(
            MetricDatum::builder()
                .metric_name("depth")
                .dimensions(dimension("QueueName", "jobs"))
                .timestamp(DateTime::from_secs((minute + i % 60) as i64))
                .value(1.5)
                .unit(StandardUnit::Count)
                .build(),
        );
    }
    put.send().await.expect("PutMetricData");

    let got = cw
        .get_metric_data()
        .metric_data_queries(
            MetricDataQuery::builder()
                .id("depth")
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace("Test/Harness")
                                .metric_name("depth")
                                .dimensions(dimension("QueueName", "jobs"))
                                .build(),
                        )
                        .period(60)
                        .stat("Sum")
                        .build(),
                )
                .build(),
        )
        .start_time(DateTime::from_secs((minute - 600) as i64))
        .end_time(DateTime::from_secs((now + 600) as i64))
        .send()
        .await
        .expect("GetMetricData");
    let result = &got.metric_data_results()[0];
    assert_eq!(result.id(), Some("depth"));
    assert_eq!(result.values(), [600.0], "{result:?}");
    assert_eq!(result.timestamps().len(), 1);
    let at = result.timestamps()[0].secs() as u64;
    assert!(
        at.abs_diff(minute) < 60,
        "timestamp {at} vs minute {minute}"
    );
}
