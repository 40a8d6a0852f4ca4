//! iam-sync: IAM group membership → Kubernetes identities. CloudTrail `AddUserToGroup` /
//! `RemoveUserFromGroup` events (through EventBridge) converge one user, a schedule converges
//! everyone, each to what IAM says now, in `aws-auth` `mapUsers` or EKS access entries, with an
//! `IamUserGroup` record per user.

pub mod access_entries;
pub mod apply;
pub mod aws_auth;
pub mod config;
pub mod decide;
pub mod error;
pub mod event;
pub mod iam;
pub mod mapping;
pub mod records;
