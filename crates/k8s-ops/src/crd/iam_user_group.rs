//! `IamUserGroup` (octank.com/v1, short name `ig`), the original operator's resource, with its
//! fields (`iamUser`, `username`, `iamGroups`), so its manifests apply unchanged. Two kinds
//! live side by side, told apart by the owner label iam-sync puts on the ones it writes:
//!
//! - written by iam-sync (labelled): the account of one IAM user's membership of one mapped
//!   IAM group, named [`record_name_for`] `<user>-<group>` as the original's Lambda named it;
//! - applied by hand (no label): an input, as in the original operator: `iamUser` (an ARN or a
//!   user name) is mapped with `username` to the Kubernetes groups `iamGroups`.
//!
//! The status says what was applied, to which principal, after which event, or why not.
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
    doc = "One IAM user's Kubernetes groups: written by iam-sync for a member of a mapped IAM group (labelled k8s-lambda.dev/managed-by=iam-sync), or applied by hand as input (as in the original operator)",
    status = "IamUserGroupStatus",
    derive = "PartialEq",
    derive = "Default",
    printcolumn = r#"{"name":"IAMUser","type":"string","jsonPath":".spec.iamUser"}"#,
    printcolumn = r#"{"name":"Groups","type":"string","jsonPath":".status.kubernetesGroups"}"#,
    printcolumn = r#"{"name":"LastEvent","type":"string","jsonPath":".status.lastEvent.name"}"#,
    printcolumn = r#"{"name":"Synced","type":"date","jsonPath":".status.syncedAt"}"#,
    printcolumn = r#"{"name":"ARN","type":"string","jsonPath":".status.userArn","priority":1}"#,
    printcolumn = r#"{"name":"Error","type":"string","jsonPath":".status.error","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
pub struct IamUserGroupSpec {
    /// The IAM user: its ARN (`arn:<partition>:iam::<account>:user/<path><name>`, as the
    /// original wrote it) or, in a record applied by hand, its name.
    pub iam_user: String,
    /// The Kubernetes username the user is mapped to.
    pub username: String,
    /// Applied by hand: the Kubernetes groups the user is mapped to (as the original operator
    /// copied them into `mapUsers`). Written by iam-sync: the IAM group the record stands for.
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
    /// Why a record applied by hand is not (or no longer) applied as its spec says: the field
    /// and what was expected. What was applied before stays applied.
    pub error: Option<String>,
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

/// The name of the record iam-sync writes for `user`'s membership of IAM group `group`: the
/// original's `<user>-<group>` lower-cased when that is unambiguous (both names only letters
/// and digits, 63 characters at most); otherwise [`record_name`] of `<user>/<group>` (`/` is in
/// no IAM name), so `a-b`+`c` and `a`+`b-c` never share a name.
pub fn record_name_for(user: &str, group: &str) -> String {
    let alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let plain = format!("{user}-{group}").to_ascii_lowercase();
    if alnum(user) && alnum(group) && plain.len() <= 63 && !looks_hashed(&plain) {
        plain
    } else {
        record_name(&format!("{user}/{group}"))
    }
}

/// A DNS-1123 object name for any text (an IAM user name, a `<user>/<group>` pair): the text
/// itself when it already is a DNS-1123 label in lower case (and does not end like a hashed
/// name), otherwise the text lower-cased with every other character replaced by `-`, trimmed,
/// plus `-` and 10 hex digits of a hash of the lower-cased text (IAM names are unique ignoring
/// case). Two texts never share a name, barring a 40-bit hash collision between two non-plain
/// ones.
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

    #[test]
    fn pair_names_are_the_originals_when_unambiguous() {
        // (user, group, exact name, or the prefix of a hashed one)
        let cases = [
            ("viji", "developers", "viji-developers"),
            ("Viji", "Developers", "viji-developers"),
            (
                "alice@example.com",
                "developers",
                "alice-example-com-developers-",
            ),
            // The original's name would be ambiguous here (`a-b`+`c` = `a`+`b-c`).
            ("a-b", "c", "a-b-c-"),
            ("a", "b-c", "a-b-c-"),
            ("bob_smith", "QA", "bob-smith-qa-"),
            // Plain, but would read as a hashed name.
            ("x", "0123456789", "x-0123456789-"),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (user, group, expected) in cases {
            let name = record_name_for(user, group);
            assert!(dns1123_label(&name), "{user} {group} -> {name}");
            if expected.ends_with('-') {
                assert!(name.starts_with(expected), "{user} {group} -> {name}");
                assert_eq!(name.len(), expected.len() + 10, "{user} {group} -> {name}");
            } else {
                assert_eq!(name, expected);
            }
            if (user, group) != ("Viji", "Developers") {
                assert!(seen.insert(name), "{user} {group}: duplicate");
            }
        }
        let long = record_name_for(&"u".repeat(64), &"g".repeat(128));
        assert!(dns1123_label(&long), "{long}");
    }
}
