//! Test and demo infrastructure. Never a dependency of a function binary.
//!
//! - [`harness`]: starts the local stand-ins for AWS (moto behind our gateway), Prometheus,
//!   the Lambda Runtime API emulator and a real Kubernetes control plane
//!   ([`harness::Cluster`]: EKS token authentication through aws-iam-authenticator, RBAC,
//!   KWOK nodes, fault injection, the EKS API), on free loopback ports, stopped with the test
//!   process.
//! - [`world`]: the one world the functions' end-to-end tests and `make demo` run on: the
//!   stand-ins started together, the functions deployed on them with their execution roles.
//! - [`bench`]: measurements for `make bench` (figures printed, never asserted).
pub mod bench;
pub mod harness;
pub mod world;
