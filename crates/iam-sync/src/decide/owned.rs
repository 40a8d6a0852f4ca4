//! The `IamUserGroup`s iam-sync writes: one per user and mapped IAM group it is a member of,
//! named `<user>-<group>` as the original's Lambda named them ([`record_name_for`]), labelled
//! [`OWNER_LABEL`](super::OWNER_LABEL). Only records iam-sync owns are ever updated or
//! deleted; a wanted name an unowned record holds is skipped (and reported), never taken over.
//!
//! | wanted | an owned record of that name | an unowned one | write |
//! |---|---|---|---|
//! | yes | none | none | create |
//! | yes | differs | — | update (if unchanged since read) |
//! | yes | same | — | nothing |
//! | yes | — | yes | nothing: skipped, reported |
//! | no (user left the group, old per-user name) | yes | — | delete (if unchanged since read) |
use std::collections::{BTreeMap, BTreeSet};

use k8s_ops::crd::iam_user_group::{IamUserGroupSpec, record_name_for};

use super::{IamUser, Seen};
use crate::mapping::Mapping;

/// A record iam-sync writes, as it should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    /// `iamUser` = the user's ARN, `username`, `iamGroups` = [the IAM group].
    pub spec: IamUserGroupSpec,
    pub user_arn: String,
    /// The Kubernetes groups the IAM group gives.
    pub kubernetes_groups: Vec<String>,
}

/// A record write. Updates and deletes carry the resourceVersion read: a record that changed
/// meanwhile (or changed hands) is refused by the API server, never overwritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordChange {
    Create(Record),
    Update {
        record: Record,
        resource_version: Option<String>,
    },
    Delete {
        name: String,
        resource_version: Option<String>,
    },
}

/// The record writes of a plan, and the wanted names an unowned record holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordPlan {
    pub changes: Vec<RecordChange>,
    pub skipped: Vec<String>,
}

/// The records of `user` (ARN `arn`, mapped as `username`): one per mapped IAM group it is in.
pub fn records_of(mapping: &Mapping, user: &IamUser, arn: &str, username: &str) -> Vec<Record> {
    let mut out: BTreeMap<String, Record> = BTreeMap::new();
    for group in &user.groups {
        let Some((group, kube)) = mapping.kubernetes_groups_of(group) else {
            continue;
        };
        let name = record_name_for(&user.name, &group);
        out.entry(name.clone()).or_insert_with(|| Record {
            name,
            spec: IamUserGroupSpec {
                iam_user: arn.to_owned(),
                username: username.to_owned(),
                iam_groups: vec![group],
            },
            user_arn: arn.to_owned(),
            kubernetes_groups: kube.into_iter().collect(),
        });
    }
    out.into_values().collect()
}

/// Whether an owned record is `user`'s (ARN `arn`): by the ARN it records, or by the name
/// records of earlier versions held in `iamUser`.
pub fn belongs_to(record: &Seen, user: &IamUser, arn: &str) -> bool {
    let is = |v: &str| v.eq_ignore_ascii_case(arn) || v.eq_ignore_ascii_case(&user.name);
    is(&record.spec.iam_user) || record.status.user_arn.as_deref().is_some_and(is)
}

fn differs(seen: &Seen, want: &Record) -> bool {
    seen.spec != want.spec
        || seen.status.user_arn.as_deref() != Some(want.user_arn.as_str())
        || seen.status.kubernetes_groups != want.kubernetes_groups
}

/// The writes that make the owned records among `observed` for which `in_scope` holds (all
/// of them for a resync, one user's for an event) exactly `wanted`: a wanted record is written
/// over any owned one of its name (the user's path changed, say), and only those in scope are
/// deleted. Unowned records are never written; a wanted name one of them holds is skipped.
pub fn plan_records(
    wanted: &[Record],
    observed: &[Seen],
    in_scope: impl Fn(&Seen) -> bool,
) -> RecordPlan {
    let owned: BTreeMap<&str, &Seen> = observed
        .iter()
        .filter(|s| s.owned)
        .map(|s| (s.name.as_str(), s))
        .collect();
    let unowned: BTreeSet<&str> = observed
        .iter()
        .filter(|s| !s.owned)
        .map(|s| s.name.as_str())
        .collect();
    let mut plan = RecordPlan::default();
    for w in wanted {
        if unowned.contains(w.name.as_str()) {
            plan.skipped.push(w.name.clone());
            continue;
        }
        match owned.get(w.name.as_str()) {
            None => plan.changes.push(RecordChange::Create(w.clone())),
            Some(seen) if differs(seen, w) => plan.changes.push(RecordChange::Update {
                record: w.clone(),
                resource_version: seen.resource_version.clone(),
            }),
            Some(_) => {}
        }
    }
    let wanted_names: BTreeSet<&str> = wanted.iter().map(|w| w.name.as_str()).collect();
    for (name, seen) in owned {
        if in_scope(seen) && !wanted_names.contains(name) {
            plan.changes.push(RecordChange::Delete {
                name: name.to_owned(),
                resource_version: seen.resource_version.clone(),
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use k8s_ops::crd::iam_user_group::IamUserGroupStatus;

    use super::*;

    const ARN: &str = "arn:aws:iam::111122223333:user/eng/alice";

    fn mapping() -> Mapping {
        Mapping::of(&[("developers", &["dev"]), ("QA", &["qa", "dev"])])
    }

    fn alice(groups: &[&str]) -> IamUser {
        IamUser {
            name: "alice".into(),
            path: "/eng/".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn seen(record: &Record, owned: bool) -> Seen {
        Seen {
            name: record.name.clone(),
            resource_version: Some("7".into()),
            owned,
            spec: record.spec.clone(),
            status: IamUserGroupStatus {
                user_arn: Some(record.user_arn.clone()),
                kubernetes_groups: record.kubernetes_groups.clone(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn one_record_per_mapped_group_named_as_the_original() {
        let records = records_of(
            &mapping(),
            &alice(&["qa", "developers", "finance"]),
            ARN,
            "al",
        );
        let got: Vec<(&str, &str, &[String], &[String])> = records
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.spec.iam_user.as_str(),
                    r.spec.iam_groups.as_slice(),
                    r.kubernetes_groups.as_slice(),
                )
            })
            .collect();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            [
                (
                    "alice-developers",
                    ARN,
                    &s(&["developers"])[..],
                    &s(&["dev"])[..]
                ),
                ("alice-qa", ARN, &s(&["QA"])[..], &s(&["dev", "qa"])[..]),
            ]
        );
        assert!(records.iter().all(|r| r.spec.username == "al"));
    }

    #[test]
    fn only_owned_records_are_written() {
        let m = mapping();
        let wanted = records_of(&m, &alice(&["developers", "QA"]), ARN, "alice");
        let (dev, qa) = (&wanted[0], &wanted[1]);
        let stale = Record {
            kubernetes_groups: vec![],
            ..dev.clone()
        };
        let legacy = Record {
            name: "alice".into(),
            spec: IamUserGroupSpec {
                iam_user: "alice".into(),
                username: "alice".into(),
                iam_groups: vec!["developers".into()],
            },
            user_arn: ARN.into(),
            kubernetes_groups: vec!["dev".into()],
        };
        let update = |r: &Record| RecordChange::Update {
            record: r.clone(),
            resource_version: Some("7".into()),
        };
        let delete = |name: &str| RecordChange::Delete {
            name: name.into(),
            resource_version: Some("7".into()),
        };
        // (observed, expected writes, expected skipped)
        let cases: Vec<(Vec<Seen>, Vec<RecordChange>, Vec<&str>)> = vec![
            (
                vec![],
                vec![
                    RecordChange::Create(dev.clone()),
                    RecordChange::Create(qa.clone()),
                ],
                vec![],
            ),
            (vec![seen(dev, true), seen(qa, true)], vec![], vec![]),
            (
                vec![seen(&stale, true), seen(qa, true)],
                vec![update(dev)],
                vec![],
            ),
            // The old per-user record converges to the new ones.
            (
                vec![seen(&legacy, true), seen(dev, true), seen(qa, true)],
                vec![delete("alice")],
                vec![],
            ),
            // Hand-applied under the wanted name: skipped, neither updated nor deleted.
            (
                vec![seen(&stale, false), seen(qa, true)],
                vec![],
                vec!["alice-developers"],
            ),
            // Unowned records iam-sync does not want are left alone.
            (
                vec![seen(dev, true), seen(qa, true), seen(&legacy, false)],
                vec![],
                vec![],
            ),
        ];
        for (i, (observed, changes, skipped)) in cases.into_iter().enumerate() {
            let plan = plan_records(&wanted, &observed, |_| true);
            assert_eq!(plan.changes, changes, "case {i}");
            assert_eq!(plan.skipped, skipped, "case {i}");
        }
    }

    #[test]
    fn an_event_judges_only_its_users_records() {
        let m = mapping();
        let a = alice(&["developers"]);
        let wanted = records_of(&m, &a, ARN, "alice");
        let bob = Record {
            name: "bob-developers".into(),
            spec: IamUserGroupSpec {
                iam_user: "arn:aws:iam::111122223333:user/bob".into(),
                username: "bob".into(),
                iam_groups: vec!["developers".into()],
            },
            user_arn: "arn:aws:iam::111122223333:user/bob".into(),
            kubernetes_groups: vec!["dev".into()],
        };
        let left_qa = records_of(&m, &alice(&["QA"]), ARN, "alice");
        let observed = [seen(&bob, true), seen(&left_qa[0], true)];
        let plan = plan_records(&wanted, &observed, |s| belongs_to(s, &a, ARN));
        assert_eq!(
            plan.changes,
            [
                RecordChange::Create(wanted[0].clone()),
                RecordChange::Delete {
                    name: "alice-qa".into(),
                    resource_version: Some("7".into())
                }
            ]
        );
        // Her path changed in IAM: her record of that name is rewritten, not created again.
        let moved = "arn:aws:iam::111122223333:user/ops/alice";
        let before = records_of(&m, &a, moved, "alice");
        let plan = plan_records(&wanted, &[seen(&before[0], true)], |s| {
            belongs_to(s, &a, ARN)
        });
        assert_eq!(
            plan.changes,
            [RecordChange::Update {
                record: wanted[0].clone(),
                resource_version: Some("7".into())
            }]
        );
    }
}
