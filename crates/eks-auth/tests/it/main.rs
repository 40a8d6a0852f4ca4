//! eks-auth's integration tests, one binary: `eks-token` against `aws eks get-token`, and the
//! whole authentication path (STS in moto, aws-iam-authenticator, RBAC) against the real
//! control plane.
mod cli;
mod conformance;
mod kube_flow;
mod kubectl_exec;
mod support;
// Static service-account tokens from SSM: only with the `ssm` feature (node-autoscaler's),
// which `make test` (the whole workspace) turns on.
#[cfg(feature = "ssm")]
mod static_token;
