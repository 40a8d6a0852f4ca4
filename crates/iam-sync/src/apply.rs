//! Carrying out a trigger: read the mapping, ask IAM, plan with [`crate::decide`], write the
//! backend (aws-auth under optimistic concurrency, or access entries), then the records.
//!
//! Failure behaviour: an unreadable mapping, IAM or backend failure fails the invocation
//! (EventBridge/Lambda retry it; the resync heals anything still missed). A record that could
//! not be written fails it too, after the identity was applied (the retry finds the identity
//! right and writes the record).
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_ops::crd::iam_user_group::{IamUserGroup, LastEvent};
use kube::Api;
use serde::Serialize;

use crate::access_entries::{AccessEntries, EksError};
use crate::aws_auth::{self, AwsAuthError, MapUser, UserEdit};
use crate::config::{Backend, Config};
use crate::decide::{self, Change, IamUser, Identity, RecordChange};
use crate::event::{Membership, Origin, Trigger};
use crate::iam::{Iam, IamError};
use crate::mapping::{self, Mapping, MappingError};
use crate::records::{self, RecordError};

pub const AWS_AUTH: (&str, &str) = ("kube-system", "aws-auth");
/// EKS access-entry races (create vs create) re-read this many times in all.
const MAX_ATTEMPTS: u32 = 4;
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
    /// Records written or deleted.
    pub records: u64,
    pub backend: &'static str,
    pub dry_run: bool,
    /// aws-auth writes tried (more than 1: a concurrent writer was met and re-read).
    pub attempts: u32,
    pub api_calls: Calls,
    pub elapsed_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("reading the group mapping {0}: {1}")]
    MappingRead(String, #[source] kube::Error),
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error(transparent)]
    Iam(#[from] IamError),
    #[error(transparent)]
    AwsAuth(#[from] AwsAuthError),
    #[error(transparent)]
    Eks(#[from] EksError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

impl Context {
    pub fn new(kube: kube::Client, iam: Iam, eks: Option<AccessEntries>, config: Config) -> Self {
        Context {
            kube,
            iam,
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

pub async fn run(ctx: &Context, trigger: Trigger) -> Result<Summary, RunError> {
    let began = std::time::Instant::now();
    let before = ctx.calls();
    let mut summary = Summary {
        trigger: String::new(),
        decision: "unchanged",
        user: None,
        changes: Vec::new(),
        records: 0,
        backend: ctx.config.backend.as_str(),
        dry_run: ctx.config.dry_run,
        attempts: 0,
        api_calls: Calls::default(),
        elapsed_ms: 0,
    };
    match trigger {
        Trigger::Ignored { event_name, reason } => {
            tracing::info!(decision = "ignored", event = %event_name, reason, "not a membership change");
            summary.trigger = event_name;
            summary.decision = "ignored";
        }
        Trigger::Membership(m) => {
            summary.trigger = m.action.event_name().to_owned();
            summary.user = Some(m.user_name.clone());
            membership(ctx, &m, &mut summary).await?;
        }
        Trigger::Resync(origin) => {
            summary.trigger = "Resync".into();
            resync(ctx, &origin, &mut summary).await?;
        }
    }
    if summary.decision == "unchanged" && !summary.changes.is_empty() {
        summary.decision = if ctx.config.dry_run {
            "dry_run"
        } else {
            "applied"
        };
    }
    let after = ctx.calls();
    summary.api_calls = Calls {
        iam: after.iam - before.iam,
        kubernetes: after.kubernetes - before.kubernetes,
        eks: after.eks - before.eks,
    };
    summary.elapsed_ms = began.elapsed().as_millis() as u64;
    tracing::info!(
        trigger = %summary.trigger,
        decision = summary.decision,
        changes = summary.changes.len(),
        records = summary.records,
        iam_calls = summary.api_calls.iam,
        kubernetes_calls = summary.api_calls.kubernetes,
        eks_calls = summary.api_calls.eks,
        elapsed_ms = summary.elapsed_ms,
        dry_run = summary.dry_run,
        "run complete"
    );
    Ok(summary)
}

async fn read_mapping(ctx: &Context) -> Result<Mapping, RunError> {
    let (ns, name) = &ctx.config.mapping;
    let source = format!("{ns}/{name}");
    ctx.kube_calls(1);
    let cm = Api::<ConfigMap>::namespaced(ctx.kube.clone(), ns)
        .get(name)
        .await
        .map_err(|e| RunError::MappingRead(source.clone(), e))?;
    let text = cm.data.as_ref().and_then(|d| d.get(mapping::KEY));
    Ok(Mapping::parse(&source, text.map(String::as_str))?)
}

fn log_change(trigger: &str, change: &Change, dry_run: bool) {
    let groups = |i: &Identity| i.groups.join(",");
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

/// Converges the backend with `plan(observed) -> changes`. Returns the changes made.
async fn converge(
    ctx: &Context,
    summary: &mut Summary,
    prefix: &str,
    single: Option<&str>,
    mut plan: impl FnMut(&[Identity]) -> Vec<Change>,
) -> Result<Vec<Change>, RunError> {
    let dry_run = ctx.config.dry_run;
    match (ctx.config.backend, &ctx.eks) {
        (Backend::AccessEntries, Some(eks)) => {
            for attempt in 1..=MAX_ATTEMPTS {
                summary.attempts = attempt;
                let observed = match single {
                    Some(arn) => eks.describe(arn).await?.into_iter().collect(),
                    None => eks.observed(prefix).await?,
                };
                let changes = plan(&observed);
                if dry_run {
                    return Ok(changes);
                }
                let mut raced = false;
                for c in &changes {
                    match eks.apply(c).await {
                        Ok(()) => {}
                        Err(e) if e.raced && attempt < MAX_ATTEMPTS => {
                            tracing::info!(
                                arn = c.arn(),
                                attempt,
                                "access entry changed under us; re-reading"
                            );
                            raced = true;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                if !raced {
                    return Ok(changes);
                }
            }
            unreachable!("the last attempt returns")
        }
        _ => {
            let api = Api::<ConfigMap>::namespaced(ctx.kube.clone(), AWS_AUTH.0);
            let mut last = Vec::new();
            let written =
                aws_auth::update_map_users(&api, AWS_AUTH.0, AWS_AUTH.1, dry_run, |entries| {
                    let observed: Vec<Identity> = entries
                        .iter()
                        .map(|m| Identity {
                            arn: m.userarn.clone(),
                            username: m.username.clone(),
                            groups: m.groups.clone(),
                        })
                        .collect();
                    last = plan(&observed);
                    last.iter()
                        .map(|c| match c {
                            Change::Create { to } | Change::Update { to, .. } => {
                                UserEdit::Upsert(MapUser {
                                    userarn: to.arn.clone(),
                                    username: to.username.clone(),
                                    groups: to.groups.clone(),
                                })
                            }
                            Change::Delete { from } => UserEdit::Remove {
                                userarn: from.arn.clone(),
                            },
                        })
                        .collect()
                })
                .await;
            let written = written?;
            ctx.kube_calls(written.calls);
            summary.attempts = written.attempts;
            Ok(last)
        }
    }
}

async fn membership(ctx: &Context, m: &Membership, summary: &mut Summary) -> Result<(), RunError> {
    let mapping = read_mapping(ctx).await?;
    if !mapping.is_mapped(&m.group_name) {
        tracing::info!(decision = "ignored", reason = "unmapped_group", group = %m.group_name, user = %m.user_name, "IAM group not mapped");
        summary.decision = "unmapped_group";
        return Ok(());
    }
    // IAM is the referee: the event only says whom to look at.
    let user = ctx.iam.user(&m.user_name).await?;
    let o = &m.origin;
    let prefix = decide::user_prefix(&o.partition, &o.account);
    let arn = user
        .as_ref()
        .map(|u| decide::user_arn(&o.partition, &o.account, &u.path, &u.name));
    let changes = converge(ctx, summary, &prefix, arn.as_deref(), |observed| {
        decide::plan_user(
            &mapping,
            &o.partition,
            &o.account,
            &m.user_name,
            user.as_ref(),
            observed,
        )
        .into_iter()
        .collect()
    })
    .await?;
    for c in &changes {
        log_change(m.action.event_name(), c, ctx.config.dry_run);
    }
    summary.changes = changes;
    if ctx.config.dry_run {
        return Ok(());
    }
    // The record: written for a user with mapped groups, updated (not created) otherwise.
    if let (Some(u), Some(arn)) = (&user, &arn) {
        let username = summary
            .changes
            .iter()
            .find_map(|c| match c {
                Change::Create { to } | Change::Update { to, .. } => Some(to.username.clone()),
                Change::Delete { .. } => None,
            })
            .unwrap_or_else(|| u.name.clone());
        let record = decide::record(&mapping, u, arn, &username);
        let create = !record.spec.iam_groups.is_empty();
        let event = LastEvent {
            name: m.action.event_name().into(),
            iam_group: Some(m.group_name.clone()),
            id: Some(o.id.clone()),
            time: Some(Time(o.time)),
        };
        let calls = records::put(
            &ctx.records(),
            &record,
            None,
            create,
            summary.backend,
            event,
            Timestamp::now(),
        )
        .await?;
        ctx.kube_calls(calls);
        summary.records += u64::from(calls > 1);
    }
    Ok(())
}

async fn resync(ctx: &Context, o: &Origin, summary: &mut Summary) -> Result<(), RunError> {
    let mapping = read_mapping(ctx).await?;
    let mut users: BTreeMap<String, IamUser> = BTreeMap::new();
    for group in mapping.iam_groups() {
        let Some(members) = ctx.iam.members(group).await? else {
            tracing::warn!(
                group,
                "mapped IAM group does not exist; it gives no one anything"
            );
            continue;
        };
        for (name, path) in members {
            users
                .entry(name.to_ascii_lowercase())
                .or_insert_with(|| IamUser {
                    name,
                    path,
                    groups: Vec::new(),
                })
                .groups
                .push(group.to_owned());
        }
    }
    let prefix = decide::user_prefix(&o.partition, &o.account);
    let changes = converge(ctx, summary, &prefix, None, |observed| {
        decide::plan_resync(&mapping, &o.partition, &o.account, &users, observed)
    })
    .await?;
    for c in &changes {
        log_change("Resync", c, ctx.config.dry_run);
    }
    summary.changes = changes;

    // Records: the usernames as the backend now holds them (new entries: the IAM name).
    let usernames: BTreeMap<String, String> = summary
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Create { to } | Change::Update { to, .. } => {
                Some((to.arn.to_ascii_lowercase(), to.username.clone()))
            }
            Change::Delete { .. } => None,
        })
        .collect();
    let api = ctx.records();
    let (observed, calls) = records::list(&api).await?;
    ctx.kube_calls(calls);
    let wanted: Vec<decide::Record> = users
        .values()
        .map(|u| {
            let arn = decide::user_arn(&o.partition, &o.account, &u.path, &u.name);
            let existing = observed
                .iter()
                .find(|r| r.spec.iam_user == u.name)
                .map(|r| r.spec.username.clone());
            let username = usernames
                .get(&arn.to_ascii_lowercase())
                .cloned()
                .or(existing)
                .unwrap_or_else(|| u.name.clone());
            decide::record(&mapping, u, &arn, &username)
        })
        .collect();
    let plan = decide::plan_records(&wanted, &observed);
    if ctx.config.dry_run {
        for r in &plan {
            match r {
                RecordChange::Put(r) => {
                    tracing::info!(decision = "record", record = %r.name, groups = %r.kubernetes_groups.join(","), dry_run = true, "record")
                }
                RecordChange::Delete(name) => {
                    tracing::info!(decision = "record_delete", record = %name, dry_run = true, "record")
                }
            }
        }
        return Ok(());
    }
    let names: std::collections::BTreeSet<&str> =
        observed.iter().map(|r| r.name.as_str()).collect();
    let event = LastEvent {
        name: "Resync".into(),
        iam_group: None,
        id: Some(o.id.clone()),
        time: Some(Time(o.time)),
    };
    let (api, names, event, backend) = (&api, &names, &event, summary.backend);
    let results: Vec<Result<u64, RecordError>> = futures_util::stream::iter(plan)
        .map(|r| async move {
            match r {
                RecordChange::Put(r) => {
                    let exists = names.contains(r.name.as_str());
                    records::put(
                        api,
                        &r,
                        Some(exists),
                        true,
                        backend,
                        event.clone(),
                        Timestamp::now(),
                    )
                    .await
                }
                RecordChange::Delete(name) => records::delete(api, &name).await.map(|()| 1),
            }
        })
        .buffer_unordered(PARALLEL_RECORDS)
        .collect()
        .await;
    let mut first_error = None;
    for r in results {
        match r {
            Ok(calls) => {
                ctx.kube_calls(calls);
                summary.records += 1;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e.into());
    }
    Ok(())
}
