//! Which IAM groups give which Kubernetes groups: the ConfigMap named by
//! `GROUP_MAPPING_CONFIGMAP` (default `kube-system/iam-sync-groups`), key `mapGroups`, a YAML
//! list in aws-auth's style (sample: `infra/k8s/samples/iam-sync-groups.yaml`):
//!
//! ```yaml
//! mapGroups: |
//!   - iamGroup: developers
//!     kubernetesGroups: [dev-read, dev-edit]
//! ```
//!
//! IAM group names are compared ignoring case (IAM names are unique ignoring case). Every
//! Kubernetes group named here is *managed*: iam-sync adds and removes it from users' entries;
//! other groups in an entry (written by hand) are left alone. `system:` groups are refused: an
//! IAM group membership must not silently grant `system:masters` (EKS access entries refuse
//! them too).
//!
//! `sameNameGroups: "true"` (opt-in, the original's behaviour) maps every IAM group `mapGroups`
//! does not name to the Kubernetes group of the same name, as IAM spells it; `mapGroups` may
//! then be left out. The account's IAM groups (ListGroups) are then all mapped, and their names
//! managed. No IAM name contains `:`, so no such group is a `system:` group.
use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

pub const KEY: &str = "mapGroups";
/// The opt-in: `"true"` maps every other IAM group to the Kubernetes group of its name.
pub const SAME_NAME_KEY: &str = "sameNameGroups";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    /// Lower-cased IAM group name → (name as written, Kubernetes groups).
    groups: BTreeMap<String, (String, BTreeSet<String>)>,
    managed: BTreeSet<String>,
    same_name: bool,
    /// With `same_name`: the account's IAM groups `groups` does not name, lower-cased → as
    /// IAM spells them ([`Mapping::with_iam_groups`]).
    known: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("group mapping {source_name}: {problem}")]
pub struct MappingError {
    pub source_name: String,
    pub problem: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    iam_group: String,
    kubernetes_groups: Vec<String>,
}

impl Mapping {
    /// Reads the mapping ConfigMap's `data`: `sameNameGroups` (`"true"` or `"false"`, default
    /// false) and `mapGroups` (required unless `sameNameGroups` is `"true"`).
    pub fn from_data(
        source_name: &str,
        data: Option<&BTreeMap<String, String>>,
    ) -> Result<Mapping, MappingError> {
        let value = |key: &str| data.and_then(|d| d.get(key)).map(String::as_str);
        let same_name = match value(SAME_NAME_KEY) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(MappingError {
                    source_name: source_name.to_owned(),
                    problem: format!(
                        "data.{SAME_NAME_KEY} {other:?} is invalid (expected \"true\" or \"false\")"
                    ),
                });
            }
        };
        let mut mapping = match value(KEY) {
            None if same_name => Mapping::default(),
            text => Mapping::parse(source_name, text)?,
        };
        mapping.same_name = same_name;
        Ok(mapping)
    }

    /// Parses the ConfigMap's `mapGroups` (`source_name` names it in errors).
    pub fn parse(source_name: &str, text: Option<&str>) -> Result<Mapping, MappingError> {
        let err = |problem: String| MappingError {
            source_name: source_name.to_owned(),
            problem,
        };
        let text = text.ok_or_else(|| err(format!("data.{KEY} is missing")))?;
        let entries: Vec<Entry> = serde_saphyr::from_str(text).map_err(|e| {
            err(format!(
                "data.{KEY}: {}",
                e.to_string().lines().next().unwrap_or("")
            ))
        })?;
        let mut mapping = Mapping::default();
        for (i, e) in entries.into_iter().enumerate() {
            if !crate::event::valid_iam_name(&e.iam_group, 128) {
                return Err(err(format!(
                    "data.{KEY}[{i}].iamGroup {:?} is not an IAM group name",
                    e.iam_group
                )));
            }
            if e.kubernetes_groups.is_empty() {
                return Err(err(format!("data.{KEY}[{i}].kubernetesGroups is empty")));
            }
            for g in &e.kubernetes_groups {
                if g.trim().is_empty() || g.starts_with("system:") {
                    return Err(err(format!(
                        "data.{KEY}[{i}].kubernetesGroups: {g:?} is not allowed (empty or system:)"
                    )));
                }
            }
            let slot = mapping
                .groups
                .entry(e.iam_group.to_ascii_lowercase())
                .or_insert_with(|| (e.iam_group.clone(), BTreeSet::new()));
            slot.1.extend(e.kubernetes_groups.iter().cloned());
            mapping.managed.extend(e.kubernetes_groups);
        }
        Ok(mapping)
    }

    #[cfg(test)]
    pub fn of(pairs: &[(&str, &[&str])]) -> Mapping {
        let text: String = pairs
            .iter()
            .map(|(g, k)| format!("- iamGroup: {g}\n  kubernetesGroups: {k:?}\n"))
            .collect();
        Mapping::parse("test", Some(&text)).unwrap()
    }

    /// Whether every IAM group is mapped (`sameNameGroups: "true"`); then the account's IAM
    /// groups must be given ([`Mapping::with_iam_groups`]).
    pub fn same_name(&self) -> bool {
        self.same_name
    }

    /// With `sameNameGroups`, the account's IAM groups (as IAM spells them): each one
    /// `mapGroups` does not name is mapped to the Kubernetes group of its name; every one's
    /// name is managed (so a group that gets an explicit entry later loses its old name).
    pub fn with_iam_groups(mut self, names: impl IntoIterator<Item = String>) -> Mapping {
        if self.same_name {
            for name in names {
                let lower = name.to_ascii_lowercase();
                self.managed.insert(name.clone());
                if !self.groups.contains_key(&lower) {
                    self.known.insert(lower, name);
                }
            }
        }
        self
    }

    pub fn is_mapped(&self, iam_group: &str) -> bool {
        self.same_name || self.groups.contains_key(&iam_group.to_ascii_lowercase())
    }

    /// The mapped IAM groups, as the mapping (or, for same-name ones, IAM) spells them.
    pub fn iam_groups(&self) -> impl Iterator<Item = &str> {
        let named = self.groups.values().map(|(name, _)| name.as_str());
        named.chain(self.known.values().map(String::as_str))
    }

    /// The IAM group as the mapping spells it and the Kubernetes groups it gives; `None` when
    /// it is not mapped.
    pub fn kubernetes_groups_of(&self, iam_group: &str) -> Option<(String, BTreeSet<String>)> {
        let lower = iam_group.to_ascii_lowercase();
        if let Some((name, groups)) = self.groups.get(&lower) {
            return Some((name.clone(), groups.clone()));
        }
        self.same_name.then(|| {
            let name = self.known.get(&lower).cloned();
            let name = name.unwrap_or_else(|| iam_group.to_owned());
            (name.clone(), BTreeSet::from([name]))
        })
    }

    /// Every Kubernetes group the mapping gives (the groups iam-sync manages).
    pub fn managed(&self) -> &BTreeSet<String> {
        &self.managed
    }

    /// The mapped IAM groups among `iam_groups` (as the mapping spells them) and the
    /// Kubernetes groups they give.
    pub fn resolve<'a>(
        &self,
        iam_groups: impl IntoIterator<Item = &'a str>,
    ) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut mapped = BTreeSet::new();
        let mut kube = BTreeSet::new();
        for g in iam_groups {
            if let Some((name, k)) = self.kubernetes_groups_of(g) {
                mapped.insert(name);
                kube.extend(k);
            }
        }
        (mapped, kube)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_merge_resolve() {
        let m = Mapping::parse(
            "kube-system/iam-sync-groups",
            Some("- iamGroup: Developers\n  kubernetesGroups: [dev-read]\n- iamGroup: developers\n  kubernetesGroups: [dev-edit]\n- iamGroup: ops\n  kubernetesGroups: [ops, dev-read]\n"),
        )
        .unwrap();
        assert!(m.is_mapped("DEVELOPERS"));
        assert!(!m.is_mapped("finance"));
        let (iam, kube) = m.resolve(["developers", "finance"]);
        assert_eq!(iam.into_iter().collect::<Vec<_>>(), ["Developers"]);
        assert_eq!(
            kube.into_iter().collect::<Vec<_>>(),
            ["dev-edit", "dev-read"]
        );
        assert_eq!(m.managed().len(), 3);
        assert_eq!(Mapping::parse("x", Some("[]")).unwrap(), Mapping::default());
    }

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn same_name_maps_every_other_group_to_its_own_name() {
        // (data, IAM groups of the account, a user's IAM groups, expected Kubernetes groups)
        let explicit = "- iamGroup: developers\n  kubernetesGroups: [dev-readers]\n";
        let account = ["developers", "Platform-Admins", "qa"];
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a [&'a str]);
        let cases: [Case; 5] = [
            // The opt-in alone: every IAM group gives its own name, as IAM spells it.
            (
                &[(SAME_NAME_KEY, "true")],
                &["platform-admins", "qa"],
                &["Platform-Admins", "qa"],
            ),
            // An explicit entry wins for its group.
            (
                &[(SAME_NAME_KEY, "true"), (KEY, explicit)],
                &["developers", "qa"],
                &["dev-readers", "qa"],
            ),
            // Off (explicitly or by default): only the explicit entries.
            (
                &[(SAME_NAME_KEY, "false"), (KEY, explicit)],
                &["developers", "qa"],
                &["dev-readers"],
            ),
            (&[(KEY, explicit)], &["developers", "qa"], &["dev-readers"]),
            (&[(SAME_NAME_KEY, "true")], &[], &[]),
        ];
        for (i, (pairs, user_groups, expected)) in cases.into_iter().enumerate() {
            let m = Mapping::from_data("ns/cm", Some(&data(pairs)))
                .unwrap()
                .with_iam_groups(account.map(String::from));
            let (_, kube) = m.resolve(user_groups.iter().copied());
            assert_eq!(
                kube.iter().collect::<Vec<_>>(),
                expected.to_vec(),
                "case {i}"
            );
            assert_eq!(m.is_mapped("finance"), m.same_name(), "case {i}");
        }
        // Same-name: every IAM group is resynced and its name managed; explicit ones as written
        // (their Kubernetes groups managed too).
        let m = Mapping::from_data(
            "ns/cm",
            Some(&data(&[(SAME_NAME_KEY, "true"), (KEY, explicit)])),
        )
        .unwrap()
        .with_iam_groups(account.map(String::from));
        assert_eq!(
            m.iam_groups().collect::<Vec<_>>(),
            ["developers", "Platform-Admins", "qa"]
        );
        assert_eq!(
            m.managed().iter().collect::<Vec<_>>(),
            ["Platform-Admins", "dev-readers", "developers", "qa"]
        );
    }

    #[test]
    fn bad_mappings_name_the_field() {
        let cases = [
            (None, "data.mapGroups is missing"),
            (
                Some("- iamGroup: a\n  kubernetesGroups: []\n"),
                "data.mapGroups[0].kubernetesGroups is empty",
            ),
            (
                Some("- iamGroup: a\n  kubernetesGroups: [system:masters]\n"),
                "\"system:masters\" is not allowed",
            ),
            (
                Some("- iamGroup: a/b\n  kubernetesGroups: [x]\n"),
                "data.mapGroups[0].iamGroup \"a/b\"",
            ),
            (
                Some("- iamGroup: a\n  kubernetesGroup: [x]\n"),
                "data.mapGroups",
            ),
            (Some("iamGroup: a\n"), "data.mapGroups"),
        ];
        for (text, expected) in cases {
            let e = Mapping::parse("ns/cm", text).unwrap_err().to_string();
            assert!(e.starts_with("group mapping ns/cm: "), "{e}");
            assert!(e.contains(expected), "{e} lacks {expected}");
        }
        // The ConfigMap's keys: the opt-in's value, mapGroups required without it, and
        // `system:` refused with it too.
        for (pairs, expected) in [
            (
                &[(SAME_NAME_KEY, "yes")][..],
                "data.sameNameGroups \"yes\" is invalid (expected \"true\" or \"false\")",
            ),
            (&[(SAME_NAME_KEY, "false")][..], "data.mapGroups is missing"),
            (&[][..], "data.mapGroups is missing"),
            (
                &[
                    (SAME_NAME_KEY, "true"),
                    (KEY, "- iamGroup: a\n  kubernetesGroups: [system:masters]\n"),
                ][..],
                "\"system:masters\" is not allowed",
            ),
        ] {
            let e = Mapping::from_data("ns/cm", Some(&data(pairs)))
                .unwrap_err()
                .to_string();
            assert!(e.contains(expected), "{e} lacks {expected}");
        }
        assert!(Mapping::from_data("ns/cm", None).is_err());
    }
}
