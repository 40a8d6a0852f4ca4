//! KEDA ScaledObjects (opt-in, `KEDA_SCALED_OBJECTS=true`): a cluster that used KEDA keeps its
//! manifests. Each ScaledObject with one `aws-sqs-queue` trigger that no HPA already scales
//! is converted into the spec an SqsQueueScaler has ([`convert`]) and judged by the same
//! scaler pass and policy; the others are left alone or skipped, and the run's response says
//! which and why ([`Report`]).
//!
//! queue-scaler never fights a running KEDA: KEDA scales through an HPA it names
//! `keda-hpa-<ScaledObject>`, and a ScaledObject with that HPA (or any HPA scaling its
//! Deployment) is left alone. It never writes a ScaledObject's spec or status (KEDA's); it
//! records Events about it, and keeps the cooldown's start in an annotation of its own
//! ([`scaler::INACTIVE_SINCE`]).
use jiff::Timestamp;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_ops::crd::keda::{ScaledObject, TriggerAuthentication};
use k8s_ops::list::ListError;
use k8s_ops::owner::Controller;
use kube::Resource;
use kube::api::Api;
use serde::de::DeserializeOwned;
use sqs_depth::pass::{self, Pass, RunError, Summary};

mod apply;
pub mod convert;
mod report;
pub mod scaler;
pub mod triage;

pub use apply::ScaledObjects;
pub use report::{Outcome, Report};

use scaler::KedaScaler;
use triage::Triage;

/// What a run reads before deciding anything: the ScaledObjects, and (when there is one)
/// the TriggerAuthentications that say how to read its queue; the HPAs that say whether it
/// is another autoscaler's are the run's ([`crate::owners`]).
pub struct Found {
    pub scaled_objects: Vec<ScaledObject>,
    pub auths: Vec<TriggerAuthentication>,
    /// Kubernetes calls made to list them.
    pub calls: u64,
}

/// Lists what [`Found`] holds, in every namespace or `WATCH_NAMESPACE`. A list that fails
/// (a missing grant, KEDA's CRDs not installed) fails the run before anything is changed.
pub async fn list(pass: &Pass) -> Result<Found, ListError> {
    let mut calls = 0;
    let scaled_objects: Vec<ScaledObject> = list_all(pass, &mut calls).await?;
    let auths = if scaled_objects.is_empty() {
        Vec::new()
    } else {
        list_all(pass, &mut calls).await?
    };
    Ok(Found {
        scaled_objects,
        auths,
        calls,
    })
}

async fn list_all<K>(pass: &Pass, calls: &mut u64) -> Result<Vec<K>, ListError>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = match pass.options.namespace.as_deref() {
        Some(ns) => Api::namespaced(pass.kube.clone(), ns),
        None => Api::all(pass.kube.clone()),
    };
    k8s_ops::list::all(&api, || {
        *calls += 1;
        pass.count_kube_calls(1);
    })
    .await
}

/// One run over the ScaledObjects found: triaged (`hpas`: the cluster's), the paused ones
/// held, the rest judged by the scaler pass, none writing a target another controller owns
/// (`owners`). The summary's tally is the response's `scaledObjects`.
pub async fn run(
    pass: &Pass,
    found: Found,
    hpas: &[HorizontalPodAutoscaler],
    owners: Vec<Controller>,
    now: Timestamp,
) -> Result<Summary<Report>, RunError> {
    let mut report = Report {
        listed: found.scaled_objects.len(),
        ..Report::default()
    };
    let before = pass.kube_calls();
    let mut scalers = Vec::new();
    for so in found.scaled_objects {
        let name = pass::name(&so);
        let refused =
            crate::owners::scaled_object(&so).and_then(|me| crate::owners::refused(&me, &owners));
        match triage::triage(&so, &found.auths, hpas) {
            Triage::Scale(_) | Triage::Paused { .. } if refused.is_some() => {
                let (reason, message) = refused.expect("refused");
                tracing::warn!(decision = "refused", kind = "ScaledObject", scaler = %name, reason, error = %message);
                report.errors += 1;
                report.notes.insert(name, format!("{reason}: {message}"));
                apply::warn_once(pass, &so, reason, &message, now).await;
            }
            Triage::Scale(converted) => scalers.push(KedaScaler::new(so, *converted)),
            Triage::Paused { target, replicas } => {
                apply::hold_paused(pass, &so, &target, replicas, now, &mut report).await
            }
            Triage::LeftAlone(why) => {
                tracing::info!(decision = "left_alone", kind = "ScaledObject", scaler = %name, reason = %why);
                report.left_alone += 1;
                report.notes.insert(name, format!("left alone: {why}"));
            }
            Triage::Skipped(why) => {
                tracing::info!(decision = "skipped", kind = "ScaledObject", scaler = %name, reason = %why);
                report.skipped += 1;
                report.notes.insert(name, format!("skipped: {why}"));
            }
            Triage::Invalid(e) => {
                tracing::warn!(decision = "error", kind = "ScaledObject", scaler = %name, reason = "InvalidSpec", error = %e);
                report.errors += 1;
                report.notes.insert(name, format!("InvalidSpec: {e}"));
                apply::warn_once(pass, &so, "InvalidSpec", &e.to_string(), now).await;
            }
        }
    }
    let outside = pass.kube_calls() - before;
    let mut summary = pass::run_listed(pass, &ScaledObjects, scalers, now).await?;
    // Listing, pauses and warnings happened before the pass; their calls count too.
    summary.api_calls.kubernetes += found.calls + outside;
    report.absorb(std::mem::take(&mut summary.tally));
    summary.tally = report;
    Ok(summary)
}
