//! The `IamUserGroup` records: one per user, the readable account of what was applied.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_ops::crd::iam_user_group::{IamUserGroup, IamUserGroupStatus, LastEvent};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::decide::Record;

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
        .map_err(err("(list)"))?;
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

/// Writes a record's spec (merge patch, or create when absent and `create` allows) and then its
/// status. Returns the number of calls, or `None` calls made when absent and not created.
pub async fn put(
    api: &Api<IamUserGroup>,
    record: &Record,
    exists: Option<bool>,
    create: bool,
    backend: &str,
    event: LastEvent,
    now: jiff::Timestamp,
) -> Result<u64, RecordError> {
    let name = record.name.as_str();
    let mut calls = 0;
    let patched = if exists != Some(false) {
        calls += 1;
        match api
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": record.spec})),
            )
            .await
        {
            Ok(_) => true,
            Err(kube::Error::Api(s)) if s.code == 404 => false,
            Err(e) => return Err(err(name)(e)),
        }
    } else {
        false
    };
    if !patched {
        if !create {
            return Ok(calls);
        }
        calls += 1;
        let object = IamUserGroup {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
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
            .map_err(err(name))?;
    }
    let status = IamUserGroupStatus {
        user_arn: Some(record.user_arn.clone()),
        kubernetes_groups: record.kubernetes_groups.clone(),
        backend: Some(backend.to_owned()),
        last_event: Some(event),
        synced_at: Some(Time(now)),
    };
    calls += 1;
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await
    .map_err(err(name))?;
    Ok(calls)
}

pub async fn delete(api: &Api<IamUserGroup>, name: &str) -> Result<(), RecordError> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(err(name)(e)),
    }
}
