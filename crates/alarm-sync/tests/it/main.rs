//! alarm-sync's integration tests, one binary: the real binary under the Lambda emulator,
//! moto for CloudWatch and the tagging API, the real control plane authorizing the function
//! with its RBAC file only ([`testbed::world`]).
mod end_to_end;
mod support;
