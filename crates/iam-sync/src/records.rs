//! The `IamUserGroup` records: one per user, the readable account of what was applied. Read
//! all at once for a resync; written one [`RecordChange`] at a time.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_ops::crd::iam_user_group::{IamUserGroup, IamUserGroupStatus, LastEvent};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::decide::{Record, RecordChange};
use crate::event::Origin;

#[derive(Debug, thiserror::Error)]
#[error("IamUserGroup {name}: {source}")]
pub struct RecordError {
    pub name: String,
    #[source]
    pub source: kube::Error,
}

fn err(name: &str) -> impl FnOnce(kube::Error) -> RecordError + '_ {
    move |source| RecordError {
        name: name.to_owned(),
        source,
    }
}

/// Every record of the namespace (every page), as [`Record`]s. Returns the number of calls.
pub async fn list(api: &Api<IamUserGroup>) -> Result<(Vec<Record>, u64), RecordError> {
    let mut calls = 0;
    let records = k8s_ops::list::all(api, || calls += 1)
        .await
        .map_err(|e| err("(list)")(e.source))?;
    let records = records.into_iter().map(|r| {
        let status = r.status.unwrap_or_default();
        Record {
            name: r.metadata.name.unwrap_or_default(),
            spec: r.spec,
            user_arn: status.user_arn.unwrap_or_default(),
            kubernetes_groups: status.kubernetes_groups,
        }
    });
    Ok((records.collect(), calls))
}

/// What a record write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Kubernetes calls made.
    pub calls: u64,
    /// Whether a record was written or deleted (not: an absent one left absent).
    pub written: bool,
}

/// Carries out one record write: the spec (merge patch, or create), then the status, which
/// says what was applied through `backend` after `event`, at `now`.
pub async fn apply(
    api: &Api<IamUserGroup>,
    change: &RecordChange,
    backend: &str,
    event: &LastEvent,
    now: jiff::Timestamp,
) -> Result<Applied, RecordError> {
    let (record, calls) = match change {
        RecordChange::Delete(name) => {
            delete(api, name).await?;
            return Ok(Applied {
                calls: 1,
                written: true,
            });
        }
        RecordChange::Create(record) => {
            create(api, record).await?;
            (record, 1)
        }
        RecordChange::Update(record) => {
            if patch_spec(api, record).await? {
                (record, 1)
            } else {
                create(api, record).await?;
                (record, 2)
            }
        }
        RecordChange::UpdateIfPresent(record) => {
            if !patch_spec(api, record).await? {
                return Ok(Applied {
                    calls: 1,
                    written: false,
                });
            }
            (record, 1)
        }
    };
    patch_status(api, record, backend, event, now).await?;
    Ok(Applied {
        calls: calls + 1,
        written: true,
    })
}

/// The record's status names the event that wrote it: a membership change (with its IAM
/// group) or a resync, with the event's id and time.
pub fn last_event(name: &str, iam_group: Option<&str>, origin: &Origin) -> LastEvent {
    LastEvent {
        name: name.to_owned(),
        iam_group: iam_group.map(str::to_owned),
        id: Some(origin.id.clone()),
        time: Some(Time(origin.time)),
    }
}

/// Merge-patches the spec; `false` when the record does not exist.
async fn patch_spec(api: &Api<IamUserGroup>, record: &Record) -> Result<bool, RecordError> {
    let patch = Patch::Merge(json!({"spec": record.spec}));
    match api
        .patch(&record.name, &PatchParams::default(), &patch)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(err(&record.name)(e)),
    }
}

async fn create(api: &Api<IamUserGroup>, record: &Record) -> Result<(), RecordError> {
    let object = IamUserGroup {
        metadata: ObjectMeta {
            name: Some(record.name.clone()),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_owned(),
                    "iam-sync".to_owned(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        spec: record.spec.clone(),
        status: None,
    };
    api.create(&PostParams::default(), &object)
        .await
        .map(drop)
        .map_err(err(&record.name))
}

async fn patch_status(
    api: &Api<IamUserGroup>,
    record: &Record,
    backend: &str,
    event: &LastEvent,
    now: jiff::Timestamp,
) -> Result<(), RecordError> {
    let status = IamUserGroupStatus {
        user_arn: Some(record.user_arn.clone()),
        kubernetes_groups: record.kubernetes_groups.clone(),
        backend: Some(backend.to_owned()),
        last_event: Some(event.clone()),
        synced_at: Some(Time(now)),
    };
    let patch = Patch::Merge(json!({"status": status}));
    api.patch_status(&record.name, &PatchParams::default(), &patch)
        .await
        .map(drop)
        .map_err(err(&record.name))
}

async fn delete(api: &Api<IamUserGroup>, name: &str) -> Result<(), RecordError> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(err(name)(e)),
    }
}
