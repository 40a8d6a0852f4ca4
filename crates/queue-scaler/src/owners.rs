//! One owner per target ([`k8s_ops::owner`]): what a run lists before deciding anything —
//! the SqsQueueScalers, the HPAs and alarm-scaler's K8sMetricAlarms (a cluster without that
//! CRD has none) — and who, among them and the ScaledObjects queue-scaler scales, controls
//! each target. A scaler whose target another controls (an HPA always; else the oldest)
//! writes nothing: its status and a Warning say who owns it.
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_ops::crd::keda::ScaledObject;
use k8s_ops::crd::metric_alarm::K8sMetricAlarm;
use k8s_ops::crd::sqs_queue::{ScaleTargetRef, SqsQueueScaler};
use k8s_ops::list::ListError;
use k8s_ops::owner::{self, Controller, Target};
use kube::api::ObjectMeta;
use kube::{Api, ResourceExt};
use sqs_depth::pass::Pass;

use crate::keda::{convert, triage};

/// What a run lists for the owners' check.
pub struct Listed {
    pub scalers: Vec<SqsQueueScaler>,
    pub hpas: Vec<HorizontalPodAutoscaler>,
    /// alarm-scaler's K8sMetricAlarms, as controllers.
    pub alarms: Vec<Controller>,
    /// Kubernetes calls made to list them.
    pub calls: u64,
}

/// Lists the SqsQueueScalers, HPAs and K8sMetricAlarms, in every namespace or
/// `WATCH_NAMESPACE`. A list refused fails the run before anything is changed; the
/// K8sMetricAlarm CRD not installed (404) means none.
pub async fn list(pass: &Pass) -> Result<Listed, ListError> {
    let before = pass.kube_calls();
    let count = || pass.count_kube_calls(1);
    let scalers = k8s_ops::list::all(&api(pass), count).await?;
    let hpas = k8s_ops::list::all(&api(pass), count).await?;
    let alarms = match k8s_ops::list::all::<K8sMetricAlarm>(&api(pass), count).await {
        Ok(alarms) => alarms.iter().filter_map(alarm).collect(),
        Err(ListError {
            source: kube::Error::Api(status),
            ..
        }) if status.code == 404 => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(Listed {
        scalers,
        hpas,
        alarms,
        calls: pass.kube_calls() - before,
    })
}

fn api<K>(pass: &Pass) -> Api<K>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match pass.options.namespace.as_deref() {
        Some(ns) => Api::namespaced(pass.kube.clone(), ns),
        None => Api::all(pass.kube.clone()),
    }
}

/// Every controller of the run: the HPAs, the K8sMetricAlarms, the SqsQueueScalers, and the
/// ScaledObjects queue-scaler would scale (one `aws-sqs-queue` trigger; KEDA's own runs are
/// their HPAs).
pub fn controllers(listed: &Listed, scaled_objects: &[ScaledObject]) -> Vec<Controller> {
    let hpas = listed.hpas.iter().map(Controller::from_hpa);
    let scalers = listed.scalers.iter().map(scaler);
    let sos = scaled_objects
        .iter()
        .filter(|so| triage::is_ours(so))
        .filter_map(scaled_object);
    hpas.chain(listed.alarms.iter().cloned())
        .chain(scalers)
        .chain(sos)
        .collect()
}

fn controller(kind: &str, meta: &ObjectMeta, target: &ScaleTargetRef) -> Controller {
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    let ScaleTargetRef {
        name,
        kind: target_kind,
        api_version,
    } = target;
    Controller::new(
        kind,
        meta,
        Target::new(namespace, api_version, target_kind, name),
    )
}

pub fn scaler(s: &SqsQueueScaler) -> Controller {
    controller("SqsQueueScaler", &s.metadata, &s.spec.scale_target_ref)
}

pub fn scaled_object(so: &ScaledObject) -> Option<Controller> {
    let target = convert::target(so).ok()?;
    Some(controller("ScaledObject", &so.metadata, &target))
}

fn alarm(a: &K8sMetricAlarm) -> Option<Controller> {
    let t = a.spec.target().ok()?;
    let namespace = a.namespace().unwrap_or_default();
    let api_version = t.api_version.as_deref().unwrap_or("apps/v1");
    Some(Controller::new(
        "K8sMetricAlarm",
        &a.metadata,
        Target::new(&namespace, api_version, &t.kind, &t.name),
    ))
}

/// Why `me` may not write its target, if another controller owns it: the condition's
/// reason and message.
pub fn refused(me: &Controller, others: &[Controller]) -> Option<(&'static str, String)> {
    owner::rival(me, others).map(|rival| owner::refusal(me, rival))
}
