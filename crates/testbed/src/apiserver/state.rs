//! Everything behind the server's one lock: the store, the registry of resource types, the
//! fault rules and the authorizer's cached RBAC snapshot. One lock keeps every request and
//! every simulation step atomic, which is what makes the testbed deterministic.
use super::faults::Faults;
use super::rbac::RbacSnapshot;
use super::registry::{Registry, ResourceType};
use super::status::{ApiError, ApiResult};
use super::store::Store;

pub struct State {
    pub store: Store,
    pub registry: Registry,
    pub faults: Faults,
    /// (store.rbac_generation it was built at, snapshot).
    pub rbac: Option<(u64, RbacSnapshot)>,
    /// Counter for node InternalIPs and pod IPs.
    pub next_ip: u32,
    /// The store's resourceVersion when the simulation last settled (see `sim::tick`).
    pub settled_rv: Option<u64>,
    /// Controller uid → fingerprint of the objects its last no-op pass read (see
    /// `sim::unchanged`).
    pub settled_inputs: std::collections::HashMap<String, u64>,
    /// `store.removals` when garbage collection last ran.
    pub collected_at: Option<u64>,
}

impl State {
    pub fn new(seed: u64) -> Self {
        State {
            store: Store::new(seed),
            registry: Registry::builtin(),
            faults: Faults::default(),
            rbac: None,
            next_ip: 10,
            settled_rv: None,
            settled_inputs: std::collections::HashMap::new(),
            collected_at: None,
        }
    }

    pub fn rt(&self, gr: &str) -> ApiResult<ResourceType> {
        self.registry.by_gr(gr).cloned().ok_or_else(|| {
            ApiError::new(
                404,
                "NotFound",
                format!("the server could not find the requested resource ({gr})"),
            )
        })
    }

    /// The RBAC snapshot for the current RBAC objects, rebuilt only after they changed.
    pub fn rbac_snapshot(&mut self) -> &RbacSnapshot {
        let generation = self.store.rbac_generation;
        if self.rbac.as_ref().is_none_or(|(g, _)| *g != generation) {
            let get = |r: &str| {
                self.store
                    .list_owned(&format!("{r}.rbac.authorization.k8s.io"), None)
            };
            let snap = RbacSnapshot::from_objects(
                &get("roles"),
                &get("clusterroles"),
                &get("rolebindings"),
                &get("clusterrolebindings"),
            );
            self.rbac = Some((generation, snap));
        }
        &self.rbac.as_ref().expect("just built").1
    }
}
