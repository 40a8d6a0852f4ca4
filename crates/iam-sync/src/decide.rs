//! The policy, pure: from IAM's truth (a user's groups), the hand-applied `IamUserGroup`s
//! (their [`Grant`]s) and what a backend holds (the user's entry), the one change that
//! converges the entry. The same rule serves an event (one user) and the resync (every member
//! of every mapped group, every principal a hand-applied record names, plus every entry of
//! this account's users that holds a managed group), so duplicate and out-of-order events,
//! and missed ones, all end where IAM and the records are.
//!
//! | IAM says (mapped groups) ∪ hand-applied records | entry | change |
//! |---|---|---|
//! | some | none | create: username = the records' else the IAM user name, groups = those |
//! | some | other groups | update: the entry's unmanaged groups + those groups |
//! | none (or the user is gone) | only managed groups | delete |
//! | none | managed + unmanaged groups | update: the unmanaged groups only |
//! | anything | already right (as a set, same username) | nothing |
//!
//! *Managed* groups are the mapping's Kubernetes groups plus, per principal, every group a
//! hand-applied record gives or gave it; every other group in an entry was written by someone
//! else and stays. The `IamUserGroup`s themselves: [`owned`] (the ones iam-sync writes) and
//! [`hand`] (the ones applied by hand, its input).
pub mod hand;
pub mod owned;

use std::collections::{BTreeMap, BTreeSet};

use k8s_ops::crd::iam_user_group::{IamUserGroupSpec, IamUserGroupStatus};
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

/// An `IamUserGroup` as read from the record namespace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seen {
    pub name: String,
    pub resource_version: Option<String>,
    /// Written by iam-sync ([`is_owned`]); every other one is a hand-applied input.
    pub owned: bool,
    pub spec: IamUserGroupSpec,
    pub status: IamUserGroupStatus,
    /// Being deleted (`deletionTimestamp` set).
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

/// The label iam-sync puts on every `IamUserGroup` it writes, and its value.
pub const OWNER_LABEL: (&str, &str) = ("k8s-lambda.dev/managed-by", "iam-sync");
/// The label earlier versions put on the records they wrote (one per user): still iam-sync's,
/// so the resync converges them to the `<user>-<group>` records instead of leaving them behind.
pub const LEGACY_OWNER_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "iam-sync");

/// Whether an `IamUserGroup` with these labels was written by iam-sync. Anything else
/// (another `managed-by`, no label) is someone else's: never deleted or overwritten.
pub fn is_owned(labels: Option<&BTreeMap<String, String>>) -> bool {
    labels.is_some_and(|l| {
        [OWNER_LABEL, LEGACY_OWNER_LABEL]
            .iter()
            .any(|(k, v)| l.get(*k).is_some_and(|x| x == v))
    })
}

/// What hand-applied records ask for one principal ([`hand::plan`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    /// The principal, as a record spelled it.
    pub arn: String,
    /// The username the first live record (by name) sets; `None`: the entry keeps its own.
    pub username: Option<String>,
    /// The Kubernetes groups the live records give.
    pub groups: BTreeSet<String>,
    /// Every group records give or gave it (edited, refused or deleted ones included):
    /// removed from the entry unless still given.
    pub managed: BTreeSet<String>,
}

/// [`Grant`]s by lower-cased principal ARN (the authenticator compares ARNs ignoring case).
pub type Grants = BTreeMap<String, Grant>;

/// What one principal's entry should give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub arn: String,
    /// The username of a new entry.
    pub username: String,
    /// A username a hand-applied record sets: it replaces an existing entry's too.
    pub set_username: Option<String>,
    /// The groups the entry should have among the managed ones.
    pub desired: BTreeSet<String>,
    /// The groups iam-sync adds and removes for this principal.
    pub managed: BTreeSet<String>,
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

/// The Kubernetes groups one user's mapped IAM groups give.
pub fn desired_groups(mapping: &Mapping, user: Option<&IamUser>) -> BTreeSet<String> {
    user.map(|u| mapping.resolve(u.groups.iter().map(String::as_str)).1)
        .unwrap_or_default()
}

/// What `arn`'s entry should give: the groups of its mapped IAM groups (`user`, `None` when
/// IAM does not list it) and of the records' `grant`, the union of both; `name` is the
/// username of a new entry unless a record sets one.
pub fn target(
    mapping: &Mapping,
    arn: &str,
    name: &str,
    user: Option<&IamUser>,
    grant: Option<&Grant>,
) -> Target {
    let mut desired = desired_groups(mapping, user);
    let mut managed = mapping.managed().clone();
    let set_username = grant.and_then(|g| g.username.clone());
    if let Some(g) = grant {
        desired.extend(g.groups.iter().cloned());
        managed.extend(g.managed.iter().cloned());
        managed.extend(g.groups.iter().cloned());
    }
    Target {
        arn: arn.to_owned(),
        username: set_username.clone().unwrap_or_else(|| name.to_owned()),
        set_username,
        desired,
        managed,
    }
}

/// The change that makes `observed` (the principal's entry, if any) give exactly
/// `t.desired` among `t.managed`, keeping the others. `None`: nothing to do.
pub fn converge(t: &Target, observed: Option<&Identity>) -> Option<Change> {
    let Some(o) = observed else {
        return (!t.desired.is_empty()).then(|| Change::Create {
            to: Identity {
                arn: t.arn.clone(),
                username: t.username.clone(),
                groups: t.desired.iter().cloned().collect(),
            },
        });
    };
    let mut groups: Vec<String> = o
        .groups
        .iter()
        .filter(|g| !t.managed.contains(*g))
        .cloned()
        .collect();
    for g in &t.desired {
        if !groups.contains(g) {
            groups.push(g.clone());
        }
    }
    let username = t.set_username.clone().unwrap_or_else(|| o.username.clone());
    let same = groups.iter().collect::<BTreeSet<_>>() == o.groups.iter().collect::<BTreeSet<_>>()
        && username == o.username;
    if same {
        None
    } else if groups.is_empty() {
        Some(Change::Delete { from: o.clone() })
    } else {
        Some(Change::Update {
            from: o.clone(),
            to: Identity {
                arn: o.arn.clone(),
                username,
                groups,
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

/// Where a plan's ARNs live: the event's (or schedule's) partition and account.
#[derive(Clone, Copy, Debug)]
pub struct Account<'a> {
    pub partition: &'a str,
    pub account: &'a str,
}

/// One user's change, for an event: `user` is `None` when IAM no longer knows `name`.
pub fn plan_user(
    mapping: &Mapping,
    at: Account<'_>,
    name: &str,
    user: Option<&IamUser>,
    grants: &Grants,
    observed: &[Identity],
) -> Option<Change> {
    let grant = |arn: &str| grants.get(&arn.to_ascii_lowercase());
    match user {
        Some(u) => {
            let arn = user_arn(at.partition, at.account, &u.path, &u.name);
            let t = target(mapping, &arn, &u.name, Some(u), grant(&arn));
            converge(&t, find(observed, &arn))
        }
        None => {
            let prefix = user_prefix(at.partition, at.account);
            let o = find_by_name(observed, &prefix, name)?;
            converge(
                &target(mapping, &o.arn, &o.username, None, grant(&o.arn)),
                Some(o),
            )
        }
    }
}

/// The resync: IAM's members of every mapped group (`users`, keyed by lower-cased name, with
/// their mapped groups) and every principal the records grant to, against every entry;
/// entries of this account's users that neither lists lose their managed groups. Entries of
/// other accounts and of roles are left alone.
pub fn plan_resync(
    mapping: &Mapping,
    at: Account<'_>,
    users: &BTreeMap<String, IamUser>,
    grants: &Grants,
    observed: &[Identity],
) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut wanted = BTreeSet::new();
    for u in users.values() {
        let arn = user_arn(at.partition, at.account, &u.path, &u.name);
        let lower = arn.to_ascii_lowercase();
        let t = target(mapping, &arn, &u.name, Some(u), grants.get(&lower));
        wanted.insert(lower);
        changes.extend(converge(&t, find(observed, &arn)));
    }
    for (lower, g) in grants {
        if wanted.insert(lower.clone()) {
            let t = target(mapping, &g.arn, arn_user_name(&g.arn), None, Some(g));
            changes.extend(converge(&t, find(observed, &g.arn)));
        }
    }
    let prefix = user_prefix(at.partition, at.account).to_ascii_lowercase();
    let mut seen = BTreeSet::new();
    for o in observed.iter().rev() {
        let lower = o.arn.to_ascii_lowercase();
        if lower.starts_with(&prefix) && !wanted.contains(&lower) && seen.insert(lower) {
            let t = target(mapping, &o.arn, &o.username, None, None);
            changes.extend(converge(&t, Some(o)));
        }
    }
    changes
}

/// Every principal's username once `changes` are made to `observed`, by lower-cased ARN: what
/// the records iam-sync writes say the user is mapped as.
pub fn usernames_after(observed: &[Identity], changes: &[Change]) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = observed
        .iter()
        .map(|i| (i.arn.to_ascii_lowercase(), i.username.clone()))
        .collect();
    for c in changes {
        let lower = c.arn().to_ascii_lowercase();
        match c {
            Change::Create { to } | Change::Update { to, .. } => {
                out.insert(lower, to.username.clone());
            }
            Change::Delete { .. } => {
                out.remove(&lower);
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    const ACCT: &str = "111122223333";
    const AT: Account<'static> = Account {
        partition: "aws",
        account: ACCT,
    };

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
            let got = plan_user(&m, AT, "alice", u.as_ref(), &Grants::new(), &observed);
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
            AT,
            "alice",
            Some(&user("alice", "/", &["qa"])),
            &Grants::new(),
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
        let changes = plan_resync(&m, AT, &users, &Grants::new(), &observed);
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
        assert_eq!(plan_resync(&m, AT, &users, &Grants::new(), &after), []);
    }

    #[test]
    fn the_resync_gathers_members_by_user() {
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
    }

    fn grant(arn: &str, username: Option<&str>, groups: &[&str], managed: &[&str]) -> Grants {
        let set = |g: &[&str]| g.iter().map(|x| x.to_string()).collect();
        Grants::from([(
            arn.to_ascii_lowercase(),
            Grant {
                arn: arn.into(),
                username: username.map(str::to_owned),
                groups: set(groups),
                managed: set(managed),
            },
        )])
    }

    /// Hand-applied records' groups join IAM's (a union); a record's groups are managed for
    /// its principal only, so what it gave goes when it goes, and hand-written groups stay.
    #[test]
    fn hand_applied_grants_join_iam_and_leave_with_their_record() {
        let a = "arn:aws:iam::111122223333:user/alice";
        let m = mapping();
        let named = |username: &str, groups: &[&str]| Identity {
            username: username.into(),
            ..id(a, groups)
        };
        // (IAM groups of alice, her records' grant, observed entry, expected change)
        type GrantCase = (
            &'static [&'static str],
            Grants,
            Option<Identity>,
            Option<Change>,
        );
        let cases: Vec<GrantCase> = vec![
            // A record alone: its username and groups.
            (
                &[],
                grant(a, Some("viji"), &["viewers"], &[]),
                None,
                Some(Change::Create {
                    to: named("viji", &["viewers"]),
                }),
            ),
            // IAM and a record: the union, in one entry.
            (
                &["developers"],
                grant(a, Some("alice"), &["viewers"], &[]),
                Some(id(a, &["dev"])),
                Some(Change::Update {
                    from: id(a, &["dev"]),
                    to: id(a, &["dev", "viewers"]),
                }),
            ),
            // A record giving a mapped group keeps it when IAM no longer does.
            (
                &[],
                grant(a, Some("alice"), &["dev"], &[]),
                Some(id(a, &["dev"])),
                None,
            ),
            // The record's username replaces the entry's.
            (
                &["developers"],
                grant(a, Some("viji"), &[], &[]),
                Some(id(a, &["dev"])),
                Some(Change::Update {
                    from: id(a, &["dev"]),
                    to: named("viji", &["dev"]),
                }),
            ),
            // Deleted (or edited) record: what it gave goes; IAM's and hand-written stay.
            (
                &["developers"],
                grant(a, None, &[], &["viewers"]),
                Some(id(a, &["dev", "viewers", "oncall"])),
                Some(Change::Update {
                    from: id(a, &["dev", "viewers", "oncall"]),
                    to: id(a, &["oncall", "dev"]),
                }),
            ),
            (
                &[],
                grant(a, None, &[], &["viewers"]),
                Some(id(a, &["viewers"])),
                Some(Change::Delete {
                    from: id(a, &["viewers"]),
                }),
            ),
            // Another live record still gives the group: it stays.
            (
                &[],
                grant(a, None, &["viewers"], &["viewers"]),
                Some(id(a, &["viewers"])),
                None,
            ),
            // A grant to someone else changes nothing here.
            (
                &["developers"],
                grant("arn:aws:iam::111122223333:user/bob", None, &["x"], &[]),
                Some(id(a, &["dev"])),
                None,
            ),
        ];
        for (i, (groups, grants, observed, expected)) in cases.into_iter().enumerate() {
            let u = user("alice", "/", groups);
            let observed: Vec<Identity> = observed.into_iter().collect();
            let got = plan_user(&m, AT, "alice", Some(&u), &grants, &observed);
            assert_eq!(got, expected, "case {i}");
        }
    }

    #[test]
    fn the_resync_maps_granted_principals_iam_does_not_list() {
        let m = mapping();
        let viji = "arn:aws:iam::111122223333:user/viji";
        let gone = "arn:aws:iam::111122223333:user/gone";
        let mut grants = grant(viji, Some("viji"), &["developers"], &[]);
        grants.extend(grant(gone, None, &[], &["developers"]));
        let observed = vec![id(gone, &["developers"]), id(viji, &["old"])];
        let changes = plan_resync(&m, AT, &BTreeMap::new(), &grants, &observed);
        assert_eq!(
            changes,
            [
                Change::Delete {
                    from: id(gone, &["developers"])
                },
                Change::Update {
                    from: id(viji, &["old"]),
                    to: id(viji, &["old", "developers"])
                },
            ]
        );
        let after = vec![id(viji, &["old", "developers"])];
        assert_eq!(plan_resync(&m, AT, &BTreeMap::new(), &grants, &after), []);
    }

    #[test]
    fn usernames_follow_the_changes() {
        let a = "arn:aws:iam::111122223333:user/alice";
        let b = "arn:aws:iam::111122223333:user/bob";
        let observed = [id(a, &["dev"]), id(b, &["dev"])];
        let changes = [
            Change::Update {
                from: id(a, &["dev"]),
                to: Identity {
                    username: "alice-admin".into(),
                    ..id(a, &["dev"])
                },
            },
            Change::Delete {
                from: id(b, &["dev"]),
            },
        ];
        let after = usernames_after(&observed, &changes);
        assert_eq!(
            after.into_iter().collect::<Vec<_>>(),
            [(a.to_owned(), "alice-admin".to_owned())]
        );
    }

    #[test]
    fn ownership_is_the_label() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        for (pairs, owned) in [
            (&[(OWNER_LABEL.0, "iam-sync")][..], true),
            (&[("app.kubernetes.io/managed-by", "iam-sync")][..], true),
            (&[("app.kubernetes.io/managed-by", "Helm")][..], false),
            (&[(OWNER_LABEL.0, "someone-else")][..], false),
            (&[("team", "iam-sync")][..], false),
            (&[][..], false),
        ] {
            assert_eq!(is_owned(Some(&labels(pairs))), owned, "{pairs:?}");
        }
        assert!(!is_owned(None));
    }
}
