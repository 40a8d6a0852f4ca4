//! Test and demo infrastructure. Never a dependency of a function binary.
//!
//! - [`harness`]: starts the local stand-ins for AWS (moto behind our gateway), Prometheus and
//!   the Lambda Runtime API emulator, on free loopback ports, stopped with the test process.
//! - [`apiserver`]: a real HTTPS Kubernetes API server (EKS token authn, RBAC, eviction/PDB,
//!   CRDs, a small cluster simulation) for the functions to talk to.
//! - [`bench`]: measurements for `make bench` (figures printed, never asserted).
pub mod apiserver;
pub mod bench;
pub mod harness;
