//! What becomes of each ScaledObject, pure: scaled like an SqsQueueScaler, held by KEDA's
//! pause annotations, left alone (an HPA already scales its Deployment: KEDA's own, or
//! another), skipped (not one aws-sqs-queue trigger, or a KEDA feature queue-scaler lacks:
//! never partly applied), or invalid (the error names the field).
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_ops::crd::keda::{ScaledObject, TriggerAuthentication};
use k8s_ops::crd::sqs_queue::ScaleTargetRef;
use k8s_ops::pause::{self, Pause};
use kube::ResourceExt;

use super::convert::{self, Converted, KedaError, SQS_TRIGGER};

/// KEDA's scale-to-a-count-and-hold annotation.
pub const PAUSED_REPLICAS: &str = pause::KEDA.paused_replicas;

/// KEDA annotations whose behaviour queue-scaler does not have: a ScaledObject that sets one
/// is skipped, since scaling it without would do what the annotation forbids.
const UNSUPPORTED: [&str; 3] = [
    "autoscaling.keda.sh/paused-scale-in",
    "autoscaling.keda.sh/paused-scale-out",
    "autoscaling.keda.sh/force-activation",
];

#[derive(Clone, Debug, PartialEq)]
pub enum Triage {
    /// Scaled as an SqsQueueScaler with this spec would be.
    Scale(Box<Converted>),
    /// Paused by annotation: the target is scaled to this count (`Some`), or held.
    Paused {
        target: ScaleTargetRef,
        replicas: Option<i32>,
    },
    /// An HPA scales its Deployment; why.
    LeftAlone(String),
    /// Not queue-scaler's to scale; why.
    Skipped(String),
    Invalid(KedaError),
}

/// What becomes of `so`, given the cluster's TriggerAuthentications and HPAs.
pub fn triage(
    so: &ScaledObject,
    auths: &[TriggerAuthentication],
    hpas: &[HorizontalPodAutoscaler],
) -> Triage {
    if let Some(why) = scaled_by_an_hpa(so, hpas) {
        return Triage::LeftAlone(why);
    }
    if let Some(why) = not_ours(so) {
        return Triage::Skipped(why);
    }
    match paused(so) {
        Ok(None) => {}
        Ok(Some(replicas)) => {
            return match convert::target(so) {
                Ok(target) => Triage::Paused { target, replicas },
                Err(e) => Triage::Invalid(e),
            };
        }
        Err(e) => return Triage::Invalid(e),
    }
    match convert::convert(so, auths) {
        Ok(converted) => Triage::Scale(Box::new(converted)),
        Err(e) => Triage::Invalid(e),
    }
}

/// Never fight another autoscaler: KEDA's HPA for this ScaledObject (KEDA runs it), or any
/// HPA scaling the same Deployment.
fn scaled_by_an_hpa(so: &ScaledObject, hpas: &[HorizontalPodAutoscaler]) -> Option<String> {
    let namespace = so.namespace();
    let kedas = so
        .spec
        .advanced
        .as_ref()
        .and_then(|a| a.horizontal_pod_autoscaler_config.as_ref())
        .and_then(|c| c.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("keda-hpa-{}", so.name_any()));
    let target = &so.spec.scale_target_ref.name;
    let kind = so
        .spec
        .scale_target_ref
        .kind
        .as_deref()
        .unwrap_or("Deployment");
    let same_namespace = hpas.iter().filter(|h| h.namespace() == namespace);
    for hpa in same_namespace {
        let name = hpa.name_any();
        if name == kedas {
            return Some(format!("HPA {name} exists: KEDA runs this ScaledObject"));
        }
        let scales = hpa.spec.as_ref().map(|s| &s.scale_target_ref);
        if scales.is_some_and(|r| r.kind == kind && r.name == *target) {
            return Some(format!("HPA {name} scales {kind} {target} already"));
        }
    }
    None
}

/// Whether `so` is one queue-scaler scales (when no HPA does): one `aws-sqs-queue` trigger
/// and no KEDA feature queue-scaler lacks.
pub fn is_ours(so: &ScaledObject) -> bool {
    not_ours(so).is_none()
}

/// Why `so` is not queue-scaler's to scale, if it is not.
fn not_ours(so: &ScaledObject) -> Option<String> {
    let triggers = &so.spec.triggers;
    if triggers.len() != 1 {
        return Some(format!(
            "{} triggers: queue-scaler scales a ScaledObject with one {SQS_TRIGGER} trigger only",
            triggers.len()
        ));
    }
    if triggers[0].type_ != SQS_TRIGGER {
        return Some(format!(
            "trigger type {}: queue-scaler scales {SQS_TRIGGER} triggers only",
            triggers[0].type_
        ));
    }
    let annotations = so.annotations();
    if let Some(name) = UNSUPPORTED
        .into_iter()
        .find(|a| annotations.get(*a).is_some_and(|v| keda_true(v)))
    {
        return Some(format!("annotation {name} is not supported"));
    }
    let modifiers = so
        .spec
        .advanced
        .as_ref()
        .and_then(|a| a.scaling_modifiers.as_ref());
    if modifiers.is_some_and(|m| !m.is_null() && m.as_object().is_none_or(|o| !o.is_empty())) {
        return Some("spec.advanced.scalingModifiers is not supported".into());
    }
    None
}

/// KEDA's pause, read as an SqsQueueScaler's is (`k8s_ops::pause` under KEDA's names):
/// `paused-replicas` (a count, which wins) or a `paused` that is not false. `Ok(None)`: not
/// paused; `Ok(Some(None))`: paused at the current replicas.
fn paused(so: &ScaledObject) -> Result<Option<Option<i32>>, KedaError> {
    match pause::read(so.annotations(), pause::KEDA) {
        Ok(Pause::Running) => Ok(None),
        Ok(Pause::Hold) => Ok(Some(None)),
        Ok(Pause::At(n)) => Ok(Some(Some(n))),
        Err(e) => Err(KedaError {
            at: format!("metadata.annotations[{:?}]", e.key),
            problem: format!("expected {}, got {:?}", e.expected, e.value),
        }),
    }
}

/// A boolean annotation as KEDA reads it: Go's `strconv.ParseBool`, anything else true.
fn keda_true(value: &str) -> bool {
    pause::go_bool(value) != Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const SQS: &str =
        r#"{"type": "aws-sqs-queue", "metadata": {"queueURL": "q", "awsRegion": "eu-west-1"}}"#;

    fn so(annotations: Value, spec: Value) -> ScaledObject {
        let mut s = json!({"scaleTargetRef": {"name": "worker"}, "triggers": [serde_json::from_str::<Value>(SQS).unwrap()]});
        for (k, v) in spec.as_object().unwrap() {
            s[k] = v.clone();
        }
        serde_json::from_value(json!({
            "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": "orders", "namespace": "jobs", "annotations": annotations},
            "spec": s
        }))
        .unwrap()
    }

    fn hpa(namespace: &str, name: &str, deployment: &str) -> HorizontalPodAutoscaler {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
                     "maxReplicas": 10}
        }))
        .unwrap()
    }

    fn outcome(t: Triage) -> String {
        match t {
            Triage::Scale(c) => format!("scale {}", c.spec.queue_url),
            Triage::Paused { target, replicas } => {
                format!("paused {} {} at {replicas:?}", target.kind, target.name)
            }
            Triage::LeftAlone(why) => format!("left alone: {why}"),
            Triage::Skipped(why) => format!("skipped: {why}"),
            Triage::Invalid(e) => format!("invalid: {e}"),
        }
    }

    #[test]
    fn table() {
        let none = json!({});
        let cron = json!({"triggers": [{"type": "cron", "metadata": {"timezone": "UTC"}}]});
        let two = json!({"triggers": [serde_json::from_str::<Value>(SQS).unwrap(), {"type": "cpu", "metadata": {"value": "50"}}]});
        let kedas = [hpa("jobs", "keda-hpa-orders", "worker")];
        let named = json!({"advanced": {"horizontalPodAutoscalerConfig": {"name": "orders-hpa"}}});
        #[rustfmt::skip]
        let cases: Vec<(&str, ScaledObject, Vec<HorizontalPodAutoscaler>, &str)> = vec![
            ("scaled", so(none.clone(), none.clone()), vec![], "scale q"),
            ("KEDA's HPA: left alone", so(none.clone(), none.clone()), kedas.to_vec(),
             "left alone: HPA keda-hpa-orders exists: KEDA runs this ScaledObject"),
            ("KEDA's HPA by its configured name", so(none.clone(), named.clone()), vec![hpa("jobs", "orders-hpa", "other")],
             "left alone: HPA orders-hpa exists: KEDA runs this ScaledObject"),
            ("the default name is not looked for when one is configured", so(none.clone(), named),
             vec![hpa("jobs", "keda-hpa-orders", "other")], "scale q"),
            ("another HPA on the Deployment", so(none.clone(), none.clone()), vec![hpa("jobs", "web", "worker")],
             "left alone: HPA web scales Deployment worker already"),
            ("HPAs elsewhere do not count", so(none.clone(), none.clone()),
             vec![hpa("other", "keda-hpa-orders", "worker"), hpa("jobs", "web", "frontend")], "scale q"),
            ("KEDA's HPA wins over a skip", so(none.clone(), cron.clone()), kedas.to_vec(),
             "left alone: HPA keda-hpa-orders exists: KEDA runs this ScaledObject"),
            ("another trigger type", so(none.clone(), cron), vec![],
             "skipped: trigger type cron: queue-scaler scales aws-sqs-queue triggers only"),
            ("two triggers: never partly applied", so(json!({"autoscaling.keda.sh/paused-replicas": "0"}), two), vec![],
             "skipped: 2 triggers: queue-scaler scales a ScaledObject with one aws-sqs-queue trigger only"),
            ("paused-scale-in", so(json!({"autoscaling.keda.sh/paused-scale-in": "true"}), none.clone()), vec![],
             "skipped: annotation autoscaling.keda.sh/paused-scale-in is not supported"),
            ("paused-scale-in false is no pause", so(json!({"autoscaling.keda.sh/paused-scale-in": "false"}), none.clone()), vec![],
             "scale q"),
            ("scaling modifiers", so(none.clone(), json!({"advanced": {"scalingModifiers": {"formula": "a + b", "target": "5"}}})), vec![],
             "skipped: spec.advanced.scalingModifiers is not supported"),
            ("paused-replicas scales and holds", so(json!({"autoscaling.keda.sh/paused-replicas": "0"}), none.clone()), vec![], "paused Deployment worker at Some(0)"),
            ("paused holds", so(json!({"autoscaling.keda.sh/paused": "true"}), none.clone()), vec![], "paused Deployment worker at None"),
            ("paused: any value but false pauses", so(json!({"autoscaling.keda.sh/paused": "yes"}), none.clone()), vec![], "paused Deployment worker at None"),
            ("paused: false does not", so(json!({"autoscaling.keda.sh/paused": "false"}), none.clone()), vec![], "scale q"),
            ("paused-replicas wins over paused", so(json!({"autoscaling.keda.sh/paused": "true", "autoscaling.keda.sh/paused-replicas": "3"}), none.clone()), vec![],
             "paused Deployment worker at Some(3)"),
            ("paused-replicas must be a count", so(json!({"autoscaling.keda.sh/paused-replicas": "two"}), none.clone()), vec![],
             r#"invalid: metadata.annotations["autoscaling.keda.sh/paused-replicas"]: expected a whole number ≥ 0, got "two""#),
            ("a paused StatefulSet is held", so(json!({"autoscaling.keda.sh/paused": "true"}), json!({"scaleTargetRef": {"name": "db", "kind": "StatefulSet"}})), vec![],
             "paused StatefulSet db at None"),
            ("a bad value is invalid", so(none.clone(), json!({"triggers": [{"type": "aws-sqs-queue", "metadata": {"queueURL": "q", "awsRegion": "r", "queueLength": "abc"}}]})), vec![],
             r#"invalid: spec.triggers[0].metadata.queueLength: expected an integer as a string, got "abc""#),
        ];
        for (name, s, hpas, want) in cases {
            assert_eq!(outcome(triage(&s, &[], &hpas)), want, "{name}");
        }
    }
}
