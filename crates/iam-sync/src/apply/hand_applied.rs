//! Step: the writes to hand-applied `IamUserGroup`s, which are never their spec: iam-sync's
//! finalizer added before their groups are written (`take_on`), then their status and the
//! finalizer of deleted ones removed once their groups are withdrawn (`finish`). In a dry run,
//! logged instead.
use jiff::Timestamp;
use k8s_ops::crd::iam_user_group::LastEvent;

use super::Context;
use crate::decide::hand::HandPlan;
use crate::error::Error;
use crate::records;

/// One line per refused record: its name and the error its status shows.
pub(super) fn log_invalid(plan: &HandPlan) {
    for (record, error) in &plan.invalid {
        tracing::warn!(decision = "record_invalid", record = %record, error = %error, "hand-applied IamUserGroup not applied as written");
    }
}

/// Adds iam-sync's finalizer to the records about to be applied. Returns the writes.
pub(super) async fn take_on(ctx: &Context, plan: &HandPlan) -> Result<u64, Error> {
    if ctx.config.dry_run {
        for name in &plan.take_on {
            tracing::info!(decision = "record_take_on", record = %name, dry_run = true, "record");
        }
        return Ok(0);
    }
    let api = ctx.records();
    for name in &plan.take_on {
        ctx.kube_calls(1);
        records::take_on(&api, name).await?;
    }
    Ok(plan.take_on.len() as u64)
}

/// Writes the statuses that change and releases the deleted records whose groups are
/// withdrawn. Returns the writes.
pub(super) async fn finish(
    ctx: &Context,
    plan: &HandPlan,
    event: &LastEvent,
) -> Result<u64, Error> {
    if ctx.config.dry_run {
        for (name, status) in &plan.statuses {
            tracing::info!(decision = "record_status", record = %name, groups = %status.kubernetes_groups.join(","), dry_run = true, "record");
        }
        for name in &plan.release {
            tracing::info!(decision = "record_release", record = %name, dry_run = true, "record");
        }
        return Ok(0);
    }
    let api = ctx.records();
    let backend = ctx.config.backend.as_str();
    for (name, status) in &plan.statuses {
        ctx.kube_calls(1);
        records::hand_status(&api, name, status, backend, event, Timestamp::now()).await?;
    }
    for name in &plan.release {
        ctx.kube_calls(records::release(&api, name).await?);
        tracing::info!(decision = "record_released", record = %name, "hand-applied IamUserGroup deleted or handed over: its groups are withdrawn");
    }
    Ok((plan.statuses.len() + plan.release.len()) as u64)
}
