//! Writing a custom resource's status: a JSON merge patch on the `status` subresource, so each
//! writer changes only its own fields, optionally guarded by the resourceVersion it read.
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{kind} {name} not found")]
    NotFound { kind: String, name: String },
    /// The object changed since `resourceVersion` was read: re-read and decide again.
    #[error("{kind} {name} changed since it was read (409 Conflict)")]
    Conflict { kind: String, name: String },
    /// Any other refusal (403 Forbidden, 422 Invalid, ...) or a transport failure.
    #[error("{kind} {name}: writing status: {message}")]
    Api {
        kind: String,
        name: String,
        /// The API server's status code and message, or the transport error.
        message: String,
    },
}

/// Merges `status` (a JSON object; `null` members remove fields) into the status of `name`.
/// With `resource_version`, the write happens only if the object is still at that version
/// (409 otherwise), which makes the status usable as a claim between concurrent writers.
pub async fn merge_status<K>(
    api: &Api<K>,
    name: &str,
    status: Value,
    resource_version: Option<&str>,
) -> Result<K, StatusError>
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut patch = json!({ "status": status });
    if let Some(rv) = resource_version {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    let kind = K::kind(&()).into_owned();
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => StatusError::NotFound {
                kind,
                name: name.into(),
            },
            kube::Error::Api(s) if s.code == 409 => StatusError::Conflict {
                kind,
                name: name.into(),
            },
            kube::Error::Api(s) => StatusError::Api {
                kind,
                name: name.into(),
                message: format!("{} {}: {}", s.code, s.reason, s.message),
            },
            other => StatusError::Api {
                kind,
                name: name.into(),
                message: other.to_string(),
            },
        })
}
