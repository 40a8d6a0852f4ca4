//! Rescaling a Deployment through its scale subresource, with optimistic concurrency.
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec};
use kube::Api;
use kube::api::PostParams;

/// Conflicts are retried from a fresh read this many times in all.
const MAX_ATTEMPTS: u32 = 5;

/// What a rescale did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rescale {
    pub from: i32,
    pub to: i32,
    /// 1 unless the write met a conflict (409) and was retried.
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error("deployment {0} not found")]
    NotFound(String),
    #[error("deployment {name}: the scale kept changing under us ({attempts} conflicts)")]
    Conflict { name: String, attempts: u32 },
    #[error("deployment {name}: {source}")]
    Api {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// The replicas the scale subresource reports now.
pub async fn replicas(api: &Api<Deployment>, name: &str) -> Result<i32, ScaleError> {
    let scale = api.get_scale(name).await.map_err(|e| api_error(name, e))?;
    Ok(spec_replicas(&scale))
}

/// Reads `deployments/<name>/scale`, asks `decide(current)` for the target (`None`: leave it),
/// and writes it with the resourceVersion it read. On 409 Conflict it starts over from a fresh
/// read, so `decide` always judges the value it will replace — another writer's change is
/// never silently overwritten.
pub async fn rescale(
    api: &Api<Deployment>,
    name: &str,
    mut decide: impl FnMut(i32) -> Option<i32>,
) -> Result<Option<Rescale>, ScaleError> {
    for attempt in 1..=MAX_ATTEMPTS {
        let scale = api.get_scale(name).await.map_err(|e| api_error(name, e))?;
        let from = spec_replicas(&scale);
        let Some(to) = decide(from).filter(|to| *to != from) else {
            return Ok(None);
        };
        let mut desired = scale;
        desired.spec = Some(ScaleSpec { replicas: Some(to) });
        desired.status = None;
        match api
            .replace_scale(name, &PostParams::default(), &desired)
            .await
        {
            Ok(_) => {
                return Ok(Some(Rescale {
                    from,
                    to,
                    attempts: attempt,
                }));
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                tracing::info!(deployment = name, attempt, "scale conflict; re-reading");
            }
            Err(e) => return Err(api_error(name, e)),
        }
    }
    Err(ScaleError::Conflict {
        name: name.into(),
        attempts: MAX_ATTEMPTS,
    })
}

fn spec_replicas(scale: &Scale) -> i32 {
    scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn api_error(name: &str, e: kube::Error) -> ScaleError {
    match e {
        kube::Error::Api(status) if status.code == 404 => ScaleError::NotFound(name.into()),
        source => ScaleError::Api {
            name: name.into(),
            source,
        },
    }
}
