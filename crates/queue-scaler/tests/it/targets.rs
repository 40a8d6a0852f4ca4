//! Any `/scale` target through `spec.scaleTargetRef`, end to end: a StatefulSet (granted by
//! the shipped RBAC file), a custom resource with a scale subresource (granted by the one
//! extra rule the README shows; refused, and said so, before it), and a kind without `/scale`
//! (refused, nothing written).
use serde_json::{Value, json};
use testbed::harness::manifests::{self, Subject};
use testbed::world::{World, t0};

use crate::support::{self, FUNCTION, Scalers, create_queue, send};

/// A tiny CRD whose objects have a scale subresource, as HPA and KEDA can scale them.
const WORKERS_CRD: &str = r#"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
 "metadata": {"name": "workers.example.com"},
 "spec": {"group": "example.com", "scope": "Namespaced",
  "names": {"plural": "workers", "singular": "worker", "kind": "Worker"},
  "versions": [{"name": "v1", "served": true, "storage": true,
    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
      "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
      "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}},
    "subresources": {"scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}}}]}}"#;

fn statefulset(name: &str, replicas: i32) -> Value {
    let mut m = manifests::deployment(
        "default",
        name,
        replicas,
        json!({"name": "app", "image": "busybox"}),
    );
    m["kind"] = json!("StatefulSet");
    m["spec"]["serviceName"] = json!(name);
    m
}

/// `.spec.replicas` of object `resource/name` in `default`, and its resourceVersion.
fn replicas_of(w: &World, resource: &str, name: &str) -> (Option<i64>, String) {
    let o = w
        .cluster
        .get(resource, "default", name)
        .unwrap_or_else(|| panic!("{resource} {name}"));
    (
        o["spec"]["replicas"].as_i64(),
        o["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulsets_and_custom_resources_scale_and_a_kind_without_scale_is_refused() {
    let w = support::world().await;
    let jobs = create_queue(&w.sqs(), "jobs").await;
    send(&w.sqs(), &jobs, 30).await;
    for yaml in [
        statefulset("db", 1).to_string(),
        WORKERS_CRD.to_owned(),
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"}, "data": {"a": "b"}}"#.to_owned(),
    ] {
        w.cluster.load_yaml(&yaml).expect("applied");
    }
    w.cluster
        .load_yaml(r#"{"apiVersion": "example.com/v1", "kind": "Worker", "metadata": {"name": "crunch", "namespace": "default"}, "spec": {"replicas": 1}}"#)
        .expect("a Worker");
    let scaler = |api_version: &str, kind: &str, name: &str| {
        json!({"scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": name},
               "queueURL": jobs, "queueLength": 10, "minReplicaCount": 1, "maxReplicaCount": 5})
    };
    w.create_scaler("db", scaler("apps/v1", "StatefulSet", "db"))
        .await;
    w.create_scaler("crunch", scaler("example.com/v1", "Worker", "crunch"))
        .await;
    w.create_scaler("settings", scaler("v1", "ConfigMap", "settings"))
        .await;
    let settings_before = replicas_of(&w, "configmaps", "settings");
    let _function = w.spawn(FUNCTION, &[]);
    let t0 = t0();

    // 30 messages, 10 per replica: 3. The StatefulSet is granted; the Worker's scale is not
    // yet, and says so; the ConfigMap has no scale subresource.
    let summary = w.run(t0).expect("run 1");
    assert_eq!(
        (summary["rescaled"].as_u64(), summary["errors"].as_u64()),
        (Some(1), Some(2)),
        "{summary}"
    );
    assert_eq!(replicas_of(&w, "statefulsets.apps", "db").0, Some(3));
    assert_eq!(w.condition("db", "Ready").await.0, "True");
    assert_eq!(
        w.events("default", "db").await.pop().map(|e| e.1),
        Some("SuccessfulRescale".into())
    );
    let (ready, reason, message) = w.condition("crunch", "Ready").await;
    assert_eq!(
        (ready.as_str(), reason.as_str()),
        ("False", "FailedRescale")
    );
    assert!(
        message.contains("forbidden") && message.contains("workers/scale"),
        "{message}"
    );
    assert_eq!(replicas_of(&w, "workers.example.com", "crunch").0, Some(1));
    let refused = (
        "False".to_owned(),
        "FailedGetScale".to_owned(),
        "spec.scaleTargetRef: v1 ConfigMap: has no scale subresource".to_owned(),
    );
    assert_eq!(w.condition("settings", "Ready").await, refused);
    assert_eq!(
        w.events("default", "settings").await,
        [("Warning".into(), refused.1.clone(), refused.2.clone())]
    );
    assert_eq!(
        replicas_of(&w, "configmaps", "settings"),
        settings_before,
        "nothing written to the ConfigMap"
    );

    // The one rule the README shows for another kind's scale subresource.
    let rule = json!([{"apiGroups": ["example.com"], "resources": ["workers/scale"], "verbs": ["get", "update"]}]);
    let grant = manifests::grant(
        None,
        "queue-scaler-workers",
        rule,
        Subject::Group("lambda:queue-scaler"),
    );
    w.cluster.load_yaml(&grant).expect("the extra grant");
    let summary = w
        .run(t0 + jiff::SignedDuration::from_secs(60))
        .expect("run 2");
    assert_eq!(
        (summary["rescaled"].as_u64(), summary["errors"].as_u64()),
        (Some(1), Some(1)),
        "{summary}"
    );
    assert_eq!(replicas_of(&w, "workers.example.com", "crunch").0, Some(3));
    assert_eq!(w.condition("crunch", "Ready").await.0, "True");
    assert_eq!(w.condition("settings", "Ready").await, refused);
    assert_eq!(
        replicas_of(&w, "configmaps", "settings"),
        settings_before,
        "still nothing written to the ConfigMap"
    );
    assert_eq!(
        w.events("default", "settings").await.len(),
        1,
        "a lasting refusal is not re-announced"
    );
}
