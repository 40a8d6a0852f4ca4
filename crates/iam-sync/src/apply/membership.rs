//! A membership event (`AddUserToGroup`, `RemoveUserFromGroup`) of a mapped group: the user's
//! identity converged to the groups IAM says it is in now, then its record. The event only
//! says whom to look at; IAM is the referee, so duplicate and out-of-order events end where
//! IAM is.
use super::{Context, Outcome, identities, read_mapping, write_records};
use crate::access_entries::Entries;
use crate::decide;
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

    let (o, trigger) = (&m.origin, m.action.event_name());
    let arn = user
        .as_ref()
        .map(|u| decide::user_arn(&o.partition, &o.account, &u.path, &u.name));
    // A user IAM knows is judged by its own entry; one IAM no longer knows (path unknown) is
    // looked for by name among the account's users.
    let prefix = decide::user_prefix(&o.partition, &o.account);
    let entries = arn.as_deref().map_or(Entries::Under(&prefix), Entries::Of);
    let converged = identities::converge(ctx, entries, |observed| {
        let plan = decide::plan_user(
            &mapping,
            &o.partition,
            &o.account,
            &m.user_name,
            user.as_ref(),
            observed,
        );
        plan.into_iter().collect()
    })
    .await?;
    identities::log(trigger, &converged.changes, ctx.config.dry_run);

    // The record of a user IAM knows; one IAM no longer knows loses its record at the resync.
    let record = user
        .iter()
        .zip(&arn)
        .map(|(u, arn)| decide::event_record(&mapping, u, arn, &converged.changes));
    let event = records::last_event(trigger, Some(&m.group_name), o);
    let records = write_records(ctx, record.collect(), event).await?;
    Ok(Outcome::Converged {
        changes: converged.changes,
        attempts: converged.attempts,
        records,
    })
}
