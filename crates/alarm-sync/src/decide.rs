//! The reconcile, pure: from the K8sMetricAlarms, the alarms CloudWatch holds under their
//! names, and the alarms carrying this cluster's marker tag, a [`Plan`]. No I/O.
//!
//! | observed | action |
//! |---|---|
//! | config invalid (JSON, unknown field, missing or inconsistent field) | none for that alarm; `Synced=False` naming the field |
//! | alarm name owned by an older resource (names are unique per region) | none; `Synced=False` on the younger |
//! | no alarm of that name | PutMetricAlarm with the tags |
//! | alarm differs in any field | PutMetricAlarm (the differing fields logged) |
//! | alarm lacks a wanted tag (PutMetricAlarm ignores tags on update) | TagResource |
//! | marked alarm that no resource names, whose owner is gone or names other alarms | DeleteAlarms |
//! | marked alarm whose owner has an invalid config | kept: its name cannot be known |
use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_ops::crd::metric_alarm::{Direction, K8sMetricAlarm, alarm_name_in, owner_of};
use kube::ResourceExt;

use crate::alarm::{self, AlarmSpec, Defaults};

/// Tag key marking an alarm as this suite's, with the cluster's name as value: only alarms
/// so marked are ever deleted, and only by the alarm-sync of that cluster.
pub const MARKER_TAG: &str = "k8s-lambda-autoscalers:cluster";
/// Tag key naming the owning resource, `<namespace>/<name>`.
pub const OWNER_TAG: &str = "k8s-lambda-autoscalers:k8smetricalarm";

/// An alarm CloudWatch holds, as DescribeAlarms reports it.
#[derive(Clone, Debug)]
pub struct Existing {
    pub arn: String,
    pub spec: AlarmSpec,
}

/// An alarm carrying this cluster's marker, as the tagging API reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Marked {
    pub arn: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

pub struct Observed<'a> {
    pub resources: &'a [K8sMetricAlarm],
    /// By alarm name, for every name the resources' configs give.
    pub existing: &'a HashMap<String, Existing>,
    pub marked: &'a [Marked],
}

pub struct Settings<'a> {
    pub cluster_name: &'a str,
    pub default_alarm_actions: &'a [String],
}

#[derive(Debug, Default)]
pub struct Plan {
    pub resources: Vec<ResourcePlan>,
    pub deletions: Vec<Deletion>,
}

#[derive(Debug)]
pub struct ResourcePlan {
    pub namespace: String,
    pub name: String,
    pub alarms: Vec<AlarmPlan>,
    /// Why some configured alarm is not synced, one per alarm, naming the field.
    pub problems: Vec<String>,
}

#[derive(Debug)]
pub struct AlarmPlan {
    pub direction: Direction,
    pub spec: AlarmSpec,
    /// The config's tags, then the marker and owner tags.
    pub tags: Vec<(String, String)>,
    /// The alarm's ARN if it exists.
    pub arn: Option<String>,
    pub put: Option<Put>,
    /// TagResource needed (an existing alarm lacks a wanted tag).
    pub retag: bool,
}

#[derive(Debug, PartialEq)]
pub enum Put {
    Create,
    Update(Vec<&'static str>),
}

#[derive(Debug, PartialEq)]
pub struct Deletion {
    pub name: String,
    pub arn: String,
    pub reason: String,
}

impl ResourcePlan {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl AlarmPlan {
    /// The name logged as `decision`.
    pub fn decision(&self) -> &'static str {
        match (&self.put, self.retag) {
            (Some(Put::Create), _) => "create_alarm",
            (Some(Put::Update(_)), _) => "update_alarm",
            (None, true) => "retag_alarm",
            (None, false) => "in_sync",
        }
    }
}

fn config_field(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "scaleUpAlarmConfig",
        Direction::Down => "scaleDownAlarmConfig",
    }
}

pub fn decide(observed: &Observed<'_>, settings: &Settings<'_>) -> Plan {
    let marked_tags: HashMap<&str, &BTreeMap<String, String>> = observed
        .marked
        .iter()
        .map(|m| (m.name.as_str(), &m.tags))
        .collect();
    let defaults = Defaults {
        alarm_actions: settings.default_alarm_actions,
    };
    let mut plan = Plan::default();
    // Owners whose alarm names cannot all be read: their marked alarms are never deleted.
    let mut unsure_owners = BTreeSet::new();
    for resource in observed.resources {
        let key = format!(
            "{}/{}",
            resource.namespace().unwrap_or_default(),
            resource.name_any()
        );
        let mut rp = ResourcePlan {
            namespace: resource.namespace().unwrap_or_default(),
            name: resource.name_any(),
            alarms: Vec::new(),
            problems: Vec::new(),
        };
        for direction in [Direction::Up, Direction::Down] {
            let Some(json) = resource.spec.alarm_config(direction) else {
                continue;
            };
            let field = config_field(direction);
            let config = match alarm::parse(json) {
                Ok(config) => config,
                Err(e) => {
                    rp.problems.push(format!("{field}: {e}"));
                    unsure_owners.insert(key.clone());
                    continue;
                }
            };
            match owner_of(observed.resources, &config.alarm_name) {
                Some((owner, d)) if std::ptr::eq(owner, resource) && d == direction => {}
                Some((owner, d)) if std::ptr::eq(owner, resource) => {
                    rp.problems.push(format!(
                        "{field}: AlarmName {:?} is also {}'s; the two alarms need distinct names",
                        config.alarm_name,
                        config_field(d)
                    ));
                    continue;
                }
                Some((owner, _)) => {
                    rp.problems.push(format!(
                        "{field}: AlarmName {:?} already belongs to k8smetricalarm {}/{} (alarm names are unique per account and region)",
                        config.alarm_name,
                        owner.namespace().unwrap_or_default(),
                        owner.name_any()
                    ));
                    continue;
                }
                None => unreachable!("the resource names this alarm"),
            }
            let spec = config.to_spec(&defaults);
            let mut tags: Vec<(String, String)> = config
                .tags()
                .into_iter()
                .filter(|(k, _)| k != MARKER_TAG && k != OWNER_TAG)
                .collect();
            tags.push((MARKER_TAG.into(), settings.cluster_name.into()));
            tags.push((OWNER_TAG.into(), key.clone()));
            let existing = observed.existing.get(&spec.name);
            let put = match existing {
                None => Some(Put::Create),
                Some(e) => {
                    let fields = spec.differences(&e.spec);
                    (!fields.is_empty()).then_some(Put::Update(fields))
                }
            };
            let retag = existing.is_some() && {
                let have = marked_tags.get(spec.name.as_str());
                !tags
                    .iter()
                    .all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v))
            };
            rp.alarms.push(AlarmPlan {
                direction,
                arn: existing.map(|e| e.arn.clone()),
                spec,
                tags,
                put,
                retag,
            });
        }
        plan.resources.push(rp);
    }
    let named: BTreeSet<String> = observed
        .resources
        .iter()
        .flat_map(|r| [Direction::Up, Direction::Down].map(|d| r.spec.alarm_config(d)))
        .flatten()
        .filter_map(alarm_name_in)
        .collect();
    let resources: BTreeSet<String> = plan.resources.iter().map(ResourcePlan::key).collect();
    for m in observed.marked {
        if named.contains(&m.name) {
            continue;
        }
        let Some(owner) = m.tags.get(OWNER_TAG) else {
            continue;
        };
        if unsure_owners.contains(owner) {
            continue;
        }
        let reason = if resources.contains(owner) {
            format!("k8smetricalarm {owner} no longer names it")
        } else {
            format!("k8smetricalarm {owner} no longer exists")
        };
        plan.deletions.push(Deletion {
            name: m.name.clone(),
            arn: m.arn.clone(),
            reason,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_ops::crd::metric_alarm::K8sMetricAlarmSpec;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:suite";

    fn config(name: &str, threshold: f64) -> String {
        format!(
            r#"{{"AlarmName":"{name}","EvaluationPeriods":2,"Threshold":{threshold},
                "ComparisonOperator":"GreaterThanThreshold","MetricName":"depth","Namespace":"App",
                "Statistic":"Average","Period":60,"Tags":[{{"Key":"team","Value":"web"}}]}}"#
        )
    }

    fn resource(
        ns: &str,
        name: &str,
        created: i64,
        up: Option<String>,
        down: Option<String>,
    ) -> K8sMetricAlarm {
        let mut r = K8sMetricAlarm::new(
            name,
            K8sMetricAlarmSpec {
                deployment: Some("web".into()),
                min_replicas: 1,
                max_replicas: 4,
                scale_up_behavior: None,
                scale_down_behavior: None,
                scale_up_alarm_config: up,
                scale_down_alarm_config: down,
                ..Default::default()
            },
        );
        r.metadata.namespace = Some(ns.into());
        r.metadata.creation_timestamp = Some(Time(jiff::Timestamp::from_second(created).unwrap()));
        r
    }

    fn existing(json: &str) -> Existing {
        let spec = alarm::parse(json).unwrap().to_spec(&Defaults {
            alarm_actions: &[TOPIC.to_string()],
        });
        Existing {
            arn: format!(
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{}",
                spec.name
            ),
            spec,
        }
    }

    fn marked(name: &str, owner: Option<&str>, extra: &[(&str, &str)]) -> Marked {
        let mut tags: BTreeMap<String, String> =
            [(MARKER_TAG.to_string(), "demo".to_string())].into();
        if let Some(owner) = owner {
            tags.insert(OWNER_TAG.into(), owner.into());
        }
        tags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Marked {
            arn: format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"),
            name: name.into(),
            tags,
        }
    }

    fn run(resources: &[K8sMetricAlarm], existing: &[Existing], marked: &[Marked]) -> Plan {
        let existing = existing
            .iter()
            .map(|e| (e.spec.name.clone(), e.clone()))
            .collect();
        let topic = [TOPIC.to_string()];
        decide(
            &Observed {
                resources,
                existing: &existing,
                marked,
            },
            &Settings {
                cluster_name: "demo",
                default_alarm_actions: &topic,
            },
        )
    }

    #[test]
    fn missing_alarms_are_created_changed_ones_updated_equal_ones_left() {
        let r = resource(
            "web",
            "rate",
            1,
            Some(config("up", 10.0)),
            Some(config("down", 2.0)),
        );
        let plan = run(
            std::slice::from_ref(&r),
            &[existing(&config("down", 3.0))],
            &[marked("down", Some("web/rate"), &[("team", "web")])],
        );
        let alarms = &plan.resources[0].alarms;
        assert_eq!(alarms[0].put, Some(Put::Create));
        assert_eq!(alarms[0].decision(), "create_alarm");
        assert_eq!(alarms[0].spec.alarm_actions, [TOPIC]);
        assert_eq!(alarms[1].put, Some(Put::Update(vec!["Threshold"])));
        assert!(!alarms[1].retag);
        assert!(plan.resources[0].problems.is_empty());
        assert!(plan.deletions.is_empty());

        let same = run(
            std::slice::from_ref(&r),
            &[
                existing(&config("up", 10.0)),
                existing(&config("down", 2.0)),
            ],
            &[
                marked("up", Some("web/rate"), &[("team", "web")]),
                marked("down", Some("web/rate"), &[("team", "web")]),
            ],
        );
        let decisions: Vec<_> = same.resources[0]
            .alarms
            .iter()
            .map(AlarmPlan::decision)
            .collect();
        assert_eq!(decisions, ["in_sync", "in_sync"]);
    }

    #[test]
    fn existing_alarms_without_our_tags_are_retagged() {
        // Adopted from the original operator: right config, no marker.
        let r = resource("web", "rate", 1, Some(config("up", 10.0)), None);
        let plan = run(
            std::slice::from_ref(&r),
            &[existing(&config("up", 10.0))],
            &[],
        );
        let a = &plan.resources[0].alarms[0];
        assert_eq!((a.put.as_ref(), a.retag), (None, true));
        let want: Vec<(String, String)> = [
            ("team", "web"),
            (MARKER_TAG, "demo"),
            (OWNER_TAG, "web/rate"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        assert_eq!(a.tags, want);
        // Marked, but for another owner (the resource was renamed): retagged too.
        let moved = run(
            std::slice::from_ref(&r),
            &[existing(&config("up", 10.0))],
            &[marked("up", Some("web/old"), &[("team", "web")])],
        );
        assert!(moved.resources[0].alarms[0].retag);
        assert!(moved.deletions.is_empty(), "a named alarm is never deleted");
    }

    #[test]
    fn invalid_configs_and_contested_names_are_reported_not_synced() {
        let older = resource("a", "first", 1, Some(config("shared", 1.0)), None);
        let younger = resource(
            "b",
            "second",
            2,
            Some(config("shared", 1.0)),
            Some(config("b-low", 1.0)),
        );
        let broken = resource(
            "c",
            "typo",
            3,
            Some(r#"{"AlarmName":"c-high","Threshhold":1}"#.into()),
            None,
        );
        let twice = resource(
            "d",
            "twice",
            4,
            Some(config("same", 1.0)),
            Some(config("same", 2.0)),
        );
        let plan = run(&[older, younger, broken, twice], &[], &[]);
        let by_name = |n: &str| plan.resources.iter().find(|r| r.name == n).unwrap();
        assert_eq!(by_name("first").alarms.len(), 1);
        assert!(by_name("first").problems.is_empty());
        let second = by_name("second");
        assert_eq!(second.alarms.len(), 1, "its other alarm still syncs");
        assert!(second.problems[0].starts_with(
            "scaleUpAlarmConfig: AlarmName \"shared\" already belongs to k8smetricalarm a/first"
        ));
        let typo = by_name("typo");
        assert!(typo.alarms.is_empty());
        assert!(
            typo.problems[0].contains("scaleUpAlarmConfig: unknown field `Threshhold`"),
            "{:?}",
            typo.problems
        );
        assert!(
            by_name("twice").problems[0].starts_with(
                "scaleDownAlarmConfig: AlarmName \"same\" is also scaleUpAlarmConfig's"
            )
        );
    }

    #[test]
    fn marked_alarms_nobody_names_are_deleted_unless_the_owner_is_unreadable() {
        let r = resource("web", "rate", 1, Some(config("up", 10.0)), None);
        let broken = resource("web", "broken", 2, Some("{not json".into()), None);
        let plan = run(
            &[r, broken],
            &[existing(&config("up", 10.0))],
            &[
                marked("up", Some("web/rate"), &[("team", "web")]),
                marked("old-down", Some("web/rate"), &[]),
                marked("gone-up", Some("web/deleted"), &[]),
                marked("maybe", Some("web/broken"), &[]),
                marked("anonymous", None, &[]),
            ],
        );
        assert_eq!(
            plan.deletions,
            [
                Deletion {
                    name: "old-down".into(),
                    arn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:old-down".into(),
                    reason: "k8smetricalarm web/rate no longer names it".into(),
                },
                Deletion {
                    name: "gone-up".into(),
                    arn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:gone-up".into(),
                    reason: "k8smetricalarm web/deleted no longer exists".into(),
                },
            ]
        );
    }
}
