//! The `IamUserGroup`s applied by hand (no owner label): inputs, as in the original operator.
//! `iamUser` (a user ARN of this partition and account, or a user name IAM knows) is mapped as
//! `username` to the Kubernetes groups `iamGroups`, in the same entry as the groups its IAM
//! membership gives (the union). iam-sync never changes their spec; it writes their status
//! (what was applied, or why not) and a finalizer, [`FINALIZER`]:
//!
//! | record | finalizer | grant | then |
//! |---|---|---|---|
//! | valid | absent | its groups | take on: add the finalizer *before* the entry is written |
//! | valid | ours | its groups (and what it gave before is withdrawn if edited away) | status |
//! | invalid | ours (it was applied) | what it gave before, unchanged | status with the error |
//! | invalid | absent | nothing | status with the error |
//! | being deleted | ours | what it gave is withdrawn | release: remove the finalizer *after* |
//! | being deleted | absent | nothing | nothing |
//! | handed over (labelled iam-sync's since) | ours | what it gave is withdrawn | release |
//!
//! The finalizer keeps a deleted record (and what it says was applied) until a resync has
//! taken its groups away, so a mapping can never outlive its record unseen.
use std::collections::BTreeSet;

use super::{Account, Grant, Grants, Seen};
use crate::event::valid_iam_name;

/// Held by every hand-applied record whose groups iam-sync applied, until it withdrew them.
pub const FINALIZER: &str = "k8s-lambda.dev/iam-sync";

/// What a valid record asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ask {
    pub arn: String,
    pub username: String,
    pub groups: BTreeSet<String>,
}

/// How `spec.iamUser` names the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserRef {
    Arn(String),
    /// A user name: its ARN (with the user's path) comes from IAM.
    Name(String),
}

/// Reads `spec.iamUser`: a user ARN of `at`'s partition and account, or an IAM user name.
pub fn user_ref(iam_user: &str, at: Account<'_>) -> Result<UserRef, String> {
    let expected = format!(
        "expected an IAM user ARN (arn:{}:iam::{}:user/<path><name>) or an IAM user name",
        at.partition, at.account
    );
    let Some(rest) = iam_user.strip_prefix("arn:") else {
        return if valid_iam_name(iam_user, 64) {
            Ok(UserRef::Name(iam_user.to_owned()))
        } else {
            Err(format!("spec.iamUser: {expected}, got {iam_user:?}"))
        };
    };
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [partition, "iam", "", account, resource] = parts[..] else {
        return Err(format!("spec.iamUser: {expected}, got {iam_user:?}"));
    };
    let segment_ok = |p: &str| !p.is_empty() && p.bytes().all(|b| (0x21..=0x7e).contains(&b));
    // `user/<name>` or `user/<path segments>/<name>`.
    let user = resource.strip_prefix("user/").and_then(|r| {
        let (path_ok, name) = match r.rsplit_once('/') {
            None => (true, r),
            Some((path, name)) => (path.split('/').all(segment_ok), name),
        };
        (path_ok && valid_iam_name(name, 64)).then_some(())
    });
    let well_formed = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if user.is_none() || !well_formed || !partition.starts_with("aws") {
        return Err(format!("spec.iamUser: {expected}, got {iam_user:?}"));
    }
    if partition != at.partition || account != at.account {
        return Err(format!(
            "spec.iamUser: {iam_user:?} is not a user of this partition and account \
             (arn:{}:iam::{}:user/…); iam-sync maps this account's users only",
            at.partition, at.account
        ));
    }
    Ok(UserRef::Arn(iam_user.to_owned()))
}

/// Reads a record's spec. `arn_of` gives a user name's ARN as IAM knows it (`None`: IAM knows
/// no such user). Every error names the field and what was expected.
pub fn read(
    record: &Seen,
    at: Account<'_>,
    arn_of: &dyn Fn(&str) -> Option<String>,
) -> Result<Ask, String> {
    let spec = &record.spec;
    let arn = match user_ref(&spec.iam_user, at)? {
        UserRef::Arn(arn) => arn,
        UserRef::Name(name) => arn_of(&name).ok_or_else(|| {
            format!(
                "spec.iamUser: IAM has no user named {name:?} in account {}",
                at.account
            )
        })?,
    };
    let username = spec.username.trim();
    if username.is_empty() || username.starts_with("system:") {
        return Err(format!(
            "spec.username: expected a Kubernetes username (not empty, not system:), got {:?}",
            spec.username
        ));
    }
    if spec.iam_groups.is_empty() {
        return Err("spec.iamGroups: expected at least one Kubernetes group, got []".into());
    }
    for (i, g) in spec.iam_groups.iter().enumerate() {
        if g.trim().is_empty() || g.starts_with("system:") {
            return Err(format!(
                "spec.iamGroups[{i}]: {g:?} is not allowed (expected a Kubernetes group, \
                 not empty, not system:)"
            ));
        }
    }
    Ok(Ask {
        arn,
        username: username.to_owned(),
        groups: spec.iam_groups.iter().cloned().collect(),
    })
}

/// Whether [`plan`] must see `record`: every hand-applied one, and one labelled iam-sync's
/// that still carries the finalizer (it was applied by hand, then handed over).
pub fn concerns(record: &Seen) -> bool {
    !record.owned || record.finalizers.iter().any(|f| f == FINALIZER)
}

/// The user names live hand-applied records give in `iamUser` (not ARNs), for IAM to resolve.
pub fn names(records: &[&Seen], at: Account<'_>) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| !r.deleting && !r.owned)
        .filter_map(|r| match user_ref(&r.spec.iam_user, at) {
            Ok(UserRef::Name(n)) => Some(n),
            _ => None,
        })
        .collect()
}

/// A record's status as iam-sync writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandStatus {
    pub user_arn: Option<String>,
    pub kubernetes_groups: Vec<String>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandPlan {
    pub grants: Grants,
    /// Records to take on: our finalizer added, before the entries are written.
    pub take_on: Vec<String>,
    /// Records to release: our finalizer removed, after the entries are written.
    pub release: Vec<String>,
    /// Statuses that change: (record, status).
    pub statuses: Vec<(String, HandStatus)>,
    /// Records refused: (record, error).
    pub invalid: Vec<(String, String)>,
}

fn add<'a>(grants: &'a mut Grants, arn: &str) -> &'a mut Grant {
    grants
        .entry(arn.to_ascii_lowercase())
        .or_insert_with(|| Grant {
            arn: arn.to_owned(),
            ..Grant::default()
        })
}

/// What the hand-applied `records` ask, for `backend`: the grants, the finalizer writes and
/// the statuses that change. A record's username is the first record's (by name) for that
/// principal. With `taken_on_only` (an event: it writes no record), records without our
/// finalizer are not applied yet and are left for the resync. `records` are those
/// [`concerns`] holds for; a handed-over one is withdrawn as if deleted.
pub fn plan(
    records: &[&Seen],
    at: Account<'_>,
    arn_of: &dyn Fn(&str) -> Option<String>,
    backend: &str,
    taken_on_only: bool,
) -> HandPlan {
    let mut records = records.to_vec();
    records.sort_by(|a, b| a.name.cmp(&b.name));
    let mut plan = HandPlan::default();
    for r in records {
        let ours = r.finalizers.iter().any(|f| f == FINALIZER);
        if taken_on_only && !ours {
            continue;
        }
        // What the record says it gave: withdrawn unless still given.
        let before = r.status.user_arn.as_deref().filter(|_| ours);
        if let Some(arn) = before {
            let g = add(&mut plan.grants, arn);
            g.managed.extend(r.status.kubernetes_groups.iter().cloned());
        }
        if r.deleting || r.owned {
            if ours {
                if let Ok(ask) = read(r, at, arn_of) {
                    add(&mut plan.grants, &ask.arn).managed.extend(ask.groups);
                }
                plan.release.push(r.name.clone());
            }
            continue;
        }
        let status = match read(r, at, arn_of) {
            Ok(ask) => {
                if !ours {
                    plan.take_on.push(r.name.clone());
                }
                let g = add(&mut plan.grants, &ask.arn);
                g.username.get_or_insert(ask.username);
                g.groups.extend(ask.groups.iter().cloned());
                HandStatus {
                    user_arn: Some(ask.arn),
                    kubernetes_groups: ask.groups.into_iter().collect(),
                    error: None,
                }
            }
            Err(error) => {
                plan.invalid.push((r.name.clone(), error.clone()));
                // Bad input changes nothing: what was applied stays applied.
                let kept = before.map(|arn| {
                    let g = add(&mut plan.grants, arn);
                    g.groups.extend(r.status.kubernetes_groups.iter().cloned());
                    arn.to_owned()
                });
                HandStatus {
                    kubernetes_groups: kept
                        .as_ref()
                        .map(|_| r.status.kubernetes_groups.clone())
                        .unwrap_or_default(),
                    user_arn: kept,
                    error: Some(error),
                }
            }
        };
        let current = HandStatus {
            user_arn: r.status.user_arn.clone(),
            kubernetes_groups: r.status.kubernetes_groups.clone(),
            error: r.status.error.clone(),
        };
        if status != current || r.status.backend.as_deref() != Some(backend) {
            plan.statuses.push((r.name.clone(), status));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use k8s_ops::crd::iam_user_group::{IamUserGroupSpec, IamUserGroupStatus};

    use super::*;

    const AT: Account<'static> = Account {
        partition: "aws",
        account: "123456789012",
    };
    const VIJI: &str = "arn:aws:iam::123456789012:user/viji";

    fn arn_of(name: &str) -> Option<String> {
        match name {
            "viji" => Some(VIJI.into()),
            "Alice" | "alice" => Some("arn:aws:iam::123456789012:user/eng/alice".into()),
            _ => None,
        }
    }

    fn record(name: &str, iam_user: &str, username: &str, groups: &[&str]) -> Seen {
        Seen {
            name: name.into(),
            resource_version: Some("5".into()),
            spec: IamUserGroupSpec {
                iam_user: iam_user.into(),
                username: username.into(),
                iam_groups: groups.iter().map(|g| g.to_string()).collect(),
            },
            ..Default::default()
        }
    }

    fn applied(mut r: Seen, arn: &str, groups: &[&str]) -> Seen {
        r.finalizers = vec![FINALIZER.into()];
        r.status = IamUserGroupStatus {
            user_arn: Some(arn.into()),
            kubernetes_groups: groups.iter().map(|g| g.to_string()).collect(),
            backend: Some("aws-auth".into()),
            ..Default::default()
        };
        r
    }

    #[test]
    fn the_user_is_an_arn_or_a_name() {
        // (iamUser, the ARN it maps, or the start of the error)
        let cases = [
            ("arn:aws:iam::123456789012:user/viji", Ok(VIJI)),
            (
                "arn:aws:iam::123456789012:user/eng/web/a+b@c.io",
                Ok("arn:aws:iam::123456789012:user/eng/web/a+b@c.io"),
            ),
            ("viji", Ok(VIJI)),
            ("Alice", Ok("arn:aws:iam::123456789012:user/eng/alice")),
            (
                "nobody",
                Err("spec.iamUser: IAM has no user named \"nobody\""),
            ),
            ("not a name", Err("spec.iamUser: expected an IAM user ARN")),
            (
                "arn:aws:iam::123456789012:role/admin",
                Err("spec.iamUser: expected"),
            ),
            (
                "arn:aws:iam::12345:user/viji",
                Err("spec.iamUser: expected"),
            ),
            ("arn:aws:s3:::bucket/viji", Err("spec.iamUser: expected")),
            (
                "arn:aws:iam::123456789012:user/",
                Err("spec.iamUser: expected"),
            ),
            (
                "arn:aws:iam::123456789012:user//viji",
                Err("spec.iamUser: expected"),
            ),
            (
                "arn:aws:iam::937351930975:user/viji",
                Err("spec.iamUser: \"arn:aws:iam::937351930975:user/viji\" is not a user of this"),
            ),
            (
                "arn:aws-cn:iam::123456789012:user/viji",
                Err("spec.iamUser: \"arn:aws-cn:iam::123456789012:user/viji\" is not a user"),
            ),
        ];
        for (iam_user, expected) in cases {
            let got = read(&record("r", iam_user, "viji", &["developers"]), AT, &arn_of);
            match (got, expected) {
                (Ok(ask), Ok(arn)) => assert_eq!(ask.arn, arn, "{iam_user}"),
                (Err(e), Err(start)) => assert!(e.starts_with(start), "{iam_user}: {e}"),
                (got, _) => panic!("{iam_user}: {got:?}"),
            }
        }
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (
                record("r", "viji", "", &["developers"]),
                "spec.username: expected",
            ),
            (
                record("r", "viji", "system:admin", &["dev"]),
                "spec.username: expected",
            ),
            (
                record("r", "viji", "viji", &[]),
                "spec.iamGroups: expected at least one",
            ),
            (
                record("r", "viji", "viji", &["dev", "system:masters"]),
                "spec.iamGroups[1]: \"system:masters\" is not allowed",
            ),
            (
                record("r", "viji", "viji", &[" "]),
                "spec.iamGroups[0]: \" \"",
            ),
        ];
        for (r, expected) in cases {
            let e = read(&r, AT, &arn_of).unwrap_err();
            assert!(e.starts_with(expected), "{e}");
        }
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn records_become_grants_finalizers_and_statuses() {
        let original = record("viji-developers", VIJI, "viji", &["developers"]);
        let ok = |groups: &[&str]| HandStatus {
            user_arn: Some(VIJI.into()),
            kubernetes_groups: groups.iter().map(|x| x.to_string()).collect(),
            error: None,
        };

        // New: taken on before anything is written, granted, status written.
        let p = plan(&[&original], AT, &arn_of, "aws-auth", false);
        assert_eq!(p.take_on, ["viji-developers"]);
        assert_eq!(p.grants[VIJI].groups, set(&["developers"]));
        assert_eq!(p.grants[VIJI].username.as_deref(), Some("viji"));
        assert_eq!(
            p.statuses,
            [("viji-developers".into(), ok(&["developers"]))]
        );
        // An event applies nothing not yet taken on.
        assert_eq!(
            plan(&[&original], AT, &arn_of, "aws-auth", true),
            HandPlan::default()
        );

        // Applied and unchanged: nothing to write; another backend rewrites the status.
        let steady = applied(original.clone(), VIJI, &["developers"]);
        let p = plan(&[&steady], AT, &arn_of, "aws-auth", false);
        assert_eq!((p.take_on.len(), p.statuses.len()), (0, 0));
        assert_eq!(p.grants[VIJI].groups, set(&["developers"]));
        let p = plan(&[&steady], AT, &arn_of, "access-entries", true);
        assert_eq!(p.grants[VIJI].groups, set(&["developers"]));
        assert_eq!(p.statuses.len(), 1);

        // Edited: the new groups are given, the old ones withdrawn.
        let mut edited = steady.clone();
        edited.spec.iam_groups = vec!["viewers".into()];
        let p = plan(&[&edited], AT, &arn_of, "aws-auth", false);
        assert_eq!(p.grants[VIJI].groups, set(&["viewers"]));
        assert_eq!(p.grants[VIJI].managed, set(&["developers"]));
        assert_eq!(p.statuses, [("viji-developers".into(), ok(&["viewers"]))]);

        // Made invalid: what was applied stays applied; the status says why.
        let mut broken = steady.clone();
        broken.spec.iam_groups = vec!["system:masters".into()];
        let p = plan(&[&broken], AT, &arn_of, "aws-auth", false);
        assert_eq!(p.grants[VIJI].groups, set(&["developers"]));
        let (_, status) = &p.statuses[0];
        assert_eq!(status.kubernetes_groups, ["developers"]);
        assert!(
            status
                .error
                .as_ref()
                .unwrap()
                .starts_with("spec.iamGroups[0]")
        );
        assert_eq!(p.invalid.len(), 1);
        // Invalid from the start: nothing granted, nothing taken on.
        let never = record("bad", "arn:aws:iam::937351930975:user/viji", "viji", &["d"]);
        let p = plan(&[&never], AT, &arn_of, "aws-auth", false);
        assert_eq!((p.grants.len(), p.take_on.len()), (0, 0));
        assert_eq!(p.statuses[0].1.user_arn, None);

        // Deleted, or handed over to iam-sync (labelled since): withdrawn, then released; a
        // deleted record that was never taken on is not ours to release.
        let mut deleted = steady.clone();
        deleted.deleting = true;
        let mut handed_over = steady.clone();
        handed_over.owned = true;
        for gone in [deleted, handed_over] {
            assert!(concerns(&gone));
            let p = plan(&[&gone], AT, &arn_of, "aws-auth", true);
            assert_eq!(p.grants[VIJI].groups, set(&[]));
            assert_eq!(p.grants[VIJI].managed, set(&["developers"]));
            assert_eq!(p.release, ["viji-developers"]);
            assert!(p.statuses.is_empty());
        }
        let mut foreign = original.clone();
        foreign.deleting = true;
        assert_eq!(
            plan(&[&foreign], AT, &arn_of, "aws-auth", false),
            HandPlan::default()
        );
        let mut owned = original.clone();
        owned.owned = true;
        assert!(!concerns(&owned));
    }

    #[test]
    fn two_records_of_one_user_join_and_the_first_names_it() {
        let a = record("b-second", "viji", "viji-2", &["qa"]);
        let b = record("a-first", VIJI, "viji", &["developers"]);
        let p = plan(&[&a, &b], AT, &arn_of, "aws-auth", false);
        assert_eq!(p.grants.len(), 1);
        assert_eq!(p.grants[VIJI].groups, set(&["developers", "qa"]));
        assert_eq!(p.grants[VIJI].username.as_deref(), Some("viji"));
        assert_eq!(names(&[&a, &b], AT), set(&["viji"]));
    }
}
