//! Each kind of event, end to end through the Lambda emulator, and the original function's
//! annotations: written after every step, and honoured for the first cooldown after a
//! migration.
use std::time::Duration;

use alarm_scaler::annotations::{ALARM_NAME, TRIGGER_REASON, TRIGGER_TIME, format_time};
use aws_sdk_cloudwatch::types::StateValue;
use jiff::ToSpan;
use serde_json::{Value, json};

use crate::kinds::{
    Alarm, alarm_action, alarm_message, breach_in, now, put_alarm, sns, state_change, state_of,
};
use crate::support::{self, Objects};

const NS: &str = "web";

fn outcome(response: &Value) -> &Value {
    &response["outcomes"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_event_steps_once_annotates_and_a_redelivery_is_a_duplicate() {
    let (w, up) = support::web_world().await;
    // No cooldowns: every kind steps in turn.
    w.patch_resource(
        NS,
        "web-http-rate",
        json!({"spec": {"scaleUpBehavior": {"coolDown": 0}, "scaleDownBehavior": {"coolDown": 0}}}),
    )
    .await;
    // The down alarm lives in eu-west-1: it is re-armed where the event says it is.
    let down = put_alarm(&w, "eu-west-1", "web-cpu-low", "LessThanThreshold", &[]).await;
    let _scaler = w.spawn("alarm-scaler", &[]);

    // (event, alarm, via, decision, replicas before → after). Up: max(2 pods, 50 %); down: 1 pod.
    type Step<'a> = (Value, &'a Alarm, &'static str, &'static str, (i64, i64));
    // One state change per step, a second apart: an alarm's state changes at distinct times.
    let t0 = now();
    let at = |i: i64| t0 + i.seconds();
    let steps: Vec<Step> = vec![
        (
            alarm_message(&up, "ALARM", at(0)),
            &up,
            "alarm-message",
            "scale_up",
            (4, 6),
        ),
        (
            state_change(&down, "ALARM", at(1)),
            &down,
            "eventbridge",
            "scale_down",
            (6, 5),
        ),
        (
            alarm_action(&up, "ALARM", at(2)),
            &up,
            "alarm-action",
            "scale_up",
            (5, 8),
        ),
        (
            sns(&down, "ALARM", at(3), "msg-down-1"),
            &down,
            "sns",
            "scale_down",
            (8, 7),
        ),
    ];
    for (event, alarm, via, decision, (from, to)) in steps {
        breach_in(&w, &alarm.region, &alarm.name).await;
        let response = w.invoke("alarm-scaler", &event).expect(via);
        let o = outcome(&response);
        assert_eq!(
            (
                o["via"].as_str(),
                o["decision"].as_str(),
                o["foundBy"].as_str()
            ),
            (Some(via), Some(decision), Some("name")),
            "{response}"
        );
        assert_eq!(
            (o["from"].as_i64(), o["to"].as_i64()),
            (Some(from), Some(to)),
            "{via}"
        );
        assert_eq!(i64::from(w.replicas(NS, "web").await), to, "{via}");
        // Recorded under the kind's dedup key, annotated with the record's time.
        let status = w.status(NS, "web-http-rate").await;
        let record = if decision == "scale_up" {
            status.last_scale_up
        } else {
            status.last_scale_down
        }
        .expect("recorded");
        assert_eq!(
            Some(record.message_id.as_str()),
            o["messageId"].as_str(),
            "{via}"
        );
        assert_eq!(record.alarm_name, alarm.name);
        let annotations = w.annotations(NS, "web").await;
        assert_eq!(o["annotated"], true, "{via}");
        assert_eq!(annotations.get(ALARM_NAME), Some(&alarm.name), "{via}");
        assert_eq!(
            annotations.get(TRIGGER_TIME),
            Some(&format_time(record.time.0)),
            "{via}"
        );
        assert!(
            annotations
                .get(TRIGGER_REASON)
                .is_some_and(|r| r.starts_with("Threshold Crossed")),
            "{via}: {annotations:?}"
        );
        assert_eq!(
            state_of(&w, alarm).await,
            Some(StateValue::Ok),
            "{via}: re-armed"
        );

        // The same state change delivered again: nothing changes.
        breach_in(&w, &alarm.region, &alarm.name).await;
        let again = w.invoke("alarm-scaler", &event).expect(via);
        assert_eq!(outcome(&again)["decision"], "duplicate", "{via}: {again}");
        assert_eq!(i64::from(w.replicas(NS, "web").await), to, "{via}");
        assert_eq!(w.annotations(NS, "web").await, annotations, "{via}");
    }
    // Without SNS a state change is its alarm and time, however it arrives: the up alarm's
    // last one (at(2), an alarm action) delivered as the alarm message too changes nothing.
    breach_in(&w, "us-east-1", &up.name).await;
    let again = w
        .invoke("alarm-scaler", &alarm_message(&up, "ALARM", at(2)))
        .expect("another route");
    assert_eq!(outcome(&again)["decision"], "duplicate", "{again}");
    assert_eq!(w.replicas(NS, "web").await, 7);
    // Only eu-west-1 holds the down alarm: the event's region was used, not the function's.
    assert!(w.alarm("web-cpu-low").await.is_none());
    assert_eq!(w.events(NS, "web").await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_originals_trigger_time_holds_the_first_cooldown_then_the_records_rule() {
    // Up coolDown 120 s, down 300 s.
    let (w, up) = support::web_world().await;
    let down = put_alarm(&w, "us-east-1", "web-cpu-low", "LessThanThreshold", &[]).await;
    // What the original function left on the Deployment: its last step, 30 s ago.
    let original = now() - 30.seconds();
    w.annotate(
        NS,
        "web",
        json!({ALARM_NAME: "web-http-rate-high", TRIGGER_TIME: format_time(original),
               TRIGGER_REASON: "Threshold Crossed: 3 datapoints"}),
    )
    .await;
    let mut scaler = w.spawn("alarm-scaler", &[]);

    // Within 120 s of it: held, nothing written but the alarm re-armed.
    let held = w
        .invoke("alarm-scaler", &sns(&up, "ALARM", now(), "migrated-1"))
        .expect("held");
    let o = outcome(&held);
    assert_eq!(o["decision"], "cooldown", "{held}");
    let until = (original + 120.seconds()).to_string();
    assert!(
        o["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&until) && r.contains(TRIGGER_TIME)),
        "{held}"
    );
    assert_eq!(w.replicas(NS, "web").await, 4);
    assert_eq!(w.status(NS, "web-http-rate").await.last_scale_up, None);
    assert_eq!(state_of(&w, &up).await, Some(StateValue::Ok));
    // Either direction's step started it, as in the original (down: 300 s).
    breach_in(&w, "us-east-1", "web-cpu-low").await;
    let held = w
        .invoke("alarm-scaler", &state_change(&down, "ALARM", now()))
        .expect("held");
    assert_eq!(outcome(&held)["decision"], "cooldown", "{held}");

    // An hour ago: over. The first step is recorded and annotated.
    w.annotate(
        NS,
        "web",
        json!({TRIGGER_TIME: format_time(now() - 1.hour())}),
    )
    .await;
    breach_in(&w, "us-east-1", "web-http-rate-high").await;
    let stepped = w
        .invoke("alarm-scaler", &sns(&up, "ALARM", now(), "migrated-2"))
        .expect("step");
    assert_eq!(outcome(&stepped)["decision"], "scale_up", "{stepped}");
    assert_eq!(w.replicas(NS, "web").await, 6);
    let record = w
        .status(NS, "web-http-rate")
        .await
        .last_scale_up
        .expect("recorded");
    let annotations = w.annotations(NS, "web").await;
    assert_eq!(
        annotations.get(TRIGGER_TIME),
        Some(&format_time(record.time.0))
    );

    // A step is recorded now: the annotation (ours, just written) no longer holds the other
    // direction…
    breach_in(&w, "us-east-1", "web-cpu-low").await;
    let stepped = w
        .invoke("alarm-scaler", &alarm_action(&down, "ALARM", now()))
        .expect("step down");
    assert_eq!(outcome(&stepped)["decision"], "scale_down", "{stepped}");
    assert_eq!(w.replicas(NS, "web").await, 5);
    // …and the record times the up direction's own coolDown.
    breach_in(&w, "us-east-1", "web-http-rate-high").await;
    let held = w
        .invoke("alarm-scaler", &alarm_message(&up, "ALARM", now()))
        .expect("held");
    let o = outcome(&held);
    assert_eq!(o["decision"], "cooldown", "{held}");
    let until = (record.time.0 + 120.seconds()).to_string();
    assert!(
        o["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&until) && !r.contains(TRIGGER_TIME)),
        "{held}"
    );
    assert_eq!(w.replicas(NS, "web").await, 5);

    // A trigger time that cannot be read holds nothing, and says why in the log.
    w.forget_steps(NS, "web-http-rate").await;
    w.annotate(NS, "web", json!({TRIGGER_TIME: "last Tuesday"}))
        .await;
    breach_in(&w, "us-east-1", "web-http-rate-high").await;
    let stepped = w
        .invoke("alarm-scaler", &sns(&up, "ALARM", now(), "migrated-3"))
        .expect("step");
    assert_eq!(outcome(&stepped)["decision"], "scale_up", "{stepped}");
    let line = scaler
        .wait_for_json(Duration::from_secs(10), |v| {
            v["fields"]["message"] == "annotation ignored"
        })
        .expect("the warning");
    assert!(
        line["fields"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("\"last Tuesday\"; expected a time such as")),
        "{line}"
    );
}
