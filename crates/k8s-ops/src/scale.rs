//! Rescaling a target through its scale subresource, with optimistic concurrency: a
//! Deployment ([`rescale`]), or anything a `scaleTargetRef` names that has `/scale` —
//! StatefulSets, custom resources — ([`ScaleTarget`]), as HPA and KEDA reach them.
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::{Api, Client};
use serde::de::DeserializeOwned;

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

/// A failure names the target as `<kind> <name>` (`deployment web`, `StatefulSet db`).
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{name}: the scale kept changing under us ({attempts} conflicts)")]
    Conflict { name: String, attempts: u32 },
    #[error("{name}: {source}")]
    Api {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// `scaleTargetRef` names a kind the API server does not serve, or one without `/scale`.
    #[error("spec.scaleTargetRef: {api_version} {kind}: {problem}")]
    Unscalable {
        api_version: String,
        kind: String,
        problem: String,
    },
}

/// The replicas the scale subresource reports now.
pub async fn replicas(api: &Api<Deployment>, name: &str) -> Result<i32, ScaleError> {
    read(api, name, &label("deployment", name))
        .await
        .map(|s| spec_replicas(&s))
}

/// The target of a `scaleTargetRef` (`apiVersion`, `kind`, `name`) in a namespace, resolved
/// to its scale subresource.
pub struct ScaleTarget {
    api: Api<DynamicObject>,
    /// Its resource (plural, group), for callers naming the grant a refusal lacks.
    resource: ApiResource,
    name: String,
    /// `<kind> <name>`, for errors.
    label: String,
}

/// Kinds whose resource name is known, so the common case costs no discovery call.
const WELL_KNOWN: [(&str, &str, &str); 3] = [
    ("apps", "Deployment", "deployments"),
    ("apps", "StatefulSet", "statefulsets"),
    ("apps", "ReplicaSet", "replicasets"),
];

/// Whether [`ScaleTarget::resolve`] makes a discovery call for `kind` of `api_version` (so a
/// caller that counts its API calls can count it).
pub fn needs_discovery(api_version: &str, kind: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    !WELL_KNOWN.iter().any(|(g, k, _)| *g == group && *k == kind)
}

impl ScaleTarget {
    /// Resolves `kind` of `api_version`: the apps workloads directly, anything else by
    /// discovery of its group version (one call), which must list a `scale` subresource.
    pub async fn resolve(
        client: &Client,
        namespace: &str,
        api_version: &str,
        kind: &str,
        name: &str,
    ) -> Result<ScaleTarget, ScaleError> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let known = WELL_KNOWN
            .iter()
            .find(|(g, k, _)| *g == group && *k == kind);
        let resource = match known {
            Some((_, _, plural)) => ApiResource::from_gvk_with_plural(&gvk, plural),
            None => {
                let unscalable = |problem: String| ScaleError::Unscalable {
                    api_version: api_version.to_owned(),
                    kind: kind.to_owned(),
                    problem,
                };
                let (resource, caps) = kube::discovery::pinned_kind(client, &gvk)
                    .await
                    .map_err(|e| unscalable(format!("not served by the API server ({e})")))?;
                if !caps.subresources.iter().any(|(r, _)| r.plural == "scale") {
                    return Err(unscalable("has no scale subresource".into()));
                }
                resource
            }
        };
        Ok(ScaleTarget {
            api: Api::namespaced_with(client.clone(), namespace, &resource),
            resource,
            name: name.to_owned(),
            label: label(kind, name),
        })
    }

    /// The replicas its scale subresource reports now.
    pub async fn replicas(&self) -> Result<i32, ScaleError> {
        read(&self.api, &self.name, &self.label)
            .await
            .map(|s| spec_replicas(&s))
    }

    /// Its API, for a caller that reads the scale once and writes it guarded by that read's
    /// resourceVersion (`get_scale`, `replace_scale` with [`ScaleTarget::name`]).
    pub fn api(&self) -> &Api<DynamicObject> {
        &self.api
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its resource: `plural` (`statefulsets`) and `group` name its `/scale` in RBAC.
    pub fn resource(&self) -> &ApiResource {
        &self.resource
    }

    /// As [`rescale`], for this target.
    pub async fn rescale(
        &self,
        decide: impl FnMut(i32) -> Option<i32>,
    ) -> Result<Option<Rescale>, ScaleError> {
        rescale_any(&self.api, &self.name, &self.label, decide).await
    }
}

fn label(kind: &str, name: &str) -> String {
    format!("{kind} {name}")
}

async fn read<K: Clone + DeserializeOwned>(
    api: &Api<K>,
    name: &str,
    label: &str,
) -> Result<Scale, ScaleError> {
    api.get_scale(name).await.map_err(|e| api_error(label, e))
}

/// Reads `deployments/<name>/scale`, asks `decide(current)` for the target (`None`: leave it),
/// and writes it with the resourceVersion it read. On 409 Conflict it starts over from a fresh
/// read, so `decide` always judges the value it will replace — another writer's change is
/// never silently overwritten.
pub async fn rescale(
    api: &Api<Deployment>,
    name: &str,
    decide: impl FnMut(i32) -> Option<i32>,
) -> Result<Option<Rescale>, ScaleError> {
    rescale_any(api, name, &label("deployment", name), decide).await
}

async fn rescale_any<K: Clone + DeserializeOwned>(
    api: &Api<K>,
    name: &str,
    label: &str,
    mut decide: impl FnMut(i32) -> Option<i32>,
) -> Result<Option<Rescale>, ScaleError> {
    for attempt in 1..=MAX_ATTEMPTS {
        let scale = read(api, name, label).await?;
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
                tracing::info!(target = label, attempt, "scale conflict; re-reading");
            }
            Err(e) => return Err(api_error(label, e)),
        }
    }
    Err(ScaleError::Conflict {
        name: label.into(),
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
