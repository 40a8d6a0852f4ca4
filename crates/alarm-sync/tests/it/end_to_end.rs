//! alarm-sync end to end: the real binary under the Lambda emulator, moto for CloudWatch
//! (through the gateway) and the tagging API, the testbed API server authorizing the
//! function's EKS token with `infra/k8s/rbac/alarm-sync.yaml` only.
use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
use k8s_ops::crd::metric_alarm::K8sMetricAlarm;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use testbed::world::cloudwatch::TOPIC;
use testbed::world::{World, sample};

use crate::support::{self, FUNCTION, Resources};

fn names(v: &Value) -> Vec<&str> {
    let mut n: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    n.sort();
    n
}

async fn patch_spec(w: &World, ns: &str, name: &str, spec: Value) {
    Api::<K8sMetricAlarm>::namespaced(w.admin.clone(), ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await
        .expect("patch spec");
}

fn synced(status: &k8s_ops::crd::metric_alarm::K8sMetricAlarmStatus) -> (String, String, String) {
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Synced")
        .expect("a Synced condition");
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciles_creates_tags_corrects_drift_reports_and_collects_garbage() {
    let w = support::world().await;
    let scheduled = sample("events/alarm-sync/scheduled.json");
    // The samples' namespaces exist (their Deployments need not).
    w.namespace("web");
    w.namespace("orders");
    w.apply("infra/k8s/samples/k8smetricalarm-web.yaml");
    w.apply("infra/k8s/samples/k8smetricalarm-original-style.yaml");
    // An alarm of another cluster's alarm-sync and one nobody manages: never touched.
    for (name, tags) in [
        (
            "other-cluster",
            vec![
                ("k8s-lambda-autoscalers:cluster", "prod"),
                ("k8s-lambda-autoscalers:k8smetricalarm", "web/gone"),
            ],
        ),
        ("hand-made", vec![("owner", "ops")]),
    ] {
        let mut put = w
            .cloudwatch()
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("App")
            .metric_name("m")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold);
        for (k, v) in tags {
            put = put.tags(
                aws_sdk_cloudwatch::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build(),
            );
        }
        put.send().await.expect("foreign alarm");
    }

    // DRY_RUN: decides, logs, writes nothing.
    {
        let mut dry = w.spawn(FUNCTION, &[("DRY_RUN", "true")]);
        let summary = w.invoke(FUNCTION, &scheduled).expect("dry run");
        assert_eq!(
            (summary["dryRun"].as_bool(), summary["resources"].as_u64()),
            (Some(true), Some(2)),
            "{summary}"
        );
        let line = dry
            .wait_for_json(Duration::from_secs(10), |v| {
                v["fields"]["decision"] == "create_alarm"
            })
            .expect("the decision line");
        assert_eq!(line["fields"]["dry_run"], true, "{line}");
        dry.kill();
    }
    assert_eq!(w.alarm_names().await, ["hand-made", "other-cluster"]);
    assert_eq!(w.status("web", "web-http-rate").await, Default::default());

    let _function = w.spawn(FUNCTION, &[]);
    let summary = w.invoke(FUNCTION, &scheduled).expect("run 1");
    assert_eq!(
        names(&summary["created"]),
        [
            "Orders-Backlog-High-Alarm",
            "web-cpu-low",
            "web-http-rate-high"
        ],
        "{summary}"
    );
    assert_eq!(
        (
            summary["statusWrites"].as_u64(),
            summary["errors"].as_array().map(Vec::len)
        ),
        (Some(2), Some(0)),
        "{summary}"
    );

    // Every field of the single-metric down alarm, as the sample says.
    let down = w.alarm("web-cpu-low").await.unwrap();
    assert_eq!(
        down.alarm_description(),
        Some("Pods mostly idle: remove one")
    );
    assert_eq!(
        (down.namespace(), down.metric_name()),
        (Some("ContainerInsights"), Some("pod_cpu_utilization"))
    );
    assert_eq!(down.statistic(), Some(&Statistic::Average));
    assert_eq!(
        (
            down.period(),
            down.evaluation_periods(),
            down.datapoints_to_alarm()
        ),
        (Some(60), Some(10), Some(8))
    );
    assert_eq!(
        (down.threshold(), down.comparison_operator()),
        (Some(20.0), Some(&ComparisonOperator::LessThanThreshold))
    );
    assert_eq!(down.treat_missing_data(), Some("missing"));
    assert_eq!(down.dimensions().len(), 3);
    assert_eq!(down.unit().map(|u| u.as_str()), Some("Percent"));
    assert_eq!(
        down.alarm_actions(),
        [TOPIC],
        "defaults to the suite's topic"
    );
    let down_arn = down.alarm_arn().unwrap().to_owned();
    assert_eq!(
        w.tags(&down_arn).await,
        [
            (
                "k8s-lambda-autoscalers:cluster".to_string(),
                "demo".to_string()
            ),
            (
                "k8s-lambda-autoscalers:k8smetricalarm".into(),
                "web/web-http-rate".into()
            ),
            ("team".into(), "web".into()),
        ]
    );
    // The original's shape: its own topic honoured, its tags kept.
    let orders = w.alarm("Orders-Backlog-High-Alarm").await.unwrap();
    assert_eq!(
        orders.alarm_actions(),
        ["arn:aws:sns:us-east-1:123456789012:orders-scaling"]
    );
    assert_eq!(
        orders.metrics()[0].metric_stat().and_then(|s| s.stat()),
        Some("Maximum")
    );
    let orders_tags = w.tags(orders.alarm_arn().unwrap()).await;
    assert!(
        orders_tags.contains(&("kubernetes-name".into(), "orders-backlog".into())),
        "{orders_tags:?}"
    );

    let status = w.status("web", "web-http-rate").await;
    assert_eq!(
        status.scale_down_alarm_arn.as_deref(),
        Some(down_arn.as_str())
    );
    assert_eq!(status.observed_generation, Some(1));
    let (ok, reason, _) = synced(&status);
    assert_eq!((ok.as_str(), reason.as_str()), ("True", "AlarmsSynced"));
    let orders_status = w.status("orders", "orders-backlog").await;
    assert!(
        orders_status.scale_up_alarm_arn.is_some() && orders_status.scale_down_alarm_arn.is_none()
    );

    // Nothing changed: nothing written.
    let summary = w.invoke(FUNCTION, &scheduled).expect("run 2");
    assert_eq!(
        (
            summary["created"].as_array().map(Vec::len),
            summary["updated"].as_array().map(Vec::len),
            summary["statusWrites"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{summary}"
    );

    // Drift in CloudWatch is put back; an edited threshold is applied.
    w.cloudwatch()
        .put_metric_alarm()
        .alarm_name("web-cpu-low")
        .namespace("ContainerInsights")
        .metric_name("pod_cpu_utilization")
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(10)
        .threshold(99.0)
        .comparison_operator(ComparisonOperator::LessThanThreshold)
        .send()
        .await
        .unwrap();
    let mut resource = w.resource("orders", "orders-backlog").await;
    let edited = resource
        .spec
        .scale_up_alarm_config
        .take()
        .unwrap()
        .replace("\"Threshold\": 100", "\"Threshold\": 250");
    patch_spec(
        &w,
        "orders",
        "orders-backlog",
        json!({"scaleUpAlarmConfig": edited}),
    )
    .await;
    let summary = w.invoke(FUNCTION, &scheduled).expect("run 3");
    assert_eq!(
        names(&summary["updated"]),
        ["Orders-Backlog-High-Alarm", "web-cpu-low"],
        "{summary}"
    );
    assert_eq!(
        w.alarm("web-cpu-low").await.unwrap().threshold(),
        Some(20.0)
    );
    assert_eq!(
        w.alarm("web-cpu-low").await.unwrap().datapoints_to_alarm(),
        Some(8)
    );
    assert_eq!(
        w.alarm("Orders-Backlog-High-Alarm")
            .await
            .unwrap()
            .threshold(),
        Some(250.0)
    );
    assert_eq!(
        w.status("orders", "orders-backlog")
            .await
            .observed_generation,
        Some(2)
    );

    // An invalid config: Synced=False naming the field; the alarm is kept, others go on.
    patch_spec(
        &w,
        "orders",
        "orders-backlog",
        json!({"scaleUpAlarmConfig": edited.replace("\"Threshold\"", "\"Threshhold\"")}),
    )
    .await;
    patch_spec(&w, "web", "web-http-rate", json!({"minReplicas": 3})).await;
    let summary = w.invoke(FUNCTION, &scheduled).expect("run 4");
    let (ok, reason, message) = synced(&w.status("orders", "orders-backlog").await);
    assert_eq!((ok.as_str(), reason.as_str()), ("False", "InvalidConfig"));
    assert_eq!(message, "scaleUpAlarmConfig: unknown field `Threshhold`");
    assert!(
        w.alarm("Orders-Backlog-High-Alarm").await.is_some(),
        "kept while its config is unreadable"
    );
    assert_eq!(
        w.status("web", "web-http-rate").await.observed_generation,
        Some(2),
        "{summary}"
    );

    // Renaming an alarm and deleting a resource: the alarms they leave behind go.
    let web = w.resource("web", "web-http-rate").await;
    let renamed = web
        .spec
        .scale_down_alarm_config
        .unwrap()
        .replace("web-cpu-low", "web-cpu-idle");
    patch_spec(
        &w,
        "web",
        "web-http-rate",
        json!({"scaleDownAlarmConfig": renamed}),
    )
    .await;
    Api::<K8sMetricAlarm>::namespaced(w.admin.clone(), "orders")
        .delete("orders-backlog", &DeleteParams::default())
        .await
        .unwrap();
    let summary = w.invoke(FUNCTION, &scheduled).expect("run 5");
    assert_eq!(names(&summary["created"]), ["web-cpu-idle"], "{summary}");
    assert_eq!(
        names(&summary["deleted"]),
        ["Orders-Backlog-High-Alarm", "web-cpu-low"],
        "{summary}"
    );
    assert_eq!(
        w.alarm_names().await,
        [
            "hand-made",
            "other-cluster",
            "web-cpu-idle",
            "web-http-rate-high"
        ]
    );
    let status = w.status("web", "web-http-rate").await;
    assert_eq!(
        status.scale_down_alarm_arn.as_deref(),
        w.alarm("web-cpu-idle").await.unwrap().alarm_arn()
    );

    // The sample event, as `cargo lambda invoke --data-file` sends it: all in sync now.
    let summary = w
        .invoke_file(FUNCTION, "events/alarm-sync/scheduled.json")
        .expect("sample event");
    assert_eq!(summary["statusWrites"], 0, "{summary}");
    // Not the schedule's event: an error.
    let err = w.invoke(FUNCTION, &json!({"Records": []})).unwrap_err();
    assert!(err.contains("not an EventBridge event"), "{err}");
    assert!(err.contains("EventRejected"), "{err}");
}

/// Each rule of infra/k8s/rbac/alarm-sync.yaml is needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rbac_rule_is_needed() {
    let w = support::world().await;
    let scheduled = sample("events/alarm-sync/scheduled.json");
    w.namespace("web");
    w.apply("infra/k8s/samples/k8smetricalarm-web.yaml");
    let _function = w.spawn(FUNCTION, &[]);
    let full = World::rules_of(FUNCTION);
    assert_eq!(full.len(), 2);

    // Without list: the run fails before touching CloudWatch.
    w.set_rules(FUNCTION, json!([full[1]])).await;
    let err = w.invoke(FUNCTION, &scheduled).unwrap_err();
    assert!(err.contains("forbidden"), "{err}");
    assert!(err.contains("KubernetesFailed"), "{err}");
    assert!(w.alarm_names().await.is_empty());

    // Without status patch: alarms are made, the status write is refused and reported.
    w.set_rules(FUNCTION, json!([full[0]])).await;
    let summary = w.invoke(FUNCTION, &scheduled).expect("run");
    assert_eq!(summary["statusWrites"], 0, "{summary}");
    assert!(
        summary["errors"][0].as_str().unwrap().contains("forbidden"),
        "{summary}"
    );
    assert_eq!(w.status("web", "web-http-rate").await, Default::default());

    w.set_rules(FUNCTION, Value::Array(full)).await;
    let summary = w.invoke(FUNCTION, &scheduled).expect("run");
    assert_eq!(summary["statusWrites"], 1, "{summary}");
    assert_eq!(synced(&w.status("web", "web-http-rate").await).0, "True");
}
