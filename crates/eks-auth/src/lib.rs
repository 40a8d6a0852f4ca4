//! EKS authentication shared by every function of the suite.
//!
//! - [`token`]: the bearer token aws-iam-authenticator and `aws eks get-token` make: a
//!   SigV4-presigned STS `GetCallerIdentity` URL, base64url-encoded (signed by `aws-sigv4`).
//! - [`provider`]: a cached token source over a credentials provider (the Lambda execution
//!   role, optionally an assumed role), refreshed before the token or the credentials expire.
//! - [`cluster`]: the cluster's variables (`CLUSTER_NAME`, `API_SERVER`, `CERT_AUTHORITY`,
//!   `ASSUMED_ROLE`), read the same way by every EKS-facing function, and its client.
//! - [`client`]: a `kube::Client` that verifies TLS against the cluster CA and attaches a
//!   fresh bearer token per request, refreshing once on 401.
//! - `static_token` (feature `ssm`): for self-managed (k3s) clusters, a service-account token kept in an
//!   SSM SecureString parameter (`SsmTokenSource`), re-read after a 401.
//!
//! - `cli` (feature `cli`, default): the `eks-token` command's arguments, credential sources
//!   and cache.
//!
//! Nothing secret is ever formatted by `Debug`: see [`Secret`].
#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
pub mod cluster;
pub mod endpoint;
pub mod provider;
mod secret;
#[cfg(feature = "ssm")]
pub mod static_token;
pub mod token;

pub use client::{BearerSource, ClusterAccess, KubeClientError, kube_client};
pub use cluster::{ClusterError, EksCluster};
pub use endpoint::StsEndpoint;
pub use provider::{EksTokenProvider, ProviderError};
pub use secret::Secret;
#[cfg(feature = "ssm")]
pub use static_token::{SsmTokenError, SsmTokenSource};
pub use token::{EksToken, TOKEN_LIFETIME, TokenError, presign};
