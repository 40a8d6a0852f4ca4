//! The whole chain, end to end, with the real binaries under the Lambda emulator: a sample
//! K8sMetricAlarm applied → alarm-sync creates both alarms in moto → CloudWatch-style SNS
//! notifications → alarm-scaler steps the Deployment through the testbed API server, as
//! the functions' own RBAC files allow and no more.
use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use serde_json::{Value, json};
use testbed::harness::rbac::{self, mentions};
use testbed::world::cloudwatch::{TOPIC, notification};
use testbed::world::{World, sample};

use crate::kinds::{now, sns};
use crate::support::{self, Objects};
const NS: &str = "web";

fn outcome(response: &Value) -> &Value {
    &response["outcomes"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_alarms_step_the_deployment_once_per_notification_within_cooldowns() {
    let w = support::world().await;
    let scheduled = sample("events/alarm-sync/scheduled.json");
    w.create_deployment(NS, "web", 4).await;
    w.apply("infra/k8s/samples/k8smetricalarm-web.yaml");
    // Its Deployment, orders/orders-worker, does not exist (its namespace does).
    w.namespace("orders");
    w.apply("infra/k8s/samples/k8smetricalarm-original-style.yaml");

    // alarm-sync creates the alarms as the samples describe them.
    let _sync = w.spawn("alarm-sync", &[]);
    let summary = w.invoke("alarm-sync", &scheduled).expect("alarm-sync");
    let mut created: Vec<&str> = summary["created"]
        .as_array()
        .expect("created")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    created.sort();
    assert_eq!(
        created,
        [
            "Orders-Backlog-High-Alarm",
            "web-cpu-low",
            "web-http-rate-high"
        ],
        "{summary}"
    );
    let up = w.alarm("web-http-rate-high").await.expect("up alarm");
    let down = w.alarm("web-cpu-low").await.expect("down alarm");
    assert_eq!(up.alarm_actions(), [TOPIC]);
    assert_eq!(
        (up.evaluation_periods(), up.datapoints_to_alarm()),
        (Some(5), Some(2))
    );
    assert_eq!(up.treat_missing_data(), Some("notBreaching"));
    assert_eq!(up.metrics().len(), 2);
    assert_eq!(down.metric_name(), Some("pod_cpu_utilization"));
    assert_eq!(down.threshold(), Some(20.0));
    let status = w.status(NS, "web-http-rate").await;
    assert_eq!(status.scale_up_alarm_arn.as_deref(), up.alarm_arn());
    assert_eq!(status.scale_down_alarm_arn.as_deref(), down.alarm_arn());
    assert_eq!(
        status.conditions[0].status, "True",
        "{:?}",
        status.conditions
    );

    // DRY_RUN decides and logs; nothing is written, the alarm stays in ALARM.
    w.breach("web-http-rate-high").await;
    let first = notification(&up, "msg-up-1", "ALARM");
    {
        let mut dry = w.spawn("alarm-scaler", &[("DRY_RUN", "true")]);
        let response = w.invoke("alarm-scaler", &first).expect("dry run");
        assert_eq!(outcome(&response)["decision"], "scale_up", "{response}");
        assert_eq!(
            (
                outcome(&response)["from"].as_i64(),
                outcome(&response)["to"].as_i64()
            ),
            (Some(4), Some(6))
        );
        let line = dry
            .wait_for_json(Duration::from_secs(10), |v| {
                v["fields"]["decision"] == "scale_up"
            })
            .expect("the decision line");
        assert_eq!(line["fields"]["dry_run"], true, "{line}");
        assert!(line["span"]["requestId"].is_string(), "{line}");
        dry.kill();
    }
    assert_eq!(w.replicas(NS, "web").await, 4);
    assert!(w.events(NS, "web").await.is_empty());
    assert_eq!(w.status(NS, "web-http-rate").await.last_scale_up, None);
    assert_eq!(
        w.alarm("web-http-rate-high").await.unwrap().state_value(),
        Some(&StateValue::Alarm)
    );

    let _scaler = w.spawn("alarm-scaler", &[]);

    // The up alarm: 4 → 6 (the larger of 2 pods and 50%), an Event, the alarm re-armed.
    let response = w.invoke("alarm-scaler", &first).expect("step up");
    assert_eq!(outcome(&response)["decision"], "scale_up", "{response}");
    assert_eq!(w.replicas(NS, "web").await, 6);
    let events = w.events(NS, "web").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].0.as_str(), events[0].1.as_str()),
        ("Normal", "SuccessfulRescale")
    );
    assert_eq!(
        events[0].2,
        "New size: 6; reason: alarm web-http-rate-high in ALARM \
         (scale-up alarm of k8smetricalarm web/web-http-rate), 4 → 6"
    );
    let rearmed = w.alarm("web-http-rate-high").await.unwrap();
    assert_eq!(rearmed.state_value(), Some(&StateValue::Ok));
    assert_eq!(
        rearmed.state_reason(),
        Some("alarm-scaler stepped web/web from 4 to 6")
    );
    let record = w
        .status(NS, "web-http-rate")
        .await
        .last_scale_up
        .expect("recorded");
    assert_eq!(
        (record.message_id.as_str(), record.from, record.to),
        ("msg-up-1", 4, 6)
    );

    // SNS delivers the same message again: nothing changes.
    let again = w.invoke("alarm-scaler", &first).expect("redelivery");
    assert_eq!(outcome(&again)["decision"], "duplicate", "{again}");
    assert_eq!(w.replicas(NS, "web").await, 6);
    assert_eq!(w.events(NS, "web").await.len(), 1);
    assert_eq!(
        w.status(NS, "web-http-rate").await.last_scale_up,
        Some(record)
    );

    // The down alarm: one pod. A second down notification is inside its 300 s cooldown.
    w.breach("web-cpu-low").await;
    let response = w
        .invoke("alarm-scaler", &notification(&down, "msg-down-1", "ALARM"))
        .expect("step down");
    assert_eq!(
        (
            outcome(&response)["decision"].as_str(),
            outcome(&response)["to"].as_i64()
        ),
        (Some("scale_down"), Some(5)),
        "{response}"
    );
    assert_eq!(w.replicas(NS, "web").await, 5);
    w.breach("web-cpu-low").await;
    let held = w
        .invoke("alarm-scaler", &notification(&down, "msg-down-2", "ALARM"))
        .expect("cooldown");
    assert_eq!(outcome(&held)["decision"], "cooldown", "{held}");
    assert_eq!(w.replicas(NS, "web").await, 5);
    assert_eq!(w.events(NS, "web").await.len(), 2);
    // Held, but re-armed: the alarm fires again after the cooldown if the breach lasts.
    assert_eq!(
        w.alarm("web-cpu-low").await.unwrap().state_value(),
        Some(&StateValue::Ok)
    );

    // Not ours: logged skips.
    let ok = w
        .invoke("alarm-scaler", &notification(&up, "msg-ok", "OK"))
        .unwrap();
    assert_eq!(outcome(&ok)["decision"], "ignored");
    let stranger = aws_sdk_cloudwatch::types::MetricAlarm::builder()
        .alarm_name("someone-elses-alarm")
        .alarm_arn("arn:aws:cloudwatch:us-east-1:123456789012:alarm:someone-elses-alarm")
        .build();
    let unknown = w
        .invoke("alarm-scaler", &notification(&stranger, "msg-x", "ALARM"))
        .unwrap();
    assert_eq!(outcome(&unknown)["decision"], "unknown_alarm", "{unknown}");
    assert_eq!(w.replicas(NS, "web").await, 5);
    // A resource whose Deployment is missing: a logged skip and a Warning Event on it.
    let orders = w.alarm("Orders-Backlog-High-Alarm").await.unwrap();
    let missing = w
        .invoke(
            "alarm-scaler",
            &notification(&orders, "msg-orders", "ALARM"),
        )
        .unwrap();
    assert_eq!(outcome(&missing)["decision"], "no_deployment", "{missing}");
    let warnings = w.events("orders", "orders-backlog").await;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        (warnings[0].0.as_str(), warnings[0].1.as_str()),
        ("Warning", "FailedGetScale")
    );
    assert_eq!(warnings[0].2, "deployment orders/orders-worker not found");
    // The sample events, as `cargo lambda invoke --data-file` sends them. Those naming the
    // sample's alarms changed state long ago: stale, or not ALARM; the eu-west-1 alarm is
    // known to no resource and to no CloudWatch here. Nothing moves.
    for (file, decision) in [
        ("events/alarm-scaler/scale-up-alarm.json", "stale"),
        ("events/alarm-scaler/scale-down-alarm.json", "stale"),
        ("events/alarm-scaler/back-to-ok.json", "ignored"),
        ("events/alarm-scaler/alarm-message.json", "stale"),
        ("events/alarm-scaler/alarm-action.json", "stale"),
        ("events/alarm-scaler/state-change.json", "unknown_alarm"),
        ("events/alarm-scaler/sns-eu-west-1.json", "unknown_alarm"),
    ] {
        let response = w.invoke_file("alarm-scaler", file).expect(file);
        assert_eq!(
            outcome(&response)["decision"],
            decision,
            "{file}: {response}"
        );
    }
    assert_eq!(w.replicas(NS, "web").await, 5);
    // Another EventBridge event: an error naming the field, for Lambda to retry and
    // dead-letter. Reported under its name (errorType), which operators alarm and search on.
    let err = w.invoke("alarm-scaler", &scheduled).unwrap_err();
    assert!(
        mentions(
            &err,
            "not a CloudWatch Alarm State Change event: field `detail-type`"
        ),
        "{err}"
    );
    assert!(err.contains("EventRejected"), "{err}");
}

/// Each grant of infra/k8s/rbac/alarm-scaler.yaml is needed: without it the step fails with
/// an error naming it, or (Events, annotations: best effort) goes unrecorded with a log line
/// saying so. Every run is the resource's first step (its records forgotten), so it reads the
/// Deployment's annotations too. (`statefulsets/scale`: a StatefulSet's step needs them,
/// `crate::scale_target`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grant_is_needed() {
    let (w, up) = support::web_world().await;
    without_cooldown(&w).await;
    let mut scaler = w.spawn("alarm-scaler", &[]);

    let grants = rbac::grants(&World::rules_of("alarm-scaler"));
    assert_eq!(grants.len(), 11, "{grants:?}");
    for (i, grant) in grants.iter().enumerate() {
        if grant.resource == "statefulsets/scale" {
            continue;
        }
        let what = grant.describe();
        w.forget_steps(NS, "web-http-rate").await;
        w.set_rules("alarm-scaler", rbac::all_but(&grants, i)).await;
        let replicas = w.replicas(NS, "web").await;
        let events = w.events(NS, "web").await.len();
        let annotations = w.annotations(NS, "web").await;
        let id = format!("msg-grant-{i}");
        let result = w.invoke("alarm-scaler", &sns(&up, "ALARM", now(), &id));
        let mut best_effort = |message: &str| {
            let line = scaler
                .wait_for_json(Duration::from_secs(10), |v| {
                    v["fields"]["message"] == message
                })
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let error = line["fields"]["error"].as_str().unwrap_or_default();
            assert!(grant.denied_in(error), "{what}: {line}");
        };
        if grant.is("create", "events") {
            assert!(result.is_ok(), "{what}: {result:?}");
            assert!(w.replicas(NS, "web").await > replicas, "{what}");
            assert_eq!(w.events(NS, "web").await.len(), events, "{what}");
            best_effort("event not recorded");
        } else if grant.is("patch", "deployments") {
            let r = result.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(outcome(&r)["annotated"], false, "{what}: {r}");
            assert!(w.replicas(NS, "web").await > replicas, "{what}");
            assert_eq!(w.annotations(NS, "web").await, annotations, "{what}");
            best_effort("annotations not written");
        } else {
            let err = result.expect_err(&what);
            let named = format!("needs `{}` on `{}`", grant.verb, grant.resource);
            assert!(
                grant.denied_in(&err) && mentions(&err, &named),
                "{what}: {err}"
            );
            assert_eq!(w.replicas(NS, "web").await, replicas, "{what}");
            // A failed step leaves no claim behind: its message id is not recorded.
            let status = w.status(NS, "web-http-rate").await;
            assert_eq!(status.last_scale_up.map(|r| r.message_id), None, "{what}");
        }
    }
    // With every grant back, the next notification steps, recorded and annotated.
    w.set_rules("alarm-scaler", rbac::all(&grants)).await;
    let replicas = w.replicas(NS, "web").await;
    let response = w
        .invoke("alarm-scaler", &sns(&up, "ALARM", now(), "msg-grant-all"))
        .expect("all grants");
    assert_eq!(outcome(&response)["decision"], "scale_up", "{response}");
    assert_eq!(outcome(&response)["annotated"], true, "{response}");
    assert!(w.replicas(NS, "web").await > replicas);
}

/// Drops the scale-up cooldown of the sample, so that every notification may step.
async fn without_cooldown(w: &World) {
    use k8s_ops::crd::metric_alarm::K8sMetricAlarm;
    use kube::api::{Patch, PatchParams};
    kube::Api::<K8sMetricAlarm>::namespaced(w.admin.clone(), NS)
        .patch(
            "web-http-rate",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"scaleUpBehavior": {"coolDown": 0}}})),
        )
        .await
        .expect("patch the sample");
}
