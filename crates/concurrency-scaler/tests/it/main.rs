//! concurrency-scaler's integration tests, one binary: the real binary under the Lambda
//! emulator, moto for SQS, Lambda and STS, the real control plane authorizing the function
//! with its RBAC file only ([`testbed::world`]).
mod bench;
mod end_to_end;
mod pause_and_owner;
mod rbac;
mod samples;
mod scaling;
mod support;
