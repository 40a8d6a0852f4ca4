//! `spec.behavior` (HPA's): the alarm's step is the recommendation; HPA's rate policies limit
//! it and its stabilization window holds a scale-down, with the history kept in
//! `status.behaviorHistory` between notifications (the function keeps nothing).
use serde_json::json;

use crate::kinds::put_alarm;
use crate::support::{self, Objects, alarm_resource, notify, step_of};

const NS: &str = "shop";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pods_policy_limits_a_step_and_a_stabilization_window_holds_a_scale_down() {
    let w = support::scaler_world().await;
    w.create_deployment(NS, "api", 4).await;
    // Steps of 2 pods up; behavior: at most 1 pod per minute up, HPA's 300 s window down.
    let behavior = "  behavior:
    scaleUp: {policies: [{type: Pods, value: 1, periodSeconds: 60}]}";
    w.cluster
        .load_yaml(&alarm_resource(NS, "api", "deployment: api", behavior))
        .expect("resource");
    let up = put_alarm(&w, "us-east-1", "api-high", "GreaterThanThreshold", &[]).await;
    let down = put_alarm(&w, "us-east-1", "api-low", "LessThanThreshold", &[]).await;
    let _scaler = w.spawn("alarm-scaler", &[]);

    // The step recommends 6; the Pods policy allows 5.
    let o = notify(&w, &up, "msg-up-1");
    assert_eq!(step_of(&o), (Some("scale_up"), Some(4), Some(5)), "{o}");
    assert_eq!(w.replicas(NS, "api").await, 5);
    let history = w.status(NS, "api").await.behavior_history.expect("kept");
    let kept = |s: &[k8s_ops::behavior::Sample]| s.iter().map(|s| s.replicas).collect::<Vec<_>>();
    assert_eq!(kept(&history.recommendations), [6]);
    assert_eq!(kept(&history.scale_ups), [1]);

    // Within the minute, the period's allowance is used: held, nothing written.
    let o = notify(&w, &up, "msg-up-2");
    assert_eq!(o["decision"], "stabilized", "{o}");
    assert!(
        o["reason"].as_str().unwrap().contains("ScaleUpLimit"),
        "{o}"
    );
    assert_eq!(w.replicas(NS, "api").await, 5);

    // Down recommends 4, but 6 was recommended within the 300 s window: held at 5.
    let o = notify(&w, &down, "msg-down-1");
    assert_eq!(o["decision"], "stabilized", "{o}");
    assert!(
        o["reason"]
            .as_str()
            .unwrap()
            .contains("ScaleDownStabilized"),
        "{o}"
    );
    assert_eq!(w.replicas(NS, "api").await, 5);
    assert_eq!(w.status(NS, "api").await.last_scale_down, None);
    assert_eq!(w.events(NS, "api").await.len(), 1);

    // The window, not anything else, held it: without one the same alarm steps down.
    let patch = json!({"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}}});
    w.patch_resource(NS, "api", patch).await;
    let o = notify(&w, &down, "msg-down-2");
    assert_eq!(step_of(&o), (Some("scale_down"), Some(5), Some(4)), "{o}");
    assert_eq!(w.replicas(NS, "api").await, 4);
}
