//! queue-scaler's integration tests, one binary: the real binary under the Lambda emulator,
//! moto for SQS and STS, the real control plane authorizing the function with its RBAC file
//! only ([`testbed::world`]).
mod bench;
mod controls;
mod end_to_end;
mod fallback;
mod keda;
mod owners;
mod support;
mod targets;
mod timeouts;
