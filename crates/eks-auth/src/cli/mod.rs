//! The `eks-token` command (feature `cli`, on by default; the functions depend on this crate
//! without it, so IAM Identity Center and `credential_process` support never reach a
//! function's binary).
pub mod args;
pub mod cache;
pub mod source;
