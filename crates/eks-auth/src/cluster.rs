//! The EKS cluster a function talks to, from the four variables every EKS-facing function
//! of the suite reads the same way, and the Kubernetes client for it: TLS verified against
//! the cluster CA, a presigned EKS token per request (of the execution role, or of
//! `ASSUMED_ROLE` assumed with it).
use std::sync::Arc;

use aws_config::SdkConfig;
use lambda_support::Env;

use crate::{ClusterAccess, EksTokenProvider, KubeClientError, ProviderError, kube_client};

/// `CLUSTER_NAME`, `API_SERVER`, `CERT_AUTHORITY` and `ASSUMED_ROLE`.
#[derive(Clone, Debug)]
pub struct EksCluster {
    pub name: String,
    pub access: ClusterAccess,
    /// The role mapped in the cluster, assumed with the execution role's credentials.
    pub assumed_role: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("EKS token provider: {0}")]
    Tokens(#[from] ProviderError),
    #[error("Kubernetes client: {0}")]
    Client(#[from] KubeClientError),
}

impl EksCluster {
    /// Reads the cluster's variables into `env`'s report: a problem is recorded there (so
    /// `env.finish()` names it with every other bad variable) and `None` returned.
    pub fn from_env(env: &mut Env) -> Option<EksCluster> {
        let name: String = env.required("CLUSTER_NAME", "the EKS cluster name");
        let api_server: String = env.required("API_SERVER", "the cluster endpoint, https://…");
        let ca: String = env.required(
            "CERT_AUTHORITY",
            "base64 of the cluster CA PEM, as `aws eks describe-cluster` gives it",
        );
        let assumed_role = env.optional_with("ASSUMED_ROLE", "an IAM role ARN", |v| {
            v.starts_with("arn:").then(|| v.to_owned())
        });
        // The access is checked whenever both halves are set, so a bad endpoint is reported
        // with a missing name rather than after it is fixed.
        let access = (!api_server.is_empty() && !ca.is_empty())
            .then(|| ClusterAccess::from_base64_ca(&api_server, &ca))?
            .map_err(|e| env.problem(e.to_string()))
            .ok()?;
        if name.is_empty() {
            return None;
        }
        Some(EksCluster {
            name,
            access,
            assumed_role,
        })
    }

    /// The client for this cluster, its tokens signed with `sdk`'s credentials and region.
    pub async fn kube_client(&self, sdk: &SdkConfig) -> Result<kube::Client, ClusterError> {
        let tokens =
            EksTokenProvider::from_sdk_config(sdk, &self.name, self.assumed_role.as_deref())
                .await?;
        Ok(kube_client(&self.access, Arc::new(tokens))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PEM block as the CA's base64 (the DER inside is not parsed).
    fn ca() -> String {
        use base64::Engine;
        let pem = "-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIBADAK
-----END CERTIFICATE-----
";
        base64::engine::general_purpose::STANDARD.encode(pem)
    }

    #[test]
    fn every_bad_cluster_variable_is_in_the_one_report() {
        let ca = ca();
        let mut env = Env::from_pairs([
            ("API_SERVER", "http://plain"),
            ("CERT_AUTHORITY", ca.as_str()),
            ("ASSUMED_ROLE", "admin"),
        ]);
        assert!(EksCluster::from_env(&mut env).is_none());
        let err = env.finish().unwrap_err().to_string();
        for named in ["CLUSTER_NAME", "ASSUMED_ROLE", "http://plain"] {
            assert!(err.contains(named), "{named} not in: {err}");
        }
        let mut env = Env::from_pairs([
            ("CLUSTER_NAME", "prod"),
            ("API_SERVER", "http://plain"),
            ("CERT_AUTHORITY", ca.as_str()),
        ]);
        assert!(EksCluster::from_env(&mut env).is_none());
        let err = env.finish().unwrap_err().to_string();
        assert!(err.contains("http://plain"), "{err}");
    }

    #[test]
    fn a_valid_cluster_is_read() {
        let ca = ca();
        let mut env = Env::from_pairs([
            ("CLUSTER_NAME", "prod"),
            ("API_SERVER", "https://example.eks.amazonaws.com"),
            ("CERT_AUTHORITY", ca.as_str()),
            ("ASSUMED_ROLE", "arn:aws:iam::123456789012:role/scaler"),
        ]);
        let cluster = EksCluster::from_env(&mut env).expect("valid");
        env.finish().unwrap();
        assert_eq!(cluster.name, "prod");
        assert_eq!(
            cluster.access.api_server.host(),
            Some("example.eks.amazonaws.com")
        );
        assert_eq!(
            cluster.assumed_role.as_deref(),
            Some("arn:aws:iam::123456789012:role/scaler")
        );
    }
}
