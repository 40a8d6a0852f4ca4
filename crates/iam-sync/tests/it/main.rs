//! iam-sync's integration tests, one binary: the real binary under the Lambda emulator, moto
//! for IAM and STS, the real control plane with aws-iam-authenticator as its token webhook
//! ([`testbed::world`]); and what ships beside the binary.
mod bench;
mod end_to_end;
mod hand_applied;
mod same_name;
mod shipped;
mod support;
