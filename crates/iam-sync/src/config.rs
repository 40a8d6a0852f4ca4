//! Configuration from the environment, checked all at once at init: every bad variable,
//! the cluster's included, in one report.
use eks_auth::EksCluster;
use lambda_support::{ConfigError, Env};

/// Where a user's Kubernetes identity is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `kube-system/aws-auth` `mapUsers`.
    AwsAuth,
    /// EKS access entries (Create/Update/DeleteAccessEntry with `kubernetesGroups`).
    AccessEntries,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::AwsAuth => "aws-auth",
            Backend::AccessEntries => "access-entries",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    /// `CLUSTER_NAME`, `API_SERVER`, `CERT_AUTHORITY`, `ASSUMED_ROLE`.
    pub cluster: EksCluster,
    pub backend: Backend,
    /// The ConfigMap mapping IAM groups to Kubernetes groups: (namespace, name).
    pub mapping: (String, String),
    /// Where the `IamUserGroup` records live.
    pub record_namespace: String,
    /// Decide and log the diff; write nothing (no aws-auth, access entry or record).
    pub dry_run: bool,
}

fn namespaced(v: &str) -> Option<(String, String)> {
    let (ns, name) = v.split_once('/')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    (ok(ns) && ok(name)).then(|| (ns.to_owned(), name.to_owned()))
}

impl Config {
    pub fn from_env(mut env: Env) -> Result<Config, ConfigError> {
        let cluster = EksCluster::from_env(&mut env);
        let backend = env
            .optional_with("BACKEND", "aws-auth or access-entries", |v| match v {
                "aws-auth" => Some(Backend::AwsAuth),
                "access-entries" => Some(Backend::AccessEntries),
                _ => None,
            })
            .unwrap_or(Backend::AwsAuth);
        let mapping = env
            .optional_with(
                "GROUP_MAPPING_CONFIGMAP",
                "namespace/name of a ConfigMap",
                namespaced,
            )
            .unwrap_or_else(|| ("kube-system".into(), "iam-sync-groups".into()));
        let record_namespace = env.or_default(
            "RECORD_NAMESPACE",
            "kube-system".to_owned(),
            "a namespace name",
        );
        let dry_run = env.flag("DRY_RUN", false);
        env.finish()?;
        Ok(Config {
            cluster: cluster.expect("EksCluster::from_env reports why it read no cluster"),
            backend,
            mapping,
            record_namespace,
            dry_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Base64 of a PEM CERTIFICATE block (its DER is not parsed).
    const CA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lCQURBSwotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==";

    #[test]
    fn every_bad_variable_is_named_and_defaults_apply() {
        let err = Config::from_env(Env::from_pairs([
            ("BACKEND", "configmap"),
            ("GROUP_MAPPING_CONFIGMAP", "no-slash"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        for name in [
            "CLUSTER_NAME",
            "API_SERVER",
            "CERT_AUTHORITY",
            "BACKEND=\"configmap\" is invalid (expected aws-auth or access-entries)",
            "GROUP_MAPPING_CONFIGMAP",
        ] {
            assert!(text.contains(name), "{name} not in {text}");
        }
        let base = [
            ("CLUSTER_NAME", "prod"),
            ("API_SERVER", "https://x"),
            ("CERT_AUTHORITY", CA),
        ];
        let ok = Config::from_env(Env::from_pairs(base)).unwrap();
        assert_eq!(ok.cluster.name, "prod");
        assert_eq!(ok.backend, Backend::AwsAuth);
        assert_eq!(
            ok.mapping,
            ("kube-system".to_owned(), "iam-sync-groups".to_owned())
        );
        assert_eq!(ok.record_namespace, "kube-system");
        assert!(!ok.dry_run);
        let mut pairs = base.to_vec();
        pairs.extend([
            ("BACKEND", "access-entries"),
            ("GROUP_MAPPING_CONFIGMAP", "platform/groups"),
            ("DRY_RUN", "true"),
        ]);
        let ok = Config::from_env(Env::from_pairs(pairs)).unwrap();
        assert_eq!(ok.backend, Backend::AccessEntries);
        assert_eq!(ok.mapping, ("platform".to_owned(), "groups".to_owned()));
        assert!(ok.dry_run);
    }
}
