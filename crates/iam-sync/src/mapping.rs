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
use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

pub const KEY: &str = "mapGroups";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    /// Lower-cased IAM group name → (name as written, Kubernetes groups).
    groups: BTreeMap<String, (String, BTreeSet<String>)>,
    managed: BTreeSet<String>,
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

    pub fn is_mapped(&self, iam_group: &str) -> bool {
        self.groups.contains_key(&iam_group.to_ascii_lowercase())
    }

    /// The mapped IAM groups, as the mapping spells them.
    pub fn iam_groups(&self) -> impl Iterator<Item = &str> {
        self.groups.values().map(|(name, _)| name.as_str())
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
            if let Some((name, k)) = self.groups.get(&g.to_ascii_lowercase()) {
                mapped.insert(name.clone());
                kube.extend(k.iter().cloned());
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
    }
}
