//! The function's configuration, from its environment, read once at init: every bad
//! variable, the cluster's included, in one report.
use eks_auth::EksCluster;
use lambda_support::{ConfigError, Env};

#[derive(Clone, Debug)]
pub struct Config {
    /// `CLUSTER_NAME`, `API_SERVER`, `CERT_AUTHORITY`, `ASSUMED_ROLE`.
    pub cluster: EksCluster,
    /// Decide and log, write nothing (no status, scale, Event or alarm state).
    pub dry_run: bool,
}

impl Config {
    pub fn from_env(mut env: Env) -> Result<Config, ConfigError> {
        let cluster = EksCluster::from_env(&mut env);
        let dry_run = env.flag("DRY_RUN", false);
        env.finish()?;
        Ok(Config {
            cluster: cluster.expect("EksCluster::from_env reports why it read no cluster"),
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
    fn every_bad_variable_is_named_at_once() {
        let env = Env::from_pairs([
            ("CERT_AUTHORITY", "bm90IGEgcGVt"),
            ("ASSUMED_ROLE", "admin"),
            ("DRY_RUN", "perhaps"),
        ]);
        let err = Config::from_env(env).expect_err("invalid").to_string();
        for named in ["CLUSTER_NAME", "API_SERVER", "ASSUMED_ROLE", "DRY_RUN"] {
            assert!(err.contains(named), "{named} not in: {err}");
        }
        let env = Env::from_pairs([
            ("CLUSTER_NAME", "prod"),
            ("API_SERVER", "http://plain"),
            ("CERT_AUTHORITY", CA),
            ("DRY_RUN", "perhaps"),
        ]);
        let err = Config::from_env(env).expect_err("invalid").to_string();
        for named in ["http://plain", "DRY_RUN"] {
            assert!(err.contains(named), "{named} not in: {err}");
        }
    }

    #[test]
    fn a_valid_environment_is_read() {
        let config = Config::from_env(Env::from_pairs([
            ("CLUSTER_NAME", "prod"),
            ("API_SERVER", "https://x.eks.amazonaws.com"),
            ("CERT_AUTHORITY", CA),
            ("DRY_RUN", "true"),
        ]))
        .unwrap();
        assert_eq!(config.cluster.name, "prod");
        assert!(config.dry_run);
    }
}
