//! The fallback for an alarm no K8sMetricAlarm names, pure: the original function found an
//! alarm's K8sMetricAlarm through the alarm's `kubernetes-name` and `kubernetes-namespace`
//! tags (its operator tagged the alarms it created so), and took the direction from the
//! alarm's comparison operator (`GreaterThan…` up, `LessThan…` down). No I/O: the caller reads
//! the tags (one ListTagsForResource, only when no resource names the alarm).
//!
//! The tags name a K8sMetricAlarm; tags naming a Deployment instead are accepted when exactly
//! one K8sMetricAlarm of that namespace scales it through `spec.deployment` (the original's
//! field: a resource with `spec.scaleTargetRef` is found by its own name only). The resource carries the scaling spec
//! (bounds, policies, cooldowns): an alarm whose tags lead to none is an error naming what is
//! missing, never a guess.
use k8s_ops::crd::metric_alarm::{Direction, K8sMetricAlarm};
use kube::ResourceExt;

pub const NAME: &str = "kubernetes-name";
pub const NAMESPACE: &str = "kubernetes-namespace";

/// Where an alarm's tags point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tagged {
    pub namespace: String,
    pub name: String,
}

/// The `kubernetes-namespace`/`kubernetes-name` pair of `tags`, or why they hold none.
pub fn tagged(tags: &[(String, String)]) -> Result<Tagged, String> {
    let value = |key: &str| {
        tags.iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    match (value(NAMESPACE), value(NAME)) {
        (Some(namespace), Some(name)) => Ok(Tagged { namespace, name }),
        (None, None) => Err(format!("it has no {NAME}/{NAMESPACE} tags")),
        (Some(_), None) => Err(format!("its tags lack {NAME}")),
        (None, Some(_)) => Err(format!("its tags lack {NAMESPACE}")),
    }
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unresolved {
    #[error(
        "alarm {alarm}: no K8sMetricAlarm names it, and its tags ({NAMESPACE}={namespace}, \
         {NAME}={name}) lead to none: there is no K8sMetricAlarm {namespace}/{name}, and none in \
         namespace {namespace} scales a Deployment {name}; create the K8sMetricAlarm (it holds \
         minReplicas, maxReplicas and the step policies)"
    )]
    NoResource {
        alarm: String,
        namespace: String,
        name: String,
    },
    #[error(
        "alarm {alarm}: its tags ({NAMESPACE}={namespace}, {NAME}={name}) name no \
         K8sMetricAlarm, and several in namespace {namespace} scale Deployment {name} \
         ({candidates}); tag the alarm with the K8sMetricAlarm's name"
    )]
    Ambiguous {
        alarm: String,
        namespace: String,
        name: String,
        candidates: String,
    },
    #[error(
        "alarm {alarm}: found k8smetricalarm {resource} by the alarm's tags, but it names the \
         alarm in neither scaleUpAlarmConfig nor scaleDownAlarmConfig, and {why}; name the \
         alarm in one of them"
    )]
    NoDirection {
        alarm: String,
        resource: String,
        why: String,
    },
}

/// The resource `tagged` leads to among `resources`, and the direction `alarm` scales it in:
/// the resource's own config's if it names the alarm, else its `comparison` operator's.
pub fn resolve<'r>(
    tagged: &Tagged,
    resources: &'r [K8sMetricAlarm],
    alarm: &str,
    comparison: Option<&str>,
) -> Result<(&'r K8sMetricAlarm, Direction), Unresolved> {
    let in_namespace = |r: &&K8sMetricAlarm| r.namespace().as_deref() == Some(&tagged.namespace);
    let by_name = resources
        .iter()
        .filter(in_namespace)
        .find(|r| r.name_any() == tagged.name);
    let resource = match by_name {
        Some(r) => r,
        None => {
            let scaling: Vec<&K8sMetricAlarm> = resources
                .iter()
                .filter(in_namespace)
                .filter(|r| r.spec.deployment.as_deref() == Some(tagged.name.as_str()))
                .collect();
            match scaling.as_slice() {
                [one] => *one,
                [] => {
                    return Err(Unresolved::NoResource {
                        alarm: alarm.into(),
                        namespace: tagged.namespace.clone(),
                        name: tagged.name.clone(),
                    });
                }
                several => {
                    let mut names: Vec<String> = several.iter().map(|r| r.name_any()).collect();
                    names.sort();
                    return Err(Unresolved::Ambiguous {
                        alarm: alarm.into(),
                        namespace: tagged.namespace.clone(),
                        name: tagged.name.clone(),
                        candidates: names.join(", "),
                    });
                }
            }
        }
    };
    if let Some(direction) = resource.spec.direction_of(alarm) {
        return Ok((resource, direction));
    }
    match comparison.map(|op| (op, direction_of_operator(op))) {
        Some((_, Some(direction))) => Ok((resource, direction)),
        Some((op, None)) => Err(Unresolved::NoDirection {
            alarm: alarm.into(),
            resource: format!("{}/{}", tagged.namespace, resource.name_any()),
            why: format!(
                "its ComparisonOperator {op} is neither GreaterThan(OrEqualTo)Threshold (up) \
                 nor LessThan(OrEqualTo)Threshold (down)"
            ),
        }),
        None => Err(Unresolved::NoDirection {
            alarm: alarm.into(),
            resource: format!("{}/{}", tagged.namespace, resource.name_any()),
            why: "the event carries no ComparisonOperator to tell the direction by (only an \
                  alarm message, through SNS or alone, does)"
                .into(),
        }),
    }
}

/// The original's reading of a comparison operator: above a threshold scales up, below it
/// down. Anomaly-band operators tell no direction.
pub fn direction_of_operator(operator: &str) -> Option<Direction> {
    match operator {
        "GreaterThanThreshold" | "GreaterThanOrEqualToThreshold" => Some(Direction::Up),
        "LessThanThreshold" | "LessThanOrEqualToThreshold" => Some(Direction::Down),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_ops::crd::metric_alarm::K8sMetricAlarmSpec;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn resource(ns: &str, name: &str, deployment: &str, up_alarm: Option<&str>) -> K8sMetricAlarm {
        let mut r = K8sMetricAlarm::new(
            name,
            K8sMetricAlarmSpec {
                deployment: Some(deployment.into()),
                min_replicas: 1,
                max_replicas: 5,
                scale_up_alarm_config: up_alarm.map(|a| format!(r#"{{"AlarmName":"{a}"}}"#)),
                ..Default::default()
            },
        );
        r.metadata.namespace = Some(ns.into());
        r
    }

    #[test]
    fn both_tags_are_needed() {
        // (tags, (namespace, name) they point to, or why none)
        type Case = (
            &'static [(&'static str, &'static str)],
            Result<(&'static str, &'static str), &'static str>,
        );
        let cases: &[Case] = &[
            (
                &[
                    ("kubernetes-name", "orders-backlog"),
                    ("kubernetes-namespace", "orders"),
                    ("team", "x"),
                ],
                Ok(("orders", "orders-backlog")),
            ),
            (
                &[],
                Err("it has no kubernetes-name/kubernetes-namespace tags"),
            ),
            (
                &[("team", "x")],
                Err("it has no kubernetes-name/kubernetes-namespace tags"),
            ),
            (
                &[("kubernetes-name", "a")],
                Err("its tags lack kubernetes-namespace"),
            ),
            (
                &[("kubernetes-namespace", "a")],
                Err("its tags lack kubernetes-name"),
            ),
            (
                &[("kubernetes-name", ""), ("kubernetes-namespace", "a")],
                Err("its tags lack kubernetes-name"),
            ),
        ];
        for (pairs, want) in cases {
            let got = tagged(&tags(pairs));
            let want = want
                .map(|(namespace, name)| Tagged {
                    namespace: namespace.into(),
                    name: name.into(),
                })
                .map_err(str::to_owned);
            assert_eq!(got, want, "{pairs:?}");
        }
    }

    #[test]
    fn tags_lead_to_a_resource_and_the_operator_to_a_direction() {
        use Direction::*;
        let resources = vec![
            resource("orders", "orders-backlog", "orders-worker", None),
            resource("orders", "named", "orders-api", Some("orders:latency+high")),
            resource("web", "orders-backlog", "web", None),
            resource("shop", "a", "cart", None),
            resource("shop", "b", "cart", None),
        ];
        let to = |ns: &str, name: &str| Tagged {
            namespace: ns.into(),
            name: name.into(),
        };
        // (tags point to, alarm, comparison, resource found and direction, or the error's text)
        type Case = (
            Tagged,
            &'static str,
            Option<&'static str>,
            Result<(&'static str, Direction), &'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                to("orders", "orders-backlog"),
                "x",
                Some("GreaterThanThreshold"),
                Ok(("orders/orders-backlog", Up)),
            ),
            (
                to("orders", "orders-backlog"),
                "x",
                Some("GreaterThanOrEqualToThreshold"),
                Ok(("orders/orders-backlog", Up)),
            ),
            (
                to("orders", "orders-backlog"),
                "x",
                Some("LessThanThreshold"),
                Ok(("orders/orders-backlog", Down)),
            ),
            (
                to("orders", "orders-backlog"),
                "x",
                Some("LessThanOrEqualToThreshold"),
                Ok(("orders/orders-backlog", Down)),
            ),
            // The namespace matters: web/orders-backlog is another resource.
            (
                to("web", "orders-backlog"),
                "x",
                Some("LessThanThreshold"),
                Ok(("web/orders-backlog", Down)),
            ),
            // Tags naming the Deployment: the one resource scaling it.
            (
                to("orders", "orders-worker"),
                "x",
                Some("GreaterThanThreshold"),
                Ok(("orders/orders-backlog", Up)),
            ),
            // The resource names the alarm: its config says the direction, whatever the operator.
            (
                to("orders", "named"),
                "orders:latency+high",
                Some("LessThanThreshold"),
                Ok(("orders/named", Up)),
            ),
            (
                to("orders", "named"),
                "orders:latency+high",
                None,
                Ok(("orders/named", Up)),
            ),
            (
                to("orders", "missing"),
                "x",
                Some("GreaterThanThreshold"),
                Err(
                    "there is no K8sMetricAlarm orders/missing, and none in namespace orders scales a Deployment missing",
                ),
            ),
            (
                to("elsewhere", "orders-backlog"),
                "x",
                Some("GreaterThanThreshold"),
                Err("there is no K8sMetricAlarm elsewhere/orders-backlog"),
            ),
            (
                to("shop", "cart"),
                "x",
                Some("GreaterThanThreshold"),
                Err("several in namespace shop scale Deployment cart (a, b)"),
            ),
            (
                to("orders", "orders-backlog"),
                "x",
                None,
                Err(
                    "found k8smetricalarm orders/orders-backlog by the alarm's tags, but it names the alarm in neither scaleUpAlarmConfig nor scaleDownAlarmConfig, and the event carries no ComparisonOperator",
                ),
            ),
            (
                to("orders", "orders-backlog"),
                "x",
                Some("LessThanLowerOrGreaterThanUpperThreshold"),
                Err("its ComparisonOperator LessThanLowerOrGreaterThanUpperThreshold is neither"),
            ),
        ];
        for (i, (tagged, alarm, comparison, want)) in cases.into_iter().enumerate() {
            let got = resolve(&tagged, &resources, alarm, comparison);
            match (got, want) {
                (Ok((r, d)), Ok((key, direction))) => {
                    let found = format!("{}/{}", r.namespace().unwrap(), r.name_any());
                    assert_eq!((found.as_str(), d), (key, direction), "case {i}");
                }
                (Err(e), Err(text)) => {
                    assert!(e.to_string().contains(text), "case {i}: {e}");
                    assert!(
                        e.to_string().starts_with(&format!("alarm {alarm}: ")),
                        "case {i}: {e}"
                    );
                }
                (got, want) => panic!("case {i}: got {got:?}, want {want:?}"),
            }
        }
    }
}
