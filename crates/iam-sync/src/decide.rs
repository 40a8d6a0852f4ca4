//! The policy, pure: from IAM's truth (a user's groups) and what a backend holds (the user's
//! entry), the one change that converges the entry. The same rule serves an event (one user)
//! and the resync (every member of every mapped group, plus every entry of this account's
//! users that holds a managed group), so duplicate and out-of-order events, and missed ones,
//! all end where IAM is.
//!
//! | IAM says (mapped groups → Kubernetes groups) | entry | change |
//! |---|---|---|
//! | some | none | create: username = IAM user name, groups = the mapped groups |
//! | some | other groups | update: the entry's unmanaged groups + the mapped groups |
//! | none (or the user is gone) | only managed groups | delete |
//! | none | managed + unmanaged groups | update: the unmanaged groups only |
//! | anything | already right (as a set) | nothing |
//!
//! The `IamUserGroup` records follow: an event writes its user's ([`event_record`]), the
//! resync makes every record right ([`resync_records`], [`plan_records`]).
use std::collections::{BTreeMap, BTreeSet};

use k8s_ops::crd::iam_user_group::{IamUserGroupSpec, record_name};
use serde::Serialize;

use crate::mapping::Mapping;

/// A Kubernetes identity as a backend holds it (a mapUsers entry, an access entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub arn: String,
    pub username: String,
    pub groups: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Change {
    Create { to: Identity },
    Update { from: Identity, to: Identity },
    Delete { from: Identity },
}

impl Change {
    pub fn arn(&self) -> &str {
        match self {
            Change::Create { to } | Change::Update { to, .. } => &to.arn,
            Change::Delete { from } => &from.arn,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Change::Create { .. } => "create",
            Change::Update { .. } => "update",
            Change::Delete { .. } => "delete",
        }
    }
}

/// An IAM user as IAM reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IamUser {
    /// As IAM spells it.
    pub name: String,
    /// `/` or `/division/team/`.
    pub path: String,
    /// Its IAM groups (mapped or not).
    pub groups: Vec<String>,
}

/// `arn:<partition>:iam::<account>:user<path><name>`.
pub fn user_arn(partition: &str, account: &str, path: &str, name: &str) -> String {
    let path = if path.starts_with('/') && path.ends_with('/') {
        path
    } else {
        "/"
    };
    format!("arn:{partition}:iam::{account}:user{path}{name}")
}

/// The ARN prefix of every user of an account.
pub fn user_prefix(partition: &str, account: &str) -> String {
    format!("arn:{partition}:iam::{account}:user/")
}

/// The name part of a user ARN (after the path).
pub fn arn_user_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// What one user should look like: the Kubernetes groups its mapped IAM groups give.
pub fn desired_groups(mapping: &Mapping, user: Option<&IamUser>) -> BTreeSet<String> {
    user.map(|u| mapping.resolve(u.groups.iter().map(String::as_str)).1)
        .unwrap_or_default()
}

/// The change that makes `observed` (the user's entry, if any) give exactly `desired` among
/// the managed groups, keeping the others. `None`: nothing to do.
pub fn converge(
    mapping: &Mapping,
    arn: &str,
    username: &str,
    desired: &BTreeSet<String>,
    observed: Option<&Identity>,
) -> Option<Change> {
    let Some(o) = observed else {
        return (!desired.is_empty()).then(|| Change::Create {
            to: Identity {
                arn: arn.to_owned(),
                username: username.to_owned(),
                groups: desired.iter().cloned().collect(),
            },
        });
    };
    let mut groups: Vec<String> = o
        .groups
        .iter()
        .filter(|g| !mapping.managed().contains(*g))
        .cloned()
        .collect();
    for g in desired {
        if !groups.contains(g) {
            groups.push(g.clone());
        }
    }
    let same = groups.iter().collect::<BTreeSet<_>>() == o.groups.iter().collect::<BTreeSet<_>>();
    if same {
        None
    } else if groups.is_empty() {
        Some(Change::Delete { from: o.clone() })
    } else {
        Some(Change::Update {
            from: o.clone(),
            to: Identity {
                groups,
                ..o.clone()
            },
        })
    }
}

/// The entry of `arn` among `observed` (ARNs compared ignoring case; the last one counts, as
/// for the authenticator).
pub fn find<'a>(observed: &'a [Identity], arn: &str) -> Option<&'a Identity> {
    observed
        .iter()
        .rev()
        .find(|i| i.arn.eq_ignore_ascii_case(arn))
}

/// The entry of a user IAM no longer knows (path unknown): any user ARN of the account with
/// that name.
pub fn find_by_name<'a>(
    observed: &'a [Identity],
    prefix: &str,
    name: &str,
) -> Option<&'a Identity> {
    observed.iter().rev().find(|i| {
        i.arn.len() > prefix.len()
            && i.arn[..prefix.len()].eq_ignore_ascii_case(prefix)
            && arn_user_name(&i.arn).eq_ignore_ascii_case(name)
    })
}

/// One user's change, for an event: `user` is `None` when IAM no longer knows `name`.
pub fn plan_user(
    mapping: &Mapping,
    partition: &str,
    account: &str,
    name: &str,
    user: Option<&IamUser>,
    observed: &[Identity],
) -> Option<Change> {
    let desired = desired_groups(mapping, user);
    match user {
        Some(u) => {
            let arn = user_arn(partition, account, &u.path, &u.name);
            converge(mapping, &arn, &u.name, &desired, find(observed, &arn))
        }
        None => {
            let prefix = user_prefix(partition, account);
            let o = find_by_name(observed, &prefix, name)?;
            converge(mapping, &o.arn, &o.username, &desired, Some(o))
        }
    }
}

/// The resync: IAM's members of every mapped group (`users`, keyed by lower-cased name, with
/// their mapped groups) against every entry; entries of this account's users that IAM does
/// not list lose their managed groups. Entries of other accounts and of roles are left alone.
pub fn plan_resync(
    mapping: &Mapping,
    partition: &str,
    account: &str,
    users: &BTreeMap<String, IamUser>,
    observed: &[Identity],
) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut wanted = BTreeSet::new();
    for u in users.values() {
        let arn = user_arn(partition, account, &u.path, &u.name);
        wanted.insert(arn.to_ascii_lowercase());
        let desired = desired_groups(mapping, Some(u));
        changes.extend(converge(
            mapping,
            &arn,
            &u.name,
            &desired,
            find(observed, &arn),
        ));
    }
    let prefix = user_prefix(partition, account).to_ascii_lowercase();
    let mut seen = BTreeSet::new();
    for o in observed.iter().rev() {
        let lower = o.arn.to_ascii_lowercase();
        if lower.starts_with(&prefix) && !wanted.contains(&lower) && seen.insert(lower) {
            changes.extend(converge(
                mapping,
                &o.arn,
                &o.username,
                &BTreeSet::new(),
                Some(o),
            ));
        }
    }
    changes
}

/// An `IamUserGroup` record as it should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub spec: IamUserGroupSpec,
    pub user_arn: String,
    pub kubernetes_groups: Vec<String>,
}

/// The record of a user: its mapped IAM groups and the Kubernetes groups they give.
pub fn record(mapping: &Mapping, user: &IamUser, arn: &str, username: &str) -> Record {
    let (iam, kube) = mapping.resolve(user.groups.iter().map(String::as_str));
    Record {
        name: record_name(&user.name),
        spec: IamUserGroupSpec {
            iam_user: user.name.clone(),
            username: username.to_owned(),
            iam_groups: iam.into_iter().collect(),
        },
        user_arn: arn.to_owned(),
        kubernetes_groups: kube.into_iter().collect(),
    }
}

/// A record write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordChange {
    /// The record is absent: create it.
    Create(Record),
    /// Present, or to be: update it, creating it again if it went away meanwhile.
    Update(Record),
    /// Update it if present; an absent record stays absent.
    UpdateIfPresent(Record),
    /// Delete the record of this name.
    Delete(String),
}

/// The username `changes` wrote in the entry of `arn` (ignoring case), if they wrote it.
pub fn written_username<'a>(changes: &'a [Change], arn: &str) -> Option<&'a str> {
    changes.iter().find_map(|c| match c {
        Change::Create { to } | Change::Update { to, .. } if to.arn.eq_ignore_ascii_case(arn) => {
            Some(to.username.as_str())
        }
        _ => None,
    })
}

/// An event's record of a user IAM knows, after `changes`: its mapped groups now, under the
/// username just written (else its IAM name). A user in a mapped group has a record, created
/// if need be; a user in none keeps the record it has, updated to say so, and gets none if it
/// had none.
pub fn event_record(
    mapping: &Mapping,
    user: &IamUser,
    arn: &str,
    changes: &[Change],
) -> RecordChange {
    let username = written_username(changes, arn).unwrap_or(&user.name);
    let record = record(mapping, user, arn, username);
    if record.spec.iam_groups.is_empty() {
        RecordChange::UpdateIfPresent(record)
    } else {
        RecordChange::Update(record)
    }
}

/// The resync's users: the members of every mapped group (`(group, [(name, path)])`), keyed
/// by lower-cased name (IAM names are unique ignoring case), each with its mapped groups.
pub fn users_of<'a>(
    members: impl IntoIterator<Item = (&'a str, Vec<(String, String)>)>,
) -> BTreeMap<String, IamUser> {
    let mut users: BTreeMap<String, IamUser> = BTreeMap::new();
    for (group, members) in members {
        for (name, path) in members {
            users
                .entry(name.to_ascii_lowercase())
                .or_insert_with(|| IamUser {
                    name,
                    path,
                    groups: Vec::new(),
                })
                .groups
                .push(group.to_owned());
        }
    }
    users
}

/// The records a resync wants: one per user of a mapped group, under the username its entry
/// has now: the one `changes` wrote, else the one its record holds, else its IAM name.
pub fn resync_records(
    mapping: &Mapping,
    partition: &str,
    account: &str,
    users: &BTreeMap<String, IamUser>,
    changes: &[Change],
    observed: &[Record],
) -> Vec<Record> {
    users
        .values()
        .map(|u| {
            let arn = user_arn(partition, account, &u.path, &u.name);
            let kept = || {
                observed
                    .iter()
                    .find(|r| r.spec.iam_user == u.name)
                    .map(|r| r.spec.username.as_str())
            };
            let username = written_username(changes, &arn)
                .or_else(kept)
                .unwrap_or(&u.name);
            record(mapping, u, &arn, username)
        })
        .collect()
}

/// The record writes that make `observed` what a resync wants: each wanted record that
/// differs, and the deletion of records of users in no mapped group any more.
pub fn plan_records(wanted: &[Record], observed: &[Record]) -> Vec<RecordChange> {
    let by_name: BTreeMap<&str, &Record> = observed.iter().map(|r| (r.name.as_str(), r)).collect();
    let wanted_names: BTreeSet<&str> = wanted.iter().map(|r| r.name.as_str()).collect();
    let mut out: Vec<RecordChange> = wanted
        .iter()
        .filter_map(|w| match by_name.get(w.name.as_str()) {
            None => Some(RecordChange::Create(w.clone())),
            Some(o) if *o != w => Some(RecordChange::Update(w.clone())),
            Some(_) => None,
        })
        .collect();
    out.extend(
        observed
            .iter()
            .filter(|o| !wanted_names.contains(o.name.as_str()))
            .map(|o| RecordChange::Delete(o.name.clone())),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCT: &str = "111122223333";

    fn mapping() -> Mapping {
        Mapping::of(&[
            ("developers", &["dev"]),
            ("ops", &["ops", "dev"]),
            ("qa", &["qa"]),
        ])
    }

    fn id(arn: &str, groups: &[&str]) -> Identity {
        Identity {
            arn: arn.into(),
            username: arn_user_name(arn).into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn user(name: &str, path: &str, groups: &[&str]) -> IamUser {
        IamUser {
            name: name.into(),
            path: path.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn arns_carry_partition_account_and_path() {
        for (partition, path, name, arn) in [
            ("aws", "/", "alice", "arn:aws:iam::111122223333:user/alice"),
            (
                "aws-us-gov",
                "/eng/team/",
                "a+b@x.io",
                "arn:aws-us-gov:iam::111122223333:user/eng/team/a+b@x.io",
            ),
            ("aws-cn", "", "bob", "arn:aws-cn:iam::111122223333:user/bob"),
        ] {
            assert_eq!(user_arn(partition, ACCT, path, name), arn);
        }
    }

    type Case = (
        Option<&'static [&'static str]>,
        Option<Identity>,
        Option<Change>,
    );

    #[test]
    fn one_user_converges_to_iam() {
        let a = "arn:aws:iam::111122223333:user/eng/alice";
        let m = mapping();
        // (IAM groups of alice or None = gone, observed entry, expected change)
        let cases: Vec<Case> = vec![
            // Added to a mapped group: created.
            (
                Some(&["developers"]),
                None,
                Some(Change::Create {
                    to: id(a, &["dev"]),
                }),
            ),
            // Duplicate event: nothing.
            (Some(&["developers"]), Some(id(a, &["dev"])), None),
            // Second mapped group: one entry, both groups.
            (
                Some(&["developers", "qa"]),
                Some(id(a, &["dev"])),
                Some(Change::Update {
                    from: id(a, &["dev"]),
                    to: id(a, &["dev", "qa"]),
                }),
            ),
            // Order does not matter.
            (
                Some(&["developers", "qa"]),
                Some(id(a, &["qa", "dev"])),
                None,
            ),
            // Removed from one: the other stays; a group two IAM groups give stays while one does.
            (
                Some(&["ops"]),
                Some(id(a, &["dev", "ops", "qa"])),
                Some(Change::Update {
                    from: id(a, &["dev", "ops", "qa"]),
                    to: id(a, &["dev", "ops"]),
                }),
            ),
            // Removed from the last: deleted.
            (
                Some(&["finance"]),
                Some(id(a, &["dev"])),
                Some(Change::Delete {
                    from: id(a, &["dev"]),
                }),
            ),
            // Hand-written groups survive, and keep the entry alive.
            (
                Some(&[]),
                Some(id(a, &["viewers", "dev"])),
                Some(Change::Update {
                    from: id(a, &["viewers", "dev"]),
                    to: id(a, &["viewers"]),
                }),
            ),
            (
                Some(&["qa"]),
                Some(id(a, &["viewers"])),
                Some(Change::Update {
                    from: id(a, &["viewers"]),
                    to: id(a, &["viewers", "qa"]),
                }),
            ),
            // An entry with no managed group and no mapped group: not ours.
            (Some(&[]), Some(id(a, &["viewers"])), None),
            (Some(&[]), None, None),
            // The user is gone from IAM: found by name, its managed groups go.
            (
                None,
                Some(id(a, &["dev"])),
                Some(Change::Delete {
                    from: id(a, &["dev"]),
                }),
            ),
            (None, None, None),
        ];
        for (i, (groups, observed, expected)) in cases.into_iter().enumerate() {
            let u = groups.map(|g| user("alice", "/eng/", g));
            let observed: Vec<Identity> = observed.into_iter().collect();
            let got = plan_user(&m, "aws", ACCT, "alice", u.as_ref(), &observed);
            assert_eq!(got, expected, "case {i}");
        }
    }

    #[test]
    fn an_existing_username_is_kept_and_arns_match_ignoring_case() {
        let m = mapping();
        let mut o = id("ARN:AWS:IAM::111122223333:USER/ALICE", &[]);
        o.username = "alice-admin".into();
        let got = plan_user(
            &m,
            "aws",
            ACCT,
            "alice",
            Some(&user("alice", "/", &["qa"])),
            &[o.clone()],
        );
        let Some(Change::Update { to, .. }) = got else {
            panic!("{got:?}")
        };
        assert_eq!(
            (to.username.as_str(), to.arn.as_str()),
            ("alice-admin", o.arn.as_str())
        );
    }

    #[test]
    fn resync_creates_fixes_and_strips_but_leaves_others_alone() {
        let m = mapping();
        let users: BTreeMap<String, IamUser> = [
            user("alice", "/", &["developers"]),
            user("Bob", "/eng/", &["developers", "qa"]),
        ]
        .into_iter()
        .map(|u| (u.name.to_ascii_lowercase(), u))
        .collect();
        let observed = vec![
            id("arn:aws:iam::111122223333:user/eng/Bob", &["dev"]),
            id("arn:aws:iam::111122223333:user/carol", &["dev", "viewers"]),
            id("arn:aws:iam::111122223333:user/dave", &["viewers"]),
            id("arn:aws:iam::999999999999:user/erin", &["dev"]),
            id("arn:aws:iam::111122223333:role/ci", &["dev"]),
        ];
        let changes = plan_resync(&m, "aws", ACCT, &users, &observed);
        assert_eq!(
            changes,
            [
                Change::Create {
                    to: id("arn:aws:iam::111122223333:user/alice", &["dev"])
                },
                Change::Update {
                    from: observed[0].clone(),
                    to: id("arn:aws:iam::111122223333:user/eng/Bob", &["dev", "qa"])
                },
                Change::Update {
                    from: observed[1].clone(),
                    to: id("arn:aws:iam::111122223333:user/carol", &["viewers"])
                },
            ]
        );
        // Converged: the next resync has nothing to do.
        let after = vec![
            id("arn:aws:iam::111122223333:user/alice", &["dev"]),
            id("arn:aws:iam::111122223333:user/eng/Bob", &["dev", "qa"]),
        ];
        assert_eq!(plan_resync(&m, "aws", ACCT, &users, &after), []);
    }

    #[test]
    fn records_follow_iam() {
        let m = mapping();
        let a = user("alice@example.com", "/", &["developers", "finance"]);
        let r = record(
            &m,
            &a,
            "arn:aws:iam::1:user/alice@example.com",
            "alice@example.com",
        );
        assert_eq!(r.spec.iam_groups, ["developers"]);
        assert_eq!(r.kubernetes_groups, ["dev"]);
        assert!(r.name.starts_with("alice-example-com-"));
        let stale = Record {
            kubernetes_groups: vec![],
            ..r.clone()
        };
        let gone = Record {
            name: "gone".into(),
            ..r.clone()
        };
        assert_eq!(
            plan_records(std::slice::from_ref(&r), std::slice::from_ref(&r)),
            []
        );
        assert_eq!(
            plan_records(std::slice::from_ref(&r), &[stale, gone.clone()]),
            [
                RecordChange::Update(r.clone()),
                RecordChange::Delete("gone".into())
            ]
        );
        assert_eq!(
            plan_records(std::slice::from_ref(&r), &[gone]),
            [RecordChange::Create(r), RecordChange::Delete("gone".into())]
        );
    }

    #[test]
    fn an_event_record_exists_while_the_user_is_in_a_mapped_group() {
        let m = mapping();
        let arn = "arn:aws:iam::111122223333:user/alice";
        let alice = user("alice", "/", &["developers"]);
        let mut entry = id("ARN:AWS:IAM::111122223333:USER/ALICE", &["dev"]);
        entry.username = "alice-admin".into();
        let written = [Change::Create { to: entry }];
        // The username just written wins; without a write, the IAM name.
        let RecordChange::Update(r) = event_record(&m, &alice, arn, &written) else {
            panic!("a record for a member")
        };
        assert_eq!(
            (r.spec.username.as_str(), r.kubernetes_groups.as_slice()),
            ("alice-admin", ["dev".to_owned()].as_slice())
        );
        let RecordChange::Update(r) = event_record(&m, &alice, arn, &[]) else {
            panic!("a record for a member")
        };
        assert_eq!(r.spec.username, "alice");
        // In no mapped group: the record (if any) says so; none is created.
        let left = user("alice", "/", &["finance"]);
        let RecordChange::UpdateIfPresent(r) = event_record(&m, &left, arn, &[]) else {
            panic!("no record created for a non-member")
        };
        assert!(r.spec.iam_groups.is_empty() && r.kubernetes_groups.is_empty());
    }

    #[test]
    fn the_resync_gathers_members_and_keeps_usernames() {
        let m = mapping();
        let users = users_of([
            (
                "developers",
                vec![
                    ("Bob".to_owned(), "/eng/".to_owned()),
                    ("alice".to_owned(), "/".to_owned()),
                ],
            ),
            ("qa", vec![("bob".to_owned(), "/eng/".to_owned())]),
        ]);
        assert_eq!(
            users.values().cloned().collect::<Vec<_>>(),
            [
                user("alice", "/", &["developers"]),
                user("Bob", "/eng/", &["developers", "qa"])
            ]
        );
        // Bob's entry was just created as "bob-new"; alice's record holds "alice-admin".
        let created = [Change::Create {
            to: Identity {
                username: "bob-new".into(),
                ..id("arn:aws:iam::111122223333:user/eng/Bob", &["dev", "qa"])
            },
        }];
        let alice_arn = "arn:aws:iam::111122223333:user/alice";
        let kept = record(&m, &user("alice", "/", &[]), alice_arn, "alice-admin");
        let wanted = resync_records(&m, "aws", ACCT, &users, &created, &[kept]);
        let names: Vec<(&str, &str)> = wanted
            .iter()
            .map(|r| (r.spec.iam_user.as_str(), r.spec.username.as_str()))
            .collect();
        assert_eq!(names, [("alice", "alice-admin"), ("Bob", "bob-new")]);
        assert_eq!(wanted[1].kubernetes_groups, ["dev", "qa"]);
    }
}
