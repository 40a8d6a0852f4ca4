//! The `IamUserGroup`s of the record namespace: read all at once (iam-sync's and the
//! hand-applied ones); iam-sync's written one [`RecordChange`] at a time; of the hand-applied
//! ones only the status and iam-sync's finalizer are ever written.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_ops::crd::iam_user_group::{IamUserGroup, IamUserGroupStatus, LastEvent};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::json;

use crate::decide::hand::{FINALIZER, HandStatus};
use crate::decide::owned::{Record, RecordChange};
use crate::decide::{LEGACY_OWNER_LABEL, OWNER_LABEL, Seen, is_owned};
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

/// Every `IamUserGroup` of the namespace (every page), owned or not. Returns the number of
/// calls.
pub async fn list(api: &Api<IamUserGroup>) -> Result<(Vec<Seen>, u64), RecordError> {
    let mut calls = 0;
    let records = k8s_ops::list::all(api, || calls += 1)
        .await
        .map_err(|e| err("(list)")(e.source))?;
    let records = records.into_iter().map(|r| Seen {
        owned: is_owned(r.metadata.labels.as_ref()),
        name: r.metadata.name.unwrap_or_default(),
        resource_version: r.metadata.resource_version,
        deleting: r.metadata.deletion_timestamp.is_some(),
        finalizers: r.metadata.finalizers.unwrap_or_default(),
        spec: r.spec,
        status: r.status.unwrap_or_default(),
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

/// Carries out one write of an owned record: the spec (merge patch on the version read, or
/// create), then the status, which says what was applied through `backend` after `event`, at
/// `now`.
pub async fn apply(
    api: &Api<IamUserGroup>,
    change: &RecordChange,
    backend: &str,
    event: &LastEvent,
    now: jiff::Timestamp,
) -> Result<Applied, RecordError> {
    let (record, calls) = match change {
        RecordChange::Delete {
            name,
            resource_version,
        } => {
            delete(api, name, resource_version.clone()).await?;
            return Ok(Applied {
                calls: 1,
                written: true,
            });
        }
        RecordChange::Create(record) => {
            create(api, record).await?;
            (record, 1)
        }
        RecordChange::Update {
            record,
            resource_version,
        } => {
            if patch_spec(api, record, resource_version.as_deref()).await? {
                (record, 1)
            } else {
                create(api, record).await?;
                (record, 2)
            }
        }
    };
    let status = IamUserGroupStatus {
        user_arn: Some(record.user_arn.clone()),
        kubernetes_groups: record.kubernetes_groups.clone(),
        backend: Some(backend.to_owned()),
        last_event: Some(event.clone()),
        synced_at: Some(Time(now)),
        error: None,
    };
    patch_status(api, &record.name, &status).await?;
    Ok(Applied {
        calls: calls + 1,
        written: true,
    })
}

/// Writes a hand-applied record's status (never its spec): what was applied through
/// `backend`, or why not.
pub async fn hand_status(
    api: &Api<IamUserGroup>,
    name: &str,
    applied: &HandStatus,
    backend: &str,
    event: &LastEvent,
    now: jiff::Timestamp,
) -> Result<(), RecordError> {
    let status = IamUserGroupStatus {
        user_arn: applied.user_arn.clone(),
        kubernetes_groups: applied.kubernetes_groups.clone(),
        backend: Some(backend.to_owned()),
        last_event: Some(event.clone()),
        synced_at: Some(Time(now)),
        error: applied.error.clone(),
    };
    patch_status(api, name, &status).await
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

/// The field manager that owns iam-sync's finalizer on hand-applied records.
const FINALIZER_MANAGER: &str = "iam-sync";

/// Adds iam-sync's finalizer to a hand-applied record: a server-side apply of that one
/// element of the set, so other finalizers (and the rest of the object) are untouched.
pub async fn take_on(api: &Api<IamUserGroup>, name: &str) -> Result<(), RecordError> {
    apply_finalizers(api, name, &[FINALIZER]).await.map(drop)
}

/// Removes iam-sync's finalizer: the same apply without it (only what iam-sync's manager owns
/// goes). A finalizer of that name some other writer added is then removed by a merge patch on
/// the version just read, so another change meanwhile is a 409, never lost. Returns the calls.
pub async fn release(api: &Api<IamUserGroup>, name: &str) -> Result<u64, RecordError> {
    let Some(after) = apply_finalizers(api, name, &[]).await? else {
        return Ok(1);
    };
    let finalizers = after.metadata.finalizers.unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(1);
    }
    let rest: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
    let metadata = on_version(
        json!({"finalizers": rest}),
        after.metadata.resource_version.as_deref(),
    );
    match api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": metadata})),
        )
        .await
    {
        Ok(_) => Ok(2),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(2),
        Err(e) => Err(err(name)(e)),
    }
}

/// Server-side applies `finalizers` as iam-sync's; `None` when the record is gone.
async fn apply_finalizers(
    api: &Api<IamUserGroup>,
    name: &str,
    finalizers: &[&str],
) -> Result<Option<IamUserGroup>, RecordError> {
    let object = json!({
        "apiVersion": "octank.com/v1",
        "kind": "IamUserGroup",
        "metadata": {"name": name, "finalizers": finalizers}
    });
    let params = PatchParams::apply(FINALIZER_MANAGER);
    match api.patch(name, &params, &Patch::Apply(object)).await {
        Ok(r) => Ok(Some(r)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(err(name)(e)),
    }
}

/// `metadata` of a merge patch that applies only to `resource_version` (the API server answers
/// 409 to any other); without one, to whatever version there is.
fn on_version(
    mut metadata: serde_json::Value,
    resource_version: Option<&str>,
) -> serde_json::Value {
    if let Some(v) = resource_version {
        metadata["resourceVersion"] = v.into();
    }
    metadata
}

/// Merge-patches the spec, on `resource_version` when given; `false` when the record does not
/// exist.
async fn patch_spec(
    api: &Api<IamUserGroup>,
    record: &Record,
    resource_version: Option<&str>,
) -> Result<bool, RecordError> {
    let patch = Patch::Merge(json!({
        "metadata": on_version(json!({}), resource_version),
        "spec": record.spec
    }));
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
            // Ours: the suite's label, and the common one (`kubectl -l
            // app.kubernetes.io/managed-by=iam-sync`), which earlier versions wrote alone.
            labels: Some(
                [OWNER_LABEL, LEGACY_OWNER_LABEL]
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
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

/// Merge-patches the status: fields set to none (a cleared `error`) are removed.
async fn patch_status(
    api: &Api<IamUserGroup>,
    name: &str,
    status: &IamUserGroupStatus,
) -> Result<(), RecordError> {
    let patch = Patch::Merge(json!({"status": status}));
    api.patch_status(name, &PatchParams::default(), &patch)
        .await
        .map(drop)
        .map_err(err(name))
}

/// Deletes a record if it is still the version read (`resource_version`).
async fn delete(
    api: &Api<IamUserGroup>,
    name: &str,
    resource_version: Option<String>,
) -> Result<(), RecordError> {
    let params = DeleteParams::default().preconditions(Preconditions {
        resource_version,
        uid: None,
    });
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(err(name)(e)),
    }
}
