//! One owner per target: a K8sMetricAlarm whose Deployment an HPA controls (or an older
//! K8sMetricAlarm) writes nothing — a Warning Event and `Ready` False `AmbiguousOwner` —
//! checked at every observation; once the HPA goes, the oldest resource steps.
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::Api;
use kube::api::DeleteParams;

use crate::kinds::put_alarm;
use crate::support::{self, Objects, alarm_resource, condition, notify, written};

const NS: &str = "shop";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hpa_or_an_older_resource_on_the_target_makes_the_notification_write_nothing() {
    let w = support::scaler_world().await;
    w.create_deployment(NS, "web", 3).await;
    // Bounds the replicas already satisfy, so the HPA (its metrics unavailable here) leaves
    // them alone.
    let hpa = "apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {namespace: shop, name: web-hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 10
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}]
";
    w.cluster.load_yaml(hpa).expect("hpa");
    w.cluster
        .load_yaml(&alarm_resource(NS, "web", "deployment: web", ""))
        .expect("resource");
    let up = put_alarm(&w, "us-east-1", "web-high", "GreaterThanThreshold", &[]).await;
    let _scaler = w.spawn("alarm-scaler", &[]);
    let first = written(&w, NS, "web").await;
    assert_eq!(first.0, 3);

    let why = "Deployment shop/web is already scaled by HorizontalPodAutoscaler shop/web-hpa; \
               this K8sMetricAlarm writes nothing while it does";
    for id in ["msg-1", "msg-2"] {
        let o = notify(&w, &up, id);
        assert_eq!(written(&w, NS, "web").await, first);
        assert_eq!(
            (o["decision"].as_str(), o["reason"].as_str()),
            (Some("ambiguous_owner"), Some(why)),
            "{o}"
        );
        let status = w.status(NS, "web").await;
        assert_eq!(written(&w, NS, "web").await, first);
        let ready = condition(&status, "Ready").expect("Ready");
        assert_eq!(
            (
                ready.status.as_str(),
                ready.reason.as_str(),
                ready.message.as_str()
            ),
            ("False", "AmbiguousOwner", why)
        );
        assert_eq!(status.last_scale_up, None);
        let warnings = w.events(NS, "web").await;
        assert_eq!(written(&w, NS, "web").await, first);
        assert!(
            warnings
                .iter()
                .all(|e| (e.0.as_str(), e.1.as_str(), e.2.as_str())
                    == ("Warning", "AmbiguousOwner", why)),
            "{warnings:?}"
        );
        assert!(!warnings.is_empty());
    }

    // The HPA gone, the resource steps; a second resource on the same Deployment, newer,
    // is refused in favour of the first.
    Api::<HorizontalPodAutoscaler>::namespaced(w.admin.clone(), NS)
        .delete("web-hpa", &DeleteParams::default())
        .await
        .expect("delete the hpa");
    let o = notify(&w, &up, "msg-3");
    assert_eq!(
        (o["decision"].as_str(), o["to"].as_i64()),
        (Some("scale_up"), Some(5)),
        "{o}"
    );
    assert_eq!(w.replicas(NS, "web").await, 5);
    w.cluster
        .load_yaml(&alarm_resource(NS, "web2", "deployment: web", ""))
        .expect("a second resource");
    let second = put_alarm(&w, "us-east-1", "web2-high", "GreaterThanThreshold", &[]).await;
    let o = notify(&w, &second, "msg-4");
    assert_eq!(o["decision"], "ambiguous_owner", "{o}");
    assert!(
        o["reason"]
            .as_str()
            .unwrap()
            .contains("already scaled by K8sMetricAlarm shop/web;"),
        "{o}"
    );
    assert_eq!(w.replicas(NS, "web").await, 5);
}
