//! Minimal edits of the `aws-auth` ConfigMap's `mapUsers`.
//!
//! Only `data.mapUsers` is ever rewritten; every other key, label and annotation goes back
//! exactly as read (the object is PUT with the resourceVersion read, so a concurrent writer's
//! change is a 409, re-read and re-planned, never overwritten). Inside `mapUsers`, the
//! entries of other users keep their bytes too: a block sequence is cut into one text chunk
//! per entry, and only the chunk of the user concerned is replaced, removed or appended.
//! Text that cannot be cut safely (a flow sequence `[...]`, anchors spanning entries…) is
//! re-serialized as a whole instead, which keeps its meaning.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::PostParams;
use serde::Serialize;
use serde_json::Value;

use crate::decide::{Change, Identity};

pub const MAP_USERS: &str = "mapUsers";
/// Conflicts are retried from a fresh read this many times in all.
const MAX_ATTEMPTS: u32 = 8;

/// The wait after the `attempt`th conflict: 10 ms, doubling.
fn conflict_backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(10 << (attempt - 1).min(6))
}

/// One `mapUsers` entry as the authenticator reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MapUser {
    pub userarn: String,
    pub username: String,
    pub groups: Vec<String>,
}

/// A change to one user's entry, keyed by ARN (compared ignoring case, as the authenticator
/// does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserEdit {
    /// Replace the user's entry (the last one, which is the one that counts), or append one.
    Upsert(MapUser),
    /// Remove every entry of this ARN.
    Remove { userarn: String },
}

/// The identity an entry gives, as the plan judges it.
impl From<&MapUser> for Identity {
    fn from(m: &MapUser) -> Identity {
        Identity {
            arn: m.userarn.clone(),
            username: m.username.clone(),
            groups: m.groups.clone(),
        }
    }
}

/// The edit that carries out a planned change.
impl From<&Change> for UserEdit {
    fn from(change: &Change) -> UserEdit {
        match change {
            Change::Create { to } | Change::Update { to, .. } => UserEdit::Upsert(MapUser {
                userarn: to.arn.clone(),
                username: to.username.clone(),
                groups: to.groups.clone(),
            }),
            Change::Delete { from } => UserEdit::Remove {
                userarn: from.arn.clone(),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AwsAuthError {
    #[error("configmap {namespace}/{name} not found (iam-sync edits it, never creates it)")]
    NotFound { namespace: String, name: String },
    #[error("configmap aws-auth: data.mapUsers is not a YAML list of entries: {0}")]
    Yaml(String),
    #[error("configmap aws-auth: still changing under us after {0} conflicts")]
    Conflict(u32),
    #[error("configmap aws-auth: {0}")]
    Api(#[source] kube::Error),
}

/// A parsed `mapUsers`: its chunks of text, one per entry, when it could be cut.
struct Doc {
    /// Comments and blank lines before the first entry.
    preamble: String,
    indent: usize,
    /// (text, entry) per entry, in order; `None` text when the whole must be re-serialized.
    items: Vec<(Option<String>, Value)>,
}

fn parse_list(text: &str) -> Result<Vec<Value>, AwsAuthError> {
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(Vec::new());
    }
    match serde_saphyr::from_str::<Value>(text) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(Value::Null) => Ok(Vec::new()),
        Ok(other) => Err(AwsAuthError::Yaml(format!(
            "a {} where a list was expected",
            kind(&other)
        ))),
        Err(e) => Err(AwsAuthError::Yaml(
            e.to_string().lines().next().unwrap_or("").to_owned(),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "mapping",
        Value::String(_) => "string",
        _ => "scalar",
    }
}

fn parse_doc(text: &str) -> Result<Doc, AwsAuthError> {
    let whole = parse_list(text)?;
    cut(text, &whole).ok_or(()).or_else(|()| {
        Ok(Doc {
            preamble: String::new(),
            indent: 0,
            items: whole.into_iter().map(|v| (None, v)).collect(),
        })
    })
}

/// Cuts a block sequence into one chunk per entry; `None` when the chunks, parsed one by one,
/// are not exactly the whole.
fn cut(text: &str, whole: &[Value]) -> Option<Doc> {
    let mut preamble = String::new();
    let mut indent = None;
    let mut chunks: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let blank = trimmed.trim().is_empty() || trimmed.starts_with('#');
        let col = line.len() - trimmed.len();
        match indent {
            None if blank => preamble.push_str(line),
            None if trimmed.starts_with('-') => {
                indent = Some(col);
                chunks.push(line.to_owned());
            }
            None => return None,
            Some(i) if !blank && col == i && trimmed.starts_with('-') => {
                chunks.push(line.to_owned())
            }
            Some(i) if !blank && col <= i => return None,
            Some(_) => chunks.last_mut()?.push_str(line),
        }
    }
    if chunks.len() != whole.len() {
        return None;
    }
    let mut items = Vec::with_capacity(chunks.len());
    for (chunk, expected) in chunks.into_iter().zip(whole) {
        match parse_list(&chunk).ok()?.as_slice() {
            [one] if one == expected => items.push((Some(chunk), one.clone())),
            _ => return None,
        }
    }
    Some(Doc {
        preamble,
        indent: indent.unwrap_or(0),
        items,
    })
}

fn field<'a>(entry: &'a Value, key: &str) -> Option<&'a Value> {
    entry
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn to_map_user(entry: &Value) -> Option<MapUser> {
    let s = |k: &str| field(entry, k).and_then(Value::as_str).map(str::to_owned);
    Some(MapUser {
        userarn: s("userarn")?,
        username: s("username").unwrap_or_default(),
        groups: field(entry, "groups")
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The entries of `mapUsers` (those without a `userarn` are skipped, as the authenticator
/// skips them). For an ARN present several times, the last entry is the one that counts.
pub fn parse_map_users(text: &str) -> Result<Vec<MapUser>, AwsAuthError> {
    Ok(parse_list(text)?.iter().filter_map(to_map_user).collect())
}

fn render(entry: &MapUser, indent: usize) -> String {
    let yaml = serde_saphyr::to_string(&[entry]).expect("a mapUsers entry serializes");
    let pad = " ".repeat(indent);
    yaml.lines().map(|l| format!("{pad}{l}\n")).collect()
}

fn same_arn(entry: &Value, arn: &str) -> bool {
    field(entry, "userarn")
        .and_then(Value::as_str)
        .is_some_and(|a| a.eq_ignore_ascii_case(arn))
}

/// `text` with `edits` applied, touching nothing else when it can.
pub fn edit_map_users(text: &str, edits: &[UserEdit]) -> Result<String, AwsAuthError> {
    let mut doc = parse_doc(text)?;
    for edit in edits {
        match edit {
            UserEdit::Remove { userarn } => doc.items.retain(|(_, v)| !same_arn(v, userarn)),
            UserEdit::Upsert(m) => {
                let value = serde_json::to_value(m).expect("an entry is JSON");
                let chunk = doc
                    .items
                    .iter()
                    .all(|(t, _)| t.is_some())
                    .then(|| render(m, doc.indent));
                match doc.items.iter().rposition(|(_, v)| same_arn(v, &m.userarn)) {
                    Some(i) => doc.items[i] = (chunk, value),
                    None => {
                        if let Some((Some(last), _)) = doc.items.last_mut()
                            && !last.ends_with('\n')
                        {
                            last.push('\n');
                        }
                        doc.items.push((chunk, value));
                    }
                }
            }
        }
    }
    if doc.items.iter().all(|(t, _)| t.is_some()) {
        let mut out = doc.preamble;
        for (text, _) in doc.items {
            out.push_str(&text.unwrap_or_default());
        }
        Ok(out)
    } else if doc.items.is_empty() {
        Ok(String::new())
    } else {
        let all: Vec<Value> = doc.items.into_iter().map(|(_, v)| v).collect();
        serde_saphyr::to_string(&all).map_err(|e| AwsAuthError::Yaml(e.to_string()))
    }
}

/// What [`update_map_users`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub edits: Vec<UserEdit>,
    /// 1 unless writes met conflicts (409) and were re-planned.
    pub attempts: u32,
    /// Kubernetes calls made (reads and writes).
    pub calls: u64,
}

/// Reads the ConfigMap, asks `plan(entries)` for the edits (empty: nothing to do), and writes
/// `data.mapUsers` with the resourceVersion read; on 409 starts over from a fresh read, so
/// `plan` always judges what it replaces. With `dry_run`, plans once and writes nothing.
pub async fn update_map_users(
    api: &Api<ConfigMap>,
    namespace: &str,
    name: &str,
    dry_run: bool,
    mut plan: impl FnMut(&[MapUser]) -> Vec<UserEdit>,
) -> Result<Written, AwsAuthError> {
    let mut calls = 0;
    for attempt in 1..=MAX_ATTEMPTS {
        calls += 1;
        let cm = api.get(name).await.map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => AwsAuthError::NotFound {
                namespace: namespace.into(),
                name: name.into(),
            },
            e => AwsAuthError::Api(e),
        })?;
        let text = cm
            .data
            .as_ref()
            .and_then(|d| d.get(MAP_USERS))
            .cloned()
            .unwrap_or_default();
        let edits = plan(&parse_map_users(&text)?);
        if edits.is_empty() || dry_run {
            return Ok(Written {
                edits,
                attempts: attempt,
                calls,
            });
        }
        let new_text = edit_map_users(&text, &edits)?;
        let mut desired = cm;
        desired
            .data
            .get_or_insert_with(BTreeMap::new)
            .insert(MAP_USERS.into(), new_text);
        calls += 1;
        match api.replace(name, &PostParams::default(), &desired).await {
            Ok(_) => {
                return Ok(Written {
                    edits,
                    attempts: attempt,
                    calls,
                });
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                tracing::info!(configmap = name, attempt, "aws-auth conflict; re-reading");
                // Backed off before the fresh read, as client-go's RetryOnConflict does: a
                // writer busy on the same ConfigMap (eksctl, a GitOps sync) finishes its
                // burst instead of winning every race (10 ms doubling: 1.27 s over 8 tries).
                if attempt < MAX_ATTEMPTS {
                    tokio::time::sleep(conflict_backoff(attempt)).await;
                }
            }
            Err(e) => return Err(AwsAuthError::Api(e)),
        }
    }
    Err(AwsAuthError::Conflict(MAX_ATTEMPTS))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = "# managed by hand and by iam-sync\n- userarn: arn:aws:iam::111122223333:user/ops\n  username: ops   # the on-call\n  groups:\n    - system:masters\n- userarn: arn:aws:iam::111122223333:user/alice\n  username: alice\n  groups: [dev]\n- userarn: arn:aws:iam::111122223333:user/carol\n  username: carol\n  groups: [\"qa\"]\n";

    fn user(name: &str, groups: &[&str]) -> MapUser {
        MapUser {
            userarn: format!("arn:aws:iam::111122223333:user/{name}"),
            username: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn entries_are_parsed_with_keys_ignoring_case_and_skipping_arnless_ones() {
        let users = parse_map_users(
            "- userARN: arn:x\n  Username: u\n  groups: [a, b]\n- username: nobody\n",
        )
        .unwrap();
        assert_eq!(
            users,
            [MapUser {
                userarn: "arn:x".into(),
                username: "u".into(),
                groups: vec!["a".into(), "b".into()]
            }]
        );
        assert_eq!(parse_map_users("").unwrap(), []);
        assert_eq!(parse_map_users("# nothing yet\n").unwrap(), []);
        assert!(
            parse_map_users("userarn: x\n")
                .unwrap_err()
                .to_string()
                .contains("mapping")
        );
    }

    #[test]
    fn only_the_users_chunk_changes() {
        // Update alice: ops's comment and odd indentation, carol's quotes stay byte for byte.
        let out = edit_map_users(
            ORIGINAL,
            &[UserEdit::Upsert(user("alice", &["dev", "ops"]))],
        )
        .unwrap();
        let (before, after) = ORIGINAL
            .split_once("- userarn: arn:aws:iam::111122223333:user/alice")
            .unwrap();
        assert!(out.starts_with(before), "{out}");
        assert!(
            out.ends_with(&after[after.find("- userarn").unwrap()..]),
            "{out}"
        );
        let users = parse_map_users(&out).unwrap();
        assert_eq!(users[1], user("alice", &["dev", "ops"]));
        assert_eq!(users.len(), 3);

        // Remove alice; append dave.
        let out = edit_map_users(
            ORIGINAL,
            &[
                UserEdit::Remove {
                    userarn: "ARN:AWS:IAM::111122223333:USER/ALICE".into(),
                },
                UserEdit::Upsert(user("dave@example.com", &["dev"])),
            ],
        )
        .unwrap();
        assert!(out.starts_with(before), "{out}");
        assert!(!out.contains("alice"), "{out}");
        let users = parse_map_users(&out).unwrap();
        assert_eq!(
            users
                .iter()
                .map(|u| u.username.as_str())
                .collect::<Vec<_>>(),
            ["ops", "carol", "dave@example.com"]
        );
        assert_eq!(users[0].groups, ["system:masters"]);
    }

    #[test]
    fn indented_lists_no_trailing_newline_flow_lists_and_empty_text() {
        let indented = "  - userarn: arn:aws:iam::1:user/a\n    username: a\n    groups: [x]";
        let out = edit_map_users(indented, &[UserEdit::Upsert(user("b", &["y"]))]).unwrap();
        assert!(out.starts_with("  - userarn: arn:aws:iam::1:user/a\n    username: a\n    groups: [x]\n  - userarn: "), "{out}");
        assert_eq!(parse_map_users(&out).unwrap().len(), 2);

        let flow = "[{userarn: 'arn:aws:iam::1:user/a', username: a, groups: [x]}]";
        let out = edit_map_users(flow, &[UserEdit::Upsert(user("b", &["y"]))]).unwrap();
        let users = parse_map_users(&out).unwrap();
        assert_eq!(users.len(), 2, "{out}");
        assert_eq!(users[1], user("b", &["y"]));

        let out = edit_map_users("", &[UserEdit::Upsert(user("a+b=c,d.e@f_g", &["dev"]))]).unwrap();
        assert_eq!(
            parse_map_users(&out).unwrap(),
            [user("a+b=c,d.e@f_g", &["dev"])]
        );
        let out = edit_map_users(
            &out,
            &[UserEdit::Remove {
                userarn: user("a+b=c,d.e@f_g", &[]).userarn,
            }],
        )
        .unwrap();
        assert_eq!(parse_map_users(&out).unwrap(), []);
    }

    #[test]
    fn names_that_yaml_would_misread_are_quoted() {
        for name in ["true", "123", "null", "a: b", "#x", "@at", "- dash", "~"] {
            let m = MapUser {
                userarn: format!("arn:aws:iam::1:user/{name}"),
                username: name.into(),
                groups: vec![name.into()],
            };
            let out = edit_map_users("", &[UserEdit::Upsert(m.clone())]).unwrap();
            assert_eq!(parse_map_users(&out).unwrap(), [m], "{out}");
        }
    }
}
