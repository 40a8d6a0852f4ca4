//! Events on the unschedulable pods, as Cluster Autoscaler writes them: `NotTriggerScaleUp`
//! (Warning) on a pod no worker could ever host, `TriggeredScaleUp` (Normal) on the pods a
//! launch is for. Best effort, as client-go's recorder: a failure is logged, the run goes on.
//!
//! `NotTriggerScaleUp` is recorded once per pod while the API server keeps the Event (an
//! hour by default): its name is the pod's and a fixed suffix (`k8s_ops::events::
//! publish_once`), so a run a minute does not write one a minute. `TriggeredScaleUp` is
//! named after the run's time, so a retried delivery of the same tick records it once.
use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_ops::events::{self, EventSpec};

use crate::decide::{self, Observed, PendingPod, Policy};

const COMPONENT: &str = "node-autoscaler";
/// Events created at once.
const IN_FLIGHT: usize = 8;

/// The Events to record after a run: (pod, event, name suffix).
pub(super) fn verdicts<'a>(
    policy: &Policy,
    o: &'a Observed,
    launch: Option<(u32, u32)>,
) -> Vec<(&'a PendingPod, EventSpec, String)> {
    let (pods, estimate) = decide::up::due(policy, o);
    let mut out = Vec::new();
    for (i, why) in &estimate.never {
        let spec = EventSpec {
            warning: true,
            reason: "NotTriggerScaleUp".into(),
            message: format!("pod didn't trigger scale-up: {why}"),
            action: "ScaleUp".into(),
        };
        out.push((pods[*i], spec, "not-trigger-scale-up".to_owned()));
    }
    if let Some((from, to)) = launch {
        for &i in &estimate.placed {
            let spec = EventSpec {
                warning: false,
                reason: "TriggeredScaleUp".into(),
                message: format!(
                    "pod triggered scale-up: workers {from}->{to} (max: {})",
                    policy.max
                ),
                action: "ScaleUp".into(),
            };
            let key = format!("triggered-scale-up-{}", o.now.as_second());
            out.push((pods[i], spec, key));
        }
    }
    out
}

/// Records `events`; the number recorded.
pub(super) async fn record(
    kube: &kube::Client,
    events: Vec<(&PendingPod, EventSpec, String)>,
    now: Timestamp,
) -> usize {
    futures_util::stream::iter(events)
        .map(|(pod, spec, key)| async move {
            let regarding = ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                namespace: Some(pod.namespace.clone()),
                name: Some(pod.name.clone()),
                uid: Some(pod.uid.clone()),
                ..ObjectReference::default()
            };
            let reason = spec.reason.clone();
            match events::publish_once(kube, &regarding, COMPONENT, spec, now, &key).await {
                Ok(created) => created,
                Err(e) => {
                    tracing::warn!(pod = %format!("{}/{}", pod.namespace, pod.name), reason, error = %e, "event not recorded");
                    false
                }
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter(|created| std::future::ready(*created))
        .count()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::tests::{observed, pending, policy, two, unschedulable};

    #[test]
    fn the_pods_a_launch_is_for_and_those_no_worker_could_host() {
        let mut o = observed(two());
        pending(&mut o, 2, 1000, 0);
        o.unschedulable.push(unschedulable("huge", -600, 8000, 0));
        o.unschedulable.push(unschedulable("young", -10, 8000, 0));
        let shown = |launch| {
            verdicts(&policy(), &o, launch)
                .into_iter()
                .map(|(p, e, key)| (p.name.clone(), e.reason, e.warning, key))
                .collect::<Vec<_>>()
        };
        let never = (
            "huge".to_owned(),
            "NotTriggerScaleUp".to_owned(),
            true,
            "not-trigger-scale-up".to_owned(),
        );
        assert_eq!(
            shown(None),
            std::slice::from_ref(&never),
            "no launch: no TriggeredScaleUp"
        );
        let key = format!("triggered-scale-up-{}", o.now.as_second());
        let triggered = |name: &str| {
            (
                name.to_owned(),
                "TriggeredScaleUp".to_owned(),
                false,
                key.clone(),
            )
        };
        assert_eq!(
            shown(Some((2, 3))),
            [never, triggered("p0"), triggered("p1")],
            "a pod younger than PENDING_UP_SEC gets neither"
        );
        let (_, e, _) = verdicts(&policy(), &o, None).remove(0);
        assert_eq!(
            e.message,
            "pod didn't trigger scale-up: Insufficient cpu: requests 8000m, a worker has 2000m allocatable"
        );
    }
}
