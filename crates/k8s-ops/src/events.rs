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
) -> Result<(), kube::Error> {
    let object = regarding.name.as_deref().unwrap_or("object");
    // client-go's naming: the object's name and a unique hex suffix.
    let name = format!("{object}.{:x}", now.as_nanosecond());
    let event = event(regarding, component, spec, now, name);
    create(&events_of(client, &event), &event).await
}

/// Creates `event`. A blip (5xx, 429, a dropped connection) is retried, as client-go's
/// recorder retries: one lost to it would leave `kubectl describe` silent about what was
/// done. The name is fixed, so a retried create that had landed answers 409: recorded.
async fn create(api: &Api<Event>, event: &Event) -> Result<(), kube::Error> {
    let mut attempt = 1;
    loop {
        match api.create(&PostParams::default(), event).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 && attempt > 1 => return Ok(()),
            Err(e) if attempt < PUBLISH_ATTEMPTS && transient(&e) => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Tries of an Event's create.
const PUBLISH_ATTEMPTS: u32 = 3;

/// Whether a failed request may succeed as is when sent again (a 5xx, a 429, a dropped
/// connection).
pub fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Records `spec` about `regarding` under a name of the caller's (`<object>.<key>`), so that
/// the same Event is recorded once however often it is published while it lives (the API
/// server keeps Events an hour by default): for a lasting problem reported by a function
/// that keeps no state of its own to tell a new problem from an old one. `Ok(false)`: an
/// Event of that name existed before this call. A blip is retried as [`publish`] retries it.
pub async fn publish_once(
    client: &Client,
    regarding: &ObjectReference,
    component: &str,
    spec: EventSpec,
    now: jiff::Timestamp,
    key: &str,
) -> Result<bool, kube::Error> {
    let object = regarding.name.as_deref().unwrap_or("object");
    let event = event(regarding, component, spec, now, format!("{object}.{key}"));
    match create(&events_of(client, &event), &event).await {
        Ok(()) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

fn events_of(client: &Client, event: &Event) -> Api<Event> {
    let namespace = event.metadata.namespace.as_deref().unwrap_or("default");
    Api::namespaced(client.clone(), namespace)
}

fn event(
    regarding: &ObjectReference,
    component: &str,
    spec: EventSpec,
    now: jiff::Timestamp,
    name: String,
) -> Event {
    let namespace = regarding
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    Event {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace),
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
    }
}
