//! One owner per target: the controllers in the resource's namespace that may write its
//! target too — HPAs, SqsQueueScalers (queue-scaler; its CRD absent = none), the other
//! K8sMetricAlarms (already listed) — for `k8s_ops::owner::rival` to judge. Two list calls.
use k8s_openapi::api::autoscaling::v2::CrossVersionObjectReference;
use k8s_ops::crd::metric_alarm::K8sMetricAlarm;
use k8s_ops::crd::sqs_queue::SqsQueueScaler;
use k8s_ops::list::{self, ListError};
use k8s_ops::owner::{self, Controller, Target};
use kube::{Api, ResourceExt};

use super::{Context, Owner};
use crate::error::{Error, KUBERNETES_FAILED};
use crate::grant::{Grant, forbidden};

const KIND: &str = "K8sMetricAlarm";

/// The resource as a controller of `reference`.
pub(super) fn me(owner: &Owner<'_>, reference: &CrossVersionObjectReference) -> Controller {
    Controller::new(
        KIND,
        &owner.resource.metadata,
        target(&owner.namespace(), reference),
    )
}

/// Every controller of a target in `namespace`.
pub(super) async fn controllers(
    ctx: &Context,
    namespace: &str,
    alarms: &[K8sMetricAlarm],
) -> Result<Vec<Controller>, Error> {
    let hpas = owner::hpas(&Api::namespaced(ctx.kube.clone(), namespace), || ())
        .await
        .map_err(|e| refused(e, "horizontalpodautoscalers", "autoscaling", namespace))?;
    let queues = match list::all(
        &Api::<SqsQueueScaler>::namespaced(ctx.kube.clone(), namespace),
        || (),
    )
    .await
    {
        Ok(q) => q,
        // The CRD is not installed: there are none.
        Err(ListError {
            source: kube::Error::Api(s),
            ..
        }) if s.code == 404 => Vec::new(),
        Err(e) => {
            return Err(refused(
                e,
                "sqsqueuescalers",
                "autoscaling.k8s-lambda.dev",
                namespace,
            ));
        }
    };
    let queues = queues.iter().map(|q| {
        let r = &q.spec.scale_target_ref;
        let t = Target::new(namespace, &r.api_version, &r.kind, &r.name);
        Controller::new("SqsQueueScaler", &q.metadata, t)
    });
    let alarms = alarms
        .iter()
        .filter(|a| a.namespace().as_deref() == Some(namespace))
        .filter_map(|a| {
            let r = a.spec.target().ok()?;
            Some(Controller::new(KIND, &a.metadata, target(namespace, &r)))
        });
    Ok(hpas.into_iter().chain(queues).chain(alarms).collect())
}

fn target(namespace: &str, r: &CrossVersionObjectReference) -> Target {
    Target::new(
        namespace,
        r.api_version.as_deref().unwrap_or_default(),
        &r.kind,
        &r.name,
    )
}

/// A failed list as the error reported: a refusal names the grant.
fn refused(e: ListError, resource: &'static str, group: &'static str, namespace: &str) -> Error {
    let grant = Grant::new(&["list"], resource, group, Some(namespace.to_owned()));
    match forbidden(e.source, grant) {
        Ok(refused) => Error::forbidden(KUBERNETES_FAILED, refused),
        Err(source) => Error::List(ListError {
            kind: e.kind,
            source,
        }),
    }
}
