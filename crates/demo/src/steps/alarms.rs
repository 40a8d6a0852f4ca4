//! alarm-sync makes the CloudWatch alarms of the sample K8sMetricAlarm; alarm-scaler steps
//! its Deployment when the scale-up alarm fires, once per notification.
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use serde_json::{Value, json};
use testbed::harness::manifests;
use testbed::world::cloudwatch::notification;
use testbed::world::repo;

use crate::show;
use crate::stage::{Error, Stage, sample};

/// Namespace `web` and the budget of its Deployment: one pod up at all times.
const NAMESPACE_AND_BUDGET: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: web}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: web}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
";

/// Namespace `web` with Deployment `web` (2 replicas) and its PDB, the sample
/// K8sMetricAlarm, and both alarm functions deployed.
pub fn seed(w: &mut Stage) -> Result<(), Error> {
    w.world.cluster.load_yaml(NAMESPACE_AND_BUDGET)?;
    let container = json!({"name": "web", "image": "nginx:1.27",
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}});
    let web = manifests::deployment("web", "web", 2, container);
    w.world.cluster.load_yaml(&web.to_string())?;
    w.world
        .cluster
        .load_manifests(&[repo("infra/k8s/samples/k8smetricalarm-web.yaml")])?;
    w.deploy("alarm-sync", &[])?;
    w.deploy("alarm-scaler", &[])
}

pub async fn run(w: &mut Stage) -> Result<(), Error> {
    seed(w)?;
    let cw = w.world.cloudwatch();

    show::heading(
        "alarm-sync",
        "EventBridge schedule → CloudWatch alarms for every K8sMetricAlarm",
    );
    show::event("events/alarm-sync/scheduled.json", "");
    show::before(&format!("CloudWatch alarms: {}", alarms(&cw).await?));
    let response = w.invoke("alarm-sync", &sample("events/alarm-sync/scheduled.json")?)?;
    show::decided(&response, 20);
    show::after(&format!("CloudWatch alarms: {}", alarms(&cw).await?));
    let resource = w.world.cluster.get(
        "k8smetricalarms.containerinsights.eks.com",
        "web",
        "web-http-rate",
    );
    let synced = resource
        .as_ref()
        .and_then(|r| r["status"]["conditions"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|c| format!("{}={} {}", c["type"], c["status"], c["reason"]))
        .collect::<Vec<_>>()
        .join(", ");
    show::after(&format!(
        "k8smetricalarm web/web-http-rate status: {synced}"
    ));

    show::heading(
        "alarm-scaler",
        "SNS (CloudWatch alarm in ALARM) → step the Deployment by its K8sMetricAlarm",
    );
    w.world.breach("web-http-rate-high").await;
    let event = fired(w, "web-http-rate-high", "demo-message-1").await?;
    show::event(
        "events/alarm-scaler/scale-up-alarm.json",
        "with the real alarm's ARN and a fresh MessageId",
    );
    show::before(&format!(
        "deployment web/web replicas={}, alarm web-http-rate-high {}",
        w.world.replicas("web", "web").await,
        alarm_state(w, "web-http-rate-high").await
    ));
    let response = w.invoke("alarm-scaler", &event)?;
    show::decided(&response, 20);
    show::after(&format!(
        "deployment web/web replicas={}, alarm web-http-rate-high {} (re-armed)",
        w.world.replicas("web", "web").await,
        alarm_state(w, "web-http-rate-high").await
    ));
    let events: Api<Event> = Api::namespaced(w.world.admin.clone(), "web");
    for e in events.list(&Default::default()).await?.items {
        if e.involved_object.name.as_deref() == Some("web") {
            show::after(&format!(
                "Event {} {}: {}",
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            ));
        }
    }
    show::note("SNS delivers at least once: the same notification again changes nothing");
    let response = w.invoke("alarm-scaler", &event)?;
    show::decided(
        &(json!(response.0["outcomes"][0]["decision"]), response.1),
        1,
    );
    show::after(&format!(
        "deployment web/web replicas={}",
        w.world.replicas("web", "web").await
    ));
    Ok(())
}

async fn alarms(cw: &aws_sdk_cloudwatch::Client) -> Result<String, Error> {
    let out = cw.describe_alarms().send().await?;
    let names: Vec<&str> = out
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name())
        .collect();
    Ok(if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    })
}

async fn alarm_state(w: &Stage, name: &str) -> String {
    w.world
        .alarm(name)
        .await
        .and_then(|a| a.state_value().map(|s| s.as_str().to_owned()))
        .unwrap_or_else(|| "missing".into())
}

/// The SNS notification of `alarm` (in ALARM), as CloudWatch would publish it now.
pub async fn fired(w: &Stage, alarm: &str, message_id: &str) -> Result<Value, Error> {
    let found = w
        .world
        .alarm(alarm)
        .await
        .ok_or_else(|| format!("alarm {alarm} not in CloudWatch"))?;
    Ok(notification(&found, message_id, "ALARM"))
}
