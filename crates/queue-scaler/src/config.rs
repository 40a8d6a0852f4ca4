//! Configuration from the environment, checked all at once at init: every bad variable, the
//! cluster's included, in one report.
use eks_auth::EksCluster;
use lambda_support::{ConfigError, Env};
use sqs_depth::pass::Options;

#[derive(Clone, Debug)]
pub struct Config {
    /// `CLUSTER_NAME`, `API_SERVER`, `CERT_AUTHORITY`, `ASSUMED_ROLE`.
    pub cluster: EksCluster,
    /// `DRY_RUN` (no rescale, no status, no Events) and `WATCH_NAMESPACE`.
    pub options: Options,
    /// `KEDA_SCALED_OBJECTS`: also scale from KEDA's `aws-sqs-queue` ScaledObjects that KEDA
    /// does not run (default `false`: a cluster running KEDA is left to it).
    pub keda: bool,
}

impl Config {
    pub fn from_env(mut env: Env) -> Result<Config, ConfigError> {
        let cluster = EksCluster::from_env(&mut env);
        let options = Options::from_env(&mut env);
        let keda = env.flag("KEDA_SCALED_OBJECTS", false);
        env.finish()?;
        Ok(Config {
            cluster: cluster.expect("EksCluster::from_env reports why it read no cluster"),
            options,
            keda,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Base64 of a PEM CERTIFICATE block (its DER is not parsed).
    const CA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lCQURBSwotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==";

    #[test]
    fn every_missing_variable_is_named() {
        let err = Config::from_env(Env::from_pairs([
            ("DRY_RUN", "perhaps"),
            ("KEDA_SCALED_OBJECTS", "maybe"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        for name in [
            "CLUSTER_NAME",
            "API_SERVER",
            "CERT_AUTHORITY",
            "DRY_RUN",
            "KEDA_SCALED_OBJECTS",
        ] {
            assert!(text.contains(name), "{name} not in {text}");
        }
        let ok = Config::from_env(Env::from_pairs([
            ("CLUSTER_NAME", "prod"),
            ("API_SERVER", "https://x"),
            ("CERT_AUTHORITY", CA),
            ("DRY_RUN", "true"),
            ("WATCH_NAMESPACE", "jobs"),
        ]))
        .unwrap();
        assert_eq!(ok.cluster.name, "prod");
        assert!(ok.options.dry_run);
        assert_eq!(ok.options.namespace.as_deref(), Some("jobs"));
        assert!(!ok.keda, "ScaledObjects are opt-in");
        let keda = Config::from_env(Env::from_pairs([
            ("CLUSTER_NAME", "prod"),
            ("API_SERVER", "https://x"),
            ("CERT_AUTHORITY", CA),
            ("KEDA_SCALED_OBJECTS", "true"),
        ]))
        .unwrap();
        assert!(keda.keda);
    }
}
