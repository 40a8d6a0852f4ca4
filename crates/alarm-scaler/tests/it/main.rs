//! alarm-scaler's integration tests, one binary: the real binaries under the Lambda emulator,
//! moto for CloudWatch, the real control plane authorizing each function with its own RBAC
//! file only ([`testbed::world`]).
mod behavior;
mod bench;
mod end_to_end;
mod kinds;
mod kinds_end_to_end;
mod one_owner;
mod original_rbac;
mod pause;
mod race;
mod scale_target;
mod support;
mod tagged;
