//! Carrying out a trigger, in named steps: `membership` for one user's event, `resync` for
//! everyone. Each reads the group mapping, asks IAM, reads the `IamUserGroup`s (iam-sync's and
//! the hand-applied ones), plans with [`crate::decide`], converges the backend (`identities`:
//! aws-auth under optimistic concurrency, or access entries), then writes iam-sync's records
//! (`write_records`) and, in a resync, the hand-applied records' status and finalizer
//! (`hand_applied`). This module holds what they share and the answer, [`Summary`].
//!
//! Failure behaviour: an unreadable mapping, IAM or backend failure fails the invocation
//! (EventBridge/Lambda retry it; the resync heals anything still missed). A record that could
//! not be written fails it too, after the identity was applied (the retry finds the identity
//! right and writes the record).
mod hand_applied;
mod identities;
mod membership;
mod resync;

use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::SdkConfig;
use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_ops::crd::iam_user_group::{IamUserGroup, LastEvent};
use kube::Api;
use lambda_support::aws::LazyClient;
use serde::Serialize;

use crate::access_entries::AccessEntries;
use crate::config::{Backend, Config};
use crate::decide::Change;
use crate::decide::owned::RecordChange;
use crate::error::Error;
use crate::event::Trigger;
use crate::iam::Iam;
use crate::mapping::Mapping;
use crate::records;

/// Record writes in flight at once during a resync.
const PARALLEL_RECORDS: usize = 16;

pub struct Context {
    pub kube: kube::Client,
    pub iam: Iam,
    /// Present with `BACKEND=access-entries`.
    pub eks: Option<AccessEntries>,
    pub config: Config,
    kube_calls: AtomicU64,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Calls {
    pub iam: u64,
    pub kubernetes: u64,
    pub eks: u64,
}

/// The function's response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// `AddUserToGroup`, `RemoveUserFromGroup`, `Resync` or the ignored event's name.
    pub trigger: String,
    /// `applied`, `unchanged`, `ignored`, `unmapped_group`, `dry_run`.
    pub decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The changes made (or, in a dry run, that would be).
    pub changes: Vec<Change>,
    /// Records written or deleted (iam-sync's, and the status and finalizer of hand-applied
    /// ones).
    pub records: u64,
    /// `IamUserGroup`s iam-sync did not write (applied by hand): inputs, never deleted or
    /// overwritten.
    pub unowned_records: u64,
    /// Hand-applied records refused (their status says why).
    pub invalid_records: u64,
    /// Records iam-sync would write under a name a hand-applied record holds: not written.
    pub skipped_records: u64,
    pub backend: &'static str,
    pub dry_run: bool,
    /// Backend writes tried (more than 1: a concurrent writer was met and re-read).
    pub attempts: u32,
    pub api_calls: Calls,
    pub elapsed_ms: u64,
}

impl Summary {
    /// The invocation's metrics: the changes by kind, the records.
    fn record_metrics(&self) {
        use lambda_support::metrics::{count, put};
        let of = |kind| self.changes.iter().filter(|c| c.name() == kind).count();
        count("IdentitiesCreated", of("create"));
        count("IdentitiesUpdated", of("update"));
        count("IdentitiesDeleted", of("delete"));
        put("RecordsWritten", self.records as f64);
        put("InvalidRecords", self.invalid_records as f64);
    }
}

/// What a trigger came to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Not a membership change of ours.
    Ignored,
    /// A membership change of an IAM group the mapping does not name.
    UnmappedGroup,
    /// The backend and the records converged to IAM (or, in a dry run, would have).
    Converged {
        changes: Vec<Change>,
        attempts: u32,
        records: Records,
    },
}

/// What became of the `IamUserGroup`s.
#[derive(Debug, Default, PartialEq, Eq)]
struct Records {
    written: u64,
    unowned: u64,
    invalid: u64,
    skipped: u64,
}

impl Outcome {
    fn decision(&self, dry_run: bool) -> &'static str {
        match self {
            Outcome::Ignored => "ignored",
            Outcome::UnmappedGroup => "unmapped_group",
            Outcome::Converged { changes, .. } if changes.is_empty() => "unchanged",
            Outcome::Converged { .. } if dry_run => "dry_run",
            Outcome::Converged { .. } => "applied",
        }
    }
}

impl Context {
    /// The IAM client, and with `BACKEND=access-entries` the EKS one, are built on first use.
    pub fn new(kube: kube::Client, sdk: &SdkConfig, config: Config) -> Self {
        let eks = (config.backend == Backend::AccessEntries).then(|| {
            AccessEntries::new(
                LazyClient::new(sdk, aws_sdk_eks::Client::new),
                &config.cluster.name,
            )
        });
        Context {
            kube,
            iam: Iam::new(LazyClient::new(sdk, aws_sdk_iam::Client::new)),
            eks,
            config,
            kube_calls: AtomicU64::new(0),
        }
    }

    fn kube_calls(&self, n: u64) {
        self.kube_calls.fetch_add(n, Ordering::Relaxed);
    }

    fn calls(&self) -> Calls {
        Calls {
            iam: self.iam.calls.load(Ordering::Relaxed),
            kubernetes: self.kube_calls.load(Ordering::Relaxed),
            eks: self
                .eks
                .as_ref()
                .map_or(0, |e| e.calls.load(Ordering::Relaxed)),
        }
    }

    fn records(&self) -> Api<IamUserGroup> {
        Api::namespaced(self.kube.clone(), &self.config.record_namespace)
    }
}

/// Carries out `trigger` and answers what was done.
pub async fn handle(ctx: &Context, trigger: Trigger) -> Result<Summary, Error> {
    let began = std::time::Instant::now();
    let before = ctx.calls();
    let outcome = match &trigger {
        Trigger::Ignored { event_name, reason } => {
            tracing::info!(decision = "ignored", event = %event_name, reason, "not a membership change");
            Outcome::Ignored
        }
        // Boxed: each run's future is deep (mapping, IAM, records, backend, writes), and
        // nested inline they overflow the compiler's layout depth in `main`.
        Trigger::Membership(m) => Box::pin(membership::run(ctx, m)).await?,
        Trigger::Resync(origin) => Box::pin(resync::run(ctx, origin)).await?,
    };
    let after = ctx.calls();
    let decision = outcome.decision(ctx.config.dry_run);
    let (changes, attempts, records) = match outcome {
        Outcome::Converged {
            changes,
            attempts,
            records,
        } => (changes, attempts, records),
        Outcome::Ignored | Outcome::UnmappedGroup => (Vec::new(), 0, Records::default()),
    };
    let summary = Summary {
        trigger: trigger.name().to_owned(),
        decision,
        user: match trigger {
            Trigger::Membership(m) => Some(m.user_name),
            Trigger::Resync(_) | Trigger::Ignored { .. } => None,
        },
        changes,
        records: records.written,
        unowned_records: records.unowned,
        invalid_records: records.invalid,
        skipped_records: records.skipped,
        backend: ctx.config.backend.as_str(),
        dry_run: ctx.config.dry_run,
        attempts,
        api_calls: Calls {
            iam: after.iam - before.iam,
            kubernetes: after.kubernetes - before.kubernetes,
            eks: after.eks - before.eks,
        },
        elapsed_ms: began.elapsed().as_millis() as u64,
    };
    summary.record_metrics();
    tracing::info!(
        trigger = %summary.trigger,
        decision = summary.decision,
        changes = summary.changes.len(),
        records = summary.records,
        unowned_records = summary.unowned_records,
        invalid_records = summary.invalid_records,
        skipped_records = summary.skipped_records,
        iam_calls = summary.api_calls.iam,
        kubernetes_calls = summary.api_calls.kubernetes,
        eks_calls = summary.api_calls.eks,
        elapsed_ms = summary.elapsed_ms,
        dry_run = summary.dry_run,
        "run complete"
    );
    Ok(summary)
}

/// Step: the group mapping, from its ConfigMap; with same-name groups, the account's IAM
/// groups too.
async fn read_mapping(ctx: &Context) -> Result<Mapping, Error> {
    let (ns, name) = &ctx.config.mapping;
    let source = format!("{ns}/{name}");
    ctx.kube_calls(1);
    let cm = Api::<ConfigMap>::namespaced(ctx.kube.clone(), ns)
        .get(name)
        .await
        .map_err(|e| Error::MappingRead(source.clone(), e))?;
    let mapping = Mapping::from_data(&source, cm.data.as_ref())?;
    if !mapping.same_name() {
        return Ok(mapping);
    }
    Ok(mapping.with_iam_groups(ctx.iam.groups().await?))
}

/// Step: every `IamUserGroup` of the record namespace, iam-sync's and the hand-applied ones.
async fn read_records(ctx: &Context) -> Result<Vec<crate::decide::Seen>, Error> {
    let (seen, calls) = records::list(&ctx.records()).await?;
    ctx.kube_calls(calls);
    Ok(seen)
}

/// Step: the record writes, `PARALLEL_RECORDS` at a time, their status naming `event`; in a
/// dry run, logged instead. Every write is tried; the first failure fails the run after the
/// others. Returns the records written or deleted.
async fn write_records(
    ctx: &Context,
    plan: Vec<RecordChange>,
    event: LastEvent,
) -> Result<u64, Error> {
    if ctx.config.dry_run {
        plan.iter().for_each(log_record);
        return Ok(0);
    }
    let (api, event, backend) = (&ctx.records(), &event, ctx.config.backend.as_str());
    let results: Vec<_> = futures_util::stream::iter(plan)
        .map(|change| async move {
            records::apply(api, &change, backend, event, Timestamp::now()).await
        })
        .buffer_unordered(PARALLEL_RECORDS)
        .collect()
        .await;
    let mut written = 0;
    let mut first_error = None;
    for result in results {
        match result {
            Ok(applied) => {
                ctx.kube_calls(applied.calls);
                written += u64::from(applied.written);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(written),
    }
}

/// A record write a dry run would make.
fn log_record(change: &RecordChange) {
    match change {
        RecordChange::Create(r) | RecordChange::Update { record: r, .. } => {
            tracing::info!(decision = "record", record = %r.name, groups = %r.kubernetes_groups.join(","), dry_run = true, "record")
        }
        RecordChange::Delete { name, .. } => {
            tracing::info!(decision = "record_delete", record = %name, dry_run = true, "record")
        }
    }
}

/// Wanted records a hand-applied record's name blocks: logged, one line each.
fn log_skipped(skipped: &[String]) {
    for name in skipped {
        tracing::warn!(
            decision = "record_skipped",
            record = %name,
            reason = "a hand-applied IamUserGroup has this name; it is left as it is",
            "record"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_names_what_the_trigger_came_to() {
        let converged = |changes: Vec<Change>| Outcome::Converged {
            changes,
            attempts: 1,
            records: Records::default(),
        };
        let create = Change::Create {
            to: crate::decide::Identity {
                arn: "arn:aws:iam::111122223333:user/alice".into(),
                username: "alice".into(),
                groups: vec!["dev".into()],
            },
        };
        for (outcome, dry_run, decision) in [
            (Outcome::Ignored, false, "ignored"),
            (Outcome::UnmappedGroup, true, "unmapped_group"),
            (converged(vec![]), false, "unchanged"),
            (converged(vec![]), true, "unchanged"),
            (converged(vec![create.clone()]), false, "applied"),
            (converged(vec![create]), true, "dry_run"),
        ] {
            assert_eq!(outcome.decision(dry_run), decision, "{outcome:?}");
        }
    }
}
