//! The Kubernetes verbs the suite's functions share, with typed inputs — not a wrapper over
//! all of kube: CRD types ([`crd`]), rescaling any target through its scale subresource
//! with optimistic concurrency ([`scale`]), HPA's `behavior` ([`behavior`]), pausing by
//! annotation ([`pause`]), one owner per target ([`owner`]), HPA-style Events ([`events`])
//! and status conditions ([`conditions`]), paged listing ([`list`]) and merge-patching a
//! custom resource's status ([`status`]).
pub mod behavior;
pub mod conditions;
pub mod crd;
pub mod drain;
pub mod events;
pub mod evictable;
pub mod list;
pub mod owner;
pub mod pause;
pub mod scale;
pub mod status;
