//! The resync (an EventBridge schedule): every member of every mapped group converged to what
//! IAM says, joined by what the hand-applied records give, entries of this account's users
//! neither lists stripped of their managed groups, then every record made right: iam-sync's
//! own, and the hand-applied ones' status and finalizer. It heals whatever events were missed.
use std::collections::{BTreeMap, BTreeSet};

use super::{Context, Outcome, Records, hand_applied, identities, log_skipped};
use super::{read_mapping, read_records, write_records};
use crate::access_entries::Entries;
use crate::decide::{self, Account, IamUser, Seen, hand, owned};
use crate::error::Error;
use crate::event::Origin;
use crate::mapping::Mapping;
use crate::records;

pub(super) async fn run(ctx: &Context, o: &Origin) -> Result<Outcome, Error> {
    let mapping = read_mapping(ctx).await?;
    let users = members(ctx, &mapping).await?;
    let seen = read_records(ctx).await?;
    let at = Account {
        partition: &o.partition,
        account: &o.account,
    };

    let hand: Vec<&Seen> = seen.iter().filter(|s| hand::concerns(s)).collect();
    let unowned = seen.iter().filter(|s| !s.owned).count() as u64;
    let arns = user_arns(ctx, at, &users, hand::names(&hand, at)).await?;
    let arn_of = |name: &str| arns.get(&name.to_ascii_lowercase()).cloned();
    let backend = ctx.config.backend.as_str();
    let hand_plan = hand::plan(&hand, at, &arn_of, backend, false);
    hand_applied::log_invalid(&hand_plan);
    // Taken on before its groups are written, so a record deleted from now on keeps them
    // visible until the next resync has withdrawn them.
    let mut written = hand_applied::take_on(ctx, &hand_plan).await?;

    let prefix = decide::user_prefix(at.partition, at.account);
    let converged = identities::converge(ctx, Entries::Under(&prefix), |observed| {
        decide::plan_resync(&mapping, at, &users, &hand_plan.grants, observed)
    })
    .await?;
    identities::log("Resync", &converged.changes, ctx.config.dry_run);

    let wanted: Vec<owned::Record> = users
        .values()
        .flat_map(|u| {
            let arn = decide::user_arn(at.partition, at.account, &u.path, &u.name);
            let username = converged.usernames.get(&arn.to_ascii_lowercase());
            owned::records_of(&mapping, u, &arn, username.unwrap_or(&u.name))
        })
        .collect();
    let plan = owned::plan_records(&wanted, &seen, |_| true);
    log_skipped(&plan.skipped);
    let event = records::last_event("Resync", None, o);
    written += write_records(ctx, plan.changes, event.clone()).await?;
    written += hand_applied::finish(ctx, &hand_plan, &event).await?;
    Ok(Outcome::Converged {
        changes: converged.changes,
        attempts: converged.attempts,
        records: Records {
            written,
            unowned,
            invalid: hand_plan.invalid.len() as u64,
            skipped: plan.skipped.len() as u64,
        },
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

/// Step: the ARN (with the user's path) of every user name hand-applied records give, by
/// lower-cased name: from the members already read, else from IAM (GetUser). A name IAM does
/// not know has none.
async fn user_arns(
    ctx: &Context,
    at: Account<'_>,
    users: &BTreeMap<String, IamUser>,
    names: BTreeSet<String>,
) -> Result<BTreeMap<String, String>, Error> {
    let mut arns = BTreeMap::new();
    for name in names {
        let lower = name.to_ascii_lowercase();
        let found = match users.get(&lower) {
            Some(u) => Some((u.name.clone(), u.path.clone())),
            None => ctx.iam.find(&name).await?,
        };
        if let Some((name, path)) = found {
            let arn = decide::user_arn(at.partition, at.account, &path, &name);
            arns.insert(lower, arn);
        }
    }
    Ok(arns)
}
