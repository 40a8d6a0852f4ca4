//! Step: the users' Kubernetes identities, converged where the backend keeps them (aws-auth
//! `mapUsers`, or EKS access entries), and the diff logged. Both backends re-read and re-plan
//! when another writer got there first, so the plan always judges what it replaces.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use super::Context;
use crate::access_entries::Entries;
use crate::aws_auth::{self, UserEdit};
use crate::decide::{self, Change, Identity};
use crate::error::Error;

/// The ConfigMap iam-sync edits (never creates): (namespace, name).
const AWS_AUTH: (&str, &str) = ("kube-system", "aws-auth");

/// The changes made (in a dry run: planned), the writes tried, and every principal's
/// username afterwards (by lower-cased ARN), for the records.
pub(super) struct Converged {
    pub changes: Vec<Change>,
    pub attempts: u32,
    pub usernames: BTreeMap<String, String>,
}

/// Reads the identities (access entries: only `entries`; aws-auth: all of `mapUsers`), asks
/// `plan(observed)` for the changes and makes them.
pub(super) async fn converge(
    ctx: &Context,
    entries: Entries<'_>,
    mut plan: impl FnMut(&[Identity]) -> Vec<Change>,
) -> Result<Converged, Error> {
    let dry_run = ctx.config.dry_run;
    let mut usernames = BTreeMap::new();
    let mut plan = |observed: &[Identity]| {
        let changes = plan(observed);
        usernames = decide::usernames_after(observed, &changes);
        changes
    };
    if let Some(eks) = &ctx.eks {
        let (changes, attempts) = eks.converge(entries, dry_run, &mut plan).await?;
        return Ok(Converged {
            changes,
            attempts,
            usernames,
        });
    }
    let api = Api::<ConfigMap>::namespaced(ctx.kube.clone(), AWS_AUTH.0);
    let mut changes = Vec::new();
    let written = aws_auth::update_map_users(&api, AWS_AUTH.0, AWS_AUTH.1, dry_run, |users| {
        let observed: Vec<Identity> = users.iter().map(Identity::from).collect();
        changes = plan(&observed);
        changes.iter().map(UserEdit::from).collect()
    })
    .await?;
    ctx.kube_calls(written.calls);
    Ok(Converged {
        changes,
        attempts: written.attempts,
        usernames,
    })
}

/// One line per identity change (the dry run's diff): `decision=create|update|delete`, the
/// ARN, the groups before and after.
pub(super) fn log(trigger: &str, changes: &[Change], dry_run: bool) {
    let groups = |i: &Identity| i.groups.join(",");
    for change in changes {
        let (from, to) = match change {
            Change::Create { to } => (String::new(), groups(to)),
            Change::Update { from, to } => (groups(from), groups(to)),
            Change::Delete { from } => (groups(from), String::new()),
        };
        tracing::info!(
            decision = change.name(),
            trigger,
            arn = change.arn(),
            from = %from,
            to = %to,
            dry_run,
            "identity"
        );
    }
}
