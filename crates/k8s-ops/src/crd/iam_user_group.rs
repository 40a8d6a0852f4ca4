//! `IamUserGroup` (octank.com/v1, short name `ig`): the readable record iam-sync keeps per IAM
//! user whose membership of a mapped IAM group it applied. The spec keeps the original's
//! fields (`iamUser`, `username`, `iamGroups`), so its manifests apply unchanged; the status
//! says what was applied, to which principal, and after which event.
//!
//! The object's name is [`record_name`] of the IAM user name: DNS-1123-safe for any IAM user
//! name (IAM allows `+=,.@_-` and upper case), readable when the name already is a valid one.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "octank.com",
    version = "v1",
    kind = "IamUserGroup",
    namespaced,
    shortname = "ig",
    doc = "The Kubernetes identity iam-sync applied for one IAM user from its mapped IAM groups",
    status = "IamUserGroupStatus",
    derive = "PartialEq",
    derive = "Default",
    printcolumn = r#"{"name":"IAMUser","type":"string","jsonPath":".spec.iamUser"}"#,
    printcolumn = r#"{"name":"Groups","type":"string","jsonPath":".status.kubernetesGroups"}"#,
    printcolumn = r#"{"name":"LastEvent","type":"string","jsonPath":".status.lastEvent.name"}"#,
    printcolumn = r#"{"name":"Synced","type":"date","jsonPath":".status.syncedAt"}"#,
    printcolumn = r#"{"name":"ARN","type":"string","jsonPath":".status.userArn","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
pub struct IamUserGroupSpec {
    /// The IAM user name, exactly as IAM spells it.
    pub iam_user: String,
    /// The Kubernetes username the user is mapped to.
    pub username: String,
    /// The mapped IAM groups the user is a member of.
    #[serde(default)]
    pub iam_groups: Vec<String>,
}

/// What iam-sync last applied for the user.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IamUserGroupStatus {
    /// The principal mapped: `arn:<partition>:iam::<account>:user<path><name>`.
    pub user_arn: Option<String>,
    /// The Kubernetes groups the mapped IAM groups give the user, as applied.
    #[serde(default)]
    pub kubernetes_groups: Vec<String>,
    /// `aws-auth` or `access-entries`.
    pub backend: Option<String>,
    /// The event that last changed the record (`AddUserToGroup`, `RemoveUserFromGroup` or
    /// `Resync`).
    pub last_event: Option<LastEvent>,
    /// When the identity was last applied.
    pub synced_at: Option<Time>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastEvent {
    pub name: String,
    /// The IAM group the event named (none for a resync).
    pub iam_group: Option<String>,
    /// CloudTrail's `eventID` (or the EventBridge event id of a resync).
    pub id: Option<String>,
    pub time: Option<Time>,
}

/// The object name for an IAM user: the name itself when it is already a DNS-1123 label-ish
/// subdomain name in lower case (and does not end like a hashed name), otherwise the name
/// lower-cased with every other character replaced by `-`, trimmed, plus `-` and 10 hex digits
/// of a hash of the lower-cased name (IAM user names are unique ignoring case). Two users never
/// share a record name, barring a 40-bit hash collision between two non-plain names.
pub fn record_name(iam_user: &str) -> String {
    let plain = !iam_user.is_empty()
        && iam_user.len() <= 63
        && iam_user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !iam_user.starts_with('-')
        && !iam_user.ends_with('-')
        && !looks_hashed(iam_user);
    if plain {
        return iam_user.to_owned();
    }
    let lower = iam_user.to_ascii_lowercase();
    let mut base: String = lower
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    base.truncate(40);
    let base = base.trim_matches('-');
    let hash = fnv1a(lower.as_bytes()) & 0xff_ffff_ffff;
    if base.is_empty() {
        format!("u-{hash:010x}")
    } else {
        format!("{base}-{hash:010x}")
    }
}

fn looks_hashed(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 11
        && b[b.len() - 11] == b'-'
        && b[b.len() - 10..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// FNV-1a, 64 bits: stable across builds and platforms (std's hashers are not).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns1123_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    #[test]
    fn record_names_are_dns_safe_distinct_and_readable() {
        let cases = [
            ("alice", "alice"),
            ("bob-smith", "bob-smith"),
            ("Alice", "alice-"),
            ("alice@example.com", "alice-example-com-"),
            ("a+b=c,d.e@f_g", "a-b-c-d-e-f-g-"),
            ("___", "u-"),
            ("x-0123456789", "x-0123456789-"),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (user, prefix) in cases {
            let name = record_name(user);
            assert!(dns1123_label(&name), "{user} -> {name}");
            if prefix.ends_with('-') {
                assert!(name.starts_with(prefix), "{user} -> {name}");
                assert_eq!(name.len(), prefix.len() + 10, "{user} -> {name}");
            } else {
                assert_eq!(name, prefix);
            }
            assert!(seen.insert(name), "{user}: duplicate");
        }
        let long = "A".repeat(64);
        assert!(dns1123_label(&record_name(&long)));
        // Stable: a record is found again by the next run and the next build.
        assert_eq!(record_name("Alice"), record_name("Alice"));
        assert_ne!(record_name("a.b"), record_name("a_b"));
        // IAM names are unique ignoring case: the same user, the same record.
        assert_eq!(record_name("Alice"), record_name("ALICE"));
    }
}
