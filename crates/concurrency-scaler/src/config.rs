//! Configuration from the environment, checked all at once at init: every bad variable, the
//! cluster's included, in one report.
use std::time::Duration;

use eks_auth::EksCluster;
use lambda_support::{ConfigError, Env};
use sqs_depth::pass::Options;

use crate::decide::Settings;

#[derive(Clone, Debug)]
pub struct Config {
    /// `CLUSTER_NAME`, `API_SERVER`, `CERT_AUTHORITY`, `ASSUMED_ROLE`.
    pub cluster: EksCluster,
    /// `DRY_RUN` (no PutFunctionConcurrency, no status, no Events) and `WATCH_NAMESPACE`.
    pub options: Options,
    pub settings: Settings,
}

impl Config {
    pub fn from_env(mut env: Env) -> Result<Config, ConfigError> {
        let cluster = EksCluster::from_env(&mut env);
        let options = Options::from_env(&mut env);
        let interval: u64 = env.or_default(
            "ADJUSTMENT_INTERVAL_SECONDS",
            300,
            "whole seconds between two step changes",
        );
        let down_ratio = env.optional_with(
            "SCALE_DOWN_RATIO",
            "a number in (0, 1]: step down below threshold × ratio",
            |v| v.parse::<f64>().ok().filter(|r| *r > 0.0 && *r <= 1.0),
        );
        env.finish()?;
        Ok(Config {
            cluster: cluster.expect("EksCluster::from_env reports why it read no cluster"),
            options,
            settings: Settings {
                interval: Duration::from_secs(interval),
                down_ratio: down_ratio.unwrap_or(0.5),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Base64 of a PEM CERTIFICATE block (its DER is not parsed).
    const CA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lCQURBSwotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==";

    #[test]
    fn defaults_and_every_problem_at_once() {
        let ok = Config::from_env(Env::from_pairs([
            ("CLUSTER_NAME", "prod"),
            ("API_SERVER", "https://x.eks.amazonaws.com"),
            ("CERT_AUTHORITY", CA),
        ]))
        .unwrap();
        assert_eq!(ok.settings.interval, Duration::from_secs(300));
        assert_eq!(ok.settings.down_ratio, 0.5);
        assert_eq!(ok.options, Options::default());
        assert!(ok.cluster.assumed_role.is_none());

        let err = Config::from_env(Env::from_pairs([
            ("SCALE_DOWN_RATIO", "1.5"),
            ("ADJUSTMENT_INTERVAL_SECONDS", "5m"),
        ]))
        .unwrap_err();
        assert_eq!(err.problems.len(), 5, "{err}");
        assert!(
            err.to_string()
                .contains("SCALE_DOWN_RATIO=\"1.5\" is invalid")
        );
    }
}
