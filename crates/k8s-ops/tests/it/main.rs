//! k8s-ops' integration tests, one binary: the committed CRD files, and the drain and the
//! paged list against the real control plane.
mod crds_committed;
mod drain;
mod list;
