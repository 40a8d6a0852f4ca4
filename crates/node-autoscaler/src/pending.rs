//! Which pods are scale-up demand, read from the API: those the scheduler tried and could not
//! place — PodScheduled False with reason Unschedulable — and what each needs of a node.
//! Merely Pending is not enough: a pod bound to a node and pulling its image (or in
//! ImagePullBackOff) has its node already.
//!
//! Left out, besides bound and finished pods:
//! - pods of another scheduler (`spec.schedulerName` other than `default-scheduler`): their
//!   scheduler's rules are not the ones modelled here, and it may place them by itself;
//! - pods with a nominated node (`status.nominatedNodeName`): the scheduler is preempting
//!   lower-priority pods to make room for them on that node.
use k8s_openapi::api::core::v1::{NodeSelectorRequirement, Pod};

use crate::cluster::requests;
use crate::decide::PendingPod;
use crate::decide::binpack::{Operator, PodNeeds, Requirement, Toleration};

/// The scheduler of pods that name none.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// `pod` as scale-up demand, or `None` when it is not (see the module's list).
pub fn unschedulable(pod: &Pod) -> Option<PendingPod> {
    let spec = pod.spec.as_ref()?;
    let status = pod.status.as_ref()?;
    if spec.node_name.is_some()
        || pod.metadata.deletion_timestamp.is_some()
        || spec.scheduler_name.as_deref().unwrap_or(DEFAULT_SCHEDULER) != DEFAULT_SCHEDULER
        || status
            .nominated_node_name
            .as_deref()
            .is_some_and(|n| !n.is_empty())
        || matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"))
    {
        return None;
    }
    let condition = status.conditions.as_ref()?.iter().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    })?;
    let since = condition
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))?;
    Some(PendingPod {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        since,
        needs: needs(pod),
    })
}

/// What `pod` needs of a node: requests, node selector, required node affinity,
/// tolerations.
pub fn needs(pod: &Pod) -> PodNeeds {
    let (cpu_milli, memory_bytes) = requests(pod);
    let mut out = PodNeeds {
        cpu_milli,
        memory_bytes,
        ..PodNeeds::default()
    };
    let Some(spec) = &pod.spec else { return out };
    out.node_selector = spec.node_selector.clone().unwrap_or_default();
    out.tolerations = spec
        .tolerations
        .iter()
        .flatten()
        .map(|t| Toleration {
            key: t.key.clone().filter(|k| !k.is_empty()),
            exists: t.operator.as_deref() == Some("Exists"),
            value: t.value.clone().unwrap_or_default(),
            effect: t.effect.clone().filter(|e| !e.is_empty()),
        })
        .collect();
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    if let Some(selector) = required {
        let mut terms = Vec::new();
        for term in &selector.node_selector_terms {
            if term.match_fields.as_ref().is_some_and(|f| !f.is_empty()) {
                out.unsupported = Some(
                    "required node affinity by matchFields is not modelled by the estimator".into(),
                );
            }
            let mut requirements = Vec::new();
            for e in term.match_expressions.iter().flatten() {
                match requirement(e) {
                    Some(r) => requirements.push(r),
                    None => {
                        out.unsupported = Some(format!(
                            "required node affinity operator {} is not modelled by the estimator",
                            e.operator
                        ));
                    }
                }
            }
            terms.push(requirements);
        }
        out.affinity = Some(terms);
    }
    out
}

fn requirement(e: &NodeSelectorRequirement) -> Option<Requirement> {
    let operator = match e.operator.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        _ => return None,
    };
    Some(Requirement {
        key: e.key.clone(),
        operator,
        values: e.values.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn pod(patch: Value) -> Pod {
        let mut p = json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u-1",
                         "creationTimestamp": "2027-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}]},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "lastTransitionTime": "2027-01-01T00:01:00Z"}]}
        });
        merge(&mut p, patch);
        serde_json::from_value(p).unwrap()
    }

    fn merge(a: &mut Value, b: Value) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    #[test]
    fn only_pods_the_scheduler_could_not_place_are_demand() {
        let scheduled = |status: &str, reason: &str| {
            json!({"status": {"conditions": [{"type": "PodScheduled", "status": status, "reason": reason,
                                              "lastTransitionTime": "2027-01-01T00:01:00Z"}]}})
        };
        let table = [
            ("unschedulable", json!({}), true),
            (
                "bound, pulling its image (Pending, PodScheduled True)",
                json!({"spec": {"nodeName": "n1"}, "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}}),
                false,
            ),
            (
                "bound, yet the condition says otherwise (stale)",
                json!({"spec": {"nodeName": "n1"}}),
                false,
            ),
            (
                "not tried by the scheduler yet",
                json!({"status": {"conditions": []}}),
                false,
            ),
            (
                "PodScheduled False for another reason",
                scheduled("False", "SchedulingGated"),
                false,
            ),
            ("scheduled", scheduled("True", ""), false),
            (
                "another scheduler's pod",
                json!({"spec": {"schedulerName": "volcano"}}),
                false,
            ),
            (
                "the default scheduler, named",
                json!({"spec": {"schedulerName": "default-scheduler"}}),
                true,
            ),
            (
                "nominated for a node (preemption)",
                json!({"status": {"nominatedNodeName": "n2"}}),
                false,
            ),
            (
                "being deleted",
                json!({"metadata": {"deletionTimestamp": "2027-01-01T00:02:00Z"}}),
                false,
            ),
            ("failed", json!({"status": {"phase": "Failed"}}), false),
        ];
        for (name, patch, want) in table {
            assert_eq!(unschedulable(&pod(patch)).is_some(), want, "{name}");
        }
        let p = unschedulable(&pod(json!({}))).unwrap();
        assert_eq!(
            (p.namespace.as_str(), p.name.as_str(), p.uid.as_str()),
            ("default", "p", "u-1")
        );
        assert_eq!(
            p.since.to_string(),
            "2027-01-01T00:01:00Z",
            "the condition's time"
        );
        assert_eq!((p.needs.cpu_milli, p.needs.memory_bytes), (500, 256 << 20));
    }

    #[test]
    fn selectors_affinity_and_tolerations_are_read() {
        let p = pod(json!({"spec": {
            "nodeSelector": {"pool": "gpu"},
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"},
                {"operator": "Exists"}
            ],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]},
                                          {"key": "spot", "operator": "DoesNotExist"}]},
                    {"matchExpressions": [{"key": "pool", "operator": "Exists"}]}
                ]}}}
        }}));
        let n = needs(&p);
        assert_eq!(n.node_selector["pool"], "gpu");
        assert_eq!(
            n.tolerations,
            [
                Toleration {
                    key: Some("dedicated".into()),
                    exists: false,
                    value: "batch".into(),
                    effect: Some("NoSchedule".into()),
                },
                Toleration {
                    key: None,
                    exists: true,
                    value: String::new(),
                    effect: None,
                },
            ]
        );
        let terms = n.affinity.unwrap();
        assert_eq!(terms.len(), 2);
        assert_eq!(
            terms[0][0],
            Requirement {
                key: "zone".into(),
                operator: Operator::In,
                values: vec!["a".into(), "b".into()],
            }
        );
        assert_eq!(terms[0][1].operator, Operator::DoesNotExist);
        assert_eq!(terms[1][0].operator, Operator::Exists);
        assert!(n.unsupported.is_none());

        for (name, term, want) in [
            (
                "Gt",
                json!({"matchExpressions": [{"key": "cpus", "operator": "Gt", "values": ["4"]}]}),
                "operator Gt",
            ),
            (
                "matchFields",
                json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}),
                "matchFields",
            ),
        ] {
            let p = pod(json!({"spec": {"affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}}}));
            let why = needs(&p).unsupported.unwrap_or_default();
            assert!(why.contains(want), "{name}: {why}");
        }
    }
}
