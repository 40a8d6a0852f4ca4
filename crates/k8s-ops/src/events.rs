//! Kubernetes Events as the HPA writes them (core/v1, `kubectl describe` shows them), so an
//! operator sees the suite's decisions where they look for the HPA's.
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::PostParams;
use kube::{Api, Client};

/// What happened, HPA style: e.g. reason `SuccessfulRescale`, message
/// `New size: 5; reason: alarm web-scale-up (ALARM) stepped up from 3`.
#[derive(Clone, Debug)]
pub struct EventSpec {
    pub warning: bool,
    pub reason: String,
    pub message: String,
    /// What was done, e.g. `Rescale`.
    pub action: String,
}

/// Records `spec` about `regarding` (build it with `kube::Resource::object_ref`) as
/// `component`, in the object's namespace.
pub async fn publish(
    client: &Client,
    regarding: &ObjectReference,
    component: &str,
    spec: EventSpec,
    now: jiff::Timestamp,
) -> Result<Event, kube::Error> {
    let namespace = regarding
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let object = regarding.name.as_deref().unwrap_or("object");
    let event = Event {
        metadata: ObjectMeta {
            // client-go's naming: the object's name and a unique hex suffix.
            name: Some(format!("{object}.{:x}", now.as_nanosecond())),
            namespace: Some(namespace.clone()),
            ..Default::default()
        },
        involved_object: regarding.clone(),
        reason: Some(spec.reason),
        message: Some(spec.message),
        type_: Some(if spec.warning { "Warning" } else { "Normal" }.into()),
        action: Some(spec.action),
        source: Some(EventSource {
            component: Some(component.into()),
            host: None,
        }),
        reporting_component: Some(component.into()),
        reporting_instance: Some(component.into()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        ..Default::default()
    };
    Api::<Event>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &event)
        .await
}
