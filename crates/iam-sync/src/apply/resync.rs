//! The resync (an EventBridge schedule): every member of every mapped group converged to what
//! IAM says, entries of this account's users IAM no longer lists stripped of their managed
//! groups, then every record made right. It heals whatever events were missed.
use std::collections::BTreeMap;

use super::{Context, Outcome, identities, read_mapping, write_records};
use crate::access_entries::Entries;
use crate::decide::{self, IamUser};
use crate::error::Error;
use crate::event::Origin;
use crate::mapping::Mapping;
use crate::records;

pub(super) async fn run(ctx: &Context, o: &Origin) -> Result<Outcome, Error> {
    let mapping = read_mapping(ctx).await?;
    let users = members(ctx, &mapping).await?;

    let prefix = decide::user_prefix(&o.partition, &o.account);
    let converged = identities::converge(ctx, Entries::Under(&prefix), |observed| {
        decide::plan_resync(&mapping, &o.partition, &o.account, &users, observed)
    })
    .await?;
    identities::log("Resync", &converged.changes, ctx.config.dry_run);

    let (observed, calls) = records::list(&ctx.records()).await?;
    ctx.kube_calls(calls);
    let wanted = decide::resync_records(
        &mapping,
        &o.partition,
        &o.account,
        &users,
        &converged.changes,
        &observed,
    );
    let plan = decide::plan_records(&wanted, &observed);
    let records = write_records(ctx, plan, records::last_event("Resync", None, o)).await?;
    Ok(Outcome::Converged {
        changes: converged.changes,
        attempts: converged.attempts,
        records,
    })
}

/// Step: IAM's members of every mapped group, by user. A mapped group IAM does not know gives
/// no one anything (it is logged).
async fn members(ctx: &Context, mapping: &Mapping) -> Result<BTreeMap<String, IamUser>, Error> {
    let mut members = Vec::new();
    for group in mapping.iam_groups() {
        match ctx.iam.members(group).await? {
            Some(users) => members.push((group, users)),
            None => tracing::warn!(
                group,
                "mapped IAM group does not exist; it gives no one anything"
            ),
        }
    }
    Ok(decide::users_of(members))
}
