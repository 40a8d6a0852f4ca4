//! Events as Cluster Autoscaler writes them. On the unschedulable pods: `NotTriggerScaleUp`
//! (Warning) on a pod no worker could ever host, `TriggeredScaleUp` (Normal) on the pods a
//! launch is for. On a worker's Node: `ScaleDown` (Normal, "marked the node as
//! toBeDeleted/unschedulable") as its removal starts, `ScaleDownFailed` (Warning) when its
//! drain failed and the removal was rolled back. Best effort, as client-go's recorder: a
//! failure is logged, the run goes on.
//!
//! `NotTriggerScaleUp` is recorded once per pod while the API server keeps the Event (an
//! hour by default): its name is the pod's and a fixed suffix (`k8s_ops::events::
//! publish_once`), so a run a minute does not write one a minute. The others are named
//! after the run's time, so a retried delivery of the same tick records each once.
use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_ops::events::{self, EventSpec};

use crate::cluster::NodeInfo;
use crate::decide::{self, Observed, Policy};

const COMPONENT: &str = "node-autoscaler";
/// Events created at once.
const IN_FLIGHT: usize = 8;

/// An Event to record: about what, what, and its name's suffix.
pub(super) type Record = (ObjectReference, EventSpec, String);

/// The Events on unschedulable pods after a run.
pub(super) fn verdicts(policy: &Policy, o: &Observed, launch: Option<(u32, u32)>) -> Vec<Record> {
    let (pods, estimate) = decide::up::due(policy, o);
    let pod = |i: usize| ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: Some(pods[i].namespace.clone()),
        name: Some(pods[i].name.clone()),
        uid: Some(pods[i].uid.clone()),
        ..ObjectReference::default()
    };
    let mut out = Vec::new();
    for (i, why) in &estimate.never {
        let spec = EventSpec {
            warning: true,
            reason: "NotTriggerScaleUp".into(),
            message: format!("pod didn't trigger scale-up: {why}"),
            action: "ScaleUp".into(),
        };
        out.push((pod(*i), spec, "not-trigger-scale-up".to_owned()));
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
            out.push((pod(i), spec, key));
        }
    }
    out
}

/// The Event on a worker's Node as its removal starts (the run at `now`): CA's words, though
/// this cordon comes right after it rather than before.
pub(super) fn marked(node: &NodeInfo, now: Timestamp) -> Record {
    let spec = EventSpec {
        warning: false,
        reason: "ScaleDown".into(),
        message: "marked the node as toBeDeleted/unschedulable".into(),
        action: "ScaleDown".into(),
    };
    (
        node_ref(node),
        spec,
        format!("scale-down-{}", now.as_second()),
    )
}

/// The Event on a worker's Node whose drain failed: uncordoned, kept.
pub(super) fn drain_failed(node: &NodeInfo, now: Timestamp, why: &str) -> Record {
    let spec = EventSpec {
        warning: true,
        reason: "ScaleDownFailed".into(),
        message: format!("failed to drain the node, aborting ScaleDown: {why}"),
        action: "ScaleDown".into(),
    };
    let key = format!("scale-down-failed-{}", now.as_second());
    (node_ref(node), spec, key)
}

fn node_ref(node: &NodeInfo) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Node".into()),
        name: Some(node.name.clone()),
        uid: Some(node.uid.clone()),
        ..ObjectReference::default()
    }
}

/// Records `events`; the number recorded.
pub(super) async fn record(kube: &kube::Client, events: Vec<Record>, now: Timestamp) -> usize {
    futures_util::stream::iter(events)
        .map(|(regarding, spec, key)| async move {
            let reason = spec.reason.clone();
            match events::publish_once(kube, &regarding, COMPONENT, spec, now, &key).await {
                Ok(created) => created,
                Err(e) => {
                    let kind = regarding.kind.as_deref().unwrap_or_default();
                    let object = match &regarding.namespace {
                        Some(ns) => {
                            format!("{ns}/{}", regarding.name.as_deref().unwrap_or_default())
                        }
                        None => regarding.name.clone().unwrap_or_default(),
                    };
                    tracing::warn!(kind, object, reason, error = %e, "event not recorded");
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
                .map(|(p, e, key)| (p.name.unwrap_or_default(), e.reason, e.warning, key))
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

    #[test]
    fn a_removed_workers_node_gets_cas_scale_down_events_once_per_run() {
        let node = crate::cluster::NodeInfo {
            name: "w-1".into(),
            uid: "uid-w-1".into(),
            ..Default::default()
        };
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let shown = |(r, e, key): Record| {
            (
                r.kind.unwrap_or_default(),
                r.name.unwrap_or_default(),
                r.uid.unwrap_or_default(),
                r.namespace,
                e.reason,
                e.warning,
                e.message,
                key,
            )
        };
        let node_of = |reason: &str, warning, message: &str, key: &str| {
            (
                "Node".to_owned(),
                "w-1".to_owned(),
                "uid-w-1".to_owned(),
                None,
                reason.to_owned(),
                warning,
                message.to_owned(),
                key.to_owned(),
            )
        };
        assert_eq!(
            shown(marked(&node, now)),
            node_of(
                "ScaleDown",
                false,
                "marked the node as toBeDeleted/unschedulable",
                "scale-down-1700000000"
            )
        );
        assert_eq!(
            shown(drain_failed(
                &node,
                now,
                "pod default/db: PodDisruptionBudget"
            )),
            node_of(
                "ScaleDownFailed",
                true,
                "failed to drain the node, aborting ScaleDown: pod default/db: PodDisruptionBudget",
                "scale-down-failed-1700000000"
            )
        );
    }
}
