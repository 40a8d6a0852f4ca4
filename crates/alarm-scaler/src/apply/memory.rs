//! The resources as last listed (and claimed), kept while the container is warm: a warm
//! invocation that steps saves the list call (see `crate::attempt` for why that is safe).
use std::sync::{Mutex, MutexGuard};

use k8s_ops::crd::metric_alarm::K8sMetricAlarm;
use kube::ResourceExt;

#[derive(Default)]
pub struct Memory(Mutex<Option<Vec<K8sMetricAlarm>>>);

impl Memory {
    fn lock(&self) -> MutexGuard<'_, Option<Vec<K8sMetricAlarm>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn recall(&self) -> Option<Vec<K8sMetricAlarm>> {
        self.lock().clone()
    }

    pub fn keep(&self, listed: &[K8sMetricAlarm]) {
        *self.lock() = Some(listed.to_vec());
    }

    /// The claimed object replaces its remembered version (same namespace and name).
    pub fn update(&self, claimed: &K8sMetricAlarm) {
        if let Some(known) = self.lock().as_mut() {
            for r in known.iter_mut() {
                if r.namespace() == claimed.namespace() && r.name_any() == claimed.name_any() {
                    *r = claimed.clone();
                }
            }
        }
    }

    pub fn forget(&self) {
        *self.lock() = None;
    }
}
