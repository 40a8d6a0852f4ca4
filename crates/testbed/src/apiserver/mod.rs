//! The local Kubernetes API server: a real HTTPS server that behaves like the real API for
//! what the suite touches, with a small cluster simulation driven by a controllable clock.
//!
//! # Use
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use testbed::apiserver::{NodeSpec, Testbed, TestbedConfig};
//! let tb = Testbed::start(TestbedConfig::default()).await?;
//! tb.register_node(NodeSpec::new("ip-10-0-0-1").instance("i-0123456789abcdef0")).unwrap();
//! let client = tb.kube_client_admin(); // static admin token, TLS verified against tb.ca_pem()
//! tb.advance(std::time::Duration::from_secs(30)); // sim clock: grace periods end
//! # Ok(()) }
//! ```
//!
//! - [`Testbed::start`] binds a loopback port, generates a CA and serving certificate
//!   ([`Testbed::ca_pem`]), seeds namespaces `default`, `kube-system`, `kube-public`,
//!   `kube-node-lease`, bootstrap RBAC (cluster-admin for `system:masters`, discovery for
//!   `system:authenticated`), loads manifests and registers nodes.
//! - Clients: [`Testbed::kube_client_admin`], [`Testbed::kube_config`] (any bearer token,
//!   e.g. an EKS token), [`Testbed::kubeconfig_yaml`] (for `kubectl`).
//! - Cluster: [`Testbed::register_node`] / [`Testbed::remove_node`] /
//!   [`Testbed::set_node_ready`], [`Testbed::advance`] (sim time = real time + offset),
//!   [`Testbed::load_manifests`], [`Testbed::get`] / [`Testbed::list`] (store, no auth).
//! - Faults: [`Testbed::set_faults`] with [`FaultConfig`] rules per verb/resource (error
//!   status, latency, dropped connection, at a seeded rate).
//! - The same controls over HTTP, admin token only: see [`admin`] (`/testbed/v1/...`).
//!
//! # Request pipeline ([`server`])
//!
//! TLS → `/clusters/...` to the EKS control-plane stand-in ([`eks_api`], no Kubernetes
//! auth) → authentication (static admin token, else [`authn`] with identities from the
//! `aws-auth` ConfigMap and access entries) → `/testbed/v1` admin routes → RBAC ([`rbac`],
//! skipped for `system:masters`) → fault injection → handler ([`handlers`]) → simulation
//! ([`sim`]). Everything after authentication runs under one lock, so each request and each
//! simulation step is atomic and the simulation has converged when a write returns.
//!
//! # Semantics reproduced
//!
//! Objects are JSON in a store ([`store`]) keyed by group-resource, namespace and name, with
//! a global resourceVersion, uid, creationTimestamp and generation (bumped when anything but
//! metadata/status changes). Stale resourceVersion → 409 Conflict, missing → 404, existing →
//! 409 AlreadyExists, invalid → 422 Invalid with field causes, undecodable → 400, all as
//! `metav1.Status`. Built-ins are decoded through k8s-openapi types (unknown fields dropped,
//! wrong types refused), custom resources are pruned, defaulted and validated against their
//! CRD's structural schema. Verbs: get, list (label selectors with `=`, `==`, `!=`, `in`,
//! `notin`, exists, `!`; field selectors per kind as the real server allows them;
//! limit/continue), watch (resumes from a resourceVersion within the last 4096 events,
//! else 410), create (generateName, dryRun), update, patch (merge, JSON, strategic merge for
//! the list keys listed in [`patch`], apply as "create or merge"), delete (grace periods for
//! pods, finalizers, namespaces, preconditions, orphan propagation), deletecollection;
//! `status` subresources (main endpoint ignores status, status endpoint ignores the rest),
//! `scale` subresources (autoscaling/v1 Scale) for Deployments, ReplicaSets, StatefulSets
//! and CRDs that declare one; `pods/eviction` with PodDisruptionBudgets ([`eviction`]);
//! discovery ([`discovery`]) and `meta.k8s.io` Tables for kubectl ([`table`]).
//!
//! # Not reproduced
//!
//! - No protobuf, no aggregated discovery, no OpenAPI (`/openapi/v2|v3` are 404: use
//!   `kubectl --validate=false` for `apply`/`create`), no `kubectl apply` client-side
//!   three-way merge support beyond strategic merge, no exec/logs/port-forward.
//! - Server-side apply keeps no managedFields: fields a manager stops applying are not
//!   removed and field conflicts are never reported.
//! - One stored version per resource: other served versions of a CRD are the same JSON
//!   with a different apiVersion (no conversion webhooks).
//! - Continue tokens are keys, not snapshots: pages reflect writes made between them.
//! - core/v1 and events.k8s.io/v1 Events are separate collections (no field mapping).
//! - Admission is limited to defaulting and validation above: no webhooks, quotas, limit
//!   ranges, pod security.
//! - The simulation rolls Deployments out by recreate (old ReplicaSets scaled to zero at
//!   once), ignores affinity/topology spread/priorities/preemption, init containers'
//!   requests, and readiness probes (pods are Ready once Running).
pub mod admin;
pub mod authn;
pub mod defaults;
pub mod delete;
pub mod discovery;
pub mod eks_api;
pub mod eviction;
pub mod faults;
pub mod handlers;
pub mod identity;
pub mod kubeconfig;
pub mod manifests;
pub mod nodes;
pub mod patch;
pub mod proto;
pub mod rbac;
pub mod registry;
pub mod routes;
pub mod scale;
pub mod security;
pub mod selectors;
pub mod server;
pub mod sim;
pub mod state;
pub mod static_tokens;
pub mod status;
pub mod store;
pub mod table;
mod testbed;
pub mod tls;
pub mod util;
pub mod validate;
pub mod watch;

pub use faults::{FaultAction, FaultConfig, FaultRule};
pub use nodes::NodeSpec;
pub use sim::READY_ANNOTATION;
pub use static_tokens::ServiceAccountRef;
pub use testbed::{Testbed, TestbedConfig};
