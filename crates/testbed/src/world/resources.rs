//! The functions' custom resources as an administrator handles them: created from a spec,
//! their status read.
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::api::PostParams;
use kube::core::object::HasStatus;
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::World;

/// A namespaced custom resource as `#[derive(CustomResource)]` makes one (k8s_ops::crd).
pub trait Custom:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Serialize
    + DeserializeOwned
    + Debug
{
}

impl<K> Custom for K where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug
{
}

impl World {
    /// Creates custom resource `namespace/name` of kind `K` with `spec`.
    pub async fn create_resource<K: Custom>(&self, namespace: &str, name: &str, spec: Value) {
        let kind = K::kind(&());
        let resource: K = serde_json::from_value(json!({
            "apiVersion": K::api_version(&()),
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }))
        .unwrap_or_else(|e| panic!("a valid {kind}: {e}"));
        Api::<K>::namespaced(self.admin.clone(), namespace)
            .create(&PostParams::default(), &resource)
            .await
            .unwrap_or_else(|e| panic!("create {kind} {namespace}/{name}: {e}"));
    }

    /// The status of custom resource `namespace/name` of kind `K` (default while none is
    /// written); panics if the resource is missing.
    pub async fn status_of<K>(&self, namespace: &str, name: &str) -> K::Status
    where
        K: Custom + HasStatus,
        K::Status: Default,
    {
        self.object::<K>(namespace, name)
            .await
            .status_mut()
            .take()
            .unwrap_or_default()
    }
}
