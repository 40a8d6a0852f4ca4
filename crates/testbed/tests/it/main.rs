//! The harness's own tests, one binary: each stand-in (moto behind its gateway, Prometheus,
//! the real control plane with its EKS API stand-in) and the process supervision they share.
mod authn_eks_api_sdk;
mod cluster;
mod harness_cloudwatch;
mod harness_lambda_limits;
mod harness_moto;
mod harness_process;
mod harness_prometheus;
