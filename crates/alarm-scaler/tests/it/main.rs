//! alarm-scaler's integration tests, one binary: the real binaries under the Lambda emulator,
//! moto for CloudWatch, the real control plane authorizing each function with its own RBAC
//! file only ([`testbed::world`]).
mod bench;
mod end_to_end;
mod support;
