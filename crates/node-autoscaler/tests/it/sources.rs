//! The other interruption sources end to end, for owned instances only. An "EC2 Instance
//! State-change Notification" (stopping, shutting-down, terminated) for one of our workers
//! deletes its Node at once (nothing to drain) and leaves the instance as EC2 has it; for
//! another instance (not ours, the control plane, unknown) it changes nothing. An AWS Health
//! scheduled change (instance retirement) replaces the affected worker, then drains and
//! terminates it; the instances it names that are not ours are ignored; a retry launches no
//! second replacement; a closed event changes nothing. Malformed events are refused naming
//! the field. The sample files decode as the function's own input.
use serde_json::{Value, json};
use testbed::harness::eventually;
use testbed::world::k3s::{FUNCTION, K3s, SETTLE, WORKER_TAG, steady_metrics};
use testbed::world::{at, event, sample, t0};

use crate::support::Scenarios;

/// EC2's state-change notification: instance `id` is now `state`.
fn state_change(at: jiff::Timestamp, id: &str, state: &str) -> Value {
    event(
        "EC2 Instance State-change Notification",
        "aws.ec2",
        at,
        json!({"instance-id": id, "state": state}),
    )
}

/// AWS Health's instance-retirement event for `ids` (in `resources` and
/// `detail.affectedEntities`, as AWS sends them), with `status` (`upcoming`, `closed`).
fn retirement(at: jiff::Timestamp, ids: &[&str], status: &str) -> Value {
    let mut e = sample("events/node-autoscaler/health-scheduled.json");
    let base = event("AWS Health Event", "aws.health", at, json!({}));
    for key in ["id", "time", "account"] {
        e[key] = base[key].clone();
    }
    e["resources"] = json!(ids);
    e["detail"]["affectedEntities"] = ids.iter().map(|id| json!({"entityValue": id})).collect();
    e["detail"]["statusCode"] = status.into();
    e
}

/// The Nodes there are, by name.
fn nodes(w: &K3s) -> Vec<String> {
    let mut names: Vec<String> = w
        .cluster
        .list("nodes", None)
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_or_gone_worker_loses_its_node_at_once_other_instances_change_nothing() {
    let w = K3s::start(&steady_metrics(0.5, 0)).await;
    let a = w.worker(0, "worker-a").await;
    let b = w.worker(1, "worker-b").await;
    let c = w.worker(2, "worker-c").await;
    // Another team's instance, with a Node in this cluster: not ours to clean.
    let foreign = w.instance(1, &[("team", "other")]).await;
    w.join(&foreign, "foreign").await;
    let _function = w.spawn(FUNCTION, &[]);
    let t0 = t0();
    let all = nodes(&w);

    // Not ours, the control plane, unknown: ignored, nothing changes.
    w.ec2
        .terminate_instances()
        .instance_ids(&foreign)
        .send()
        .await
        .unwrap();
    for (id, state, why) in [
        (foreign.as_str(), "terminated", "not_ours"),
        (w.master.as_str(), "stopping", "control_plane"),
        ("i-0123456789abcdef0", "terminated", "not_ours"),
    ] {
        let out = w.invoke(FUNCTION, &state_change(t0, id, state)).expect(id);
        assert_eq!(
            (
                out["trigger"].as_str(),
                out["decision"].as_str(),
                out["why"].as_str()
            ),
            (Some("state_change"), Some("ignored"), Some(why)),
            "{out}"
        );
        assert_eq!(nodes(&w), all, "{id}");
    }
    assert_eq!(w.state(&w.master).await, "running");

    // Malformed: refused naming the field; nothing changes.
    let err = w
        .invoke(FUNCTION, &state_change(t0, &a, "running"))
        .unwrap_err();
    assert!(err.contains("detail.state"), "{err}");
    let mut no_id = state_change(t0, &a, "stopping");
    no_id["detail"] = json!({"state": "stopping"});
    let err = w.invoke(FUNCTION, &no_id).unwrap_err();
    assert!(err.contains("detail.instance-id"), "{err}");
    assert_eq!(nodes(&w), all);

    // Our worker stopped (by someone, or EC2): its Node goes; the instance stays stopped.
    w.ec2
        .stop_instances()
        .instance_ids(&a)
        .send()
        .await
        .unwrap();
    let out = w
        .invoke(FUNCTION, &state_change(at(t0, 10), &a, "stopping"))
        .expect("stopping");
    assert_eq!(
        (out["decision"].as_str(), out["nodeDeleted"].as_str()),
        (Some("clean_node"), Some("worker-a")),
        "{out}"
    );
    assert!(w.node("worker-a").is_none());
    assert_ne!(
        w.state(&a).await,
        "terminated",
        "a stop is not ours to turn into a termination"
    );
    // Terminated behind our back: the same, whether shutting-down or terminated arrives.
    w.ec2
        .terminate_instances()
        .instance_ids(&b)
        .send()
        .await
        .unwrap();
    let out = w
        .invoke(FUNCTION, &state_change(at(t0, 20), &b, "shutting-down"))
        .expect("shutting-down");
    assert_eq!(out["nodeDeleted"], "worker-b", "{out}");
    let out = w
        .invoke(FUNCTION, &state_change(at(t0, 30), &b, "terminated"))
        .expect("terminated, later");
    assert_eq!(
        (out["decision"].as_str(), out["nodeDeleted"].clone()),
        (Some("clean_node"), Value::Null),
        "nothing left to delete: {out}"
    );
    let left = nodes(&w);
    assert!(
        left.contains(&"worker-c".to_owned()) && left.contains(&"foreign".to_owned()),
        "{left:?}"
    );
    assert_eq!(left.len(), all.len() - 2, "{left:?}");
    assert_eq!(w.state(&c).await, "running");
    assert!(w.actions().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_retirement_replaces_then_drains_our_worker_and_ignores_the_rest() {
    let w = K3s::start(&steady_metrics(0.5, 0)).await;
    let a = w.worker(0, "worker-a").await;
    w.deployment("web", 2, "500m", 0);
    let b = w.worker(1, "worker-b").await;
    let foreign = w.instance(2, &[("team", "other")]).await;
    let _function = w.spawn(FUNCTION, &[]);
    let t0 = t0();

    // The sample decodes (and its instance is not one of ours).
    let out = w
        .invoke(
            FUNCTION,
            &sample("events/node-autoscaler/health-scheduled.json"),
        )
        .expect("sample");
    assert_eq!(out["instances"][0]["why"], "not_ours", "{out}");

    // Malformed: another service's event is refused naming the field.
    let mut rds = retirement(t0, &[&a], "upcoming");
    rds["detail"]["service"] = "RDS".into();
    let err = w.invoke(FUNCTION, &rds).unwrap_err();
    assert!(err.contains("detail.service"), "{err}");

    // A closed event: the change is over; nothing is done.
    let out = w
        .invoke(FUNCTION, &retirement(t0, &[&a], "closed"))
        .expect("closed");
    assert_eq!(out["instances"][0]["why"], "event_closed", "{out}");
    assert_eq!(w.live_workers().await.len(), 2);

    let event = retirement(at(t0, 10), &[&a, &foreign], "upcoming");
    let out = w.invoke(FUNCTION, &event).expect("retirement");
    assert_eq!(out["trigger"], "scheduled_change", "{out}");
    assert_eq!(
        out["eventType"], "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
        "{out}"
    );
    let by_instance = |id: &str| {
        out["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["instance"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} answered: {out}"))
    };
    let ours = by_instance(&a);
    assert_eq!(
        (ours["decision"].as_str(), ours["outcome"].as_str()),
        (Some("replace_then_drain"), Some("terminated")),
        "{out}"
    );
    let replacement: Vec<String> = serde_json::from_value(ours["replacement"].clone()).unwrap();
    assert_eq!(replacement.len(), 1, "{out}");
    assert_eq!(by_instance(&foreign)["why"], "not_ours", "{out}");
    assert_eq!(w.state(&a).await, "terminated");
    assert!(w.node("worker-a").is_none());
    assert_eq!(w.state(&foreign).await, "running");
    assert_eq!(w.state(&b).await, "running");
    let r = w.describe(&replacement[0]).await;
    assert_eq!(r["tags"][WORKER_TAG.0], WORKER_TAG.1, "{r}");
    eventually("web pods off the retired worker", SETTLE, async || {
        let pods = w.pods_by_node("web");
        (pods.len() == 2 && pods.iter().all(|(_, n)| n == "worker-b")).then_some(())
    })
    .await;
    assert!(w.actions().await.is_empty());

    // EventBridge delivers at least once: the same event again launches nothing more.
    let again = w.invoke(FUNCTION, &event).expect("retried");
    assert_eq!(again["instances"][0]["decision"], "ignored", "{again}");
    let mut live = w.live_workers().await;
    live.sort();
    let mut want = vec![b.clone(), replacement[0].clone()];
    want.sort();
    assert_eq!(live, want);
}
