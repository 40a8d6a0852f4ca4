//! A membership event (`AddUserToGroup`, `RemoveUserFromGroup`) of a mapped group: the user's
//! identity converged to the groups IAM says it is in now, together with what the
//! hand-applied records iam-sync has taken on give it, then the user's records. The event
//! only says whom to look at; IAM is the referee, so duplicate and out-of-order events end
//! where IAM is. Hand-applied records are only read here: the resync takes them on and
//! writes their status.
use super::write_records;
use super::{Context, Outcome, Records, identities, log_skipped, read_mapping, read_records};
use crate::access_entries::Entries;
use crate::decide::owned::{self, RecordPlan};
use crate::decide::{self, Account, Seen, hand};
use crate::error::Error;
use crate::event::Membership;
use crate::records;

pub(super) async fn run(ctx: &Context, m: &Membership) -> Result<Outcome, Error> {
    let mapping = read_mapping(ctx).await?;
    if !mapping.is_mapped(&m.group_name) {
        tracing::info!(decision = "ignored", reason = "unmapped_group", group = %m.group_name, user = %m.user_name, "IAM group not mapped");
        return Ok(Outcome::UnmappedGroup);
    }
    let user = ctx.iam.user(&m.user_name).await?;
    let seen = read_records(ctx).await?;

    let (o, trigger) = (&m.origin, m.action.event_name());
    let at = Account {
        partition: &o.partition,
        account: &o.account,
    };
    let arn = user
        .as_ref()
        .map(|u| decide::user_arn(at.partition, at.account, &u.path, &u.name));
    // What the hand-applied records already applied give (a name resolves only to this user).
    let hand: Vec<&Seen> = seen.iter().filter(|s| hand::concerns(s)).collect();
    let unowned = seen.iter().filter(|s| !s.owned).count() as u64;
    let arn_of = |name: &str| {
        user.as_ref()
            .zip(arn.as_ref())
            .filter(|(u, _)| u.name.eq_ignore_ascii_case(name))
            .map(|(_, arn)| arn.clone())
    };
    let backend = ctx.config.backend.as_str();
    let grants = hand::plan(&hand, at, &arn_of, backend, true).grants;

    // A user IAM knows is judged by its own entry; one IAM no longer knows (path unknown) is
    // looked for by name among the account's users.
    let prefix = decide::user_prefix(at.partition, at.account);
    let entries = arn.as_deref().map_or(Entries::Under(&prefix), Entries::Of);
    let converged = identities::converge(ctx, entries, |observed| {
        let plan = decide::plan_user(&mapping, at, &m.user_name, user.as_ref(), &grants, observed);
        plan.into_iter().collect()
    })
    .await?;
    identities::log(trigger, &converged.changes, ctx.config.dry_run);

    // The records of a user IAM knows: one per mapped group it is in now; one IAM no longer
    // knows loses its records at the resync.
    let plan = match (&user, &arn) {
        (Some(u), Some(arn)) => {
            let username = converged.usernames.get(&arn.to_ascii_lowercase());
            let username = username.unwrap_or(&u.name);
            let wanted = owned::records_of(&mapping, u, arn, username);
            owned::plan_records(&wanted, &seen, |s| owned::belongs_to(s, u, arn))
        }
        _ => RecordPlan::default(),
    };
    log_skipped(&plan.skipped);
    let event = records::last_event(trigger, Some(&m.group_name), o);
    let written = write_records(ctx, plan.changes, event).await?;
    Ok(Outcome::Converged {
        changes: converged.changes,
        attempts: converged.attempts,
        records: Records {
            written,
            unowned,
            invalid: 0,
            skipped: plan.skipped.len() as u64,
        },
    })
}
