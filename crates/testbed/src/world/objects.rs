//! Objects of the world's cluster as an administrator handles them: manifests, namespaces,
//! Deployments and their replicas, and the Events the world's functions record.
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use kube::api::{ListParams, PostParams};
use kube::{Api, Resource};
use serde_json::json;

use super::{World, repo};
use crate::harness::manifests;

impl World {
    /// Applies a manifest of the workspace as `kubectl apply` would.
    pub fn apply(&self, path: &str) {
        self.cluster
            .load_manifests(&[repo(path)])
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    /// Namespace `name`, if new (the API server refuses objects in a namespace that does not
    /// exist).
    pub fn namespace(&self, name: &str) {
        self.cluster
            .load_yaml(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n"
            ))
            .unwrap_or_else(|e| panic!("namespace {name}: {e}"));
    }

    /// Object `namespace/name` of kind `K` (a custom resource, say); panics if missing.
    pub async fn object<K>(&self, namespace: &str, name: &str) -> K
    where
        K: Resource<Scope = NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        Api::<K>::namespaced(self.admin.clone(), namespace)
            .get(name)
            .await
            .unwrap_or_else(|e| {
                let kind = K::kind(&Default::default()).into_owned();
                panic!("{kind} {namespace}/{name}: {e}")
            })
    }

    pub fn deployments(&self, namespace: &str) -> Api<Deployment> {
        Api::namespaced(self.admin.clone(), namespace)
    }

    /// Deployment `namespace/name` (and its namespace, if new) with `replicas`.
    pub async fn create_deployment(&self, namespace: &str, name: &str, replicas: i32) {
        if namespace != "default" {
            self.namespace(namespace);
        }
        let container = json!({"name": "app", "image": "busybox"});
        let deployment: Deployment =
            serde_json::from_value(manifests::deployment(namespace, name, replicas, container))
                .expect("a valid Deployment");
        self.deployments(namespace)
            .create(&PostParams::default(), &deployment)
            .await
            .unwrap_or_else(|e| panic!("deployment {namespace}/{name}: {e}"));
    }

    /// The replicas of Deployment `namespace/name`, as its scale subresource says.
    pub async fn replicas(&self, namespace: &str, name: &str) -> i32 {
        self.deployments(namespace)
            .get_scale(name)
            .await
            .unwrap_or_else(|e| panic!("scale of {namespace}/{name}: {e}"))
            .spec
            .and_then(|s| s.replicas)
            .unwrap_or(0)
    }

    /// (type, reason, message) of the Events the world's functions recorded about object
    /// `namespace/name`, oldest first (the controller manager's own, such as the deployment
    /// controller's ScalingReplicaSet, left out).
    pub async fn events(&self, namespace: &str, name: &str) -> Vec<(String, String, String)> {
        let mut events: Vec<Event> = Api::<Event>::namespaced(self.admin.clone(), namespace)
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name))
            .filter(|e| {
                e.reporting_component
                    .as_deref()
                    .is_some_and(|c| self.functions.iter().any(|f| f.name == c))
            })
            .collect();
        events.sort_by_key(|e| {
            (
                e.first_timestamp.clone().map(|t| t.0),
                e.metadata.name.clone(),
            )
        });
        events
            .into_iter()
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default(),
                )
            })
            .collect()
    }
}
