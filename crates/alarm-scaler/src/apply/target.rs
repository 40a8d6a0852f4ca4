//! The object a K8sMetricAlarm scales: `spec.scaleTargetRef` (any kind with a `/scale`
//! subresource, as HPA reaches it), or the original's `spec.deployment` as an apps/v1
//! Deployment, resolved to its scale subresource through `k8s_ops::scale::ScaleTarget`.
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::autoscaling::v2::CrossVersionObjectReference;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_ops::scale::{ScaleError, ScaleTarget};

use crate::grant::Grant;

/// A resolved target.
pub(super) struct Target {
    pub scale: ScaleTarget,
    pub reference: CrossVersionObjectReference,
    pub namespace: String,
}

impl Target {
    /// `reference` in `namespace`: a kind the API server does not serve, or one without
    /// `/scale`, is [`ScaleError::Unscalable`] (naming spec.scaleTargetRef).
    pub async fn resolve(
        kube: &kube::Client,
        namespace: &str,
        reference: CrossVersionObjectReference,
    ) -> Result<Target, ScaleError> {
        let api_version = reference.api_version.as_deref().unwrap_or_default();
        let scale = ScaleTarget::resolve(
            kube,
            namespace,
            api_version,
            &reference.kind,
            &reference.name,
        )
        .await?;
        Ok(Target {
            scale,
            reference,
            namespace: namespace.to_owned(),
        })
    }

    /// The grant of `verbs` on its scale subresource (`statefulsets/scale` in `apps`).
    pub fn grant(&self, verbs: &'static [&'static str]) -> Grant {
        let r = self.scale.resource();
        Grant::new(
            verbs,
            format!("{}/scale", r.plural),
            r.group.clone(),
            Some(self.namespace.clone()),
        )
    }

    /// The target as Events name it; its uid comes from the scale read, so `kubectl describe`
    /// finds the Event.
    pub fn object_ref(&self, read: &Scale) -> ObjectReference {
        ObjectReference {
            api_version: self.reference.api_version.clone(),
            kind: Some(self.reference.kind.clone()),
            namespace: Some(self.namespace.clone()),
            name: Some(self.reference.name.clone()),
            uid: read.metadata.uid.clone(),
            ..Default::default()
        }
    }
}

/// Whether `reference` is a Deployment (the original's annotations are written on those only).
pub(super) fn is_deployment(reference: &CrossVersionObjectReference) -> bool {
    let group = reference
        .api_version
        .as_deref()
        .and_then(|v| v.rsplit_once('/'))
        .map_or("", |(g, _)| g);
    group == "apps" && reference.kind == "Deployment"
}

/// `kind namespace/name` (`deployment web/web`, lower-case for a Deployment as before).
pub(super) fn describe(reference: &CrossVersionObjectReference, namespace: &str) -> String {
    let kind = if is_deployment(reference) {
        "deployment"
    } else {
        &reference.kind
    };
    format!("{kind} {namespace}/{}", reference.name)
}
