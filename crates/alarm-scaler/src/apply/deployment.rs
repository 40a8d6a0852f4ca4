//! The Deployment itself, beyond its scale: the original function's annotations, read for the
//! first cooldown after a migration and written after each step (`crate::annotations`).
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};

use super::{Context, Owner};
use crate::annotations;
use crate::error::{Error, KUBERNETES_FAILED};
use crate::event::AlarmNotification;
use crate::grant::{Grant, forbidden};

/// The Deployment's `cloudwatch.alarm.trigger.time`. One that cannot be read is ignored,
/// with a warning naming it: it was written by hand or by another tool, and holding every
/// step for it would stop scaling until someone noticed.
pub(super) async fn trigger_time(
    ctx: &Context,
    owner: &Owner<'_>,
    name: &str,
) -> Result<Option<Timestamp>, Error> {
    let key = format!("{}/{name}", owner.namespace());
    let deployment: Deployment = match owner.deployments(&ctx.kube).get(name).await {
        Ok(d) => d,
        // Gone since its scale was read: the scale write will say so.
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(None),
        Err(source) => {
            let grant = Grant::new(&["get"], "deployments", "apps", Some(owner.namespace()));
            return Err(match forbidden(source, grant) {
                Ok(refused) => Error::forbidden(KUBERNETES_FAILED, refused),
                Err(source) => Error::ReadDeployment { name: key, source },
            });
        }
    };
    match annotations::trigger_time(deployment.metadata.annotations.as_ref()) {
        Ok(at) => Ok(at),
        Err(why) => {
            tracing::warn!(deployment = %key, reason = %why, "annotation ignored");
            Ok(None)
        }
    }
}

/// Tries of [`annotate`]'s patch.
const ANNOTATE_ATTEMPTS: u32 = 3;

/// Writes the original's annotations for the step taken at `at`; best effort, as Events are:
/// the step is done and recorded, and a role without `patch` on `deployments` (withheld on
/// purpose, say) loses only the annotations. Whether they were written.
pub(super) async fn annotate(
    ctx: &Context,
    owner: &Owner<'_>,
    name: &str,
    n: &AlarmNotification,
    at: Timestamp,
) -> bool {
    let patch = annotations::patch(&n.alarm_name, &n.reason, at);
    let deployments = owner.deployments(&ctx.kube);
    let (params, body) = (PatchParams::default(), Patch::Merge(&patch));
    let write = || deployments.patch(name, &params, &body);
    // The merge patch is idempotent: a blip (5xx, 429, a dropped connection) is retried, as
    // an Event's create is, rather than lost.
    let mut written = write().await;
    for _ in 1..ANNOTATE_ATTEMPTS {
        match &written {
            Err(e) if k8s_ops::events::transient(e) => written = write().await,
            _ => break,
        }
    }
    match written {
        Ok(_) => true,
        Err(e) => {
            let grant = Grant::new(&["patch"], "deployments", "apps", Some(owner.namespace()));
            let error = match forbidden(e, grant) {
                Ok(refused) => refused.to_string(),
                Err(other) => other.to_string(),
            };
            let deployment = format!("{}/{name}", owner.namespace());
            tracing::warn!(%deployment, %error, "annotations not written");
            false
        }
    }
}
